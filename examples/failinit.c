/*
 * failinit: init_module fails with -EBUSY, so insmod reports
 * "init_module: Device or resource busy" and deletes the module again.
 * It has no cleanup_module on purpose: after prelinking, cleanup_module is
 * the script's PROVIDE, an absolute 0, i.e. a NULL cleanup in the header.
 *
 * Expected console output:
 *   init:    <4>failinit: refusing to load
 */

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/errno.h>

int init_module(void)
{
	printk(KERN_WARNING "failinit: refusing to load\n");
	return -EBUSY;
}

MODULE_LICENSE("GPL");
MODULE_AUTHOR("insmod_py");
MODULE_DESCRIPTION("init_module returns -EBUSY; no cleanup_module");
