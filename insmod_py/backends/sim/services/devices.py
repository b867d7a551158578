"""Devices for drivers: misc devices, /proc entries and I/O port regions, as 2.4 kept them.

- ``misc_register`` links the module's ``struct miscdevice`` into the kernel's
  list (a dynamic minor is taken from 63 down, as 2.4's misc.c did); opening
  major 10 finds it by minor (userspace.py).
- ``create_proc_entry`` kmallocs a ``struct proc_dir_entry`` with the name
  behind it and links it under its parent (``NULL`` means ``/proc``); the
  module fills in ``read_proc``/``write_proc``/``data``.  ``remove_proc_entry``
  unlinks and frees it.
- I/O ports: the machine has an empty ISA bus (every ``in`` reads all ones,
  every ``out`` goes nowhere; see machine.py), and ``__request_region`` /
  ``__check_region`` / ``__release_region`` keep 2.4's resource bookkeeping:
  a region is free unless a driver claimed an overlapping one.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import kstructs
from ..drivers_state import (
    IOMEM_RESOURCE,
    IOPORT_RESOURCE,
    MISC_LIST_HEAD,
    PROC_ROOT,
    S_IFDIR,
    S_IFREG,
)
from .call import kmalloc_size
from .kmem import kmap, peek, poke, wsize
from .printk import log_text
from .strings import read_string
from .uaccess import drivers

EBUSY, EINVAL, ENOMEM = 16, 22, 12
MISC_DYNAMIC_MINOR = 255
DYNAMIC_MINORS = 64
S_IFMT, S_IALLUGO, S_IRUGO, S_IXUGO = 0o170000, 0o7777, 0o444, 0o111
IORESOURCE_BUSY = 0x80000000


def _cstr(c, addr: int, limit: int = 256) -> str:
    return read_string(c, addr, limit).decode("utf-8", "surrogateescape")


# ---------------------------------------------------------------- misc devices


def _misc_register(c) -> int:
    misc = c.arg(0)
    md = kstructs.struct(wsize(c), "miscdevice")
    devs = drivers(c).misc
    if misc in devs.values() or peek(c, misc + md.off("next")) or peek(c, misc + md.off("prev")):
        return -EBUSY
    minor = peek(c, misc + md.off("minor"), 4)
    if minor == MISC_DYNAMIC_MINOR:
        free = [m for m in range(DYNAMIC_MINORS - 1, -1, -1) if m not in devs]
        if not free:
            return -EBUSY
        minor = free[0]
        poke(c, misc + md.off("minor"), minor, 4)
    if minor in devs:
        return -EBUSY
    devs[minor] = misc
    head = kmap(c).data_base + MISC_LIST_HEAD
    poke(c, misc + md.off("next"), head)
    poke(c, misc + md.off("prev"), head)
    return 0


def _misc_deregister(c) -> int:
    misc = c.arg(0)
    md = kstructs.struct(wsize(c), "miscdevice")
    devs = drivers(c).misc
    minor = next((m for m, a in devs.items() if a == misc), None)
    if minor is None:
        return -EINVAL
    del devs[minor]
    poke(c, misc + md.off("next"), 0)
    poke(c, misc + md.off("prev"), 0)
    return 0


# ---------------------------------------------------------------- /proc


def proc_root(c) -> int:
    return kmap(c).data_base + PROC_ROOT


def proc_path(c, entry: int) -> str:
    """The path below /proc of an entry, from the name/parent chain in memory."""
    pde = kstructs.struct(wsize(c), "proc_dir_entry")
    parts: list[str] = []
    root, seen = proc_root(c), 0
    while entry and entry != root and seen < 64:
        parts.append(_cstr(c, peek(c, entry + pde.off("name"))))
        entry, seen = peek(c, entry + pde.off("parent")), seen + 1
    return "/".join(reversed(parts))


def _lookup_parent(c, name: str, parent: int) -> tuple[int, str] | None:
    """2.4 xlate_proc_name: walk "a/b/c" from ``parent``; (directory, last component)."""
    pde = kstructs.struct(wsize(c), "proc_dir_entry")
    *dirs, last = name.split("/")
    for d in dirs:
        child = peek(c, parent + pde.off("subdir"))
        while child and _cstr(c, peek(c, child + pde.off("name"))) != d:
            child = peek(c, child + pde.off("next"))
        if not child:
            return None
        parent = child
    return parent, last


def create_entry(c, name_addr: int, mode: int, parent: int) -> int:
    """proc_create + proc_register: the new entry's address, or 0."""
    pde = kstructs.struct(wsize(c), "proc_dir_entry")
    name = _cstr(c, name_addr)
    found = _lookup_parent(c, name, parent or proc_root(c))
    if found is None or not found[1]:
        return 0
    parent, last = found
    raw = last.encode("utf-8", "surrogateescape")
    ent = c.kmalloc.alloc(kmalloc_size(pde.size + len(raw) + 1), 32)
    if not ent:
        return 0
    c.write(ent, bytes(pde.size) + raw + b"\0")
    nlink = 1
    if mode & S_IFMT == S_IFDIR:
        if mode & S_IALLUGO == 0:
            mode |= S_IRUGO | S_IXUGO
        nlink = 2
    else:
        if mode & S_IFMT == 0:
            mode |= S_IFREG
        if mode & S_IALLUGO == 0:
            mode |= S_IRUGO
    st = drivers(c)
    poke(c, ent + pde.off("name"), ent + pde.size)
    poke(c, ent + pde.off("namelen"), len(raw), 2)
    poke(c, ent + pde.off("mode"), mode, pde.width("mode"))
    poke(c, ent + pde.off("nlink"), nlink, pde.width("nlink"))
    poke(c, ent + pde.off("low_ino"), st.next_ino & 0xFFFF, 2)
    st.next_ino += 1
    poke(c, ent + pde.off("next"), peek(c, parent + pde.off("subdir")))  # proc_register
    poke(c, ent + pde.off("parent"), parent)
    poke(c, parent + pde.off("subdir"), ent)
    st.proc.append({"path": proc_path(c, ent), "addr": ent, "parent": parent})
    return ent


def _create_proc_entry(c) -> int:
    return create_entry(c, c.arg(0), c.arg(1) & 0xFFFF, c.arg(2))


def _proc_mkdir(c) -> int:
    return create_entry(c, c.arg(0), S_IFDIR | S_IRUGO | S_IXUGO, c.arg(1))


def _remove_proc_entry(c) -> int:
    """Unlink the named entry from its parent; free it unless it is in use (2.4)."""
    pde = kstructs.struct(wsize(c), "proc_dir_entry")
    found = _lookup_parent(c, _cstr(c, c.arg(0)), c.arg(1) or proc_root(c))
    if found is None:
        return 0
    parent, last = found
    link = parent + pde.off("subdir")
    ent = peek(c, link)
    while ent and _cstr(c, peek(c, ent + pde.off("name"))) != last:
        link = ent + pde.off("next")
        ent = peek(c, link)
    if not ent:
        return 0
    poke(c, link, peek(c, ent + pde.off("next")))
    st = drivers(c)
    st.proc = [p for p in st.proc if p["addr"] != ent]
    if peek(c, ent + pde.off("count"), 4):
        poke(c, ent + pde.off("deleted"), 1, 4)
        path = proc_path(c, parent)
        log_text(c.runtime, f"remove_proc_entry: {path}/{last} busy\n".encode())
    else:
        c.kmalloc.free(ent)
    return 0


# ---------------------------------------------------------------- I/O port regions


def _region_busy(c, start: int, n: int) -> bool:
    return any(start < r["start"] + r["n"] and r["start"] < start + n for r in drivers(c).regions)


def _is_ioport(c, root: int) -> bool:
    return root == kmap(c).data_base + IOPORT_RESOURCE


def _request_region(c) -> int:
    """__request_region(parent, start, n, name): a struct resource, or NULL when busy."""
    root, start, n, name = c.arg(0), c.arg(1), c.arg(2), c.arg(3)
    if not _is_ioport(c, root) and root != kmap(c).data_base + IOMEM_RESOURCE:
        return 0
    if n == 0 or _region_busy(c, start, n) or (_is_ioport(c, root) and start + n > 0x10000):
        return 0
    res = kstructs.struct(wsize(c), "resource")
    addr = c.kmalloc.alloc(kmalloc_size(res.size), 32)
    if not addr:
        return 0
    c.write(addr, bytes(res.size))
    poke(c, addr + res.off("name"), name)
    poke(c, addr + res.off("start"), start)
    poke(c, addr + res.off("end"), start + n - 1)
    poke(c, addr + res.off("flags"), IORESOURCE_BUSY | (0x100 if _is_ioport(c, root) else 0x200))
    poke(c, addr + res.off("parent"), root)
    drivers(c).regions.append({"start": start, "n": n, "name": _cstr(c, name), "res": addr})
    return addr


def _check_region(c) -> int:
    return -EBUSY if _region_busy(c, c.arg(1), c.arg(2)) else 0


def _release_region(c) -> int:
    start, n = c.arg(1), c.arg(2)
    st = drivers(c)
    for r in st.regions:
        if r["start"] == start and r["n"] == n:
            st.regions.remove(r)
            c.kmalloc.free(r["res"])
            return 0
    end = start + n - 1
    log_text(c.runtime, f"Trying to free nonexistent resource <{start:08x}-{end:08x}>\n".encode())
    return 0


FUNCTIONS: tuple[tuple[str, Callable], ...] = (
    ("misc_register", _misc_register),
    ("misc_deregister", _misc_deregister),
    ("create_proc_entry", _create_proc_entry),
    ("remove_proc_entry", _remove_proc_entry),
    ("proc_mkdir", _proc_mkdir),
    ("__request_region", _request_region),
    ("__check_region", _check_region),
    ("__release_region", _release_region),
)


# ---------------------------------------------------------------- llseek helpers

ESPIPE = 29


def _llseek(c) -> object:
    """default_llseek(file, offset, origin) (generic_file_llseek alike for a device)."""
    f = kstructs.struct(wsize(c), "file")
    args = c.varargs(0)
    file = args.next_int(8 * wsize(c))
    offset = args.next_int(64)
    origin = args.next_int(32)
    offset -= (1 << 64) if offset >> 63 else 0
    if origin == 1:
        offset += _signed64(peek(c, file + f.off("f_pos"), 8))
    elif origin == 2:
        offset += 0  # a device inode has i_size 0
    elif origin != 0:
        return c.wide(-EINVAL)
    if offset < 0:
        return c.wide(-EINVAL)
    poke(c, file + f.off("f_pos"), offset, 8)
    return c.wide(offset)


def _no_llseek(c) -> object:
    return c.wide(-ESPIPE)


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


FUNCTIONS += (
    ("default_llseek", _llseek),
    ("generic_file_llseek", _llseek),
    ("no_llseek", _no_llseek),
)
