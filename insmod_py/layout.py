"""Place every SHF_ALLOC section of an object in one contiguous module image.

The order is Zippel's (and 2.4 insmod's): an optional header first, then the
allocated sections in section-header order, each at its ``sh_addralign``,
NOBITS included (zero-filled later); then COMMON symbols, each aligned by its
``st_value`` as the ELF spec says; then any loader-made tables; and last the
module name and argument strings that ``__module_name``/``__module_args``
point at.  Offsets here are relative to the image start; the base address is
not known until ``create_module`` answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress, count

from .elf import ElfObject, Section
from .elf import constants as C
from .errors import ElfError

# A 2.4 module was vmalloc'ed; a claim larger than this is hostile, not a module.
MAX_IMAGE_SIZE = 256 << 20
MODULE_INITDATA = ".module_initdata"
# gcc marks every C section SHF_ALLOC; modutils' obj_load cleared the bit on
# these, which are read from the file and never loaded.
NEVER_LOADED = frozenset((".modinfo", ".modstring"))


@dataclass(frozen=True, slots=True)
class Placed:
    """A piece of the image: a real section (``index`` >= 0) or a loader-made one (-1)."""

    name: str
    offset: int
    size: int
    align: int
    index: int = -1
    nobits: bool = False


@dataclass(frozen=True)
class ImageLayout:
    """Where everything lives in the image, relative to its start."""

    pieces: tuple[Placed, ...]
    section_offset: dict[int, int]  # section index -> image offset
    common_offset: dict[int, int]  # symbol index -> image offset (SHN_COMMON symbols)
    extra_offset: dict[str, int]  # loader-made pieces by name
    name_offset: int
    args_offset: int
    size: int


def loaded_sections(obj: ElfObject) -> list[Section]:
    """The sections the image holds, in section-header order (SHF_ALLOC, less NEVER_LOADED)."""
    return [
        s for s in obj.sections if s.alloc and s.type != C.SHT_NULL and s.name not in NEVER_LOADED
    ]


def _align(value: int, align: int) -> int:
    return (value + align - 1) & -align


def lay_out(
    obj: ElfObject,
    module_name: bytes,
    module_args: bytes,
    *,
    struct_module: tuple[str, int, int] | None = None,
    extras: Sequence[tuple[str, int, int]] = (),
) -> ImageLayout:
    """Lay out ``obj``.

    ``struct_module`` is a loader-made piece pinned at offset 0 (the legacy
    path's ``struct module``); ``extras`` are loader-made pieces (name, size, align)
    placed after COMMON.  Without it, a ``.module_initdata`` section is
    pinned at offset 0 (the prelinked, new path).
    """
    pieces: list[Placed] = []
    section_offset: dict[int, int] = {}
    extra_offset: dict[str, int] = {}
    pos = 0

    def place(name: str, size: int, align: int, index: int = -1, nobits: bool = False) -> int:
        nonlocal pos
        if align <= 0 or align & (align - 1):
            raise ElfError(f"{name}: alignment {align} is not a power of two", file=obj.path)
        offset = _align(pos, align)
        pos = offset + size
        if pos > MAX_IMAGE_SIZE:
            raise ElfError(
                f"module too large: {name} ends at {pos:#x} (limit {MAX_IMAGE_SIZE:#x})",
                file=obj.path,
            )
        pieces.append(Placed(name, offset, size, align, index, nobits))
        return offset

    alloc = loaded_sections(obj)
    if struct_module is not None:
        extra_offset[struct_module[0]] = place(*struct_module)
    else:
        # The prelinked header must be the first thing in the image.
        alloc.sort(key=lambda s: s.name != MODULE_INITDATA)
    for sec in alloc:
        section_offset[sec.index] = place(sec.name, sec.size, sec.addralign, sec.index, sec.nobits)

    common_offset: dict[int, int] = {}
    cols = obj.symbol_columns  # columns, not Symbol objects: this runs for every load
    for index in compress(count(), map((C.SHN_COMMON).__eq__, cols.shndx)):
        align = cols.values[index] or 1
        name = f"COMMON:{cols.name(index)}"
        common_offset[index] = place(name, cols.sizes[index], align, nobits=True)

    for name, size, align in extras:
        extra_offset[name] = place(name, size, align)

    name_offset = place("(module name)", len(module_name) + 1, 1)
    args_offset = place("(module args)", len(module_args) + 1, 1)
    return ImageLayout(
        tuple(pieces), section_offset, common_offset, extra_offset, name_offset, args_offset, pos
    )
