#ifndef __LINUX_DCACHE_H
#define __LINUX_DCACHE_H

/*
 * The leading members of 2.4's struct dentry, through d_inode: a driver
 * reaches the inode of an open file as file->f_dentry->d_inode.  The rest of
 * the struct is left out (no module allocates a dentry).
 */
#include <asm/atomic.h>

struct inode;

struct dentry {
	atomic_t d_count;
	unsigned int d_flags;
	struct inode  * d_inode;	/* Where the name belongs to - NULL is negative */
	struct dentry * d_parent;	/* parent directory */
	/* ... */
};

#endif
