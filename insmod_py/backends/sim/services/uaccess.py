"""User-space access for drivers: 2.4's exported copy routines over the simulated process.

The simulated process's memory is a few pages below ``PAGE_OFFSET`` (see
``userspace.UserMemory``); everything else below it is unmapped.  As in 2.4 a
range is first checked against ``current->addr_limit`` (what ``access_ok``
does, so a kernel pointer is refused), then copied until the first unmapped
page: the copy routines return how many bytes they could NOT copy (and
``copy_from_user`` zeroes that tail), ``__get_user_N`` returns ``-EFAULT`` in
%eax with 0 in %edx.  The inline-assembly paths of the headers (``put_user``,
constant-size copies) fault for real and resume at their ``__ex_table``
fixup; that is the emulator's job (machine.py).
"""

from __future__ import annotations

from collections.abc import Callable

from .. import kstructs
from ..drivers_state import DriverState
from .kmem import kmap
from .runtime import Oops

EFAULT = 14
PAGE = 0x1000


def drivers(c) -> DriverState:
    return c.runtime.drivers


def current(c) -> int:
    """``current``: the task_struct at the base of the 8 KiB task stack (i386's esp mask;
    x86_64's PDA's pcurrent points there too)."""
    return kmap(c).stack_base


def task_field(c, member: str) -> int:
    t = kstructs.struct(kmap(c).word, "task_struct")
    return int.from_bytes(c.read(current(c) + t.off(member), t.width(member)), "little")


def addr_limit(c) -> int:
    return task_field(c, "addr_limit")


def access_ok(c, addr: int, size: int) -> bool:
    """2.4 __range_ok: addr + size must not pass current->addr_limit (no wrap)."""
    mask = (1 << (8 * kmap(c).word)) - 1
    end = addr + size
    return end <= mask + 1 and end <= addr_limit(c)


def _readable_prefix(c, addr: int, size: int, write: bool) -> int:
    """How many bytes from ``addr`` are mapped (page by page, stopping at the first hole)."""
    done = 0
    while done < size:
        chunk = min(size - done, PAGE - (addr + done) % PAGE)
        try:
            if write:
                c.write(addr + done, c.read(addr + done, chunk))
            else:
                c.read(addr + done, chunk)
        except Oops:
            break
        done += chunk
    return done


def copy_to_user(c, to: int, frm: int, n: int) -> int:
    """Bytes not copied (0 on success)."""
    if not access_ok(c, to, n):
        return n
    ok = _readable_prefix(c, to, n, True)
    if ok:
        c.write(to, c.read(frm, ok))
    return n - ok


def copy_from_user(c, to: int, frm: int, n: int) -> int:
    """Bytes not copied; like 2.4's __copy_user_zeroing the uncopied tail is zeroed."""
    ok = _readable_prefix(c, frm, n, False) if access_ok(c, frm, n) else 0
    data = c.read(frm, ok) if ok else b""
    if n:
        c.write(to, data + bytes(n - ok))
    return n - ok


def _generic_copy_to_user(c) -> int:
    return copy_to_user(c, c.arg(0), c.arg(1), c.arg(2))


def _generic_copy_from_user(c) -> int:
    return copy_from_user(c, c.arg(0), c.arg(1), c.arg(2))


def _get_user(size: int) -> Callable:
    """__get_user_N: address in %eax/%rax; returns (err in %eax, value in %edx)."""

    def service(c) -> tuple[int, int]:
        addr = c.reg("ax")
        if not access_ok(c, addr, size) or _readable_prefix(c, addr, size, False) < size:
            return -EFAULT, 0
        return 0, int.from_bytes(c.read(addr, size), "little")

    return service


def _clear_user(c) -> int:
    """clear_user(to, n): bytes not cleared."""
    to, n = c.arg(0), c.arg(1)
    if not access_ok(c, to, n):
        return n
    ok = _readable_prefix(c, to, n, True)
    c.write(to, bytes(ok))
    return n - ok


def _unchecked_clear_user(c) -> int:
    to, n = c.arg(0), c.arg(1)
    ok = _readable_prefix(c, to, n, True)
    c.write(to, bytes(ok))
    return n - ok


def _strncpy_from_user(c) -> int:
    """strncpy_from_user(dst, src, count): length copied (without NUL), or -EFAULT."""
    dst, src, count = c.arg(0), c.arg(1), c.arg(2)
    count = count - (1 << (8 * kmap(c).word)) if count >> (8 * kmap(c).word - 1) else count
    if count <= 0:
        return 0
    if not access_ok(c, src, 1):
        return -EFAULT
    ok = _readable_prefix(c, src, count, False)
    data = c.read(src, ok)
    nul = data.find(b"\0")
    if nul >= 0:
        c.write(dst, data[: nul + 1])
        return nul
    if ok < count:
        return -EFAULT
    c.write(dst, data)
    return count


def _strnlen_user(c) -> int:
    """strnlen_user(s, n): the size including the NUL, 0 on a fault, n+1 if longer than n."""
    src, n = c.arg(0), c.arg(1)
    if not access_ok(c, src, 1):
        return 0
    ok = _readable_prefix(c, src, n, False)
    data = c.read(src, ok)
    nul = data.find(b"\0")
    if nul >= 0:
        return nul + 1
    return 0 if ok < n else n + 1


def _copy_user_generic(c) -> int:
    """x86_64 copy_user_generic(to, from, n): no access_ok, stops at the first fault."""
    to, frm, n = c.arg(0), c.arg(1), c.arg(2)
    ok = min(_readable_prefix(c, frm, n, False), _readable_prefix(c, to, n, True))
    if ok:
        c.write(to, c.read(frm, ok))
    return n - ok


# name -> service; appended to the stub table (services.FUNCTIONS).
FUNCTIONS: tuple[tuple[str, Callable], ...] = (
    ("__generic_copy_to_user", _generic_copy_to_user),
    ("__generic_copy_from_user", _generic_copy_from_user),
    ("copy_to_user", _generic_copy_to_user),  # x86_64 exports the checked copies directly
    ("copy_from_user", _generic_copy_from_user),
    ("copy_user_generic", _copy_user_generic),
    ("__get_user_1", _get_user(1)),
    ("__get_user_2", _get_user(2)),
    ("__get_user_4", _get_user(4)),
    ("__get_user_8", _get_user(8)),
    ("clear_user", _clear_user),
    ("__clear_user", _unchecked_clear_user),
    ("strncpy_from_user", _strncpy_from_user),
    ("__strncpy_from_user", _strncpy_from_user),
    ("strnlen_user", _strnlen_user),
)
