"""A module as modutils 2.4's depmod saw it when it read the device tables: relocated to a
pseudo base address, every undefined symbol taken as absolute 0.

depmod did not load anything; it laid the object out at ``BASE`` with insmod's own rules
and relocated it, so that a table pointer (``__module_pci_device_table``) holds the address
of its table and a pointer inside an entry (a ``driver_data`` that is ``&some_info``)
holds the address the map file then prints.  Those printed values depend on the layout,
so this is insmod's order, not ours (:mod:`insmod_py.layout`): the allocated sections
(``.modinfo`` and ``.modstring`` never are) sorted by a priority, stably in section-header
order among equals -- code, then read-only data, then data, then NOBITS, and last the
``*.init``-style sections (a 10-character ``.xxxx.init`` name: ``.text.init``,
``.data.init``).  COMMON symbols go to the end of the first NOBITS section, smallest
first (modutils broke ties by its symbol hash order; here by symbol index: 2.4 builds
modules with ``-fno-common``, so this only matters to a table pointing at a COMMON).

Sections are relocated one at a time, when a table is read from them, with the machine's
own relocation recipes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from .elf import ElfObject, Section
from .elf import constants as C
from .errors import LoadError
from .layout import loaded_sections
from .reloc import apply_table_simple

BASE = 0x1000  # where modutils' depmod pretended to load every module


def _priority(sec: Section) -> int:
    """modutils' load-order priority: higher first."""
    prio = 0
    if not (len(sec.name) == 10 and sec.name.startswith(".") and sec.name[5:] == ".init"):
        prio |= 64
    if sec.flags & C.SHF_ALLOC:
        prio |= 32
    if sec.flags & C.SHF_EXECINSTR:
        prio |= 16
    if not sec.flags & C.SHF_WRITE:
        prio |= 8
    if not sec.nobits:
        prio |= 4
    if sec.name == ".got":
        prio |= 2
    return prio


def _align(value: int, align: int) -> int:
    return (value + align - 1) & -align


@dataclass(frozen=True)
class Placed:
    """A section in the pseudo image: its address and its size (COMMONs included)."""

    section: Section
    address: int
    size: int


class PseudoImage:
    """``obj`` laid out at :data:`BASE` as modutils' depmod did; relocated on demand."""

    def __init__(self, obj: ElfObject) -> None:
        self.obj = obj
        sections = sorted(loaded_sections(obj), key=_priority, reverse=True)  # stable
        commons = self._commons()
        bss = next((s for s in obj.sections if s.nobits and s in sections), None)
        placed: dict[int, Placed] = {}
        self.common_address: dict[int, int] = {}
        pos = 0
        for sec in sections:
            size, align = sec.size, sec.addralign
            extra: list[tuple[int, int]] = []
            if sec is bss:  # COMMONs extend the first NOBITS section
                for index, sym_size, sym_align in commons:
                    size = _align(size, sym_align)
                    extra.append((index, size))
                    size += sym_size
                    align = max(align, sym_align)
            pos = _align(pos, align)
            placed[sec.index] = Placed(sec, BASE + pos, size)
            for index, offset in extra:
                self.common_address[index] = BASE + pos + offset
            pos += size
        if commons and bss is None:  # modutils made a .bss for them, after the data
            pos = self._place_orphan_commons(commons, pos)
        self.placed = placed
        self.size = pos
        self._relocated: dict[int, tuple[bytes, frozenset[int]]] = {}

    def _commons(self) -> list[tuple[int, int, int]]:
        """(symbol index, size, alignment) of every COMMON symbol, smallest first."""
        cols = self.obj.symbol_columns
        found = [
            (index, cols.sizes[index], max(cols.values[index], 1))
            for index in range(1, len(cols))
            if cols.shndx[index] == C.SHN_COMMON
        ]
        return sorted(found, key=lambda c: c[1])

    def _place_orphan_commons(self, commons: Sequence[tuple[int, int, int]], pos: int) -> int:
        # Only a table pointing at a COMMON could see where: put them after everything.
        for index, size, align in commons:
            pos = _align(pos, align)
            self.common_address[index] = BASE + pos
            pos += size
        return pos

    @cached_property
    def values(self) -> list[int]:
        """Every symbol's value in the pseudo image (undefined: 0, as modutils made them)."""
        cols = self.obj.symbol_columns
        out = []
        for index in range(len(cols)):
            shndx, value = cols.shndx[index], cols.values[index]
            if shndx == C.SHN_UNDEF:
                out.append(0)
            elif shndx == C.SHN_COMMON:
                out.append(self.common_address.get(index, 0))
            elif shndx in self.placed:
                out.append(self.placed[shndx].address + value)
            else:  # ABS, or a section that is not loaded (its address stays 0)
                out.append(value)
        return out

    def section_at(self, address: int) -> Placed | None:
        """The placed section whose bytes hold ``address``."""
        for placed in self.placed.values():
            if placed.address <= address < placed.address + placed.size:
                return placed
        return None

    def contents(self, placed: Placed) -> tuple[bytes, frozenset[int]]:
        """A section's bytes after relocation, and the offsets a relocation patched.

        Raises LoadError when a relocation of the section cannot be applied.
        """
        index = placed.section.index
        if index not in self._relocated:
            self._relocated[index] = self._relocate(placed)
        return self._relocated[index]

    def _relocate(self, placed: Placed) -> tuple[bytes, frozenset[int]]:
        obj, sec = self.obj, placed.section
        image = bytearray(obj.contents(sec))
        image.extend(bytes(placed.size - len(image)))  # NOBITS and COMMONs read as zeros
        patched: set[int] = set()
        machine = obj.arch.relocs
        for rel in obj.relocation_sections():
            if obj.relocation_target(rel).index != sec.index:
                continue
            table = obj.relocations(rel)
            if sec.nobits:
                raise LoadError(f"relocations against NOBITS section {sec.name}", file=obj.path)
            apply_table_simple(
                image, table, self.values, obj.symbol_names, 0, placed.address, machine, obj.path
            )
            patched.update(table.offsets)
        return bytes(image), frozenset(patched)
