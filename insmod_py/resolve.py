"""Give every symbol of the object its final address.

Two steps, because the base address is only known after ``create_module``:

* :func:`bind` decides, independently of the base, which kernel (or module)
  symbol each undefined or weak reference uses, and fails listing every name
  that cannot be resolved;
* :func:`symbol_values` turns that binding plus a layout and a base into one
  value per symbol table index, the ``S`` of every relocation.

Rules (Zippel's loader and modutils 2.4): the special symbols
``__this_module`` (the header at the module base), ``__module_name`` and
``__module_args`` (the strings appended to the image) win over everything; an
undefined symbol takes the kernel's value; a weak undefined one that nobody
provides is 0; a weak definition is overridden by a kernel symbol of the same
name; ABS values stay; COMMON symbols get their allocated address; everything
else is base + section offset + value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import compress, count, repeat
from operator import add, and_

from .elf import ElfObject
from .elf import constants as C
from .elf.reader import SymbolColumns
from .errors import SymbolError
from .ksyms import KernelSymbol, SymbolTable
from .layout import ImageLayout

THIS_MODULE = "__this_module"
MODULE_NAME = "__module_name"
MODULE_ARGS = "__module_args"
SPECIALS = frozenset((THIS_MODULE, MODULE_NAME, MODULE_ARGS))
GPL_PREFIX = "GPLONLY_"


@dataclass(frozen=True)
class Binding:
    """Which external symbol each symbol table index uses (base-independent)."""

    kernel: dict[int, KernelSymbol]  # symbol index -> provider
    specials: dict[int, str]  # symbol index -> special name
    used_modules: tuple[str, ...]  # modules that provide a bound symbol, first use first
    deferred: dict[int, str] = field(default_factory=dict)  # index -> missing name (deferred)

    @property
    def deferred_names(self) -> list[str]:
        return sorted(set(self.deferred.values()))


def _lookup(table: SymbolTable, name: str, gpl_ok: bool) -> KernelSymbol | None:
    sym = table.lookup(name)
    if sym is None and gpl_ok:  # EXPORT_SYMBOL_GPL names carry a prefix in 2.4
        sym = table.lookup(GPL_PREFIX + name)
    return sym


def bind(
    obj: ElfObject, table: SymbolTable, *, gpl_ok: bool = True, defer_missing: bool = False
) -> Binding:
    """Resolve external references; raise one SymbolError naming all unresolved ones.

    With ``defer_missing`` the unresolved ones are returned in ``Binding.deferred``
    instead (insmod --defer-missing: the kernel resolves them later).
    """
    kernel: dict[int, KernelSymbol] = {}
    specials: dict[int, str] = {}
    used: dict[str, None] = {}
    missing: list[str] = []
    deferred: dict[int, str] = {}
    cols = obj.symbol_columns
    binds = cols.binds
    candidates = external_candidates(obj)
    for index, name in zip(candidates, cols.names_of(candidates), strict=True):
        weak = binds[index] == C.STB_WEAK
        if not name or binds[index] == C.STB_LOCAL:
            continue
        if name in SPECIALS:
            specials[index] = name
            continue
        provider = _lookup(table, name, gpl_ok)
        if provider is not None:
            kernel[index] = provider
            if provider.module:
                used.setdefault(provider.module)
        elif not weak:  # a candidate that is not weak is undefined
            deferred[index] = name
            if name not in missing:
                missing.append(name)
    if "_GLOBAL_OFFSET_TABLE_" in missing:
        raise SymbolError(
            "position-independent code (needs _GLOBAL_OFFSET_TABLE_): a module has no GOT; "
            "rebuild it with -fno-pic",
            file=obj.path,
        )
    if missing and not defer_missing:
        noun = "symbol" if len(missing) == 1 else "symbols"
        raise SymbolError(f"unresolved {noun} {', '.join(missing)}", file=obj.path)
    return Binding(kernel, specials, tuple(used), deferred if defer_missing else {})


def symbol_values(
    obj: ElfObject,
    binding: Binding,
    layout: ImageLayout,
    base: int,
    traps: Mapping[str, int] | None = None,
) -> list[int]:
    """The final value of every symbol table entry (index 0 included).

    A deferred symbol takes its trap address from ``traps`` (name -> address).
    """
    special_value = {
        THIS_MODULE: base,
        MODULE_NAME: base + layout.name_offset,
        MODULE_ARGS: base + layout.args_offset,
    }
    cols = obj.symbol_columns
    n = len(cols)
    if not n:
        return []
    # One pass for the usual rule, value + where its section starts (0 for ABS and
    # for sections that are not loaded); the few exceptions are patched after.
    start = dict.fromkeys(set(cols.shndx), 0)
    for shndx, offset in layout.section_offset.items():
        if shndx in start:
            start[shndx] = base + offset
    values = list(map(add, map(start.__getitem__, cols.shndx), cols.values))
    values[0] = 0
    for index in _undefined(cols):
        values[index] = 0  # weak undefined, provided by nobody (unless bound below)
    for index, offset in layout.common_offset.items():
        values[index] = base + offset
    for index, name in binding.deferred.items():
        values[index] = (traps or {}).get(name, 0)
    for index, provider in binding.kernel.items():
        values[index] = provider.value
    for index, special in binding.specials.items():
        values[index] = special_value[special]
    # Addresses are modulo the word, as ld's bfd_vma arithmetic on a 32/64-bit target:
    # base + offset + a hostile st_value must not outgrow the header's pointer fields.
    mask = (1 << (8 * obj.word_size)) - 1
    if max(values) > mask:
        values = list(map(and_, values, repeat(mask)))
    return values


def _undefined(cols: SymbolColumns) -> Iterator[int]:
    """Indexes of the SHN_UNDEF entries (index 0 included)."""
    return compress(count(), map((C.SHN_UNDEF).__eq__, cols.shndx))


def external_candidates(obj: ElfObject) -> list[int]:
    """Indexes (from 1, ascending) of the undefined and the weak symbols: the only ones
    a kernel symbol can bind; found with C-speed scans of the columns."""
    cols = obj.symbol_columns
    weak = compress(count(), map((C.STB_WEAK).__eq__, cols.binds))
    candidates = set(_undefined(cols)).union(weak)
    candidates.discard(0)
    return sorted(candidates)
