#ifndef _LINUX_CONFIG_H
#define _LINUX_CONFIG_H

/*
 * 2.4 include/linux/config.h pulls in the generated autoconf.h.  These are the
 * options of the kernel the headers describe (a uniprocessor i686 / generic
 * x86_64 kernel with modules and /proc) that change what a module compiles to:
 * without CONFIG_SMP spinlocks are empty structs and lock_kernel() is a no-op,
 * exactly as in that kernel's own headers.
 */
#define CONFIG_MODULES 1
#define CONFIG_PROC_FS 1
#define CONFIG_X86 1
#define CONFIG_X86_WP_WORKS_OK 1
#ifdef __x86_64__
#define CONFIG_X86_64 1
#define CONFIG_X86_L1_CACHE_SHIFT 6
#else
#define CONFIG_M686 1
#define CONFIG_X86_L1_CACHE_SHIFT 5
#endif
#undef CONFIG_SMP
#undef CONFIG_DEVFS_FS

#endif
