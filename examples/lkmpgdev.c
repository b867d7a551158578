/*
 * lkmpgdev: the character device of The Linux Kernel Module Programming
 * Guide (2.4 edition, chardev.c), unchanged in spirit: open counts how often
 * the device was opened and prepares a message, read hands it out one byte
 * at a time with put_user, write is refused, and only one opener at a time.
 *
 * Expected console output, if register_chrdev(0, ...) returns major M:
 *   init:    <6>lkmpgdev: registered major M
 *   write:   <1>lkmpgdev: Sorry, this operation isn't supported.
 *   cleanup: <6>lkmpgdev: unregistered major M
 * Reading the device after N earlier opens returns
 *   "I already told you N times Hello world!\n".
 */

#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/fs.h>
#include <asm/uaccess.h>

#define SUCCESS 0
#define DEVICE_NAME "lkmpgdev"
#define BUF_LEN 80

static int Major;
static int Device_Open = 0;
static char msg[BUF_LEN];
static char *msg_Ptr;
static int counter = 0;

static int device_open(struct inode *inode, struct file *file)
{
	if (Device_Open)
		return -EBUSY;
	Device_Open++;
	sprintf(msg, "I already told you %d times Hello world!\n", counter++);
	msg_Ptr = msg;
	MOD_INC_USE_COUNT;
	return SUCCESS;
}

static int device_release(struct inode *inode, struct file *file)
{
	Device_Open--;
	MOD_DEC_USE_COUNT;
	return 0;
}

static ssize_t device_read(struct file *filp, char *buffer, size_t length, loff_t *offset)
{
	int bytes_read = 0;

	if (*msg_Ptr == 0)
		return 0;
	while (length && *msg_Ptr) {
		if (put_user(*(msg_Ptr++), buffer++))
			return -EFAULT;
		length--;
		bytes_read++;
	}
	return bytes_read;
}

static ssize_t device_write(struct file *filp, const char *buff, size_t len, loff_t *off)
{
	printk(KERN_ALERT "lkmpgdev: Sorry, this operation isn't supported.\n");
	return -EINVAL;
}

static struct file_operations fops = {
	owner:		THIS_MODULE,
	read:		device_read,
	write:		device_write,
	open:		device_open,
	release:	device_release,
};

int init_module(void)
{
	Major = register_chrdev(0, DEVICE_NAME, &fops);
	if (Major < 0) {
		printk(KERN_ERR "lkmpgdev: registering the device failed with %d\n", Major);
		return Major;
	}
	printk(KERN_INFO "lkmpgdev: registered major %d\n", Major);
	return 0;
}

void cleanup_module(void)
{
	int ret = unregister_chrdev(Major, DEVICE_NAME);

	if (ret < 0)
		printk(KERN_ERR "lkmpgdev: unregister_chrdev: %d\n", ret);
	else
		printk(KERN_INFO "lkmpgdev: unregistered major %d\n", Major);
}

MODULE_LICENSE("GPL");
MODULE_AUTHOR("insmod_py");
MODULE_DESCRIPTION("LKMPG-style character device: counts opens, read returns a message");
