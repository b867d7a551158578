#ifndef _LINUX_INIT_H
#define _LINUX_INIT_H

/*
 * 2.4 include/linux/init.h, MODULE half: for a module __init/__exit are
 * empty (everything stays in .text/.data and is loaded as one image), and
 * module_init/module_exit make init_module/cleanup_module aliases of the
 * given functions; the inline functions only type-check the argument.
 */

typedef int (*__init_module_func_t)(void);
typedef void (*__cleanup_module_func_t)(void);

#ifdef MODULE

#define __init
#define __exit
#define __initdata
#define __exitdata
#define __devinit
#define __devexit
#define __devinitdata
#define __devexitdata

#define module_init(x) \
	int init_module(void) __attribute__((alias(#x))); \
	static inline __init_module_func_t __init_module_inline(void) \
	{ return x; }

#define module_exit(x) \
	void cleanup_module(void) __attribute__((alias(#x))); \
	static inline __cleanup_module_func_t __cleanup_module_inline(void) \
	{ return x; }

#else
#error "kernel_stub headers only support building modules (-DMODULE)"
#endif

#endif
