"""Delays and scheduling: time passes only as jiffies."""

from __future__ import annotations

from .call import Call


def _nop(c: Call) -> int:
    return 0


def _schedule_timeout(c: Call) -> int:
    t = c.arg(0)
    if t < 1 << (8 * c.kernel_map.word - 1):  # MAX_SCHEDULE_TIMEOUT is LONG_MAX
        c.runtime.jiffies += t
    return 0
