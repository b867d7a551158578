#ifndef _ASM_BITOPS_H
#define _ASM_BITOPS_H

/* 2.4's asm-i386/bitops.h (bitops_32.h) or asm-x86_64/bitops.h (bitops_64.h), unchanged. */
#ifdef __x86_64__
#include <asm/bitops_64.h>
#else
#include <asm/bitops_32.h>
#endif

#endif
