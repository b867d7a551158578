"""Time for drivers: kernel timers on the virtual jiffies clock, wait queues, sleeping.

There is one simulated process and no interrupts, so time moves only when
someone moves it: ``pyinsmod tick`` (userspace.tick) advances jiffies and runs
every timer that has become due, in expiry order, each detached before its
function runs (2.4 run_timer_list).  A task that sleeps (``schedule`` in a
sleeping state, ``schedule_timeout``, the ``sleep_on`` family) lets time pass
the same way: the timers due before its deadline run, on its kernel stack as
the timer interrupt would run them, until one wakes it (``wake_up``,
``wake_up_process``) or the deadline comes.

A task that sleeps with nothing left to wake it would sleep forever: an
interruptible sleep is then ended by a signal (``signal_pending`` becomes
true, as if the user pressed ^C, so ``wait_event_interruptible`` returns
``-ERESTARTSYS``); an uninterruptible one is reported as an oops.

The i386 entry points marked FASTCALL in 2.4's headers take their first three
arguments in %eax, %edx, %ecx (``FASTCALL`` below).
"""

from __future__ import annotations

from collections.abc import Callable

from .. import kstructs
from ..drivers_state import TIMER_LIST_HEAD
from .call import Call, kmalloc_size
from .kmem import kmap, list_add, peek, poke, signed, wsize
from .printk import log_text
from .runtime import Oops
from .uaccess import current, drivers

TASK_RUNNING, TASK_INTERRUPTIBLE, TASK_UNINTERRUPTIBLE = 0, 1, 2
WQ_FLAG_EXCLUSIVE = 0x01

FASTCALL = frozenset({
    "schedule_timeout", "__wake_up", "__wake_up_sync", "sleep_on", "sleep_on_timeout",
    "interruptible_sleep_on", "interruptible_sleep_on_timeout", "wake_up_process",
    "add_wait_queue", "add_wait_queue_exclusive", "remove_wait_queue",
})  # fmt: skip


def set_jiffies(c, value: int) -> None:
    """Move the clock: the runtime's counter and the exported variable modules read."""
    c.runtime.jiffies = value
    poke(c, kmap(c).data_base, value)


# ---------------------------------------------------------------- timers


def _timer(c):
    return kstructs.struct(wsize(c), "timer_list")


def _detach(c, t: int) -> int:
    """Unlink ``t`` if pending; its list pointers become NULL either way (2.4 del_timer)."""
    tl = _timer(c)
    pending = t in drivers(c).timers
    if pending:
        drivers(c).timers.remove(t)
    poke(c, t + tl.off("list"), 0)
    poke(c, t + tl.off("list") + wsize(c), 0)
    return int(pending)


def _attach(c, t: int) -> None:
    tl = _timer(c)
    head = kmap(c).data_base + TIMER_LIST_HEAD
    poke(c, t + tl.off("list"), head)
    poke(c, t + tl.off("list") + wsize(c), head)
    drivers(c).timers.append(t)


def _add_timer(c) -> int:
    t = c.arg(0)
    if peek(c, t + _timer(c).off("list")) or t in drivers(c).timers:
        log_text(c.runtime, f"bug: kernel timer added twice at {c.where(c.caller)}.\n".encode())
        return 0
    _attach(c, t)
    return 0


def _del_timer(c) -> int:
    return _detach(c, c.arg(0))


def _mod_timer(c) -> int:
    t, expires = c.arg(0), c.arg(1)
    poke(c, t + _timer(c).off("expires"), expires)
    ret = _detach(c, t)
    _attach(c, t)
    return ret


# ---------------------------------------------------------------- wait queues


def _entry_list(c, wait: int) -> int:
    """&wait->task_list of a wait_queue_t (flags, task, task_list)."""
    return wait + 2 * wsize(c)


def _add_wait_queue(c, exclusive: bool) -> int:
    q, wait = c.arg(0), c.arg(1)
    flags = peek(c, wait, 4)
    poke(c, wait, flags | WQ_FLAG_EXCLUSIVE if exclusive else flags & ~WQ_FLAG_EXCLUSIVE, 4)
    head = q  # wait_queue_head_t: an empty lock, then task_list
    if exclusive:  # list_add_tail
        list_add(c, _entry_list(c, wait), peek(c, head + wsize(c)), head)
    else:
        list_add(c, _entry_list(c, wait), head, peek(c, head))
    return 0


def _remove_wait_queue(c) -> int:
    entry = _entry_list(c, c.arg(1))
    w = wsize(c)
    nxt, prev = peek(c, entry), peek(c, entry + w)
    poke(c, nxt + w, prev)
    poke(c, prev, nxt)
    return 0


def _pollwait(c: Call) -> int:
    """__pollwait(file, queue, table): nothing to record, one process never sleeps in poll."""
    return 0


def _set_state(c, task: int, state: int) -> None:
    poke(c, task + kstructs.struct(wsize(c), "task_struct").off("state"), state)


def _state(c, task: int) -> int:
    return peek(c, task + kstructs.struct(wsize(c), "task_struct").off("state"))


def _wake_up(c) -> int:
    return wake_up(c, c.arg(0), c.arg(1))


def wake_up(c, q: int, mode: int) -> int:
    """__wake_up(q, mode, nr): every waiter whose task sleeps in ``mode`` becomes runnable."""
    w = wsize(c)
    pos, seen = peek(c, q), 0
    while pos != q and pos and seen < 1024:  # the only task there is: current
        task = peek(c, pos - w)
        if task and _state(c, task) & mode:
            _set_state(c, task, TASK_RUNNING)
        pos, seen = peek(c, pos), seen + 1
    return 0


def _wake_up_process(c) -> int:
    _set_state(c, c.arg(0), TASK_RUNNING)
    return 1


# ---------------------------------------------------------------- sleeping


def _nothing_to_wake(c, what: str) -> None:
    """A sleep no event can end: a signal for an interruptible one, an oops otherwise."""
    task = current(c)
    if _state(c, task) == TASK_INTERRUPTIBLE:
        ts = kstructs.struct(wsize(c), "task_struct")
        poke(c, task + ts.off("sigpending"), 1, ts.width("sigpending"))
        drivers(c).sigpending = 1
        _set_state(c, task, TASK_RUNNING)
        return
    raise Oops(
        f"Oops: {what} sleeps uninterruptibly and nothing can wake it "
        f"(deadlock), called from {c.where(c.caller)}"
    )


def _next_timer(c, deadline: int | None) -> tuple[int, int] | None:
    """(timer, expires) of the pending timer to run next, if it expires by ``deadline``:
    the earliest expiry, then the earliest added (2.4's run_timer_list order)."""
    tl = _timer(c)
    best = None
    for i, t in enumerate(drivers(c).timers):
        expires = peek(c, t + tl.off("expires"))
        if deadline is not None and signed(c, expires - deadline) > 0:
            continue
        key = (signed(c, expires - c.runtime.jiffies), i)
        if best is None or key < best[0]:
            best = (key, t, expires)
    return None if best is None else (best[1], best[2])


def _sleep(c, deadline: int | None, what: str) -> None:
    """``current`` sleeps (its state is not TASK_RUNNING): time passes and each timer runs
    when it comes due, as the timer interrupt would run it, until one of them wakes the
    task or ``deadline`` (jiffies) comes.  With no deadline and nothing left to run, see
    _nothing_to_wake."""
    task = current(c)
    tl = _timer(c)
    while _state(c, task) != TASK_RUNNING:
        nxt = _next_timer(c, deadline)
        if nxt is None:
            break
        t, expires = nxt
        if signed(c, expires - c.runtime.jiffies) > 0:
            set_jiffies(c, expires)
        _detach(c, t)
        c.call_module(peek(c, t + tl.off("function")), (peek(c, t + tl.off("data")),))
    if _state(c, task) == TASK_RUNNING:
        return
    if deadline is None:
        _nothing_to_wake(c, what)
        return
    if signed(c, deadline - c.runtime.jiffies) > 0:
        set_jiffies(c, deadline)
    _set_state(c, task, TASK_RUNNING)


def _schedule(c) -> int:
    if _state(c, current(c)) != TASK_RUNNING:
        _sleep(c, None, "schedule()")
    return 0


def _sleep_for(c, timeout: int, what: str) -> int:
    """schedule_timeout's core: the jiffies left when woken early, else 0."""
    if timeout == (1 << (8 * wsize(c) - 1)) - 1:  # MAX_SCHEDULE_TIMEOUT: no deadline
        _sleep(c, None, what)
        return timeout
    deadline = c.runtime.jiffies + timeout
    _sleep(c, deadline, what)
    return max(signed(c, deadline - c.runtime.jiffies), 0)


def _schedule_timeout(c) -> int:
    timeout = signed(c, c.arg(0))
    task = current(c)
    if timeout < 0:
        log_text(
            c.runtime,
            f"<3>schedule_timeout: wrong timeout value {timeout & ((1 << 8 * wsize(c)) - 1):x} "
            f"from {c.where(c.caller)}\n".encode(),
        )
        _set_state(c, task, TASK_RUNNING)
        return 0
    if _state(c, task) == TASK_RUNNING:
        return timeout
    return _sleep_for(c, timeout, "schedule_timeout()")


def _sleep_on(c, state: int, timed: bool) -> int:
    """2.4 sleep_on and friends: current waits on the queue until a wake-up (from a timer
    that runs meanwhile) or, for the _timeout forms, the timeout; the jiffies left."""
    q = c.arg(0)
    task = current(c)
    w = wsize(c)
    wait = c.kmalloc.alloc(kmalloc_size(4 * w), 32)  # a wait_queue_t on the sleeper's behalf
    if not wait:
        return 0
    c.write(wait, bytes(4 * w))
    poke(c, wait + w, task)
    list_add(c, _entry_list(c, wait), q, peek(c, q))
    _set_state(c, task, state)
    try:
        timeout = max(signed(c, c.arg(1)), 0) if timed else (1 << (8 * w - 1)) - 1
        left = _sleep_for(c, timeout, "sleep_on()")
    finally:
        entry = _entry_list(c, wait)
        nxt, prev = peek(c, entry), peek(c, entry + w)
        poke(c, nxt + w, prev)
        poke(c, prev, nxt)
        c.kmalloc.free(wait)
    return left if timed else 0


def _nop(c: Call) -> int:
    """__udelay and friends: a delay takes no simulated time."""
    return 0


# schedule and schedule_timeout keep their early stub slots (services.FUNCTIONS); the
# rest is appended there.
SCHEDULE, SCHEDULE_TIMEOUT = _schedule, _schedule_timeout
FUNCTIONS: tuple[tuple[str, Callable], ...] = (
    ("add_timer", _add_timer),
    ("del_timer", _del_timer),
    ("mod_timer", _mod_timer),
    ("add_wait_queue", lambda c: _add_wait_queue(c, False)),
    ("add_wait_queue_exclusive", lambda c: _add_wait_queue(c, True)),
    ("remove_wait_queue", _remove_wait_queue),
    ("__wake_up", _wake_up),
    ("__wake_up_sync", _wake_up),
    ("wake_up_process", _wake_up_process),
    ("__pollwait", _pollwait),
    ("sleep_on", lambda c: _sleep_on(c, TASK_UNINTERRUPTIBLE, False)),
    ("sleep_on_timeout", lambda c: _sleep_on(c, TASK_UNINTERRUPTIBLE, True)),
    ("interruptible_sleep_on", lambda c: _sleep_on(c, TASK_INTERRUPTIBLE, False)),
    ("interruptible_sleep_on_timeout", lambda c: _sleep_on(c, TASK_INTERRUPTIBLE, True)),
)
