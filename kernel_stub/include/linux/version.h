/* The one kernel version the examples claim to be built for (2.4's generated version.h):
 * 2.4.37.11, the release the simulated kernel stands for and the real one under qemu is. */
#define UTS_RELEASE "2.4.37.11"
#define LINUX_VERSION_CODE 132133
#define KERNEL_VERSION(a,b,c) (((a) << 16) + ((b) << 8) + (c))
