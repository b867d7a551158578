#ifndef _LINUX_STRING_H_
#define _LINUX_STRING_H_

/* String helpers a module may call; the kernel (real or simulated) provides them. */

#include <linux/types.h>

extern void * memset(void *, int, size_t);
extern void * memcpy(void *, const void *, size_t);
extern int memcmp(const void *, const void *, size_t);

#ifdef __i386__
/* 2.4's asm-i386/string.h defines these inline (__HAVE_ARCH_STRLEN...): an i386 kernel
 * exports none of them, so a module must carry its own copies, as it did then. */
static inline size_t strlen(const char *s)
{
	const char *p = s;
	while (*p)
		p++;
	return p - s;
}

static inline char * strcpy(char *d, const char *s)
{
	char *r = d;
	while ((*d++ = *s++))
		;
	return r;
}

static inline char * strncpy(char *d, const char *s, size_t n)
{
	char *r = d;
	for (; n && *s; n--)
		*d++ = *s++;
	for (; n; n--)
		*d++ = 0;
	return r;
}

static inline char * strcat(char *d, const char *s)
{
	strcpy(d + strlen(d), s);
	return d;
}

static inline int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++)
		if (*a != *b || !*a)
			return (unsigned char)*a - (unsigned char)*b;
	return 0;
}

static inline int strcmp(const char *a, const char *b)
{
	return strncmp(a, b, (size_t)-1);
}

static inline char * strchr(const char *s, int c)
{
	for (; *s != (char)c; s++)
		if (!*s)
			return 0;
	return (char *)s;
}

static inline void * memmove(void *d, const void *s, size_t n)
{
	char *dp = d;
	const char *sp = s;
	if (dp < sp)
		while (n--)
			*dp++ = *sp++;
	else
		while (n--)
			dp[n] = sp[n];
	return d;
}
#else
extern void * memmove(void *, const void *, size_t);
extern size_t strlen(const char *);
extern char * strcpy(char *, const char *);
extern char * strncpy(char *, const char *, size_t);
extern char * strcat(char *, const char *);
extern int strcmp(const char *, const char *);
extern int strncmp(const char *, const char *, size_t);
extern char * strchr(const char *, int);
#endif
extern int sprintf(char * buf, const char * fmt, ...)
	__attribute__ ((format (printf, 2, 3)));

#endif
