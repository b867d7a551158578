/* x86_64 system calls for the guest agent: the syscall instruction, numbers from 2.4's
 * asm-x86_64/unistd.h (the module calls are 174-178).
 *
 * syscall clobbers rcx and r11; the argument registers are treated as clobbered too, as on
 * i386 (measured intact on x86_64, but nothing here depends on it). */

typedef long sword;
typedef unsigned long uword;

#define NR_read 0
#define NR_write 1
#define NR_open 2
#define NR_close 3
#define NR_lseek 8
#define NR_mmap 9
#define NR_munmap 11
#define NR_ioctl 16
#define NR_fork 57
#define NR_exit 60
#define NR_wait4 61
#define NR_uname 63
#define NR_mkdir 83
#define NR_syslog 103
#define NR_mknod 133
#define NR_mount 165
#define NR_create_module 174
#define NR_init_module 175
#define NR_delete_module 176
#define NR_get_kernel_syms 177
#define NR_query_module 178

static sword sc6(sword n, sword a, sword b, sword c, sword d, sword e, sword f)
{
	sword r;
	register sword r10 __asm__("r10") = d;
	register sword r8 __asm__("r8") = e;
	register sword r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(r), "+D"(a), "+S"(b), "+d"(c), "+r"(r10), "+r"(r8), "+r"(r9)
			 : "0"(n)
			 : "rcx", "r11", "memory", "cc");
	return r;
}

static sword sc(sword n, sword a, sword b, sword c, sword d, sword e)
{
	return sc6(n, a, b, c, d, e, 0);
}

static void *sys_mmap_anon(uword len)
{
	return (void *)sc6(NR_mmap, 0, (sword)len, 3 /* PROT_READ|PROT_WRITE */,
			   0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0);
}

static long long sys_lseek64(sword fd, long long off, sword whence)
{
	return sc(NR_lseek, fd, off, whence, 0, 0);
}

__asm__(".globl _start\n_start:\n\txorl %ebp,%ebp\n\tcall agent_main\n"
	"\tmovl $60,%eax\n\txorl %edi,%edi\n\tsyscall\n");
