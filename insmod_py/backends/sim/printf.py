"""The 2.4 kernel's vsnprintf (lib/vsprintf.c), over guest arguments and guest strings.

Pure Python: the caller supplies how to fetch the next integer argument and how
to read a C string, so the same formatter serves printk, sprintf and snprintf
on i386 (cdecl stack words) and x86_64 (SysV registers, then stack).

Semantics follow 2.4, not glibc, where they differ: ``%p`` is zero-padded to
``2*sizeof(void *)`` hex digits, ``%s`` of NULL prints ``<NULL>``, ``%#x`` of 0
prints ``0x0``, the ``0`` flag still pads when a precision is given, and an
unknown conversion is copied out as ``%`` plus the character.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

ZEROPAD, SIGN, PLUS, SPACE, LEFT, SPECIAL, LARGE = 1, 2, 4, 8, 16, 32, 64

_SMALL = b"0123456789abcdefghijklmnopqrstuvwxyz"
_LARGE = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# Longest %s we will read from the guest: far beyond printk's 1 KiB buffer,
# small enough that an unterminated pointer cannot make us loop for long.
STRING_LIMIT = 64 * 1024


@dataclass(frozen=True)
class ArgSource:
    """How the formatter gets its variable arguments.

    ``next_int(bits)`` returns the next argument as an unsigned integer of
    ``bits`` (32 or 64) bits; on i386 a 64-bit argument takes two stack words,
    on x86_64 every argument takes one 64-bit slot.
    ``read_string(addr, limit)`` returns the bytes of the C string at ``addr``
    (without its NUL, at most ``limit`` bytes) or None if it is not readable.
    ``write_int(addr, value, size)`` serves ``%n`` (None: ``%n`` is ignored).
    """

    next_int: Callable[[int], int]
    read_string: Callable[[int, int], bytes | None]
    word_bits: int  # 32 on i386, 64 on x86_64: the size of long and of a pointer
    write_int: Callable[[int, int, int], None] | None = None


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def number(num: int, base: int, size: int, precision: int, flags: int) -> bytes:
    """2.4's number(): ``num`` already signed or unsigned as the conversion wants."""
    digits = _LARGE if flags & LARGE else _SMALL
    if flags & LEFT:
        flags &= ~ZEROPAD
    pad = b"0" if flags & ZEROPAD else b" "
    sign = b""
    if flags & SIGN:
        if num < 0:
            sign, num = b"-", -num
            size -= 1
        elif flags & PLUS:
            sign = b"+"
            size -= 1
        elif flags & SPACE:
            sign = b" "
            size -= 1
    if flags & SPECIAL:
        size -= 2 if base == 16 else 1 if base == 8 else 0
    tmp = bytearray()
    if num == 0:
        tmp.append(ord("0"))
    while num:
        num, d = divmod(num, base)
        tmp.append(digits[d])
    tmp.reverse()
    precision = max(precision, len(tmp))
    size -= precision
    out = bytearray()
    if not flags & (ZEROPAD | LEFT) and size > 0:
        out += b" " * size
        size = 0
    out += sign
    if flags & SPECIAL:
        out += b"0" if base == 8 else (b"0" + digits[33:34]) if base == 16 else b""
    if not flags & LEFT and size > 0:
        out += pad * size
        size = 0
    out += b"0" * (precision - len(tmp))
    out += tmp
    if size > 0:
        out += b" " * size
    return bytes(out)


def _atoi(fmt: bytes, i: int) -> tuple[int, int]:
    n = 0
    while i < len(fmt) and 48 <= fmt[i] <= 57:
        n = n * 10 + fmt[i] - 48
        i += 1
    return n, i


def vsprintf(fmt: bytes, args: ArgSource) -> bytes:
    """Format ``fmt`` as 2.4's vsnprintf would with an unbounded buffer.

    ``fmt`` ends at its first NUL, as a C string does.
    """
    nul = fmt.find(b"\0")
    if nul >= 0:
        fmt = fmt[:nul]
    out = bytearray()
    i, n = 0, len(fmt)
    wb = args.word_bits
    while i < n:
        c = fmt[i]
        if c != 0x25:  # '%'
            j = fmt.find(b"%", i)
            j = n if j < 0 else j
            out += fmt[i:j]
            i = j
            continue
        i += 1
        flags = 0
        while i < n:
            f = fmt[i : i + 1]
            bit = {b"-": LEFT, b"+": PLUS, b" ": SPACE, b"#": SPECIAL, b"0": ZEROPAD}.get(f)
            if bit is None:
                break
            flags |= bit
            i += 1
        width = -1
        if i < n and 48 <= fmt[i] <= 57:
            width, i = _atoi(fmt, i)
        elif i < n and fmt[i] == 0x2A:  # '*'
            i += 1
            width = _signed(args.next_int(32), 32)
            if width < 0:
                width, flags = -width, flags | LEFT
        precision = -1
        if i < n and fmt[i] == 0x2E:  # '.'
            i += 1
            if i < n and 48 <= fmt[i] <= 57:
                precision, i = _atoi(fmt, i)
            elif i < n and fmt[i] == 0x2A:
                i += 1
                precision = _signed(args.next_int(32), 32)
            precision = max(precision, 0)
        qualifier = ""
        if i < n and chr(fmt[i]) in "hlLZz":
            qualifier = chr(fmt[i])
            i += 1
            if qualifier == "l" and i < n and fmt[i] == 0x6C:  # "ll"
                qualifier = "L"
                i += 1
        if i >= n:  # a lone '%' at the end: 2.4 writes the '%' and stops
            out += b"%"
            break
        conv = chr(fmt[i])
        i += 1
        base = 10
        if conv == "c":
            ch = args.next_int(32) & 0xFF
            pad = b" " * max(width - 1, 0)
            out += bytes([ch]) + pad if flags & LEFT else pad + bytes([ch])
            continue
        if conv == "s":
            addr = args.next_int(wb)
            limit = STRING_LIMIT if precision < 0 else min(precision, STRING_LIMIT)
            if addr == 0:
                s = b"<NULL>"[:limit]
            else:
                got = args.read_string(addr, limit)
                s = b"(efault)" if got is None else got
            pad = b" " * max(width - len(s), 0)
            out += s + pad if flags & LEFT else pad + s
            continue
        if conv == "p":
            if width == -1:
                width, flags = wb // 4, flags | ZEROPAD
            out += number(args.next_int(wb), 16, width, precision, flags)
            continue
        if conv == "n":
            addr = args.next_int(wb)
            if args.write_int is not None:
                size = {"l": wb // 8, "L": 8, "Z": wb // 8, "z": wb // 8, "h": 2}.get(qualifier, 4)
                args.write_int(addr, len(out), size)
            continue
        if conv == "%":
            out += b"%"
            continue
        if conv == "o":
            base = 8
        elif conv == "X":
            flags |= LARGE
            base = 16
        elif conv == "x":
            base = 16
        elif conv in "di":
            flags |= SIGN
        elif conv != "u":
            out += b"%" + conv.encode("latin-1")
            continue
        bits = {"L": 64, "l": wb, "Z": wb, "z": wb, "h": 16}.get(qualifier, 32)
        num = args.next_int(64 if bits == 64 else wb if bits == wb else 32)
        num &= (1 << bits) - 1
        if flags & SIGN:
            num = _signed(num, bits)
        out += number(num, base, width, precision, flags)
    return bytes(out)
