#ifndef _LINUX_TYPES_H
#define _LINUX_TYPES_H

#include <linux/stddef.h>
#include <asm/types.h>

/* gcc knows the ABI's size_t for -m32 and -m64; 2.4 spelled it per arch in posix_types.h. */
typedef __SIZE_TYPE__ size_t;
typedef __PTRDIFF_TYPE__ ptrdiff_t;
typedef long ssize_t;
typedef long long loff_t;
typedef long off_t;
typedef int pid_t;
typedef unsigned short kdev_t;

#endif
