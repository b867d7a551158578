/*
 * The module header of a prelinked module (Roman Zippel, init/module.c, 2002).
 *
 * "ld -r mod.o module.o -T lds/modules.lds" links this object into a module:
 * the script puts .module_initdata first, so __module_initdata, a
 * struct module_new, sits at offset 0 of the loaded image where the 2.4
 * kernel expects struct module.  size_of_struct and size stay 0 (Zippel's
 * "new" header); the script defines __syms_*, __ex_table_* around the
 * module's __ksymtab/__ex_table and PROVIDEs init_module/cleanup_module = 0
 * for modules that lack one.
 *
 * Design decision: unlike Zippel's original, this file does NOT define
 * "struct module __this_module;".  His was a separate .bss struct, so
 * THIS_MODULE (MOD_INC_USE_COUNT and fops.owner) would count uses on a copy
 * the kernel never reads, not on the real header.  linux/module.h declares
 * __this_module weak and our loader resolves it to the module base, i.e. to
 * this header at offset 0, in both load paths (prelinked and plain .o).
 */

#define __NO_VERSION__		/* kernel_version comes from the module's own .c */
#include <linux/module.h>
#include <asm/uaccess.h>	/* _ASM_ALIGN */

extern int init_module(void);
extern void cleanup_module(void);
extern struct module_symbol __syms_start;
extern struct module_symbol __syms_end;
extern const struct exception_table_entry __ex_table_start;
extern const struct exception_table_entry __ex_table_end;

/* Weak so the loader can override them with the name/args it appends to the image. */
char __module_name[] __attribute__ ((weak)) = "";
char __module_args[] __attribute__ ((weak)) = "";

/*
 * Empty, SHF_ALLOC __ksymtab and __ex_table input sections: when a module has
 * no exports or no exception entries, ld would otherwise create those output
 * sections from the script's symbol assignments alone, without SHF_ALLOC, and
 * __syms_start/__ex_table_start would point into a section that is never
 * loaded.  As a consequence a prelinked module always has a __ksymtab, so it
 * exports exactly its EXPORT_SYMBOLs (Zippel's kernel used syms..syms_end
 * anyway), never "all globals" as the old insmod did for a module without one.
 */
__asm__(".section __ksymtab,\"a\"\n\t" _ASM_ALIGN "\n\t.previous\n\t"
	".section __ex_table,\"a\"\n\t" _ASM_ALIGN "\n\t.previous");

struct module_new __module_initdata __attribute__ ((section (".module_initdata"))) = {
	.old_module	= {
		.name		= __module_name,
		.init		= init_module,
		.cleanup	= cleanup_module,
		.syms		= &__syms_start,
		.ex_table_start	= &__ex_table_start,
		.ex_table_end	= &__ex_table_end,
	},
	.syms_end	= &__syms_end,
	.arg		= __module_args,
};
