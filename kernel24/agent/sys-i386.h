/* i386 system calls for the guest agent: int $0x80, numbers from 2.4's asm-i386/unistd.h.
 *
 * Every argument register is an in/out operand: a 2.4 kernel built with a modern gcc may
 * write modified arguments back into the saved user registers (get_kernel_syms advances
 * ebx), so nothing may assume they survive the call. */

typedef long sword;
typedef unsigned long uword;

#define NR_exit 1
#define NR_fork 2
#define NR_read 3
#define NR_write 4
#define NR_open 5
#define NR_close 6
#define NR_mknod 14
#define NR_mount 21
#define NR_mkdir 39
#define NR_ioctl 54
#define NR_mmap_old 90
#define NR_munmap 91
#define NR_syslog 103
#define NR_wait4 114
#define NR_uname 122 /* sys_newuname */
#define NR_create_module 127
#define NR_init_module 128
#define NR_delete_module 129
#define NR_get_kernel_syms 130
#define NR_llseek 140
#define NR_query_module 167

static sword sc(sword n, sword a, sword b, sword c, sword d, sword e)
{
	sword r;
	__asm__ volatile("int $0x80"
			 : "=a"(r), "+b"(a), "+c"(b), "+d"(c), "+S"(d), "+D"(e)
			 : "0"(n)
			 : "memory", "cc");
	return r;
}

/* Anonymous private read/write pages (old_mmap takes its six arguments in memory). */
static void *sys_mmap_anon(uword len)
{
	uword args[6] = { 0, len, 3 /* PROT_READ|PROT_WRITE */, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */,
			  (uword)-1, 0 };
	return (void *)sc(NR_mmap_old, (sword)args, 0, 0, 0, 0);
}

/* 64-bit file offset through _llseek; returns the new offset or -errno. */
static long long sys_lseek64(sword fd, long long off, sword whence)
{
	long long result = 0;
	sword r = sc(NR_llseek, fd, (sword)(off >> 32), (sword)(unsigned long)off, (sword)&result,
		     whence);
	return r < 0 ? r : result;
}

__asm__(".globl _start\n_start:\n\txorl %ebp,%ebp\n\tcall agent_main\n"
	"\tmovl $1,%eax\n\txorl %ebx,%ebx\n\tint $0x80\n");
