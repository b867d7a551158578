#ifndef __i386_UACCESS_H
#define __i386_UACCESS_H

/*
 * The exception table (2.4 asm-i386/uaccess.h): each entry pairs the address
 * of an instruction that may fault with the address of its fixup code.  A
 * module's entries live in section __ex_table; the loader points
 * struct module's ex_table_start/end at them.
 */
struct exception_table_entry
{
	unsigned long insn, fixup;
};

/* Assembler directive for one pointer-sized word, for hand-written entries. */
#ifdef __x86_64__
#define _ASM_PTR ".quad"
#define _ASM_ALIGN ".align 8"
#else
#define _ASM_PTR ".long"
#define _ASM_ALIGN ".align 4"
#endif

#endif
