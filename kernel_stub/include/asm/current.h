#ifndef _ASM_CURRENT_H
#define _ASM_CURRENT_H

/*
 * 2.4's current task: i386 masks %esp (task_struct and kernel stack share
 * 8 KiB); x86_64 reads the per-CPU data area at %gs:0.
 */
struct task_struct;

#ifdef __x86_64__
static inline struct task_struct *get_current(void)
{
	struct task_struct *t;
	__asm__("movq %%gs:0,%0" : "=r" (t));
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
