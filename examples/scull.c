/*
 * scull: the memory-backed device of Linux Device Drivers (2nd edition),
 * reduced to one buffer per minor: what is written can be read back, llseek
 * moves the file position (SEEK_SET/CUR/END), and ioctl resets the device
 * and gets/sets its size limit (the "quantum").  Two minors, 0 and 1, each
 * with its own buffer; opening write-only truncates, as in LDD.
 *
 * Expected console output, if register_chrdev returns major M:
 *   init:    <6>scull: major M, 2 devices, quantum 4000
 *   cleanup: <6>scull: freed, major M
 *
 * ioctl numbers (magic 'k'):
 *   SCULL_IOCRESET    _IO('k', 0)          empty the device, quantum back to the default
 *   SCULL_IOCGSIZE    _IOR('k', 1, int)    *arg = bytes stored
 *   SCULL_IOCSQUANTUM _IOW('k', 2, int)    limit = *arg (1..SCULL_MAX); needs CAP_SYS_ADMIN
 *   SCULL_IOCGQUANTUM _IOR('k', 3, int)    *arg = limit
 *   SCULL_IOCQQUANTUM _IO('k', 4)          return limit
 */

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/errno.h>
#include <linux/types.h>
#include <linux/fcntl.h>
#include <asm/uaccess.h>

#define SCULL_NR_DEVS	2
#define SCULL_QUANTUM	4000
#define SCULL_MAX	8192

#define SCULL_IOC_MAGIC		'k'
#define SCULL_IOCRESET		_IO(SCULL_IOC_MAGIC, 0)
#define SCULL_IOCGSIZE		_IOR(SCULL_IOC_MAGIC, 1, int)
#define SCULL_IOCSQUANTUM	_IOW(SCULL_IOC_MAGIC, 2, int)
#define SCULL_IOCGQUANTUM	_IOR(SCULL_IOC_MAGIC, 3, int)
#define SCULL_IOCQQUANTUM	_IO(SCULL_IOC_MAGIC, 4)
#define SCULL_IOC_MAXNR		4

struct scull_dev {
	char *data;
	int quantum;
	int size;
};

static int scull_major = 0;
MODULE_PARM(scull_major, "i");
MODULE_PARM_DESC(scull_major, "major number (0: dynamic)");

static struct scull_dev scull_devices[SCULL_NR_DEVS];

static void scull_trim(struct scull_dev *dev)
{
	kfree(dev->data);
	dev->data = NULL;
	dev->size = 0;
}

static int scull_open(struct inode *inode, struct file *filp)
{
	unsigned int num = MINOR(inode->i_rdev);
	struct scull_dev *dev;

	if (num >= SCULL_NR_DEVS)
		return -ENODEV;
	dev = &scull_devices[num];
	if ((filp->f_flags & O_ACCMODE) == O_WRONLY)
		scull_trim(dev);
	filp->private_data = dev;
	MOD_INC_USE_COUNT;
	return 0;
}

static int scull_release(struct inode *inode, struct file *filp)
{
	MOD_DEC_USE_COUNT;
	return 0;
}

static ssize_t scull_read(struct file *filp, char *buf, size_t count, loff_t *f_pos)
{
	struct scull_dev *dev = filp->private_data;

	if (*f_pos >= dev->size)
		return 0;
	if (*f_pos + count > dev->size)
		count = dev->size - *f_pos;
	if (copy_to_user(buf, dev->data + *f_pos, count))
		return -EFAULT;
	*f_pos += count;
	return count;
}

static ssize_t scull_write(struct file *filp, const char *buf, size_t count, loff_t *f_pos)
{
	struct scull_dev *dev = filp->private_data;

	if (!dev->data) {
		dev->data = kmalloc(dev->quantum, GFP_KERNEL);
		if (!dev->data)
			return -ENOMEM;
	}
	if (filp->f_flags & O_APPEND)
		*f_pos = dev->size;
	if (*f_pos >= dev->quantum)
		return -ENOSPC;
	if (*f_pos + count > dev->quantum)
		count = dev->quantum - *f_pos;
	if (copy_from_user(dev->data + *f_pos, buf, count))
		return -EFAULT;
	*f_pos += count;
	if (dev->size < *f_pos)
		dev->size = *f_pos;
	return count;
}

static loff_t scull_llseek(struct file *filp, loff_t off, int whence)
{
	struct scull_dev *dev = filp->private_data;
	loff_t newpos;

	switch (whence) {
	case 0: /* SEEK_SET */
		newpos = off;
		break;
	case 1: /* SEEK_CUR */
		newpos = filp->f_pos + off;
		break;
	case 2: /* SEEK_END */
		newpos = dev->size + off;
		break;
	default:
		return -EINVAL;
	}
	if (newpos < 0)
		return -EINVAL;
	filp->f_pos = newpos;
	return newpos;
}

static int scull_ioctl(struct inode *inode, struct file *filp, unsigned int cmd, unsigned long arg)
{
	struct scull_dev *dev = filp->private_data;
	int err = 0, tmp;

	if (_IOC_TYPE(cmd) != SCULL_IOC_MAGIC || _IOC_NR(cmd) > SCULL_IOC_MAXNR)
		return -ENOTTY;
	if (_IOC_DIR(cmd) & _IOC_READ)
		err = !access_ok(VERIFY_WRITE, (void *)arg, _IOC_SIZE(cmd));
	else if (_IOC_DIR(cmd) & _IOC_WRITE)
		err = !access_ok(VERIFY_READ, (void *)arg, _IOC_SIZE(cmd));
	if (err)
		return -EFAULT;

	switch (cmd) {
	case SCULL_IOCRESET:
		scull_trim(dev);
		dev->quantum = SCULL_QUANTUM;
		return 0;
	case SCULL_IOCGSIZE:
		return __put_user(dev->size, (int *)arg);
	case SCULL_IOCSQUANTUM:
		if (!capable(CAP_SYS_ADMIN))
			return -EPERM;
		if (__get_user(tmp, (int *)arg))
			return -EFAULT;
		if (tmp < 1 || tmp > SCULL_MAX || tmp < dev->size)
			return -EINVAL;
		if (dev->data) {
			char *bigger = kmalloc(tmp, GFP_KERNEL);
			if (!bigger)
				return -ENOMEM;
			memcpy(bigger, dev->data, dev->size);
			kfree(dev->data);
			dev->data = bigger;
		}
		dev->quantum = tmp;
		return 0;
	case SCULL_IOCGQUANTUM:
		return put_user(dev->quantum, (int *)arg);
	case SCULL_IOCQQUANTUM:
		return dev->quantum;
	default:
		return -ENOTTY;
	}
}

static struct file_operations scull_fops = {
	owner:		THIS_MODULE,
	llseek:		scull_llseek,
	read:		scull_read,
	write:		scull_write,
	ioctl:		scull_ioctl,
	open:		scull_open,
	release:	scull_release,
};

static int __init scull_init(void)
{
	int result, i;

	result = register_chrdev(scull_major, "scull", &scull_fops);
	if (result < 0) {
		printk(KERN_WARNING "scull: can't get major %d\n", scull_major);
		return result;
	}
	if (scull_major == 0)
		scull_major = result;
	for (i = 0; i < SCULL_NR_DEVS; i++) {
		scull_devices[i].data = NULL;
		scull_devices[i].size = 0;
		scull_devices[i].quantum = SCULL_QUANTUM;
	}
	printk(KERN_INFO "scull: major %d, %d devices, quantum %d\n", scull_major,
	       SCULL_NR_DEVS, SCULL_QUANTUM);
	return 0;
}

static void __exit scull_cleanup(void)
{
	int i;

	for (i = 0; i < SCULL_NR_DEVS; i++)
		scull_trim(&scull_devices[i]);
	unregister_chrdev(scull_major, "scull");
	printk(KERN_INFO "scull: freed, major %d\n", scull_major);
}

module_init(scull_init);
module_exit(scull_cleanup);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("insmod_py");
MODULE_DESCRIPTION("LDD-style scull: a memory device with read, write, llseek and ioctl");
