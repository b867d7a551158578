/*
 * chardev: the classic 2.4 character driver skeleton.  init registers a
 * dynamic major and allocates a buffer; open/release move the use count with
 * MOD_INC_USE_COUNT/MOD_DEC_USE_COUNT; fops.owner = THIS_MODULE.  Written with
 * module_init/module_exit and __init/__exit, so init_module and
 * cleanup_module are aliases of static functions.
 *
 * With hold=1, init also does MOD_INC_USE_COUNT, so the module stays in use
 * after loading and rmmod must fail with EBUSY: the test that THIS_MODULE
 * (the weak __this_module) is the real module header.
 *
 * Expected console output, if register_chrdev(0, ...) returns major M:
 *   init:    <6>chardev: registered major M
 *   (hold=1: <6>chardev: holding a reference)
 *   cleanup: <6>chardev: unregistered major M
 */

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/errno.h>
#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sched.h>

#define DEVICE_NAME "pychar"
#define BUF_SIZE 64

static int major;
static char *buffer;
static unsigned long opened_at;
static int hold;

MODULE_PARM(hold, "i");
MODULE_PARM_DESC(hold, "1: keep a use count from init, so the module cannot be removed");

static int chardev_open(struct inode *inode, struct file *file)
{
	MOD_INC_USE_COUNT;
	opened_at = jiffies;
	return 0;
}

static int chardev_release(struct inode *inode, struct file *file)
{
	MOD_DEC_USE_COUNT;
	return 0;
}

static ssize_t chardev_read(struct file *file, char *buf, size_t count, loff_t *ppos)
{
	size_t len = strlen(buffer);

	if (*ppos >= len)
		return 0;
	if (count > len - *ppos)
		count = len - *ppos;
	memcpy(buf, buffer + *ppos, count);	/* a real driver: copy_to_user */
	*ppos += count;
	return count;
}

static struct file_operations chardev_fops = {
	owner:		THIS_MODULE,
	read:		chardev_read,
	open:		chardev_open,
	release:	chardev_release,
};

static int __init chardev_init(void)
{
	buffer = kmalloc(BUF_SIZE, GFP_KERNEL);
	if (!buffer)
		return -ENOMEM;
	strcpy(buffer, "Hello from pychar\n");

	major = register_chrdev(0, DEVICE_NAME, &chardev_fops);
	if (major < 0) {
		printk(KERN_ERR "chardev: register_chrdev failed: %d\n", major);
		kfree(buffer);
		return major;
	}
	printk(KERN_INFO "chardev: registered major %d\n", major);
	if (hold) {
		MOD_INC_USE_COUNT;
		printk(KERN_INFO "chardev: holding a reference\n");
	}
	return 0;
}

static void __exit chardev_exit(void)
{
	unregister_chrdev(major, DEVICE_NAME);
	kfree(buffer);
	printk(KERN_INFO "chardev: unregistered major %d\n", major);
}

module_init(chardev_init);
module_exit(chardev_exit);

EXPORT_NO_SYMBOLS;

MODULE_LICENSE("GPL");
MODULE_AUTHOR("insmod_py");
MODULE_DESCRIPTION("Character device skeleton with use counting");
