"""Service state that persists between syscalls, and the oops a crash raises."""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass, field

from ....arch import NAMES, SimKernelMap, by_name
from ..drivers_state import DriverState

RUNTIME_VERSION = 1
MAX_CHRDEV = 255


class Oops(Exception):
    """The module crashed the simulated kernel; ``str()`` is one report line."""


def kernel_map(arch: str) -> SimKernelMap:
    """The simulated kernel's address map of ``arch`` (ValueError for an unknown one)."""
    return by_name(arch).sim_kernel


@dataclass
class KernelRuntime:
    """All service state that persists between syscalls (saved with :meth:`to_blob`)."""

    arch: str = ""  # set by the first run; a runtime belongs to one architecture
    kmalloc: dict[int, bytes] = field(default_factory=dict)  # live block addr -> contents
    vmalloc: dict[int, bytes] = field(default_factory=dict)
    chrdevs: dict[int, dict] = field(default_factory=lambda: _builtin_chrdevs())
    jiffies: int = 0
    pending: str = ""  # the last printk line when it had no '\n' yet ("<4>foo")
    log: list[str] = field(default_factory=list)  # lines of the current call, "<N>" kept
    drivers: DriverState = field(default_factory=DriverState)  # timers, /proc, misc, files
    comm: str = "insmod"  # current->comm of the running syscall (not saved)

    def to_blob(self) -> bytes:
        """Versioned, compressed JSON; contents of heap blocks as base64."""

        def heap(d: dict[int, bytes]) -> list:
            return [[a, base64.b64encode(v).decode()] for a, v in sorted(d.items())]

        obj = {
            "v": RUNTIME_VERSION,
            "arch": self.arch,
            "kmalloc": heap(self.kmalloc),
            "vmalloc": heap(self.vmalloc),
            "chrdevs": [[m, d["name"], d["fops"], d["module"]] for m, d in self.chrdevs.items()],
            "jiffies": self.jiffies,
            "pending": self.pending,
            "log": self.log,
            "drivers": self.drivers.to_json(),
        }
        return b"KRT" + zlib.compress(json.dumps(obj, separators=(",", ":")).encode(), 6)

    @classmethod
    def from_blob(cls, blob: bytes) -> KernelRuntime:
        """Inverse of :meth:`to_blob`; anything malformed raises ValueError."""
        try:
            if not blob.startswith(b"KRT"):
                raise ValueError("not a kernel runtime blob")
            obj = json.loads(zlib.decompress(blob[3:]))
            if not isinstance(obj, dict) or obj.get("v") != RUNTIME_VERSION:
                raise ValueError("unsupported kernel runtime version")
            rt = cls(arch=_typed(obj["arch"], str))
            if rt.arch and rt.arch not in NAMES:
                raise ValueError(f"unknown arch {rt.arch!r}")
            for name in ("kmalloc", "vmalloc"):
                heap = {}
                for addr, data in _typed(obj[name], list):
                    heap[_typed(addr, int)] = base64.b64decode(_typed(data, str), validate=True)
                setattr(rt, name, heap)
            rt.chrdevs = {}
            for major, name, fops, module in _typed(obj["chrdevs"], list):
                if not 0 < _typed(major, int) < MAX_CHRDEV:
                    raise ValueError(f"bad major {major}")
                if module is not None:
                    _typed(module, str)
                rt.chrdevs[major] = {
                    "name": _typed(name, str),
                    "fops": _typed(fops, int),
                    "module": module,
                }
            rt.jiffies = _typed(obj["jiffies"], int)
            rt.pending = _typed(obj["pending"], str)
            rt.log = [_typed(line, str) for line in _typed(obj["log"], list)]
            rt.drivers = DriverState.from_json(obj.get("drivers"))
            rt._check_heap()
            return rt
        except ValueError:
            raise
        except (zlib.error, binascii.Error, KeyError, TypeError, RecursionError) as e:
            raise ValueError(f"corrupt kernel runtime blob: {e}") from None

    def _check_heap(self) -> None:
        if not self.arch:
            if self.kmalloc or self.vmalloc:
                raise ValueError("heap without an architecture")
            return
        lay = kernel_map(self.arch)
        for heap, base, size in (
            (self.kmalloc, lay.kmalloc_base, lay.kmalloc_size),
            (self.vmalloc, lay.vmalloc_base, lay.vmalloc_size),
        ):
            end = base
            for addr in sorted(heap):
                if addr < end or addr + len(heap[addr]) > base + size or not heap[addr]:
                    raise ValueError(f"bad heap block at {addr:#x}")
                end = addr + len(heap[addr])


def _typed(value, typ):
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise ValueError(f"expected {typ.__name__}, got {type(value).__name__}")
    return value


def _builtin_chrdevs() -> dict[int, dict]:
    """Majors a booted 2.4 kernel had already registered (as /proc/devices showed)."""
    names = {1: "mem", 4: "tty", 5: "/dev/tty", 7: "vcs", 10: "misc"}
    return {m: {"name": n, "fops": 0, "module": None} for m, n in names.items()}
