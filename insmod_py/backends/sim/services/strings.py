"""The mem* and str* functions, and simple_strtoul."""

from __future__ import annotations

from .call import Call
from .runtime import Oops


def _memset(c: Call) -> int:
    dst, val, n = c.arg(0), c.arg(1) & 0xFF, c.arg(2)
    c.write(dst, bytes([val]) * n)
    return dst


def _memcpy(c: Call) -> int:
    dst, src, n = c.arg(0), c.arg(1), c.arg(2)
    c.write(dst, c.read(src, n))
    return dst


def _memcmp(c: Call) -> int:
    a, b = c.read(c.arg(0), c.arg(2)), c.read(c.arg(1), c.arg(2))
    for x, y in zip(a, b, strict=True):
        if x != y:
            return x - y
    return 0


def read_string(c: Call, addr: int, limit: int = 1 << 20) -> bytes:
    s = c.cstring(addr, limit)
    if s is None:
        c.read(addr, 1)  # raises the oops naming the address
        raise Oops(f"Oops: unterminated string at {c.kernel_map.hex(addr)}")
    return s


def _strlen(c: Call) -> int:
    return len(read_string(c, c.arg(0)))


def _strnlen(c: Call) -> int:
    return len(read_string(c, c.arg(0), c.arg(1)))


def _strcpy(c: Call) -> int:
    dst = c.arg(0)
    c.write(dst, read_string(c, c.arg(1)) + b"\0")
    return dst


def _strncpy(c: Call) -> int:
    dst, n = c.arg(0), c.arg(2)
    s = read_string(c, c.arg(1), n)
    c.write(dst, s + b"\0" * (n - len(s)))  # strncpy pads with NULs, no NUL if truncated
    return dst


def _strcat(c: Call) -> int:
    dst = c.arg(0)
    c.write(dst + len(read_string(c, dst)), read_string(c, c.arg(1)) + b"\0")
    return dst


def _cmp(a: bytes, b: bytes) -> int:
    for x, y in zip(a + b"\0", b + b"\0", strict=False):
        if x != y:
            return x - y
    return 0


def _strcmp(c: Call) -> int:
    return _cmp(read_string(c, c.arg(0)), read_string(c, c.arg(1)))


def _strncmp(c: Call) -> int:
    n = c.arg(2)
    return _cmp(read_string(c, c.arg(0), n), read_string(c, c.arg(1), n)) if n else 0


def _strchr(c: Call) -> int:
    addr, ch = c.arg(0), c.arg(1) & 0xFF
    s = read_string(c, addr) + b"\0"
    i = s.find(bytes([ch]))
    return addr + i if i >= 0 else 0


_HEXDIGITS = b"0123456789abcdef"


def _strtoul(c: Call, signed: bool) -> int:
    """simple_strtoul(cp, endp, base) as in 2.4 lib/vsprintf.c."""
    addr, endp, base = c.arg(0), c.arg(1), c.arg(2)
    s = read_string(c, addr, 4096)
    i, neg = 0, False
    if signed and s[:1] == b"-":
        i, neg = 1, True
    if base == 0:
        base = 10
        if s[i : i + 1] == b"0":
            base = 8
            i += 1
            if s[i : i + 1] == b"x" and _HEXDIGITS.find(s[i + 1 : i + 2].lower()) >= 0:
                base, i = 16, i + 1
    elif base == 16 and s[i : i + 2] in (b"0x", b"0X"):
        i += 2
    val = 0
    while i < len(s):
        d = _HEXDIGITS.find(s[i : i + 1].lower()) if s[i : i + 1].strip() else -1
        if not 0 <= d < base:  # 2.4 accepts hex digits only, so base <= 16 in practice
            break
        val, i = val * base + d, i + 1
    if endp:
        c.write(endp, (addr + i).to_bytes(c.kernel_map.word, "little"))
    return -val if neg else val
