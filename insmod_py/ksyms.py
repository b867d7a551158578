"""Kernel symbol sources: one :class:`SymbolTable` from whatever the kernel offers.

Accepted line formats, detected per line:

* 2.4 ``/proc/ksyms``: ``c0123456 printk_R1b7d4074`` and ``c8801000 foo\t[mod]``
* ``/proc/kallsyms`` and ``System.map``: ``c0123456 T printk`` (+ ``\t[mod]``)

An address may carry a ``0x`` prefix, as many hand-made dumps write it.

Which name a module's reference binds is one rule, :func:`resolve_symbol`
(modutils 2.4's): a versioned name (``_R`` + 8 hex digits, or ``_Rsmp_`` + 8
hex) matches its unversioned form, in both directions as ``ncv_strcmp`` did,
only when the module and the kernel disagree about symbol checksums (see
:class:`VersionRule`); otherwise names must match exactly.  ``GPLONLY_``
exports are seen by GPL-compatible modules only.
"""

from __future__ import annotations

import operator
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import compress, repeat

from .errors import SymbolError

_VERSION_SUFFIX = re.compile(r"_R(?:smp_)?[0-9a-fA-F]{8}$")
# The same suffix at the end of each line: strip_version() on "\n"-joined names in one call.
_VERSION_SUFFIX_LINES = re.compile(r"_R(?:smp_)?[0-9a-fA-F]{8}$", re.MULTILINE)
# An address: hex digits, optionally after "0x" (as many dumps and hand-made files write them).
_HEX = re.compile(r"(?:0[xX])?[0-9a-fA-F]+")

# nm type letters that are not definitions a module could link against.
_SKIPPED_TYPES = frozenset("UNnw-?")

# Files the fast path takes whole: every line "addr [type ]name[\tmodule]\n" with single
# separators and printable ASCII, so str.split() cuts each line into the same fields as
# the per-line parser.  Names contain no "[" or "]": the per-line parser would take a
# bracketed last field for a module, and module lines are found by their final "]".
_NAME = r"[!-Z\\^-~]++"
_MODULE = r"(?:\t\[[!-Z\\^-~]*+\])?+"
_FAST_FILE = {  # fields per line (before the module) -> the whole file's shape
    3: re.compile(rf"(?:[0-9a-fA-F]++ [!-~] {_NAME}{_MODULE}\n)*+"),
    2: re.compile(rf"(?:[0-9a-fA-F]++ {_NAME}{_MODULE}\n)*+"),
}


@dataclass(frozen=True)
class KernelSymbol:
    """One symbol the kernel (or a loaded module) provides."""

    name: str
    value: int
    module: str | None = None  # None: the kernel itself
    exported: bool = True  # False for a local symbol from System.map/kallsyms


def strip_version(name: str) -> str:
    """``printk_R1b7d4074`` -> ``printk``; unversioned names come back unchanged."""
    if "_R" not in name:  # the common case, without the regex
        return name
    m = _VERSION_SUFFIX.search(name)
    return name[: m.start()] if m else name


class _Rows:
    """Parsed symbol lines kept as columns; a :class:`KernelSymbol` is made when asked for.

    A full System.map has ~100,000 symbols and a module links against a few hundred, so
    creating every object up front would cost more than the rest of the parse.
    """

    def __init__(
        self,
        names: list[str],
        addrs: list[str],
        modules: list[str] | None,  # "[mod]" or "[]" per row; None: all the kernel's
        exported: list[bool] | None,  # None: all exported
    ) -> None:
        self.names = names
        self.addrs = addrs
        self.modules = modules
        self.exported = exported
        self._made: dict[int, KernelSymbol] = {}  # one object per row, as lookups expect

    def symbol(self, row: int) -> KernelSymbol:
        sym = self._made.get(row)
        if sym is None:
            module = None if self.modules is None else self.modules[row][1:-1] or None
            sym = KernelSymbol(
                self.names[row], int(self.addrs[row], 16), module, self.is_exported(row)
            )
            sym = self._made.setdefault(row, sym)  # atomic: racing threads share one object
        return sym

    def is_exported(self, row: int) -> bool:
        return self.exported is None or self.exported[row]


# A table entry: a symbol, or the index of a row not yet made into one.
_Entry = KernelSymbol | int


class SymbolTable:
    """Name -> :class:`KernelSymbol`, with version-insensitive lookup.

    When a name occurs twice, an exported (global) symbol wins over a local
    one; among equals the first one read wins, as in /proc/ksyms order.
    """

    def __init__(self, symbols: Iterable[KernelSymbol] = ()) -> None:
        self._by_name: dict[str, _Entry] = {}
        # strip_version(name) -> the winner among all symbols with that base, kept only for
        # bases some versioned name has; for any other base it is _by_name's entry.
        self._by_base: dict[str, _Entry] = {}
        self._rows: _Rows | None = None
        self._in_row_order = True  # False: _by_name's keys are not yet in first-read order
        for sym in symbols:
            self.add(sym)

    @classmethod
    def _from_rows(cls, rows: _Rows) -> SymbolTable:
        """The table add() would build from the rows in order, built in bulk."""
        table = cls()
        table._rows = rows
        table._by_name = _winners(rows.names, rows.exported)
        table._in_row_order = False  # only iteration shows the order: sorted out there
        table._by_base = table._versioned_bases()
        return table

    def _versioned_bases(self) -> dict[str, _Entry]:
        assert self._rows is not None
        names = self._rows.names
        joined = "\n".join(names)
        if not _any_line_versioned(joined):  # System.map: no versioned name
            return {}
        bases = _VERSION_SUFFIX_LINES.sub("", joined).split("\n")
        versioned = list(map(operator.ne, bases, names))
        exported = self._rows.exported
        by_base = _winners(
            list(compress(bases, versioned)),
            None if exported is None else list(compress(exported, versioned)),
            list(compress(range(len(names)), versioned)),
        )
        # A plain name with versioned twins: its own winner competes too.
        for base in by_base.keys() & self._by_name.keys():
            if strip_version(base) == base:
                by_base[base] = self._earlier_winner(self._by_name[base], by_base[base])
        return by_base

    def _earlier_winner(self, first: _Entry, second: _Entry) -> _Entry:
        """Of two rows' winners, the one add() would keep: the exported one, else the earlier."""
        assert self._rows is not None and type(first) is int and type(second) is int
        if self._rows.is_exported(first) != self._rows.is_exported(second):
            return first if self._rows.is_exported(first) else second
        return min(first, second)

    def _symbol(self, entry: _Entry) -> KernelSymbol:
        if type(entry) is int:
            assert self._rows is not None
            return self._rows.symbol(entry)
        return entry  # type: ignore[return-value]

    def _is_exported(self, entry: _Entry) -> bool:
        if type(entry) is int:
            assert self._rows is not None
            return self._rows.is_exported(entry)
        return entry.exported  # type: ignore[union-attr]

    def _keep(self, index: dict[str, _Entry], key: str, sym: KernelSymbol) -> None:
        old = index.get(key)
        if old is None or (sym.exported and not self._is_exported(old)):
            index[key] = sym

    def add(self, sym: KernelSymbol) -> None:
        name = sym.name
        base = strip_version(name)
        self._keep(self._by_name, name, sym)
        if base != name:
            if base not in self._by_base and strip_version(base) == base:
                # The base's first versioned twin: until now only the plain name competed.
                seed = self._by_name.get(base)
                if seed is not None:
                    self._by_base[base] = seed
            self._keep(self._by_base, base, sym)
        elif name in self._by_base:
            self._keep(self._by_base, name, sym)

    def _base_entry(self, base: str) -> _Entry | None:
        entry = self._by_base.get(base)
        if entry is None and strip_version(base) == base:
            entry = self._by_name.get(base)
        return entry

    def lookup(self, name: str) -> KernelSymbol | None:
        """Exact name first, then the versioned/unversioned twin."""
        entry = self._by_name.get(name)
        if entry is not None:
            return self._symbol(entry)
        base = strip_version(name)
        entry = self._base_entry(base)
        if entry is None:
            return None
        sym = self._symbol(entry)
        # Both sides versioned with different CRCs: the interface changed, and
        # modutils only compared without versions when one side had none.
        if base != name and strip_version(sym.name) != sym.name:
            return None
        return sym

    def exact(self, name: str) -> KernelSymbol | None:
        """The symbol of exactly this name (versions included), or None."""
        entry = self._by_name.get(name)
        return None if entry is None else self._symbol(entry)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.lookup(name) is not None

    def __len__(self) -> int:
        return len(self._by_name)

    def __iter__(self) -> Iterator[KernelSymbol]:
        if not self._in_row_order:
            self._put_in_row_order()
        return map(self._symbol, self._by_name.values())

    def _put_in_row_order(self) -> None:
        """Keys in the order add() would have made: rows' first occurrence, then added names."""
        assert self._rows is not None
        ordered: dict[str, _Entry] = dict.fromkeys(self._rows.names)  # type: ignore[arg-type]
        ordered.update(self._by_name)
        self._by_name = ordered
        self._in_row_order = True

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


GPL_PREFIX = "GPLONLY_"  # 2.4's EXPORT_SYMBOL_GPL names carry it in the kernel's table


@dataclass(frozen=True)
class VersionRule:
    """modutils 2.4's symbol-version rule for one module against one kernel.

    insmod compared the module's checksum setting (``using_checksums`` in its
    ``.modinfo``; CONFIG_MODVERSIONS builds put ``using_checksums=1`` there) with
    the kernel's (the ``Using_Versions`` symbol in its table).  Only when they
    differ did it compare names without the ``_R<crc>`` suffix (``ncv_strcmp``):
    one side has no CRCs to compare.  When both use checksums, or neither does,
    names must match exactly, CRC and all, so an interface change is not loaded.
    """

    module_checksums: bool
    kernel_checksums: bool

    @property
    def ignores_versions(self) -> bool:
        return self.module_checksums != self.kernel_checksums

    def describe(self) -> str:
        """The rule in effect, in words (for -v and for an unresolved-symbol error)."""
        if self.ignores_versions:
            who = "the module" if self.module_checksums else "the kernel"
            return f"only {who} uses symbol checksums: _R<crc> suffixes are ignored"
        both = (
            "both the module and the kernel use"
            if self.module_checksums
            else "neither the module nor the kernel uses"
        )
        return (
            f"{both} symbol checksums: names must match exactly "
            "(modutils ignored _R<crc> only when the two differ)"
        )


def version_rule(using_checksums: str | None, table: SymbolTable) -> VersionRule:
    """The rule for a module whose ``.modinfo`` says ``using_checksums`` (None: absent)."""
    module = using_checksums is not None and _c_atoi(using_checksums) != 0
    return VersionRule(module, table.using_versions)


def _c_atoi(text: str) -> int:
    """C's atoi: leading blanks, a sign, digits; 0 when there are none."""
    m = re.match(r"\s*([+-]?\d+)", text)
    return int(m.group(1)) if m else 0


def resolve_symbol(
    table: SymbolTable, name: str, rule: VersionRule, *, gpl_ok: bool = True
) -> KernelSymbol | None:
    """The kernel (or module) symbol a module's reference ``name`` binds: THE rule.

    Versions follow ``rule``; a GPL-compatible module also sees ``GPLONLY_``
    exports under their plain names, as modutils' add_symbols_from let it.
    """
    find = table.lookup if rule.ignores_versions else table.exact
    sym = find(name)
    if sym is None and gpl_ok:
        sym = find(GPL_PREFIX + name)
    return sym


def _any_line_versioned(joined: str) -> bool:
    """Whether a line ends in a version suffix.  str.find gets to each "_R" faster than
    the regex engine's scan (a System.map has ~200 of them, none a version suffix)."""
    pos = joined.find("_R")
    while pos >= 0:
        if _VERSION_SUFFIX_LINES.match(joined, pos):
            return True
        pos = joined.find("_R", pos + 1)
    return False


def _winners(
    keys: list[str], exported: list[bool] | None, rows: Sequence[int] | None = None
) -> dict[str, _Entry]:
    """Key -> the row add() keeps: the first exported one, else the first.

    The one-by-one rule as C-speed dict updates, each later write being an earlier row;
    the keys come out in no useful order.  ``rows`` defaults to ``range(len(keys))``.
    """
    rows = range(len(keys)) if rows is None else rows
    if exported is None:
        return dict(zip(reversed(keys), reversed(rows), strict=True))
    local = list(map(operator.not_, exported))
    index = dict(_backwards(keys, rows, local))
    index.update(_backwards(keys, rows, exported))
    return index


def _backwards(
    keys: list[str], rows: Sequence[int], mask: list[bool]
) -> Iterator[tuple[str, _Entry]]:
    """(key, row) for the rows ``mask`` selects, last row first."""
    return zip(
        compress(reversed(keys), reversed(mask)),
        compress(reversed(rows), reversed(mask)),
        strict=True,
    )


def _fast_rows(text: str) -> tuple[_Rows, int] | None:
    """(rows without skipped types, symbol lines) for a file of a common shape; else None."""
    if not text:
        return None
    if not text.endswith("\n"):
        text += "\n"  # as splitlines() reads it
    fields = text.count(" ", 0, text.index("\n")) + 1
    shape = _FAST_FILE.get(fields)
    if shape is None or shape.fullmatch(text) is None:
        return None
    width = fields
    if "\t" in text:  # give every line a module field: "[]" where it has none
        text = text.replace("]\n", "\0").replace("\n", "\t[]\n").replace("\0", "]\n")
        width += 1
    tokens = text.split()
    addrs = tokens[0::width]
    names = tokens[fields - 1 :: width]
    modules = tokens[fields::width] if width > fields else None
    count = len(names)
    if fields == 2:  # ksyms lines: all type "T"
        return _Rows(names, addrs, modules, None), count
    kinds = tokens[1::width]
    kind_set = set(kinds)
    if not _SKIPPED_TYPES.isdisjoint(kind_set):
        keep = list(map((kind_set - _SKIPPED_TYPES).__contains__, kinds))
        names, addrs, kinds = (list(compress(col, keep)) for col in (names, addrs, kinds))
        if modules is not None:
            modules = list(compress(modules, keep))
    exported: list[bool] | None = list(map(str.isupper, kinds))
    if all(exported):
        exported = None
    return _Rows(names, addrs, modules, exported), count


def _parse_fast(text: str) -> tuple[SymbolTable, int, bool] | None:
    """(table, symbol lines, any address nonzero) like _parse_lines, or None: not a fast file."""
    found = _fast_rows(text)
    if found is None:
        return None
    rows, count = found
    any_nonzero = any(map(str.strip, rows.addrs, repeat("0")))
    return SymbolTable._from_rows(rows), count, any_nonzero


def _parse_lines(text: str, source: str) -> tuple[SymbolTable, int, bool]:
    """The per-line parser: any file, and the one that reports a malformed line."""
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
            if not _HEX.fullmatch(fields[0]):  # int() would take "-5", "+1", "c0_10"
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
    return table, count, any_nonzero


def parse_symbols(text: str, source: str = "<symbols>") -> SymbolTable:
    """Parse any of the accepted formats; a malformed line is a :class:`SymbolError`."""
    table, count, any_nonzero = _parse_fast(text) or _parse_lines(text, source)
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
