#ifndef _LINUX_LINKAGE_H
#define _LINUX_LINKAGE_H

/* 2.4 i386 asmlinkage: all arguments on the stack (the default without -mregparm). */
#define asmlinkage

#endif
