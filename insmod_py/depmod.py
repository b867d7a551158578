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
from .elf import ElfObject
from .elf import constants as C
from .errors import LoadError, SymbolError
from .ksyms import KernelSymbol, SymbolTable, format_ksyms, load_symbols
from .layout import lay_out
from .loader import module_name_from_path

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

    def format_deps(self) -> str:
        """``modules.dep``: ``path: dependency paths``, in tree order."""
        by_name = {m.name: m.path for m in self.modules}
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
    """The kernel's exported symbols: names with a ``__ksymtab_`` entry, at their own address."""
    table = load_symbols(system_map)
    names = sorted(
        s.name[len(KSYMTAB_PREFIX) :] for s in table if s.name.startswith(KSYMTAB_PREFIX)
    )
    exports = []
    for name in names:
        sym = table.lookup(name)
        if sym is not None:
            exports.append(KernelSymbol(name, sym.value))
    if not exports:
        raise SymbolError("no __ksymtab_ entries: not a System.map of a modular kernel",
                          file=os.fspath(system_map))  # fmt: skip
    return exports


@dataclass(frozen=True)
class _Scan:
    """What one module contributes, independent of its base."""

    name: str
    machine: int
    size: int  # legacy-layout image size without the .kmodtab
    exports: dict[str, int]  # name -> offset in the image
    undefined: tuple[str, ...]


def _scan(obj: ElfObject, name: str) -> _Scan:
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
    return _Scan(name, obj.machine, layout.size, exports, tuple(undefined))


def scan_tree(
    tree: str | os.PathLike[str],
    system_map: str | os.PathLike[str] | None = None,
    *,
    base: int | None = None,
    files: Iterable[Path] | None = None,
) -> Depmod:
    """Scan every module of ``tree`` (or ``files``) and assign each its slot.

    Without ``system_map`` only module exports are known (a kernel-less tree).
    """
    root = Path(tree)
    paths = list(files) if files is not None else module_files(root)
    if not paths:
        raise LoadError("no modules (*.ko, *.ko.xz, *.o) found", file=os.fspath(tree))
    scans: list[tuple[str, _Scan]] = []
    for path in paths:
        obj = read_module(path)
        name = module_name_from_path(str(path))
        scans.append((path.relative_to(root).as_posix(), _scan(obj, name)))
    machines = {s.machine for _, s in scans}
    if len(machines) != 1:
        raise LoadError("modules of more than one machine in the tree", file=os.fspath(tree))
    machine = machines.pop()

    kernel = kernel_exports(system_map) if system_map is not None else []
    provider: dict[str, str | None] = {s.name: None for s in kernel}
    for _, scan in scans:
        for export in scan.exports:
            provider.setdefault(export, scan.name)

    arch = by_e_machine(machine)
    assert arch is not None  # the reader accepted every object of the tree
    word = arch.word_size
    start, end = arch.depmod_area if base is None else (base, 1 << (8 * word))
    ref_size = modstruct.sizeof(word, "module_ref")
    modules: list[TreeModule] = []
    symbols = list(kernel)
    unresolved: dict[str, list[str]] = {}
    at = start
    for rel, scan in scans:
        deps: dict[str, None] = {}
        for name in scan.undefined:
            if name not in provider:
                unresolved.setdefault(scan.name, []).append(name)
            elif provider[name] not in (None, scan.name):
                deps.setdefault(provider[name])  # type: ignore[arg-type]
        # The legacy link adds a word-aligned .kmodtab of one module_ref per dependency.
        slot = _round(scan.size + 8 + ref_size * len(deps), PAGE)
        if at + slot > end:
            raise LoadError(f"module area {start:#x}-{end:#x} full at {rel}", file=os.fspath(tree))
        modules.append(TreeModule(rel, scan.name, at, slot, tuple(scan.exports), tuple(deps)))
        for export, offset in scan.exports.items():
            if provider[export] == scan.name:
                symbols.append(KernelSymbol(export, at + offset, scan.name))
        at += slot
    return Depmod(machine, modules, symbols, unresolved)


def _round(value: int, align: int) -> int:
    return (value + align - 1) // align * align
