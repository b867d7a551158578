#ifndef _LINUX_SLAB_H
#define _LINUX_SLAB_H

#include <linux/types.h>
#include <linux/mm.h>

extern void *kmalloc(size_t, int);
extern void kfree(const void *);

#endif
