/*
 * softwdog: a software watchdog in the manner of 2.4's drivers/char/softdog.c:
 * a misc device (major 10, minor WATCHDOG_MINOR) whose open arms a kernel
 * timer for soft_margin seconds; every write or WDIOC_KEEPALIVE pushes it
 * back; closing after writing the magic 'V' disarms it.  If the timer runs
 * out, the handler reports it (it never reboots: this one is for tests).
 *
 * Expected console output:
 *   init:    <6>softwdog: Software Watchdog Timer, margin N sec
 *   expiry:  <2>softwdog: Triggered - Reboot ignored.
 *   close without 'V': <2>softwdog: WDT device closed unexpectedly.  WDT will not stop!
 *   close after 'V':   <6>softwdog: stopped
 *   cleanup: <6>softwdog: unloaded
 */

#include <linux/module.h>
#include <linux/config.h>
#include <linux/types.h>
#include <linux/kernel.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/miscdevice.h>
#include <linux/watchdog.h>
#include <linux/reboot.h>
#include <linux/smp_lock.h>
#include <linux/init.h>
#include <linux/timer.h>
#include <asm/bitops.h>
#include <asm/uaccess.h>

#define TIMER_MARGIN	60		/* (secs) Default is 1 minute */

static int expect_close;
static int soft_margin = TIMER_MARGIN;	/* in seconds */
static int fired;

MODULE_PARM(soft_margin, "i");
MODULE_PARM_DESC(soft_margin, "seconds without a ping before the watchdog fires");

static void watchdog_fire(unsigned long);

static struct timer_list watchdog_ticktock = {
	function:	watchdog_fire,
};
static unsigned long timer_alive;

static void watchdog_fire(unsigned long data)
{
	fired++;
	printk(KERN_CRIT "softwdog: Triggered - Reboot ignored.\n");
}

static void keepalive(void)
{
	mod_timer(&watchdog_ticktock, jiffies + (soft_margin * HZ));
}

static int softwdog_open(struct inode *inode, struct file *file)
{
	if (test_and_set_bit(0, &timer_alive))
		return -EBUSY;
	MOD_INC_USE_COUNT;
	keepalive();
	return 0;
}

static int softwdog_release(struct inode *inode, struct file *file)
{
	lock_kernel();
	if (expect_close) {
		del_timer(&watchdog_ticktock);
		printk(KERN_INFO "softwdog: stopped\n");
	} else {
		printk(KERN_CRIT "softwdog: WDT device closed unexpectedly.  WDT will not stop!\n");
	}
	expect_close = 0;
	clear_bit(0, &timer_alive);
	unlock_kernel();
	MOD_DEC_USE_COUNT;
	return 0;
}

static ssize_t softwdog_write(struct file *file, const char *data, size_t len, loff_t *ppos)
{
	size_t i;

	/* Can't seek (pwrite) on this device */
	if (ppos != &file->f_pos)
		return -ESPIPE;
	if (!len)
		return 0;
	expect_close = 0;
	for (i = 0; i != len; i++) {
		char c;

		if (get_user(c, data + i))
			return -EFAULT;
		if (c == 'V')
			expect_close = 1;
	}
	keepalive();
	return len;
}

static int softwdog_ioctl(struct inode *inode, struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	int new_margin;
	static struct watchdog_info ident = {
		WDIOF_SETTIMEOUT | WDIOF_MAGICCLOSE,
		0,
		"Software Watchdog"
	};

	switch (cmd) {
	default:
		return -ENOTTY;
	case WDIOC_GETSUPPORT:
		if (copy_to_user((struct watchdog_info *)arg, &ident, sizeof(ident)))
			return -EFAULT;
		return 0;
	case WDIOC_GETSTATUS:
		return put_user(fired, (int *)arg);
	case WDIOC_GETBOOTSTATUS:
		return put_user(0, (int *)arg);
	case WDIOC_KEEPALIVE:
		keepalive();
		return 0;
	case WDIOC_SETTIMEOUT:
		if (get_user(new_margin, (int *)arg))
			return -EFAULT;
		if (new_margin < 1)
			return -EINVAL;
		soft_margin = new_margin;
		keepalive();
		/* Fall */
	case WDIOC_GETTIMEOUT:
		return put_user(soft_margin, (int *)arg);
	}
}

static struct file_operations softwdog_fops = {
	owner:		THIS_MODULE,
	write:		softwdog_write,
	ioctl:		softwdog_ioctl,
	open:		softwdog_open,
	release:	softwdog_release,
};

static struct miscdevice softwdog_miscdev = {
	minor:		WATCHDOG_MINOR,
	name:		"watchdog",
	fops:		&softwdog_fops,
};

static int __init watchdog_init(void)
{
	int ret;

	init_timer(&watchdog_ticktock);
	watchdog_ticktock.function = watchdog_fire;
	ret = misc_register(&softwdog_miscdev);
	if (ret)
		return ret;
	printk(KERN_INFO "softwdog: Software Watchdog Timer, margin %d sec\n", soft_margin);
	return 0;
}

static void __exit watchdog_exit(void)
{
	del_timer(&watchdog_ticktock);
	misc_deregister(&softwdog_miscdev);
	printk(KERN_INFO "softwdog: unloaded\n");
}

module_init(watchdog_init);
module_exit(watchdog_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("insmod_py");
MODULE_DESCRIPTION("softdog-style watchdog: a misc device and a kernel timer");
