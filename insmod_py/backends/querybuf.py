"""What 2.4's ``query_module`` hands back, decoded once for every real-kernel backend.

A backend supplies ``query(name, which) -> (buffer, *ret)`` (its own ENOSPC retry
included); these functions turn the buffers into names, ``module_info``, symbols,
the ``/proc/modules`` rows and the symbol table a load links against.  Every
count and offset from the kernel is checked before use.
"""

from __future__ import annotations

import errno as E
import struct
from collections.abc import Callable, Iterable

from .. import modstruct as ms
from ..errors import KernelError
from ..ksyms import KernelSymbol, SymbolTable
from ..modstruct import QM_DEPS, QM_INFO, QM_MODULES, QM_REFS, QM_SYMBOLS
from .base import ModuleInfo

Query = Callable[[str | None, int], tuple[bytes, int]]


def names(data: bytes, count: int) -> list[str]:
    """QM_MODULES, QM_DEPS, QM_REFS: ``count`` NUL-terminated names."""
    return [n.decode("latin-1") for n in data.split(b"\0")[:count]]


def info(word: int, data: bytes, name: str) -> tuple[int, int, int, int]:
    """QM_INFO: ``struct module_info`` -> (addr, size, flags, usecount)."""
    if len(data) < ms.sizeof(word, "module_info"):
        raise KernelError("query_module", E.EINVAL, f"short QM_INFO for {name}")
    row = ms.parse(word, "module_info", data)
    return row["addr"], row["size"], row["flags"], row["usecount"]


def symbols(word: int, data: bytes, nsyms: int, owner: str | None) -> list[KernelSymbol]:
    """QM_SYMBOLS: ``nsyms`` (value, name offset) word pairs, then the strings."""
    pair = struct.Struct("<2" + ms.WORD_FORMAT[word])
    if nsyms * pair.size > len(data):
        raise KernelError("query_module", E.EINVAL, f"QM_SYMBOLS count {nsyms} too large")
    out = []
    for value, offset in pair.iter_unpack(data[: nsyms * pair.size]):
        if offset >= len(data):
            raise KernelError("query_module", E.EINVAL, f"symbol name offset {offset:#x}")
        end = data.find(b"\0", offset)
        out.append(KernelSymbol(data[offset : end if end >= 0 else len(data)].decode("latin-1"),
                                value, owner))  # fmt: skip
    return out


def modules(query: Query, word: int) -> list[ModuleInfo]:
    """QM_MODULES, then QM_INFO, QM_REFS and QM_DEPS per module (newest first)."""
    result = []
    for name in names(*query(None, QM_MODULES)):
        try:
            addr, size, flags, usecount = info(word, query(name, QM_INFO)[0], name)
            refs = tuple(names(*query(name, QM_REFS)))
            deps = tuple(names(*query(name, QM_DEPS)))
        except KernelError as exc:
            if exc.errno == E.ENOENT:  # removed while we were looking, as modutils did
                continue
            raise
        result.append(ModuleInfo(name, addr, size, flags, usecount, refs, deps))
    return result


def symbol_table(query: Query, word: int, kernel: Iterable[KernelSymbol]) -> SymbolTable:
    """Module exports (newest module first) then ``kernel``'s, as /proc/ksyms lists them."""
    table = SymbolTable()
    for module in names(*query(None, QM_MODULES)):
        try:
            data, nsyms = query(module, QM_SYMBOLS)
        except KernelError as exc:
            if exc.errno == E.ENOENT:
                continue
            raise
        for sym in symbols(word, data, nsyms, module):
            table.add(sym)
    for sym in kernel:
        table.add(sym)
    return table
