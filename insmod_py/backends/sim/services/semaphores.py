"""Semaphores' slow paths, as 2.4.37.11's arch/*/kernel/semaphore.c (the same C on both
machines): what ``down()``/``up()`` call when the inline fast path finds the semaphore
taken or a sleeper to wake.

The inline code has already moved ``count``; these take the semaphore in the machine's
``semaphore_register`` and keep every other register (the asm entry points save
them), except that the interruptible and trylock forms return their result in the
return register.  ``__down`` puts ``current`` on the semaphore's wait queue and sleeps
(time passes, timers run) until an ``up()`` wakes it and it can take the semaphore;
with nothing left that could wake it, the uninterruptible sleep is reported as an oops
(the real kernel would hang), the interruptible one ends with ``-EINTR`` (a signal, as
for any sleep of the simulated process); see timers.py.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import kstructs
from .call import kmalloc_size
from .kmem import list_add, peek, poke, wsize
from .runtime import Oops
from .timers import (
    TASK_INTERRUPTIBLE,
    TASK_RUNNING,
    TASK_UNINTERRUPTIBLE,
    WQ_FLAG_EXCLUSIVE,
    _entry_list,
    _set_state,
    _sleep,
    _state,
    wake_up,
)
from .uaccess import current

EINTR = 4
WAKE_ALL = TASK_UNINTERRUPTIBLE | TASK_INTERRUPTIBLE  # wake_up(): either kind of sleeper


def _sem(c) -> kstructs.KStruct:
    return kstructs.struct(wsize(c), "semaphore")


def _count(c, sem: int) -> int:
    value = peek(c, sem + _sem(c).off("count"), 4)
    return value - (1 << 32) if value >> 31 else value


def _add_negative(c, sem: int, delta: int) -> bool:
    """atomic_add_negative(delta, &sem->count): the new count is below zero."""
    value = _count(c, sem) + delta
    poke(c, sem + _sem(c).off("count"), value, 4)
    return value < 0


def _sleepers(c, sem: int, value: int | None = None) -> int:
    off = sem + _sem(c).off("sleepers")
    if value is not None:
        poke(c, off, value, 4)
    return peek(c, off, 4)


def _signal_pending(c, task: int) -> bool:
    ts = kstructs.struct(wsize(c), "task_struct")
    return bool(peek(c, task + ts.off("sigpending"), ts.width("sigpending")))


def _wait_head(c, sem: int) -> int:
    return sem + _sem(c).off("wait")  # the spinlock is empty: the head is its task_list


def _down(c, sem: int, state: int) -> int:
    """__down / __down_interruptible: 0, or -EINTR when a signal ended the wait."""
    task = current(c)
    w = wsize(c)
    wait = c.kmalloc.alloc(kmalloc_size(4 * w), 32)  # DECLARE_WAITQUEUE on its behalf
    if not wait:
        raise Oops("Oops: no kernel memory left for a wait queue entry (down())")
    c.write(wait, bytes(4 * w))
    poke(c, wait, WQ_FLAG_EXCLUSIVE, 4)
    poke(c, wait + w, task)
    head = _wait_head(c, sem)
    list_add(c, _entry_list(c, wait), peek(c, head + w), head)  # add_wait_queue_exclusive
    _set_state(c, task, state)
    retval = 0
    try:
        _sleepers(c, sem, _sleepers(c, sem) + 1)
        while True:
            sleepers = _sleepers(c, sem)
            if state == TASK_INTERRUPTIBLE and _signal_pending(c, task):
                retval = -EINTR
                _sleepers(c, sem, 0)
                _add_negative(c, sem, sleepers)
                break
            if not _add_negative(c, sem, sleepers - 1):
                _sleepers(c, sem, 0)
                break
            _sleepers(c, sem, 1)
            if _state(c, task) != TASK_RUNNING:  # schedule()
                _sleep(c, None, "down()")
            _set_state(c, task, state)
    finally:
        entry = _entry_list(c, wait)  # remove_wait_queue
        nxt, prev = peek(c, entry), peek(c, entry + w)
        poke(c, nxt + w, prev)
        poke(c, prev, nxt)
        c.kmalloc.free(wait)
    _set_state(c, task, TASK_RUNNING)
    wake_up(c, head, WAKE_ALL)
    return retval


def _down_failed(c) -> tuple[int, int]:
    ax, dx = c.reg("ax"), c.reg("dx")
    _down(c, c.reg("sem"), TASK_UNINTERRUPTIBLE)
    return ax, dx


def _down_failed_interruptible(c) -> tuple[int, int]:
    dx = c.reg("dx")
    return _down(c, c.reg("sem"), TASK_INTERRUPTIBLE), dx


def _down_failed_trylock(c) -> tuple[int, int]:
    """__down_trylock: give the count back (waking a sleeper if that frees it); 1."""
    sem, dx = c.reg("sem"), c.reg("dx")
    sleepers = _sleepers(c, sem) + 1
    _sleepers(c, sem, 0)
    if not _add_negative(c, sem, sleepers):
        wake_up(c, _wait_head(c, sem), WAKE_ALL)
    return 1, dx


def _up_wakeup(c) -> tuple[int, int]:
    ax, dx = c.reg("ax"), c.reg("dx")
    wake_up(c, _wait_head(c, c.reg("sem")), WAKE_ALL)
    return ax, dx


FUNCTIONS: tuple[tuple[str, Callable], ...] = (
    ("__down_failed", _down_failed),
    ("__down_failed_interruptible", _down_failed_interruptible),
    ("__down_failed_trylock", _down_failed_trylock),
    ("__up_wakeup", _up_wakeup),
)
