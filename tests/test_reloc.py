"""Relocation: results computed by hand for crafted i386 and x86_64 objects, and every
refusal (unsupported type, offset outside the target, overflow, non-zero RELA target)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from support import objects

from insmod_py.elf import ElfObject, read_object
from insmod_py.errors import LoadError, RelocError
from insmod_py.ksyms import KernelSymbol, SymbolTable, parse_symbols
from insmod_py.loader import LinkedModule, link
from insmod_py.reloc import Check, _fits, for_machine
from insmod_py.reloc.i386 import R_386_32, R_386_PC32, R_386_PLT32

BASE32 = objects.I386.module_base
BASE64 = objects.X86_64.module_base
EXT = 0xC0100000
KERNEL32 = parse_symbols(f"{EXT:08x} ext\nc0100000 printk\n")
KERNEL64 = parse_symbols("ffffffff81000000 T printk\n")

# Field offsets in .text: e8 <1..4>, e8 <6..9>, b8 <0xb..0xe>, b8 <0x10..0x13>.
CRAFTED_I386 = """\
.text
.globl f
f:  call ext                 # R_386_PC32  ext, A = -4
    call ext@PLT             # R_386_PLT32 ext, A = -4
    movl $ext+8, %eax        # R_386_32    ext, A = 8
    movl $local+4, %eax      # R_386_32    .data, A = 4 + 4
.data
    .long 0x11111111
local: .long 5
    .long ext - .            # R_386_PC32 at .data+8, A = 0
    .long ext + 0x100 - .    # R_386_PC32 at .data+12, A = 0x100
"""

X86_64_SOURCE = r"""
extern int printk(const char *fmt, ...);
int gvar = 1;
int *gptr = &gvar;
int *addr_of_gvar(void) { return &gvar; }
int init_module(void) { return printk("v=%d", gvar); }
"""


def u32(image: bytes, offset: int) -> int:
    return struct.unpack_from("<I", image, offset)[0]


def link_at(obj: ElfObject, table: SymbolTable, base: int) -> LinkedModule:
    return link(obj, table, lambda size: base, name="mod")


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory) -> ElfObject:
    tmp = tmp_path_factory.mktemp("crafted")
    path = objects.compile_c(tmp, CRAFTED_I386, name="crafted", suffix=".s", flags=["-m32"])
    return read_object(str(path))


@pytest.fixture(scope="module")
def x86_64_small(tmp_path_factory: pytest.TempPathFactory) -> ElfObject:
    tmp = tmp_path_factory.mktemp("small")
    flags = objects.X86_64_SMALL_CFLAGS
    return read_object(str(objects.compile_c(tmp, X86_64_SOURCE, name="small", flags=flags)))


@pytest.fixture(scope="module")
def x86_64_kernel(tmp_path_factory: pytest.TempPathFactory) -> ElfObject:
    tmp = tmp_path_factory.mktemp("kernel")
    flags = objects.X86_64_KERNEL_CFLAGS
    return read_object(str(objects.compile_c(tmp, X86_64_SOURCE, name="kmodel", flags=flags)))


def mutated(obj: ElfObject, data: bytes) -> ElfObject:
    return ElfObject(data, obj.path)


# -- i386 by hand ---------------------------------------------------------------------------
def test_crafted_object_has_the_relocations_the_test_assumes(crafted: ElfObject) -> None:
    text = crafted.relocations(crafted.section_by_name(".rel.text"))
    assert list(zip(text.offsets, text.types, strict=True)) == [
        (0x1, R_386_PC32),
        (0x6, R_386_PLT32),
        (0xB, R_386_32),
        (0x10, R_386_32),
    ]
    data = crafted.relocations(crafted.section_by_name(".rel.data"))
    assert list(zip(data.offsets, data.types, strict=True)) == [(8, R_386_PC32), (12, R_386_PC32)]


def test_i386_relocations_compute_s_plus_a_and_s_plus_a_minus_p(crafted: ElfObject) -> None:
    linked = link_at(crafted, KERNEL32, BASE32)
    image = linked.image
    text = linked.layout.section_offset[crafted.section_by_name(".text").index]
    data = linked.layout.section_offset[crafted.section_by_name(".data").index]
    text_addr, data_addr = BASE32 + text, BASE32 + data

    # R_386_PC32 / R_386_PLT32: S + A - P with A = -4 read from the word.
    assert u32(image, text + 1) == (EXT - 4 - (text_addr + 1)) & 0xFFFFFFFF
    assert u32(image, text + 6) == (EXT - 4 - (text_addr + 6)) & 0xFFFFFFFF
    # R_386_32: S + A.
    assert u32(image, text + 0xB) == EXT + 8
    assert u32(image, text + 0x10) == data_addr + 8  # section symbol .data, A = local+4
    assert u32(image, data + 4) == 5  # untouched
    # PC32 in data: the call targets really land on ext.
    assert u32(image, data + 8) == (EXT - (data_addr + 8)) & 0xFFFFFFFF
    assert u32(image, data + 12) == (EXT + 0x100 - (data_addr + 12)) & 0xFFFFFFFF
    assert (text_addr + 5 + u32(image, text + 1)) & 0xFFFFFFFF == EXT
    assert (text_addr + 10 + u32(image, text + 6)) & 0xFFFFFFFF == EXT


def test_i386_pc32_to_a_module_symbol_is_base_independent(crafted: ElfObject) -> None:
    low = link_at(crafted, KERNEL32, 0x1000)
    high = link_at(crafted, KERNEL32, 0x2000)
    text = low.layout.section_offset[crafted.section_by_name(".text").index]
    # R_386_32 moves with the base; PC32 to the (fixed) kernel moves the other way.
    assert u32(high.image, text + 0x10) - u32(low.image, text + 0x10) == 0x1000
    assert u32(low.image, text + 1) - u32(high.image, text + 1) == 0x1000


def test_i386_values_wrap_modulo_2_to_32(crafted: ElfObject) -> None:
    table = SymbolTable([KernelSymbol("ext", 0xFFFFFFFC)])
    linked = link_at(crafted, table, BASE32)
    text = linked.layout.section_offset[crafted.section_by_name(".text").index]
    assert u32(linked.image, text + 0xB) == (0xFFFFFFFC + 8) & 0xFFFFFFFF


def test_r_386_none_is_ignored(crafted: ElfObject) -> None:
    data = objects.patch_rel(
        crafted.data, ".rel.text", 2, "r_info", objects.rel_info(crafted.data, 4, 0)
    )
    linked = link_at(mutated(crafted, data), KERNEL32, BASE32)
    text = linked.layout.section_offset[crafted.section_by_name(".text").index]
    assert u32(linked.image, text + 0xB) == 8  # the addend stays as assembled


# -- i386 refusals --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rtype", "name"),
    [(3, "R_386_GOT32"), (9, "R_386_GOTOFF"), (43, "R_386_GOT32X"), (200, "type 200")],
)
def test_unsupported_i386_type_is_refused_naming_type_section_offset(
    crafted: ElfObject, rtype: int, name: str
) -> None:
    info = objects.rel_info(
        crafted.data,
        objects.rel_sym(crafted.data, objects.rel(crafted.data, ".rel.text", 2, "r_info")),
        rtype,
    )
    bad = mutated(crafted, objects.patch_rel(crafted.data, ".rel.text", 2, "r_info", info))
    with pytest.raises(RelocError) as err:
        link_at(bad, KERNEL32, BASE32)
    assert (
        str(err.value)
        == f"{crafted.path}: unsupported relocation {name} in .rel.text at offset 0xb"
    )


def test_pic_object_is_refused_at_its_first_got_relocation(tmp_path: Path) -> None:
    flags = [f if f != "-fno-pic" else "-fpic" for f in objects.I386_CFLAGS]
    obj = read_object(
        str(objects.compile_c(tmp_path, objects.SIMPLE_MODULE, name="pic", flags=flags))
    )
    types = for_machine(obj.machine)
    text = obj.relocations(obj.section_by_name(".rel.text"))
    first = next(i for i, t in enumerate(text.types) if t not in types.recipes)
    table = KERNEL32.merged([KernelSymbol("_GLOBAL_OFFSET_TABLE_", 0xC0000000)])
    with pytest.raises(RelocError) as err:
        link_at(obj, table, BASE32)
    name = types.type_name(text.types[first])
    assert name.startswith("R_386_GOT")
    assert str(err.value) == (
        f"{obj.path}: unsupported relocation {name} in .rel.text at offset {text.offsets[first]:#x}"
    )


@pytest.mark.parametrize("offset", [0x12, 0x13, 0x14, 0x1000, 0xFFFFFFFF])
def test_relocation_offset_outside_its_target_is_refused(crafted: ElfObject, offset: int) -> None:
    size = crafted.section_by_name(".text").size
    assert size == 0x14
    bad = mutated(crafted, objects.patch_rel(crafted.data, ".rel.text", 3, "r_offset", offset))
    with pytest.raises(RelocError) as err:
        link_at(bad, KERNEL32, BASE32)
    assert str(err.value) == (
        f"{crafted.path}: relocation R_386_32 at offset {offset:#x} is outside .text (size 0x14)"
    )


def test_last_word_of_a_section_can_be_relocated(crafted: ElfObject) -> None:
    bad = mutated(crafted, objects.patch_rel(crafted.data, ".rel.text", 3, "r_offset", 0x10))
    link_at(bad, KERNEL32, BASE32)


def test_relocation_of_a_nobits_section_is_refused(tmp_path: Path) -> None:
    obj = read_object(str(objects.compile_c(tmp_path, objects.SIMPLE_MODULE)))
    bss = obj.section_by_name(".bss")
    rel = obj.section_by_name(".rel.text")
    bad = mutated(obj, objects.patch_shdr(obj.data, rel.index, "sh_info", bss.index))
    with pytest.raises(LoadError) as err:
        link_at(bad, KERNEL32, BASE32)
    assert str(err.value) == f"{obj.path}: .rel.text relocates NOBITS section .bss"


def test_relocations_of_unloaded_sections_are_skipped(tmp_path: Path) -> None:
    flags = [*objects.I386_CFLAGS, "-g"]
    obj = read_object(str(objects.compile_c(tmp_path, objects.SIMPLE_MODULE, flags=flags)))
    debug = obj.section_by_name(".rel.debug_info")
    assert debug is not None and not obj.sections[debug.info].alloc
    # Even a type we would refuse is fine there: debug info is never loaded.
    data = objects.patch_rel(
        obj.data, ".rel.debug_info", 0, "r_info", objects.rel_info(obj.data, 0, 200)
    )
    linked = link_at(mutated(obj, data), KERNEL32, BASE32)
    assert linked.symbols["printk"] == 0xC0100000


# -- x86_64 ---------------------------------------------------------------------------------
def test_x86_64_small_model_overflows_at_a_kernel_address(x86_64_small: ElfObject) -> None:
    relocs = x86_64_small.relocations(x86_64_small.section_by_name(".rela.text"))
    assert (relocs.offsets[0], relocs.types[0]) == (1, 10)  # movl $gvar, %eax: R_X86_64_32
    with pytest.raises(RelocError) as err:
        link_at(x86_64_small, KERNEL64, BASE64)
    text = str(err.value)
    assert text.startswith(
        f"{x86_64_small.path}: relocation overflow: R_X86_64_32 against gvar in .text+0x1: value "
    )
    assert "does not fit in 32 bits (unsigned); likely not compiled with -mcmodel=kernel" in text


def test_x86_64_small_model_links_below_4_gib(x86_64_small: ElfObject) -> None:
    low = SymbolTable([KernelSymbol("printk", 0x00100000)])
    linked = link_at(x86_64_small, low, 0x01000000)
    text = linked.layout.section_offset[x86_64_small.section_by_name(".text").index]
    assert u32(linked.image, text + 1) == linked.symbols["gvar"]


def test_x86_64_kernel_model_links_at_a_kernel_address(x86_64_kernel: ElfObject) -> None:
    linked = link_at(x86_64_kernel, KERNEL64, BASE64)
    image = linked.image
    lo = linked.layout.section_offset
    text = lo[x86_64_kernel.section_by_name(".text").index]
    data = lo[x86_64_kernel.section_by_name(".data").index]
    gvar = linked.symbols["gvar"]
    # R_X86_64_64 in .data: S + A, all 64 bits.
    assert struct.unpack_from("<Q", image, data)[0] == gvar
    rela = x86_64_kernel.relocations(x86_64_kernel.section_by_name(".rela.text"))
    assert sorted(set(rela.types)) == [2, 4, 11]  # PC32, PLT32, 32S
    for offset, rtype, addend, symidx in zip(
        rela.offsets, rela.types, rela.addends, rela.symbols, strict=True
    ):
        sym = x86_64_kernel.symbols[symidx]
        s = linked.symbols[sym.name] if sym.name else BASE64 + lo[sym.shndx]  # section symbol
        where = text + offset
        field = struct.unpack_from("<i", image, where)[0]  # sign-extended, as the CPU reads it
        if rtype == 11:  # R_X86_64_32S: S + A
            assert field % (1 << 64) == (s + addend) % (1 << 64)
        else:  # PC32/PLT32: S + A - P
            assert field == s + addend - (BASE64 + where)
    assert linked.symbols["printk"] == 0xFFFFFFFF81000000


def test_x86_64_nonzero_rela_target_is_refused(x86_64_kernel: ElfObject) -> None:
    rela = x86_64_kernel.relocations(x86_64_kernel.section_by_name(".rela.text"))
    text = x86_64_kernel.section_by_name(".text")
    where = text.offset + rela.offsets[0]
    data = bytearray(x86_64_kernel.data)
    data[where] = 0x5A
    with pytest.raises(RelocError) as err:
        link_at(mutated(x86_64_kernel, bytes(data)), KERNEL64, BASE64)
    assert str(err.value) == (
        f"{x86_64_kernel.path}: invalid relocation target: .text+{rela.offsets[0]:#x} "
        "is already non-zero (R_X86_64_32S)"
    )


def test_x86_64_pc32_out_of_range_is_refused(x86_64_kernel: ElfObject) -> None:
    far = SymbolTable([KernelSymbol("printk", 0xFFFF888000000000)])  # the direct map
    with pytest.raises(
        RelocError, match=r"relocation overflow: R_X86_64_PLT32 against printk in \.text\+0x"
    ):
        link_at(x86_64_kernel, far, BASE64)


def test_unsupported_x86_64_type_is_refused(x86_64_kernel: ElfObject) -> None:
    d = x86_64_kernel.data
    sym = objects.rel_sym(d, objects.rel(d, ".rela.text", 0, "r_info"))
    bad = objects.patch_rel(d, ".rela.text", 0, "r_info", objects.rel_info(d, sym, 9))
    with pytest.raises(RelocError) as err:
        link_at(mutated(x86_64_kernel, bad), KERNEL64, BASE64)
    offset = objects.rel(d, ".rela.text", 0, "r_offset")
    assert str(err.value) == (
        f"{x86_64_kernel.path}: unsupported relocation R_X86_64_GOTPCREL in .rela.text "
        f"at offset {offset:#x}"
    )


# -- overflow rules -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "bits", "check", "ok"),
    [
        (0xFFFFFFFF, 32, Check.UNSIGNED, True),
        (1 << 32, 32, Check.UNSIGNED, False),
        (-1, 32, Check.UNSIGNED, False),
        (-(1 << 31), 32, Check.SIGNED, True),
        (1 << 31, 32, Check.SIGNED, False),
        (0xFFFF, 16, Check.BITFIELD, True),
        (-0x8000, 16, Check.BITFIELD, True),
        (0x10000, 16, Check.BITFIELD, False),
        (1 << 70, 64, Check.WRAP, True),
    ],
)
def test_overflow_rules_follow_binutils(value: int, bits: int, check: Check, ok: bool) -> None:
    assert _fits(value, bits, check) is ok
