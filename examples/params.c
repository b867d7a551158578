/*
 * params: one MODULE_PARM of each type; init prints every value.
 *
 * Expected console output with the default values:
 *   <6>params: i=42
 *   <6>params: h=-7
 *   <6>params: b=200
 *   <6>params: s=default
 *   <6>params: a=1,2,3,4
 *   <6>params: c=chars
 * e.g. "i=5 h=1 b=7 s=xyz a=9,8 c=hello" gives i=5 h=1 b=7 s=xyz a=9,8,3,4 c=hello.
 */

#include <linux/module.h>
#include <linux/kernel.h>

static int i = 42;
static short h = -7;
static unsigned char b = 200;
static char *s = "default";
static int a[4] = { 1, 2, 3, 4 };
static char c[16] = "chars";

MODULE_PARM(i, "i");
MODULE_PARM_DESC(i, "an int");
MODULE_PARM(h, "h");
MODULE_PARM_DESC(h, "a short");
MODULE_PARM(b, "b");
MODULE_PARM_DESC(b, "a byte");
MODULE_PARM(s, "s");
MODULE_PARM_DESC(s, "a string");
MODULE_PARM(a, "1-4i");
MODULE_PARM_DESC(a, "one to four ints");
MODULE_PARM(c, "c16");
MODULE_PARM_DESC(c, "a char array of 16 bytes");

EXPORT_NO_SYMBOLS;

int init_module(void)
{
	printk(KERN_INFO "params: i=%d\n", i);
	printk(KERN_INFO "params: h=%d\n", h);
	printk(KERN_INFO "params: b=%d\n", b);
	printk(KERN_INFO "params: s=%s\n", s);
	printk(KERN_INFO "params: a=%d,%d,%d,%d\n", a[0], a[1], a[2], a[3]);
	printk(KERN_INFO "params: c=%s\n", c);
	return 0;
}

void cleanup_module(void)
{
}

MODULE_LICENSE("GPL");
MODULE_AUTHOR("insmod_py");
MODULE_DESCRIPTION("One parameter of each MODULE_PARM type");
