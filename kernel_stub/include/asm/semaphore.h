#ifndef _ASM_SEMAPHORE_H
#define _ASM_SEMAPHORE_H

/*
 * The layout of 2.4's struct semaphore and struct rw_semaphore (without
 * WAITQUEUE_DEBUG / RWSEM_DEBUG), which struct inode embeds, and their
 * initialisers.  down()/up() are not provided: their contended paths call
 * __down_failed/__up_wakeup with a register convention of their own, and a
 * single simulated task has nobody to wait for.
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
