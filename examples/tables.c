/*
 * tables: two __ex_table entries, the 2.4 get_user pattern.  probe() loads
 * through a pointer at a labelled instruction; if that load faults, the
 * kernel finds the instruction in the module's exception table and resumes
 * at the fixup code (in .fixup), which makes probe() return -EFAULT.
 *
 * Expected console output (a kernel that honours the exception table):
 *   init:    <6>tables: probe(&tables_value) = 0, value 1234
 *            <6>tables: probe(NULL) = -14
 * Without fixups, the second probe is an oops like nullderef's.
 */

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/errno.h>
#include <asm/uaccess.h>

int tables_value = 1234;

/* always_inline: each call site gets its own load and its own table entry. */
static inline __attribute__((always_inline)) int probe(const int *p, int *out)
{
	int err = 0, val;

	__asm__ __volatile__(
		"1:	movl (%2), %0\n"
		"2:\n"
		".section .fixup,\"ax\"\n"
		"3:	movl %3, %1\n"
		"	xorl %0, %0\n"
		"	jmp 2b\n"
		".previous\n"
		".section __ex_table,\"a\"\n"
		"	" _ASM_ALIGN "\n"
		"	" _ASM_PTR " 1b, 3b\n"
		".previous"
		: "=r" (val), "+r" (err)
		: "r" (p), "i" (-EFAULT));
	*out = val;
	return err;
}

int init_module(void)
{
	int val = 0, err;

	err = probe(&tables_value, &val);
	printk(KERN_INFO "tables: probe(&tables_value) = %d, value %d\n", err, val);
	err = probe((const int *)0, &val);
	printk(KERN_INFO "tables: probe(NULL) = %d\n", err);
	return 0;
}

void cleanup_module(void)
{
}

MODULE_LICENSE("GPL");
MODULE_AUTHOR("insmod_py");
MODULE_DESCRIPTION("Exception table entries with .fixup code");
