"""Relocation machinery shared by every machine.

Each machine (``i386.py``, ``x86_64.py``) is data: a table of relocation type
-> :class:`Recipe` (width, PC-relative or not, overflow rule).  One routine,
:func:`apply_table`, applies any recipe, so adding a type is one row.
The formulas are the ELF ones: ``S + A`` or ``S + A - P``, with ``A`` read
from the patched word for SHT_REL and taken from ``r_addend`` for SHT_RELA.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum

from ..elf.reader import RelocTable
from ..errors import RelocError


class Check(Enum):
    """How a computed value must fit its field (binutils' complain_overflow_*)."""

    WRAP = "wrap"  # no check: the field is as wide as the address space
    UNSIGNED = "unsigned"  # zero-extension must give the value back
    SIGNED = "signed"  # sign-extension must give the value back
    BITFIELD = "bitfield"  # fits as signed or as unsigned


@dataclass(frozen=True, slots=True)
class Recipe:
    name: str
    size: int  # bytes patched; 0 = nothing to do (R_*_NONE)
    pcrel: bool = False
    check: Check = Check.WRAP


@dataclass(frozen=True)
class MachineRelocs:
    """Everything machine-specific about relocating an object."""

    name: str
    rela: bool  # SHT_RELA (addend in the entry) or SHT_REL (addend in the word)
    address_bits: int
    recipes: dict[int, Recipe]
    type_names: dict[int, str]  # every known type, supported or not, for messages
    zero_target: bool = False  # refuse a RELA target that is already non-zero (kernel rule)
    overflow_hint: str = ""  # appended to overflow errors

    def type_name(self, rtype: int) -> str:
        return self.type_names.get(rtype, f"type {rtype}")


_FORMAT = {1: "B", 2: "H", 4: "I", 8: "Q"}


def _fits(value: int, bits: int, check: Check) -> bool:
    if check is Check.WRAP:
        return True
    unsigned_ok = 0 <= value < (1 << bits)
    signed_ok = -(1 << (bits - 1)) <= value < (1 << (bits - 1))
    if check is Check.UNSIGNED:
        return unsigned_ok
    if check is Check.SIGNED:
        return signed_ok
    return signed_ok or 0 <= value < (1 << bits)


def apply_table(
    image: bytearray,
    table: RelocTable,
    values: list[int],
    names: list[str],
    target_offset: int,
    base: int,
    machine: MachineRelocs,
    path: str,
) -> None:
    """Apply one relocation section to the image in place.

    ``values``/``names`` are indexed by symbol index; ``target_offset`` is the
    image offset of the patched section and ``base`` the module base address.
    """
    section = table.target
    limit = section.size
    recipes = machine.recipes
    rela = table.is_rela
    bits = machine.address_bits
    address_mask = (1 << bits) - 1
    for i, rtype in enumerate(table.types):
        recipe = recipes.get(rtype)
        offset = table.offsets[i]
        if recipe is None:
            raise RelocError(
                f"unsupported relocation {machine.type_name(rtype)} in {table.section.name} "
                f"at offset {offset:#x}",
                file=path,
            )
        size = recipe.size
        if size == 0:
            continue
        if offset > limit - size:
            raise RelocError(
                f"relocation {machine.type_name(rtype)} at offset {offset:#x} is outside "
                f"{section.name} (size {section.size:#x})",
                file=path,
            )
        where = target_offset + offset
        fmt = "<" + _FORMAT[size]
        if rela:
            addend = table.addends[i]
            if machine.zero_target and any(image[where : where + size]):
                raise RelocError(
                    f"invalid relocation target: {section.name}+{offset:#x} is already non-zero "
                    f"({machine.type_name(rtype)})",
                    file=path,
                )
        else:
            addend = struct.unpack_from(fmt.lower(), image, where)[0]
        value = values[table.symbols[i]] + addend
        if recipe.pcrel:
            value -= base + where
        # Arithmetic is modulo the address width; read the result as signed so
        # that the overflow rules see e.g. 0xffffffffa0000000 as negative.
        value &= address_mask
        if value >> (bits - 1):
            value -= 1 << bits
        if not _fits(value, size * 8, recipe.check):
            raise RelocError(
                f"relocation overflow: {machine.type_name(rtype)} against "
                f"{names[table.symbols[i]] or '(section)'} in {section.name}+{offset:#x}: "
                f"value {value & address_mask:#x} does not fit in {size * 8} bits "
                f"({recipe.check.value}){machine.overflow_hint}",
                file=path,
            )
        struct.pack_into(fmt, image, where, value & ((1 << (size * 8)) - 1))


def for_machine(machine: int) -> MachineRelocs:
    """The relocation table of an ELF ``e_machine`` (already validated by the reader)."""
    from ..elf import constants as C

    if machine == C.EM_386:
        from .i386 import RELOCS
    elif machine == C.EM_X86_64:
        from .x86_64 import RELOCS
    else:
        raise RelocError(f"no relocation support for machine {machine}")
    return RELOCS
