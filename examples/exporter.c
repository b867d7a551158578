/*
 * exporter: exports a function and a variable (and one GPL-only function)
 * for user.c.
 *
 * Expected console output:
 *   init:    <6>exporter: ready, exporter_value=42
 *   cleanup: <6>exporter: done
 */

#include <linux/module.h>
#include <linux/kernel.h>

int exporter_value = 42;

int exporter_add(int a, int b)
{
	return a + b;
}

int exporter_gpl_twice(int x)
{
	return 2 * x;
}

EXPORT_SYMBOL(exporter_add);
EXPORT_SYMBOL(exporter_value);
EXPORT_SYMBOL_GPL(exporter_gpl_twice);

int init_module(void)
{
	printk(KERN_INFO "exporter: ready, exporter_value=%d\n", exporter_value);
	return 0;
}

void cleanup_module(void)
{
	printk(KERN_INFO "exporter: done\n");
}

MODULE_LICENSE("GPL");
MODULE_AUTHOR("insmod_py");
MODULE_DESCRIPTION("Exports exporter_add, exporter_value and a GPL-only symbol");
