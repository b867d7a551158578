/*
 * user: needs exporter loaded first (exporter_add, exporter_value are
 * undefined here and resolve to exporter's exports).
 *
 * Expected console output (exporter at its defaults):
 *   init:    <6>user: exporter_add(2, 3) = 5, exporter_value = 42
 *   cleanup: <6>user: done
 */

#include <linux/module.h>
#include <linux/kernel.h>

extern int exporter_add(int a, int b);
extern int exporter_value;

EXPORT_NO_SYMBOLS;

int init_module(void)
{
	printk(KERN_INFO "user: exporter_add(2, 3) = %d, exporter_value = %d\n",
	       exporter_add(2, 3), exporter_value);
	return 0;
}

void cleanup_module(void)
{
	printk(KERN_INFO "user: done\n");
}

MODULE_LICENSE("GPL");
MODULE_AUTHOR("insmod_py");
MODULE_DESCRIPTION("Uses the symbols exported by exporter");
