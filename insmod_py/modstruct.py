"""The Linux 2.4 module structures, for a word size of 4 (i386) or 8 (x86_64).

One field table per C struct (``include/linux/module.h`` of 2.4, plus Zippel's
``struct module_new``) gives both the offsets (natural ILP32/LP64 alignment,
computed here without ``construct``) and the little-endian ``construct``
definitions, which are built on first use and cached: importing this module is
cheap.  ``tests/test_modstruct.py`` checks every offset and size against gcc.
"""

from __future__ import annotations

import struct as _struct
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

# -- flags and query_module constants (2.4 include/linux/module.h) ---------------------------

MOD_UNINITIALIZED = 0
MOD_RUNNING = 1
MOD_DELETED = 2
MOD_AUTOCLEAN = 4
MOD_VISITED = 8
MOD_USED_ONCE = 16
MOD_JUST_FREED = 32
MOD_INITIALIZING = 64

QM_MODULES = 1
QM_DEPS = 2
QM_REFS = 3
QM_SYMBOLS = 4
QM_INFO = 5

KERNEL_SYM_NAME_LEN = 60  # struct kernel_sym { unsigned long value; char name[60]; }

# /proc/sys/kernel/tainted bits (2.4.10+), as lsmod shows them.
TAINT_PROPRIETARY = 1  # "P": a module without a GPL-compatible license (or none)
TAINT_FORCED = 2  # "F": loaded with insmod -f over a version mismatch
WORD_SIZES = (4, 8)
WORD_FORMAT = {4: "I", 8: "Q"}  # the struct/array code of an unsigned long

# -- field tables -------------------------------------------------------------------------
# Kinds: ulong/long/ptr are one word; uint/int are 4 bytes; "atomic" is 2.4's
# ``union { atomic_t usecount; long pad; } uc``: a 4-byte int in a word-sized slot;
# "char60" is kernel_sym's name array.

_MODULE = (
    ("size_of_struct", "ulong"),
    ("next", "ptr"),
    ("name", "ptr"),
    ("size", "ulong"),
    ("usecount", "atomic"),
    ("flags", "ulong"),
    ("nsyms", "uint"),
    ("ndeps", "uint"),
    ("syms", "ptr"),
    ("deps", "ptr"),
    ("refs", "ptr"),
    ("init", "ptr"),
    ("cleanup", "ptr"),
    ("ex_table_start", "ptr"),
    ("ex_table_end", "ptr"),
    ("persist_start", "ptr"),
    ("persist_end", "ptr"),
    ("can_unload", "ptr"),
    ("runsize", "int"),
    ("kallsyms_start", "ptr"),
    ("kallsyms_end", "ptr"),
    ("archdata_start", "ptr"),
    ("archdata_end", "ptr"),
    ("kernel_data", "ptr"),
)

STRUCTS: dict[str, tuple[tuple[str, str], ...]] = {
    "module": _MODULE,
    # Zippel 2002: struct module_new { struct module old_module; syms_end; arg; }
    "module_new": (*_MODULE, ("syms_end", "ptr"), ("arg", "ptr")),
    "module_symbol": (("value", "ulong"), ("name", "ptr")),
    "module_ref": (("dep", "ptr"), ("ref", "ptr"), ("next_ref", "ptr")),
    "exception_table_entry": (("insn", "ulong"), ("fixup", "ulong")),
    "kernel_sym": (("value", "ulong"), ("name", "char60")),
    "module_info": (("addr", "ulong"), ("size", "ulong"), ("flags", "ulong"), ("usecount", "long")),
}


def _kind_size_align(kind: str, word_size: int) -> tuple[int, int]:
    if kind in ("ulong", "long", "ptr", "atomic"):
        return word_size, word_size
    if kind in ("uint", "int"):
        return 4, 4
    if kind == "char60":
        return KERNEL_SYM_NAME_LEN, 1
    raise ValueError(f"unknown field kind {kind!r}")


def _check_word(word_size: int) -> None:
    if word_size not in WORD_SIZES:
        raise ValueError(f"word size must be 4 or 8, not {word_size!r}")


@dataclass(frozen=True)
class Field:
    """One member of a struct: where it is and how wide."""

    name: str
    kind: str
    offset: int
    size: int


@dataclass(frozen=True)
class StructLayout:
    """A C struct laid out for one word size."""

    name: str
    word_size: int
    fields: tuple[Field, ...]
    size: int  # sizeof, tail padding included

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"struct {self.name} has no member {name!r}")


@cache
def layout(word_size: int, struct: str = "module") -> StructLayout:
    """Offsets of ``struct`` with natural alignment (what gcc does for i386 and x86_64)."""
    _check_word(word_size)
    offset = 0
    max_align = 1
    fields = []
    for name, kind in STRUCTS[struct]:
        size, align = _kind_size_align(kind, word_size)
        offset = -(-offset // align) * align
        fields.append(Field(name, kind, offset, size))
        offset += size
        max_align = max(max_align, align)
    total = -(-offset // max_align) * max_align
    return StructLayout(struct, word_size, tuple(fields), total)


def offsetof(word_size: int, field: str, struct: str = "module") -> int:
    """``offsetof(struct <struct>, <field>)``."""
    return layout(word_size, struct).field(field).offset


def sizeof(word_size: int, struct: str = "module") -> int:
    """``sizeof(struct <struct>)``."""
    return layout(word_size, struct).size


def sizeof_module(word_size: int) -> int:
    """``sizeof(struct module)``: 96 on i386, 184 on x86_64."""
    return sizeof(word_size, "module")


def sizeof_module_new(word_size: int) -> int:
    """``sizeof(struct module_new)``: 104 on i386, 200 on x86_64."""
    return sizeof(word_size, "module_new")


def member_end(word_size: int, field: str) -> int:
    """``offsetof + sizeof`` of a struct module member: 2.4's ``mod_member_present`` bound."""
    f = layout(word_size, "module").field(field)
    return f.offset + f.size


# -- construct definitions (built lazily, cached) ------------------------------------------


def _construct_field(kind: str, word_size: int) -> Any:
    import construct as c

    word_u = c.Int32ul if word_size == 4 else c.Int64ul
    word_s = c.Int32sl if word_size == 4 else c.Int64sl
    if kind in ("ulong", "ptr"):
        return word_u
    if kind == "long":
        return word_s
    if kind == "uint":
        return c.Int32ul
    if kind == "int":
        return c.Int32sl
    if kind == "atomic":  # atomic_t (int) in the low bytes of the word-sized union
        return c.Int32sl if word_size == 4 else c.Struct("v" / c.Int32sl, c.Padding(4))
    if kind == "char60":
        return c.Bytes(KERNEL_SYM_NAME_LEN)  # raw bytes: names are not always ASCII
    raise ValueError(kind)


@cache
def struct_for(word_size: int, struct: str = "module") -> Any:
    """The ``construct.Struct`` of ``struct`` (padding included, so sizeof matches C)."""
    import construct as c

    lay = layout(word_size, struct)
    members: list[Any] = []
    pos = 0
    for f in lay.fields:
        if f.offset > pos:
            members.append(c.Padding(f.offset - pos))
        sub = _construct_field(f.kind, word_size)
        if f.kind == "atomic" and word_size == 8:
            # flatten: expose "usecount" as an int, keep the 4 pad bytes
            members.append(f.name / c.Int32sl)
            members.append(c.Padding(4))
        else:
            members.append(f.name / sub)
        pos = f.offset + f.size
    if lay.size > pos:
        members.append(c.Padding(lay.size - pos))
    return c.Struct(*members)


# -- build / parse helpers -------------------------------------------------------------------


def _defaults(struct: str) -> dict[str, Any]:
    return {name: (b"" if kind == "char60" else 0) for name, kind in STRUCTS[struct]}


def _char60(value: str | bytes) -> bytes:
    """2.4's strncpy + forced NUL: at most 59 bytes of name, zero padded."""
    raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)
    raw = raw[: KERNEL_SYM_NAME_LEN - 1]
    return raw + bytes(KERNEL_SYM_NAME_LEN - len(raw))


@cache
def _packer(word_size: int, struct: str) -> _struct.Struct | None:
    """A ``struct.Struct`` with the same layout, for structs of plain integers.

    The loader builds headers and whole tables (a 4700-entry export table) on
    every load, and the simulated kernel reads them back; packing and unpacking
    from the same field table with ``struct`` avoids importing construct and its
    per-object cost on that path.  The construct definitions stay the
    description; a test checks that both give the same bytes and values.
    """
    lay = layout(word_size, struct)
    fmt, pos = "<", 0
    for f in lay.fields:
        if f.kind == "char60":
            return None
        fmt += "x" * (f.offset - pos)
        if f.kind == "atomic":  # atomic_t in the low 4 bytes of a word-sized union
            fmt += "i" + "x" * (word_size - 4)
        else:
            code = {4: "i", 8: "q"}[f.size]
            fmt += code if f.kind in ("long", "int") else code.upper()
        pos = f.offset + f.size
    return _struct.Struct(fmt + "x" * (lay.size - pos))


def _values(struct: str, fields: Mapping[str, Any] | None, kw: Mapping[str, Any]) -> dict:
    values = _defaults(struct)
    for key, value in {**(fields or {}), **kw}.items():
        if key not in values:
            raise KeyError(f"struct {struct} has no member {key!r}")
        values[key] = value
    return values


def build(word_size: int, struct: str, fields: Mapping[str, Any] | None = None, **kw: Any) -> bytes:
    """Bytes of one ``struct``; members not given are 0.  Unknown names raise KeyError."""
    values = _values(struct, fields, kw)
    packer = _packer(word_size, struct)
    if packer is not None:
        return pack_values(packer, [values[name] for name, _ in STRUCTS[struct]])
    for name, kind in STRUCTS[struct]:
        if kind == "char60":
            values[name] = _char60(values[name])
    return build_with_construct(word_size, struct, values)


def build_with_construct(word_size: int, struct: str, values: Mapping[str, Any]) -> bytes:
    """The construct definition's bytes for complete ``values`` (the reference builder)."""
    return struct_for(word_size, struct).build(dict(values))


def pack_values(packer: _struct.Struct, row: list[Any]) -> bytes:
    try:
        return packer.pack(*row)
    except _struct.error as exc:  # same contract as construct: a value that does not fit
        raise ValueError(f"struct member out of range: {exc}") from None


def parse(word_size: int, struct: str, data: bytes, offset: int = 0) -> dict[str, Any]:
    """Members of one ``struct`` read from ``data[offset:]`` (ValueError if too short)."""
    size = sizeof(word_size, struct)
    chunk = bytes(data[offset : offset + size])
    if len(chunk) < size:
        raise ValueError(f"struct {struct} needs {size} bytes, {len(chunk)} available")
    packer = _packer(word_size, struct)
    if packer is not None:  # the simulated kernel reads a header per module per syscall
        return dict(zip((name for name, _ in STRUCTS[struct]), packer.unpack(chunk), strict=True))
    return parse_with_construct(word_size, struct, chunk)


def parse_with_construct(word_size: int, struct: str, chunk: bytes) -> dict[str, Any]:
    """The construct definition's members of ``chunk`` (the reference parser)."""
    parsed = struct_for(word_size, struct).parse(chunk)
    out = {name: parsed[name] for name, _ in STRUCTS[struct]}
    for name, kind in STRUCTS[struct]:
        if kind == "char60":  # bytes up to the NUL
            out[name] = out[name].split(b"\0", 1)[0]
    return out


def build_module(word_size: int, fields: Mapping[str, Any] | None = None, **kw: Any) -> bytes:
    """A 2.4 ``struct module`` header."""
    return build(word_size, "module", fields, **kw)


def build_module_new(word_size: int, fields: Mapping[str, Any] | None = None, **kw: Any) -> bytes:
    """Zippel's ``struct module_new`` (``size_of_struct``/``size`` 0 unless given)."""
    return build(word_size, "module_new", fields, **kw)


def parse_module(word_size: int, data: bytes, offset: int = 0) -> dict[str, Any]:
    """Members of a ``struct module`` header."""
    return parse(word_size, "module", data, offset)


def parse_module_new(word_size: int, data: bytes, offset: int = 0) -> dict[str, Any]:
    """Members of a ``struct module_new`` header."""
    return parse(word_size, "module_new", data, offset)


def build_array(word_size: int, struct: str, rows: list[Mapping[str, Any]]) -> bytes:
    """Consecutive ``struct`` entries (a ``__ksymtab``, ``.kmodtab``, ``__ex_table``...)."""
    packer = _packer(word_size, struct)
    if packer is None:
        return b"".join(build(word_size, struct, row) for row in rows)
    names = [name for name, _ in STRUCTS[struct]]
    out = bytearray(packer.size * len(rows))
    for i, row in enumerate(rows):
        values = _values(struct, row, {})
        try:
            packer.pack_into(out, i * packer.size, *[values[n] for n in names])
        except _struct.error as exc:
            raise ValueError(f"struct member out of range: {exc}") from None
    return bytes(out)


def pack_word(word_size: int, value: int) -> bytes:
    """One unsigned long, little endian (value taken modulo 2**bits)."""
    return (value & ((1 << (8 * word_size)) - 1)).to_bytes(word_size, "little")


def unpack_word(word_size: int, data: bytes, offset: int = 0) -> int:
    """One unsigned long, little endian."""
    return int.from_bytes(data[offset : offset + word_size], "little")
