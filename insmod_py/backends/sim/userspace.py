"""Module code after init: the simulated process's file syscalls, /proc, and the clock.

Each function is kernel code of one syscall (run by ``machine.run_kernel`` in
one engine): it builds what 2.4's VFS built and calls the module through the
pointers the module registered.

- open of a character device (2.4 chrdev_open/misc_open): the fops come from
  register_chrdev's table, or for major 10 from the misc device of that minor;
  ``fops_get`` takes a use count on ``fops->owner``; the kernel kmallocs a
  ``struct inode`` (``i_rdev``, ``i_mode``), a ``struct dentry`` and a
  ``struct file`` (``f_flags``, ``f_mode``, ``f_pos``) and calls ``->open``.
- read/write/llseek/ioctl/close as sys_read, sys_write, sys_lseek, sys_ioctl
  and fput: ``->read(file, buf, count, &file->f_pos)`` with ``buf`` in the
  simulated process's memory, ``-EBADF`` when the file was not opened for it,
  ``-EINVAL`` without ``->read``, ``-ENOTTY`` without ``->ioctl``,
  ``default_llseek`` without ``->llseek``, ``->release`` and the use count
  back on close.
- /proc files (2.4 proc_file_read/proc_file_write): ``read_proc(page, &start,
  off, count, &eof, data)`` on a kernel page, ``write_proc(file, buf, count,
  data)``.
- tick: jiffies advance and every due timer runs, detached first, in expiry order.

Errors come back as negative errno values, as the syscalls returned them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ... import modstruct
from . import kstructs
from .drivers_state import OpenFile
from .machine import KernelContext

EBADF, ENOENT, ENODEV, EINVAL, ENOTTY, EFAULT, ENOMEM = 9, 2, 19, 22, 25, 14, 12
MISC_MAJOR = 10
S_IFCHR, S_IFREG = 0o020000, 0o100000
O_ACCMODE = 3
FMODE_READ, FMODE_WRITE = 1, 2
PAGE = 0x1000
PROC_BLOCK_SIZE = 3 * 1024


@dataclass(frozen=True)
class Result:
    """What one syscall returned, and the bytes it left in the caller's buffer."""

    ret: int
    data: bytes = b""


def _s(ctx: KernelContext, name: str) -> kstructs.KStruct:
    return kstructs.struct(ctx.kernel_map.word, name)


def _fop(ctx: KernelContext, fops: int, member: str) -> int:
    return ctx.word(fops + kstructs.fops_offset(ctx.kernel_map.word, member)) if fops else 0


# ---------------------------------------------------------------- module use counts


def _module_field(ctx: KernelContext, owner: int, name: str) -> tuple[int, int]:
    f = modstruct.layout(ctx.kernel_map.word, "module").field(name)
    return owner + f.offset, 4 if f.kind == "atomic" else f.size


def _try_inc_mod_count(ctx: KernelContext, owner: int) -> bool:
    """2.4 try_inc_mod_count: no new users for a module being removed."""
    if not owner:
        return True
    faddr, fsize = _module_field(ctx, owner, "flags")
    flags = ctx.word(faddr, fsize)
    if flags & modstruct.MOD_DELETED:
        return False
    uaddr, usize = _module_field(ctx, owner, "usecount")
    ctx.put(uaddr, ctx.word(uaddr, usize) + 1, usize)
    ctx.put(faddr, flags | modstruct.MOD_VISITED | modstruct.MOD_USED_ONCE, fsize)
    return True


def _dec_mod_count(ctx: KernelContext, owner: int) -> None:
    if owner:
        uaddr, usize = _module_field(ctx, owner, "usecount")
        faddr, fsize = _module_field(ctx, owner, "flags")
        ctx.put(uaddr, ctx.word(uaddr, usize) - 1, usize)
        ctx.put(faddr, ctx.word(faddr, fsize) | modstruct.MOD_VISITED, fsize)


# ---------------------------------------------------------------- open / close


def _device_fops(ctx: KernelContext, major: int, minor: int) -> int:
    rt = ctx.runtime
    if major == MISC_MAJOR:
        misc = rt.drivers.misc.get(minor)
        return ctx.word(misc + _s(ctx, "miscdevice").off("fops")) if misc else 0
    dev = rt.chrdevs.get(major)
    return dev["fops"] if dev else 0


def _new_file(ctx: KernelContext, mode: int, rdev: int, flags: int, fops: int) -> tuple[int, ...]:
    """kmalloc'd inode, dentry and file for one open (0s when memory runs out)."""
    si, sd, sf = _s(ctx, "inode"), _s(ctx, "dentry"), _s(ctx, "file")
    inode, dentry, file = ctx.zalloc(si.size), ctx.zalloc(sd.size), ctx.zalloc(sf.size)
    if not (inode and dentry and file):
        for a in (inode, dentry, file):
            if a:
                ctx.free(a)
        return 0, 0, 0
    drv = ctx.runtime.drivers
    ctx.put(inode + si.off("i_ino"), drv.next_ino, si.width("i_ino"))
    drv.next_ino += 1
    ctx.put(inode + si.off("i_count"), 1, 4)
    ctx.put(inode + si.off("i_mode"), mode, 2)
    ctx.put(inode + si.off("i_nlink"), 1, 4)
    ctx.put(inode + si.off("i_rdev"), rdev, 2)
    ctx.put(dentry + sd.off("d_count"), 1, 4)
    ctx.put(dentry + sd.off("d_inode"), inode)
    ctx.put(file + sf.off("f_dentry"), dentry)
    ctx.put(file + sf.off("f_op"), fops)
    ctx.put(file + sf.off("f_count"), 1, 4)
    ctx.put(file + sf.off("f_flags"), flags, 4)
    ctx.put(file + sf.off("f_mode"), (flags + 1) & O_ACCMODE, sf.width("f_mode"))
    return inode, dentry, file


def _free_file(ctx: KernelContext, f: OpenFile) -> None:
    for a in (f.file, f.dentry, f.inode):
        ctx.free(a)


def open_device(ctx: KernelContext, major: int, minor: int, flags: int) -> int:
    """A new fd for ``major:minor``, or -errno."""
    fops = _device_fops(ctx, major, minor)
    if not fops:
        return -ENODEV
    owner = _fop(ctx, fops, "owner")
    if not _try_inc_mod_count(ctx, owner):
        return -ENODEV
    inode, dentry, file = _new_file(ctx, S_IFCHR | 0o666, (major << 8) | minor, flags, fops)
    if not file:
        _dec_mod_count(ctx, owner)
        return -ENOMEM
    f = OpenFile("chr", file, inode, dentry, f"{major}:{minor}", fops, owner)
    op = _fop(ctx, fops, "open")
    if op:
        ret = ctx.call(op, (inode, file))
        if ret:
            _dec_mod_count(ctx, owner)
            _free_file(ctx, f)
            return ret
    return _install(ctx, f)


def _install(ctx: KernelContext, f: OpenFile) -> int:
    drv = ctx.runtime.drivers
    fd = drv.next_fd
    drv.next_fd += 1
    drv.files[fd] = f
    return fd


def open_proc(ctx: KernelContext, path: str, flags: int) -> int:
    """A new fd for /proc/``path`` (a registered entry), or -ENOENT."""
    entry = next((p["addr"] for p in ctx.runtime.drivers.proc if p["path"] == path), 0)
    if not entry:
        return -ENOENT
    pde = _s(ctx, "proc_dir_entry")
    owner = ctx.word(entry + pde.off("owner"))
    if not _try_inc_mod_count(ctx, owner):
        return -ENOENT
    mode = ctx.word(entry + pde.off("mode"), pde.width("mode"))
    inode, dentry, file = _new_file(ctx, mode, 0, flags, 0)
    if not file:
        _dec_mod_count(ctx, owner)
        return -ENOMEM
    ctx.put(entry + pde.off("count"), ctx.word(entry + pde.off("count"), 4) + 1, 4)
    return _install(ctx, OpenFile("proc", file, inode, dentry, path, 0, owner, entry))


def _file(ctx: KernelContext, fd: int) -> OpenFile | None:
    return ctx.runtime.drivers.files.get(fd)


def close(ctx: KernelContext, fd: int) -> int:
    """fput: ->release, the owner's use count back, the structs freed."""
    f = ctx.runtime.drivers.files.pop(fd, None)
    if f is None:
        return -EBADF
    ret = 0
    try:
        release = _fop(ctx, f.fops, "release")
        if release:
            ret = ctx.call(release, (f.inode, f.file))
    finally:
        if f.entry:
            cnt = f.entry + _s(ctx, "proc_dir_entry").off("count")
            ctx.put(cnt, ctx.word(cnt, 4) - 1, 4)
        _dec_mod_count(ctx, f.owner)
        _free_file(ctx, f)
    return ret


# ---------------------------------------------------------------- read / write / seek / ioctl


def _mode(ctx: KernelContext, f: OpenFile) -> int:
    sf = _s(ctx, "file")
    return ctx.word(f.file + sf.off("f_mode"), sf.width("f_mode"))


def _f_pos(ctx: KernelContext, f: OpenFile) -> int:
    return f.file + _s(ctx, "file").off("f_pos")


def read(ctx: KernelContext, fd: int, count: int) -> Result:
    f = _file(ctx, fd)
    if f is None or not _mode(ctx, f) & FMODE_READ:
        return Result(-EBADF)
    buf = ctx.ualloc(size=count)
    if f.kind == "proc":
        ret = _proc_read(ctx, f, buf, count)
    else:
        op = _fop(ctx, f.fops, "read")
        if not op:
            return Result(-EINVAL)
        ret = ctx.call(op, (f.file, buf, count, _f_pos(ctx, f)), "long")
    # a driver may claim more than it was given; the caller's buffer holds only count
    return Result(ret, ctx.uread(buf, min(ret, count)) if ret > 0 else b"")


def write(ctx: KernelContext, fd: int, data: bytes) -> Result:
    f = _file(ctx, fd)
    if f is None or not _mode(ctx, f) & FMODE_WRITE:
        return Result(-EBADF)
    buf = ctx.ualloc(data)
    if f.kind == "proc":
        pde = _s(ctx, "proc_dir_entry")
        op = ctx.word(f.entry + pde.off("write_proc"))
        if not op:
            return Result(-EIO)
        data_ptr = ctx.word(f.entry + pde.off("data"))
        return Result(ctx.call(op, (f.file, buf, len(data), data_ptr)))
    op = _fop(ctx, f.fops, "write")
    if not op:
        return Result(-EINVAL)
    return Result(ctx.call(op, (f.file, buf, len(data), _f_pos(ctx, f)), "long"))


EIO = 5


def llseek(ctx: KernelContext, fd: int, offset: int, whence: int) -> Result:
    f = _file(ctx, fd)
    if f is None:
        return Result(-EBADF)
    if whence > 2:
        return Result(-EINVAL)
    op = _fop(ctx, f.fops, "llseek")
    if op:
        return Result(ctx.call(op, (f.file, *ctx.wide_args(offset), whence), "wide"))
    # default_llseek (a device inode has i_size 0)
    pos = offset + {0: 0, 1: _signed64(ctx.word(_f_pos(ctx, f), 8)), 2: 0}[whence]
    if pos < 0:
        return Result(-EINVAL)
    ctx.put(_f_pos(ctx, f), pos, 8)
    return Result(pos)


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


def ioctl(ctx: KernelContext, fd: int, cmd: int, arg: int | bytes) -> Result:
    """``arg``: an integer passed as it is, or bytes passed as a pointer to a user buffer
    holding them (the buffer's contents after the call come back in ``data``)."""
    f = _file(ctx, fd)
    if f is None:
        return Result(-EBADF)
    op = _fop(ctx, f.fops, "ioctl")
    if not op:
        return Result(-ENOTTY)
    if isinstance(arg, bytes):
        buf = ctx.ualloc(arg)
        ret = ctx.call(op, (f.inode, f.file, cmd & 0xFFFFFFFF, buf))
        return Result(ret, ctx.uread(buf, len(arg)))
    return Result(ctx.call(op, (f.inode, f.file, cmd & 0xFFFFFFFF, arg)))


DEFAULT_POLLMASK = 0x0145  # POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM


def poll(ctx: KernelContext, fd: int) -> Result:
    """One pass of 2.4 do_pollfd: ->poll(file, table) gives the ready mask (files without
    ->poll are always ready)."""
    f = _file(ctx, fd)
    if f is None:
        return Result(-EBADF)
    op = _fop(ctx, f.fops, "poll")
    if not op:
        return Result(DEFAULT_POLLMASK)
    table = ctx.zalloc(2 * ctx.kernel_map.word)  # poll_table: int error; table pointer
    if not table:
        return Result(-ENOMEM)
    try:
        return Result(ctx.call(op, (f.file, table)) & 0xFFFF)
    finally:
        ctx.free(table)


# ---------------------------------------------------------------- /proc


def _proc_read(ctx: KernelContext, f: OpenFile, buf: int, nbytes: int) -> int:
    """2.4 proc_file_read: read_proc fills a kernel page, which goes to the user buffer."""
    pde = _s(ctx, "proc_dir_entry")
    read_proc = ctx.word(f.entry + pde.off("read_proc"))
    get_info = ctx.word(f.entry + pde.off("get_info"))
    if not (read_proc or get_info):
        return -EIO
    page = ctx.zalloc(PAGE)
    slots = ctx.zalloc(2 * ctx.kernel_map.word)  # char *start; int eof
    if not page or not slots:
        return -ENOMEM
    start_p, eof_p = slots, slots + ctx.kernel_map.word
    pos_p = _f_pos(ctx, f)
    retval, eof = 0, 0
    try:
        while nbytes > 0 and not eof:
            count = min(PROC_BLOCK_SIZE, nbytes)
            ctx.put(start_p, 0)
            ctx.put(eof_p, 0, 4)
            pos = ctx.word(pos_p, 8)
            if get_info:
                n = ctx.call(get_info, (page, start_p, pos, count))
                eof = int(n < count)
            else:
                data = ctx.word(f.entry + pde.off("data"))
                n = ctx.call(read_proc, (page, start_p, pos, count, eof_p, data))
                eof = ctx.word(eof_p, 4)
            start = ctx.word(start_p)
            if not start:  # a file of less than a page: the data sits at page + pos
                start = page + pos
                n -= pos
                if n <= 0:
                    break
                n = min(n, count)
            if n == 0:
                break
            if n < 0:
                retval = retval or n
                break
            if start < page:  # the "start is a count" hack: the position moves by start
                ctx.put(pos_p, pos + start, 8)
                start = page
            else:
                ctx.put(pos_p, pos + n, 8)
            n = min(n, count)
            ctx.write(buf, ctx.read(start, n))
            nbytes -= n
            buf += n
            retval += n
    finally:
        ctx.free(page)
        ctx.free(slots)
    return retval


# ---------------------------------------------------------------- time


def tick(ctx: KernelContext, ticks: int, report: Callable[[str], None] | None = None) -> int:
    """Advance jiffies by ``ticks``, running each timer as it comes due; the timers run."""
    rt = ctx.runtime
    tl = _s(ctx, "timer_list")
    target = rt.jiffies + ticks
    fired = 0
    while True:
        due = [
            (_signed(ctx, ctx.word(t + tl.off("expires")) - target), i, t)
            for i, t in enumerate(rt.drivers.timers)
        ]
        due = [d for d in due if d[0] <= 0]
        if not due:
            break
        _, _, t = min(due)
        expires = ctx.word(t + tl.off("expires"))
        if _signed(ctx, expires - rt.jiffies) > 0:
            set_jiffies_ctx(ctx, expires)
        rt.drivers.timers.remove(t)
        ctx.put(t + tl.off("list"), 0)
        ctx.put(t + tl.off("list") + ctx.kernel_map.word, 0)
        fn, data = ctx.word(t + tl.off("function")), ctx.word(t + tl.off("data"))
        fired += 1
        if report:
            report(ctx.where(fn))
        ctx.call(fn, (data,))
    set_jiffies_ctx(ctx, target)
    return fired


def _signed(ctx: KernelContext, v: int) -> int:
    bits = 8 * ctx.kernel_map.word
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def set_jiffies_ctx(ctx: KernelContext, value: int) -> None:
    ctx.runtime.jiffies = value
    ctx.put(ctx.kernel_map.data_base, value)


__all__ = [
    "Result", "close", "ioctl", "llseek", "open_device", "open_proc", "poll", "read",
    "set_jiffies_ctx", "tick", "write",
]  # fmt: skip
