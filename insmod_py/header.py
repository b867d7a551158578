"""The module header at offset 0 of the image, on both load paths.

Legacy path: a plain object carries no header, so the loader reserves one at
offset 0 (modutils' ``.this`` section) and fills a 2.4 ``struct module``
after relocation.  ``size_of_struct`` is ``sizeof(struct module)``, so an
unpatched kernel accepts it, and the name lives inside the image.

New path: the prelinked object's ``struct module_new`` is already there and
relocated; the loader only adds what ``module.c`` cannot know: the modules it
depends on (Zippel: "module deps have to be added ... could as well be
managed in user space") and the autoclean flag.

Both paths add a ``.kmodtab`` of ``struct module_ref`` for the modules whose
exports the module uses; userspace fills ``dep``, the kernel links ``ref``
and ``next_ref``.  Spare slots may follow, for dependencies the kernel adds
when it applies deferred relocations.

Legacy path, module without a ``__ksymtab``: like modutils (unless ``-x``),
the loader makes one exporting every global defined symbol, with the names in
a loader-made ``.kstrtab`` piece.  A prelinked module always has a
``__ksymtab`` (kernel_stub/module.c) and exports exactly it.
"""

from __future__ import annotations

import struct
from collections.abc import Collection, Iterator, Mapping, Sequence
from itertools import accumulate, compress, filterfalse, islice, repeat
from operator import add, and_, or_

from . import modstruct
from .elf import ElfObject
from .elf import constants as C
from .layout import ImageLayout

HEADER = "(struct module)"
KMODTAB = ".kmodtab"
EXPORTS = "__ksymtab (all globals)"  # modutils' made-up __ksymtab for a module without one
EXPORT_NAMES = ".kstrtab (all globals)"
# modutils' hide_special_symbols: made local before the export-all table was built.
NEVER_EXPORTED = frozenset(("init_module", "cleanup_module", "kernel_version"))
# Pieces the kernel writes after loading (usecount, flags, refs chains).
WRITABLE_PIECES = frozenset((HEADER, KMODTAB))


def struct_module_piece(word_size: int) -> tuple[str, int, int]:
    """The legacy path's ``struct module``, pinned at offset 0 by the layout."""
    return (HEADER, modstruct.sizeof_module(word_size), word_size)


def kmodtab_pieces(word_size: int, ndeps: int, spare: int = 0) -> list[tuple[str, int, int]]:
    """``.kmodtab``; ``spare`` empty slots are for deps the kernel adds later (deferred)."""
    if not ndeps + spare:
        return []
    return [(KMODTAB, (ndeps + spare) * modstruct.sizeof(word_size, "module_ref"), word_size)]


def wants_export_all(obj: ElfObject) -> bool:
    """modutils: a module without a ``__ksymtab`` section exports its globals (unless -x)."""
    return obj.section_by_name("__ksymtab") is None


def export_all_symbols(
    obj: ElfObject, loaded: Collection[int], overridden: Collection[int]
) -> tuple[list[int], list[str]]:
    """Symbol indexes and names (parallel lists) of every global defined in a loaded
    section, ABS or COMMON, and of every weak undefined one: the first of each name,
    in index order.

    ``loaded`` are the placed section indices, ``overridden`` the symbol indices
    a kernel symbol took over (a weak definition or weak reference the kernel
    provides).  A weak undefined symbol nobody provides is, as modutils'
    ``obj_check_undefineds`` made it, an absolute symbol of value 0, and so exported.
    """
    cols = obj.symbol_columns
    binds, shndx = cols.binds, cols.shndx
    placed = {x: x in loaded or x in (C.SHN_ABS, C.SHN_COMMON) for x in set(shndx)}
    placed[C.SHN_UNDEF] = False
    weak_undefined = map(and_, map((C.SHN_UNDEF).__eq__, shndx), binds.translate(_WEAK))
    defined = map(or_, map(placed.__getitem__, shndx), weak_undefined)
    # Global, defined (or weak), placed, not a SECTION/FILE symbol: C-speed column scans.
    keep = map(
        and_,
        map(and_, defined, cols.types.translate(C.NAMES_SOMETHING)),
        binds.translate(_NOT_LOCAL),
    )
    indexes = list(compress(range(1, len(cols)), islice(keep, 1, None)))
    indexes = list(filterfalse(overridden.__contains__, indexes))
    names = cols.names_of(indexes)  # these names only
    # dict.fromkeys keeps each name's first occurrence, in order; in the reversed zip
    # the first index of a name is written last, so it wins.
    unique = dict.fromkeys(names)
    for hidden in _NEVER_EXPORTED_OR_UNNAMED:
        unique.pop(hidden, None)
    first = dict(zip(reversed(names), reversed(indexes), strict=True))
    return list(map(first.__getitem__, unique)), list(unique)


_NOT_LOCAL = bytes(b != C.STB_LOCAL for b in range(256))
_WEAK = bytes(b == C.STB_WEAK for b in range(256))
_NEVER_EXPORTED_OR_UNNAMED = NEVER_EXPORTED | {""}


def export_pieces(
    word_size: int, names: Sequence[str], leading: int = 0
) -> list[tuple[str, int, int]]:
    """The loader-made table: ``leading`` bytes copied from the module's own
    ``__ksymtab`` (see :func:`write_exports`), then one entry per name."""
    if not names:
        return []
    table = leading + len(names) * modstruct.sizeof(word_size, "module_symbol")
    return [(EXPORTS, table, word_size), (EXPORT_NAMES, len(_export_strings(names)), 1)]


def _export_strings(names: Sequence[str]) -> bytes:
    """The names as the table's string block: each encoded, NUL-terminated."""
    return ("\0".join(names) + "\0").encode()


def _string_lengths(names: Sequence[str], strings: bytes) -> Iterator[int]:
    """Each name's length in ``strings``, its NUL included."""
    if not strings.isascii():  # a character may take more than a byte
        return (len(n.encode()) + 1 for n in names)
    return map(add, map(len, names), repeat(1))


def write_exports(
    image: bytearray,
    word: int,
    layout: ImageLayout,
    base: int,
    values: Sequence[int],
    names: Sequence[str],
    leading_from: tuple[int, int] | None = None,
) -> None:
    """Fill the loader-made table: ``struct module_symbol {value, name}`` per value and name.

    ``leading_from`` (image offset, size): the module's own, relocated
    ``__ksymtab`` entries, copied to the start of the table first (modutils grew
    that section in place to add the ksymoops symbols; the copy leaves the
    object's sections as GNU ld would place them and gives the kernel one table).
    """
    if not names:
        return
    table_at = layout.extra_offset[EXPORTS]
    if leading_from is not None:
        start, size = leading_from
        image[table_at : table_at + size] = image[start : start + size]
        table_at += size
    names_at = layout.extra_offset[EXPORT_NAMES]
    strings = _export_strings(names)
    image[names_at : names_at + len(strings)] = strings
    starts = accumulate(_string_lengths(names, strings), initial=base + names_at)
    entry = modstruct.layout(word, "module_symbol")
    if (entry.field("value").offset, entry.field("name").offset, entry.size) == (0, word, 2 * word):
        # {value, name} words back to back: the whole table is one pack
        flat: list[int] = [0] * (2 * len(names))
        flat[0::2] = values
        flat[1::2] = islice(starts, len(names))
        table = struct.pack(f"<{len(flat)}{modstruct.WORD_FORMAT[word]}", *flat)
    else:
        entries = [{"value": v, "name": n} for v, n in zip(values, starts, strict=False)]
        table = modstruct.build_array(word, "module_symbol", entries)
    image[table_at : table_at + len(table)] = table


def _exports_span(layout: ImageLayout, base: int, word: int) -> tuple[int, int] | None:
    if EXPORTS not in layout.extra_offset:
        return None
    piece = next(p for p in layout.pieces if p.name == EXPORTS)
    return base + piece.offset, base + piece.offset + piece.size


def _section_span(obj: ElfObject, layout: ImageLayout, base: int, name: str) -> tuple[int, int]:
    """(start, end) address of a loaded section, or (0, 0) when absent or empty."""
    sec = obj.section_by_name(name)
    if sec is None or sec.index not in layout.section_offset or sec.size == 0:
        return 0, 0
    start = base + layout.section_offset[sec.index]
    return start, start + sec.size


def _write_kmodtab(
    image: bytearray, word: int, layout: ImageLayout, base: int, deps: Sequence[int]
) -> dict[str, int]:
    """The ``deps``/``ndeps`` header fields after writing the table (empty without one).

    Spare slots after the used ones stay zero; ``deps`` points at the table even
    when none is used yet, so the kernel can fill them (deferred relocations).
    """
    if KMODTAB not in layout.extra_offset:
        return {}
    kmodtab = layout.extra_offset[KMODTAB]
    if not deps:
        return {"ndeps": 0, "deps": base + kmodtab}
    rows = [{"dep": dep, "ref": base} for dep in deps]
    table = modstruct.build_array(word, "module_ref", rows)
    image[kmodtab : kmodtab + len(table)] = table
    return {"ndeps": len(deps), "deps": base + kmodtab}


# modutils' names: 2.4 put __init code and data in these; the kernel may free from runsize on.
INIT_SECTIONS = (".text.init", ".data.init")
KALLSYMS = "__kallsyms"
ARCHDATA = "__archdata"  # ARCHDATA_SEC_NAME on every machine but mips and ppc


def _extension_fields(obj: ElfObject, layout: ImageLayout, base: int) -> dict[str, int]:
    """The fields after ``ex_table_end`` that modutils' ``init_module`` filled.

    * ``runsize``: the offset from the module start (the header) of the lower of
      ``.text.init`` and ``.data.init``, each counted when the object has that
      section (placed; its size does not matter); 0 when it has neither.
    * ``kallsyms_start/end``, ``archdata_start/end``: the address span of a
      ``__kallsyms`` / ``__archdata`` section the object has with a non-zero
      size; 0 and 0 otherwise.  modutils could also build a ``__kallsyms`` for a
      module (``insmod -S``, or a kernel with kallsyms); pyinsmod only passes
      through the one the object has.
    """
    by_name = {obj.sections[i].name: off for i, off in layout.section_offset.items()}
    init = [by_name[n] for n in INIT_SECTIONS if n in by_name]
    fields = {"runsize": min(init)} if init else {}
    for prefix, name in (("kallsyms", KALLSYMS), ("archdata", ARCHDATA)):
        start, end = _section_span(obj, layout, base, name)
        if end > start:
            fields[f"{prefix}_start"], fields[f"{prefix}_end"] = start, end
    return fields


def fill_header(
    image: bytearray,
    obj: ElfObject,
    layout: ImageLayout,
    base: int,
    symbols: Mapping[str, int],
    *,
    deps: Sequence[int],
    autoclean: bool = False,
) -> None:
    """Legacy path: write a complete 2.4 ``struct module`` (and ``.kmodtab``) in place."""
    word = obj.word_size
    syms_start, syms_end = _exports_span(layout, base, word) or _section_span(
        obj, layout, base, "__ksymtab"
    )
    ex_start, ex_end = _section_span(obj, layout, base, "__ex_table")
    fields = {
        "size_of_struct": modstruct.sizeof_module(word),
        "name": base + layout.name_offset,
        "size": layout.size,
        "flags": modstruct.MOD_AUTOCLEAN if autoclean else 0,
        "nsyms": (syms_end - syms_start) // modstruct.sizeof(word, "module_symbol"),
        "syms": syms_start,
        "init": symbols.get("init_module", 0),
        "cleanup": symbols.get("cleanup_module", 0),
        "ex_table_start": ex_start,
        "ex_table_end": ex_end,
        **_write_kmodtab(image, word, layout, base, deps),
        **_extension_fields(obj, layout, base),
    }
    header = modstruct.build_module(word, fields)
    offset = layout.extra_offset[HEADER]
    image[offset : offset + len(header)] = header


def complete_new_header(
    image: bytearray,
    word: int,
    layout: ImageLayout,
    base: int,
    *,
    deps: Sequence[int],
    autoclean: bool = False,
) -> None:
    """New path: add deps and the autoclean flag to the object's ``struct module_new``."""
    fields = _write_kmodtab(image, word, layout, base, deps)
    if autoclean:
        fields["flags"] = modstruct.MOD_AUTOCLEAN
    for name, value in fields.items():
        field = modstruct.layout(word, "module").field(name)
        image[field.offset : field.offset + field.size] = value.to_bytes(field.size, "little")
