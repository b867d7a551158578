"""The loading pipeline: object -> layout -> resolved symbols -> relocated image.

:func:`link` is pure: given an object, the kernel's symbols and a way to get a
base address, it returns the finished image.  :func:`load` drives a backend
the way 2.4 insmod drove the kernel: ``create_module`` for the base,
``init_module`` with the complete image, and ``delete_module`` again if
anything fails after the module was created.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import compress, islice
from operator import and_, attrgetter, itemgetter, not_
from typing import TYPE_CHECKING

from . import header as module_header
from .elf import ElfObject, Section
from .elf import constants as C
from .errors import KernelError, LoadError, UsageError
from .ksymoops import ObjectTag
from .ksymoops import symbols as ksymoops_symbols
from .ksyms import SymbolTable
from .layout import MODULE_INITDATA, ImageLayout, lay_out, loaded_sections
from .reloc import PathCounts, Relocator, Strategy
from .resolve import Binding, bind, symbol_values

if TYPE_CHECKING:  # imported where used: a plain load needs none of them at run time
    from .backends.base import Backend, ImageInfo
    from .deferred import DeferredRelocs, DeferredSite
    from .params import Assignment

HEADER_KINDS = ("auto", "new", "legacy")
PARAM_STRINGS = "(parameter strings)"
DEFAULT_DRY_RUN_BASE = 0x12340000  # modutils' `insmod -n` base


@dataclass(frozen=True)
class LinkedModule:
    """A module image ready for ``init_module``."""

    name: str
    base: int
    image: bytearray  # the buffer it was linked in: no copy of 7-20 MB into a bytes
    layout: ImageLayout
    header: str  # "new" (struct module_new from the object) or "legacy" (built here)
    symbols: Mapping[str, int]  # named symbols -> final value (globals win over locals)
    deps: tuple[str, ...]  # modules whose exports this one uses
    # Makes ``info`` on first use: only a backend that runs the image needs it.
    make_info: Callable[[], ImageInfo] = field(repr=False, compare=False)
    deferred: DeferredRelocs | None = None  # sites left at traps (link(defer=...))
    exported: tuple[str, ...] = ()  # names in the loader-made export-all table

    @property
    def size(self) -> int:
        return len(self.image)

    @cached_property
    def info(self) -> ImageInfo:
        """Regions and symbols for the backend (the simulated kernel's permissions, oopses)."""
        return self.make_info()


class LazyMap(Mapping[str, int]):
    """A read-only mapping made on first use (a load needs no symbol map; a map file does)."""

    __slots__ = ("_data", "_make")

    def __init__(self, make: Callable[[], dict[str, int]]) -> None:
        self._make: Callable[[], dict[str, int]] | None = make
        self._data: dict[str, int] = {}

    def _get(self) -> dict[str, int]:
        if self._make is not None:
            self._data, self._make = self._make(), None
        return self._data

    def __getitem__(self, key: str) -> int:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


def module_name_from_path(path: str) -> str:
    """modutils' rule: the basename up to its first dot (``hello.pre.o`` -> ``hello``)."""
    base = os.path.basename(path)
    return base.split(".", 1)[0] or base


def choose_header(obj: ElfObject, header: str) -> str:
    """Resolve ``auto`` and refuse a plain object on the new path."""
    if header not in HEADER_KINDS:
        raise LoadError(f"unknown header kind {header!r} (choose from {', '.join(HEADER_KINDS)})")
    prelinked = obj.section_by_name(MODULE_INITDATA) is not None
    if header == "auto":
        return "new" if prelinked else "legacy"
    if header == "new" and not prelinked:
        raise LoadError(
            "not a prelinked module (no .module_initdata section): run `pyinsmod prelink` "
            "on it first, or load it with --legacy",
            file=obj.path,
        )
    return header


def _region_kind(flags: int) -> str:
    if flags & C.SHF_EXECINSTR:
        return "text"
    return "data" if flags & C.SHF_WRITE else "rodata"


def link(
    obj: ElfObject,
    table: SymbolTable,
    allocate: Callable[[int], int],
    *,
    name: str,
    args: str = "",
    header: str = "auto",
    module_bases: Mapping[str, int] | None = None,
    autoclean: bool = False,
    gpl_ok: bool = True,
    params: Sequence[Assignment] = (),
    export_all: bool = False,
    defer: Callable[[list[str]], Mapping[str, int]] | None = None,
    relocation: Strategy = Strategy.AUTO,
    path_counts: PathCounts | None = None,
    ksymoops: ObjectTag | None = None,
) -> LinkedModule:
    """Link ``obj`` into an image; ``allocate(size)`` is called once and returns the base.

    ``args`` is the raw argument string (``__module_args``, Zippel's interface);
    ``params`` are MODULE_PARM values written into the image before init.
    ``export_all``: on the legacy path, a module without ``__ksymtab`` exports
    every global (modutils' default, ``insmod -X``).  ``defer``: missing symbols
    are not an error; ``defer(names)`` gives their trap addresses, and the
    sites using them come back in ``LinkedModule.deferred`` for the kernel.
    ``relocation`` picks the relocation implementations (:class:`reloc.Strategy`);
    ``path_counts``, when given, counts the sections each one applied.
    ``ksymoops``: on the legacy path, add modutils' ksymoops symbols (for this
    object) to the module's exports (:mod:`insmod_py.ksymoops`).
    """
    header_kind = choose_header(obj, header)
    binding = bind(obj, table, gpl_ok=gpl_ok, defer_missing=defer is not None)
    traps = defer(binding.deferred_names) if defer is not None and binding.deferred else {}
    name_bytes, args_bytes = name.encode(), args.encode()
    oops = _ksymoops_plan(obj, name, ksymoops if header_kind == "legacy" else None)
    plan = _plan(obj, binding, header_kind, name_bytes, args_bytes, params, export_all, oops)
    layout = plan.layout
    base = allocate(layout.size)
    _check_base(obj, layout, base)
    values = symbol_values(obj, binding, layout, base, traps)

    image = _assemble(obj, layout)
    image[layout.name_offset : layout.name_offset + len(name_bytes)] = name_bytes
    image[layout.args_offset : layout.args_offset + len(args_bytes)] = args_bytes
    relocator = Relocator(
        image, values, obj.symbol_names, base, obj.arch.relocs, obj.path, relocation,
        path_counts if path_counts is not None else PathCounts(),
    )  # fmt: skip
    sites = _relocate(obj, layout, relocator, binding.deferred)
    _write_params(image, obj, layout, base, values, params)
    export_values = list(map(values.__getitem__, plan.export_indexes))
    oops_symbols = [(base + layout.section_offset.get(i, 0), n) for n, i in oops.symbols]
    copied = None
    if oops.own_table is not None:
        copied = (layout.section_offset[oops.own_table.index], oops.own_table.size)
    module_header.write_exports(
        image, obj.word_size, layout, base, export_values + [v for v, _ in oops_symbols],
        [*plan.exports, *oops.names], copied,
    )  # fmt: skip
    bases = module_bases or {}
    deps = [bases.get(m, 0) for m in binding.used_modules]
    _complete_header(image, obj, header_kind, layout, base, values, deps, autoclean)
    deferred = None
    if binding.deferred:
        from .deferred import DeferredRelocs

        deps_limit = len(binding.used_modules) + plan.spare_deps
        deferred = DeferredRelocs(obj.machine, obj.arch.rela, tuple(sites), gpl_ok, deps_limit)
    return LinkedModule(
        name, base, image, layout, header_kind,
        LazyMap(lambda: {**_symbol_map(obj, values, layout), **{n: v for v, n in oops_symbols}}),
        binding.used_modules,
        lambda: _image_info(obj, layout, base, values, oops_symbols), deferred, plan.exports,
    )  # fmt: skip


@dataclass(frozen=True)
class _Ksymoops:
    """The ksymoops symbols a legacy image exports, and where their entries go."""

    symbols: list[tuple[str, int | None]]  # name, section index (None: the module start)
    own_table: Section | None  # the module's loaded __ksymtab they join (modutils' use_ksymtab)

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.symbols]


def _ksymoops_plan(obj: ElfObject, name: str, tag: ObjectTag | None) -> _Ksymoops:
    """Without a ``__ksymtab`` they join the export-all table (or make one with -x)."""
    if tag is None:
        return _Ksymoops([], None)
    loaded = {s.index for s in loaded_sections(obj)}
    own = obj.section_by_name("__ksymtab")
    own_table = own if own is not None and own.index in loaded else None
    return _Ksymoops(ksymoops_symbols(obj, name, tag, loaded), own_table)


@dataclass(frozen=True)
class _Plan:
    """The layout of an image and the loader-made pieces placed in it."""

    layout: ImageLayout
    export_indexes: list[int]  # symbol indexes of the export-all table (legacy path)
    exports: tuple[str, ...]  # their names
    spare_deps: int  # module_ref slots kept for deferred providers


def _plan(
    obj: ElfObject,
    binding: Binding,
    header_kind: str,
    name_bytes: bytes,
    args_bytes: bytes,
    params: Sequence[Assignment],
    export_all: bool,
    oops: _Ksymoops,
) -> _Plan:
    """Lay the image out: the object's sections plus what the loader adds (the legacy
    ``struct module``, parameter strings, .kmodtab, an export-all table)."""
    word = obj.word_size
    strings_size = sum(len(s) for p in params for s in p.strings)
    extras = [(PARAM_STRINGS, strings_size, 1)] if strings_size else []
    spare = len(binding.deferred_names)  # a dep slot per name the kernel may resolve later
    extras += module_header.kmodtab_pieces(word, len(binding.used_modules), spare)
    export_indexes: list[int] = []
    export_names: list[str] = []
    if header_kind == "legacy" and export_all and module_header.wants_export_all(obj):
        loaded = {s.index for s in loaded_sections(obj)}
        export_indexes, export_names = module_header.export_all_symbols(
            obj, loaded, binding.kernel.keys()
        )
    leading = oops.own_table.size if oops.own_table is not None else 0
    extras += module_header.export_pieces(word, export_names + oops.names, leading)
    struct_module = module_header.struct_module_piece(word) if header_kind == "legacy" else None
    layout = lay_out(obj, name_bytes, args_bytes, struct_module=struct_module, extras=extras)
    return _Plan(layout, export_indexes, tuple(export_names), spare)


def _relocate(
    obj: ElfObject, layout: ImageLayout, relocator: Relocator, deferred: Mapping[int, str]
) -> list[DeferredSite]:
    """Apply every relocation section of a loaded section; check the others' tables.

    Each section goes to the C accelerator as file bytes first; the decoded table
    goes to the Python paths when it declines (they word the error).  With deferred
    symbols the table is decoded first anyway: the sites' original bytes are read
    before they are patched.  Returns those sites.
    """
    sites: list[DeferredSite] = []
    elf64 = obj.elfclass == C.ELFCLASS64
    data = memoryview(obj.data)
    for sec in obj.relocation_sections():
        target = obj.relocation_target(sec)
        target_offset = layout.section_offset.get(target.index)
        raw = data[sec.offset : sec.offset + sec.size]
        rela = sec.type == C.SHT_RELA
        size = target.size
        loaded = target_offset is not None and not target.nobits
        if (
            loaded
            and not deferred
            and relocator.apply_raw(raw, target_offset, size, elf64=elf64, rela=rela)
        ):
            continue  # applied in C; otherwise the Python path below words the error
        table = obj.relocations(sec)  # also checks the tables of sections not loaded
        if target_offset is None:
            continue  # relocations of sections that are not loaded (debug info, .modinfo)
        if target.nobits and table.offsets:
            raise LoadError(f"{sec.name} relocates NOBITS section {target.name}", file=obj.path)
        if deferred:
            from .deferred import collect

            sites += collect(table, relocator.image, target_offset, deferred, obj.machine)
            if relocator.apply_raw(raw, target_offset, size, elf64=elf64, rela=rela):
                continue
        relocator.apply(table, target_offset)
    return sites


def _complete_header(
    image: bytearray,
    obj: ElfObject,
    header_kind: str,
    layout: ImageLayout,
    base: int,
    values: list[int],
    deps: list[int],
    autoclean: bool,
) -> None:
    """Fill the header at offset 0: a whole legacy ``struct module``, or the fields of
    the object's ``struct module_new`` that only the loader knows."""
    if header_kind == "legacy":
        entries = _symbol_map(obj, values, layout, HEADER_SYMBOLS)
        module_header.fill_header(image, obj, layout, base, entries, deps=deps, autoclean=autoclean)
    else:
        word = obj.word_size
        module_header.complete_new_header(image, word, layout, base, deps=deps, autoclean=autoclean)


def _assemble(obj: ElfObject, layout: ImageLayout) -> bytearray:
    """The image before relocation: each section's bytes at its offset, zeros elsewhere.

    Appended piece by piece in address order, so every byte is written once:
    ``bytearray(size)`` would first clear all 7-20 MB of a big module, then have
    most of them overwritten by the sections.
    """
    image = bytearray()
    data = memoryview(obj.data)  # each section copied once, file -> image
    for piece in sorted(layout.pieces, key=attrgetter("offset")):
        if piece.index < 0 or piece.nobits:
            continue  # zeros: the padding before the next piece, or the tail
        image += bytes(piece.offset - len(image))  # alignment padding, zeros before
        sec = obj.sections[piece.index]
        image += data[sec.offset : sec.offset + sec.size]
    image += bytes(layout.size - len(image))
    return image


def _write_params(
    image: bytearray,
    obj: ElfObject,
    layout: ImageLayout,
    base: int,
    values: list[int],
    params: Sequence[Assignment],
) -> None:
    """Store parameter values at their variables, as modutils did before init_module."""
    if not params:
        return
    loaded = layout.section_offset.keys() | {C.SHN_COMMON}
    variables = {}
    for sym in obj.symbols[1:]:
        if not sym.name or sym.shndx not in loaded or sym.type == C.STT_SECTION:
            continue
        if sym.bind != C.STB_LOCAL or sym.name not in variables:
            variables[sym.name] = sym
    strings_at = layout.extra_offset.get(PARAM_STRINGS, 0)
    for param in params:
        sym = variables.get(param.name)
        if sym is None:
            raise LoadError(f"symbol for parameter {param.name} not found", file=obj.path)
        data = param.data
        if param.strings:
            pointers = []
            for text in param.strings:
                image[strings_at : strings_at + len(text)] = text
                pointers.append((base + strings_at).to_bytes(obj.word_size, "little"))
                strings_at += len(text)
            data = b"".join(pointers)
        offset = values[sym.index] - base
        room = sym.size or param.type.elem_size * param.type.max
        if len(data) > room or not 0 <= offset <= layout.size - len(data):
            raise LoadError(
                f"parameter {param.name}: {len(data)} bytes do not fit its variable ({room} bytes)",
                file=obj.path,
            )
        image[offset : offset + len(data)] = data


def _check_base(obj: ElfObject, layout: ImageLayout, base: int) -> None:
    """The base must keep every section aligned and the module inside the address space."""
    align = max((p.align for p in layout.pieces), default=1)
    if base % align:
        raise LoadError(
            f"base {base:#x} is not aligned to {align} bytes (the largest section alignment)",
            file=obj.path,
        )
    if base < 0 or base + layout.size > 1 << (8 * obj.word_size):
        raise LoadError(
            f"base {base:#x} + size {layout.size:#x} is outside the "
            f"{8 * obj.word_size}-bit address space",
            file=obj.path,
        )


def _named(
    obj: ElfObject, shndx_ok: Callable[[int], bool], only: frozenset[str] | None = None
) -> list[int]:
    """Indexes (from 1) of named symbols that are not SECTION/FILE, whose section
    index passes ``shndx_ok`` (and whose name is in ``only``, if given); C-speed
    scans of the symbol columns."""
    cols = obj.symbol_columns
    kind_ok = cols.types.translate(C.NAMES_SOMETHING)
    if only is not None:  # a few names: found in the string table, not by decoding all
        shndx = cols.shndx
        return [i for i in cols.indexes_named(only) if i and kind_ok[i] and shndx_ok(shndx[i])]
    ok = {x: shndx_ok(x) for x in set(cols.shndx)}
    keep = map(and_, map(and_, map(ok.__getitem__, cols.shndx), kind_ok), map(bool, cols.names))
    return list(compress(range(1, len(cols)), islice(keep, 1, None)))


# What the legacy header takes from the symbols (header.fill_header).
HEADER_SYMBOLS = frozenset(("init_module", "cleanup_module"))


def _symbol_map(
    obj: ElfObject, values: list[int], layout: ImageLayout, only: frozenset[str] | None = None
) -> dict[str, int]:
    """Named symbols with an address in the image or outside it (kernel, ABS).

    A global wins over a local of the same name, the last global over earlier
    ones and the first local over later ones; names keep their first position.
    ``only``: just these names (the header's few, without the cost of them all).
    """
    placed = layout.section_offset

    def wanted(shndx: int) -> bool:  # not in a section that is not loaded (.modinfo)
        return shndx >= C.SHN_LORESERVE or shndx == C.SHN_UNDEF or shndx in placed

    cols = obj.symbol_columns
    chosen = _named(obj, wanted, only)
    if not chosen:
        return {}
    pick = itemgetter(*chosen) if len(chosen) > 1 else lambda seq: (seq[chosen[0]],)
    names = pick(cols.names) if only is None else tuple(cols.names_of(chosen))
    vals = pick(values)
    is_local = list(map((C.STB_LOCAL).__eq__, pick(cols.binds)))
    result: dict[str, int] = dict.fromkeys(names)
    local = zip(compress(names, is_local), compress(vals, is_local), strict=True)
    result.update(reversed(list(local)))
    is_global = list(map(not_, is_local))
    result.update(zip(compress(names, is_global), compress(vals, is_global), strict=True))
    return result


def _image_info(
    obj: ElfObject,
    layout: ImageLayout,
    base: int,
    values: list[int],
    extra: Sequence[tuple[int, str]] = (),
) -> ImageInfo:
    from .backends.base import ImageInfo, Region

    regions = []
    for piece in layout.pieces:
        if piece.size == 0:
            continue
        if piece.index >= 0:
            kind = _region_kind(obj.sections[piece.index].flags)
        else:
            kind = (
                "data" if piece.nobits or piece.name in module_header.WRITABLE_PIECES else "rodata"
            )
        regions.append(Region(base + piece.offset, piece.size, kind))
    placed = layout.section_offset
    names = obj.symbol_columns.names
    symbols = sorted({(values[i], names[i]) for i in _named(obj, placed.__contains__)} | {*extra})
    return ImageInfo(tuple(regions), tuple(symbols))


def load(
    obj: ElfObject,
    backend: Backend,
    *,
    name: str,
    args: str = "",
    header: str = "auto",
    symbols: SymbolTable | None = None,
    autoclean: bool = False,
    params: Sequence[Assignment] = (),
    gpl_ok: bool = True,
    export_all: bool = False,
    defer_missing: bool = False,
    on_link: Callable[[LinkedModule], None] | None = None,
    before_create: Callable[[], None] | None = None,
    ksymoops: ObjectTag | None = None,
) -> LinkedModule:
    """Link against the backend's kernel and hand the image over, as 2.4 insmod did.

    ``defer_missing`` needs a backend that keeps deferred relocations (the
    simulated kernel's ``trap_addresses``); ``on_link`` sees the image just
    before ``init_module`` (for verbose output); ``before_create`` runs once the
    symbols are bound, just before ``create_module`` (insmod records the taint there).
    """
    defer = getattr(backend, "trap_addresses", None) if defer_missing else None
    if defer_missing and defer is None:
        raise UsageError(
            "--defer-missing needs the simulated kernel (--backend sim): a real 2.4 kernel "
            "cannot apply relocations later",
            file=obj.path,
        )
    table = symbols if symbols is not None else backend.kernel_symbols()
    bases = {m.name: m.base for m in backend.modules()}
    created = False

    def allocate(size: int) -> int:
        nonlocal created
        if before_create is not None:
            before_create()
        try:
            base = backend.create_module(name, size)
        except KernelError as err:
            if err.errno != errno.ENOMEM:
                raise
            # modutils' words: the size is what a user can act on
            text = f"can't allocate kernel memory for module; needed {size} bytes"
            raise KernelError("create_module", err.errno, file=err.file, text=text) from None
        created = True
        return base

    try:
        linked = link(
            obj, table, allocate, name=name, args=args, header=header,
            module_bases=bases, autoclean=autoclean, params=params, gpl_ok=gpl_ok,
            export_all=export_all, defer=defer, ksymoops=ksymoops,
        )  # fmt: skip
        if on_link is not None:
            on_link(linked)
        if linked.deferred is not None:
            backend.init_module(name, linked.image, linked.info, deferred=linked.deferred)  # type: ignore[call-arg]
        else:
            backend.init_module(name, linked.image, linked.info)
    except BaseException as exc:
        if created:  # 2.4 insmod: a created module that did not start is deleted again
            # the first error (or Ctrl-C, or a kill) is the one reported: a kernel that
            # fails the clean-up too, e.g. a hung VM, must not replace it
            with contextlib.suppress(LoadError):
                backend.delete_module(name)
        if isinstance(exc, LoadError):
            exc.with_file(obj.path)  # "hello.o: init_module: Device or resource busy"
        raise
    return linked
