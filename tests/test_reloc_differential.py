"""Differential tests: the bulk path and the C accelerator against the per-entry reference.

Random relocation tables (sorted and unsorted offsets, overlapping fields,
values that overflow, every supported type of both machines, REL and RELA)
are applied by each path to the same image.  Whenever the bulk path accepts
a table it must produce exactly the reference's bytes; whenever it declines,
it must leave the image untouched (the reference then decides, and reports).
The C accelerator is exact, not conservative: it must apply precisely the
tables the reference applies, byte for byte, and leave the image untouched
for the ones the reference refuses.
"""

from __future__ import annotations

import random
import struct
from array import array

import pytest
from support import objects
from support.native import require_native

import insmod_py.reloc as reloc
from insmod_py.elf.reader import RelocTable, Section
from insmod_py.errors import RelocError
from insmod_py.reloc import MachineRelocs, apply_raw, apply_table_simple
from insmod_py.reloc.bulk import apply_table_bulk
from insmod_py.reloc.i386 import RELOCS as I386
from insmod_py.reloc.x86_64 import RELOCS as X86_64

SECTION_SIZE = 4096
BASES = objects.MODULE_BASES


def random_table(rng: random.Random, machine, rela: bool) -> tuple[RelocTable, list[int]]:
    types = sorted(machine.recipes)
    n = rng.choice([40, 100, 400])
    sorted_offsets = rng.random() < 0.8
    stride = rng.choice([4, 8, 9, 16])
    offsets = [i * stride for i in range(n)] if sorted_offsets else []
    if not sorted_offsets:
        offsets = [rng.randrange(SECTION_SIZE - 8) for _ in range(n)]
    offsets = [min(o, SECTION_SIZE - 8) for o in offsets]
    kinds = rng.sample(types, k=min(len(types), rng.choice([1, 2, 3])))
    nsym = 50
    far = rng.random() < 0.2  # some symbols out of 32-bit reach of the module
    base = BASES[machine.name]
    values = [
        (0xFFFF888000000000 if far and i % 7 == 0 else base + rng.randrange(1 << 20))
        & ((1 << machine.address_bits) - 1)
        for i in range(nsym)
    ]
    table = reloc_table(
        rela,
        offsets,
        [rng.choice(kinds) for _ in range(n)],
        [rng.randrange(nsym) for _ in range(n)],
        [rng.randrange(-64, 64) if rela else 0 for _ in range(n)],
    )
    return table, values


def reloc_table(
    rela: bool,
    offsets: list[int],
    types: list[int],
    symbols: list[int],
    addends: list[int],
    size: int = SECTION_SIZE,
) -> RelocTable:
    """A decoded relocation section patching a ``size``-byte ``.test`` at image offset 0."""
    return RelocTable(
        section=Section(5, ".rel.test", 9, 0, 0, 0, 0, 0, 1, 1, 0),
        target=Section(1, ".test", 1, 2, 0, 0, size, 0, 0, 16, 0),
        is_rela=rela,
        offsets=array("Q", offsets),
        types=array("I", types),
        symbols=array("I", symbols),
        addends=array("q", addends),
    )


@pytest.mark.parametrize("seed", range(300))
def test_bulk_matches_the_reference_or_declines_untouched(seed: int) -> None:
    rng = random.Random(seed)
    machine = rng.choice([I386, X86_64])
    rela = machine is X86_64
    table, values = random_table(rng, machine, rela)
    start = bytes(0 if rela else rng.randrange(256) for _ in range(SECTION_SIZE + 64))
    base = BASES[machine.name]
    names = [f"s{i}" for i in range(len(values))]

    bulk_image = bytearray(start)
    accepted = apply_table_bulk(bulk_image, table, values, 32, base, machine)
    reference = bytearray(start)
    try:
        apply_table_simple(reference, table, values, names, 32, base, machine, "t.o")
        failed = False
    except RelocError:
        failed = True
    if accepted:
        assert not failed, "bulk accepted a table the reference refuses"
        assert bulk_image == reference
    else:
        assert bulk_image == start


def test_the_random_tables_exercise_the_bulk_path() -> None:
    """Guard against a vacuous comparison: a fair share of tables must be taken in bulk."""
    accepted = 0
    for seed in range(300):
        rng = random.Random(seed)
        machine = rng.choice([I386, X86_64])
        table, values = random_table(rng, machine, machine is X86_64)
        image = bytearray(SECTION_SIZE + 64)
        accepted += apply_table_bulk(image, table, values, 32, BASES[machine.name], machine)
    assert accepted >= 40


def encode(table: RelocTable, elf64: bool) -> bytes:
    """The table as the file holds it: Elf32/Elf64 Rel or Rela entries."""
    shift, fmt = (32, "<QQ") if elf64 else (8, "<II")
    rows = zip(table.offsets, table.types, table.symbols, table.addends, strict=True)
    if table.is_rela:
        fmt += "q" if elf64 else "i"
        return b"".join(struct.pack(fmt, o, s << shift | t, a) for o, t, s, a in rows)
    return b"".join(struct.pack(fmt, o, s << shift | t) for o, t, s, _ in rows)


@pytest.fixture
def native() -> None:
    """The C accelerator must be built (setup.py; `make venv` checks it too)."""
    if reloc.NATIVE is None:
        require_native()


def native_case(seed: int) -> tuple[random.Random, MachineRelocs, bool, RelocTable, list[int]]:
    """The random generator, machine, section kind, table and symbol values of one case."""
    rng = random.Random(10_000 + seed)
    machine = rng.choice([I386, X86_64])
    rela = rng.random() < 0.5  # both kinds of section on both machines
    table, values = random_table(rng, machine, rela)
    return rng, machine, rela, table, values


def apply_native(
    image: bytearray, table: RelocTable, values: list[int], machine: MachineRelocs, rela: bool
) -> bool:
    """The C accelerator on ``table`` encoded as the file holds it, for its machine."""
    elf64 = machine is X86_64
    raw = encode(table, elf64)
    base = BASES[machine.name]
    return apply_raw(
        image, raw, array("Q", values), 32, SECTION_SIZE, base, machine, elf64=elf64, rela=rela
    )


@pytest.mark.parametrize("seed", range(400))
def test_native_applies_exactly_what_the_reference_applies(native: None, seed: int) -> None:
    rng, machine, rela, table, values = native_case(seed)
    if rng.random() < 0.1:  # an entry outside the section, or naming a missing symbol
        at = rng.randrange(len(table.offsets))
        if rng.random() < 0.5:
            table.offsets[at] = rng.choice([SECTION_SIZE - 1, SECTION_SIZE, (1 << 32) - 1])
        else:
            table.symbols[at] = len(values)
    start = bytes(0 if rela and rng.random() < 0.9 else rng.randrange(256) for _ in range(4160))
    base = BASES[machine.name]
    names = [f"s{i}" for i in range(len(values))]

    image = bytearray(start)
    applied = apply_native(image, table, values, machine, rela)
    reference = bytearray(start)
    try:
        if max(table.symbols) >= len(values):  # the reader refuses the whole table
            raise RelocError("symbol index out of range")
        apply_table_simple(reference, table, values, names, 32, base, machine, "t.o")
        failed = False
    except RelocError:
        failed = True
    assert applied == (not failed)
    assert image == (start if failed else reference)


def test_native_undoes_every_entry_before_the_one_that_fails(native: None) -> None:
    """Repeated and overlapping REL fields (each entry reads what the previous one
    wrote), then an unsupported entry: the image comes back exactly as it was."""
    from insmod_py.reloc.i386 import RELOCS

    entries = [(8, 1, 0), (10, 1, 1), (8, 2, 1), (9, 1, 0)] * 4 + [(16, 3, 0)]  # 3: GOT32
    raw = b"".join(struct.pack("<II", o, s << 8 | t) for o, t, s in entries)
    values = array("Q", [0x12345678, 0xC8801000])
    image = bytearray(range(64))
    assert not apply_raw(image, raw, values, 0, 64, 0xC8800000, RELOCS, elf64=False, rela=False)
    assert image == bytearray(range(64))
    assert apply_raw(image, raw[:-8], values, 0, 64, 0xC8800000, RELOCS, elf64=False, rela=False)
    offsets, types, symbols = map(list, zip(*entries[:-1], strict=True))
    table = reloc_table(False, offsets, types, symbols, [0] * len(offsets), size=64)
    reference = bytearray(range(64))
    apply_table_simple(reference, table, list(values), ["a", "b"], 0, 0xC8800000, RELOCS, "t.o")
    assert image == reference != bytearray(range(64))


def test_the_random_tables_exercise_both_native_outcomes(native: None) -> None:
    """Guard against a vacuous comparison: many tables applied, some refused."""
    outcomes = []
    for seed in range(400):
        _, machine, rela, table, values = native_case(seed)
        outcomes.append(apply_native(bytearray(4160), table, values, machine, rela))
    assert 100 <= sum(outcomes) <= 380
