#ifndef _LINUX_PREFETCH_H
#define _LINUX_PREFETCH_H

/*
 * 2.4 include/linux/prefetch.h: hints only.  The generic no-op versions (an
 * i686 kernel used them too: prefetch instructions came with 3DNow/SSE).
 */
static inline void prefetch(const void *x) {;}
static inline void prefetchw(const void *x) {;}
#define spin_lock_prefetch(x) prefetchw(x)
#define PREFETCH_STRIDE (4*L1_CACHE_BYTES)

#endif
