"""Parse and validate an ET_REL object: header, sections, symbols, relocations.

The reader trusts nothing: every offset, size, index and string reference is
checked against the file before use, so a truncated or hostile object ends in
one :class:`ElfError` line instead of an IndexError deep in the linker.
Tables are decoded in bulk into columns (``array.array`` views of the raw
bytes, extended slices, ``bytes.translate``): no Python object per entry,
which is what keeps a 170k-relocation module fast.  :class:`Symbol` objects
are still available (``ElfObject.symbols``) for code that is not on the hot path.
"""

from __future__ import annotations

import mmap
import struct
import sys
from array import array
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import accumulate, compress, count, repeat
from operator import add, is_
from typing import BinaryIO

from ..arch import NAMES, Machine, by_e_machine
from ..errors import ElfError
from . import constants as C

_EHDR = {
    C.ELFCLASS32: struct.Struct("<16sHHIIIIIHHHHHH"),
    C.ELFCLASS64: struct.Struct("<16sHHIQQQIHHHHHH"),
}
_SHDR = {C.ELFCLASS32: struct.Struct("<IIIIIIIIII"), C.ELFCLASS64: struct.Struct("<IIQQQQIIQQ")}
_SYM_SIZE = {C.ELFCLASS32: 16, C.ELFCLASS64: 24}
_REL_SIZE = {  # (class, is_rela) -> entry size
    (C.ELFCLASS32, False): 8,
    (C.ELFCLASS32, True): 12,
    (C.ELFCLASS64, False): 16,
    (C.ELFCLASS64, True): 24,
}
_REL_KIND = {C.SHT_REL: "SHT_REL", C.SHT_RELA: "SHT_RELA"}


@dataclass(frozen=True, slots=True)
class Section:
    """One section header, as read (``addr`` is the file's, not the layout's)."""

    index: int
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    addralign: int
    entsize: int

    @property
    def alloc(self) -> bool:
        return bool(self.flags & C.SHF_ALLOC)

    @property
    def nobits(self) -> bool:
        return self.type == C.SHT_NOBITS


@dataclass(frozen=True, slots=True)
class Symbol:
    """One symbol table entry; ``shndx`` may be SHN_UNDEF/ABS/COMMON."""

    index: int
    name: str
    value: int
    size: int
    bind: int
    type: int
    shndx: int


class SymbolColumns:
    """The symbol table as parallel columns indexed by symbol index (the bulk form).

    ``binds``/``types`` are bytes (one per symbol), the others compact arrays.
    Validated exactly as :attr:`ElfObject.symbols`.  Names are decoded when
    asked for: :meth:`name` and :meth:`names_of` just those, :meth:`indexes_named`
    by searching the string table, :attr:`names` all of them (a list of str,
    made once) -- a load needs the few undefined ones and the exported ones,
    not the tens of thousands of locals.
    """

    __slots__ = (
        "_names", "_offsets", "_strtab", "_text", "binds", "shndx", "sizes", "types", "values"
    )  # fmt: skip

    def __init__(
        self,
        offsets: Sequence[int],
        strtab: bytes,
        values: Sequence[int],
        sizes: Sequence[int],
        binds: bytes,
        types: bytes,
        shndx: Sequence[int],
        names: list[str] | None = None,
    ) -> None:
        """``offsets`` index ``strtab``, which must end with a NUL and contain them all
        (the reader checks), unless ``names`` are given already decoded."""
        self._offsets, self._strtab, self._names = offsets, strtab, names
        self._text: str | None = None  # the string table decoded, for name lookups
        self.values, self.sizes, self.binds, self.types, self.shndx = (
            values, sizes, binds, types, shndx
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self._offsets)

    @property
    def names(self) -> list[str]:
        if self._names is None:
            self._names = _decode_names(self._strtab, self._offsets)
        return self._names

    def name(self, index: int) -> str:
        return self.names_of((index,))[0]

    def names_of(self, indexes: Iterable[int]) -> list[str]:
        """The names of these symbols, decoding no others."""
        if self._names is not None:
            return list(map(self._names.__getitem__, indexes))
        if self._text is None:
            self._text = self._strtab.decode("latin-1")
        text, find = self._text, self._text.index
        starts = map(self._offsets.__getitem__, indexes)
        return [text[start : find("\0", start)] for start in starts]

    def indexes_named(self, names: Collection[str]) -> list[int]:
        """Ascending indexes of the symbols called one of ``names`` (none is empty)."""
        strtab, starts = self._strtab, set()
        for name in names:
            needle = name.encode("latin-1") + b"\0"
            at = strtab.find(needle)
            while at >= 0:  # a name may also be the tail of a longer one (ld shares them)
                starts.add(at)
                at = strtab.find(needle, at + 1)
        return list(compress(count(), map(starts.__contains__, self._offsets)))


def _decode_names(strtab: bytes, offsets: Sequence[int]) -> list[str]:
    """Every name at once: each NUL-terminated string of the table by its start offset;
    an offset into the middle of a string (a shared tail) is looked up on its own.
    ``strtab`` ends with a NUL and every offset is inside it."""
    parts = strtab.decode("latin-1").split("\0")
    starts = map(add, accumulate(map(len, parts), initial=0), count())
    by_offset = dict(zip(starts, parts[:-1], strict=False))  # the last part has no NUL
    names = list(map(by_offset.get, offsets))
    if None in names:
        for index in compress(count(), map(is_, names, repeat(None))):
            start = offsets[index]
            names[index] = strtab[start : strtab.index(0, start)].decode("latin-1")
    return names  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class RelocTable:
    """A relocation section decoded into parallel columns (one entry per index).

    The columns are ``array.array``/``bytes``: sequences of int, like lists.
    """

    section: Section  # the SHT_REL/SHT_RELA section itself
    target: Section  # the section being patched (sh_info)
    is_rela: bool
    offsets: Sequence[int]
    types: Sequence[int]
    symbols: Sequence[int]
    addends: Sequence[int]  # all 0 for SHT_REL: the addend is in the word


# bytes.translate tables: st_info -> bind (high nibble) and -> type (low nibble).
_BIND_OF = bytes(i >> 4 for i in range(256))
_TYPE_OF = bytes(i & 0xF for i in range(256))


def _words(code: str, raw: bytes) -> array:
    """``raw`` as little-endian integers (array codes I/i: 4 bytes, Q/q: 8 bytes)."""
    words = array(code, raw)
    if sys.byteorder == "big":
        words.byteswap()
    return words


def _column(code: str, raw: bytes, first: int, stride: int) -> array:
    """The little-endian integers at ``first``, ``first + stride``... of ``raw``.

    One strided copy through a memoryview (``first`` and ``stride`` are multiples
    of the item size), instead of converting every word and slicing after.
    """
    size = array(code).itemsize
    view = memoryview(raw).cast(code)
    return _words(code, view[first // size :: stride // size].tobytes())


def _all_below(column: array, bound: int) -> bool:
    """Whether every number of a 32-bit column is below ``bound`` (< 2**31), without max().

    The column as one int of 32-bit lanes: with no lane's top bit set, adding
    2**31 - bound to every lane carries into no other lane, and sets a lane's
    top bit exactly when its number is at least ``bound``.
    """
    lanes = int.from_bytes(column.tobytes(), sys.byteorder)
    unit = int.from_bytes(b"\1\0\0\0" * len(column), "little")
    top = unit << 31
    return not lanes & top and not (lanes + unit * ((1 << 31) - bound)) & top


def _low24_of_words(raw: bytes, first: int, stride: int) -> array:
    """Bytes first..first+2 of every ``stride``-byte entry as 32-bit ints (ELF32 r_sym)."""
    n = len(raw) // stride
    buf = bytearray(4 * n)
    buf[0::4] = raw[first::stride]
    buf[1::4] = raw[first + 1 :: stride]
    buf[2::4] = raw[first + 2 :: stride]
    return _words("I", bytes(buf))


def _machine_name(e_machine: int) -> str:
    """``EM_ARM (40)`` for a machine we do not load, from pyelftools' e_machine table."""
    from elftools.elf.enums import ENUM_E_MACHINE

    names = {v: k for k, v in ENUM_E_MACHINE.items() if k != "_default_"}
    return f"{names[e_machine]} ({e_machine})" if e_machine in names else f"{e_machine}"


class ElfObject:
    """A validated ET_REL object held in memory."""

    def __init__(self, data: bytes | mmap.mmap, path: str = "<object>") -> None:
        self.path = path
        self.data = data
        self._parse_header()
        self.sections: tuple[Section, ...] = self._parse_sections()

    # -- header and section table --------------------------------------------------------
    def _fail(self, reason: str) -> ElfError:
        return ElfError(reason, file=self.path)

    def _parse_header(self) -> None:
        data = self.data
        if len(data) < 16 or data[:4] != C.ELFMAG:
            raise self._fail("not an ELF object (bad magic)")
        elfclass, encoding = data[4], data[5]
        if elfclass not in _EHDR:
            raise self._fail(f"unsupported ELF class {elfclass}")
        if encoding != C.ELFDATA2LSB:
            raise self._fail("not a little-endian object")
        ehdr = _EHDR[elfclass]
        if len(data) < ehdr.size:
            raise self._fail("truncated ELF header")
        (_, e_type, e_machine, e_version, _, _, e_shoff, _, _, _, _,
         e_shentsize, e_shnum, e_shstrndx) = ehdr.unpack_from(data)  # fmt: skip
        if e_type != C.ET_REL:
            raise self._fail(f"not a relocatable object (e_type {e_type}); a module must be ET_REL")
        arch = by_e_machine(e_machine)
        if arch is None:
            raise self._fail(
                f"unsupported machine {_machine_name(e_machine)} (supported: {', '.join(NAMES)})"
            )
        if arch.elf_class != elfclass:
            raise self._fail(f"{arch.name} object with the wrong ELF class")
        if e_version != C.EV_CURRENT:
            raise self._fail(f"unsupported ELF version {e_version}")
        shdr = _SHDR[elfclass]
        if e_shoff == 0:
            raise self._fail("no section header table")
        if e_shentsize != shdr.size:
            raise self._fail(f"bad section header size {e_shentsize}")
        if e_shoff + shdr.size > len(data):
            raise self._fail("section header table past end of file")
        if e_shnum == 0 or e_shstrndx == C.SHN_XINDEX:  # extended numbering lives in shdr[0]
            sh0 = shdr.unpack_from(data, e_shoff)
            e_shnum = e_shnum or sh0[5]
            if e_shstrndx == C.SHN_XINDEX:
                e_shstrndx = sh0[6]
        if e_shoff + e_shnum * shdr.size > len(data):
            raise self._fail(f"section header table ({e_shnum} entries) past end of file")
        if not 0 < e_shstrndx < e_shnum:
            raise self._fail(f"bad section name table index {e_shstrndx}")
        self.elfclass = elfclass
        self.machine = e_machine
        self.arch: Machine = arch
        self.word_size = arch.word_size
        self._shoff, self._shnum, self._shstrndx = e_shoff, e_shnum, e_shstrndx

    @property
    def section_header_table(self) -> tuple[int, int]:
        """(file offset, entry size) of the section header table."""
        return self._shoff, _SHDR[self.elfclass].size

    @property
    def machine_name(self) -> str:
        return self.arch.name

    def _parse_sections(self) -> tuple[Section, ...]:
        shdr = _SHDR[self.elfclass]
        raw = [shdr.unpack_from(self.data, self._shoff + i * shdr.size) for i in range(self._shnum)]
        size = len(self.data)
        for i, (_, sh_type, _, _, off, sz, *_rest) in enumerate(raw):
            if sh_type not in (C.SHT_NOBITS, C.SHT_NULL) and (off > size or sz > size - off):
                raise self._fail(f"section {i} (offset {off:#x}, size {sz:#x}) past end of file")
        names = raw[self._shstrndx]
        if names[1] != C.SHT_STRTAB:
            raise self._fail("section name table is not a string table")
        strtab = self.data[names[4] : names[4] + names[5]]
        sections = []
        # The kind of relocation section the machine's ABI does not use (REL vs RELA):
        # the relocation table assumes one kind, so the other is refused here.
        wrong_kind = C.SHT_REL if self.arch.rela else C.SHT_RELA
        for i, (name, sh_type, flags, addr, off, sz, link, info, align, entsize) in enumerate(raw):
            if align and align & (align - 1):
                raise self._fail(f"section {i} has alignment {align}, not a power of two")
            text = self._string(strtab, name, "section name")
            align = max(align, 1)
            if sh_type == wrong_kind:
                raise self._fail(
                    f"relocation section {text} is {_REL_KIND[sh_type]}; "
                    f"{self.arch.name} objects use {_REL_KIND[C.SHT_RELA + C.SHT_REL - sh_type]}"
                )
            sec = Section(i, text, sh_type, flags, addr, off, sz, link, info, align, entsize)
            sections.append(sec)
        return tuple(sections)

    def _string(self, table: bytes, offset: int, what: str) -> str:
        if offset >= len(table) and not (offset == 0 and not table):
            raise self._fail(f"{what} offset {offset:#x} past end of its string table")
        end = table.find(b"\0", offset)
        if end < 0:
            raise self._fail(f"{what} at {offset:#x} is not NUL-terminated")
        return table[offset:end].decode("latin-1")

    # -- lookups ---------------------------------------------------------------------------
    def section(self, index: int, what: str = "section index") -> Section:
        if not 0 <= index < len(self.sections):
            raise self._fail(f"{what} {index} out of range (0..{len(self.sections) - 1})")
        return self.sections[index]

    def section_by_name(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def contents(self, sec: Section) -> bytes:
        """The file bytes of a section (empty for NOBITS)."""
        if sec.nobits:
            return b""
        return self.data[sec.offset : sec.offset + sec.size]

    # -- symbols -------------------------------------------------------------------------------
    @cached_property
    def symtab(self) -> Section | None:
        tables = [s for s in self.sections if s.type == C.SHT_SYMTAB]
        if len(tables) > 1:
            raise self._fail("more than one symbol table")
        return tables[0] if tables else None

    @cached_property
    def symbols(self) -> tuple[Symbol, ...]:
        """All entries of the symbol table (index 0 included), validated."""
        cols = self.symbol_columns
        return tuple(
            map(Symbol, count(), cols.names, cols.values, cols.sizes, cols.binds, cols.types,
                cols.shndx)
        )  # fmt: skip

    def _symbol_sections(self) -> tuple[bytes, bytes] | None:
        """(symbol table bytes, its string table bytes), validated; None without a table."""
        sec = self.symtab
        if sec is None:
            return None
        entsize = _SYM_SIZE[self.elfclass]
        if sec.entsize != entsize or sec.size % entsize:
            raise self._fail(f"symbol table entry size {sec.entsize} (expected {entsize})")
        strsec = self.section(sec.link, "symbol string table index")
        if strsec.type != C.SHT_STRTAB:
            raise self._fail("symbol table's string table is not SHT_STRTAB")
        return self.contents(sec), self.contents(strsec)

    @cached_property
    def symbol_columns(self) -> SymbolColumns:
        """The symbol table decoded in bulk; raises the same errors as :meth:`_symbols_slow`."""
        tables = self._symbol_sections()
        if tables is None:
            return SymbolColumns((), b"", (), (), b"", b"", ())
        raw, strtab = tables
        if self.elfclass == C.ELFCLASS32:  # name value size info other shndx: IIIBBH
            words = _words("I", raw)
            name_offs, values, sizes = words[0::4], words[1::4], words[2::4]
            info, shndx = raw[12::16], _words("H", raw)[7::8]
        else:  # name info other shndx value size: IBBHQQ
            name_offs, info, shndx = _words("I", raw)[0::6], raw[4::24], _words("H", raw)[3::12]
            quads = _words("Q", raw)
            values, sizes = quads[1::3], quads[2::3]
        # Section indexes: only the distinct values need checking.
        nsec = len(self.sections)
        bad_shndx = {x for x in set(shndx) if x >= nsec} - {C.SHN_ABS, C.SHN_COMMON}
        # Names: every offset inside a NUL-terminated table means every name is valid.
        names_ok = strtab[-1:] == b"\0" and max(name_offs, default=0) < len(strtab)
        names = None
        if bad_shndx or not names_ok:
            if bad_shndx:
                self._symbols_slow(raw, strtab)  # raises the error for the first bad entry
            names = [
                self._string(strtab, offset, f"symbol {index} name")
                for index, offset in enumerate(name_offs)
            ]
        return SymbolColumns(
            name_offs, strtab, values, sizes, info.translate(_BIND_OF), info.translate(_TYPE_OF),
            shndx, names,
        )  # fmt: skip

    def _symbols_slow(self, raw: bytes, strtab: bytes) -> tuple[Symbol, ...]:
        """The per-entry reference decoder: it names the first invalid entry."""
        if self.elfclass == C.ELFCLASS32:
            rows = ((n, v, z, i, x) for n, v, z, i, _o, x in struct.iter_unpack("<IIIBBH", raw))
        else:
            rows = ((n, v, z, i, x) for n, i, _o, x, v, z in struct.iter_unpack("<IBBHQQ", raw))
        nsec = len(self.sections)
        symbols = []
        cache: dict[int, str] = {}
        for index, (name, value, size, info, shndx) in enumerate(rows):
            if shndx >= nsec and shndx not in (C.SHN_ABS, C.SHN_COMMON):
                if shndx == C.SHN_XINDEX:
                    raise self._fail(f"symbol {index} uses SHN_XINDEX (not supported)")
                raise self._fail(f"symbol {index} has section index {shndx} out of range")
            text = cache.get(name)
            if text is None:
                text = cache[name] = self._string(strtab, name, f"symbol {index} name")
            symbols.append(Symbol(index, text, value, size, info >> 4, info & 0xF, shndx))
        return tuple(symbols)

    def symbol_names(self) -> list[str]:
        """How messages name each symbol: a section symbol by its section's name."""
        cols = self.symbol_columns
        names = list(cols.names)
        nsec = len(self.sections)
        for index in compress(count(), map((C.STT_SECTION).__eq__, cols.types)):
            if 0 < cols.shndx[index] < nsec:
                names[index] = self.sections[cols.shndx[index]].name
        return names

    # -- relocations -------------------------------------------------------------------------
    def relocation_sections(self) -> list[Section]:
        return [s for s in self.sections if s.type in (C.SHT_REL, C.SHT_RELA)]

    def relocation_target(self, sec: Section) -> Section:
        """The section a SHT_REL/SHT_RELA section patches, once its header is checked
        (entry size, symbol table, target index); its entries are not decoded."""
        entsize = _REL_SIZE[(self.elfclass, sec.type == C.SHT_RELA)]
        if sec.entsize not in (0, entsize) or sec.size % entsize:
            raise self._fail(f"relocation section {sec.name} has entry size {sec.entsize}")
        if self.symtab is None or sec.link != self.symtab.index:
            raise self._fail(f"relocation section {sec.name} does not use the symbol table")
        return self.section(sec.info, f"relocation section {sec.name} target")

    def relocations(self, sec: Section) -> RelocTable:
        """Decode one SHT_REL/SHT_RELA section; symbol indexes are range-checked."""
        is_rela = sec.type == C.SHT_RELA
        entsize = _REL_SIZE[(self.elfclass, is_rela)]
        target = self.relocation_target(sec)
        raw = self.contents(sec)
        n = len(raw) // entsize
        if self.elfclass == C.ELFCLASS32:  # r_offset, r_info (sym << 8 | type), r_addend
            offsets = _column("I", raw, 0, entsize)
            types: Sequence[int] = raw[4::entsize]
            symbols = _low24_of_words(raw, 5, entsize)
            addends = _column("i", raw, 8, entsize) if is_rela else array("i", bytes(4 * n))
        else:  # r_offset, r_info (sym << 32 | type), r_addend; 64-bit words
            offsets = _column("Q", raw, 0, entsize)
            # Types as bytes (one per entry) when they all fit one, as they do in practice.
            high = raw[9::entsize] + raw[10::entsize] + raw[11::entsize]
            types = raw[8::entsize] if high.count(0) == len(high) else _column("I", raw, 8, entsize)
            symbols = _column("I", raw, 12, entsize)
            addends = _column("q", raw, 16, entsize) if is_rela else array("q", bytes(8 * n))
        nsym = len(self.symbol_columns)
        if symbols and not _all_below(symbols, nsym):
            bad = next(i for i, s in enumerate(symbols) if s >= nsym)
            raise self._fail(
                f"relocation {bad} of {sec.name} names symbol {symbols[bad]} (table has {nsym})"
            )
        return RelocTable(sec, target, is_rela, offsets, types, symbols, addends)


def read_object(path: str) -> ElfObject:
    """Read and validate an object file from disk."""
    try:
        with open(path, "rb") as fh:
            data = _contents(fh)
    except OSError as exc:
        raise ElfError(exc.strerror or str(exc), file=path) from None
    return ElfObject(data, path)


def _contents(fh: BinaryIO) -> bytes | mmap.mmap:
    """A regular file mapped read-only, as kmod maps a .ko: the sections are copied
    once, from the page cache into the image, not first into a private buffer
    (the 10-20 MB of a big module).  Anything else (a pipe, an empty file) is read."""
    try:
        return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return fh.read()
