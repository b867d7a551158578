"""Notifier chains, as 2.4's kernel/sys.c kept them: the reboot chain and any chain a module
owns (``notifier_chain_register(&its_list, nb)``).

A chain is a singly linked list through ``struct notifier_block.next``, highest
priority first; registering puts a block before the first one of lower priority (after
those of equal priority) and always succeeds, unregistering a block not on the chain
says ``-ENOENT``.  The blocks live in module memory; the head of the reboot chain
(``reboot_notifier_list``, static in sys.c) is kernel state kept in the driver state.
Nothing here calls a chain: the simulated machine never reboots.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import kstructs
from .kmem import peek, poke, wsize
from .runtime import Oops
from .uaccess import drivers

ENOENT = 2
LONGEST_CHAIN = 4096  # a longer walk is a chain looped by a driver bug (2.4 would hang)


class _Link:
    """One ``struct notifier_block **`` of a walk: the head, or a block's ``next`` member."""

    def __init__(self, c, addr: int | None) -> None:
        self.c, self.addr = c, addr  # addr None: the reboot chain's head in kernel state

    def get(self) -> int:
        if self.addr is None:
            return drivers(self.c).reboot_notifiers
        return peek(self.c, self.addr)

    def set(self, value: int) -> None:
        if self.addr is None:
            drivers(self.c).reboot_notifiers = value
        else:
            poke(self.c, self.addr, value)


def _walk(c, link: _Link):
    """Each link of the chain from ``link`` on, ending with the one holding NULL."""
    nb = kstructs.struct(wsize(c), "notifier_block")
    for _ in range(LONGEST_CHAIN):
        yield link
        block = link.get()
        if not block:
            return
        link = _Link(c, block + nb.off("next"))
    raise Oops(f"Oops: notifier chain longer than {LONGEST_CHAIN} blocks (a loop?)")


def _priority(c, block: int) -> int:
    nb = kstructs.struct(wsize(c), "notifier_block")
    value = peek(c, block + nb.off("priority"), 4)
    return value - (1 << 32) if value >> 31 else value


def chain_register(c, head: _Link, n: int) -> int:
    nb = kstructs.struct(wsize(c), "notifier_block")
    priority = _priority(c, n)
    for link in _walk(c, head):
        block = link.get()
        if not block or priority > _priority(c, block):
            poke(c, n + nb.off("next"), block)
            link.set(n)
            return 0
    raise AssertionError("unreachable: _walk ends at NULL or raises")


def chain_unregister(c, head: _Link, n: int) -> int:
    nb = kstructs.struct(wsize(c), "notifier_block")
    for link in _walk(c, head):
        block = link.get()
        if block == n:
            link.set(peek(c, n + nb.off("next")))
            return 0
    return -ENOENT


FUNCTIONS: tuple[tuple[str, Callable], ...] = (
    ("notifier_chain_register", lambda c: chain_register(c, _Link(c, c.arg(0)), c.arg(1))),
    ("notifier_chain_unregister", lambda c: chain_unregister(c, _Link(c, c.arg(0)), c.arg(1))),
    ("register_reboot_notifier", lambda c: chain_register(c, _Link(c, None), c.arg(0))),
    ("unregister_reboot_notifier", lambda c: chain_unregister(c, _Link(c, None), c.arg(0))),
)
