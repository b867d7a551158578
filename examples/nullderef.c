/*
 * nullderef: init_module reads through a NULL pointer (an oops in 2.4).
 * Built with -fno-delete-null-pointer-checks, so gcc emits the real load
 * from address 0 instead of a ud2 trap.
 *
 * Expected console output before the fault:
 *   init:    <6>nullderef: about to dereference NULL
 */

#include <linux/module.h>
#include <linux/kernel.h>

int *nullderef_ptr;			/* .bss: NULL */

int init_module(void)
{
	printk(KERN_INFO "nullderef: about to dereference NULL\n");
	printk(KERN_INFO "nullderef: read %d\n", *(volatile int *)nullderef_ptr);
	return 0;
}

void cleanup_module(void)
{
	printk(KERN_INFO "nullderef: done\n");
}

MODULE_LICENSE("GPL");
MODULE_AUTHOR("insmod_py");
MODULE_DESCRIPTION("init_module dereferences NULL");
