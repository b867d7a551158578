#ifndef _LINUX_SCHED_H
#define _LINUX_SCHED_H

/* Only the tick counter; 2.4 declared it here. */
extern unsigned long volatile jiffies;

#define HZ 100

#endif
