/* pyinsmod guest agent: /init of the initrd that the qemu backend boots a real 2.4 kernel with.
 *
 * Freestanding (no libc); the machine's system calls come from sys-ARCH.h, included first
 * on the compiler's command line (-include).  It mounts /proc (and a ramfs on /tmp, for
 * device nodes), then serves the host over the second serial port, /dev/ttyS1, in raw mode.
 * The framed protocol (requests with a sequence number, an op and a length-prefixed
 * payload; responses with the system call's return value and out-buffers; CRC-32 over
 * each frame; a one-byte acknowledgement after every CHUNK bytes of a request) is
 * described in insmod_py/backends/qemu/protocol.py, which is the host's side of it.
 *
 * pid 1 itself only forks a worker and waits: when module code oopses, 2.4 kills the
 * process that made the system call, and killing init would panic the kernel.  A worker
 * started after another one died first sends a DIED frame with the old worker's wait
 * status, so the host waiting for an answer learns what happened.
 */

typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;

#define MAGIC_REQUEST 0x51343250u  /* "P24Q" little-endian */
#define MAGIC_RESPONSE 0x41343250u /* "P24A" */
#define CHUNK 2048                 /* request bytes between acknowledgements */
#define ACK 0x06
#define REQ_HEADER 16 /* magic, seq, op, len */
#define MAX_PAYLOAD (4u << 20)
#define OUT_MAX (4u << 20)
#define OP_ZERO_RUNS 0x80 /* flag: the payload is zero-run encoded (see unpack_zero_runs) */

enum op {
	OP_HELLO = 1,
	OP_CREATE_MODULE = 2,
	OP_INIT_MODULE = 3,
	OP_DELETE_MODULE = 4,
	OP_QUERY_MODULE = 5,
	OP_GET_KERNEL_SYMS = 6,
	OP_READ_FILE = 7,
	OP_SYSLOG = 8,
	OP_MKNOD = 9,
	OP_OPEN = 10,
	OP_READ = 11,
	OP_WRITE = 12,
	OP_IOCTL = 13,
	OP_LSEEK = 14,
	OP_CLOSE = 15,
	OP_AGENT_ERROR = 254,
	OP_DIED = 255,
};

#define EINTR 4
#define E2BIG 7
#define ENOSYS 38
#define EBADMSG 74
#define EPROTO 71

struct kernel_sym {
	uword value;
	char name[60];
};

static u8 req[REQ_HEADER + MAX_PAYLOAD + 4];
static u8 unpacked[MAX_PAYLOAD];
static u8 out[OUT_MAX];
static u8 resp_head[24];
static u32 crc_table[256];
static sword tty = -1;

/* gcc may emit calls to these even in freestanding code */
void *memcpy(void *d, const void *s, uword n)
{
	u8 *dp = d;
	const u8 *sp = s;
	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memset(void *d, int c, uword n)
{
	u8 *dp = d;
	while (n--)
		*dp++ = (u8)c;
	return d;
}

static uword slen(const char *s)
{
	uword n = 0;
	while (s[n])
		n++;
	return n;
}

static void say(const char *s)
{
	sc(NR_write, 1, (sword)s, (sword)slen(s), 0, 0);
}

static void say_num(sword v)
{
	char b[24];
	int i = 23;
	uword u = v < 0 ? -(uword)v : (uword)v;
	b[i] = 0;
	do {
		b[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		b[--i] = '-';
	say(b + i);
}

static void crc_init(void)
{
	u32 i, k, c;
	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static u32 crc_update(u32 crc, const u8 *p, uword n)
{
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static u32 get32(const u8 *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (u32)p[3] << 24;
}

static u64 get64(const u8 *p)
{
	return get32(p) | (u64)get32(p + 4) << 32;
}

static void put32(u8 *p, u32 v)
{
	p[0] = (u8)v;
	p[1] = (u8)(v >> 8);
	p[2] = (u8)(v >> 16);
	p[3] = (u8)(v >> 24);
}

static void put64(u8 *p, u64 v)
{
	put32(p, (u32)v);
	put32(p + 4, (u32)(v >> 32));
}

/* -- the serial line ---------------------------------------------------------------------- */

static int write_all(const u8 *p, uword n)
{
	while (n) {
		sword r = sc(NR_write, tty, (sword)p, (sword)n, 0, 0);
		if (r == -EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (uword)r;
	}
	return 0;
}

/* Raw 8-bit line; read() returns what is there or 0 after VTIME tenths of a second. */
static void set_raw(sword fd)
{
	u32 t[9]; /* struct termios: 4 flag words, c_line, c_cc[19] */
	u8 *cc = (u8 *)t + 17;
	memset(t, 0, sizeof t);
	sc(NR_ioctl, fd, 0x5401 /* TCGETS */, (sword)t, 0, 0);
	t[0] = 0;                                 /* c_iflag: no IXON, ICRNL, ISTRIP */
	t[1] = 0;                                 /* c_oflag: no OPOST */
	t[2] = 0x1002 | 0x30 | 0x80 | 0x800;      /* c_cflag: B115200, CS8, CREAD, CLOCAL */
	t[3] = 0;                                 /* c_lflag: no ICANON, ECHO, ISIG */
	((u8 *)t)[16] = 0;                        /* N_TTY */
	cc[5] = 10;                               /* VTIME: 1 s */
	cc[6] = 0;                                /* VMIN */
	sc(NR_ioctl, fd, 0x5402 /* TCSETS */, (sword)t, 0, 0);
	/* ASYNC_LOW_LATENCY: hand received bytes to the line discipline at once instead of
	 * at the next timer tick, which would cost every request a tick (10 ms at HZ=100) */
	{
		int ser[32]; /* struct serial_struct: type, line, port, irq, flags, ... */
		memset(ser, 0, sizeof ser);
		if (sc(NR_ioctl, fd, 0x541E /* TIOCGSERIAL */, (sword)ser, 0, 0) == 0) {
			ser[4] |= 0x2000;
			sc(NR_ioctl, fd, 0x541F /* TIOCSSERIAL */, (sword)ser, 0, 0);
		}
	}
}

/* Read exactly n bytes; -1 when the host goes quiet mid-frame (it died or resynchronises). */
static int read_exact(u8 *p, uword n)
{
	while (n) {
		sword r = sc(NR_read, tty, (sword)p, (sword)n, 0, 0);
		if (r == -EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (uword)r;
	}
	return 0;
}

/* Wait (without a time limit) for the four magic bytes of a request. */
static void hunt_magic(void)
{
	u32 window = 0;
	u8 c;
	for (;;) {
		sword r = sc(NR_read, tty, (sword)&c, 1, 0, 0);
		if (r != 1)
			continue;
		window = window >> 8 | (u32)c << 24;
		if (window == MAGIC_REQUEST) {
			put32(req, MAGIC_REQUEST);
			return;
		}
	}
}

static int send_frame(u32 seq, u32 op, long long ret, const u8 *data, uword n)
{
	u8 tail[4];
	u32 crc;
	put32(resp_head, MAGIC_RESPONSE);
	put32(resp_head + 4, seq);
	put32(resp_head + 8, op);
	put64(resp_head + 12, (u64)ret);
	put32(resp_head + 20, (u32)n);
	crc = crc_update(0, resp_head, sizeof resp_head);
	crc = crc_update(crc, data, n);
	put32(tail, crc);
	if (write_all(resp_head, sizeof resp_head) || write_all(data, n) || write_all(tail, 4))
		return -1;
	return 0;
}

/* Read one request into req[]; returns its payload length, or -1 to start over.
 * After every CHUNK bytes of the frame (counted from its magic) that are not its end, one
 * ACK byte tells the host that the guest has taken them out of the tty buffer, so the host
 * never has more than CHUNK bytes in flight and 2.4's 4 KB n_tty buffer cannot overflow. */
static sword read_request(u32 *seq, u32 *op)
{
	uword have = 4, total, step;
	u32 len, crc;
	u8 ack = ACK;
	hunt_magic();
	if (read_exact(req + have, REQ_HEADER - have))
		return -1;
	have = REQ_HEADER;
	*seq = get32(req + 4);
	*op = get32(req + 8);
	len = get32(req + 12);
	if (len > MAX_PAYLOAD) {
		send_frame(*seq, OP_AGENT_ERROR, -E2BIG, 0, 0);
		return -1;
	}
	total = REQ_HEADER + len + 4;
	while (have < total) {
		step = CHUNK - have % CHUNK;
		if (step > total - have)
			step = total - have;
		if (read_exact(req + have, step))
			return -1;
		have += step;
		if (have % CHUNK == 0 && have < total && write_all(&ack, 1))
			return -1;
	}
	crc = crc_update(0, req, REQ_HEADER + len);
	if (crc != get32(req + REQ_HEADER + len)) {
		send_frame(*seq, OP_AGENT_ERROR, -EBADMSG, 0, 0);
		return -1;
	}
	return len;
}

/* A payload sent as groups of (u16 literal count, the literal bytes, u16 zero count), to the
 * end: module images are mostly zeros, and the serial line is the slow part.  Returns the
 * unpacked length, or -1 for an encoding that does not add up. */
static sword unpack_zero_runs(const u8 *in, uword n, u8 *o, uword cap)
{
	uword i = 0, k = 0, lit, zeros;
	while (i < n) {
		if (n - i < 4)
			return -1;
		lit = in[i] | in[i + 1] << 8;
		i += 2;
		if (lit > n - i - 2 || lit > cap - k)
			return -1;
		memcpy(o + k, in + i, lit);
		i += lit;
		k += lit;
		zeros = in[i] | in[i + 1] << 8;
		i += 2;
		if (zeros > cap - k)
			return -1;
		memset(o + k, 0, zeros);
		k += zeros;
	}
	return (sword)k;
}

/* -- the operations ----------------------------------------------------------------------- */

/* A request's payload, read front to back; strings are NUL-terminated in place. */
struct cursor {
	u8 *p;
	u8 *end;
	int bad;
};

/* The next n bytes, or 0 (and the cursor marked bad) when fewer are left. */
static const u8 *take(struct cursor *c, uword n)
{
	if ((uword)(c->end - c->p) < n) {
		c->bad = 1;
		return 0;
	}
	c->p += n;
	return c->p - n;
}

static u32 take32(struct cursor *c)
{
	const u8 *p = take(c, 4);
	return p ? get32(p) : 0;
}

static u64 take64(struct cursor *c)
{
	const u8 *p = take(c, 8);
	return p ? get64(p) : 0;
}

/* An optional string: one flag byte (0 = NULL pointer), then the bytes and their NUL. */
static char *take_str(struct cursor *c)
{
	char *s;
	if (c->p >= c->end) {
		c->bad = 1;
		return 0;
	}
	if (*c->p++ == 0)
		return 0;
	s = (char *)c->p;
	while (c->p < c->end && *c->p)
		c->p++;
	if (c->p >= c->end) {
		c->bad = 1;
		return 0;
	}
	c->p++;
	return s;
}

/* Copy n bytes so that they end exactly at an unmapped page: a kernel that reads past the
 * image faults (EFAULT) as it would on a buffer of exactly that size. */
static u8 *guarded_copy(const u8 *src, uword n, uword *maplen)
{
	uword pages = (n + 4095) / 4096, len = (pages + 1) * 4096;
	u8 *area = sys_mmap_anon(len);
	if ((uword)area > (uword)-4096)
		return 0;
	sc(NR_munmap, (sword)(area + pages * 4096), 4096, 0, 0, 0);
	*maplen = pages * 4096;
	memcpy(area + pages * 4096 - n, src, n);
	return area + pages * 4096 - n;
}

static long long do_request(u32 op, struct cursor *c, uword *nout)
{
	*nout = 0;
	switch (op) {
	case OP_HELLO:
		memset(out, 0, 6 * 65);
		*nout = 6 * 65;
		sc(NR_uname, (sword)out, 0, 0, 0, 0);
		return sizeof(uword);
	case OP_CREATE_MODULE: {
		u64 size = take64(c);
		char *name = take_str(c);
		if (c->bad)
			break;
		return sc(NR_create_module, (sword)name, (sword)size, 0, 0, 0);
	}
	case OP_INIT_MODULE: {
		char *name = take_str(c);
		uword n, maplen = 0;
		u8 *image;
		sword r;
		if (c->bad)
			break;
		n = (uword)(c->end - c->p);
		image = guarded_copy(c->p, n, &maplen);
		if (!image)
			return -E2BIG;
		r = sc(NR_init_module, (sword)name, (sword)image, 0, 0, 0);
		sc(NR_munmap, (sword)(image + n - maplen), (sword)maplen, 0, 0, 0);
		return r;
	}
	case OP_DELETE_MODULE: {
		char *name = take_str(c);
		if (c->bad)
			break;
		return sc(NR_delete_module, (sword)name, 0, 0, 0, 0);
	}
	case OP_QUERY_MODULE: {
		char *name = take_str(c);
		u32 which = take32(c);
		u64 bufsize = take64(c);
		uword count = 0;
		sword r;
		if (c->bad || bufsize > OUT_MAX - 8)
			break;
		memset(out, 0, 8 + bufsize);
		r = sc(NR_query_module, (sword)name, which, (sword)(out + 8), (sword)bufsize,
		       (sword)&count);
		put64(out, count);
		/* the buffer was zeroed: its zero tail need not cross the line (the host pads) */
		*nout = 8 + bufsize;
		while (*nout > 8 && out[*nout - 1] == 0)
			(*nout)--;
		return r;
	}
	case OP_GET_KERNEL_SYMS: {
		u32 with_table = take32(c);
		sword r;
		if (c->bad)
			break;
		if (!with_table)
			return sc(NR_get_kernel_syms, 0, 0, 0, 0, 0);
		/* the kernel writes without a bound: only ask when the table surely fits */
		r = sc(NR_get_kernel_syms, 0, 0, 0, 0, 0);
		if (r < 0)
			return r;
		if ((uword)(r + 256) * sizeof(struct kernel_sym) > OUT_MAX)
			return -E2BIG;
		r = sc(NR_get_kernel_syms, (sword)out, 0, 0, 0, 0);
		if (r > 0)
			*nout = (uword)r * sizeof(struct kernel_sym);
		return r;
	}
	case OP_READ_FILE: {
		char *path = take_str(c);
		sword fd, r;
		uword n = 0;
		if (c->bad)
			break;
		fd = sc(NR_open, (sword)path, 0, 0, 0, 0);
		if (fd < 0)
			return fd;
		while (n < OUT_MAX && (r = sc(NR_read, fd, (sword)(out + n), OUT_MAX - n, 0, 0)) > 0)
			n += (uword)r;
		sc(NR_close, fd, 0, 0, 0, 0);
		*nout = n;
		return r < 0 ? r : (sword)n;
	}
	case OP_SYSLOG: {
		u32 type = take32(c), len = take32(c);
		sword r;
		if (c->bad || len > OUT_MAX)
			break;
		r = sc(NR_syslog, type, (sword)out, len, 0, 0);
		if (r > 0 && (type == 2 || type == 3 || type == 4))
			*nout = (uword)r;
		return r;
	}
	case OP_MKNOD: {
		char *path = take_str(c);
		u32 mode = take32(c), dev = take32(c);
		if (c->bad)
			break;
		return sc(NR_mknod, (sword)path, mode, dev, 0, 0);
	}
	case OP_OPEN: {
		char *path = take_str(c);
		u32 flags = take32(c), mode = take32(c);
		if (c->bad)
			break;
		return sc(NR_open, (sword)path, flags, mode, 0, 0);
	}
	case OP_READ: {
		u32 fd = take32(c), count = take32(c);
		sword r;
		if (c->bad || count > OUT_MAX)
			break;
		r = sc(NR_read, fd, (sword)out, count, 0, 0);
		if (r > 0)
			*nout = (uword)r;
		return r;
	}
	case OP_WRITE: {
		u32 fd = take32(c);
		if (c->bad)
			break;
		return sc(NR_write, fd, (sword)c->p, (sword)(c->end - c->p), 0, 0);
	}
	case OP_IOCTL: {
		u32 fd = take32(c), cmd = take32(c), by_pointer = take32(c);
		uword n;
		sword r;
		if (c->bad)
			break;
		if (!by_pointer) {
			u64 value = take64(c);
			if (c->bad)
				break;
			return sc(NR_ioctl, fd, cmd, (sword)value, 0, 0);
		}
		n = (uword)(c->end - c->p);
		if (n > OUT_MAX)
			break;
		memcpy(out, c->p, n);
		r = sc(NR_ioctl, fd, cmd, (sword)out, 0, 0);
		*nout = n;
		return r;
	}
	case OP_LSEEK: {
		u32 fd = take32(c);
		u64 offset = take64(c);
		u32 whence = take32(c);
		if (c->bad)
			break;
		return sys_lseek64(fd, (long long)offset, whence);
	}
	case OP_CLOSE: {
		u32 fd = take32(c);
		if (c->bad)
			break;
		return sc(NR_close, fd, 0, 0, 0, 0);
	}
	default:
		return -ENOSYS;
	}
	return -EPROTO;
}

static void serve(sword died_status)
{
	u32 seq, op;
	sword len;
	uword nout;
	long long ret;
	struct cursor c;

	tty = sc(NR_open, (sword)"/dev/ttyS1", 2 /* O_RDWR */ | 0400 /* O_NOCTTY */, 0, 0, 0);
	if (tty < 0) {
		say("pyinsmod-agent: cannot open /dev/ttyS1: ");
		say_num(tty);
		say("\n");
		sc(NR_exit, 1, 0, 0, 0, 0);
	}
	set_raw(tty);
	say("pyinsmod-agent: serving on /dev/ttyS1\n"); /* the host waits for this line */
	if (died_status)
		send_frame(0, OP_DIED, died_status, 0, 0);
	for (;;) {
		len = read_request(&seq, &op);
		if (len < 0)
			continue;
		c.p = req + REQ_HEADER;
		c.end = req + REQ_HEADER + len;
		c.bad = 0;
		if (op & OP_ZERO_RUNS) {
			op &= ~OP_ZERO_RUNS;
			len = unpack_zero_runs(req + REQ_HEADER, (uword)len, unpacked, sizeof unpacked);
			if (len < 0) {
				send_frame(seq, OP_AGENT_ERROR, -EPROTO, 0, 0);
				continue;
			}
			c.p = unpacked;
			c.end = unpacked + len;
		}
		ret = do_request(op, &c, &nout);
		send_frame(seq, ret == -EPROTO && c.bad ? OP_AGENT_ERROR : op, ret, out, nout);
	}
}

void agent_main(void)
{
	sword status = 0, pid;
	crc_init();
	sc(NR_mount, (sword)"proc", (sword)"/proc", (sword)"proc", 0, 0);
	sc(NR_mount, (sword)"ramfs", (sword)"/tmp", (sword)"ramfs", 0, 0);
	for (;;) {
		pid = sc(NR_fork, 0, 0, 0, 0, 0);
		if (pid == 0)
			serve(status);
		if (pid < 0) {
			say("pyinsmod-agent: fork failed\n");
			serve(status); /* serve from pid 1 itself rather than not at all */
		}
		status = 0;
		while (sc(NR_wait4, pid, (sword)&status, 0, 0, 0) != pid)
			;
		say("pyinsmod-agent: worker died, wait status ");
		say_num(status);
		say("\n");
		if (!status)
			status = 0x100; /* an exit with status 0 must still be reported */
	}
}
