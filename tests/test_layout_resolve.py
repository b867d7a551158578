"""Layout (placement, alignment, NOBITS, COMMON, .module_initdata, name/args strings) and
symbol resolution (kernel, weak, specials, GPLONLY_, unresolved lists)."""

from __future__ import annotations

import itertools
import struct
import time
import tracemalloc
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pytest
from support import objects

from insmod_py.elf import ElfObject, read_object
from insmod_py.elf import constants as C
from insmod_py.errors import ElfError, SymbolError
from insmod_py.ksyms import KernelSymbol, SymbolTable, parse_symbols
from insmod_py.layout import MAX_IMAGE_SIZE, MODULE_INITDATA, lay_out
from insmod_py.loader import LinkedModule, link
from insmod_py.resolve import bind, symbol_values

# Kernel symbols, as offsets from the kernel's _text (0xc0100000 / 0xffffffff81000000).
PRINTK, KERNEL_WEAK, GPL_FN, MAYBE_MISSING = 0, 0x100000, 0x200000, 0x300000

ALIGNED = r"""
extern int printk(const char *fmt, ...);
char c1 = 1;
int big __attribute__((aligned(64))) = 2;
const int ro[3] __attribute__((aligned(32))) = {7, 8, 9};
char zbuf[100] __attribute__((aligned(128)));
short s16 = 3;
int init_module(void) { return printk("%d", c1 + big + ro[1] + zbuf[5] + s16); }
"""

COMMONS = r"""
int c_int;
char c_char;
double c_dbl;
int c_arr[50] __attribute__((aligned(256)));
char c_tail[3];
int defined_data = 5;
int init_module(void) { return c_int + c_char + (int)c_dbl + c_arr[9] + c_tail[1]; }
"""

SPECIALS = r"""
struct module;
extern struct module __this_module;
extern char __module_name[], __module_args[];
void *p_this = &__this_module;
char *p_name = __module_name;
char *p_args = __module_args;
char *p_name_tail = __module_name + 3;
int init_module(void) { return 0; }
"""

WEAK = r"""
extern int maybe_missing(void) __attribute__((weak));
extern int kernel_weak_ref(void) __attribute__((weak));
int __attribute__((weak)) kernel_weak(void) { return 1; }
int __attribute__((weak)) own_weak(void) { return 2; }
extern int gpl_fn(void);
void *p_missing = maybe_missing;
void *p_kernel_weak = kernel_weak;
void *p_own_weak = own_weak;
void *p_gpl = gpl_fn;
int init_module(void) { return maybe_missing ? maybe_missing() : kernel_weak_ref ? 1 : 0; }
"""

INITDATA = r"""
int before_text = 1;
int init_module(void) { return before_text; }
int header[8] __attribute__((section(".module_initdata"))) = {1, 2, 3, 4, 5, 6, 7, 8};
int after = 9;
"""

UNRESOLVED = r"""
extern int alpha(void), beta(void), gamma_(void), printk(const char *, ...);
int init_module(void) { return alpha() + beta() + gamma_() + alpha() + printk("x"); }
"""

ABS = r"""
__asm__(".globl abs_sym\n.set abs_sym, 0x1234");
extern char abs_sym[];
void *p_abs = abs_sym;
int init_module(void) { return 0; }
"""


@dataclass
class Rig:
    """One target machine's compiler flags, module base and kernel symbols, for one test."""

    target: objects.Target
    tmp_path: Path

    @property
    def base(self) -> int:
        return self.target.module_base

    def kernel_address(self, offset: int) -> int:
        return self.target.kernel(offset)

    @cached_property
    def kernel(self) -> SymbolTable:
        hexa = self.target.hex
        return parse_symbols(
            f"{hexa(self.kernel_address(PRINTK))} printk\n"
            f"{hexa(self.kernel_address(KERNEL_WEAK))} T kernel_weak\n"
            f"{hexa(self.kernel_address(GPL_FN))} T GPLONLY_gpl_fn\n"
        )

    def ksyms(self, *lines: tuple[int, str]) -> SymbolTable:
        """A symbol table from (address, rest of line) pairs, addresses at the arch's width."""
        return parse_symbols("".join(f"{self.target.hex(a)} {rest}\n" for a, rest in lines))

    def build(self, source: str, *, common: bool = False) -> ElfObject:
        flags = self.target.flags(common=common)
        obj = read_object(str(objects.compile_c(self.tmp_path, source, flags=flags)))
        assert (obj.machine, obj.word_size) == (self.target.machine, self.target.word)
        return obj

    def link(self, obj: ElfObject, table: SymbolTable | None = None, **kw: object) -> LinkedModule:
        table = self.kernel if table is None else table
        name = kw.pop("name", "mod")
        return link(obj, table, lambda size: self.base, name=name, **kw)  # type: ignore[arg-type]

    def word_at(self, linked: LinkedModule, symbol: str) -> int:
        offset = linked.symbols[symbol] - self.base
        return struct.unpack_from(self.target.word_format, linked.image, offset)[0]


@pytest.fixture(params=objects.TARGETS, ids=lambda t: t.name)
def target(request: pytest.FixtureRequest) -> objects.Target:
    return request.param


@pytest.fixture
def rig(target: objects.Target, tmp_path: Path) -> Rig:
    return Rig(target, tmp_path)


def spans_disjoint(pieces: list[tuple[int, int]]) -> bool:
    spans = sorted(pieces)
    return all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))


# -- layout ---------------------------------------------------------------------------------
def test_each_section_is_placed_at_its_alignment_in_header_order(rig: Rig) -> None:
    obj = rig.build(ALIGNED)
    layout = lay_out(obj, b"mod", b"")
    alloc = [s for s in obj.sections if s.alloc]
    assert [p.index for p in layout.pieces if p.index >= 0] == [s.index for s in alloc]
    for sec in alloc:
        assert layout.section_offset[sec.index] % sec.addralign == 0, sec.name
    aligns = {s.name: s.addralign for s in alloc}
    assert aligns[".data"] >= 64 and aligns[".bss"] >= 128
    assert spans_disjoint([(p.offset, p.offset + p.size) for p in layout.pieces])
    assert layout.size == max(p.offset + p.size for p in layout.pieces)


def test_sections_are_packed_no_further_than_alignment_requires(rig: Rig) -> None:
    obj = rig.build(ALIGNED)
    layout = lay_out(obj, b"mod", b"")
    end = 0
    for piece in layout.pieces:
        assert piece.offset == (end + piece.align - 1) // piece.align * piece.align
        end = piece.offset + piece.size


def test_layout_alignment_survives_a_non_zero_base(rig: Rig) -> None:
    obj = rig.build(ALIGNED)
    linked = rig.link(obj, header="legacy")
    for sym in ("big", "ro"):
        assert linked.symbols[sym] % 32 == 0


def test_nobits_section_is_zero_in_the_image_not_the_file_bytes(rig: Rig) -> None:
    obj = rig.build(ALIGNED)
    bss = obj.section_by_name(".bss")
    assert bss.nobits and bss.size >= 100
    # Point .bss's sh_offset at .text, whose bytes are not zero: they must not be copied.
    text = obj.section_by_name(".text")
    assert any(obj.data[text.offset : text.offset + text.size])
    data = objects.patch_shdr(obj.data, bss.index, "sh_offset", text.offset)
    linked = rig.link(ElfObject(data, obj.path))
    offset = linked.layout.section_offset[bss.index]
    assert linked.image[offset : offset + bss.size] == bytes(bss.size)
    assert len(linked.image) >= offset + bss.size


def test_progbits_sections_are_copied_verbatim(rig: Rig) -> None:
    obj = rig.build(ALIGNED)
    linked = rig.link(obj)
    ro = obj.section_by_name(".rodata")
    offset = linked.layout.section_offset[ro.index]
    assert linked.image[offset : offset + ro.size] == obj.contents(ro)
    assert struct.unpack_from("<3i", linked.image, linked.symbols["ro"] - rig.base) == (7, 8, 9)


def test_common_symbols_are_aligned_by_st_value_after_bss_and_disjoint(rig: Rig) -> None:
    obj = rig.build(COMMONS, common=True)
    commons = [s for s in obj.symbols if s.shndx == C.SHN_COMMON]
    assert {s.name for s in commons} == {"c_int", "c_char", "c_dbl", "c_arr", "c_tail"}
    layout = lay_out(obj, b"mod", b"")
    last_section_end = max(
        p.offset + p.size for p in layout.pieces if p.index >= 0
    )  # every real section comes first
    for sym in commons:
        offset = layout.common_offset[sym.index]
        assert offset % sym.value == 0, sym.name
        assert offset >= last_section_end
    assert layout.common_offset[next(s.index for s in commons if s.name == "c_arr")] % 256 == 0
    assert spans_disjoint([(p.offset, p.offset + p.size) for p in layout.pieces])
    placed = {p.name: p for p in layout.pieces}
    for sym in commons:
        assert placed[f"COMMON:{sym.name}"].size == sym.size
        assert placed[f"COMMON:{sym.name}"].nobits


def test_common_symbols_resolve_to_their_zeroed_slots(rig: Rig) -> None:
    obj = rig.build(COMMONS, common=True)
    linked = rig.link(obj)
    for name, size in (("c_int", 4), ("c_arr", 200), ("c_tail", 3)):
        addr = linked.symbols[name]
        offset = addr - rig.base
        assert linked.image[offset : offset + size] == bytes(size)
    assert linked.symbols["c_arr"] % 256 == 0


def test_common_symbol_with_bad_alignment_is_refused(rig: Rig) -> None:
    obj = rig.build(COMMONS, common=True)
    index = next(s.index for s in obj.symbols if s.name == "c_int")
    bad = ElfObject(objects.patch_sym(obj.data, index, "st_value", 12), "c.o")
    with pytest.raises(ElfError) as info:
        lay_out(bad, b"mod", b"")
    assert str(info.value) == "c.o: COMMON:c_int: alignment 12 is not a power of two"


def test_module_initdata_is_pinned_at_offset_zero(rig: Rig) -> None:
    obj = rig.build(INITDATA)
    initdata = obj.section_by_name(MODULE_INITDATA)
    text = obj.section_by_name(".text")
    assert initdata.index > text.index  # not first in the file...
    layout = lay_out(obj, b"mod", b"")
    assert layout.section_offset[initdata.index] == 0  # ...but first in the image
    assert layout.pieces[0].index == initdata.index
    others = [s for s in obj.sections if s.alloc and s.index != initdata.index]
    assert [p.index for p in layout.pieces[1:] if p.index >= 0] == [s.index for s in others]


def test_module_initdata_header_path_links_at_base(rig: Rig) -> None:
    obj = rig.build(INITDATA)
    linked = rig.link(obj, header="new")
    assert linked.header == "new"
    assert linked.symbols["header"] == rig.base
    assert struct.unpack_from("<8i", linked.image, 0) == (1, 2, 3, 4, 5, 6, 7, 8)


def test_name_and_args_strings_are_appended_last(rig: Rig) -> None:
    obj = rig.build(SPECIALS)
    linked = rig.link(obj, name="mymod", args="a=1 b=two")
    layout = linked.layout
    assert linked.image[layout.name_offset :].startswith(b"mymod\0")
    assert linked.image[layout.args_offset :] == b"a=1 b=two\0"
    assert layout.args_offset == layout.name_offset + len(b"mymod\0")
    assert layout.size == len(linked.image) == layout.args_offset + len(b"a=1 b=two\0")
    assert layout.name_offset >= max(p.offset + p.size for p in layout.pieces[:-2])


def test_specials_resolve_to_the_base_and_the_strings(rig: Rig) -> None:
    obj = rig.build(SPECIALS)
    for header in ("legacy", "auto"):
        linked = rig.link(obj, name="mymod", args="x=1", header=header)
        assert rig.word_at(linked, "p_this") == rig.base
        assert rig.word_at(linked, "p_name") == rig.base + linked.layout.name_offset
        assert rig.word_at(linked, "p_args") == rig.base + linked.layout.args_offset


def test_specials_win_over_kernel_symbols_of_the_same_name(rig: Rig) -> None:
    obj = rig.build(SPECIALS)
    table = rig.ksyms(
        (rig.kernel_address(0x100), "__this_module"),
        (rig.kernel_address(0x200), "__module_name"),
    )
    linked = rig.link(obj, table)
    assert rig.word_at(linked, "p_this") == rig.base
    assert rig.word_at(linked, "p_name") == rig.base + linked.layout.name_offset


def test_an_addend_is_in_the_word_on_i386_and_in_r_addend_on_x86_64(rig: Rig) -> None:
    obj = rig.build(SPECIALS)
    tail = next(s for s in obj.symbols if s.name == "p_name_tail")
    data = obj.sections[tail.shndx]
    tables = map(obj.relocations, obj.relocation_sections())
    (table,) = (t for t in tables if t.target.index == data.index)
    assert table.is_rela is rig.target.rela
    assert table.section.name == (".rela" if rig.target.rela else ".rel") + data.name
    entry = list(table.offsets).index(tail.value)
    at = tail.value
    in_word = int.from_bytes(obj.contents(data)[at : at + rig.target.word], "little")
    # SHT_REL (i386): the addend is the word being patched; SHT_RELA (x86_64): r_addend,
    # and the word is 0.
    expected = (0, 3) if rig.target.rela else (3, 0)
    assert (in_word, table.addends[entry]) == expected
    linked = rig.link(obj, name="mymod")
    assert rig.word_at(linked, "p_name_tail") == rig.base + linked.layout.name_offset + 3


def test_empty_args_string_is_just_a_nul(rig: Rig) -> None:
    obj = rig.build(SPECIALS)
    linked = rig.link(obj, args="")
    assert linked.image[linked.layout.args_offset :] == b"\0"


# -- resolution -----------------------------------------------------------------------------
def test_undefined_symbol_takes_the_kernel_value(rig: Rig) -> None:
    obj = rig.build(WEAK)
    linked = rig.link(obj)
    assert rig.word_at(linked, "p_gpl") == rig.kernel_address(GPL_FN)  # via GPLONLY_
    assert linked.symbols["gpl_fn"] == rig.kernel_address(GPL_FN)


def test_weak_undefined_without_provider_is_zero(rig: Rig) -> None:
    obj = rig.build(WEAK)
    linked = rig.link(obj)
    assert rig.word_at(linked, "p_missing") == 0
    assert linked.symbols["maybe_missing"] == 0


def test_weak_undefined_with_provider_takes_the_kernel_value(rig: Rig) -> None:
    obj = rig.build(WEAK)
    provider = KernelSymbol("maybe_missing", rig.kernel_address(MAYBE_MISSING))
    linked = rig.link(obj, rig.kernel.merged([provider]))
    assert rig.word_at(linked, "p_missing") == rig.kernel_address(MAYBE_MISSING)


def test_weak_definition_is_overridden_by_a_kernel_symbol(rig: Rig) -> None:
    obj = rig.build(WEAK)
    linked = rig.link(obj)
    assert rig.word_at(linked, "p_kernel_weak") == rig.kernel_address(KERNEL_WEAK)
    assert linked.symbols["kernel_weak"] == rig.kernel_address(KERNEL_WEAK)


def test_weak_definition_without_kernel_symbol_stays_in_the_module(rig: Rig) -> None:
    obj = rig.build(WEAK)
    linked = rig.link(obj)
    text = obj.section_by_name(".text")
    own = next(s for s in obj.symbols if s.name == "own_weak")
    expected = rig.base + linked.layout.section_offset[text.index] + own.value
    assert rig.word_at(linked, "p_own_weak") == linked.symbols["own_weak"] == expected


def test_gplonly_export_is_found_only_when_gpl_is_allowed(rig: Rig) -> None:
    obj = rig.build(WEAK)
    binding = bind(obj, rig.kernel, gpl_ok=True)
    assert {s.name for s in binding.kernel.values()} >= {"GPLONLY_gpl_fn"}
    with pytest.raises(SymbolError, match=r"unresolved symbol gpl_fn$"):
        bind(obj, rig.kernel, gpl_ok=False)


def test_unresolved_symbols_are_all_listed_in_one_message(rig: Rig) -> None:
    obj = rig.build(UNRESOLVED)
    with pytest.raises(SymbolError) as info:
        rig.link(obj)
    text = str(info.value)
    assert text.startswith(f"{obj.path}: unresolved symbols ")
    listed = text.split("unresolved symbols ", 1)[1].split(", ")
    assert sorted(listed) == ["alpha", "beta", "gamma_"]  # each once, printk resolved
    assert "\n" not in text


def test_single_unresolved_symbol_uses_the_singular(rig: Rig) -> None:
    obj = rig.build(UNRESOLVED)
    found = [KernelSymbol(n, rig.kernel_address(a)) for n, a in (("alpha", 0x10), ("beta", 0x20))]
    table = rig.kernel.merged(found)
    with pytest.raises(SymbolError) as info:
        rig.link(obj, table)
    assert str(info.value) == f"{obj.path}: unresolved symbol gamma_"


def test_unresolved_check_happens_before_allocation(rig: Rig) -> None:
    obj = rig.build(UNRESOLVED)
    calls: list[int] = []
    with pytest.raises(SymbolError):
        link(obj, rig.kernel, lambda size: calls.append(size) or rig.base, name="m")
    assert calls == []


def test_versioned_kernel_symbol_resolves_an_unversioned_reference(rig: Rig) -> None:
    """A MODVERSIONS kernel (Using_Versions) and a module without checksums: modutils
    compared names without the _R<crc> suffix, because only one side has CRCs."""
    obj = rig.build(objects.SIMPLE_MODULE)
    versioned = (rig.kernel_address(0x16B40), "printk_R1b7d4074")
    linked = rig.link(obj, rig.ksyms(versioned, (1, "Using_Versions")))
    assert linked.symbols["printk"] == rig.kernel_address(0x16B40)


def test_module_exports_record_the_dependency(rig: Rig) -> None:
    obj = rig.build(objects.SIMPLE_MODULE)
    printer = rig.target.module(0x1000)  # another module's export: a kallsyms [mod] line
    binding = bind(obj, rig.ksyms((printer, "printk\t[printer]")))
    assert binding.used_modules == ("printer",)
    assert {s.value for s in binding.kernel.values()} == {printer}


def test_abs_symbol_keeps_its_value(rig: Rig) -> None:
    obj = rig.build(ABS)
    assert next(s for s in obj.symbols if s.name == "abs_sym").shndx == C.SHN_ABS
    linked = rig.link(obj)
    assert rig.word_at(linked, "p_abs") == 0x1234
    assert linked.symbols["abs_sym"] == 0x1234


def test_defined_symbols_are_base_plus_section_offset_plus_value(rig: Rig) -> None:
    obj = rig.build(ALIGNED)
    binding = bind(obj, rig.kernel)
    layout = lay_out(obj, b"mod", b"")
    values = symbol_values(obj, binding, layout, rig.base)
    for sym in obj.symbols[1:]:
        if sym.shndx in layout.section_offset:
            assert values[sym.index] == rig.base + layout.section_offset[sym.shndx] + sym.value


# -- size limit -----------------------------------------------------------------------------
def sizes_per_target(*sizes: int) -> list[object]:
    """(target, size) cases: each size on every target whose ELF class can hold it."""
    return [
        pytest.param(t, size, id=f"{t.name}-{size:#x}")
        for t in objects.TARGETS
        for size in sizes
        if size < 1 << (8 * t.word)
    ]


@pytest.mark.parametrize(
    ("target", "size"), sizes_per_target(0xFFFFFFFF, MAX_IMAGE_SIZE + 1, (1 << 64) - 1)
)
def test_huge_nobits_section_is_refused_without_allocating(rig: Rig, size: int) -> None:
    obj = rig.build(ALIGNED)
    bss = obj.section_by_name(".bss")
    huge = ElfObject(objects.patch_shdr(obj.data, bss.index, "sh_size", size), "huge.o")
    allocated: list[int] = []
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ElfError) as info:
            link(huge, rig.kernel, lambda n: allocated.append(n) or rig.base, name="huge")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 2
    assert peak < 16 << 20
    assert allocated == []
    text = str(info.value)
    assert text.startswith("huge.o: module too large: .bss ends at ")
    assert f"limit {MAX_IMAGE_SIZE:#x}" in text


@pytest.mark.parametrize(("target", "size"), sizes_per_target(0xFFFFFFF0, (1 << 64) - 16))
def test_huge_common_symbol_is_refused(rig: Rig, size: int) -> None:
    obj = rig.build(COMMONS, common=True)
    index = next(s.index for s in obj.symbols if s.name == "c_arr")
    huge = ElfObject(objects.patch_sym(obj.data, index, "st_size", size), "c.o")
    with pytest.raises(ElfError, match=r"^c\.o: module too large: COMMON:c_arr ends at "):
        lay_out(huge, b"mod", b"")
