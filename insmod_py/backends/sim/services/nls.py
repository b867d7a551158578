"""Native language support, as 2.4's fs/nls/nls_base.c: the registered charset tables and
the UTF-8 helpers; and ``try_inc_mod_count`` (kernel/module.c), which a lookup uses.

- ``register_nls`` puts a module's ``struct nls_table`` at the head of the kernel's list
  (``-EBUSY`` when it is on it or its ``next`` is set, ``-EINVAL`` for NULL);
  ``unregister_nls`` takes it out (``-EINVAL`` when it is not there).
- ``load_nls(name)`` finds a registered table by charset name and takes a use of its
  owner module (``try_inc_mod_count``); ``unload_nls`` gives it back.  The 2.4.37.11
  kernels we build have no kmod (``CONFIG_KMOD`` off), so nothing loads a missing table:
  ``load_nls`` answers NULL, and a module such as nls_euc-jp (which needs cp932) fails
  its init with ``-EINVAL`` as on the real kernel.  No table is built in.
- ``utf8_mbtowc``/``utf8_mbstowcs``/``utf8_wctomb``/``utf8_wcstombs``: the UTF-8
  conversions, up to 6-byte sequences, on 16-bit ``wchar_t``.

``load_nls_default`` is not provided: its fallback is a table of the kernel's own code.
The head of the list (``tables``, static in nls_base.c) is kept in the driver state.
"""

from __future__ import annotations

from collections.abc import Callable

from ....modstruct import MOD_DELETED, MOD_USED_ONCE, MOD_VISITED, offsetof
from .. import kstructs
from .kmem import peek, poke, wsize
from .runtime import Oops
from .strings import read_string
from .uaccess import drivers

EBUSY, EINVAL = 16, 22
LONGEST_LIST = 4096  # a longer walk is a list looped by a driver bug (2.4 would hang)

# utf8_table of nls_base.c: (cmask, cval, shift, lmask, lval), 1- to 6-byte sequences
UTF8_TABLE = (
    (0x80, 0x00, 0 * 6, 0x7F, 0),
    (0xE0, 0xC0, 1 * 6, 0x7FF, 0x80),
    (0xF0, 0xE0, 2 * 6, 0xFFFF, 0x800),
    (0xF8, 0xF0, 3 * 6, 0x1FFFFF, 0x10000),
    (0xFC, 0xF8, 4 * 6, 0x3FFFFFF, 0x200000),
    (0xFE, 0xFC, 5 * 6, 0x7FFFFFFF, 0x4000000),
)


def _int(value: int) -> int:
    """A C ``int`` argument (the low 32 bits, signed)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


# ---------------------------------------------------------------- module use counts


def _module_field(c, module: int, field: str) -> int:
    return module + offsetof(wsize(c), field)


def try_inc_mod_count(c, module: int) -> int:
    """1 and one more use of ``module`` (NULL: the kernel itself), or 0 when it is going."""
    if not module:
        return 1
    flags = peek(c, _module_field(c, module, "flags"))
    if flags & MOD_DELETED:
        return 0
    count = _module_field(c, module, "usecount")
    poke(c, count, peek(c, count, 4) + 1, 4)
    poke(c, _module_field(c, module, "flags"), flags | MOD_VISITED | MOD_USED_ONCE)
    return 1


def mod_dec_use_count(c, module: int) -> None:
    """__MOD_DEC_USE_COUNT: one use of ``module`` less."""
    count = _module_field(c, module, "usecount")
    poke(c, count, peek(c, count, 4) - 1, 4)
    flags = peek(c, _module_field(c, module, "flags"))
    poke(c, _module_field(c, module, "flags"), flags | MOD_VISITED)


# ---------------------------------------------------------------- the table list


def _tables(c) -> list[int]:
    """The registered tables, newest first (the list through ``nls_table.next``)."""
    nt = kstructs.struct(wsize(c), "nls_table")
    out, table = [], drivers(c).nls_tables
    while table:
        if len(out) == LONGEST_LIST:
            raise Oops(f"Oops: NLS table list longer than {LONGEST_LIST} (a loop?)")
        out.append(table)
        table = peek(c, table + nt.off("next"))
    return out


def _register_nls(c) -> int:
    nls = c.arg(0)
    nt = kstructs.struct(wsize(c), "nls_table")
    if not nls:
        return -EINVAL
    if peek(c, nls + nt.off("next")):
        return -EBUSY
    if nls in _tables(c):
        return -EBUSY
    poke(c, nls + nt.off("next"), drivers(c).nls_tables)
    drivers(c).nls_tables = nls
    return 0


def _unregister_nls(c) -> int:
    nls = c.arg(0)
    nt = kstructs.struct(wsize(c), "nls_table")
    tables = _tables(c)
    if nls not in tables:
        return -EINVAL
    after = peek(c, nls + nt.off("next"))
    i = tables.index(nls)
    if i == 0:
        drivers(c).nls_tables = after
    else:
        poke(c, tables[i - 1] + nt.off("next"), after)
    return 0


def _load_nls(c) -> int:
    """find_nls: the table whose charset is the name, with a use of its owner, or NULL."""
    nt = kstructs.struct(wsize(c), "nls_table")
    name = read_string(c, c.arg(0))
    for table in _tables(c):
        if read_string(c, peek(c, table + nt.off("charset"))) == name:
            return table if try_inc_mod_count(c, peek(c, table + nt.off("owner"))) else 0
    return 0


def _unload_nls(c) -> int:
    nt = kstructs.struct(wsize(c), "nls_table")
    owner = peek(c, c.arg(0) + nt.off("owner"))
    if owner:
        mod_dec_use_count(c, owner)
    return 0


# ---------------------------------------------------------------- UTF-8


def mbtowc(byte: Callable[[int], int], n: int) -> tuple[int, int]:
    """utf8_mbtowc: (bytes used, or -1 for a bad sequence; the character).  ``byte(i)`` is
    the i-th byte of the sequence, read only when the kernel's loop reads it.

    ``l`` is a C ``long``; a 6-byte sequence overflows a 32-bit one, but the mask that
    follows keeps only bits a 32-bit ``long`` still holds, so Python ints agree."""
    c0 = value = byte(0)
    for used, (cmask, cval, _, lmask, lval) in enumerate(UTF8_TABLE, 1):
        if c0 & cmask == cval:
            value &= lmask
            return (-1, 0) if value < lval else (used, value)
        if n <= used:
            return -1, 0
        cont = (byte(used) ^ 0x80) & 0xFF
        if cont & 0xC0:
            return -1, 0
        value = (value << 6) | cont
    return -1, 0


def wctomb(wc: int, maxlen: int) -> bytes | None:
    """utf8_wctomb's bytes for ``wc`` (a 16-bit wchar_t), or None when maxlen is too small."""
    for _, cval, shift, lmask, _ in UTF8_TABLE:
        if not maxlen:
            return None
        maxlen -= 1
        if wc <= lmask:
            out = [cval | (wc >> shift)]
            while shift > 0:
                shift -= 6
                out.append(0x80 | ((wc >> shift) & 0x3F))
            return bytes(b & 0xFF for b in out)
    return None


def _byte_at(c, addr: int) -> Callable[[int], int]:
    return lambda i: c.read(addr + i, 1)[0]


def _utf8_mbtowc(c) -> int:
    p, s, n = c.arg(0), c.arg(1), _int(c.arg(2))
    used, value = mbtowc(_byte_at(c, s), n)
    if used > 0:
        poke(c, p, value, 2)
    return used


def _utf8_mbstowcs(c) -> int:
    pwcs, s, n = c.arg(0), c.arg(1), _int(c.arg(2))
    op, ip = pwcs, s
    while n > 0:
        byte = c.read(ip, 1)[0]
        if not byte:
            break
        if byte & 0x80:
            used, value = mbtowc(_byte_at(c, ip), n)
            if used == -1:
                ip, n = ip + 1, n - 1
            else:
                poke(c, op, value, 2)
                op, ip, n = op + 2, ip + used, n - used
        else:
            poke(c, op, byte, 2)
            op, ip = op + 2, ip + 1
    return (op - pwcs) // 2


def _utf8_wctomb(c) -> int:
    s, wc, maxlen = c.arg(0), c.arg(1) & 0xFFFF, _int(c.arg(2))
    if not s:
        return 0
    out = wctomb(wc, maxlen)
    if out is None:
        return -1
    c.write(s, out)
    return len(out)


def _utf8_wcstombs(c) -> int:
    s, pwcs, maxlen = c.arg(0), c.arg(1), _int(c.arg(2))
    op, ip = s, pwcs
    while maxlen > 0:
        wc = peek(c, ip, 2)
        if not wc:
            break
        if wc > 0x7F:
            out = wctomb(wc, maxlen)
            if out is None:
                maxlen -= 1
            else:
                c.write(op, out)
                op, maxlen = op + len(out), maxlen - len(out)
        else:
            c.write(op, bytes([wc]))
            op += 1
        ip += 2
    return op - s


FUNCTIONS: tuple[tuple[str, Callable], ...] = (
    ("register_nls", _register_nls),
    ("unregister_nls", _unregister_nls),
    ("load_nls", _load_nls),
    ("unload_nls", _unload_nls),
    ("utf8_mbtowc", _utf8_mbtowc),
    ("utf8_mbstowcs", _utf8_mbstowcs),
    ("utf8_wctomb", _utf8_wctomb),
    ("utf8_wcstombs", _utf8_wcstombs),
    ("try_inc_mod_count", lambda c: try_inc_mod_count(c, c.arg(0))),
)
