#ifndef __ARCH_I386_ATOMIC__
#define __ARCH_I386_ATOMIC__

/*
 * 2.4 asm-i386/atomic.h, SMP flavour (the "lock" prefix).  "incl"/"decl" on
 * an int are valid in both 32- and 64-bit mode, so x86_64 shares it.
 */
typedef struct { volatile int counter; } atomic_t;

#define ATOMIC_INIT(i)	{ (i) }
#define atomic_read(v)		((v)->counter)
#define atomic_set(v,i)		(((v)->counter) = (i))

static __inline__ void atomic_inc(atomic_t *v)
{
	__asm__ __volatile__("lock ; incl %0" : "=m" (v->counter) : "m" (v->counter));
}

static __inline__ void atomic_dec(atomic_t *v)
{
	__asm__ __volatile__("lock ; decl %0" : "=m" (v->counter) : "m" (v->counter));
}

#endif
