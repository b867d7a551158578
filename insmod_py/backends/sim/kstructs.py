"""The 2.4 structs the simulated kernel shares with module code, as offsets per word size.

The kernel builds ``struct file``/``struct inode`` for an open, allocates a
``struct proc_dir_entry`` the module fills in, walks the module's
``struct timer_list``, ``struct miscdevice``, notifier chains, NLS tables and
crypto algorithms, and keeps ``current`` (a ``struct task_struct``) at the base
of the task stack.
These are the offsets (and sizes) of the members it touches, for 4-byte (i386)
and 8-byte (x86_64) words; ``tests/test_sim_kstructs.py`` checks every number
against gcc compiling ``kernel_stub/`` (itself checked against the real
2.4.37.11 headers).
"""

from __future__ import annotations

from dataclasses import dataclass

# struct -> member -> (offset, size), per word size; "__size__" is sizeof(struct).
_TABLES: dict[int, dict[str, dict[str, tuple[int, int]]]] = {
    4: {
        "file": {
            "f_dentry": (8, 4), "f_op": (16, 4), "f_count": (20, 4), "f_flags": (24, 4),
            "f_mode": (28, 2), "f_pos": (32, 8), "f_uid": (76, 4), "f_gid": (80, 4),
            "private_data": (96, 4), "__size__": (108, 0),
        },
        "inode": {
            "i_ino": (40, 4), "i_count": (44, 4), "i_dev": (48, 2), "i_mode": (50, 2),
            "i_nlink": (52, 4), "i_rdev": (64, 2), "i_fop": (156, 4), "__size__": (464, 0),
        },
        "dentry": {"d_count": (0, 4), "d_inode": (8, 4), "__size__": (16, 0)},
        "task_struct": {
            "state": (0, 4), "flags": (4, 4), "sigpending": (8, 4), "addr_limit": (12, 4),
            "pid": (124, 4), "pgrp": (128, 4), "tgid": (140, 4), "uid": (300, 4),
            "euid": (304, 4), "suid": (308, 4), "fsuid": (312, 4), "gid": (316, 4),
            "cap_effective": (464, 4), "cap_inheritable": (468, 4),
            "cap_permitted": (472, 4), "comm": (574, 16),
        },
        "proc_dir_entry": {
            "low_ino": (0, 2), "namelen": (2, 2), "name": (4, 4), "mode": (8, 2),
            "nlink": (10, 2), "size": (20, 4), "proc_fops": (28, 4), "get_info": (32, 4),
            "owner": (36, 4), "next": (40, 4), "parent": (44, 4), "subdir": (48, 4),
            "data": (52, 4), "read_proc": (56, 4), "write_proc": (60, 4), "count": (64, 4),
            "deleted": (68, 4), "__size__": (80, 0),
        },
        "miscdevice": {
            "minor": (0, 4), "name": (4, 4), "fops": (8, 4), "next": (12, 4), "prev": (16, 4),
            "__size__": (24, 0),
        },
        "timer_list": {
            "list": (0, 8), "expires": (8, 4), "data": (12, 4), "function": (16, 4),
            "__size__": (20, 0),
        },
        "resource": {
            "name": (0, 4), "start": (4, 4), "end": (8, 4), "flags": (12, 4), "parent": (16, 4),
            "sibling": (20, 4), "child": (24, 4), "__size__": (28, 0),
        },
        "notifier_block": {
            "notifier_call": (0, 4), "next": (4, 4), "priority": (8, 4), "__size__": (12, 0),
        },
        "nls_table": {
            "charset": (0, 4), "owner": (20, 4), "next": (24, 4), "__size__": (28, 0),
        },
        "crypto_alg": {
            "cra_list": (0, 8), "cra_name": (20, 64), "cra_module": (104, 4),
            "__size__": (108, 0),
        },
        "semaphore": {"count": (0, 4), "sleepers": (4, 4), "wait": (8, 8), "__size__": (16, 0)},
        "pm_dev": {
            "type": (0, 4), "id": (4, 4), "callback": (8, 4), "data": (12, 4), "entry": (28, 8),
            "__size__": (36, 0),
        },
    },
    8: {
        "file": {
            "f_dentry": (16, 8), "f_op": (32, 8), "f_count": (40, 4), "f_flags": (44, 4),
            "f_mode": (48, 4), "f_pos": (56, 8), "f_uid": (120, 4), "f_gid": (124, 4),
            "private_data": (152, 8), "__size__": (176, 0),
        },
        "inode": {
            "i_ino": (80, 8), "i_count": (88, 4), "i_dev": (92, 2), "i_mode": (94, 2),
            "i_nlink": (96, 4), "i_rdev": (108, 2), "i_fop": (264, 8), "__size__": (744, 0),
        },
        "dentry": {"d_count": (0, 4), "d_inode": (8, 8), "__size__": (24, 0)},
        "task_struct": {
            "state": (0, 8), "flags": (8, 8), "sigpending": (16, 4), "addr_limit": (24, 8),
            "pid": (228, 4), "pgrp": (232, 4), "tgid": (244, 4), "uid": (556, 4),
            "euid": (560, 4), "suid": (564, 4), "fsuid": (568, 4), "gid": (572, 4),
            "cap_effective": (720, 4), "cap_inheritable": (724, 4),
            "cap_permitted": (728, 4), "comm": (922, 16),
        },
        "proc_dir_entry": {
            "low_ino": (0, 2), "namelen": (2, 2), "name": (8, 8), "mode": (16, 4),
            "nlink": (24, 8), "size": (40, 8), "proc_fops": (56, 8), "get_info": (64, 8),
            "owner": (72, 8), "next": (80, 8), "parent": (88, 8), "subdir": (96, 8),
            "data": (104, 8), "read_proc": (112, 8), "write_proc": (120, 8),
            "count": (128, 4), "deleted": (132, 4), "__size__": (152, 0),
        },
        "miscdevice": {
            "minor": (0, 4), "name": (8, 8), "fops": (16, 8), "next": (24, 8), "prev": (32, 8),
            "__size__": (48, 0),
        },
        "timer_list": {
            "list": (0, 16), "expires": (16, 8), "data": (24, 8), "function": (32, 8),
            "__size__": (40, 0),
        },
        "resource": {
            "name": (0, 8), "start": (8, 8), "end": (16, 8), "flags": (24, 8),
            "parent": (32, 8), "sibling": (40, 8), "child": (48, 8), "__size__": (56, 0),
        },
        "notifier_block": {
            "notifier_call": (0, 8), "next": (8, 8), "priority": (16, 4), "__size__": (24, 0),
        },
        "nls_table": {
            "charset": (0, 8), "owner": (40, 8), "next": (48, 8), "__size__": (56, 0),
        },
        "crypto_alg": {
            "cra_list": (0, 16), "cra_name": (28, 64), "cra_module": (136, 8),
            "__size__": (144, 0),
        },
        "semaphore": {"count": (0, 4), "sleepers": (4, 4), "wait": (8, 16), "__size__": (24, 0)},
        "pm_dev": {
            "type": (0, 4), "id": (8, 8), "callback": (16, 8), "data": (24, 8),
            "entry": (56, 16), "__size__": (72, 0),
        },
    },
}  # fmt: skip

# struct file_operations: one function pointer per member, in 2.4's order.
FOPS_MEMBERS = (
    "owner", "llseek", "read", "write", "readdir", "poll", "ioctl", "mmap", "open", "flush",
    "release", "fsync", "fasync", "lock", "readv", "writev", "sendpage", "get_unmapped_area",
)  # fmt: skip


@dataclass(frozen=True)
class KStruct:
    """One struct's members for one word size: ``off(m)``, ``width(m)``, ``size``."""

    name: str
    word: int

    @property
    def _table(self) -> dict[str, tuple[int, int]]:
        return _TABLES[self.word][self.name]

    def off(self, member: str) -> int:
        return self._table[member][0]

    def width(self, member: str) -> int:
        return self._table[member][1]

    @property
    def size(self) -> int:
        return self._table["__size__"][0]

    def members(self) -> list[str]:
        return [m for m in self._table if m != "__size__"]


def struct(word: int, name: str) -> KStruct:
    """``struct(4, "file")``: the i386 layout of struct file (KeyError if unknown)."""
    _TABLES[word][name]  # fail early on an unknown struct
    return KStruct(name, word)


def names() -> list[str]:
    return list(_TABLES[4])


def fops_offset(word: int, member: str) -> int:
    """Offset of a struct file_operations member (all are one pointer wide)."""
    return word * FOPS_MEMBERS.index(member)
