"""The simulated kernel's memory as 2.4's C sees it: machine words, pointers and
``list_head`` links, read and written through a service call's view of the engine.

Every service that follows a kernel structure (timers, wait queues, notifier chains,
the NLS and crypto lists...) uses these, so the word size is the machine's and no
service repeats the byte packing.
"""

from __future__ import annotations

from ....arch import SimKernelMap
from .call import Call


def kmap(c: Call) -> SimKernelMap:
    """The address map of the kernel the call runs in."""
    return c.kernel_map


def wsize(c: Call) -> int:
    """Bytes in a machine word (``sizeof(long)``, ``sizeof(void *)``)."""
    return c.kernel_map.word


def peek(c: Call, addr: int, width: int | None = None) -> int:
    """The unsigned little-endian value of ``width`` bytes (default: a word) at ``addr``."""
    n = width or wsize(c)
    return int.from_bytes(c.read(addr, n), "little")


def poke(c: Call, addr: int, value: int, width: int | None = None) -> None:
    """Store ``value``, cut to ``width`` bytes (default: a word), at ``addr``."""
    n = width or wsize(c)
    c.write(addr, (value & ((1 << (8 * n)) - 1)).to_bytes(n, "little"))


def signed(c: Call, value: int) -> int:
    """A word read unsigned, as the C ``long`` it is."""
    bits = 8 * wsize(c)
    return value - (1 << bits) if value >> (bits - 1) else value


def list_add(c: Call, new: int, prev: int, nxt: int) -> None:
    """2.4's ``__list_add``: link ``new`` between ``prev`` and ``nxt``."""
    w = wsize(c)
    poke(c, nxt + w, new)  # next->prev = new
    poke(c, new, nxt)  # new->next = next
    poke(c, new + w, prev)  # new->prev = prev
    poke(c, prev, new)  # prev->next = new
