"""The export-all table (modutils' default for a module without ``__ksymtab``).

``header.export_all_symbols`` is checked against a plain loop over the
symbols (the rule as modutils words it), on every example and on objects with
duplicate, hidden and overridden names; the table ``link`` writes is read back
entry by entry: each ``{value, name}`` must hold the symbol's address and a
pointer to its name in the image.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from support import objects

from insmod_py import header
from insmod_py.elf import ElfObject, read_object
from insmod_py.elf import constants as C
from insmod_py.ksyms import KernelSymbol, SymbolTable
from insmod_py.layout import loaded_sections
from insmod_py.loader import link
from insmod_py.resolve import SPECIALS

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p.stem for p in (REPO / "examples").glob("*.c"))
BASES = objects.MODULE_BASES


def reference(obj: ElfObject, overridden: set[int]) -> list[tuple[int, str]]:
    """The rule, one symbol at a time: the first definition of each global name in a
    loaded section (or ABS/COMMON) or weak undefined one (absolute 0, as modutils'
    obj_check_undefineds made it), in index order, minus hidden and overridden ones."""
    loaded = {s.index for s in loaded_sections(obj)}
    seen = {"", *header.NEVER_EXPORTED}
    out = []
    for sym in obj.symbols[1:]:
        placed = sym.shndx in loaded or sym.shndx in (C.SHN_ABS, C.SHN_COMMON)
        weak_undefined = sym.shndx == C.SHN_UNDEF and sym.bind == C.STB_WEAK
        if not (placed or weak_undefined) or sym.bind == C.STB_LOCAL:
            continue
        if sym.type in (C.STT_SECTION, C.STT_FILE) or sym.name in seen:
            continue
        if sym.index in overridden:
            continue  # the kernel's definition is used: the name stays free
        seen.add(sym.name)
        out.append((sym.index, sym.name))
    return out


def ours(obj: ElfObject, overridden: set[int]) -> list[tuple[int, str]]:
    loaded = {s.index for s in loaded_sections(obj)}
    indexes, names = header.export_all_symbols(obj, loaded, overridden)
    return list(zip(indexes, names, strict=True))


@pytest.mark.parametrize("arch", list(BASES))
@pytest.mark.parametrize("name", EXAMPLES)
def test_export_all_symbols_follows_the_rule_on_every_example(
    built: Path, arch: str, name: str
) -> None:
    obj = read_object(str(built / arch / "examples" / f"{name}.o"))
    expected = reference(obj, set())
    assert ours(obj, set()) == expected
    if expected:  # a weak definition the kernel took over frees its name
        first = {expected[0][0]}
        assert ours(obj, first) == reference(obj, first)


DUPLICATES = """
int shared = 1;
int init_module(void) { return 0; }
void cleanup_module(void) {}
static int quiet;
int loud = 2;
__attribute__((weak)) int maybe = 3;
int *use(void) { return &quiet; }
"""


def test_a_name_defined_twice_keeps_its_first_definition(tmp_path: Path) -> None:
    """A hostile symbol table can name two globals alike (the toolchain never does):
    the first one is exported, once."""
    path = objects.compile_c(tmp_path, DUPLICATES, name="dup", flags=objects.I386_CFLAGS)
    data = path.read_bytes()
    shared, loud = objects.symbol_index(data, "shared"), objects.symbol_index(data, "loud")
    alias = objects.sym(data, shared, "st_name")
    obj = ElfObject(objects.patch_sym(data, loud, "st_name", alias), "dup.o")
    got = ours(obj, set())
    assert got == reference(obj, set())
    names = [n for _, n in got]
    assert names.count("shared") == 1 and "loud" not in names
    assert dict(map(reversed, got))["shared"] == min(shared, loud)
    assert "init_module" not in names and "cleanup_module" not in names
    # once the first is overridden by the kernel, the second definition is exported
    first = min(shared, loud)
    assert dict(map(reversed, ours(obj, {first})))["shared"] == max(shared, loud)


@pytest.mark.parametrize("arch", list(BASES))
def test_the_linked_table_points_at_each_symbol_and_its_name(built: Path, arch: str) -> None:
    obj = read_object(str(built / arch / "examples" / "hello.o"))
    undefined = {s.name for s in obj.symbols[1:] if s.shndx == C.SHN_UNDEF and s.name} - SPECIALS
    table = SymbolTable(KernelSymbol(n, 0x1000 + 16 * i) for i, n in enumerate(sorted(undefined)))
    base = BASES[arch]
    linked = link(obj, table, lambda size: base, name="hello", export_all=True)
    assert linked.exported  # hello.o has no __ksymtab: every global is exported
    word = obj.word_size
    at = linked.layout.extra_offset[header.EXPORTS]
    fmt = "<II" if word == 4 else "<QQ"
    for i, name in enumerate(linked.exported):
        value, pointer = struct.unpack_from(fmt, linked.image, at + 2 * word * i)
        assert value == linked.symbols[name]
        start = pointer - base
        assert linked.image[start : linked.image.index(0, start)].decode() == name


WEAK_HOOK = """
extern void maybe_hook(void) __attribute__((weak));
int shared_counter = 1;
int helper(void) { if (maybe_hook) maybe_hook(); return shared_counter; }
int init_module(void) { return helper(); }
void cleanup_module(void) {}
"""


@pytest.mark.parametrize("target", objects.TARGETS, ids=lambda t: t.name)
def test_a_weak_reference_nobody_provides_is_exported_as_absolute_zero(
    tmp_path: Path, target: objects.Target
) -> None:
    """modutils' obj_check_undefineds made an unresolved weak symbol SHN_ABS, value 0,
    and the export-all table then listed it: 3 exports here, not 2.  When the kernel
    provides the name, the module uses the kernel's and exports nothing under it."""
    path = objects.compile_c(tmp_path, WEAK_HOOK, name="weak", flags=target.flags())
    obj = read_object(str(path))
    base = target.module(0)
    linked = link(obj, SymbolTable(), lambda size: base, name="weak", export_all=True)
    assert sorted(linked.exported) == ["helper", "maybe_hook", "shared_counter"]
    assert ours(obj, set()) == reference(obj, set())
    word = obj.word_size
    at = linked.layout.extra_offset[header.EXPORTS]
    fmt = "<II" if word == 4 else "<QQ"
    values = {
        name: struct.unpack_from(fmt, linked.image, at + 2 * word * i)[0]
        for i, name in enumerate(linked.exported)
    }
    assert values["maybe_hook"] == 0
    assert values["helper"] == linked.symbols["helper"] != 0

    kernel = SymbolTable([KernelSymbol("maybe_hook", target.kernel(0x40))])
    provided = link(obj, kernel, lambda size: base, name="weak", export_all=True)
    assert sorted(provided.exported) == ["helper", "shared_counter"]
