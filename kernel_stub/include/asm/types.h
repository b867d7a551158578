#ifndef _ASM_TYPES_H
#define _ASM_TYPES_H

/* Fixed-size types, word-size generic: the same header serves -m32 and -m64. */
typedef unsigned short umode_t;

typedef __signed__ char __s8;
typedef unsigned char __u8;
typedef __signed__ short __s16;
typedef unsigned short __u16;
typedef __signed__ int __s32;
typedef unsigned int __u32;
typedef __signed__ long long __s64;
typedef unsigned long long __u64;

#ifdef __KERNEL__
typedef signed char s8;
typedef unsigned char u8;
typedef signed short s16;
typedef unsigned short u16;
typedef signed int s32;
typedef unsigned int u32;
typedef signed long long s64;
typedef unsigned long long u64;

#define BITS_PER_LONG (__SIZEOF_LONG__ * 8)
#endif

#endif
