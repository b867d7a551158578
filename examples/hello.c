/*
 * hello: the smallest module that touches every kind of relocation target:
 * .data (hello_count, hello_ops), .rodata strings, .bss (hello_buf, which is
 * COMMON when built with -fcommon, and hello_scratch), static functions
 * reached through a pointer table, and a weak function the kernel may override.
 *
 * Expected console output with the default values:
 *   init:    <6>hello: Hello, world! count=3 magic=c0ffee
 *            <6>hello: ops gave 6 and 16, sum 22
 *            <6>hello: weak hook returned 105, scratch "ok"
 *   cleanup: <6>hello: Goodbye, world! count=13
 */

#include <linux/module.h>
#include <linux/kernel.h>

int hello_count = 3;			/* changed by init, re-read by cleanup */
char *hello_whom = "world";
int hello_buf[8];			/* .bss, or COMMON with -fcommon */
static char hello_scratch[32];		/* always .bss */

static int twice(int x)
{
	return 2 * x;
}

static int square(int x)
{
	return x * x;
}

/* Writable, so gcc cannot fold the indirect calls into direct ones. */
int (*hello_ops[])(int) = { twice, square };

/* Weak: a kernel symbol of the same name takes precedence. */
int __attribute__((weak)) hello_weak(int x)
{
	return x + 100;
}

int init_module(void)
{
	int i, sum = 0;

	printk(KERN_INFO "hello: Hello, %s! count=%d magic=%x\n",
	       hello_whom, hello_count, 0xc0ffee);
	for (i = 0; i < 2; i++) {
		hello_buf[i] = hello_ops[i](hello_count + i);
		sum += hello_buf[i];
	}
	printk(KERN_INFO "hello: ops gave %d and %d, sum %d\n",
	       hello_buf[0], hello_buf[1], sum);
	hello_scratch[0] = 'o';
	hello_scratch[1] = 'k';
	printk(KERN_INFO "hello: weak hook returned %d, scratch \"%s\"\n",
	       hello_weak(5), hello_scratch);
	hello_count += 10;
	return 0;
}

void cleanup_module(void)
{
	printk(KERN_INFO "hello: Goodbye, %s! count=%d\n", hello_whom, hello_count);
}

MODULE_LICENSE("GPL");
MODULE_AUTHOR("insmod_py");
MODULE_DESCRIPTION("Hello world with data, bss, a pointer table and a weak symbol");
