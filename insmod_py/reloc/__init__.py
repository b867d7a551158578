"""Relocation machinery shared by every machine.

Each machine (``i386.py``, ``x86_64.py``) is data: a table of relocation type
-> :class:`Recipe` (width, PC-relative or not, overflow rule).  One routine
applies any recipe, so adding a type is one row.  The formulas are the ELF
ones: ``S + A`` or ``S + A - P``, with ``A`` read from the patched word for
SHT_REL and taken from ``r_addend`` for SHT_RELA.

Three implementations of that routine, and one entry point choosing between them:

* :func:`apply_table_simple`, one Python step per entry: the reference, what
  small tables use, and what words every error (naming the first bad entry);
* :func:`.bulk.apply_table_bulk`, whole columns with C-speed primitives,
  which applies a table only when it can prove the reference's result and
  otherwise declines before writing anything;
* the C accelerator (``_native.c``, :func:`apply_raw`), which applies a whole
  section straight from the file's bytes.  It takes the recipes from these
  tables, follows the reference entry by entry (order, formulas, checks), and
  when an entry would fail it undoes what it applied and declines, so a Python
  path runs and words the error.

:class:`Relocator` is the entry point: its :class:`Strategy` says which of them
run, and in which order (``AUTO``: C, then bulk for big tables, then the reference).

The bulk path stays although ``make venv`` requires the C extension: it is the
documented path for an install without a compiler (``PYINSMOD_PURE_PYTHON=1``,
or a build where ``_native.c`` did not compile), where a 100k-entry module would
otherwise take the per-entry reference; ``tests/test_reloc_paths.py`` and
``tests/test_reloc_differential.py`` hold the three paths to one result.
"""

from __future__ import annotations

import os
import struct
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from types import ModuleType

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


# Below this many entries the per-entry loop is as fast as building formats.
BULK_MIN_ENTRIES = 32

Names = Sequence[str] | Callable[[], Sequence[str]]


class Strategy(Enum):
    """Which implementation applies a relocation section (see the module docstring)."""

    AUTO = "auto"  # C when built; else bulk for tables of BULK_MIN_ENTRIES or more
    NATIVE = "native"  # C only; what it declines goes to the reference (which words errors)
    BULK = "bulk"  # the bulk path whenever it applies, the reference otherwise; no C
    REFERENCE = "reference"  # the per-entry Python loop only


@dataclass
class PathCounts:
    """How many sections each implementation applied or declined (tests, benchmarks)."""

    native_applied: int = 0
    native_declined: int = 0
    bulk_applied: int = 0
    bulk_declined: int = 0
    reference: int = 0


@dataclass
class Relocator:
    """Relocates one image: the machine's recipes, the symbol values and the strategy.

    ``values``/``names`` are indexed by symbol index (``names`` may be a function
    returning them: only an error message needs them); ``base`` is the module base
    address.  A section is offered first as file bytes (:meth:`apply_raw`, the C
    accelerator) and, if that declines, decoded (:meth:`apply`).
    """

    image: bytearray
    values: list[int]
    names: Names
    base: int
    machine: MachineRelocs
    path: str
    strategy: Strategy = Strategy.AUTO
    counts: PathCounts = field(default_factory=PathCounts)
    _native_values: array | None = field(default=None, init=False, repr=False)
    _native_tried: bool = field(default=False, init=False, repr=False)

    @property
    def uses_native(self) -> bool:
        return self.strategy in (Strategy.AUTO, Strategy.NATIVE) and NATIVE is not None

    def apply_raw(
        self,
        raw: bytes | memoryview,
        target_offset: int,
        target_size: int,
        *,
        elf64: bool,
        rela: bool,
    ) -> bool:
        """Apply a section from its file bytes with the C accelerator, if the strategy
        allows it; False when it did not (absent, not allowed, or an entry would fail)."""
        if not self.uses_native:
            return False
        if not self._native_tried:  # the values converted once per image
            self._native_values, self._native_tried = native_values(self.values), True
        done = apply_raw(
            self.image, raw, self._native_values, target_offset, target_size, self.base,
            self.machine, elf64=elf64, rela=rela,
        )  # fmt: skip
        if done:
            self.counts.native_applied += 1
        else:
            self.counts.native_declined += 1
        return done

    def apply(self, table: RelocTable, target_offset: int) -> None:
        """Apply a decoded table with the Python paths; raises RelocError naming the
        first bad entry."""
        big = len(table.offsets) >= BULK_MIN_ENTRIES
        if self.strategy is Strategy.BULK or (self.strategy is Strategy.AUTO and big):
            from .bulk import apply_table_bulk  # loaded only when a table takes this path

            inputs = (self.image, table, self.values, target_offset, self.base, self.machine)
            if apply_table_bulk(*inputs):
                self.counts.bulk_applied += 1
                return
            self.counts.bulk_declined += 1
        self.counts.reference += 1
        apply_table_simple(
            self.image, table, self.values, self.names, target_offset, self.base, self.machine,
            self.path,
        )  # fmt: skip


def apply_table_simple(
    image: bytearray,
    table: RelocTable,
    values: list[int],
    names: Names,
    target_offset: int,
    base: int,
    machine: MachineRelocs,
    path: str,
) -> None:
    """The reference: one entry at a time, in table order; raises at the first bad entry."""
    section = table.target
    limit = section.size
    recipes = machine.recipes
    rela = table.is_rela
    bits = machine.address_bits
    address_mask = (1 << bits) - 1
    type_name = machine.type_name
    for i, rtype in enumerate(table.types):
        recipe = recipes.get(rtype)
        offset = table.offsets[i]
        if recipe is None:
            at = f"in {table.section.name} at offset {offset:#x}"
            raise RelocError(f"unsupported relocation {type_name(rtype)} {at}", file=path)
        size = recipe.size
        if size == 0:
            continue
        if offset > limit - size:
            outside = f" at offset {offset:#x} is outside {section.name} (size {limit:#x})"
            raise RelocError(f"relocation {type_name(rtype)}{outside}", file=path)
        where = target_offset + offset
        fmt = "<" + _FORMAT[size]
        if rela:
            addend = table.addends[i]
            if machine.zero_target and any(image[where : where + size]):
                target = f"{section.name}+{offset:#x} is already non-zero"
                raise RelocError(
                    f"invalid relocation target: {target} ({type_name(rtype)})", file=path
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
            symbol = (names() if callable(names) else names)[table.symbols[i]] or "(section)"
            raise RelocError(
                f"relocation overflow: {type_name(rtype)} against {symbol} in "
                f"{section.name}+{offset:#x}: value {value & address_mask:#x} does not fit in "
                f"{size * 8} bits ({recipe.check.value}){machine.overflow_hint}",
                file=path,
            )
        struct.pack_into(fmt, image, where, value & ((1 << (size * 8)) - 1))


def _load_native() -> ModuleType | None:
    """The C accelerator (``_native.c``), unless absent or ``PYINSMOD_PURE_PYTHON`` is set."""
    if os.environ.get("PYINSMOD_PURE_PYTHON"):
        return None
    try:
        from . import _native
    except ImportError:  # built optionally (setup.py): the Python paths do the work
        return None
    return _native


NATIVE = _load_native()

_CHECK_CODE = {Check.WRAP: 0, Check.UNSIGNED: 1, Check.SIGNED: 2, Check.BITFIELD: 3}
_RECIPE_ROWS: dict[str, bytes] = {}


def _recipe_rows(machine: MachineRelocs) -> bytes:
    """The machine's recipes for C: 256 rows of (known, size, pcrel, check)."""
    rows = _RECIPE_ROWS.get(machine.name)
    if rows is None:
        table = bytearray(256 * 4)
        for rtype, r in machine.recipes.items():
            if 0 <= rtype < 256:
                table[4 * rtype : 4 * rtype + 4] = bytes((1, r.size, r.pcrel, _CHECK_CODE[r.check]))
        rows = _RECIPE_ROWS[machine.name] = bytes(table)
    return rows


def native_values(values: list[int]) -> array | None:
    """Symbol values as the C accelerator takes them (once per link), or None."""
    if NATIVE is None:
        return None
    try:
        return array("Q", values)
    except OverflowError:  # not a 64-bit word: the Python paths decide
        return None


def apply_raw(
    image: bytearray,
    raw: bytes | memoryview,
    values: array | None,
    target_offset: int,
    target_size: int,
    base: int,
    machine: MachineRelocs,
    *,
    elf64: bool,
    rela: bool,
) -> bool:
    """Apply a relocation section from its file bytes with the C accelerator.

    True: applied, exactly as :func:`apply_table_simple` would.  False: the
    accelerator is absent or an entry would fail; the image is untouched and
    the caller runs the Python path, which words the error.
    """
    if NATIVE is None or values is None:
        return False
    failed = NATIVE.apply(
        image, raw, values, _recipe_rows(machine), target_offset, target_size, base,
        machine.address_bits, elf64, rela, machine.zero_target,
    )  # fmt: skip
    return failed < 0


def for_machine(machine: int) -> MachineRelocs:
    """The relocation table of an ELF ``e_machine`` (already validated by the reader)."""
    from ..arch import by_e_machine

    arch = by_e_machine(machine)
    if arch is None:
        raise RelocError(f"no relocation support for machine {machine}")
    return arch.relocs
