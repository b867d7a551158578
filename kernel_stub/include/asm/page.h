#ifndef _ASM_PAGE_H
#define _ASM_PAGE_H

/* 2.4 asm-i386/page.h and asm-x86_64/page.h: page size and where the kernel's mapping starts. */
#define PAGE_SHIFT	12
#define PAGE_SIZE	(1UL << PAGE_SHIFT)
#define PAGE_MASK	(~(PAGE_SIZE-1))
#define PAGE_ALIGN(addr)	(((addr)+PAGE_SIZE-1)&PAGE_MASK)

#ifdef __x86_64__
#define __PAGE_OFFSET		0x0000010000000000
#else
#define __PAGE_OFFSET		(0xC0000000)
#endif
#define PAGE_OFFSET		((unsigned long)__PAGE_OFFSET)

#endif
