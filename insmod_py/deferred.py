"""Deferred relocations: sites whose symbol no loaded module provides yet.

The livepatch idea: instead of refusing a module whose undefined
symbols are missing, the loader keeps the relocation records of those sites
(offset, type, addend, the bytes before relocation) and the names they need,
and the kernel applies them when a module exporting the names arrives.  Until
then every such site points at an "unresolved symbol" trap address the
kernel knows, so a call or a read there is an oops naming the symbol.

:func:`collect` picks the records out of a relocation table while linking;
:func:`apply` applies them later to the module's memory with the SAME entry
point the loader uses (:class:`insmod_py.reloc.Relocator`), fed a relocation
table made of the kept records (so only the Python paths: there are no file
bytes for the C accelerator to read, and a few sites do not need it).  Nothing
here knows a machine: the recipes do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .elf import constants as C
from .elf.reader import RelocTable, Section
from .reloc import Relocator, Strategy, for_machine


@dataclass(frozen=True)
class DeferredSite:
    """One relocation entry left pointing at a trap."""

    name: str  # the symbol the site needs
    offset: int  # image offset of the patched field
    rtype: int  # r_type, interpreted by the machine's recipe table
    addend: int  # r_addend (SHT_RELA); 0 for SHT_REL, whose addend is in ``original``
    original: bytes  # the field as the object had it, before any relocation


@dataclass(frozen=True)
class DeferredRelocs:
    """What a module hands the kernel about its unresolved sites."""

    machine: int  # ELF e_machine: which recipe table applies the sites
    rela: bool
    sites: tuple[DeferredSite, ...]
    gpl_ok: bool  # may GPLONLY_ exports satisfy them (the module's license)
    deps_limit: int  # module_ref slots in the module's .kmodtab (used + spare)

    @property
    def names(self) -> list[str]:
        return sorted({s.name for s in self.sites})


def collect(
    table: RelocTable,
    image: bytes | bytearray,
    target_offset: int,
    deferred: Mapping[int, str],
    machine: int,
) -> list[DeferredSite]:
    """The entries of ``table`` against a deferred symbol index, read BEFORE relocating."""
    recipes = for_machine(machine).recipes
    out = []
    for i, sym in enumerate(table.symbols):
        name = deferred.get(sym)
        if name is None:
            continue
        recipe = recipes.get(table.types[i])
        size = recipe.size if recipe is not None else 0
        where = target_offset + table.offsets[i]
        original = bytes(image[where : where + size])
        out.append(
            DeferredSite(
                name, where, table.types[i], table.addends[i] if table.is_rela else 0, original
            )
        )
    return out


def apply(
    memory: bytearray,
    base: int,
    sites: Sequence[DeferredSite],
    addresses: Mapping[str, int],
    machine: int,
    rela: bool,
    path: str,
    strategy: Strategy = Strategy.AUTO,
) -> None:
    """Relocate ``sites`` in a loaded module's ``memory`` with the providers' ``addresses``.

    The fields get their original bytes back first (REL's addend; zero for
    RELA, whose targets the recipe table may require to be empty), then one
    relocation table made of the sites goes through :class:`Relocator`.
    """
    for site in sites:
        memory[site.offset : site.offset + len(site.original)] = site.original
    names = sorted({s.name for s in sites})
    index = {n: i for i, n in enumerate(names)}
    whole = Section(
        -1, "(module memory)", C.SHT_PROGBITS, C.SHF_ALLOC, 0, 0, len(memory), 0, 0, 1, 0
    )
    table = RelocTable(
        section=Section(-1, "(deferred relocations)", C.SHT_RELA if rela else C.SHT_REL,
                        0, 0, 0, 0, 0, 0, 1, 0),
        target=whole,
        is_rela=rela,
        offsets=[s.offset for s in sites],
        types=[s.rtype for s in sites],
        symbols=[index[s.name] for s in sites],
        addends=[s.addend for s in sites],
    )  # fmt: skip
    values = [addresses[n] for n in names]
    relocator = Relocator(memory, values, names, base, for_machine(machine), path, strategy)
    relocator.apply(table, 0)
