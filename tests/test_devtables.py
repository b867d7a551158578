"""depmod's modules.*map files for 2.4 trees: small 2.4-style objects (gcc -m32 and -m64)
with MODULE_DEVICE_TABLE's pointer and size symbols, checked line for line against
modutils 2.4's formats; hostile tables; and the real allmod corpus when it is cached."""

from __future__ import annotations

import itertools
import re
import tarfile
from pathlib import Path

import pytest
from support.clirun import Pyinsmod
from support.objects import (
    TARGETS,
    Target,
    compile_c,
    section_bytes,
    section_index,
    shdr,
    sym,
    symbol_index,
)

from insmod_py.depmod import read_module, scan_tree
from insmod_py.devtables import MAP_HEADERS, TABLES, read_tables
from insmod_py.elf import constants as C
from insmod_py.modutils_image import BASE, PseudoImage

# What 2.4.37.11's <linux/module.h> and the device headers define, as a module sees them.
PRELUDE = r"""
#define __attribute_used__ __attribute__((used))
#define MODULE_GENERIC_TABLE(gtype,name) \
static const unsigned long __module_##gtype##_size __attribute_used__ = sizeof(struct gtype##_id); \
static const struct gtype##_id * __module_##gtype##_table __attribute_used__ = name
#define MODULE_DEVICE_TABLE(type,name) MODULE_GENERIC_TABLE(type##_device,name)
#define ISAPNP_CARD_TABLE(name) MODULE_GENERIC_TABLE(isapnp_card, name)
static const char __module_kernel_version[] __attribute_used__
    __attribute__((section(".modinfo"))) = "kernel_version=2.4.37";
typedef unsigned short __u16; typedef unsigned char __u8; typedef unsigned int u32;
struct pci_device_id {
    unsigned int vendor, device, subvendor, subdevice, class, class_mask;
    unsigned long driver_data;
};
struct usb_device_id {
    __u16 match_flags, idVendor, idProduct, bcdDevice_lo, bcdDevice_hi;
    __u8 bDeviceClass, bDeviceSubClass, bDeviceProtocol;
    __u8 bInterfaceClass, bInterfaceSubClass, bInterfaceProtocol;
    unsigned long driver_info;
};
struct isapnp_device_id {
    unsigned short card_vendor, card_device, vendor, function;
    unsigned long driver_data;
};
struct isapnp_card_id {
    unsigned long driver_data;
    unsigned short card_vendor, card_device;
    struct { unsigned short vendor, function; } devs[8];
};
struct parport_device_id { const char *pattern; };
struct ieee1394_device_id {
    u32 match_flags, vendor_id, model_id, specifier_id, version;
    void *driver_data;
};
struct pnpbios_device_id { char id[8]; unsigned long driver_data; };
#define PCI_ANY_ID (~0)
"""

# Every table in .data (none is const), so the only loaded sections are .text (empty),
# .rodata (the __module_*_size words) and .data: modutils placed .data after .rodata.
TABLES_MODULE = r"""
struct info { int a, b; };
static struct info info_a = { 1, 2 };
static char pat0[] = "MFG:HP;MDL:LaserJet";
static char pat1[] = "CLS:PRINTER";
static struct pci_device_id pci_ids[] = {
    { 0x8086, 0x1229, PCI_ANY_ID, PCI_ANY_ID, 0x020000, 0xffff00, 7 },
    { 0x10ec, 0x8139, 0x1186, 0x1300, 0, 0, (unsigned long)&info_a },
    { 0, }
};
MODULE_DEVICE_TABLE(pci, pci_ids);
static struct usb_device_id usb_ids[] = {
    { 0x0003, 0x0547, 0x2720, 0, 0, 0, 0, 0, 0, 0, 0, (unsigned long)&info_a },
    { 0x0380, 0, 0, 0, 0, 0, 0, 0, 8, 6, 0x50, 0 },   /* vendor 0: not the end */
    { 0x000f, 0x03ee, 0x6901, 0x0000, 0x0200, 0, 0, 0, 0, 0, 0, 0 },
    { 0 }
};
MODULE_DEVICE_TABLE(usb, usb_ids);
static struct isapnp_device_id isapnp_ids[] = {
    { 0xffff, 0xffff, 0x8914, 0x1602, (unsigned long)pat1 },
    { 0x8c0e, 0x2400, 0x8c0e, 0x3100, 0 },
    { 0 }
};
MODULE_DEVICE_TABLE(isapnp, isapnp_ids);
static struct isapnp_card_id card_ids[] = {
    { 5, 0x8c0e, 0x0024, { { 0x8c0e, 0x0031 }, { 0x8c0e, 0x2100 } } },
    { 0 }
};
ISAPNP_CARD_TABLE(card_ids);
static struct parport_device_id parport_ids[] = { { pat0 }, { pat1 }, { 0 } };
MODULE_DEVICE_TABLE(parport, parport_ids);
static struct ieee1394_device_id ieee1394_ids[] = {
    { 0x0c, 0, 0, 0x00a02d, 0x010001, &info_a },
    { 0 }
};
MODULE_DEVICE_TABLE(ieee1394, ieee1394_ids);
static struct pnpbios_device_id pnpbios_ids[] = { { "PNP0501", 0 }, { "PNP0500", 3 }, { "" } };
MODULE_DEVICE_TABLE(pnpbios, pnpbios_ids);
static const char str1[] __attribute_used__ __attribute__((section(".modstring"))) = "id=one";
static const char str2[] __attribute_used__ __attribute__((section(".modstring"))) = "";
static const char str3[] __attribute_used__ __attribute__((section(".modstring"))) = "two=2";
"""

LONG_NAME = "a_very_long_module_name"  # more than the 20-character name column
LONG_MODULE = r"""
static struct pci_device_id ids[] = { { 0x1234, 0x5678, PCI_ANY_ID, PCI_ANY_ID, 0, 0, 0 }, {} };
MODULE_DEVICE_TABLE(pci, ids);
"""


def _tree(tmp_path: Path, target: Target, modules: dict[str, str]) -> Path:
    """A 2.4 tree: each module compiled for ``target`` to kernel/drivers/NAME.o."""
    root = tmp_path / "tree"
    where = root / "kernel" / "drivers"
    where.mkdir(parents=True, exist_ok=True)
    for name, source in modules.items():
        obj = compile_c(tmp_path, PRELUDE + source, name, target.flags())
        obj.rename(where / f"{name}.o")
    return root


def _address(data: bytes, name: str) -> int:
    """Where modutils' depmod put symbol ``name`` of .data, for an object whose loaded
    sections are an empty .text, then .rodata, then .data."""
    assert shdr(data, section_index(data, ".text"), "sh_size") == 0
    rodata = shdr(data, section_index(data, ".rodata"), "sh_size")
    align = shdr(data, section_index(data, ".data"), "sh_addralign")
    data_start = (rodata + align - 1) // align * align
    return BASE + data_start + sym(data, symbol_index(data, name), "st_value")


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_every_map_file_line_for_line(target: Target, tmp_path: Path) -> None:
    root = _tree(tmp_path, target, {"tables": TABLES_MODULE, LONG_NAME: LONG_MODULE})
    obj = root / "kernel" / "drivers" / "tables.o"
    data = obj.read_bytes()
    loaded = {s.name for s in read_module(obj).sections if s.alloc and s.size}
    assert loaded == {".rodata", ".data", ".modinfo", ".modstring"}, loaded
    info, pat1 = _address(data, "info_a"), _address(data, "pat1")

    def word(value: int) -> str:  # an unsigned long: as wide as the machine's word
        return f"0x{value:0{2 * target.word}x}"

    py = Pyinsmod(tmp_path / "state", tmp_path)
    proc = py.run("depmod", str(root), "-o", str(tmp_path / "syms"),
                  "--deps", str(root / "modules.dep"))  # fmt: skip
    assert "WARNING" not in proc.stderr, proc.stderr
    maps = {name: (root / name).read_text().splitlines() for name in MAP_HEADERS}
    assert maps["modules.pcimap"] == [
        MAP_HEADERS["modules.pcimap"],
        f"{LONG_NAME} 0x00001234 0x00005678 0xffffffff 0xffffffff 0x00000000 0x00000000 {word(0)}",
        f"tables               0x00008086 0x00001229 0xffffffff 0xffffffff 0x00020000 "
        f"0x00ffff00 {word(7)}",
        f"tables               0x000010ec 0x00008139 0x00001186 0x00001300 0x00000000 "
        f"0x00000000 {word(info)}",
    ]
    usb = (
        "tables               0x{:04x}      0x{:04x}   0x{:04x}    0x{:04x}       0x{:04x}"
        "       0x00         0x00            0x00            0x{:02x}            0x{:02x}"
        "               0x{:02x}               {}"
    )
    assert maps["modules.usbmap"] == [
        MAP_HEADERS["modules.usbmap"],
        usb.format(0x3, 0x547, 0x2720, 0, 0, 0, 0, 0, word(info)),
        usb.format(0x380, 0, 0, 0, 0, 8, 6, 0x50, word(0)),
        usb.format(0xF, 0x3EE, 0x6901, 0, 0x200, 0, 0, 0, word(0)),
    ]
    assert maps["modules.isapnpmap"] == [
        MAP_HEADERS["modules.isapnpmap"],
        f"tables               0xffff     0xffff     {word(pat1)}  0x8914     0x1602",
        f"tables               0x8c0e     0x2400     {word(0)}  0x8c0e     0x3100",
        # each device: " vendor     function    " (a space before, four after)
        f"tables               0x8c0e     0x0024     {word(5)}  0x8c0e     0x0031    "
        " 0x8c0e     0x2100    ",
    ]
    assert maps["modules.parportmap"] == [
        MAP_HEADERS["modules.parportmap"],
        "tables               MFG:HP;MDL:LaserJet",
        "tables               CLS:PRINTER",
    ]
    assert maps["modules.ieee1394map"] == [
        MAP_HEADERS["modules.ieee1394map"],
        "tables               0x0000000c  0x000000  0x000000 0x00a02d     0x010001",
    ]
    assert maps["modules.pnpbiosmap"] == [
        MAP_HEADERS["modules.pnpbiosmap"],
        "tables               PNP0501",
        "tables               PNP0500",
    ]
    # .modstring's non-empty strings, in the section's order (gcc's, not the source's)
    strings = [p.decode() for p in section_bytes(data, ".modstring").split(b"\0") if p]
    assert sorted(strings) == ["id=one", "two=2"]
    assert maps["modules.generic_string"] == [
        MAP_HEADERS["modules.generic_string"],
        *(f"tables               {s}" for s in strings),
    ]
    # modules.dep is still modutils 2.4's, and no temporary file is left behind
    assert (root / "modules.dep").read_text().startswith("kernel/drivers/")
    assert not list(root.glob(".pyinsmod-*"))


def test_struct_sizes_are_the_machines() -> None:
    """The descriptions' sizes (natural alignment by word size) are those of 2.4's structs
    on i386 and x86_64, as gcc lays them out (the compiled tests check the same through
    the modules' __module_*_size words)."""
    sizes = {t.kind: (t.layout(4)[1], t.layout(8)[1]) for t in TABLES}
    assert sizes == {
        "pci_device": (28, 32), "isapnp_device": (12, 16), "isapnp_card": (40, 48),
        "usb_device": (20, 24), "parport_device": (4, 8), "ieee1394_device": (24, 32),
        "pnpbios_device": (12, 16),
    }  # fmt: skip


GOOD = r"""
static struct pci_device_id ids[] = { { 0x10ec, 0x8139, PCI_ANY_ID, PCI_ANY_ID, 0, 0, 0 }, {} };
MODULE_DEVICE_TABLE(pci, ids);
static struct usb_device_id uids[] = { { 3, 0x0547, 0x2720 }, { 0 } };
MODULE_DEVICE_TABLE(usb, uids);
"""
IDS = "static struct pci_device_id ids[] = { { 0x10ec, 0x8139, 1, 2, 0, 0, 0 }, {} };\n"
HOSTILE = {
    # the table pointer is a zero word that no relocation patches
    "unrelocated": IDS + "static const unsigned long __module_pci_device_size __attribute_used__"
    " = sizeof(struct pci_device_id);\n"
    "static const struct pci_device_id *__module_pci_device_table __attribute_used__ = 0;\n",
    # relocated, but 1 MiB past its table: outside every section
    "outside": IDS
    + "MODULE_DEVICE_TABLE(pci, (struct pci_device_id *)((char *)ids + (1 << 20)));\n",
    # relocated against a symbol no module defines: modutils made it absolute 0
    "undefined": "extern struct pci_device_id elsewhere[];\nMODULE_DEVICE_TABLE(pci, elsewhere);\n",
    # the table alone in its section, without the all-zero entry
    "unterminated": 'static struct pci_device_id ids[] __attribute__((section(".data.ids"))) = {'
    " { 0x10ec, 0x8139, 1, 2, 0, 0, 0 }, { 0x10ec, 0x8138, 1, 2, 0, 0, 0 } };\n"
    "MODULE_DEVICE_TABLE(pci, ids);\n",
    # the size of another kernel's struct
    "badsize": IDS + "static const unsigned long __module_pci_device_size __attribute_used__ = 99;"
    "\nstatic const struct pci_device_id *__module_pci_device_table __attribute_used__ = ids;\n",
    # a parport pattern pointing nowhere
    "badpattern": "static struct parport_device_id pids[] = { { (const char *)0x10 }, { 0 } };\n"
    "MODULE_DEVICE_TABLE(parport, pids);\n",
}
REASONS = {
    "unrelocated": "__module_pci_device_table: the pointer has no relocation: table ignored",
    "outside": "__module_pci_device_table: points outside the module's sections (0x1",
    "undefined": "__module_pci_device_table: points outside the module's sections (0x0)",
    "unterminated": "__module_pci_device_table: no terminating entry before the end of .data.ids",
    "badsize": "__module_pci_device_table: __module_pci_device_size is 99, not the",
    "badpattern": "__module_parport_device_table: a string pointer (0x10) points outside",
}


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_a_table_depmod_cannot_read_is_one_warning(target: Target, tmp_path: Path) -> None:
    root = _tree(tmp_path, target, {"good": GOOD, **HOSTILE})
    py = Pyinsmod(tmp_path / "state", tmp_path)
    proc = py.run("depmod", str(root), "--deps", str(root / "modules.dep"))
    warnings = [line for line in proc.stderr.splitlines() if "needs unknown symbol" not in line]
    warnings = warnings[:-1]  # the "N modules, M symbols" summary
    assert len(warnings) == len(HOSTILE), proc.stderr
    for name, reason in REASONS.items():
        line = next(w for w in warnings if f"/{name}.o:" in w)
        assert line.startswith(f"pyinsmod: WARNING: kernel/drivers/{name}.o: {reason}"), line
    # the other tables and modules still count; every file is written
    pcimap = (root / "modules.pcimap").read_text().splitlines()
    assert [line.split()[0] for line in pcimap[1:]] == ["good"]
    usbmap = (root / "modules.usbmap").read_text().splitlines()
    assert [line.split()[0] for line in usbmap[1:]] == ["good"]
    assert (root / "modules.pnpbiosmap").read_text() == MAP_HEADERS["modules.pnpbiosmap"] + "\n"
    assert "kernel/drivers/good.o:" in (root / "modules.dep").read_text()


def test_maps_only_for_24_trees(tmp_path: Path) -> None:
    """A tree of 2.6+ modules (.ko) gets modules.dep only: its device tables are kmod's."""
    target = TARGETS[0]
    obj = compile_c(tmp_path, PRELUDE + GOOD, "good", target.flags())
    root = tmp_path / "tree"
    root.mkdir()
    obj.rename(root / "good.ko")
    Pyinsmod(tmp_path / "state", tmp_path).run("depmod", str(root), "--deps",
                                               str(root / "modules.dep"))  # fmt: skip
    assert sorted(p.name for p in root.iterdir()) == ["good.ko", "modules.dep"]


ORDER_MODULE = r"""
int counter;
static int zeroed[4] __attribute_used__;
static const int table[3] __attribute_used__ = { 1, 2, 3 };
static int data[2] __attribute_used__ = { 4, 5 };
static int initdata[2] __attribute_used__ __attribute__((section(".data.init"))) = { 6, 7 };
__attribute__((section(".text.init"))) int init_module(void) { return zeroed[1] + data[0]; }
int f(void) { return table[counter] + initdata[counter]; }
"""


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_pseudo_image_follows_insmods_section_order(target: Target, tmp_path: Path) -> None:
    """Code, read-only data, data, NOBITS, then the ``.xxxx.init`` sections: where the
    printed pointers of a table come from."""
    flags = [*target.flags(), "-fno-asynchronous-unwind-tables"]  # no .eh_frame, as in 2.4
    obj = read_module(compile_c(tmp_path, PRELUDE + ORDER_MODULE, "order", flags))
    image = PseudoImage(obj)
    by_address = sorted(image.placed.values(), key=lambda p: p.address)
    names = [p.section.name for p in by_address if p.size]
    assert names == [".text", ".rodata", ".data", ".bss", ".text.init", ".data.init"], names
    assert by_address[0].address == BASE
    for before, after in itertools.pairwise(by_address):
        assert before.address + before.size <= after.address


# -- the real 2.4.37.11 allmod corpus --------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_tree():
    from insmod_py.kernel24.corpus import find_corpus

    build = find_corpus("i386", "modversions")
    if build is None:
        pytest.skip("no cached i386 allmod corpus (make corpus24 builds it)")
    return build


def _tarball_sources(names: set[str]) -> dict[str, str]:
    from insmod_py.kernel24 import cache
    from insmod_py.kernel24.source import locate

    source = locate(None, cache.cache_root() / "src")
    assert source is not None  # the corpus was found for this tarball
    out: dict[str, str] = {}
    with tarfile.open(source.path, "r|xz") as tar:
        for member in tar:
            name = member.name.split("/", 1)[-1]
            fh = tar.extractfile(member) if name in names else None
            if fh is not None:
                out[name] = fh.read().decode("latin-1")
                if len(out) == len(names):
                    break
    return out


def test_corpus_tables_match_the_driver_sources(corpus_tree) -> None:
    """e100, 8139too, usbnet, ne, sbp2 of the real build: the ids the C source lists, and
    pointers in entries (usbnet's driver_info) at their symbol's place in depmod's image."""
    mods = corpus_tree.modules / "kernel" / "drivers"
    sources = _tarball_sources({"drivers/net/e100/e100_main.c", "drivers/net/8139too.c"})

    def ids(path: str) -> list[tuple[int, int]]:
        t = read_tables(read_module(mods / path))
        assert not t.warnings, t.warnings
        return [(e["vendor"], e["device"]) for e in t.entries["pci_device"]]

    e100_src = sources["drivers/net/e100/e100_main.c"].split("e100_id_table[] = {", 1)[1]
    e100_src = e100_src.split("};", 1)[0]
    expected = [(int(v, 16), int(d, 16)) for v, d in re.findall(r"\{(0x\w+), (0x\w+),", e100_src)]
    assert len(expected) == 33 and ids("net/e100/e100.o") == expected

    # 8139too: the unconditional entries, before the first #ifdef of the table
    rtl_src = sources["drivers/net/8139too.c"].split("rtl8139_pci_tbl[] = {", 1)[1]
    rtl_src = rtl_src.split("#ifdef", 1)[0]
    expected = [(int(v, 16), int(d, 16)) for v, d in re.findall(r"\{(0x\w+), (0x\w+),", rtl_src)]
    assert len(expected) == 19 and ids("net/8139too.o")[:19] == expected

    usbnet = read_module(mods / "usb" / "usbnet.o")
    entries = read_tables(usbnet).entries["usb_device"]
    image = PseudoImage(usbnet)
    an2720 = image.values[usbnet.symbol_columns.indexes_named(["an2720_info"])[0]]
    assert (entries[0]["idVendor"], entries[0]["idProduct"]) == (0x0547, 0x2720)
    assert entries[0]["driver_info"] == an2720  # (unsigned long) &an2720_info

    ne = read_module(mods / "net" / "ne.o")
    first = read_tables(ne).entries["isapnp_device"][0]
    assert (first["card_vendor"], first["vendor"], first["function"]) == (0xFFFF, 0x8914, 0x1602)
    ne_image = PseudoImage(ne)
    placed = ne_image.section_at(first["driver_data"])  # (long) "NN NE2000"
    assert placed is not None
    data, _ = ne_image.contents(placed)
    at = first["driver_data"] - placed.address
    assert data[at : data.index(b"\0", at)] == b"NN NE2000"

    sbp2 = read_tables(read_module(mods / "ieee1394" / "sbp2.o")).entries["ieee1394_device"]
    assert [(e["specifier_id"], e["version"]) for e in sbp2] == [(0x609E, 0x10483)]


def test_corpus_maps_name_every_module_with_a_filled_table(corpus_tree) -> None:
    """Every module of the corpus whose table has entries is in its map, none warns, and
    the count of modules per map is what the symbol tables say."""
    depmod = scan_tree(corpus_tree.modules, corpus_tree.vmlinux)
    assert depmod.table_warnings() == []
    maps = depmod.format_maps()
    assert list(maps) == list(MAP_HEADERS)
    in_map = {
        name: {line.split()[0] for line in text.splitlines()[1:]} for name, text in maps.items()
    }
    with_symbol: dict[str, set[str]] = {t.map_file: set() for t in TABLES}
    for module in depmod.modules:
        obj = read_module(corpus_tree.modules / module.path)
        cols = obj.symbol_columns
        for table in TABLES:
            found = cols.indexes_named([table.table_symbol])
            if found and any(cols.shndx[i] != C.SHN_UNDEF for i in found):
                with_symbol[table.map_file].add(module.name)
    # sisfb and hisax: MODULE_DEVICE_TABLE over tables this config leaves empty
    assert with_symbol["modules.pcimap"] - in_map["modules.pcimap"] == {"sisfb", "hisax"}
    for name in ("modules.usbmap", "modules.isapnpmap", "modules.ieee1394map"):
        assert in_map[name] == with_symbol[name], name
    counts = {name: len(mods) for name, mods in in_map.items()}
    assert counts["modules.pcimap"] >= 160 and counts["modules.usbmap"] >= 60, counts


FUZZ_COUNT = 600  # per machine: a second or two


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_mutated_tables_end_in_tables_or_warnings(target: Target, tmp_path: Path) -> None:
    """The fuzzer's field mutations of the tables object (headers, symbols, relocations,
    strings): depmod's scan of it ends normally or in one LoadError, never another
    exception; tables it cannot read are warnings."""
    import random

    from insmod_py import fuzz as fh
    from insmod_py.elf import ElfObject
    from insmod_py.errors import LoadError

    seed = fh.map_seed("tables.o", compile_c(tmp_path, PRELUDE + TABLES_MODULE, "tables",
                                             target.flags()).read_bytes())  # fmt: skip
    rng = random.Random(2002)
    outcomes = {"refused": 0, "read": 0, "warned": 0}
    for _ in range(FUZZ_COUNT):
        data, _ = fh.mutate(seed, rng)
        (tmp_path / "tree").mkdir(exist_ok=True)
        try:
            ElfObject(data, "x.o")
        except LoadError:
            outcomes["refused"] += 1
            continue
        (tmp_path / "tree" / "x.o").write_bytes(data)
        try:
            depmod = scan_tree(tmp_path / "tree")
        except LoadError:
            outcomes["refused"] += 1
            continue
        outcomes["warned" if depmod.table_warnings() else "read"] += 1
        depmod.format_maps()
    assert outcomes["read"] and outcomes["warned"], outcomes
