"""The simulated kernel's memory: module areas, their headers, and address arithmetic.

Each module owns a bytearray (its ``create_module`` size rounded up to whole
pages, as vmalloc gave it) at a kernel address;
the ``struct module`` at offset 0 of that memory is the truth for every field
2.4 kept there (usecount, flags, next, refs...).  This file knows where things
are; the syscall logic lives in ``syscalls.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ... import modstruct
from ...arch import by_name
from ..base import Region

PAGE_SIZE = 4096
MAX_MODULE_SIZE = 64 << 20  # beyond this our vmalloc says ENOMEM instead of allocating


@dataclass(frozen=True)
class ArchParams:
    """What differs between the simulated i386 and x86_64 kernels."""

    name: str
    word_size: int
    area_start: int  # first module address (2.4 vmalloc / MODULES_VADDR)
    area_end: int
    kernel_module: int  # &kernel_module, the kernel's own struct module
    guard: int  # bytes left unmapped after each module area

    @property
    def mask(self) -> int:
        return (1 << (8 * self.word_size)) - 1


def arch_params(arch: str) -> ArchParams:
    """The module area comes from the simulated kernel's address map, so the two never
    overlap."""
    machine = by_name(arch)  # ValueError for an unknown arch
    kmap = machine.sim_kernel
    start, end = kmap.module_area
    return ArchParams(arch, machine.word_size, start, end, kmap.kernel_module, kmap.module_guard)


_SIGNED_KINDS = frozenset({"atomic", "int", "long"})


@dataclass(eq=False)
class LiveModule:
    """One module in the kernel's list: its memory and what the loader told us about it."""

    base: int
    memory: bytearray
    word_size: int
    regions: tuple[Region, ...] = ()
    symbols: tuple[tuple[int, str], ...] = ()
    seq: int = 0  # list position: higher = nearer the head (newer)
    original: bytes = field(default=b"", repr=False)  # memory as loaded, to detect writes
    dirty: bool = False  # regions/symbols/seq changed: save even if the memory did not

    # -- header fields (struct module at offset 0) --

    def get(self, name: str) -> int:
        """A ``struct module`` member as the kernel reads it (zero past the memory's end)."""
        f = modstruct.layout(self.word_size, "module").field(name)
        raw = bytes(self.memory[f.offset : f.offset + f.size]).ljust(f.size, b"\0")
        if f.kind == "atomic":
            raw = raw[:4]  # atomic_t is the int inside the word-sized union
        return int.from_bytes(raw, "little", signed=f.kind in _SIGNED_KINDS)

    def set(self, name: str, value: int) -> None:
        """Write a ``struct module`` member (truncated to its width, as C stores do)."""
        f = modstruct.layout(self.word_size, "module").field(name)
        size = 4 if f.kind == "atomic" else f.size
        data = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        self.write(f.offset, data)

    def write(self, offset: int, data: bytes) -> None:
        """Store bytes at an offset, clipped to the memory (vmalloc slack is not modelled)."""
        end = min(offset + len(data), len(self.memory))
        if offset < end:
            self.memory[offset:end] = data[: end - offset]

    def own_name(self) -> bytes:
        """``mod->name`` when it points into this module's memory (b"" otherwise)."""
        off = (self.get("name") - self.base) & ((1 << (8 * self.word_size)) - 1)
        if off >= len(self.memory):
            return b""
        end = self.memory.find(b"\0", off)
        return bytes(self.memory[off : end if end >= 0 else len(self.memory)])

    @property
    def end(self) -> int:
        return self.base + len(self.memory)

    def contains(self, addr: int) -> bool:
        return self.base <= addr < self.end


class AddressSpace:
    """Reads and writes at kernel addresses that fall inside a module's memory."""

    def __init__(self, arch: ArchParams, modules: Iterable[LiveModule]) -> None:
        self.arch = arch
        self.modules = modules if isinstance(modules, list) else list(modules)  # shared, live

    def at_base(self, base: int) -> LiveModule | None:
        """The module whose struct module is at ``base`` (what a ``struct module *`` names)."""
        for mod in self.modules:
            if mod.base == base:
                return mod
        return None

    def find(self, addr: int) -> LiveModule | None:
        for mod in self.modules:
            if mod.contains(addr):
                return mod
        return None

    def read(self, addr: int, size: int) -> bytes | None:
        """``size`` bytes at ``addr``, or None when they are not all inside one module."""
        mod = self.find(addr)
        if mod is None or addr + size > mod.end:
            return None
        off = addr - mod.base
        return bytes(mod.memory[off : off + size])

    def read_word(self, addr: int) -> int | None:
        raw = self.read(addr, self.arch.word_size)
        return None if raw is None else int.from_bytes(raw, "little")

    def write_word(self, addr: int, value: int) -> bool:
        mod = self.find(addr)
        ws = self.arch.word_size
        if mod is None or addr + ws > mod.end:
            return False
        mod.write(addr - mod.base, (value & self.arch.mask).to_bytes(ws, "little"))
        return True

    def read_cstr(self, addr: int, limit: int = PAGE_SIZE) -> bytes | None:
        """A NUL-terminated string (without the NUL); None if unreadable or unterminated."""
        mod = self.find(addr)
        if mod is None:
            return None
        off = addr - mod.base
        end = mod.memory.find(b"\0", off, min(len(mod.memory), off + limit))
        return None if end < 0 else bytes(mod.memory[off:end])


def page_round(size: int) -> int:
    return -(-size // PAGE_SIZE) * PAGE_SIZE


def allocate(arch: ArchParams, modules: Iterable[LiveModule], size: int) -> int | None:
    """First fit in the module area, each area followed by the arch's guard (2.4 module_map)."""
    if size <= 0 or size > MAX_MODULE_SIZE:
        return None
    need = page_round(size) + arch.guard
    used = sorted((m.base, m.base + page_round(len(m.memory)) + arch.guard) for m in modules)
    addr = arch.area_start
    for start, end in used:
        if addr + need <= start:
            break
        addr = max(addr, end)
    return addr if addr + need <= arch.area_end else None
