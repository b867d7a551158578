#ifndef _ASM_UACCESS_H
#define _ASM_UACCESS_H

/*
 * User space access: 2.4's asm-i386/uaccess.h (uaccess_32.h) or
 * asm-x86_64/uaccess.h (uaccess_64.h), unchanged but for their includes;
 * x86_64's "extern inline" verify_area, which 2.4 compiled with gnu89 inline
 * semantics, is "static inline" here.
 * The exception table pairs an instruction that may fault with its fixup;
 * a module's entries live in section __ex_table and the loader points
 * struct module's ex_table_start/end at them.
 */
#ifdef __x86_64__
#include <asm/uaccess_64.h>
#else
#include <asm/uaccess_32.h>
#endif

/* Assembler directive for one pointer-sized word, for hand-written entries. */
#ifdef __x86_64__
#define _ASM_PTR ".quad"
#define _ASM_ALIGN ".align 8"
#else
#define _ASM_PTR ".long"
#define _ASM_ALIGN ".align 4"
#endif

#endif
