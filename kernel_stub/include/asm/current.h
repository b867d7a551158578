#ifndef _ASM_CURRENT_H
#define _ASM_CURRENT_H

/*
 * 2.4's current task: i386 masks %esp (task_struct and kernel stack share
 * 8 KiB); x86_64 reads pcurrent from the per-CPU data area at %gs
 * (read_pda(pcurrent): offset 24 of 2.4.37.11's struct x8664_pda, after
 * kernelstack, oldrsp and irqrsp).
 */
struct task_struct;

#ifdef __x86_64__
static inline struct task_struct *get_current(void)
{
	struct task_struct *t;
	__asm__("movq %%gs:24,%0" : "=r" (t));
	return t;
}
#else
static inline struct task_struct * get_current(void)
{
	struct task_struct *current;
	__asm__("andl %%esp,%0; ":"=r" (current) : "0" (~8191UL));
	return current;
}
#endif

#define current get_current()

#endif
