/*
 * loop: init_module never returns (a hung insmod in 2.4); for testing
 * timeouts of an emulated init.
 *
 * Expected console output before it hangs:
 *   init:    <6>loop: spinning forever
 */

#include <linux/module.h>
#include <linux/kernel.h>

volatile unsigned long loop_spins;

int init_module(void)
{
	printk(KERN_INFO "loop: spinning forever\n");
	for (;;)
		loop_spins++;
	return 0;
}

void cleanup_module(void)
{
	printk(KERN_INFO "loop: done\n");
}

MODULE_LICENSE("GPL");
MODULE_AUTHOR("insmod_py");
MODULE_DESCRIPTION("init_module loops forever");
