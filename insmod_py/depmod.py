"""depmod for a module tree: one symbol source from System.map plus every module's exports.

A kernel's own exports are the names ``X`` for which System.map has a
``__ksymtab_X`` entry (what ``depmod -F System.map`` reads); their addresses
are those of ``X`` in System.map.  A module exports ``X`` when it defines both
``__ksymtab_X`` and ``X``.  Module exports get addresses "as if every module
of the tree were loaded first": each module gets a page-aligned slot in the
module area, in path order, and is laid out there with our own layout (2.4
legacy header, as ``link(..., header="legacy")`` does), so an export's address
is the one our loader gives it.  The kernel wins over a module, and among
modules the first in path order wins, as with depmod.
"""

from __future__ import annotations

import lzma
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import header as module_header
from . import modstruct
from .arch import Machine, by_e_machine
from .devtables import ModuleTables, format_maps, read_tables
from .elf import ElfObject
from .elf import constants as C
from .errors import LoadError, SymbolError
from .exports24 import is_24_module, is_elf, module_ksymtab, vmlinux_exports
from .ksyms import (
    KernelSymbol,
    SymbolTable,
    VersionRule,
    format_ksyms,
    load_symbols,
    resolve_symbol,
    version_rule,
)  # fmt: skip
from .layout import lay_out
from .loader import module_name_from_path
from .modinfo import read_modinfo
from .resolve import SPECIALS, unreferenced_undefined

KSYMTAB_PREFIX = "__ksymtab_"
MODULE_SUFFIXES = (".ko", ".ko.xz", ".o")
PAGE = 4096


@dataclass(frozen=True)
class TreeModule:
    """One module of the tree, with the slot it would occupy if loaded."""

    path: str  # relative to the tree, as in modules.dep
    name: str
    base: int
    slot: int  # bytes reserved at base (the image fits in it)
    exports: tuple[str, ...]
    deps: tuple[str, ...] = ()  # names of the modules whose exports it uses


@dataclass
class Depmod:
    """A scanned tree: its modules and every symbol a module of it can link against."""

    machine: int
    modules: list[TreeModule]
    symbols: list[KernelSymbol]  # kernel exports first, then module exports
    unresolved: dict[str, list[str]] = field(default_factory=dict)  # module -> names
    tables: dict[str, ModuleTables] = field(default_factory=dict)  # 2.4 module path -> tables

    def table(self) -> SymbolTable:
        return SymbolTable(self.symbols)

    @property
    def word_size(self) -> int:
        return self.arch.word_size

    @property
    def arch(self) -> Machine:
        machine = by_e_machine(self.machine)
        assert machine is not None  # the reader accepted every object of the tree
        return machine

    def format_symbols(self) -> str:
        """The symbols as 2.4 /proc/ksyms printed them: ``addr name [module]``."""
        return format_ksyms(self.symbols, self.word_size)

    @property
    def is_24_tree(self) -> bool:
        """Every module is a 2.4 ``.o``: the tree gets modutils 2.4's files."""
        return all(m.path.endswith(".o") for m in self.modules)

    def format_maps(self) -> dict[str, str]:
        """modutils 2.4's ``modules.*map`` files (name -> text) for a 2.4 tree, else none."""
        if not self.is_24_tree:
            return {}
        empty = ModuleTables()
        return format_maps([(m.path, self.tables.get(m.path, empty)) for m in self.modules],
                           self.arch)  # fmt: skip

    def table_warnings(self) -> list[str]:
        """``path: reason`` for each device table that could not be read, in tree order."""
        return [f"{path}: {w}" for path, t in self.tables.items() for w in t.warnings]

    def format_deps(self) -> str:
        """``modules.dep``: ``path: dependency paths``, in tree order.

        A 2.4 tree (``.o`` modules) gets modutils 2.4's layout: ``path:``, then one
        dependency per backslash-continued line, and a blank line after each module.
        """
        by_name = {m.name: m.path for m in self.modules}
        if self.is_24_tree:
            return "".join(
                f"{m.path}:" + "".join(f" \\\n\t{by_name[d]}" for d in m.deps) + "\n\n"
                for m in self.modules
            )
        lines = [f"{m.path}: {' '.join(by_name[d] for d in m.deps)}".rstrip() for m in self.modules]
        return "".join(f"{line}\n" for line in lines)


def read_module(path: str | os.PathLike[str]) -> ElfObject:
    """Read a module file; ``.ko.xz`` is decompressed in memory."""
    name = os.fspath(path)
    try:
        data = Path(name).read_bytes()
        if name.endswith(".xz"):
            data = lzma.decompress(data)
    except (OSError, lzma.LZMAError) as exc:
        raise LoadError(getattr(exc, "strerror", None) or str(exc), file=name) from None
    return ElfObject(data, name)


def module_files(tree: str | os.PathLike[str]) -> list[Path]:
    """Every module below ``tree``, sorted by relative path (the tree order)."""
    root = Path(tree)
    found = [p for p in root.rglob("*") if p.name.endswith(MODULE_SUFFIXES) and p.is_file()]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def kernel_exports(system_map: str | os.PathLike[str]) -> list[KernelSymbol]:
    """The kernel's exported symbols.

    From a vmlinux: its ``__ksymtab``, the exact table the kernel exports.  From a
    System.map: the names with a ``__ksymtab_`` entry, at their own address; a 2.4
    CONFIG_MODVERSIONS kernel's System.map cannot say the versioned names, so it is refused.
    """
    if is_elf(system_map):
        return vmlinux_exports(system_map)
    table = load_symbols(system_map)
    if table.lookup("__export_Using_Versions") is not None:
        raise SymbolError(
            "a CONFIG_MODVERSIONS kernel: System.map lacks the _R<crc> export names; "
            "give its vmlinux instead",
            file=os.fspath(system_map),
        )
    names = sorted(
        s.name[len(KSYMTAB_PREFIX) :] for s in table if s.name.startswith(KSYMTAB_PREFIX)
    )
    exports = []
    for name in names:
        sym = table.lookup(name)
        if sym is not None:
            exports.append(KernelSymbol(name, sym.value))
    if not exports and _ksyms_format(system_map):
        # a /proc/ksyms dump (``addr name`` lines): every kernel line is an export
        exports = [KernelSymbol(s.name, s.value) for s in table if s.module is None]
    if not exports:
        raise SymbolError("no __ksymtab_ entries: not a System.map of a modular kernel",
                          file=os.fspath(system_map))  # fmt: skip
    return exports


def _ksyms_format(path: str | os.PathLike[str]) -> bool:
    """Whether the file's first line is 2.4 /proc/ksyms' ``addr name``, no type letter."""
    with open(path, encoding="ascii", errors="replace") as fh:
        for line in fh:
            if line.strip() and not line.startswith("#"):
                return len(line.split("\t")[0].split()) == 2
    return False


@dataclass(frozen=True)
class _Scan:
    """What one module contributes, independent of its base."""

    name: str
    machine: int
    size: int  # legacy-layout image size without the .kmodtab
    exports: dict[str, int]  # name -> offset in the image (or the value, if absolute)
    absolute: frozenset[str]  # exports whose value is not an offset (ABS, weak undefined)
    undefined: tuple[str, ...]  # names the module needs from outside
    checksums: bool | None = None  # a 2.4 module's using_checksums; None for 2.6+
    gpl_ok: bool = True


def _scan(obj: ElfObject, name: str) -> _Scan:
    if is_24_module(obj):
        return _scan24(obj, name)
    piece = module_header.struct_module_piece(obj.word_size)
    layout = lay_out(obj, name.encode(), b"", struct_module=piece)
    defined: dict[str, int] = {}
    marked: list[str] = []
    undefined: list[str] = []
    for sym in obj.symbols[1:]:
        if not sym.name:
            continue
        if sym.name.startswith(KSYMTAB_PREFIX) and sym.shndx != C.SHN_UNDEF:
            marked.append(sym.name[len(KSYMTAB_PREFIX) :])  # a LOCAL marker in a .ko
        elif sym.bind == C.STB_LOCAL:
            continue
        elif sym.shndx == C.SHN_UNDEF:
            undefined.append(sym.name)
        elif sym.shndx in layout.section_offset:
            defined[sym.name] = layout.section_offset[sym.shndx] + sym.value
    exports = {n: defined[n] for n in sorted(marked) if n in defined}
    return _Scan(name, obj.machine, layout.size, exports, frozenset(), tuple(undefined))


def _scan24(obj: ElfObject, name: str) -> _Scan:
    """A 2.4 module as modutils' insmod would see it: the names of its ``__ksymtab`` (or
    every global: export-all), and the undefined names a relocation really uses."""
    word = obj.word_size
    piece = module_header.struct_module_piece(word)
    layout = lay_out(obj, name.encode(), b"", struct_module=piece)
    symbols = obj.symbols
    exports: dict[str, int] = {}
    absolute: set[str] = set()
    size = layout.size
    table = module_ksymtab(obj)
    if table is not None:
        for entry in table:
            sym = symbols[entry.symbol]
            if sym.shndx in layout.section_offset and entry.name not in exports:
                exports[entry.name] = layout.section_offset[sym.shndx] + sym.value + entry.addend
    else:
        indexes, names = module_header.export_all_symbols(obj, layout.section_offset, ())
        for index, export in zip(indexes, names, strict=True):
            sym = symbols[index]
            if sym.shndx in layout.section_offset:
                exports[export] = layout.section_offset[sym.shndx] + sym.value
            elif sym.shndx == C.SHN_COMMON:
                exports[export] = layout.common_offset[index]
            else:  # ABS, or weak undefined (absolute 0, as modutils made it)
                exports[export] = sym.value if sym.shndx == C.SHN_ABS else 0
                absolute.add(export)
        for _piece, piece_size, align in module_header.export_pieces(word, names):
            size = _round(size, align) + piece_size  # the loader appends the table
    unused = set(unreferenced_undefined(obj))
    undefined = tuple(
        s.name
        for s in symbols[1:]
        if s.shndx == C.SHN_UNDEF and s.bind == C.STB_GLOBAL and s.name
        and s.name not in SPECIALS and s.name not in unused
    )  # fmt: skip
    info = read_modinfo(obj)
    checksums = version_rule(info.get("using_checksums"), SymbolTable()).module_checksums
    return _Scan(
        name, obj.machine, size, exports, frozenset(absolute), undefined, checksums,
        info.gpl_compatible,
    )  # fmt: skip


def scan_tree(
    tree: str | os.PathLike[str],
    system_map: str | os.PathLike[str] | None = None,
    *,
    base: int | None = None,
    files: Iterable[Path] | None = None,
) -> Depmod:
    """Scan every module of ``tree`` (or ``files``) and assign each its slot.

    ``system_map`` is the kernel's System.map, or its vmlinux (whose ``__ksymtab``
    gives the exact exported names: versioned, ``GPLONLY_``).  Without it only module
    exports are known (a kernel-less tree).  Which export a module's reference binds is
    the loader's own rule (:func:`insmod_py.ksyms.resolve_symbol`), so a name depmod
    resolves is one ``load`` resolves.
    """
    root = Path(tree)
    paths = list(files) if files is not None else module_files(root)
    if not paths:
        raise LoadError("no modules (*.ko, *.ko.xz, *.o) found", file=os.fspath(tree))
    scans: list[tuple[str, _Scan]] = []
    tables: dict[str, ModuleTables] = {}
    for path in paths:
        obj = read_module(path)
        name = module_name_from_path(str(path))
        rel = path.relative_to(root).as_posix()
        try:
            scans.append((rel, _scan(obj, name)))
        except LoadError as err:
            raise err.with_file(str(path)) from None
        if is_24_module(obj):
            try:
                found = read_tables(obj)
            except LoadError as err:  # the maps only: the module still links
                found = ModuleTables(warnings=(f"device tables not read: {err.reason}",))
            if found or found.warnings:
                tables[rel] = found
    machines = {s.machine for _, s in scans}
    if len(machines) != 1:
        raise LoadError("modules of more than one machine in the tree", file=os.fspath(tree))
    machine = machines.pop()

    kernel = kernel_exports(system_map) if system_map is not None else []
    # Every export, the kernel's first (it wins), then the modules' in tree order.
    everything = SymbolTable(kernel)
    for _, scan in scans:
        for export in scan.exports:
            everything.add(KernelSymbol(export, 0, scan.name))
    kernel_checksums = everything.using_versions

    arch = by_e_machine(machine)
    assert arch is not None  # the reader accepted every object of the tree
    word = arch.word_size
    start, end = arch.depmod_area if base is None else (base, 1 << (8 * word))
    ref_size = modstruct.sizeof(word, "module_ref")
    new_header = modstruct.sizeof_module_new(word) + 64  # + the prelink stub's strings
    modules: list[TreeModule] = []
    symbols = list(kernel)
    unresolved: dict[str, list[str]] = {}
    at = start
    for rel, scan in scans:
        deps: dict[str, None] = {}
        rule = None if scan.checksums is None else VersionRule(scan.checksums, kernel_checksums)
        for name in scan.undefined:
            if rule is None:
                provider = everything.lookup(name)
            else:
                provider = resolve_symbol(everything, name, rule, gpl_ok=scan.gpl_ok)
            if provider is None:
                unresolved.setdefault(scan.name, []).append(name)
            elif provider.module not in (None, scan.name):
                deps.setdefault(provider.module)  # type: ignore[arg-type]
        # The legacy link adds a word-aligned .kmodtab of one module_ref per dependency;
        # room for a struct module_new too, so the module's prelinked form fits as well.
        slot = _round(scan.size + 8 + ref_size * len(deps) + new_header, PAGE)
        if at + slot > end:
            raise LoadError(f"module area {start:#x}-{end:#x} full at {rel}", file=os.fspath(tree))
        modules.append(TreeModule(rel, scan.name, at, slot, tuple(scan.exports), tuple(deps)))
        for export, offset in scan.exports.items():
            if everything.exact(export).module == scan.name:  # type: ignore[union-attr]
                value = offset if export in scan.absolute else at + offset
                symbols.append(KernelSymbol(export, value, scan.name))
        at += slot
    return Depmod(machine, modules, symbols, unresolved, tables)


def _round(value: int, align: int) -> int:
    return (value + align - 1) // align * align
