"""The device tables of 2.4 modules, and the ``modules.*map`` files modutils 2.4's depmod
wrote from them.

2.4's ``MODULE_DEVICE_TABLE(pci, ids)`` defines two static symbols:
``__module_pci_device_size`` (``sizeof(struct pci_device_id)``) and
``__module_pci_device_table``, a pointer whose relocation says where ``ids`` is.  depmod
relocated the module to a pseudo base (:mod:`insmod_py.modutils_image`), followed the
pointer and read entries up to the all-zero one that ends the table.  :data:`TABLES` is
the one description of every table modutils 2.4 read: the C struct as field kinds (the
offsets follow from the machine's word size), which fields being zero ends the table,
and how an entry is printed.  ``.modstring``'s NUL-separated strings make
``modules.generic_string``.

Every map file is written, with its header line, even when no module has such a table,
as modutils did.  A table depmod cannot read (its pointer not relocated or pointing
outside the module, a size of another kernel's struct, no terminating entry) is left out
and named in a warning; the module's other tables and the other modules still count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, partial

from .arch import Machine
from .elf import ElfObject
from .elf import constants as C
from .errors import LoadError
from .modutils_image import PseudoImage

Entry = Mapping[str, int | str]  # one decoded table entry: field -> value

# Field kinds: byte sizes (``ulong``/``ptr`` are a word), and what the decoder returns:
# an int, except ``str`` (a ``char *`` followed to its string) and ``char8`` (a char[8]).
_FIXED_SIZE = {"u8": 1, "u16": 2, "u32": 4, "char8": 8}
_WORD_KINDS = ("ulong", "ptr", "str")
NAME_WIDTH = 20  # "%-20s": the module name column
LINE_MAX = 4095  # PATH_MAX - 1: modutils cut a generic string so the line fits


def _size_align(kind: str, word: int) -> tuple[int, int]:
    if kind in _WORD_KINDS:
        return word, word
    size = _FIXED_SIZE[kind]
    return size, (1 if kind == "char8" else size)


def hexf(value: int, size: int) -> str:
    """modutils' ``0x%0*x`` with the field's own width: two digits per byte."""
    return f"0x{value:0{2 * size}x}"


@dataclass(frozen=True)
class DeviceTable:
    """One 2.4 device-table type, as depmod read and printed it."""

    kind: str  # MODULE_GENERIC_TABLE's type: the symbols are __module_<kind>_{size,table}
    map_file: str  # the file its entries go to
    fields: tuple[tuple[str, str], ...]  # the C struct, in order: (name, kind)
    ends_when_zero: tuple[str, ...]  # an entry with all of these zero ends the table
    line: Callable[[str, Entry, Callable[[str], str]], str]  # (name column, entry, hex) -> line
    size_optional: bool = False  # pci: kernels before 2.4.0-test10 had no size symbol

    @property
    def table_symbol(self) -> str:
        return f"__module_{self.kind}_table"

    @property
    def size_symbol(self) -> str:
        return f"__module_{self.kind}_size"

    @cache  # noqa: B019 -- a handful of frozen descriptions, two word sizes
    def layout(self, word: int) -> tuple[dict[str, tuple[int, str, int]], int]:
        """Field name -> (offset, kind, size), and the struct's size, with natural alignment."""
        offsets: dict[str, tuple[int, str, int]] = {}
        pos = widest = 0
        for name, kind in self.fields:
            size, align = _size_align(kind, word)
            pos = (pos + align - 1) // align * align
            offsets[name] = (pos, kind, size)
            pos += size
            widest = max(widest, align)
        return offsets, (pos + widest - 1) // widest * widest


def _pci(name: str, e: Entry, h: Callable[[str], str]) -> str:
    fields = ("vendor", "device", "subvendor", "subdevice", "class", "class_mask", "driver_data")
    return f"{name} " + " ".join(h(f) for f in fields)


def _isapnp_device(name: str, e: Entry, h: Callable[[str], str]) -> str:
    return (f"{name} {h('card_vendor')}     {h('card_device')}     {h('driver_data')}  "
            f"{h('vendor')}     {h('function')}")  # fmt: skip


def _isapnp_card(name: str, e: Entry, h: Callable[[str], str]) -> str:
    head = f"{name} {h('card_vendor')}     {h('card_device')}     {h('driver_data')} "
    devs = "".join(
        f" {h(f'dev{i}_vendor')}     {h(f'dev{i}_function')}    "
        for i in range(ISAPNP_CARD_DEVS)
        if e[f"dev{i}_vendor"]
    )
    return head + devs


def _usb(name: str, e: Entry, h: Callable[[str], str]) -> str:
    # each value is padded to its header column's width
    return (f"{name} {h('match_flags')}      {h('idVendor')}   {h('idProduct')}    "
            f"{h('bcdDevice_lo')}       {h('bcdDevice_hi')}       {h('bDeviceClass')}         "
            f"{h('bDeviceSubClass')}            {h('bDeviceProtocol')}            "
            f"{h('bInterfaceClass')}            {h('bInterfaceSubClass')}               "
            f"{h('bInterfaceProtocol')}               {h('driver_info')}")  # fmt: skip


def _parport(name: str, e: Entry, h: Callable[[str], str]) -> str:
    return f"{name} {e['pattern']}"


def _ieee1394(name: str, e: Entry, h: Callable[[str], str]) -> str:
    # fixed widths here, whatever the field size
    return (f"{name} 0x{e['match_flags']:08x}  0x{e['vendor_id']:06x}  0x{e['model_id']:06x} "
            f"0x{e['specifier_id']:06x}     0x{e['version']:06x}")  # fmt: skip


def _pnpbios(name: str, e: Entry, h: Callable[[str], str]) -> str:
    return f"{name} {e['id']}"


ISAPNP_CARD_DEVS = 8
_U16 = "u16"
_U8 = "u8"

# Every table modutils 2.4 (2.4.27) read.  2.4.37.11's own drivers use pci, usb, isapnp and
# ieee1394; parport and pnpbios tables came from patches, isapnp_card from ISAPNP_CARD_TABLE.
TABLES: tuple[DeviceTable, ...] = (
    DeviceTable(
        "pci_device", "modules.pcimap",
        (("vendor", "u32"), ("device", "u32"), ("subvendor", "u32"), ("subdevice", "u32"),
         ("class", "u32"), ("class_mask", "u32"), ("driver_data", "ulong")),
        ("vendor",), _pci, size_optional=True,
    ),
    DeviceTable(
        "isapnp_device", "modules.isapnpmap",
        (("card_vendor", _U16), ("card_device", _U16), ("vendor", _U16), ("function", _U16),
         ("driver_data", "ulong")),
        ("card_vendor",), _isapnp_device,
    ),
    DeviceTable(
        "isapnp_card", "modules.isapnpmap",
        (("driver_data", "ulong"), ("card_vendor", _U16), ("card_device", _U16),
         *((f"dev{i}_{f}", _U16) for i in range(ISAPNP_CARD_DEVS) for f in ("vendor", "function"))),
        ("card_vendor",), _isapnp_card,
    ),
    DeviceTable(
        "usb_device", "modules.usbmap",
        (("match_flags", _U16), ("idVendor", _U16), ("idProduct", _U16),
         ("bcdDevice_lo", _U16), ("bcdDevice_hi", _U16), ("bDeviceClass", _U8),
         ("bDeviceSubClass", _U8), ("bDeviceProtocol", _U8), ("bInterfaceClass", _U8),
         ("bInterfaceSubClass", _U8), ("bInterfaceProtocol", _U8), ("driver_info", "ulong")),
        ("idVendor", "bDeviceClass", "bInterfaceClass", "driver_info"), _usb,
    ),
    DeviceTable("parport_device", "modules.parportmap", (("pattern", "str"),), ("pattern",),
                _parport),
    DeviceTable(
        "ieee1394_device", "modules.ieee1394map",
        (("match_flags", "u32"), ("vendor_id", "u32"), ("model_id", "u32"),
         ("specifier_id", "u32"), ("version", "u32"), ("driver_data", "ptr")),
        ("match_flags",), _ieee1394,
    ),
    DeviceTable("pnpbios_device", "modules.pnpbiosmap", (("id", "char8"), ("driver_data", "ptr")),
                ("id",), _pnpbios),
)  # fmt: skip

GENERIC_STRING = "modules.generic_string"
GENERIC_SECTION = ".modstring"
# Every file, in the order modutils wrote them (the caller writes modules.dep after them).
MAP_HEADERS: dict[str, str] = {
    GENERIC_STRING: "# module             id=string",
    "modules.pcimap": "# pci module         vendor     device     subvendor  subdevice  class      "
    "class_mask driver_data",
    "modules.isapnpmap": "# isapnp module      cardvendor carddevice driver_data vendor     "
    "function   ...",
    "modules.usbmap": "# usb module         match_flags idVendor idProduct bcdDevice_lo "
    "bcdDevice_hi bDeviceClass bDeviceSubClass bDeviceProtocol bInterfaceClass "
    "bInterfaceSubClass bInterfaceProtocol driver_info",
    "modules.parportmap": "# module             pattern",
    "modules.ieee1394map": "# ieee1394 module    match_flags vendor_id model_id specifier_id "
    "version",
    "modules.pnpbiosmap": "# module             id",
}


@dataclass(frozen=True)
class ModuleTables:
    """What one module contributes to the map files."""

    entries: dict[str, list[Entry]] = field(default_factory=dict)  # table kind -> entries
    strings: tuple[str, ...] = ()  # .modstring
    warnings: tuple[str, ...] = ()  # one line per table that could not be read

    def __bool__(self) -> bool:
        return bool(self.entries or self.strings)


class _Unreadable(Exception):
    """A table depmod cannot read; the message says why."""


def read_tables(obj: ElfObject) -> ModuleTables:
    """Every device table and generic string of a 2.4 module."""
    entries: dict[str, list[Entry]] = {}
    warnings: list[str] = []
    strings, problem = _generic_strings(obj)
    if problem:
        warnings.append(problem)
    wanted = [name for t in TABLES for name in (t.table_symbol, t.size_symbol)]
    symbols = _first_defined(obj, wanted)
    if not any(t.table_symbol in symbols for t in TABLES):
        return ModuleTables({}, strings, tuple(warnings))
    image = PseudoImage(obj)
    for table in TABLES:
        if table.table_symbol not in symbols:
            continue
        try:
            found = _read_table(image, table, symbols)
        except _Unreadable as exc:
            warnings.append(f"{table.table_symbol}: {exc}: table ignored")
        except LoadError as exc:
            warnings.append(f"{table.table_symbol}: {exc.reason}: table ignored")
        else:
            if found:
                entries[table.kind] = found
    return ModuleTables(entries, strings, tuple(warnings))


def _first_defined(obj: ElfObject, names: Sequence[str]) -> dict[str, int]:
    """Symbol index of the first defined symbol of each name: the one modutils' symbol hash
    kept (a later local of the same name, from another object of an ``ld -r``, is not seen)."""
    cols = obj.symbol_columns
    out: dict[str, int] = {}
    indexes = cols.indexes_named(names)
    for index, name in zip(indexes, cols.names_of(indexes), strict=True):
        if cols.shndx[index] != C.SHN_UNDEF and name not in out:
            out[name] = index
    return out


def _symbol_address(image: PseudoImage, index: int, what: str) -> int:
    """Where a defined symbol is in the pseudo image; it must be in a loaded section."""
    if image.obj.symbol_columns.shndx[index] not in image.placed:
        raise _Unreadable(f"{what} is not in a loaded section")
    return image.values[index]


def _word_at(image: PseudoImage, address: int, size: int, what: str) -> tuple[bytes, bool]:
    """``size`` bytes at ``address`` of the relocated image, and whether a relocation
    patched their first byte."""
    placed = image.section_at(address)
    if placed is None or address + size > placed.address + placed.size:
        raise _Unreadable(f"{what} at {address:#x} is outside the module's sections")
    data, patched = image.contents(placed)
    at = address - placed.address
    return data[at : at + size], at in patched


def _read_table(image: PseudoImage, table: DeviceTable, symbols: dict[str, int]) -> list[Entry]:
    word = image.obj.word_size
    fields, size = table.layout(word)
    if table.size_symbol in symbols:
        address = _symbol_address(image, symbols[table.size_symbol], table.size_symbol)
        raw, _ = _word_at(image, address, word, table.size_symbol)
        declared = int.from_bytes(raw, "little")
        if declared != size:
            raise _Unreadable(
                f"{table.size_symbol} is {declared}, not the {size} bytes of a 2.4 "
                f"struct {table.kind}_id"
            )
    elif not table.size_optional:
        raise _Unreadable(f"no {table.size_symbol}")
    address = _symbol_address(image, symbols[table.table_symbol], "the pointer")
    raw, relocated = _word_at(image, address, word, "the pointer")
    if not relocated:
        raise _Unreadable("the pointer has no relocation")
    start = int.from_bytes(raw, "little")
    placed = image.section_at(start)
    if placed is None:
        raise _Unreadable(f"points outside the module's sections ({start:#x})")
    data, _ = image.contents(placed)
    out: list[Entry] = []
    at = start - placed.address
    while at + size <= placed.size:
        entry = {name: _field(data, at + off, kind, fsize) for name, (off, kind, fsize)
                 in fields.items()}  # fmt: skip
        if not any(entry[name] for name in table.ends_when_zero):
            return out
        out.append({n: _follow(image, v) if fields[n][1] == "str" else v for n, v in entry.items()})
        at += size
    raise _Unreadable(f"no terminating entry before the end of {placed.section.name}")


def _field(data: bytes, at: int, kind: str, size: int) -> int | str:
    raw = data[at : at + size]
    if kind == "char8":  # printed with %s: up to the first NUL
        return raw.split(b"\0", 1)[0].decode("latin-1")
    return int.from_bytes(raw, "little")


def _follow(image: PseudoImage, address: int | str) -> str:
    """The NUL-terminated string a ``char *`` field points at."""
    assert isinstance(address, int)
    placed = image.section_at(address)
    if placed is None:
        raise _Unreadable(f"a string pointer ({address:#x}) points outside the module's sections")
    data, _ = image.contents(placed)
    at = address - placed.address
    end = data.find(b"\0", at, placed.size)
    if end < 0:
        raise _Unreadable(f"the string at {address:#x} is not terminated in {placed.section.name}")
    return data[at:end].decode("latin-1")


def _generic_strings(obj: ElfObject) -> tuple[tuple[str, ...], str | None]:
    """``.modstring``'s non-empty strings; an unterminated last one is dropped with a warning."""
    sec = obj.section_by_name(GENERIC_SECTION)
    if sec is None:
        return (), None
    parts = obj.contents(sec).split(b"\0")
    tail = parts.pop()  # after the last NUL: empty when the section ends with one
    strings = tuple(p.decode("latin-1") for p in parts if p)
    problem = f"{GENERIC_SECTION}: unterminated string {tail[:40]!r} ignored" if tail else None
    return strings, problem


def _hex_field(entry: Entry, fields: Mapping[str, tuple[int, str, int]], name: str) -> str:
    value = entry[name]
    assert isinstance(value, int)
    return hexf(value, fields[name][2])


def map_name(path: str) -> str:
    """The module name the maps print: the file name less ``.gz``, then ``.o`` or ``.mod``."""
    name = path.rsplit("/", 1)[-1]
    if len(name) > 3 and name.endswith(".gz"):
        name = name[:-3]
    if len(name) > 2 and name.endswith(".o"):
        return name[:-2]
    if len(name) > 4 and name.endswith(".mod"):
        return name[:-4]
    return name


def format_maps(modules: Sequence[tuple[str, ModuleTables]], machine: Machine) -> dict[str, str]:
    """Every map file's text: its header, then each module's entries in tree order.

    ``modules`` are (path in the tree, tables) in tree order.
    """
    lines: dict[str, list[str]] = {name: [header] for name, header in MAP_HEADERS.items()}
    word = machine.word_size
    for path, tables in modules:
        name = map_name(path)
        column = f"{name:<{NAME_WIDTH}}"
        room = LINE_MAX - (max(len(name), NAME_WIDTH) + 1)
        lines[GENERIC_STRING] += [f"{column} {s[:room]}" for s in tables.strings]
        for table in TABLES:
            fields, _ = table.layout(word)
            for entry in tables.entries.get(table.kind, ()):
                hexfield = partial(_hex_field, entry, fields)
                lines[table.map_file].append(table.line(column, entry, hexfield))
    return {name: "".join(f"{line}\n" for line in text) for name, text in lines.items()}
