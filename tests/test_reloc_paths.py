"""The three relocation paths give the same image and errors.

Every example object (every build variant, both architectures, both header
paths) and a generated object with thousands of relocations are linked with
``mode="reference"`` (the per-entry reference), ``mode="bulk"`` (the Python bulk
path) and ``mode="native"`` (the C accelerator, insmod_py/reloc/_native.c);
the images must be identical and each path must really have been taken.
Overflow and unsupported-type errors must read the same whichever path ran first.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import objects
from support.native import require_native

from insmod_py.elf import ElfObject, read_object
from insmod_py.elf import constants as C
from insmod_py.errors import RelocError
from insmod_py.ksyms import KernelSymbol, SymbolTable
from insmod_py.loader import LinkedModule, link
from insmod_py.reloc import PathCounts, Strategy
from insmod_py.resolve import SPECIALS

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p.stem for p in (REPO / "examples").glob("*.c"))
BASES = objects.MODULE_BASES
KERNEL_AREA = {"i386": 0xC0100000, "x86_64": 0xFFFFFFFF81000000}
VARIANTS = (("", "legacy"), (".common", "legacy"), (".eh", "legacy"), (".pre", "new"))


def kernel_for(obj: ElfObject, arch: str) -> SymbolTable:
    names = sorted(
        {s.name for s in obj.symbols[1:] if s.shndx == C.SHN_UNDEF and s.name} - SPECIALS
    )
    return SymbolTable(KernelSymbol(n, KERNEL_AREA[arch] + 16 * i) for i, n in enumerate(names))


def link_with(
    mode: str, obj: ElfObject, table: SymbolTable, arch: str, header: str = "auto"
) -> tuple[LinkedModule, PathCounts]:
    """Link with one relocation strategy (``reloc.Strategy``); the counts say which
    implementations really applied or declined each section."""
    strategy = Strategy(mode)
    if strategy is Strategy.NATIVE:
        require_native()
    counts = PathCounts()
    base = BASES[arch]
    linked = link(
        obj, table, lambda size: base, name="mod", args="x=1", header=header,
        relocation=strategy, path_counts=counts,
    )  # fmt: skip
    return linked, counts


@pytest.mark.parametrize("arch", list(BASES))
@pytest.mark.parametrize(("variant", "header"), VARIANTS)
@pytest.mark.parametrize("name", EXAMPLES)
def test_every_path_gives_identical_images_on_every_example(
    built: Path, arch: str, name: str, variant: str, header: str
) -> None:
    obj = read_object(str(built / arch / "examples" / f"{name}{variant}.o"))
    table = kernel_for(obj, arch)
    simple, _ = link_with("reference", obj, table, arch, header)
    bulk, counter = link_with("bulk", obj, table, arch, header)
    native, paths = link_with("native", obj, table, arch, header)
    assert bulk.image == simple.image == native.image
    assert counter.bulk_applied > 0  # the bulk path really ran
    assert paths.native_applied > 0 and paths.native_declined == 0


def big_source(functions: int) -> str:
    externs = "".join(f"extern int kfn{e}(int, const void *);\n" for e in range(64))
    body = []
    for i in range(functions):
        body.append(
            f'int f{i}(int x) {{ x += kfn{i % 64}(x, "s{i}"); '
            f"x += kfn{(i * 7) % 64}(x, &gdata[{i % 128}]); return x + gdata[{(i * 3) % 128}]; }}"
        )
    table = ", ".join(f"f{i}" for i in range(functions))
    return (
        externs + "int gdata[128];\n" + "\n".join(body)
        + f"\nint (*const ops[])(int) = {{{table}}};\n"
    )  # fmt: skip


_BIG: dict[str, ElfObject] = {}


def big_object(arch: str, tmp_path_factory: pytest.TempPathFactory) -> ElfObject:
    """A generated object with more than 5000 relocations, compiled once per arch."""
    if arch not in _BIG:
        flags = objects.I386_CFLAGS if arch == "i386" else objects.X86_64_KERNEL_CFLAGS
        tmp = tmp_path_factory.mktemp(f"big-{arch}")
        path = objects.compile_c(tmp, big_source(1500), name="big", flags=flags)
        _BIG[arch] = read_object(str(path))
    return _BIG[arch]


@pytest.fixture(scope="module", params=list(BASES))
def generated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    return request.param, big_object(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def generated_x86_64(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    return "x86_64", big_object("x86_64", tmp_path_factory)


@pytest.fixture(scope="module")
def generated_i386(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    return "i386", big_object("i386", tmp_path_factory)


def test_every_path_agrees_on_a_big_generated_object(generated: tuple) -> None:
    arch, obj = generated
    count = sum(len(obj.relocations(s).offsets) for s in obj.relocation_sections())
    assert count > 5000
    table = kernel_for(obj, arch)
    simple, _ = link_with("reference", obj, table, arch)
    bulk, counter = link_with("bulk", obj, table, arch)
    native, paths = link_with("native", obj, table, arch)
    auto, _ = link_with("auto", obj, table, arch)
    assert bulk.image == simple.image == native.image == auto.image
    assert counter.bulk_applied >= 2 and counter.bulk_declined == 0
    assert paths.native_applied >= 2 and paths.native_declined == 0


def same_error_on_both_paths(obj: ElfObject, table: SymbolTable, arch: str) -> str:
    """Link with each path: all must fail with one message."""
    errors = {}
    for mode in ("reference", "bulk", "native", "auto"):
        with pytest.raises(RelocError) as err:
            link_with(mode, obj, table, arch)
        errors[mode] = str(err.value)
    assert errors["bulk"] == errors["reference"] == errors["native"] == errors["auto"]
    return errors["bulk"]


def test_bulk_path_declines_and_the_reference_names_the_overflow(generated_x86_64: tuple) -> None:
    """An x86_64 rule: i386's 32-bit fields wrap instead (next test)."""
    arch, obj = generated_x86_64
    far = 0xFFFF888000000000  # the direct map: PC32 from the module area cannot reach it
    table = SymbolTable(
        KernelSymbol(s.name, far if s.name == "kfn63" else KERNEL_AREA[arch])
        for s in obj.symbols[1:]
        if s.shndx == C.SHN_UNDEF and s.name
    )
    assert "relocation overflow: R_X86_64_PLT32 against kfn63" in same_error_on_both_paths(
        obj, table, arch
    )


def test_unsupported_type_error_is_the_same_on_both_paths(generated: tuple) -> None:
    arch, obj = generated
    rel = ".rel.text" if arch == "i386" else ".rela.text"
    bad_type = 3 if arch == "i386" else 9  # R_386_GOT32 / R_X86_64_GOTPCREL
    sym = objects.rel_sym(obj.data, objects.rel(obj.data, rel, 100, "r_info"))
    info = objects.rel_info(obj.data, sym, bad_type)
    bad = ElfObject(objects.patch_rel(obj.data, rel, 100, "r_info", info), obj.path)
    table = kernel_for(bad, arch)
    assert "unsupported relocation R_" in same_error_on_both_paths(bad, table, arch)


def test_unsorted_or_overlapping_tables_fall_back_to_the_reference(generated: tuple) -> None:
    """Two entries swapped: the bulk path declines, the reference applies it in order;
    the C accelerator applies entries in table order, so it takes the table."""
    arch, obj = generated
    rel = ".rel.text" if arch == "i386" else ".rela.text"
    sec = obj.section_by_name(rel)
    entsize = sec.entsize
    data = bytearray(obj.data)
    first, second = sec.offset + 10 * entsize, sec.offset + 11 * entsize
    data[first : first + entsize], data[second : second + entsize] = (
        data[second : second + entsize],
        data[first : first + entsize],
    )
    swapped = ElfObject(bytes(data), obj.path)
    table = kernel_for(swapped, arch)
    simple, _ = link_with("reference", swapped, table, arch)
    bulk, counter = link_with("bulk", swapped, table, arch)
    native, paths = link_with("native", swapped, table, arch)
    assert bulk.image == simple.image == native.image
    assert counter.bulk_declined >= 1 and paths.native_declined == 0
    original, _ = link_with("reference", obj, table, arch)
    assert original.image == simple.image  # order does not matter for disjoint fields


def test_bulk_rel_path_wraps_modulo_2_to_32(generated_i386: tuple) -> None:
    arch, obj = generated_i386
    table = SymbolTable(
        KernelSymbol(s.name, 0xFFFFFFF0)
        for s in obj.symbols[1:]
        if s.shndx == C.SHN_UNDEF and s.name
    )
    simple, _ = link_with("reference", obj, table, arch)
    bulk, _ = link_with("bulk", obj, table, arch)
    native, _ = link_with("native", obj, table, arch)
    assert bulk.image == simple.image == native.image
