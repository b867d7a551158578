/*
 * Dynamic loading of modules into the kernel: Linux 2.4 include/linux/module.h
 * with Roman Zippel's 2002 "mini user space module loader" additions
 * (struct module_new, __module_initdata, weak __this_module).
 *
 * The structures are laid out exactly as in 2.4 (only word-size types, so the
 * header serves -m32 and -m64 alike); the loader and the simulated kernel
 * depend on these offsets.  Differences from the 2.4 text are for a modern
 * gcc and are marked "modern gcc".
 */

#ifndef _LINUX_MODULE_H
#define _LINUX_MODULE_H

#include <linux/config.h>
#include <linux/compiler.h>
#include <linux/spinlock.h>	/* and through asm/system.h: linux/kernel.h, linux/init.h */
#include <linux/list.h>
#include <linux/types.h>
#include <asm/atomic.h>

struct exception_table_entry;	/* asm/uaccess.h */

/* Used by get_kernel_syms, which is obsolete.  */
struct kernel_sym
{
	unsigned long value;
	char name[60];		/* should have been 64-sizeof(long); oh well */
};

struct module_symbol
{
	unsigned long value;
	const char *name;
};

struct module_ref
{
	struct module *dep;	/* "parent" pointer */
	struct module *ref;	/* "child" pointer */
	struct module_ref *next_ref;
};

/* TBD */
struct module_persist;

struct module
{
	unsigned long size_of_struct;	/* == sizeof(module) */
	struct module *next;
	const char *name;
	unsigned long size;

	union
	{
		atomic_t usecount;
		long pad;
	} uc;				/* Needs to keep its size - so says rth */

	unsigned long flags;		/* AUTOCLEAN et al */

	unsigned nsyms;
	unsigned ndeps;

	struct module_symbol *syms;
	struct module_ref *deps;
	struct module_ref *refs;
	int (*init)(void);
	void (*cleanup)(void);
	const struct exception_table_entry *ex_table_start;
	const struct exception_table_entry *ex_table_end;
#ifdef __alpha__
	unsigned long gp;
#endif
	/* Members past this point are extensions to the basic
	   module support and are optional.  Use mod_member_present()
	   to examine them.  */
	const struct module_persist *persist_start;
	const struct module_persist *persist_end;
	int (*can_unload)(void);
	int runsize;			/* In modutils, not currently used */
	const char *kallsyms_start;	/* All symbols for kernel debugging */
	const char *kallsyms_end;
	const char *archdata_start;	/* arch specific data for module */
	const char *archdata_end;
	const char *kernel_data;	/* Reserved for kernel internal use */
};

/*
 * Zippel: the header of a prelinked module.  size_of_struct == 0 and
 * size == 0 tell a patched kernel to take the size from create_module and
 * nsyms from syms_end - syms; arg is the argument string for the kernel.
 */
struct module_new
{
	struct module old_module;
	struct module_symbol *syms_end;
	char *arg;
};

struct module_info
{
	unsigned long addr;
	unsigned long size;
	unsigned long flags;
	long usecount;
};

/* Bits of module.flags.  */

#define MOD_UNINITIALIZED	0
#define MOD_RUNNING		1
#define MOD_DELETED		2
#define MOD_AUTOCLEAN		4
#define MOD_VISITED		8
#define MOD_USED_ONCE		16
#define MOD_JUST_FREED		32
#define MOD_INITIALIZING	64

/* Values for query_module's which.  */

#define QM_MODULES	1
#define QM_DEPS		2
#define QM_REFS		3
#define QM_SYMBOLS	4
#define QM_INFO		5

/* Can the module be queried? */
#define MOD_CAN_QUERY(mod) (((mod)->flags & (MOD_RUNNING | MOD_INITIALIZING)) && !((mod)->flags & MOD_DELETED))

/* When struct module is extended, we must test whether the new member
   is present in the header received from insmod before we can use it.
   This function returns true if the member is present.  */

#define mod_member_present(mod,member)					\
	((unsigned long)(&((struct module *)0L)->member + 1)		\
	 <= (mod)->size_of_struct)

/* Check if an address p with number of entries n is within the body of module m */
#define mod_bound(p, n, m) ((unsigned long)(p) >= ((unsigned long)(m) + ((m)->size_of_struct)) && \
	         (unsigned long)((p)+(n)) <= (unsigned long)(m) + (m)->size)

/* Backwards compatibility definition.  */

#define GET_USE_COUNT(module)	(atomic_read(&(module)->uc.usecount))

/* Poke the use count of a module.  */

#define __MOD_INC_USE_COUNT(mod)					\
	(atomic_inc(&(mod)->uc.usecount), (mod)->flags |= MOD_VISITED|MOD_USED_ONCE)
#define __MOD_DEC_USE_COUNT(mod)					\
	(atomic_dec(&(mod)->uc.usecount), (mod)->flags |= MOD_VISITED)
#define __MOD_IN_USE(mod)						\
	(mod_member_present((mod), can_unload) && (mod)->can_unload	\
	 ? (mod)->can_unload() : atomic_read(&(mod)->uc.usecount))

/* Indirect stringification.  */

#define __MODULE_STRING_1(x)	#x
#define __MODULE_STRING(x)	__MODULE_STRING_1(x)

/*
 * .modinfo strings.  modern gcc: "used" keeps the static ones (gcc drops
 * unreferenced static consts at -O2; 2.4's "unused" only silenced the
 * warning), and aligned(1) stops x86 gcc from padding strings of 16+ bytes to
 * 16/32 so the section stays a dense run of NUL-terminated strings.
 */
#define __MODINFO_ATTR	__attribute__((section(".modinfo"), unused, used, aligned(1)))

#if defined(MODULE)

/* Embedded module documentation macros.  */

#define MODULE_AUTHOR(name)						\
const char __module_author[] __MODINFO_ATTR = "author=" name

#define MODULE_DESCRIPTION(desc)					\
const char __module_description[] __MODINFO_ATTR = "description=" desc

/* Could potentially be used by kmod...  */

#define MODULE_SUPPORTED_DEVICE(dev)					\
const char __module_device[] __MODINFO_ATTR = "device=" dev

/* Used to verify parameters given to the module.  The TYPE arg should
   be a string in the following format:
	[min[-max]]{b,h,i,l,s}
   The MIN and MAX specifiers delimit the length of the array.  If MAX
   is omitted, it defaults to MIN; if both are omitted, the default is 1.
   The final character is a type specifier:
	b	byte
	h	short
	i	int
	l	long
	s	string
   (modutils also knows cN: a char array of N bytes.)

   modern gcc: insmod writes a parameter behind the compiler's back, so a
   "static" parameter the module only reads must not be constant-folded;
   our build uses -fno-ipa-reference-addressable for that (see mk/modules.mk).
*/

#define MODULE_PARM(var,type)					\
const char __module_parm_##var[] __MODINFO_ATTR =		\
"parm_" __MODULE_STRING(var) "=" type

#define MODULE_PARM_DESC(var,desc)				\
const char __module_parm_desc_##var[] __MODINFO_ATTR =		\
"parm_desc_" __MODULE_STRING(var) "=" desc

#define MODULE_LICENSE(license)					\
static const char __module_license[] __MODINFO_ATTR =		\
"license=" license

/*
 * Define the module variable, and usage macros.  Zippel: __this_module is
 * weak and no longer defined by the module itself; the loader resolves it to
 * the module base, i.e. the header at offset 0 (see kernel_stub/module.c).
 */
extern struct module_new __module_initdata __attribute__ ((section (".module_initdata")));
extern struct module __this_module __attribute__ ((weak));

#define THIS_MODULE		(&__this_module)
#define MOD_INC_USE_COUNT	__MOD_INC_USE_COUNT(THIS_MODULE)
#define MOD_DEC_USE_COUNT	__MOD_DEC_USE_COUNT(THIS_MODULE)
#define MOD_IN_USE		__MOD_IN_USE(THIS_MODULE)

/* A multi-file module defines __NO_VERSION__ in all files but one. */
#ifndef __NO_VERSION__
#include <linux/version.h>
static const char __module_kernel_version[] __MODINFO_ATTR =
"kernel_version=" UTS_RELEASE;
#ifdef MODVERSIONS
static const char __module_using_checksums[] __MODINFO_ATTR =
"using_checksums=1";
#endif
#endif

#else /* MODULE */

#define MODULE_AUTHOR(name)
#define MODULE_LICENSE(license)
#define MODULE_DESCRIPTION(desc)
#define MODULE_SUPPORTED_DEVICE(name)
#define MODULE_PARM(var,type)
#define MODULE_PARM_DESC(var,desc)
#define THIS_MODULE NULL

#endif /* MODULE */

/*
 * Export a symbol from a module: a struct module_symbol in __ksymtab whose
 * name lives in .kstrtab.  (2.4 additionally required -DEXPORT_SYMTAB; every
 * module here may export.)  GPL-only exports carry a "GPLONLY_" name prefix
 * that the kernel strips for GPL-compatible modules.
 */
#define __EXPORT_SYMBOL(sym, str)					\
const char __kstrtab_##sym[]						\
__attribute__((section(".kstrtab"), aligned(1))) = str;		\
const struct module_symbol __ksymtab_##sym				\
__attribute__((section("__ksymtab"))) =					\
{ (unsigned long)&sym, __kstrtab_##sym }

#define EXPORT_SYMBOL(var)	__EXPORT_SYMBOL(var, __MODULE_STRING(var))
#define EXPORT_SYMBOL_GPL(var)	__EXPORT_SYMBOL(var, "GPLONLY_" __MODULE_STRING(var))
#define EXPORT_SYMBOL_NOVERS(var)  __EXPORT_SYMBOL(var, __MODULE_STRING(var))

/* Force a module to export no symbols: an empty __ksymtab (modern gas needs the flags). */
#define EXPORT_NO_SYMBOLS  __asm__(".section __ksymtab,\"a\"\n.previous")

#endif /* _LINUX_MODULE_H */
