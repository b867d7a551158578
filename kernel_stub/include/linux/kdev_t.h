#ifndef _LINUX_KDEV_T_H
#define _LINUX_KDEV_T_H

/*
 * 2.4 include/linux/kdev_t.h (kernel half): a device number is a 16-bit
 * kdev_t, 8 bits of major over 8 bits of minor.
 */
#define MINORBITS	8
#define MINORMASK	((1U << MINORBITS) - 1)

typedef unsigned short kdev_t;

#define MAJOR(dev)	((unsigned int) ((dev) >> MINORBITS))
#define MINOR(dev)	((unsigned int) ((dev) & MINORMASK))
#define HASHDEV(dev)	((unsigned int) (dev))
#define NODEV		0
#define MKDEV(ma,mi)	(((ma) << MINORBITS) | (mi))
#define B_FREE		0xffff		/* yuk */

extern const char * kdevname(kdev_t);	/* note: returns pointer to static data! */

#define mk_kdev(a,b)	MKDEV(a,b)
#define major(d)	MAJOR(d)
#define minor(d)	MINOR(d)
#define kdev_same(a,b)	((a) == (b))
#define kdev_none(d)	(!(d))
#define kdev_val(d)	((unsigned int)(d))
#define val_to_kdev(d)	((kdev_t)(d))

/*
As long as device numbers in the outside world have 16 bits only,
we use these conversions.
*/

static inline unsigned int kdev_t_to_nr(kdev_t dev) {
	return (MAJOR(dev)<<8) | MINOR(dev);
}

static inline kdev_t to_kdev_t(int dev)
{
	int major, minor;
	major = (dev >> 8);
	minor = (dev & 0xff);
	return MKDEV(major, minor);
}

#endif
