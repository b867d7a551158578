"""Kernel symbol sources: one :class:`SymbolTable` from whatever the kernel offers.

Accepted line formats, detected per line:

* 2.4 ``/proc/ksyms``: ``c0123456 printk_R1b7d4074`` and ``c8801000 foo\t[mod]``
* ``/proc/kallsyms`` and ``System.map``: ``c0123456 T printk`` (+ ``\t[mod]``)

Versioned names (``_R`` + 8 hex digits, or ``_Rsmp_`` + 8 hex) match their
unversioned form in both directions, as modutils' ``ncv_strcmp`` did.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .errors import SymbolError

_VERSION_SUFFIX = re.compile(r"_R(?:smp_)?[0-9a-fA-F]{8}$")
_HEX = re.compile(r"[0-9a-fA-F]+")

# nm type letters that are not definitions a module could link against.
_SKIPPED_TYPES = frozenset("UNnw-?")


@dataclass(frozen=True)
class KernelSymbol:
    """One symbol the kernel (or a loaded module) provides."""

    name: str
    value: int
    module: str | None = None  # None: the kernel itself
    exported: bool = True  # False for a local symbol from System.map/kallsyms


def strip_version(name: str) -> str:
    """``printk_R1b7d4074`` -> ``printk``; unversioned names come back unchanged."""
    m = _VERSION_SUFFIX.search(name)
    return name[: m.start()] if m else name


class SymbolTable:
    """Name -> :class:`KernelSymbol`, with version-insensitive lookup.

    When a name occurs twice, an exported (global) symbol wins over a local
    one; among equals the first one read wins, as in /proc/ksyms order.
    """

    def __init__(self, symbols: Iterable[KernelSymbol] = ()) -> None:
        self._by_name: dict[str, KernelSymbol] = {}
        self._by_base: dict[str, KernelSymbol] = {}
        for sym in symbols:
            self.add(sym)

    def add(self, sym: KernelSymbol) -> None:
        for index, key in ((self._by_name, sym.name), (self._by_base, strip_version(sym.name))):
            old = index.get(key)
            if old is None or (sym.exported and not old.exported):
                index[key] = sym

    def lookup(self, name: str) -> KernelSymbol | None:
        """Exact name first, then the versioned/unversioned twin."""
        sym = self._by_name.get(name)
        if sym is None:
            base = strip_version(name)
            sym = self._by_base.get(base)
            # Both sides versioned with different CRCs: the interface changed, and
            # modutils only compared without versions when one side had none.
            if sym is not None and base != name and strip_version(sym.name) != sym.name:
                return None
        return sym

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.lookup(name) is not None

    def __len__(self) -> int:
        return len(self._by_name)

    def __iter__(self) -> Iterator[KernelSymbol]:
        return iter(self._by_name.values())

    def merged(self, other: Iterable[KernelSymbol]) -> SymbolTable:
        """A new table: this one's symbols first, then ``other``'s."""
        table = SymbolTable(self)
        for sym in other:
            table.add(sym)
        return table

    @property
    def using_versions(self) -> bool:
        """True when the kernel exports ``Using_Versions`` (CONFIG_MODVERSIONS)."""
        return "Using_Versions" in self._by_name


def parse_symbols(text: str, source: str = "<symbols>") -> SymbolTable:
    """Parse any of the accepted formats; a malformed line is a :class:`SymbolError`."""
    table = SymbolTable()
    any_nonzero = False
    count = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        module = None
        if len(fields) >= 2 and fields[-1].startswith("[") and fields[-1].endswith("]"):
            module = fields.pop()[1:-1] or None
        try:
            if not _HEX.fullmatch(fields[0]):  # int() would take "-5", "0x1", "c0_10"
                raise ValueError(fields[0])
            value = int(fields[0], 16)
        except (ValueError, IndexError):
            reason = f"line {lineno}: not a symbol line: {raw[:60]!r}"
            raise SymbolError(reason, file=source) from None
        if len(fields) == 2:
            kind, name = "T", fields[1]
        elif len(fields) == 3 and len(fields[1]) == 1:
            kind, name = fields[1], fields[2]
        else:
            raise SymbolError(f"line {lineno}: not a symbol line: {raw[:60]!r}", file=source)
        count += 1
        if kind in _SKIPPED_TYPES:
            continue
        any_nonzero = any_nonzero or value != 0
        table.add(KernelSymbol(name, value, module, exported=kind.isupper()))
    if count and not len(table):
        raise SymbolError(
            "no symbol definitions, only undefined 'U' lines (nm output of an object?)",
            file=source,
        )
    if count and not any_nonzero:
        raise SymbolError(
            "every address is 0 (hidden by kptr_restrict?): read it as root or use System.map",
            file=source,
        )
    return table


def load_symbols(path: str | os.PathLike[str]) -> SymbolTable:
    """Read a symbol file (``/proc/ksyms``, ``/proc/kallsyms``, ``System.map``, ...)."""
    name = os.fspath(path)
    try:
        with open(name, encoding="ascii", errors="strict") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise SymbolError("not a text symbol file", file=name) from None
    except OSError as exc:
        raise SymbolError(exc.strerror or str(exc), file=name) from None
    if not text.strip():
        raise SymbolError("empty symbol file", file=name)
    return parse_symbols(text, name)


def format_ksyms(symbols: Iterable[KernelSymbol], word_size: int = 4) -> str:
    """Render symbols the way 2.4's /proc/ksyms printed them."""
    width = word_size * 2
    lines = []
    for sym in symbols:
        line = f"{sym.value:0{width}x} {sym.name}"
        if sym.module:
            line += f"\t[{sym.module}]"
        lines.append(line)
    return "".join(f"{line}\n" for line in lines)
