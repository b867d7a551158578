"""printk and the sprintf family (the format interpreter is ``printf.py``), panic."""

from __future__ import annotations

from ..printf import vsprintf
from .call import Call
from .runtime import KernelRuntime, Oops
from .strings import read_string

KERN_ALERT, KERN_ERR, KERN_WARNING, KERN_INFO = "<1>", "<3>", "<4>", "<6>"  # log levels
PRINTK_BUF = 1024  # 2.4's static printk_buf: longer messages are truncated


def log_text(rt: KernelRuntime, text: bytes) -> None:
    """2.4's vprintk loop: a line without "<N>" gets "<4>"; lines continue across calls."""
    s = text.decode("utf-8", "backslashreplace")
    i = 0
    while i < len(s):
        if not rt.pending:
            lvl = s[i : i + 3]
            if not (len(lvl) == 3 and lvl[0] == "<" and lvl[1] in "01234567" and lvl[2] == ">"):
                rt.pending = "<4>"
        j = s.find("\n", i)
        if j < 0:
            rt.pending += s[i:]
            return
        rt.log.append(rt.pending + s[i:j])
        rt.pending = ""
        i = j + 1


def _fmt(c: Call, addr: int) -> bytes:
    return read_string(c, addr, 64 * 1024)


def _printk(c: Call) -> int:
    text = vsprintf(_fmt(c, c.arg(0)), c.varargs(1))
    log_text(c.runtime, text[: PRINTK_BUF - 1])
    return len(text)


def _store(c: Call, buf: int, text: bytes, size: int | None) -> int:
    """Write ``text`` as sprintf (size None) or snprintf (NUL-terminated within size)."""
    if size is None:
        c.write(buf, text + b"\0")
    elif size > 0:
        c.write(buf, text[: size - 1] + b"\0")
    return len(text)


def _sprintf(c: Call) -> int:
    return _store(c, c.arg(0), vsprintf(_fmt(c, c.arg(1)), c.varargs(2)), None)


def _snprintf(c: Call) -> int:
    size = c.arg(1)
    return _store(c, c.arg(0), vsprintf(_fmt(c, c.arg(2)), c.varargs(3)), size)


def _vsprintf(c: Call) -> int:
    return _store(c, c.arg(0), vsprintf(_fmt(c, c.arg(1)), c.va_list(c.arg(2))), None)


def _vsnprintf(c: Call) -> int:
    size = c.arg(1)
    return _store(c, c.arg(0), vsprintf(_fmt(c, c.arg(2)), c.va_list(c.arg(3))), size)


def _panic(c: Call) -> int:
    text = vsprintf(_fmt(c, c.arg(0)), c.varargs(1)).decode("utf-8", "backslashreplace")
    log_text(c.runtime, b"\n" if c.runtime.pending else b"")
    log_text(c.runtime, f"<0>Kernel panic: {text.rstrip()}\n".encode())
    raise Oops(f"Kernel panic: {text.rstrip()} (called from {c.where(c.caller)})")
