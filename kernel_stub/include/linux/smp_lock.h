#ifndef __LINUX_SMPLOCK_H
#define __LINUX_SMPLOCK_H

/*
 * 2.4 include/linux/smp_lock.h: the big kernel lock.  Without CONFIG_SMP
 * there is one CPU and no preemption, so taking it is a no-op; modules
 * compile to no call at all, as they did for a uniprocessor kernel.
 */
#include <linux/config.h>

#define lock_kernel()				do { } while(0)
#define unlock_kernel()				do { } while(0)
#define release_kernel_lock(task, cpu)		do { } while(0)
#define reacquire_kernel_lock(task)		do { } while(0)
#define kernel_locked() 1

#endif
