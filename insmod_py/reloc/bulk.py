"""The Python bulk path: whole relocation tables with C-speed primitives.

:func:`apply_table_bulk` works on whole columns (``map``/``operator``,
``itemgetter``, one ``struct`` format per group of equal fields).  It applies
a table only when it can prove the result equals the reference's
(:func:`insmod_py.reloc.apply_table_simple`): offsets sorted and
non-overlapping, every type supported, every value in range.  Otherwise it
declines before writing anything and the reference runs, so errors are always
the reference's, naming the first bad entry.

Tables of the usual types (fields as wide as an address, and for RELA the
narrower signed/unsigned ones) are computed on *lanes*: one Python int
holding every entry's number in its own address-wide slot (:class:`_Lanes`,
SIMD within a register), so an addition over 100k entries is a handful of
big-int operations instead of 100k Python ones; sizes mix in one table, and
per-type constants (size, -P, range bias) come from ``bytes.translate`` of
the types.  Python objects per entry remain only where ``struct`` gathers and
scatters the fields, and not even there for equally spaced fields (extended
slices).  Big tables go in chunks so that those objects stay few at a time.

The loader reaches this module only when the C accelerator is absent or has
declined a table.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import compress, islice, repeat
from operator import add, and_, itemgetter, le, sub

from ..elf.reader import RelocTable
from . import _FORMAT, Check, MachineRelocs, Recipe

_SIGNED_CODE = {1: "b", 2: "h", 4: "i", 8: "q"}


def _range(check: Check, bits: int) -> tuple[int, int]:
    """[lo, hi) of the values a field of ``bits`` accepts under ``check`` (not WRAP)."""
    if check is Check.SIGNED:
        return -(1 << (bits - 1)), 1 << (bits - 1)
    if check is Check.UNSIGNED:
        return 0, 1 << bits
    return -(1 << (bits - 1)), 1 << bits  # BITFIELD


_PIECES: dict[tuple[int, str], list[str]] = {}
_PIECE_TABLE = 4096  # distances between fields below this come from a table


def _fields_struct(offsets: Sequence[int], size: int, code: str) -> struct.Struct:
    """One format for every field, from the first one: pad bytes (``Nx``) between fields.

    Offsets are sorted and at least ``size`` apart (checked by the caller).
    """
    if len(offsets) == 1:
        return struct.Struct("<" + code)
    steps = list(map(sub, islice(offsets, 1, None), offsets))
    if max(steps) < _PIECE_TABLE:  # the usual case: one table lookup per field
        pieces = _PIECES.get((size, code))
        if pieces is None:
            pieces = [f"{d - size}x{code}" for d in range(_PIECE_TABLE)]
            _PIECES[(size, code)] = pieces
        body = "".join(itemgetter(*steps)(pieces)) if len(steps) > 1 else pieces[steps[0]]
    else:
        body = f"x{code}".join(map(str, map(sub, steps, repeat(size)))) + f"x{code}"
    return struct.Struct("<" + code + body)


def _merge_fields(
    image: bytearray,
    start: int,
    read: struct.Struct,
    old: Sequence[int],
    write: struct.Struct,
    new: Sequence[int],
) -> None:
    """Replace the fields at ``start`` with ``new`` and keep the bytes between them.

    Packing writes pad bytes as zeros, so the span is combined as integers:
    (span XOR old fields) clears the fields, OR new fields sets them.
    """
    end = start + write.size
    span = int.from_bytes(image[start:end], "little")
    cleared = span ^ int.from_bytes(read.pack(*old), "little")
    merged = cleared | int.from_bytes(write.pack(*new), "little")
    image[start:end] = merged.to_bytes(end - start, "little")


class _Lanes:
    """``n`` unsigned numbers of ``width`` bytes in one int, lane i at byte ``width * i``.

    Lanes are added modulo their width without carries crossing into the next
    lane: the low bits are added with the top bit of every lane cleared, and the
    top bits are put back with XOR (the classic SWAR sum).
    """

    def __init__(self, width: int, n: int) -> None:
        self.width, self.n = width, n
        self.code = _FORMAT[width]
        self.mask = (1 << (8 * width)) - 1
        # 1 in every lane; constants are multiples of it (cheaper than from_bytes)
        self.unit = int.from_bytes((b"\1" + bytes(width - 1)) * n, "little")

    # Each of these is a pass over every lane: made only by the tables that use them.
    @cached_property
    def ones(self) -> int:
        return self.unit * self.mask

    @cached_property
    def top(self) -> int:
        return self.unit << (8 * self.width - 1)

    @cached_property
    def rest(self) -> int:
        return self.ones ^ self.top

    def const(self, value: int) -> int:
        """Every lane holding ``value`` (taken modulo the lane width)."""
        return self.unit * (value & self.mask)

    def of(self, numbers: Sequence[int]) -> int:
        """Lanes from a sequence of numbers (each already in range)."""
        if not (isinstance(numbers, array) and numbers.itemsize == self.width):
            numbers = array(self.code, numbers)
        return int.from_bytes(_little(numbers), "little")

    def add(self, x: int, y: int) -> int:
        rest = self.rest
        return ((x & rest) + (y & rest)) ^ ((x ^ y) & self.top)

    def array(self, x: int, size: int | None = None) -> array:
        """The lanes as an array; ``size`` < width keeps each lane's low ``size`` bytes."""
        raw = x.to_bytes(self.width * self.n, "little")
        if size is not None and size != self.width:
            low = bytearray(size * self.n)
            for k in range(size):
                low[k::size] = raw[k :: self.width]
            raw, code = bytes(low), _FORMAT[size]
        else:
            code = self.code
        words = array(code, raw)
        if sys.byteorder == "big":
            words.byteswap()
        return words


def _little(words: array) -> bytes:
    """An array's bytes in little-endian order."""
    if sys.byteorder == "big":
        words = array(words.typecode, words)
        words.byteswap()
    return words.tobytes()


@dataclass
class _Entries:
    """A table's columns without its R_*_NONE entries, and the recipes of its types."""

    offsets: Sequence[int]
    types: Sequence[int]
    symbols: Sequence[int]
    addends: Sequence[int] | None  # None for SHT_REL (the addend is in the field)
    kinds: dict[int, Recipe]


def apply_table_bulk(
    image: bytearray,
    table: RelocTable,
    values: list[int],
    target_offset: int,
    base: int,
    machine: MachineRelocs,
) -> bool:
    """Apply a whole table with C-speed primitives; False (image untouched) if it cannot.

    Tables whose every type is a lane kind (:func:`_lane_kind`, all of what
    compilers emit for modules) go on lanes a chunk at a time, sizes mixed
    (:func:`_apply_on_lanes`).  Others are grouped by field class (size, overflow
    check): within a class PC-relative and absolute types differ only by ``- P``
    (:func:`_apply_by_class`).  Either way phase one reads every field and
    computes and checks every value; phase two writes.
    """
    if not table.offsets:
        return True
    entries = _entries(table, machine)
    if entries is None:
        return False  # unsupported type: the reference names it
    if not entries.offsets:
        return True
    rela = entries.addends is not None
    size = table.target.size
    if all(_lane_kind(r, rela, machine.address_bits) for r in entries.kinds.values()):
        return _apply_on_lanes(image, entries, values, target_offset, size, base, machine)
    return _apply_by_class(image, entries, values, target_offset, size, base, machine)


def _entries(table: RelocTable, machine: MachineRelocs) -> _Entries | None:
    """The table's columns less its R_*_NONE entries; None if a type has no recipe."""
    offsets, types, symbols = table.offsets, table.types, table.symbols
    addends = table.addends if table.is_rela else None
    recipes = machine.recipes
    present = _present_types(types, recipes)
    if present is None:
        return None
    kinds = {t: recipes[t] for t in present}
    if any(r.size == 0 for r in kinds.values()):
        keep = list(map({t: r.size != 0 for t, r in kinds.items()}.__getitem__, types))
        offsets, types = list(compress(offsets, keep)), list(compress(types, keep))
        symbols = list(compress(symbols, keep))
        if addends is not None:
            addends = list(compress(addends, keep))
        kinds = {t: r for t, r in kinds.items() if r.size}
    return _Entries(offsets, types, symbols, addends, kinds)


def _apply_on_lanes(
    image: bytearray,
    entries: _Entries,
    values: list[int],
    target_offset: int,
    target_size: int,
    base: int,
    machine: MachineRelocs,
) -> bool:
    """Every chunk computed and checked (phase one) before any is written."""
    offsets, types, kinds = entries.offsets, entries.types, entries.kinds
    if not isinstance(types, bytes):
        types = bytes(array("B", types))  # every type here has a recipe, so < 256
    addends = entries.addends
    writes = []
    for lo in range(0, len(offsets), LANE_CHUNK):
        # Chunks follow each other: sorted, fields apart across the boundary too.
        if lo and offsets[lo] < offsets[lo - 1] + kinds[types[lo - 1]].size:
            return False
        hi = lo + LANE_CHUNK
        chunk = _LaneChunk(
            image, offsets[lo:hi], types[lo:hi], entries.symbols[lo:hi],
            None if addends is None else addends[lo:hi], kinds, target_offset, target_size,
            base, machine,
        )  # fmt: skip
        write = chunk.compute(values)
        if write is None:
            return False
        writes.append(write)
    for write in writes:
        write()
    return True


def _apply_by_class(
    image: bytearray,
    entries: _Entries,
    values: list[int],
    target_offset: int,
    target_size: int,
    base: int,
    machine: MachineRelocs,
) -> bool:
    """Entries grouped by field class (size, check), one format per group."""
    offsets, types, kinds = entries.offsets, entries.types, entries.kinds
    # Sorted and non-overlapping: fields can be read and written in any order,
    # and the last field ends last.
    if len(offsets) > 1:
        size_of = {t: r.size for t, r in kinds.items()}
        ends = map(add, offsets, map(size_of.__getitem__, types))
        if not all(map(le, ends, islice(offsets, 1, None))):
            return False
    if offsets[-1] + kinds[types[-1]].size > target_size:
        return False
    if any(
        r.check is not Check.WRAP and r.size * 8 >= machine.address_bits for r in kinds.values()
    ):
        return False  # the signed normalisation needs a field narrower than an address
    writes = []
    for group in _class_groups(entries):
        out = _compute_group(image, group, values, target_offset, base, machine)
        if out is None:
            return False
        writes.append((target_offset + group.offsets[0], *out))
    for start, read, old, write, new in writes:
        _merge_fields(image, start, read, old, write, new)
    return True


@dataclass
class _Group:
    """The entries of one field class: same size and overflow check."""

    size: int
    check: Check
    offsets: Sequence[int]
    types: Sequence[int]
    symbols: Sequence[int]
    addends: Sequence[int] | None


def _class_groups(entries: _Entries) -> list[_Group]:
    """Split the entries by field class, keeping table order within each."""
    classes: dict[tuple[int, Check], list[int]] = {}
    for t, r in entries.kinds.items():
        classes.setdefault((r.size, r.check), []).append(t)
    if len(classes) == 1:
        ((size, check),) = classes
        return [_Group(size, check, entries.offsets, entries.types, entries.symbols,
                       entries.addends)]  # fmt: skip
    class_of = {t: key for key, ts in classes.items() for t in ts}
    which = list(map(class_of.__getitem__, entries.types))
    groups = []
    for size, check in classes:
        sel = list(map((size, check).__eq__, which))
        addends = None if entries.addends is None else list(compress(entries.addends, sel))
        groups.append(
            _Group(size, check, list(compress(entries.offsets, sel)),
                   list(compress(entries.types, sel)), list(compress(entries.symbols, sel)),
                   addends)
        )  # fmt: skip
    return groups


def _present_types(types: Sequence[int], recipes: dict[int, Recipe]) -> set[int] | None:
    """The distinct types of a table, or None if one has no recipe."""
    if isinstance(types, bytes):  # the reader's usual form: C-speed byte searches
        known = bytes(t for t in recipes if 0 <= t < 256)
        if types.translate(None, known):
            return None
        return {t for t in known if t.to_bytes(1, "little") in types}
    present = set(types)
    return present if present <= recipes.keys() else None


def _lane_kind(recipe: Recipe, rela: bool, bits: int) -> bool:
    """Whether entries of this recipe can be computed on lanes (:class:`_LaneChunk`).

    Address-wide wrapping fields, and for RELA narrower fields with a signed
    or unsigned range.  REL narrower fields (their addend is read signed) and
    BITFIELD checks take the per-class path.
    """
    if recipe.size * 8 == bits:
        return recipe.check is Check.WRAP
    return rela and recipe.check in (Check.SIGNED, Check.UNSIGNED)


def _per_type(types: bytes, const: dict[int, int], lanes: _Lanes, present: int) -> int:
    """Lanes holding ``const[type]`` of each entry's type (0 for types not in ``const``).

    ``present``: how many distinct types the table has (one constant for all: no spreading).

    Byte k of every lane comes from one ``bytes.translate`` of the types (a
    256-entry table of byte k of each constant), stored with an extended slice.
    """
    distinct = set(const.values())
    if len(distinct) == 1 and len(const) == present:
        return lanes.const(distinct.pop())
    width = lanes.width
    spread = bytearray(width * lanes.n)
    for k in range(width):
        column = bytes(const.get(t, 0) >> (8 * k) & 0xFF for t in range(256))
        if any(column):
            spread[k::width] = types.translate(column)
    return int.from_bytes(spread, "little")


class _Pieces(dict[int, str]):
    """struct format pieces by key ``gap << 4 | size``: ``gap`` pad bytes, then the field.

    Filled on first use of a key: a module has a few hundred distinct gaps.
    """

    def __missing__(self, key: int) -> str:
        gap, size = key >> 4, key & 15
        piece = self[key] = (f"{gap}x" if gap else "") + _FORMAT[size]
        return piece


_READ_PIECES = _Pieces()

# Entries computed at once on lanes: the transient objects of a chunk (struct's
# per-field codes, the unpacked fields) stay a few MB however big the table.
LANE_CHUNK = 32768


class _LaneChunk:
    """Entries of lane kinds, sizes mixed, computed on address-wide lanes.

    Everything per entry lives in lanes (offsets, field ends, gaps, S, A, -P,
    range checks), so the only per-entry Python objects are where ``struct``
    gathers the old fields and scatters the new ones.  Fields that are equally
    spaced (``__mcount_loc``, ``.orc_unwind_ip``...) need not even those:
    extended slices of the image read and write them all at once.
    """

    def __init__(
        self,
        image: bytearray,
        offsets: Sequence[int],
        types: bytes,
        symbols: Sequence[int],
        addends: Sequence[int] | None,
        kinds: dict[int, Recipe],
        target_offset: int,
        target_size: int,
        base: int,
        machine: MachineRelocs,
    ) -> None:
        self.image, self.offsets, self.types, self.symbols = image, offsets, types, symbols
        self.addends, self.kinds, self.machine = addends, kinds, machine
        self.target_offset, self.target_size, self.base = target_offset, target_size, base
        self.n = len(offsets)
        self.bits = machine.address_bits
        self.width = self.bits // 8
        self.lanes = _Lanes(self.width, self.n)
        self.start = target_offset + offsets[0]
        self.sizes = {t: r.size for t, r in kinds.items()}
        self.size0 = self.sizes[types[0]]

    def compute(self, values: list[int]) -> Callable[[], None] | None:
        """Phase one; returns the function that writes (phase two), or None if the
        reference must decide."""
        inputs = self._inputs(values)
        if inputs is None:
            return None
        at, s, addend = inputs
        spacing = self._spacing(at)
        if spacing is None:
            return None
        keys, regular = spacing
        addend = self._read_fields(keys, regular, addend)
        if addend is None:
            return None
        value = self._value(at, s, addend)
        if not self._fits(value):
            return None  # overflow: the reference raises for the first one
        if regular is not None:
            return self._slice_writer(value, regular)
        return self._field_writer(at, value)

    def _per_type(self, const: dict[int, int]) -> int:
        return _per_type(self.types, const, self.lanes, len(self.kinds))

    def _inputs(self, values: list[int]) -> tuple[int, int, int | None] | None:
        """Lanes of the offsets, of S and (RELA) of the addends; None when one does not
        fit its lane."""
        lanes, n, syms = self.lanes, self.n, self.symbols
        addend = None
        try:
            at = lanes.of(self.offsets)
            addends = self.addends
            if addends is not None:
                if not (isinstance(addends, array) and addends.itemsize == self.width):
                    addends = array(_SIGNED_CODE[self.width], addends)
                addend = int.from_bytes(_little(addends), "little")
            pick = itemgetter(*syms) if n > 1 else lambda seq: (seq[syms[0]],)
            s = lanes.of(pick(values))
        except OverflowError:
            return None
        # Offsets below 2**(bits-4): ends, gaps and gap << 4 below cannot leave a lane.
        bits = self.bits
        if at & lanes.const(-(1 << (bits - 4))) or self.target_offset + self.target_size >> (
            bits - 1
        ):
            return None
        return at, s, addend

    def _spacing(self, at: int) -> tuple[int, int | None] | None:
        """(key lanes, regular spacing): each field's gap and size from the previous one,
        and the spacing when all are equal.  None when fields are unsorted, overlap or
        leave the section."""
        n, bits = self.n, self.bits
        ends = at + self._per_type(self.sizes)
        if ends >> (bits * (n - 1)) > self.target_size:
            return None  # the last field (the last to end, once sorted) leaves the section
        if n == 1:
            return 0, None
        # Lane i: offsets[i+1] - ends[i].  A negative gap (unsorted or overlapping
        # fields) borrows and leaves at least 2**(bits-1) in its lane (the top bit)
        # or, in the last lane, a negative number.
        gaps = (at >> bits) - (ends & ((1 << (bits * (n - 1))) - 1))
        self.inner = inner = _Lanes(self.width, n - 1)
        if gaps < 0 or gaps & inner.top:
            return None
        # Key of field i+1: its gap and size, the struct format piece that reaches it.
        keys = (gaps << 4) | ((ends - at) >> bits)
        regular = None
        if len(set(self.sizes.values())) == 1:
            first = keys & inner.mask
            if keys == inner.const(first):
                regular = (first >> 4) + self.size0
                self.end = self.start + regular * (n - 1) + self.size0
        return keys, regular

    def _read_fields(self, keys: int, regular: int | None, addend: int | None) -> int | None:
        """REL: the addend lanes, read from the fields.  RELA with the zero-target rule:
        None when a field is not zero.  Otherwise ``addend`` unchanged."""
        image, n, start, size0 = self.image, self.n, self.start, self.size0
        if addend is not None and not self.machine.zero_target:
            return addend
        if regular is not None:
            column = [image[start + k : self.end : regular] for k in range(size0)]
            if addend is None:
                return int.from_bytes(_interleave(column, n), "little")
            return None if any(c.count(0) != n for c in column) else addend
        body = "".join(map(_READ_PIECES.__getitem__, self.inner.array(keys))) if n > 1 else ""
        fields = struct.Struct("<" + _FORMAT[size0] + body).unpack_from(image, start)
        if addend is None:  # REL: the addend is the field, as wide as a lane
            return self.lanes.of(fields)
        return None if any(fields) else addend  # the reference names the first non-zero

    def _value(self, at: int, s: int, addend: int) -> int:
        """S + A, minus P for the PC-relative types."""
        lanes = self.lanes
        value = lanes.add(s, addend)
        pcrel = {t: r.pcrel for t, r in self.kinds.items()}
        if any(pcrel.values()):
            # - P = ~(where + offset) + 1 = (offset XOR all-ones) + (1 - where)
            where = self.base + self.target_offset
            minus_p = lanes.add(at ^ lanes.ones, lanes.const(1 - where))
            if not all(pcrel.values()):
                minus_p &= self._per_type({t: lanes.mask for t, pc in pcrel.items() if pc})
            value = lanes.add(value, minus_p)
        return value

    def _fits(self, value: int) -> bool:
        """A checked value passes when value + bias has no bit above its field (SIGNED:
        bias 2**(field bits - 1), UNSIGNED: 0): the reference's range, modulo 2**bits."""
        lanes, kinds = self.lanes, self.kinds
        above = {
            t: lanes.mask ^ ((1 << 8 * r.size) - 1)
            for t, r in kinds.items()
            if r.check is not Check.WRAP
        }
        if not above:
            return True
        bias = {t: 1 << (8 * r.size - 1) for t, r in kinds.items() if r.check is Check.SIGNED}
        biased = lanes.add(value, self._per_type(bias)) if bias else value
        return not biased & self._per_type(above)

    def _slice_writer(self, value: int, regular: int) -> Callable[[], None]:
        """Phase two for equally spaced fields: one extended-slice store per byte."""
        image, start, end, width = self.image, self.start, self.end, self.width
        raw = value.to_bytes(width * self.n, "little")
        size0 = self.size0

        def write_slices() -> None:
            for k in range(size0):
                image[start + k : end : regular] = raw[k::width]

        return write_slices

    def _field_writer(self, at: int, value: int) -> Callable[[], None]:
        """Phase two: one ``pack_into`` per field, a code per size and signedness."""
        image, types, lanes = self.image, self.types, self.lanes
        where_at = lanes.array(at + lanes.const(self.target_offset))
        # Signed lanes: every field's value fits its write code (checked above).
        new = array(_SIGNED_CODE[self.width], value.to_bytes(self.width * self.n, "little"))
        if sys.byteorder == "big":
            new.byteswap()
        codes = {
            t: (_FORMAT if r.check is Check.UNSIGNED else _SIGNED_CODE)[r.size]
            for t, r in self.kinds.items()
        }

        def write_fields() -> None:
            distinct = set(codes.values())
            for code in distinct:
                pack_into = struct.Struct("<" + code).pack_into
                if len(distinct) == 1:
                    deque(map(pack_into, repeat(image), where_at, new), maxlen=0)
                else:
                    sel = types.translate(bytes(codes.get(t) == code for t in range(256)))
                    chosen = compress(where_at, sel), compress(new, sel)
                    deque(map(pack_into, repeat(image), *chosen), maxlen=0)

        return write_fields


def _interleave(columns: list[bytes], n: int) -> bytes:
    """Byte k of entry i from ``columns[k][i]``: the fields, one after the other."""
    if len(columns) == 1:
        return bytes(columns[0])
    out = bytearray(len(columns) * n)
    for k, column in enumerate(columns):
        out[k :: len(columns)] = column
    return bytes(out)


def _compute_group(
    image: bytearray,
    group: _Group,
    values: list[int],
    target_offset: int,
    base: int,
    machine: MachineRelocs,
) -> tuple[struct.Struct, Sequence[int], struct.Struct, list[int]] | None:
    """The new field values of one class of entries, or None if they need the reference."""
    size, check = group.size, group.check
    offs, types, symbols, addends = group.offsets, group.types, group.symbols, group.addends
    n = len(offs)
    bits = machine.address_bits
    amask = (1 << bits) - 1
    half = 1 << (bits - 1)
    fmask = (1 << (size * 8)) - 1
    unsigned = _FORMAT[size]
    wrap = check is Check.WRAP
    write_code = _SIGNED_CODE[size] if check is Check.SIGNED else unsigned
    write = _fields_struct(offs, size, write_code)
    # REL reads the addend as signed, as the reference does (it matters only
    # when a check sees the value); RELA requires the targets to be zero.
    rel_read_signed = addends is None and not wrap
    read = _fields_struct(offs, size, _SIGNED_CODE[size]) if rel_read_signed else write
    fields = read.unpack_from(image, target_offset + offs[0])
    if addends is None:
        addends = fields
    elif machine.zero_target and any(fields):
        return None
    pcrel = {t: machine.recipes[t].pcrel for t in set(types)}
    all_pc, no_pc = all(pcrel.values()), not any(pcrel.values())
    where = base + target_offset  # P = where + r_offset
    if not wrap:  # small congruent numbers, so that min/max see what the checks see
        where = ((where + half) & amask) - half
    # S per entry; for an all-PC class the constant part of P is folded in.
    folded = where if all_pc else 0
    if wrap and not folded:
        s_of = values
    else:
        s_of = {
            s: (((values[s] + half) & amask) - half if not wrap else values[s]) - folded
            for s in set(symbols)
        }
    svals = itemgetter(*symbols)(s_of) if n > 1 else (s_of[symbols[0]],)
    new = map(add, svals, addends)
    if all_pc:
        new = map(sub, new, offs)
    elif not no_pc:
        pcmask = {t: -1 if pc else 0 for t, pc in pcrel.items()}
        pcterm = map(and_, map(add, offs, repeat(where)), map(pcmask.__getitem__, types))
        new = map(sub, new, pcterm)
    result = list(new)
    if not wrap:
        lo, hi = _range(check, size * 8)
        if min(result) < lo or max(result) >= hi:
            return None  # overflow, or a value only the exact modular rule gets right
    if wrap or check is Check.BITFIELD:
        result = list(map(and_, result, repeat(fmask)))
    return read, fields, write, result
