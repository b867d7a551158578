#ifndef _ASM_PARAM_H
#define _ASM_PARAM_H

/* 2.4 asm-i386/param.h (x86_64's is the same): 100 timer ticks a second. */
#define HZ 100
#define EXEC_PAGESIZE	4096
#define NGROUPS		32
#define NOGROUP		(-1)
#define MAXHOSTNAMELEN	64
#define CLOCKS_PER_SEC	100

#endif
