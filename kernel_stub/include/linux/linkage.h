#ifndef _LINUX_LINKAGE_H
#define _LINUX_LINKAGE_H

/*
 * 2.4 include/linux/linkage.h and asm-i386/linkage.h: asmlinkage passes every
 * argument on the stack; FASTCALL (i386 only) passes the first three in
 * %eax, %edx, %ecx.  schedule_timeout, __wake_up and the sleep_on family
 * are FASTCALL in 2.4, so a module calls them with registers.
 */
#ifdef __i386__
#define asmlinkage __attribute__((regparm(0)))
#define FASTCALL(x)	x __attribute__((regparm(3)))
#else
#define asmlinkage
#define FASTCALL(x)	x
#endif

#endif
