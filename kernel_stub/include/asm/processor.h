#ifndef _ASM_PROCESSOR_H
#define _ASM_PROCESSOR_H

/* The part of 2.4 asm-i386/processor.h a module sees: the address-limit type of task_struct. */
typedef struct {
	unsigned long seg;
} mm_segment_t;

/* REP NOP (PAUSE) is a good thing to insert into busy-wait loops. */
static inline void rep_nop(void)
{
	__asm__ __volatile__("rep;nop": : :"memory");
}
#define cpu_relax()	rep_nop()

#endif
