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
    compilers emit for modules) take :func:`_lanes_chunk` a chunk at a time,
    sizes mixed.  Others are grouped by field class (size, overflow check): within a
    class PC-relative and absolute types differ only by ``- P``.  Either way
    phase one reads every field and computes and checks every value; phase two
    writes.
    """
    offsets, types, syms = table.offsets, table.types, table.symbols
    addends = table.addends if table.is_rela else None
    if not offsets:
        return True
    recipes = machine.recipes
    present = _present_types(types, recipes)
    if present is None:
        return False  # unsupported type: the reference names it
    kinds = {t: recipes[t] for t in present}
    if any(r.size == 0 for r in kinds.values()):  # drop R_*_NONE entries
        keep = list(map({t: r.size != 0 for t, r in kinds.items()}.__getitem__, types))
        offsets, types = list(compress(offsets, keep)), list(compress(types, keep))
        syms = list(compress(syms, keep))
        if addends is not None:
            addends = list(compress(addends, keep))
        kinds = {t: r for t, r in kinds.items() if r.size}
        if not offsets:
            return True
    bits = machine.address_bits
    if all(_lane_kind(r, addends is not None, bits) for r in kinds.values()):
        if not isinstance(types, bytes):
            types = bytes(array("B", types))  # every type here has a recipe, so < 256
        writes = []
        for lo in range(0, len(offsets), LANE_CHUNK):
            # Chunks follow each other: sorted, fields apart across the boundary too.
            if lo and offsets[lo] < offsets[lo - 1] + kinds[types[lo - 1]].size:
                return False
            hi = lo + LANE_CHUNK
            write = _lanes_chunk(
                image, offsets[lo:hi], types[lo:hi], syms[lo:hi],
                None if addends is None else addends[lo:hi], kinds, values, target_offset,
                table.target.size, base, machine,
            )  # fmt: skip
            if write is None:
                return False
            writes.append(write)
        for write in writes:
            write()
        return True
    # Sorted and non-overlapping: fields can be read and written in any order,
    # and the last field ends last.
    if len(offsets) > 1:
        size_of = {t: r.size for t, r in kinds.items()}
        ends = map(add, offsets, map(size_of.__getitem__, types))
        if not all(map(le, ends, islice(offsets, 1, None))):
            return False
    if offsets[-1] + kinds[types[-1]].size > table.target.size:
        return False
    if any(r.check is not Check.WRAP and r.size * 8 >= bits for r in kinds.values()):
        return False  # the signed normalisation below needs a field narrower than an address
    classes: dict[tuple[int, Check], list[int]] = {}
    for t, r in kinds.items():
        classes.setdefault((r.size, r.check), []).append(t)
    if len(classes) == 1:
        groups = [(next(iter(classes)), offsets, types, syms, addends)]
    else:
        class_of = {t: key for key, ts in classes.items() for t in ts}
        which = list(map(class_of.__getitem__, types))
        groups = []
        for key in classes:
            sel = list(map(key.__eq__, which))
            adds = None if addends is None else list(compress(addends, sel))
            groups.append(
                (key, list(compress(offsets, sel)), list(compress(types, sel)),
                 list(compress(syms, sel)), adds)
            )  # fmt: skip
    writes = []
    for key, offs, tps, sms, adds in groups:
        out = _compute_group(image, key, offs, tps, sms, adds, values, target_offset, base, machine)
        if out is None:
            return False
        writes.append((target_offset + offs[0], *out))
    for start, read, old, write, new in writes:
        _merge_fields(image, start, read, old, write, new)
    return True


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
    """Whether entries of this recipe can be computed on lanes (:func:`_lanes_chunk`).

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


def _lanes_chunk(
    image: bytearray,
    offsets: Sequence[int],
    types: bytes,
    syms: Sequence[int],
    addends: Sequence[int] | None,
    kinds: dict[int, Recipe],
    values: list[int],
    target_offset: int,
    target_size: int,
    base: int,
    machine: MachineRelocs,
) -> Callable[[], None] | None:
    """Entries of lane kinds, sizes mixed, computed on address-wide lanes.

    Returns the function that writes them (phase two), or None if the reference
    must decide.  Everything per entry lives in lanes (offsets, field ends,
    gaps, S, A, -P, range checks), so the only per-entry Python objects are
    where ``struct`` gathers the old fields and scatters the new ones.  Fields
    that are equally spaced (``__mcount_loc``, ``.orc_unwind_ip``...) need not
    even those: extended slices of the image read and write them all at once.
    """
    n = len(offsets)
    bits = machine.address_bits
    width = bits // 8
    lanes = _Lanes(width, n)
    start = target_offset + offsets[0]
    try:
        at = lanes.of(offsets)
        if addends is not None:
            if not (isinstance(addends, array) and addends.itemsize == width):
                addends = array(_SIGNED_CODE[width], addends)
            addend = int.from_bytes(_little(addends), "little")
        pick = itemgetter(*syms) if n > 1 else lambda seq: (seq[syms[0]],)
        s = lanes.of(pick(values))
    except OverflowError:
        return None  # an input out of range for its lane
    # Offsets below 2**(bits-4): ends, gaps and gap << 4 below cannot leave a lane.
    if at & lanes.const(-(1 << (bits - 4))) or target_offset + target_size >> (bits - 1):
        return None
    sizes = {t: r.size for t, r in kinds.items()}
    ends = at + _per_type(types, sizes, lanes, len(kinds))
    if ends >> (bits * (n - 1)) > target_size:
        return None  # the last field (the last to end, once sorted) leaves the section
    regular = None  # the spacing of equally spaced fields of one size
    if n > 1:
        # Lane i: offsets[i+1] - ends[i].  A negative gap (unsorted or overlapping
        # fields) borrows and leaves at least 2**(bits-1) in its lane (the top bit)
        # or, in the last lane, a negative number.
        gaps = (at >> bits) - (ends & ((1 << (bits * (n - 1))) - 1))
        inner = _Lanes(width, n - 1)
        if gaps < 0 or gaps & inner.top:
            return None
        # Key of field i+1: its gap and size, the struct format piece that reaches it.
        keys = (gaps << 4) | ((ends - at) >> bits)
    size0 = sizes[types[0]]
    if n > 1 and len(set(sizes.values())) == 1:
        first = keys & inner.mask
        if keys == inner.const(first):
            regular = (first >> 4) + size0
    if regular is not None:
        end = start + regular * (n - 1) + size0
        column = [image[start + k : end : regular] for k in range(size0)]
    elif addends is None or machine.zero_target:  # one format reads every field
        body = "".join(map(_READ_PIECES.__getitem__, inner.array(keys))) if n > 1 else ""
        read = struct.Struct("<" + _FORMAT[size0] + body)
    if addends is None:  # REL: the addend is the field, as wide as a lane
        if regular is not None:
            addend = int.from_bytes(_interleave(column, n), "little")
        else:
            addend = lanes.of(read.unpack_from(image, start))
    elif machine.zero_target:
        if regular is not None:
            if any(c.count(0) != n for c in column):
                return None
        elif any(read.unpack_from(image, start)):
            return None  # the reference names the first non-zero target
    value = lanes.add(s, addend)
    pcrel = {t: r.pcrel for t, r in kinds.items()}
    if any(pcrel.values()):
        # - P = ~(where + offset) + 1 = (offset XOR all-ones) + (1 - where)
        where = base + target_offset
        minus_p = lanes.add(at ^ lanes.ones, lanes.const(1 - where))
        if not all(pcrel.values()):
            minus_p &= _per_type(
                types, {t: lanes.mask for t, pc in pcrel.items() if pc}, lanes, len(kinds)
            )
        value = lanes.add(value, minus_p)
    # A checked value passes when value + bias has no bit above its field (SIGNED:
    # bias 2**(field bits - 1), UNSIGNED: 0): the reference's range, modulo 2**bits.
    above = {
        t: lanes.mask ^ ((1 << 8 * r.size) - 1)
        for t, r in kinds.items()
        if r.check is not Check.WRAP
    }
    if above:
        bias = {t: 1 << (8 * r.size - 1) for t, r in kinds.items() if r.check is Check.SIGNED}
        biased = lanes.add(value, _per_type(types, bias, lanes, len(kinds))) if bias else value
        if biased & _per_type(types, above, lanes, len(kinds)):
            return None  # overflow: the reference raises for the first one
    # Phase two: write (once every chunk of the table has passed phase one).
    if regular is not None:
        raw = value.to_bytes(width * n, "little")

        def write_slices() -> None:
            for k in range(size0):
                image[start + k : end : regular] = raw[k::width]

        return write_slices
    where_at = lanes.array(at + lanes.const(target_offset))
    # Signed lanes: every field's value fits its write code (checked above).
    new = array(_SIGNED_CODE[width], value.to_bytes(width * n, "little"))
    if sys.byteorder == "big":
        new.byteswap()
    codes = {
        t: (_FORMAT if r.check is Check.UNSIGNED else _SIGNED_CODE)[r.size]
        for t, r in kinds.items()
    }

    def write_fields() -> None:
        distinct = set(codes.values())
        for code in distinct:
            pack_into = struct.Struct("<" + code).pack_into
            if len(distinct) == 1:
                deque(map(pack_into, repeat(image), where_at, new), maxlen=0)
            else:
                sel = types.translate(bytes(codes.get(t) == code for t in range(256)))
                fields = map(pack_into, repeat(image), compress(where_at, sel), compress(new, sel))
                deque(fields, maxlen=0)

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
    key: tuple[int, Check],
    offs: Sequence[int],
    tps: Sequence[int],
    sms: Sequence[int],
    adds: Sequence[int] | None,
    values: list[int],
    target_offset: int,
    base: int,
    machine: MachineRelocs,
) -> tuple[struct.Struct, Sequence[int], struct.Struct, list[int]] | None:
    """The new field values of one class of entries, or None if they need the reference."""
    size, check = key
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
    rel_read_signed = adds is None and not wrap
    read = _fields_struct(offs, size, _SIGNED_CODE[size]) if rel_read_signed else write
    fields = read.unpack_from(image, target_offset + offs[0])
    if adds is None:
        adds = fields
    elif machine.zero_target and any(fields):
        return None
    pcrel = {t: machine.recipes[t].pcrel for t in set(tps)}
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
            for s in set(sms)
        }
    svals = itemgetter(*sms)(s_of) if n > 1 else (s_of[sms[0]],)
    new = map(add, svals, adds)
    if all_pc:
        new = map(sub, new, offs)
    elif not no_pc:
        pcmask = {t: -1 if pc else 0 for t, pc in pcrel.items()}
        pcterm = map(and_, map(add, offs, repeat(where)), map(pcmask.__getitem__, tps))
        new = map(sub, new, pcterm)
    result = list(new)
    if not wrap:
        lo, hi = _range(check, size * 8)
        if min(result) < lo or max(result) >= hi:
            return None  # overflow, or a value only the exact modular rule gets right
    if wrap or check is Check.BITFIELD:
        result = list(map(and_, result, repeat(fmask)))
    return read, fields, write, result
