#ifndef _ASM_SEMAPHORE_H
#define _ASM_SEMAPHORE_H

/*
 * The layout of 2.4's struct semaphore and struct rw_semaphore (without
 * WAITQUEUE_DEBUG / RWSEM_DEBUG), which struct inode embeds, and their
 * initialisers; down()/up() as 2.4 inlines them (uniprocessor: no lock
 * prefix): the contended paths call __down_failed/__up_wakeup with the
 * semaphore in %ecx (i386) or %rdi (x86_64).  rw_semaphores' down_read()
 * and friends are not provided.
 */
#include <linux/linkage.h>
#include <asm/system.h>
#include <asm/atomic.h>
#include <linux/wait.h>

struct semaphore {
	atomic_t count;
	int sleepers;
	wait_queue_head_t wait;
};

#define __SEMAPHORE_INITIALIZER(name,count) \
{ ATOMIC_INIT(count), 0, __WAIT_QUEUE_HEAD_INITIALIZER((name).wait) }

#define __MUTEX_INITIALIZER(name) \
	__SEMAPHORE_INITIALIZER(name,1)

#define __DECLARE_SEMAPHORE_GENERIC(name,count) \
	struct semaphore name = __SEMAPHORE_INITIALIZER(name,count)

#define DECLARE_MUTEX(name) __DECLARE_SEMAPHORE_GENERIC(name,1)
#define DECLARE_MUTEX_LOCKED(name) __DECLARE_SEMAPHORE_GENERIC(name,0)

static inline void sema_init (struct semaphore *sem, int val)
{
	atomic_set(&sem->count, val);
	sem->sleepers = 0;
	init_waitqueue_head(&sem->wait);
}

static inline void init_MUTEX (struct semaphore *sem)
{
	sema_init(sem, 1);
}

static inline void init_MUTEX_LOCKED (struct semaphore *sem)
{
	sema_init(sem, 0);
}

#ifdef __x86_64__
#define __SEM_REG "D"
#else
#define __SEM_REG "c"
#endif
#define __SEM_SLOW_START ".subsection 1\n\t"
#define __SEM_SLOW_END ".subsection 0\n\t"

static inline void down(struct semaphore * sem)
{
	__asm__ __volatile__(
		"# atomic down operation\n\t"
		"decl %0\n\t"     /* --sem->count */
		"js 2f\n"
		"1:\n"
		__SEM_SLOW_START
		"2:\tcall __down_failed\n\t"
		"jmp 1b\n"
		__SEM_SLOW_END
		:"=m" (sem->count)
		:__SEM_REG (sem)
		:"memory");
}

static inline int down_interruptible(struct semaphore * sem)
{
	int result;

	__asm__ __volatile__(
		"# atomic interruptible down operation\n\t"
		"decl %1\n\t"     /* --sem->count */
		"js 2f\n\t"
		"xorl %0,%0\n"
		"1:\n"
		__SEM_SLOW_START
		"2:\tcall __down_failed_interruptible\n\t"
		"jmp 1b\n"
		__SEM_SLOW_END
		:"=a" (result), "=m" (sem->count)
		:__SEM_REG (sem)
		:"memory");
	return result;
}

static inline int down_trylock(struct semaphore * sem)
{
	int result;

	__asm__ __volatile__(
		"# atomic interruptible down operation\n\t"
		"decl %1\n\t"     /* --sem->count */
		"js 2f\n\t"
		"xorl %0,%0\n"
		"1:\n"
		__SEM_SLOW_START
		"2:\tcall __down_failed_trylock\n\t"
		"jmp 1b\n"
		__SEM_SLOW_END
		:"=a" (result), "=m" (sem->count)
		:__SEM_REG (sem)
		:"memory");
	return result;
}

static inline void up(struct semaphore * sem)
{
	__asm__ __volatile__(
		"# atomic up operation\n\t"
		"incl %0\n\t"     /* ++sem->count */
		"jle 2f\n"
		"1:\n"
		__SEM_SLOW_START
		"2:\tcall __up_wakeup\n\t"
		"jmp 1b\n"
		__SEM_SLOW_END
		:"=m" (sem->count)
		:__SEM_REG (sem)
		:"memory");
}

struct rw_semaphore {
#ifdef __x86_64__
	signed int		count;
#else
	signed long		count;
#endif
	spinlock_t		wait_lock;
	struct list_head	wait_list;
};

#endif
