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
and ``next_ref``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from . import modstruct
from .elf import ElfObject
from .layout import Layout

HEADER = "(struct module)"
KMODTAB = ".kmodtab"
# Pieces the kernel writes after loading (usecount, flags, refs chains).
WRITABLE_PIECES = frozenset((HEADER, KMODTAB))


def header_piece(word_size: int) -> tuple[str, int, int]:
    return (HEADER, modstruct.sizeof_module(word_size), word_size)


def kmodtab_pieces(word_size: int, ndeps: int) -> list[tuple[str, int, int]]:
    if not ndeps:
        return []
    return [(KMODTAB, ndeps * modstruct.sizeof(word_size, "module_ref"), word_size)]


def _section_span(obj: ElfObject, layout: Layout, base: int, name: str) -> tuple[int, int]:
    """(start, end) address of a loaded section, or (0, 0) when absent or empty."""
    sec = obj.section_by_name(name)
    if sec is None or sec.index not in layout.section_offset or sec.size == 0:
        return 0, 0
    start = base + layout.section_offset[sec.index]
    return start, start + sec.size


def _write_kmodtab(
    image: bytearray, word: int, layout: Layout, base: int, deps: Sequence[int]
) -> dict[str, int]:
    """The ``deps``/``ndeps`` header fields after writing the table (empty without deps)."""
    if not deps:
        return {}
    kmodtab = layout.extra_offset[KMODTAB]
    rows = [{"dep": dep, "ref": base} for dep in deps]
    table = modstruct.build_array(word, "module_ref", rows)
    image[kmodtab : kmodtab + len(table)] = table
    return {"ndeps": len(deps), "deps": base + kmodtab}


def fill_header(
    image: bytearray,
    obj: ElfObject,
    layout: Layout,
    base: int,
    symbols: Mapping[str, int],
    *,
    deps: Sequence[int],
    autoclean: bool = False,
) -> None:
    """Legacy path: write a complete 2.4 ``struct module`` (and ``.kmodtab``) in place."""
    word = obj.word_size
    syms_start, syms_end = _section_span(obj, layout, base, "__ksymtab")
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
    }
    header = modstruct.build_module(word, fields)
    offset = layout.extra_offset[HEADER]
    image[offset : offset + len(header)] = header


def complete_new_header(
    image: bytearray,
    word: int,
    layout: Layout,
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
