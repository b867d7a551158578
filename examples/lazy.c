/*
 * lazy: uses exporter's symbols, but not from init_module, so it can be
 * loaded first with `pyinsmod --defer-missing lazy.o`: the simulated kernel
 * keeps the relocations of exporter_add/exporter_value and applies them
 * when exporter.o is loaded.  Until then those sites point at the kernel's
 * "unresolved symbol" traps: touch=1 calls exporter_add from init, touch=2
 * reads exporter_value from init, and both must oops instead of running
 * garbage.  cleanup always uses them.
 *
 * Expected console output (exporter loaded later, at its defaults):
 *   init:    <6>lazy: loaded, exporter not needed yet
 *   cleanup: <6>lazy: exporter_add(2, 3) = 5, exporter_value = 42
 */

#include <linux/module.h>
#include <linux/kernel.h>

extern int exporter_add(int a, int b);
extern int exporter_value;

static int touch;
MODULE_PARM(touch, "i");
MODULE_PARM_DESC(touch, "1: call exporter_add from init, 2: read exporter_value from init");

EXPORT_NO_SYMBOLS;

int init_module(void)
{
	if (touch == 1)
		printk(KERN_INFO "lazy: early call gave %d\n", exporter_add(1, 1));
	if (touch == 2)
		printk(KERN_INFO "lazy: early read gave %d\n", exporter_value);
	printk(KERN_INFO "lazy: loaded, exporter not needed yet\n");
	return 0;
}

void cleanup_module(void)
{
	int sum = exporter_add(2, 3);

	printk(KERN_INFO "lazy: exporter_add(2, 3) = %d, exporter_value = %d\n",
	       sum, exporter_value);
}

MODULE_LICENSE("GPL");
MODULE_AUTHOR("insmod_py");
MODULE_DESCRIPTION("Uses exporter's symbols only after init: for --defer-missing");
