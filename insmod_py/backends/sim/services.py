"""The simulated 2.4 kernel's services: what a module gets when it calls printk, kmalloc...

Holds the address map of the simulated kernel (:data:`LAYOUTS`), the table of
provided symbols (:func:`kernel_exports`), the state that persists between
syscalls (:class:`KernelRuntime`) and the Python implementation of each
service. It never imports unicorn: the emulator (``machine.py``) hands each
service a :class:`Call` giving access to the arguments and guest memory.

Stub addresses are part of a loaded module's relocated image, so the order of
:data:`FUNCTIONS` is an ABI: append new services, never reorder or remove.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from .drivers_state import DriverState, data_symbols
from .printf import ArgSource, vsprintf

PAGE = 0x1000
SLOT = 16  # bytes per kernel function stub
RUNTIME_VERSION = 1

ENOMEM, EBUSY, EINVAL = 12, 16, 22
MAX_CHRDEV = 255
KMALLOC_MAX = 128 * 1024  # 2.4's largest general cache, size-131072
PRINTK_BUF = 1024  # 2.4's static printk_buf: longer messages are truncated


class Oops(Exception):
    """The module crashed the simulated kernel; ``str()`` is one report line."""


@dataclass(frozen=True)
class Layout:
    """Where the simulated kernel keeps things, per architecture."""

    arch: str
    word: int  # bytes per long / pointer
    stub_base: int  # one page of kernel function stubs (a ``ret`` each), hooked
    native_base: int  # next page, not hooked: the sentinel ``hlt`` + real-code thunks
    data_base: int  # one rw page of kernel data symbols (jiffies, x86_64 PDA)
    stack_base: int  # 8 KiB aligned: fake task_struct at the base, stack top at +8 KiB
    kmalloc_base: int
    kmalloc_size: int
    vmalloc_base: int
    vmalloc_size: int
    module_area: tuple[int, int]  # where create_module should place modules [start, end)

    @property
    def sentinel(self) -> int:
        return self.native_base

    @property
    def stack_size(self) -> int:
        return 2 * PAGE

    def hex(self, addr: int) -> str:
        return f"{addr & ((1 << (8 * self.word)) - 1):0{2 * self.word}x}"


LAYOUTS: dict[str, Layout] = {
    "i386": Layout(
        arch="i386",
        word=4,
        stub_base=0xC0100000,
        native_base=0xC0101000,
        data_base=0xC0200000,
        stack_base=0xC0300000,
        kmalloc_base=0xC1000000,
        kmalloc_size=4 << 20,
        vmalloc_base=0xD0000000,
        vmalloc_size=16 << 20,
        module_area=(0xC8800000, 0xD0000000),
    ),
    "x86_64": Layout(
        arch="x86_64",
        word=8,
        stub_base=0xFFFFFFFF81000000,
        native_base=0xFFFFFFFF81001000,
        data_base=0xFFFFFFFF81200000,
        stack_base=0xFFFF888000300000,
        kmalloc_base=0xFFFF888001000000,
        kmalloc_size=4 << 20,
        vmalloc_base=0xFFFFC90000000000,
        vmalloc_size=16 << 20,
        module_area=(0xFFFFFFFFA0000000, 0xFFFFFFFFFF000000),
    ),
}

# Kernel data symbols: name -> offset in the data page.
DATA_SYMBOLS = {"jiffies": 0x0, **data_symbols()}
PDA_OFFSET = 0x100  # x86_64 2.4: %gs points at the PDA, whose first word is `current`

# Real code on the native page (offset -> bytes): retpoline thunks jump through the register.
_REGS32 = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")
_REGS64 = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi")


def _thunks(arch: str) -> dict[str, tuple[int, bytes]]:
    """``__x86_indirect_thunk_<reg>`` -> (offset in native page, ``jmp *%reg``)."""
    out = {}
    for i, r in enumerate(_REGS32 if arch == "i386" else _REGS64):
        out[f"__x86_indirect_thunk_{r}"] = (SLOT * (i + 1), bytes([0xFF, 0xE0 + i]))
    if arch == "x86_64":
        for i in range(8, 16):
            code = bytes([0x41, 0xFF, 0xE0 + i - 8])
            out[f"__x86_indirect_thunk_r{i}"] = (SLOT * (i + 1), code)
    return out


def layout(arch: str) -> Layout:
    try:
        return LAYOUTS[arch]
    except KeyError:
        raise ValueError(f"unsupported architecture {arch!r}") from None


# ---------------------------------------------------------------- runtime state


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
            if rt.arch and rt.arch not in LAYOUTS:
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
        lay = LAYOUTS[self.arch]
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


# ---------------------------------------------------------------- the call interface


class Call(Protocol):
    """What a service sees of the machine during one call (implemented in machine.py)."""

    layout: Layout
    runtime: KernelRuntime
    caller: int  # the return address
    kmalloc: Heap
    vmalloc: Heap

    def arg(self, i: int) -> int: ...  # i-th integer argument, one word, unsigned
    def varargs(self, first: int) -> ArgSource: ...  # the ``...`` starting at argument ``first``
    def va_list(self, ap: int) -> ArgSource: ...  # a va_list value passed as an argument
    def read(self, addr: int, size: int) -> bytes: ...  # raises Oops when unmapped
    def write(self, addr: int, data: bytes) -> None: ...  # raises Oops when not writable
    def cstring(self, addr: int, limit: int) -> bytes | None: ...  # None when unreadable
    def module_at(self, addr: int) -> str | None: ...  # which module holds ``addr``
    def where(self, addr: int) -> str: ...  # "<symbol+0xoff>"


class Heap:
    """First-fit allocator over one arena; blocks are tracked by address -> size.

    The contents live in guest memory during a run; ``KernelRuntime`` keeps them
    between runs.
    """

    def __init__(self, base: int, size: int, blocks: dict[int, int]) -> None:
        self.base, self.size = base, size
        self.blocks = dict(blocks)

    def alloc(self, size: int, align: int, gap: int = 0) -> int:
        """Address of a new block of ``size`` bytes, or 0 when the arena is full."""
        pos = self.base
        for addr in sorted(self.blocks):
            start = -(-pos // align) * align
            if start + size + gap <= addr:
                break
            pos = addr + self.blocks[addr] + gap
        else:
            start = -(-pos // align) * align
            if start + size > self.base + self.size:
                return 0
        self.blocks[start] = size
        return start

    def free(self, addr: int) -> bool:
        return self.blocks.pop(addr, None) is not None


def kmalloc_size(size: int) -> int:
    """2.4's general caches: 32, 64, ... 131072 bytes."""
    n = 32
    while n < size:
        n *= 2
    return n


# ---------------------------------------------------------------- printk


def log_text(rt: KernelRuntime, text: bytes) -> None:
    """2.4's vprintk loop: a line without "<N>" gets "<4>"; lines continue across calls."""
    s = text.decode("utf-8", "backslashreplace")
    i = 0
    while i < len(s):
        if not rt.pending:
            lvl = s[i : i + 3]
            if not (len(lvl) == 3 and lvl[0] == "<" and lvl[1] in "01234567" and lvl[2] == ">"):
                rt.pending = "<4>"
        j = s.find("\n", i)
        if j < 0:
            rt.pending += s[i:]
            return
        rt.log.append(rt.pending + s[i:j])
        rt.pending = ""
        i = j + 1


def _fmt(c: Call, addr: int) -> bytes:
    return _string(c, addr, 64 * 1024)


def _printk(c: Call) -> int:
    text = vsprintf(_fmt(c, c.arg(0)), c.varargs(1))
    log_text(c.runtime, text[: PRINTK_BUF - 1])
    return len(text)


def _store(c: Call, buf: int, text: bytes, size: int | None) -> int:
    """Write ``text`` as sprintf (size None) or snprintf (NUL-terminated within size)."""
    if size is None:
        c.write(buf, text + b"\0")
    elif size > 0:
        c.write(buf, text[: size - 1] + b"\0")
    return len(text)


def _sprintf(c: Call) -> int:
    return _store(c, c.arg(0), vsprintf(_fmt(c, c.arg(1)), c.varargs(2)), None)


def _snprintf(c: Call) -> int:
    size = c.arg(1)
    return _store(c, c.arg(0), vsprintf(_fmt(c, c.arg(2)), c.varargs(3)), size)


def _vsprintf(c: Call) -> int:
    return _store(c, c.arg(0), vsprintf(_fmt(c, c.arg(1)), c.va_list(c.arg(2))), None)


def _vsnprintf(c: Call) -> int:
    size = c.arg(1)
    return _store(c, c.arg(0), vsprintf(_fmt(c, c.arg(2)), c.va_list(c.arg(3))), size)


def _panic(c: Call) -> int:
    text = vsprintf(_fmt(c, c.arg(0)), c.varargs(1)).decode("utf-8", "backslashreplace")
    log_text(c.runtime, b"\n" if c.runtime.pending else b"")
    log_text(c.runtime, f"<0>Kernel panic: {text.rstrip()}\n".encode())
    raise Oops(f"Kernel panic: {text.rstrip()} (called from {c.where(c.caller)})")


# ---------------------------------------------------------------- memory


def _kmalloc(c: Call) -> int:
    size = c.arg(0)
    if size > KMALLOC_MAX:
        return 0
    n = kmalloc_size(size)
    return c.kmalloc.alloc(n, min(n, PAGE))


def _kfree(c: Call) -> int:
    addr = c.arg(0)
    if addr and not c.kmalloc.free(addr):
        raise Oops(
            f"Oops: kfree of a pointer not from kmalloc (or freed twice) {c.layout.hex(addr)}, "
            f"called from {c.where(c.caller)}"
        )
    return 0


def _vmalloc(c: Call) -> int:
    size = c.arg(0)
    if size == 0:
        return 0
    # page granular with an unmapped-in-spirit guard page after each area, as get_vm_area
    return c.vmalloc.alloc(-(-size // PAGE) * PAGE, PAGE, gap=PAGE)


def _vfree(c: Call) -> int:
    addr = c.arg(0)
    if addr and not c.vmalloc.free(addr):
        hexaddr = c.layout.hex(addr)
        log_text(c.runtime, f"<3>Trying to vfree() nonexistent vm area ({hexaddr})\n".encode())
    return 0


def _memset(c: Call) -> int:
    dst, val, n = c.arg(0), c.arg(1) & 0xFF, c.arg(2)
    c.write(dst, bytes([val]) * n)
    return dst


def _memcpy(c: Call) -> int:
    dst, src, n = c.arg(0), c.arg(1), c.arg(2)
    c.write(dst, c.read(src, n))
    return dst


def _memcmp(c: Call) -> int:
    a, b = c.read(c.arg(0), c.arg(2)), c.read(c.arg(1), c.arg(2))
    for x, y in zip(a, b, strict=True):
        if x != y:
            return x - y
    return 0


def _string(c: Call, addr: int, limit: int = 1 << 20) -> bytes:
    s = c.cstring(addr, limit)
    if s is None:
        c.read(addr, 1)  # raises the oops naming the address
        raise Oops(f"Oops: unterminated string at {c.layout.hex(addr)}")
    return s


def _strlen(c: Call) -> int:
    return len(_string(c, c.arg(0)))


def _strnlen(c: Call) -> int:
    return len(_string(c, c.arg(0), c.arg(1)))


def _strcpy(c: Call) -> int:
    dst = c.arg(0)
    c.write(dst, _string(c, c.arg(1)) + b"\0")
    return dst


def _strncpy(c: Call) -> int:
    dst, n = c.arg(0), c.arg(2)
    s = _string(c, c.arg(1), n)
    c.write(dst, s + b"\0" * (n - len(s)))  # strncpy pads with NULs, no NUL if truncated
    return dst


def _strcat(c: Call) -> int:
    dst = c.arg(0)
    c.write(dst + len(_string(c, dst)), _string(c, c.arg(1)) + b"\0")
    return dst


def _cmp(a: bytes, b: bytes) -> int:
    for x, y in zip(a + b"\0", b + b"\0", strict=False):
        if x != y:
            return x - y
    return 0


def _strcmp(c: Call) -> int:
    return _cmp(_string(c, c.arg(0)), _string(c, c.arg(1)))


def _strncmp(c: Call) -> int:
    n = c.arg(2)
    return _cmp(_string(c, c.arg(0), n), _string(c, c.arg(1), n)) if n else 0


def _strchr(c: Call) -> int:
    addr, ch = c.arg(0), c.arg(1) & 0xFF
    s = _string(c, addr) + b"\0"
    i = s.find(bytes([ch]))
    return addr + i if i >= 0 else 0


_HEXDIGITS = b"0123456789abcdef"


def _strtoul(c: Call, signed: bool) -> int:
    """simple_strtoul(cp, endp, base) as in 2.4 lib/vsprintf.c."""
    addr, endp, base = c.arg(0), c.arg(1), c.arg(2)
    s = _string(c, addr, 4096)
    i, neg = 0, False
    if signed and s[:1] == b"-":
        i, neg = 1, True
    if base == 0:
        base = 10
        if s[i : i + 1] == b"0":
            base = 8
            i += 1
            if s[i : i + 1] == b"x" and _HEXDIGITS.find(s[i + 1 : i + 2].lower()) >= 0:
                base, i = 16, i + 1
    elif base == 16 and s[i : i + 2] in (b"0x", b"0X"):
        i += 2
    val = 0
    while i < len(s):
        d = _HEXDIGITS.find(s[i : i + 1].lower()) if s[i : i + 1].strip() else -1
        if not 0 <= d < base:  # 2.4 accepts hex digits only, so base <= 16 in practice
            break
        val, i = val * base + d, i + 1
    if endp:
        c.write(endp, (addr + i).to_bytes(c.layout.word, "little"))
    return -val if neg else val


# ---------------------------------------------------------------- char devices


def _register_chrdev(c: Call) -> int:
    major, fops = c.arg(0), c.arg(2)
    name = _string(c, c.arg(1), 256).decode("utf-8", "backslashreplace")
    devs = c.runtime.chrdevs
    entry = {"name": name, "fops": fops, "module": c.module_at(c.caller)}
    if major == 0:
        for m in range(MAX_CHRDEV - 1, 0, -1):
            if m not in devs:
                devs[m] = entry
                return m
        return -EBUSY
    if major >= MAX_CHRDEV:
        return -EINVAL
    if major in devs and devs[major]["fops"] != fops:
        return -EBUSY
    devs[major] = entry
    return 0


def _unregister_chrdev(c: Call) -> int:
    major = c.arg(0)
    name = _string(c, c.arg(1), 256).decode("utf-8", "backslashreplace")
    dev = c.runtime.chrdevs.get(major)
    if major >= MAX_CHRDEV or dev is None or dev["name"] != name:
        return -EINVAL
    del c.runtime.chrdevs[major]
    return 0


# ---------------------------------------------------------------- time


def _nop(c: Call) -> int:
    return 0


def _schedule_timeout(c: Call) -> int:
    t = c.arg(0)
    if t < 1 << (8 * c.layout.word - 1):  # MAX_SCHEDULE_TIMEOUT is LONG_MAX
        c.runtime.jiffies += t
    return 0


# The stub table. ORDER IS ABI (see the module docstring): append only.
FUNCTIONS: tuple[tuple[str, Callable[[Call], int]], ...] = (
    ("printk", _printk),
    ("sprintf", _sprintf),
    ("snprintf", _snprintf),
    ("vsprintf", _vsprintf),
    ("vsnprintf", _vsnprintf),
    ("kmalloc", _kmalloc),
    ("kfree", _kfree),
    ("vmalloc", _vmalloc),
    ("vfree", _vfree),
    ("memset", _memset),
    ("memcpy", _memcpy),
    ("memmove", _memcpy),  # reads everything before writing: overlap-safe
    ("memcmp", _memcmp),
    ("strlen", _strlen),
    ("strnlen", _strnlen),
    ("strcpy", _strcpy),
    ("strncpy", _strncpy),
    ("strcat", _strcat),
    ("strcmp", _strcmp),
    ("strncmp", _strncmp),
    ("strchr", _strchr),
    ("register_chrdev", _register_chrdev),
    ("unregister_chrdev", _unregister_chrdev),
    ("panic", _panic),
    ("simple_strtoul", lambda c: _strtoul(c, False)),
    ("simple_strtol", lambda c: _strtoul(c, True)),
    ("__udelay", _nop),
    ("__const_udelay", _nop),
    ("schedule", _nop),
    ("schedule_timeout", _schedule_timeout),
)


def _driver_services() -> tuple[tuple[tuple[str, Callable], ...], dict[str, Callable]]:
    """The driver services: new names (appended) and better versions of old ones."""
    from . import services_devices, services_time, services_user

    table = services_user.FUNCTIONS + services_time.FUNCTIONS + services_devices.FUNCTIONS
    old = {name for name, _ in FUNCTIONS}
    return tuple(e for e in table if e[0] not in old), {n: f for n, f in table if n in old}


_NEW, _BETTER = _driver_services()
FUNCTIONS = tuple((n, _BETTER.get(n, f)) for n, f in FUNCTIONS) + _NEW


def _exported_on(arch: str, name: str) -> bool:
    from .services_user import ARCH_ONLY

    return ARCH_ONLY.get(name, arch) == arch


def service_at(lay: Layout, addr: int) -> tuple[str, Callable[[Call], int]] | None:
    """The service whose stub is at ``addr`` (exactly a slot start), or None."""
    off = addr - lay.stub_base
    if off % SLOT or not 0 <= off // SLOT < len(FUNCTIONS):
        return None
    return FUNCTIONS[off // SLOT]


def native_code(arch: str) -> dict[int, bytes]:
    """Real instructions on the native page: offset -> bytes (sentinel hlt at 0)."""
    out = {0: b"\xf4"}
    out.update({off: code for off, code in _thunks(arch).values()})
    return out


# Stubs an architecture's 2.4 kernel does not export: asm-i386/string.h makes them inline
# (the real 2.4.37.11 i386 kernel's /proc/ksyms has none of them).
NOT_EXPORTED: dict[str, frozenset[str]] = {
    "i386": frozenset(
        (
            "memmove",
            "strlen",
            "strnlen",
            "strcpy",
            "strncpy",
            "strcat",
            "strcmp",
            "strncmp",
            "strchr",
        )
    ),
    "x86_64": frozenset(),
}


def kernel_exports(arch: str) -> dict[str, int]:
    """Every kernel symbol the simulated kernel provides -> its stub or data address."""
    lay = layout(arch)
    hidden = NOT_EXPORTED[arch]
    out = {
        name: lay.stub_base + SLOT * i
        for i, (name, _) in enumerate(FUNCTIONS)
        if name not in hidden and _exported_on(arch, name)
    }
    out.update({name: lay.native_base + off for name, (off, _) in _thunks(arch).items()})
    out.update({name: lay.data_base + off for name, off in DATA_SYMBOLS.items()})
    return out
