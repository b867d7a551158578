"""What a service sees of the machine during one call, and the heaps it allocates from."""

from __future__ import annotations

from typing import Protocol

from ....arch import SimKernelMap
from ..printf import ArgSource
from .runtime import KernelRuntime


class Call(Protocol):
    """What a service sees of the machine during one call (implemented in machine.py)."""

    kernel_map: SimKernelMap
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
    def reg(self, name: str) -> int: ...  # "ax"/"dx"/"sem": for the asm helpers' conventions
    def call_module(self, entry: int, args: tuple[int, ...] = ()) -> int: ...  # nested call
    def wide(self, value: int) -> object: ...  # a 64-bit (loff_t) result, the machine's way


class Heap:
    """First-fit allocator over one arena; blocks are tracked by address -> size.

    The contents live in guest memory during a run; ``KernelRuntime`` keeps them
    between runs.
    """

    def __init__(self, base: int, size: int, blocks: dict[int, int]) -> None:
        self.base, self.size = base, size
        self.blocks = dict(blocks)
        # the highest block end seen, freed blocks included: how far the arena was used
        self.top = max((a + n for a, n in self.blocks.items()), default=base)

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
        self.top = max(self.top, start + size)
        return start

    def free(self, addr: int) -> bool:
        return self.blocks.pop(addr, None) is not None


def kmalloc_size(size: int) -> int:
    """2.4's general caches: 32, 64, ... 131072 bytes."""
    n = 32
    while n < size:
        n *= 2
    return n
