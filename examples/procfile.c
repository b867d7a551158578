/*
 * procfile: a /proc entry with a read_proc and a write_proc, as 2.4 drivers
 * made them with create_proc_entry.  Reading /proc/procfile shows how often
 * it was read and the last text written to it; writing stores up to 63 bytes
 * (copy_from_user), and a write from a bad user pointer fails with EFAULT.
 *
 * Expected console output:
 *   init:    <6>procfile: /proc/procfile created
 *   write:   <6>procfile: stored N bytes
 *   cleanup: <6>procfile: /proc/procfile removed
 * Reading it (first read, nothing written yet) returns
 *   "procfile: read 1, text 'none'\n".
 */

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/proc_fs.h>
#include <asm/uaccess.h>

#define TEXT_MAX 64

static struct proc_dir_entry *entry;
static char text[TEXT_MAX] = "none";
static int reads;

static int procfile_read(char *page, char **start, off_t off, int count, int *eof, void *data)
{
	int len;

	if (off > 0) {
		*eof = 1;
		return 0;
	}
	reads++;
	len = sprintf(page, "procfile: read %d, text '%s'\n", reads, text);
	*eof = 1;
	return len;
}

static int procfile_write(struct file *file, const char *buffer, unsigned long count, void *data)
{
	unsigned long len = count < TEXT_MAX - 1 ? count : TEXT_MAX - 1;

	if (copy_from_user(text, buffer, len))
		return -EFAULT;
	text[len] = '\0';
	if (len && text[len - 1] == '\n')
		text[len - 1] = '\0';
	printk(KERN_INFO "procfile: stored %lu bytes\n", len);
	return count;
}

int init_module(void)
{
	entry = create_proc_entry("procfile", S_IFREG | S_IRUGO | S_IWUSR, NULL);
	if (!entry)
		return -ENOMEM;
	entry->read_proc = procfile_read;
	entry->write_proc = procfile_write;
	entry->owner = THIS_MODULE;
	printk(KERN_INFO "procfile: /proc/procfile created\n");
	return 0;
}

void cleanup_module(void)
{
	remove_proc_entry("procfile", NULL);
	printk(KERN_INFO "procfile: /proc/procfile removed\n");
}

MODULE_LICENSE("GPL");
MODULE_AUTHOR("insmod_py");
MODULE_DESCRIPTION("A /proc entry with read_proc and write_proc");
