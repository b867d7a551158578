#ifndef _LINUX_VMALLOC_H
#define _LINUX_VMALLOC_H

extern void * vmalloc(unsigned long size);
extern void vfree(void * addr);

#endif
