#ifndef _ASM_SYSTEM_H
#define _ASM_SYSTEM_H

/*
 * 2.4 asm-i386/system.h (and asm-x86_64's), uniprocessor: barriers and
 * interrupt flags.  Like 2.4's it pulls in linux/kernel.h and linux/init.h,
 * which is how a module that includes only linux/module.h got printk and
 * module_init.
 */
#include <linux/config.h>
#include <linux/kernel.h>
#include <linux/init.h>

#define barrier() __asm__ __volatile__("": : :"memory")

#ifdef __x86_64__
#define mb() 	asm volatile("mfence":::"memory")
#define rmb()	asm volatile("lfence":::"memory")
#define wmb()	asm volatile("sfence":::"memory")
#define __save_flags(x)		__asm__ __volatile__("pushfq ; popq %q0":"=g" (x): :"memory")
#define __restore_flags(x) 	__asm__ __volatile__("pushq %0 ; popfq": :"g" (x):"memory", "cc")
#else
#define mb() 	__asm__ __volatile__ ("lock; addl $0,0(%%esp)": : :"memory")
#define rmb()	mb()
#define wmb()	__asm__ __volatile__ ("": : :"memory")
#define __save_flags(x)		__asm__ __volatile__("pushfl ; popl %0":"=g" (x): /* no input */)
#define __restore_flags(x) 	__asm__ __volatile__("pushl %0 ; popfl": /* no output */ :"g" (x):"memory", "cc")
#endif

#define smp_mb()	barrier()
#define smp_rmb()	barrier()
#define smp_wmb()	barrier()
#define set_mb(var, value) do { var = value; barrier(); } while (0)
#define set_wmb(var, value) do { var = value; wmb(); } while (0)

#define __cli() 		__asm__ __volatile__("cli": : :"memory")
#define __sti()			__asm__ __volatile__("sti": : :"memory")
#define __save_and_cli(x)	do { __save_flags(x); __cli(); } while(0);
#define __save_and_sti(x)	do { __save_flags(x); __sti(); } while(0);
#define local_irq_save(x)	__save_and_cli(x)
#define local_irq_set(x)	__save_and_sti(x)
#define local_irq_restore(x)	__restore_flags(x)
#define local_irq_disable()	__cli()
#define local_irq_enable()	__sti()

/* !CONFIG_SMP */
#define cli() __cli()
#define sti() __sti()
#define save_flags(x) __save_flags(x)
#define restore_flags(x) __restore_flags(x)
#define save_and_cli(x) __save_and_cli(x)
#define save_and_sti(x) __save_and_sti(x)

#endif
