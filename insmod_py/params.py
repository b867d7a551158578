"""Module parameters as 2.4 did them: ``MODULE_PARM(var, "type")`` and ``var=value``.

Type grammar (2.4 ``include/linux/module.h`` plus modutils' ``c``):
``[min[-max]]{b,h,i,l,s,c<N>}`` — byte, short, int, long, string pointer,
char array of N bytes; ``min``/``max`` bound the number of comma-separated
elements (default 1-1; a lone ``min`` means exactly that many at most).
Numbers are read like ``strtoul(p, &p, 0)`` (``0x`` hex, leading ``0`` octal)
and must fit their element.  Strings may be double-quoted with C escapes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import UsageError

_TYPE = re.compile(r"^(?:(\d+)(?:-(\d+))?)?([bhilsc])(\d*)$")
_ESCAPES = {"a": "\a", "b": "\b", "e": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_KIND_NAMES = {"b": "byte", "h": "short", "i": "int", "l": "long", "s": "string", "c": "char array"}


@dataclass(frozen=True)
class ParamType:
    min: int
    max: int
    kind: str  # one of b h i l s c
    elem_size: int  # bytes per element in the module's memory

    def describe(self) -> str:
        count = f"{self.min}" if self.min == self.max else f"{self.min}-{self.max}"
        size = f"[{self.elem_size}]" if self.kind == "c" else ""
        return f"{_KIND_NAMES[self.kind]}{size}" + ("" if count == "1" else f" x {count}")


@dataclass(frozen=True)
class Assignment:
    """A parameter value ready to be written at its variable's address."""

    name: str
    type: ParamType
    data: bytes = b""  # element bytes for b/h/i/l/c
    strings: tuple[bytes, ...] = ()  # for s: NUL-terminated copies whose addresses are stored


def parse_type(name: str, spec: str, word_size: int) -> ParamType:
    m = _TYPE.match(spec)
    if m is None:
        kind = spec.lstrip("0123456789-")[:1] or spec
        raise UsageError(f"unknown parameter type '{kind}' for {name}")
    lo_text, hi_text, kind, size_text = m.groups()
    lo = int(lo_text) if lo_text else 1
    hi = int(hi_text) if hi_text else lo
    if hi < lo:
        raise UsageError(f"parameter {name}: bad element range {spec!r}")
    if kind == "c":
        if not size_text or int(size_text) == 0:
            raise UsageError(f"parameter type 'c' for {name} must be followed by the maximum size")
        elem = int(size_text)
    elif size_text:
        raise UsageError(f"invalid parameter type {spec!r} for {name}")
    else:
        elem = {"b": 1, "h": 2, "i": 4, "l": word_size, "s": word_size}[kind]
    return ParamType(lo, hi, kind, elem)


def _split_values(name: str, text: str) -> list[str]:
    """Comma-separated elements; double quotes protect commas and allow C escapes."""
    values: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                if text[i] == "\\" and i + 1 < len(text):
                    i += 1
                    octal = re.match(r"[0-7]{1,3}", text[i:])
                    if octal:
                        current.append(chr(int(octal.group(), 8)))
                        i += len(octal.group())
                        continue
                    current.append(_ESCAPES.get(text[i], text[i]))
                else:
                    current.append(text[i])
                i += 1
            if i >= len(text):
                raise UsageError(f"unterminated string for {name}")
            i += 1
        elif ch == ",":
            values.append("".join(current))
            current = []
            i += 1
        else:
            current.append(ch)
            i += 1
    values.append("".join(current))
    return values


def _number(name: str, text: str, ptype: ParamType) -> int:
    t = text.strip()
    neg = t.startswith("-")
    digits = t[1:] if neg or t.startswith("+") else t
    try:
        if digits[:2].lower() == "0x":
            value = int(digits[2:], 16)
        elif len(digits) > 1 and digits.startswith("0"):
            value = int(digits[1:], 8)
        else:
            value = int(digits, 10)
    except ValueError:
        raise UsageError(f"invalid value {text!r} for {name} ({_KIND_NAMES[ptype.kind]})") from None
    value = -value if neg else value
    bits = ptype.elem_size * 8
    if not -(1 << (bits - 1)) <= value < (1 << bits):
        raise UsageError(f"value {text} out of range for {name} ({_KIND_NAMES[ptype.kind]})")
    return value & ((1 << bits) - 1)


def parse_assignment(arg: str, declared: Mapping[str, str], word_size: int) -> Assignment:
    name, eq, text = arg.partition("=")
    if name not in declared:
        raise UsageError(f"invalid parameter {name}")
    ptype = parse_type(name, declared[name], word_size)
    if not eq:
        if ptype.kind != "b":
            raise UsageError(f"parameter {name} needs a value ({name}=...)")
        text = "1"  # busybox: a bare byte parameter means 1
    values = _split_values(name, text)
    if len(values) > ptype.max:
        raise UsageError(f"too many values for {name} (max {ptype.max})")
    if len(values) < ptype.min:
        raise UsageError(f"too few values for {name} (min {ptype.min})")
    if ptype.kind == "s":
        return Assignment(name, ptype, strings=tuple(v.encode() + b"\0" for v in values))
    if ptype.kind == "c":
        chunks = []
        for v in values:
            raw = v.encode()
            if len(raw) >= ptype.elem_size:
                raise UsageError(f"string too long for {name} (max {ptype.elem_size - 1})")
            chunks.append(raw.ljust(ptype.elem_size, b"\0"))
        return Assignment(name, ptype, data=b"".join(chunks))
    data = b"".join(_number(name, v, ptype).to_bytes(ptype.elem_size, "little") for v in values)
    return Assignment(name, ptype, data=data)


def parse_parameters(
    args: Sequence[str], declared: Mapping[str, str], word_size: int
) -> list[Assignment]:
    """Every ``name[=value]`` argument checked against the module's MODULE_PARMs."""
    return [parse_assignment(arg, declared, word_size) for arg in args]


def split_arguments(
    args: Sequence[str], declared: Mapping[str, str], word_size: int, *, raw_ok: bool = True
) -> tuple[str, list[Assignment]]:
    """The raw ``__module_args`` string, and the parameter values if the module declares any.

    A module without MODULE_PARM that reads ``__module_args`` (``raw_ok``) gets only
    the string (Zippel's interface); one with MODULE_PARM gets both, and every
    argument must then be a parameter.  A module with neither has no use for an
    argument: each is an invalid parameter, as modutils said when .modinfo had no
    ``parm_`` entry for it.
    """
    raw = " ".join(args)
    if not declared and not raw_ok and args:
        names = [arg.partition("=")[0] for arg in args]
        noun = "parameter" if len(names) == 1 else "parameters"
        raise UsageError(f"invalid {noun} {', '.join(names)} (the module declares no MODULE_PARM)")
    if not declared:
        return raw, []
    return raw, parse_parameters(args, declared, word_size)
