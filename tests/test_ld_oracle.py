"""The acceptance oracle: GNU ld, linking the same object at the same addresses,
produces byte-identical contents for every non-empty SHF_ALLOC section.

Every example module is checked in every build variant (plain -fno-common,
-fcommon, prelinked), with each header path it supports, on i386 and x86_64.
What had to be controlled to make ld a fair oracle is written down in
insmod_py/oracle.py.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from support import objects

from insmod_py.elf import constants as C
from insmod_py.elf import read_object
from insmod_py.ksyms import KernelSymbol, SymbolTable
from insmod_py.layout import MODULE_INITDATA
from insmod_py.loader import link
from insmod_py.oracle import compare_with_ld
from insmod_py.resolve import SPECIALS

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p.stem for p in (REPO / "examples").glob("*.c"))
BASES = objects.MODULE_BASES
KERNEL_AREA = {"i386": 0xC0100000, "x86_64": 0xFFFFFFFF81000000}
# Build variants (mk/modules.mk): -fno-common, -fcommon, with .eh_frame, prelinked.
VARIANTS = (
    ("", ("legacy",)),
    (".common", ("legacy",)),
    (".eh", ("legacy",)),
    (".pre", ("new", "legacy")),
)
CASES = [
    (arch, name, variant, header)
    for arch in BASES
    for name in EXAMPLES
    for variant, headers in VARIANTS
    for header in headers
]


def synthetic_kernel(obj, arch: str) -> SymbolTable:
    """A kernel that provides every undefined name of the object, 16 bytes apart."""
    names = sorted(
        {s.name for s in obj.symbols[1:] if s.shndx == C.SHN_UNDEF and s.name} - SPECIALS
    )
    start = KERNEL_AREA[arch]
    return SymbolTable(KernelSymbol(n, start + 16 * i) for i, n in enumerate(names))


@pytest.mark.parametrize(("arch", "name", "variant", "header"), CASES)
def test_every_alloc_section_is_byte_identical_to_gnu_ld(
    built: Path, tmp_path: Path, arch: str, name: str, variant: str, header: str
) -> None:
    path = built / arch / "examples" / f"{name}{variant}.o"
    obj = read_object(str(path))
    base = BASES[arch]
    linked = link(
        obj, synthetic_kernel(obj, arch), lambda size: base, name=name, args="x=1", header=header
    )
    result = compare_with_ld(obj, linked, tmp_path)
    assert ".text" in result.compared or any(s.startswith(".text") for s in result.compared)
    assert result.differing == []
    if header == "new":
        assert obj.sections[linked.layout.pieces[0].index].name == MODULE_INITDATA
        assert linked.layout.pieces[0].offset == 0


def test_oracle_notices_a_single_wrong_byte(built: Path, tmp_path: Path) -> None:
    """The comparison can fail: one flipped byte in .text is reported."""
    obj = read_object(str(built / "i386" / "examples" / "hello.o"))
    linked = link(obj, synthetic_kernel(obj, "i386"), lambda size: BASES["i386"], name="hello")
    text = next(p for p in linked.layout.pieces if p.name == ".text")
    image = bytearray(linked.image)
    image[text.offset + 1] ^= 0xFF
    broken = type(linked)(**{**linked.__dict__, "image": bytes(image)})
    assert compare_with_ld(obj, broken, tmp_path).differing == [".text"]


def test_common_symbols_are_aligned_and_disjoint(built: Path) -> None:
    """COMMON placement, which the ld comparison takes from us, checked on its own."""
    for arch in BASES:
        for name in EXAMPLES:
            obj = read_object(str(built / arch / "examples" / f"{name}.common.o"))
            base = BASES[arch]
            linked = link(obj, synthetic_kernel(obj, arch), lambda size, b=base: b, name=name)
            spans = sorted((p.offset, p.offset + p.size) for p in linked.layout.pieces)
            for (_, end), (start, _) in itertools.pairwise(spans):
                assert end <= start
            for sym in obj.symbols:
                if sym.shndx == C.SHN_COMMON:
                    assert linked.layout.common_offset[sym.index] % max(sym.value, 1) == 0
