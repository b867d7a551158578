"""Layout (placement, alignment, NOBITS, COMMON, .module_initdata, name/args strings) and
symbol resolution (kernel, weak, specials, GPLONLY_, unresolved lists)."""

from __future__ import annotations

import itertools
import struct
import time
import tracemalloc
from pathlib import Path

import objects
import pytest

from insmod_py.elf import ElfObject, read_object
from insmod_py.elf import constants as C
from insmod_py.errors import ElfError, SymbolError
from insmod_py.ksyms import KernelSymbol, SymbolTable, parse_symbols
from insmod_py.layout import MAX_IMAGE_SIZE, MODULE_INITDATA, lay_out
from insmod_py.loader import LinkedModule, link
from insmod_py.resolve import bind, symbol_values

BASE = 0xC8800000
KERNEL = parse_symbols("c0100000 printk\nc0200000 T kernel_weak\nc0300000 T GPLONLY_gpl_fn\n")

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
int init_module(void) { return 0; }
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


def build(tmp_path: Path, source: str, *, common: bool = False) -> ElfObject:
    flags = [f if f != "-fno-common" else "-fcommon" for f in objects.I386_CFLAGS]
    return read_object(str(objects.compile_c(tmp_path, source, flags=flags if common else None)))


def do_link(obj: ElfObject, table: SymbolTable = KERNEL, **kw: object) -> LinkedModule:
    return link(obj, table, lambda size: BASE, name=kw.pop("name", "mod"), **kw)  # type: ignore[arg-type]


def word_at(linked: LinkedModule, symbol: str) -> int:
    return struct.unpack_from("<I", linked.image, linked.symbols[symbol] - BASE)[0]


def spans_disjoint(pieces: list[tuple[int, int]]) -> bool:
    spans = sorted(pieces)
    return all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))


# -- layout ---------------------------------------------------------------------------------
def test_each_section_is_placed_at_its_alignment_in_header_order(tmp_path: Path) -> None:
    obj = build(tmp_path, ALIGNED)
    layout = lay_out(obj, b"mod", b"")
    alloc = [s for s in obj.sections if s.alloc]
    assert [p.index for p in layout.pieces if p.index >= 0] == [s.index for s in alloc]
    for sec in alloc:
        assert layout.section_offset[sec.index] % sec.addralign == 0, sec.name
    aligns = {s.name: s.addralign for s in alloc}
    assert aligns[".data"] >= 64 and aligns[".bss"] >= 128
    assert spans_disjoint([(p.offset, p.offset + p.size) for p in layout.pieces])
    assert layout.size == max(p.offset + p.size for p in layout.pieces)


def test_sections_are_packed_no_further_than_alignment_requires(tmp_path: Path) -> None:
    obj = build(tmp_path, ALIGNED)
    layout = lay_out(obj, b"mod", b"")
    end = 0
    for piece in layout.pieces:
        assert piece.offset == (end + piece.align - 1) // piece.align * piece.align
        end = piece.offset + piece.size


def test_layout_alignment_survives_a_non_zero_base(tmp_path: Path) -> None:
    obj = build(tmp_path, ALIGNED)
    linked = do_link(obj, header="legacy")
    for sym in ("big", "ro"):
        assert linked.symbols[sym] % 32 == 0


def test_nobits_section_is_zero_in_the_image_not_the_file_bytes(tmp_path: Path) -> None:
    obj = build(tmp_path, ALIGNED)
    bss = obj.section_by_name(".bss")
    assert bss.nobits and bss.size >= 100
    # Point .bss's sh_offset at .text, whose bytes are not zero: they must not be copied.
    text = obj.section_by_name(".text")
    assert any(obj.data[text.offset : text.offset + text.size])
    data = objects.patch_shdr(obj.data, bss.index, "sh_offset", text.offset)
    linked = do_link(ElfObject(data, obj.path))
    offset = linked.layout.section_offset[bss.index]
    assert linked.image[offset : offset + bss.size] == bytes(bss.size)
    assert len(linked.image) >= offset + bss.size


def test_progbits_sections_are_copied_verbatim(tmp_path: Path) -> None:
    obj = build(tmp_path, ALIGNED)
    linked = do_link(obj)
    ro = obj.section_by_name(".rodata")
    offset = linked.layout.section_offset[ro.index]
    assert linked.image[offset : offset + ro.size] == obj.contents(ro)
    assert struct.unpack_from("<3i", linked.image, linked.symbols["ro"] - BASE) == (7, 8, 9)


def test_common_symbols_are_aligned_by_st_value_after_bss_and_disjoint(tmp_path: Path) -> None:
    obj = build(tmp_path, COMMONS, common=True)
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


def test_common_symbols_resolve_to_their_zeroed_slots(tmp_path: Path) -> None:
    obj = build(tmp_path, COMMONS, common=True)
    linked = do_link(obj)
    for name, size in (("c_int", 4), ("c_arr", 200), ("c_tail", 3)):
        addr = linked.symbols[name]
        offset = addr - BASE
        assert linked.image[offset : offset + size] == bytes(size)
    assert linked.symbols["c_arr"] % 256 == 0


def test_common_symbol_with_bad_alignment_is_refused(tmp_path: Path) -> None:
    obj = build(tmp_path, COMMONS, common=True)
    index = next(s.index for s in obj.symbols if s.name == "c_int")
    bad = ElfObject(objects.patch_sym(obj.data, index, "st_value", 12), "c.o")
    with pytest.raises(ElfError) as info:
        lay_out(bad, b"mod", b"")
    assert str(info.value) == "c.o: COMMON:c_int: alignment 12 is not a power of two"


def test_module_initdata_is_pinned_at_offset_zero(tmp_path: Path) -> None:
    obj = build(tmp_path, INITDATA)
    initdata = obj.section_by_name(MODULE_INITDATA)
    text = obj.section_by_name(".text")
    assert initdata.index > text.index  # not first in the file...
    layout = lay_out(obj, b"mod", b"")
    assert layout.section_offset[initdata.index] == 0  # ...but first in the image
    assert layout.pieces[0].index == initdata.index
    others = [s for s in obj.sections if s.alloc and s.index != initdata.index]
    assert [p.index for p in layout.pieces[1:] if p.index >= 0] == [s.index for s in others]


def test_module_initdata_header_path_links_at_base(tmp_path: Path) -> None:
    obj = build(tmp_path, INITDATA)
    linked = do_link(obj, header="new")
    assert linked.header == "new"
    assert linked.symbols["header"] == BASE
    assert struct.unpack_from("<8i", linked.image, 0) == (1, 2, 3, 4, 5, 6, 7, 8)


def test_name_and_args_strings_are_appended_last(tmp_path: Path) -> None:
    obj = build(tmp_path, SPECIALS)
    linked = do_link(obj, name="mymod", args="a=1 b=two")
    layout = linked.layout
    assert linked.image[layout.name_offset :].startswith(b"mymod\0")
    assert linked.image[layout.args_offset :] == b"a=1 b=two\0"
    assert layout.args_offset == layout.name_offset + len(b"mymod\0")
    assert layout.size == len(linked.image) == layout.args_offset + len(b"a=1 b=two\0")
    assert layout.name_offset >= max(p.offset + p.size for p in layout.pieces[:-2])


def test_specials_resolve_to_the_base_and_the_strings(tmp_path: Path) -> None:
    obj = build(tmp_path, SPECIALS)
    for header in ("legacy", "auto"):
        linked = do_link(obj, name="mymod", args="x=1", header=header)
        assert word_at(linked, "p_this") == BASE
        assert word_at(linked, "p_name") == BASE + linked.layout.name_offset
        assert word_at(linked, "p_args") == BASE + linked.layout.args_offset


def test_specials_win_over_kernel_symbols_of_the_same_name(tmp_path: Path) -> None:
    obj = build(tmp_path, SPECIALS)
    table = parse_symbols("c0000100 __this_module\nc0000200 __module_name\n")
    linked = do_link(obj, table)
    assert word_at(linked, "p_this") == BASE
    assert word_at(linked, "p_name") == BASE + linked.layout.name_offset


def test_empty_args_string_is_just_a_nul(tmp_path: Path) -> None:
    obj = build(tmp_path, SPECIALS)
    linked = do_link(obj, args="")
    assert linked.image[linked.layout.args_offset :] == b"\0"


# -- resolution -----------------------------------------------------------------------------
def test_undefined_symbol_takes_the_kernel_value(tmp_path: Path) -> None:
    obj = build(tmp_path, WEAK)
    linked = do_link(obj)
    assert word_at(linked, "p_gpl") == 0xC0300000  # via GPLONLY_
    assert linked.symbols["gpl_fn"] == 0xC0300000


def test_weak_undefined_without_provider_is_zero(tmp_path: Path) -> None:
    obj = build(tmp_path, WEAK)
    linked = do_link(obj)
    assert word_at(linked, "p_missing") == 0
    assert linked.symbols["maybe_missing"] == 0


def test_weak_undefined_with_provider_takes_the_kernel_value(tmp_path: Path) -> None:
    obj = build(tmp_path, WEAK)
    linked = do_link(obj, KERNEL.merged([KernelSymbol("maybe_missing", 0xC0400000)]))
    assert word_at(linked, "p_missing") == 0xC0400000


def test_weak_definition_is_overridden_by_a_kernel_symbol(tmp_path: Path) -> None:
    obj = build(tmp_path, WEAK)
    linked = do_link(obj)
    assert word_at(linked, "p_kernel_weak") == 0xC0200000
    assert linked.symbols["kernel_weak"] == 0xC0200000


def test_weak_definition_without_kernel_symbol_stays_in_the_module(tmp_path: Path) -> None:
    obj = build(tmp_path, WEAK)
    linked = do_link(obj)
    text = obj.section_by_name(".text")
    own = next(s for s in obj.symbols if s.name == "own_weak")
    expected = BASE + linked.layout.section_offset[text.index] + own.value
    assert word_at(linked, "p_own_weak") == linked.symbols["own_weak"] == expected


def test_gplonly_export_is_found_only_when_gpl_is_allowed(tmp_path: Path) -> None:
    obj = build(tmp_path, WEAK)
    binding = bind(obj, KERNEL, gpl_ok=True)
    assert {s.name for s in binding.kernel.values()} >= {"GPLONLY_gpl_fn"}
    with pytest.raises(SymbolError, match=r"unresolved symbol gpl_fn$"):
        bind(obj, KERNEL, gpl_ok=False)


def test_unresolved_symbols_are_all_listed_in_one_message(tmp_path: Path) -> None:
    obj = build(tmp_path, UNRESOLVED)
    with pytest.raises(SymbolError) as info:
        do_link(obj)
    text = str(info.value)
    assert text.startswith(f"{obj.path}: unresolved symbols ")
    listed = text.split("unresolved symbols ", 1)[1].split(", ")
    assert sorted(listed) == ["alpha", "beta", "gamma_"]  # each once, printk resolved
    assert "\n" not in text


def test_single_unresolved_symbol_uses_the_singular(tmp_path: Path) -> None:
    obj = build(tmp_path, UNRESOLVED)
    table = KERNEL.merged([KernelSymbol("alpha", 1), KernelSymbol("beta", 2)])
    with pytest.raises(SymbolError) as info:
        do_link(obj, table)
    assert str(info.value) == f"{obj.path}: unresolved symbol gamma_"


def test_unresolved_check_happens_before_allocation(tmp_path: Path) -> None:
    obj = build(tmp_path, UNRESOLVED)
    calls: list[int] = []
    with pytest.raises(SymbolError):
        link(obj, KERNEL, lambda size: calls.append(size) or BASE, name="m")
    assert calls == []


def test_versioned_kernel_symbol_resolves_an_unversioned_reference(tmp_path: Path) -> None:
    obj = build(tmp_path, objects.SIMPLE_MODULE)
    linked = do_link(obj, parse_symbols("c0116b40 printk_R1b7d4074\n"))
    assert linked.symbols["printk"] == 0xC0116B40


def test_module_exports_record_the_dependency(tmp_path: Path) -> None:
    obj = build(tmp_path, objects.SIMPLE_MODULE)
    binding = bind(obj, parse_symbols("c8801000 printk\t[printer]\n"))
    assert binding.used_modules == ("printer",)


def test_abs_symbol_keeps_its_value(tmp_path: Path) -> None:
    obj = build(tmp_path, ABS)
    assert next(s for s in obj.symbols if s.name == "abs_sym").shndx == C.SHN_ABS
    linked = do_link(obj)
    assert word_at(linked, "p_abs") == 0x1234
    assert linked.symbols["abs_sym"] == 0x1234


def test_defined_symbols_are_base_plus_section_offset_plus_value(tmp_path: Path) -> None:
    obj = build(tmp_path, ALIGNED)
    binding = bind(obj, KERNEL)
    layout = lay_out(obj, b"mod", b"")
    values = symbol_values(obj, binding, layout, BASE)
    for sym in obj.symbols[1:]:
        if sym.shndx in layout.section_offset:
            assert values[sym.index] == BASE + layout.section_offset[sym.shndx] + sym.value


# -- size limit -----------------------------------------------------------------------------
@pytest.mark.parametrize("size", [0xFFFFFFFF, MAX_IMAGE_SIZE + 1])
def test_huge_nobits_section_is_refused_without_allocating(tmp_path: Path, size: int) -> None:
    obj = build(tmp_path, ALIGNED)
    bss = obj.section_by_name(".bss")
    huge = ElfObject(objects.patch_shdr(obj.data, bss.index, "sh_size", size), "huge.o")
    allocated: list[int] = []
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ElfError) as info:
            link(huge, KERNEL, lambda n: allocated.append(n) or BASE, name="huge")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 2
    assert peak < 16 << 20
    assert allocated == []
    text = str(info.value)
    assert text.startswith("huge.o: module too large: .bss ends at ")
    assert f"limit {MAX_IMAGE_SIZE:#x}" in text


def test_huge_common_symbol_is_refused(tmp_path: Path) -> None:
    obj = build(tmp_path, COMMONS, common=True)
    index = next(s.index for s in obj.symbols if s.name == "c_arr")
    huge = ElfObject(objects.patch_sym(obj.data, index, "st_size", 0xFFFFFFF0), "c.o")
    with pytest.raises(ElfError, match=r"^c\.o: module too large: COMMON:c_arr ends at "):
        lay_out(huge, b"mod", b"")
