"""What the simulated kernel keeps for drivers between syscalls, and where its objects live.

Pending timers, /proc entries, misc devices, claimed I/O port regions, notifier
chains, NLS tables, crypto algorithms, inter-module entries, devfs entries, power
management devices and open files are kernel state a module reaches through pointers; the structs
themselves live in guest memory (the module's own, or kmalloc blocks), and this
records which addresses the kernel has linked where.  It is saved inside the
services' runtime blob (see ``services.KernelRuntime``).

The kernel data page holds, besides ``jiffies``, 2.4's exported data objects
that drivers name: ``proc_root`` and the ``proc_net``/``proc_bus``/...
directory pointers, ``ioport_resource``/``iomem_resource``, ``loops_per_jiffy``,
and the list heads
the kernel links timers, misc devices, crypto algorithms and pm devices into.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import kstructs

# Offsets in the kernel data page (jiffies is at 0, the x86_64 PDA at 0x100,
# &kernel_module in the last 0x100 bytes).
PROC_ROOT = 0x200
PROC_DIRS = {"net": 0x300, "bus": 0x400, "driver": 0x500, "fs": 0x600}
PROC_DIR_POINTERS = {"proc_net": "net", "proc_bus": "bus", "proc_root_driver": "driver",
                     "proc_root_fs": "fs"}  # fmt: skip
POINTER_AREA = 0x700  # one word per PROC_DIR_POINTERS entry
IOPORT_RESOURCE = 0x800
IOMEM_RESOURCE = 0x880
TIMER_LIST_HEAD = 0x900  # what a pending timer's list.next/prev point at
MISC_LIST_HEAD = 0x920
CRYPTO_ALG_LIST = 0x940  # crypto/api.c's crypto_alg_list
PM_DEVS = 0x960  # kernel/pm.c's pm_devs
LOOPS_PER_JIFFY = 0x980
# loops_per_jiffy is measured at boot (calibrate_delay); the real kernels under qemu measure
# 3700-5300 BogoMIPS, varying from boot to boot.  The simulated kernel's delays take no
# time, so it keeps one plausible value (839 BogoMIPS at HZ=100) that keeps a module's
# busy-wait loop short
LOOPS_PER_JIFFY_VALUE = 1 << 22

PROC_ROOT_INO = 1
PROC_DYNAMIC_FIRST = 4096

S_IFDIR, S_IFREG, S_IFCHR = 0o040000, 0o100000, 0o020000


def data_symbols() -> dict[str, int]:
    """Exported data objects of the driver services: name -> offset in the data page."""
    out = {"proc_root": PROC_ROOT, "ioport_resource": IOPORT_RESOURCE,
           "iomem_resource": IOMEM_RESOURCE, "loops_per_jiffy": LOOPS_PER_JIFFY}  # fmt: skip
    for i, name in enumerate(PROC_DIR_POINTERS):
        out[name] = POINTER_AREA + 8 * i
    return out


@dataclass
class OpenFile:
    """One open file of the simulated process: the kernel structs it built, and what for."""

    kind: str  # "chr" (a character device) or "proc"
    file: int  # struct file
    inode: int
    dentry: int
    path: str  # what was opened ("10:130", "/proc/procfile")
    fops: int  # the file_operations the open installed (0 for /proc)
    owner: int  # fops->owner: the module header whose use count the open holds (0: none)
    entry: int = 0  # /proc: the proc_dir_entry


@dataclass
class DriverState:
    """Driver-facing kernel state that persists between syscalls (JSON in the runtime blob)."""

    timers: list[int] = field(default_factory=list)  # pending struct timer_list, in add order
    proc: list[dict[str, Any]] = field(default_factory=list)  # {path, addr, parent}
    misc: dict[int, int] = field(default_factory=dict)  # minor -> struct miscdevice
    regions: list[dict[str, Any]] = field(default_factory=list)  # {start, n, name, res}
    files: dict[int, OpenFile] = field(default_factory=dict)  # fd -> open file
    next_fd: int = 3
    next_ino: int = PROC_DYNAMIC_FIRST
    pid: int = 100  # the last pid handed out; each userspace command is a new process
    sigpending: int = 0
    reboot_notifiers: int = 0  # reboot_notifier_list: the first struct notifier_block
    nls_tables: int = 0  # nls_base.c's tables: the newest registered struct nls_table
    crypto_algs: list[int] = field(default_factory=list)  # struct crypto_alg, in list order
    inter_module: list[list[int]] = field(default_factory=list)  # [im_name, owner, userdata]
    devfs: list[dict[str, Any]] = field(default_factory=list)  # {addr, parent, name, dir}
    pm_devs: list[int] = field(default_factory=list)  # struct pm_dev, in list order

    def to_json(self) -> dict[str, Any]:
        return {
            "timers": self.timers,
            "proc": self.proc,
            "misc": [[m, a] for m, a in sorted(self.misc.items())],
            "regions": self.regions,
            "files": [[fd, vars(f)] for fd, f in sorted(self.files.items())],
            "next_fd": self.next_fd,
            "next_ino": self.next_ino,
            "pid": self.pid,
            "reboot_notifiers": self.reboot_notifiers,
            "nls_tables": self.nls_tables,
            "crypto_algs": self.crypto_algs,
            "inter_module": self.inter_module,
            "devfs": self.devfs,
            "pm_devs": self.pm_devs,
        }

    @classmethod
    def from_json(cls, obj: Any) -> DriverState:
        """Inverse of :meth:`to_json`; anything malformed raises ValueError."""
        if obj is None:
            return cls()
        try:
            st = cls(
                timers=[_int(t) for t in obj["timers"]],
                proc=[
                    {"path": str(p["path"]), "addr": _int(p["addr"]), "parent": _int(p["parent"])}
                    for p in obj["proc"]
                ],
                misc={_int(m): _int(a) for m, a in obj["misc"]},
                regions=[
                    {
                        "start": _int(r["start"]),
                        "n": _int(r["n"]),
                        "name": str(r["name"]),
                        "res": _int(r["res"]),
                    }
                    for r in obj["regions"]
                ],
                files={_int(fd): OpenFile(**f) for fd, f in obj["files"]},
                next_fd=_int(obj["next_fd"]),
                next_ino=_int(obj["next_ino"]),
                pid=_int(obj["pid"]),
                reboot_notifiers=_int(obj.get("reboot_notifiers", 0)),  # older states: none
                nls_tables=_int(obj.get("nls_tables", 0)),
                crypto_algs=[_int(a) for a in obj.get("crypto_algs", [])],
                inter_module=[[_int(v) for v in e] for e in obj.get("inter_module", [])],
                devfs=[
                    {
                        "addr": _int(e["addr"]),
                        "parent": _int(e["parent"]),
                        "name": str(e["name"]),
                        "dir": bool(e["dir"]),
                    }
                    for e in obj.get("devfs", [])
                ],
                pm_devs=[_int(d) for d in obj.get("pm_devs", [])],
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"corrupt driver state: {exc}") from None
        return st


def _int(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise ValueError(f"expected int, got {type(v).__name__}")
    return v


def _put(buf: bytearray, off: int, value: int, width: int) -> None:
    buf[off : off + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")


def proc_dir_image(word: int, name: str, ino: int, parent: int) -> bytes:
    """A static /proc directory entry, its name right behind it (``name`` still unset)."""
    pde = kstructs.struct(word, "proc_dir_entry")
    buf = bytearray(pde.size + 16)
    raw = name.encode()
    buf[pde.size : pde.size + len(raw)] = raw
    _put(buf, pde.off("low_ino"), ino, 2)
    _put(buf, pde.off("namelen"), len(raw), 2)
    _put(buf, pde.off("mode"), S_IFDIR | 0o555, pde.width("mode"))
    _put(buf, pde.off("nlink"), 2, pde.width("nlink"))
    _put(buf, pde.off("parent"), parent, word)
    return bytes(buf)


def data_image(word: int, data_base: int, state: DriverState) -> dict[int, bytes]:
    """The driver objects of the kernel data page: offset -> bytes, for the start of a run.

    The static /proc directories get back their ``subdir`` heads: the newest entry
    registered under each (proc_register adds at the head of the list).
    """
    pde = kstructs.struct(word, "proc_dir_entry")
    out: dict[int, bytes] = {}
    heads: dict[int, int] = {}
    for p in state.proc:
        heads[p["parent"]] = p["addr"]
    root = bytearray(proc_dir_image(word, "", PROC_ROOT_INO, data_base + PROC_ROOT))
    _put(root, pde.off("name"), data_base + PROC_ROOT + pde.size, word)
    static = list(PROC_DIRS.values())  # /proc/net, bus, ...: the root's oldest children
    _put(root, pde.off("subdir"), heads.get(data_base + PROC_ROOT, data_base + static[0]), word)
    out[PROC_ROOT] = bytes(root)
    for i, (dname, off) in enumerate(PROC_DIRS.items()):
        img = bytearray(proc_dir_image(word, dname, 2 + i, data_base + PROC_ROOT))
        _put(img, pde.off("name"), data_base + off + pde.size, word)
        _put(img, pde.off("subdir"), heads.get(data_base + off, 0), word)
        later = static[i + 1] if i + 1 < len(static) else None
        _put(img, pde.off("next"), data_base + later if later is not None else 0, word)
        out[off] = bytes(img)
    for i, dname in enumerate(PROC_DIR_POINTERS.values()):
        out[POINTER_AREA + 8 * i] = (data_base + PROC_DIRS[dname]).to_bytes(word, "little")
    res = kstructs.struct(word, "resource")
    for off, name_off, end in ((IOPORT_RESOURCE, 0x60, 0xFFFF), (IOMEM_RESOURCE, 0x70, -1)):
        buf = bytearray(0x80)
        label = b"PCI IO\0" if off == IOPORT_RESOURCE else b"PCI mem\0"
        buf[name_off : name_off + len(label)] = label
        _put(buf, res.off("name"), data_base + off + name_off, word)
        _put(buf, res.off("end"), end, word)
        out[off] = bytes(buf)
    for head in (TIMER_LIST_HEAD, MISC_LIST_HEAD):
        addr = data_base + head
        out[head] = addr.to_bytes(word, "little") * 2  # an empty list points at itself
    algs = state.crypto_algs or [data_base + CRYPTO_ALG_LIST]
    out[CRYPTO_ALG_LIST] = algs[0].to_bytes(word, "little") + algs[-1].to_bytes(word, "little")
    out[LOOPS_PER_JIFFY] = LOOPS_PER_JIFFY_VALUE.to_bytes(word, "little")
    entry = kstructs.struct(word, "pm_dev").off("entry")
    ends = [d + entry for d in state.pm_devs] or [data_base + PM_DEVS]
    out[PM_DEVS] = ends[0].to_bytes(word, "little") + ends[-1].to_bytes(word, "little")
    return out
