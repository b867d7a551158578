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
from .ksyms import GPL_PREFIX as GPL_PREFIX  # where the simulated kernel imports it from
from .ksyms import KernelSymbol, SymbolTable, VersionRule, resolve_symbol, version_rule
from .layout import ImageLayout, loaded_sections

THIS_MODULE = "__this_module"
MODULE_NAME = "__module_name"
MODULE_ARGS = "__module_args"
SPECIALS = frozenset((THIS_MODULE, MODULE_NAME, MODULE_ARGS))


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


def module_version_rule(obj: ElfObject, table: SymbolTable) -> VersionRule:
    """modutils' version rule for ``obj`` (its ``.modinfo`` ``using_checksums``) and ``table``."""
    from .modinfo import read_modinfo

    return version_rule(read_modinfo(obj).get("using_checksums"), table)


def bind(
    obj: ElfObject,
    table: SymbolTable,
    *,
    gpl_ok: bool = True,
    defer_missing: bool = False,
    versions: VersionRule | None = None,
) -> Binding:
    """Resolve external references; raise one SymbolError naming all unresolved ones.

    An undefined symbol that no relocation of a loaded section uses is not
    needed, and not an error (see :func:`unreferenced_undefined`).

    With ``defer_missing`` the unresolved ones are returned in ``Binding.deferred``
    instead (insmod --defer-missing: the kernel resolves them later).  ``versions``
    defaults to the module's and the table's own settings (:func:`module_version_rule`).
    """
    rule = versions if versions is not None else module_version_rule(obj, table)
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
        provider = resolve_symbol(table, name, rule, gpl_ok=gpl_ok)
        if provider is not None:
            kernel[index] = provider
            if provider.module:
                used.setdefault(provider.module)
        elif not weak:  # a candidate that is not weak is undefined
            deferred[index] = name
            if name not in missing:
                missing.append(name)
    if deferred:  # only now: a load that finds every symbol never scans the relocations
        relocated = relocated_symbols(obj)
        for index in [i for i in deferred if i not in relocated]:
            del deferred[index]  # no relocation uses it: nothing needs its value
        missing = [n for n in missing if n in deferred.values()]
    if "_GLOBAL_OFFSET_TABLE_" in missing:
        raise SymbolError(
            "position-independent code (needs _GLOBAL_OFFSET_TABLE_): a module has no GOT; "
            "rebuild it with -fno-pic",
            file=obj.path,
        )
    if missing and not defer_missing:
        noun = "symbol" if len(missing) == 1 else "symbols"
        text = f"unresolved {noun} {', '.join(missing)}"
        if not rule.ignores_versions and any(
            resolve_symbol(table, n, VersionRule(True, False), gpl_ok=gpl_ok) for n in missing
        ):  # the versions rule, not a missing export, refused it: say which rule
            text += f" ({rule.describe()})"
        raise SymbolError(text, file=obj.path)
    return Binding(kernel, specials, tuple(used), deferred if defer_missing else {})


def relocated_symbols(obj: ElfObject) -> set[int]:
    """Indexes of the symbols some relocation of a loaded section uses."""
    loaded = {sec.index for sec in loaded_sections(obj)}
    used: set[int] = set()
    for sec in obj.relocation_sections():
        if obj.relocation_target(sec).index in loaded:
            used.update(obj.relocations(sec).symbols)
    return used


def unreferenced_undefined(obj: ElfObject) -> list[str]:
    """Undefined (not weak) names no relocation uses: a load never needs their value.

    2.4's insmod refused any unresolved symbol, but it never met these: binutils
    2.40's ``ld -r -e stext`` (the rule of 86 of the 2.4.37.11 tree's modules)
    leaves an undefined ``stext`` that older ld did not emit.
    """
    cols = obj.symbol_columns
    binds = cols.binds
    candidates = [i for i in external_candidates(obj) if binds[i] == C.STB_GLOBAL]
    undefined = [i for i in candidates if cols.shndx[i] == C.SHN_UNDEF]
    if not undefined:
        return []
    used = relocated_symbols(obj)
    names = cols.names_of([i for i in undefined if i not in used])
    return [n for n in names if n and n not in SPECIALS]


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
