"""What a modutils 2.4 insmod did that the loader follows: header fields, symbols, messages.

Each test names the modutils behaviour it checks; the simulated kernel is the
2.4 one, so what it accepts and reports is what 2.4 would.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import objects
import pytest
from clirun import Pyinsmod

from insmod_py import modstruct as ms
from insmod_py.backends.sim import SimBackend
from insmod_py.elf import read_object
from insmod_py.errors import SymbolError
from insmod_py.ksyms import SymbolTable, parse_symbols
from insmod_py.loader import link, load
from insmod_py.resolve import unreferenced_undefined
from insmod_py.toolchain import LD_EMULATION

INIT_AND_EXTRAS = r"""
int __attribute__((section(".text.init"))) init_module(void) { return 0; }
void cleanup_module(void) {}
int running = 1;
int __attribute__((section(".data.init"))) boot_value = 5;
const char kall[8] __attribute__((section("__kallsyms"), used)) = "kallsym";
const int arch_words[3] __attribute__((section("__archdata"), used)) = {1, 2, 3};
"""


def _header(linked, word: int) -> dict:
    return ms.parse_module(word, bytes(linked.image[: ms.sizeof_module(word)]))


def _section_address(linked, obj, name: str) -> int:
    sec = obj.section_by_name(name)
    return linked.base + linked.layout.section_offset[sec.index]


@pytest.mark.parametrize("target", objects.TARGETS, ids=lambda t: t.name)
def test_header_extension_fields_are_filled_as_modutils_init_module_did(
    tmp_path: Path, target: objects.Target
) -> None:
    """runsize: offset of the lower of .text.init/.data.init; kallsyms_*/archdata_*:
    the span of __kallsyms/__archdata.  And the 2.4 kernel's bounds checks accept them."""
    path = objects.compile_c(tmp_path, INIT_AND_EXTRAS, name="extras", flags=target.flags())
    obj = read_object(str(path))
    base = target.module(0)
    linked = link(obj, SymbolTable(), lambda size: base, name="extras", header="legacy")
    fields = _header(linked, obj.word_size)
    text_init = _section_address(linked, obj, ".text.init")
    data_init = _section_address(linked, obj, ".data.init")
    assert fields["runsize"] == min(text_init, data_init) - base > 0
    kall = _section_address(linked, obj, "__kallsyms")
    assert (fields["kallsyms_start"], fields["kallsyms_end"]) == (kall, kall + 8)
    arch = _section_address(linked, obj, "__archdata")
    assert (fields["archdata_start"], fields["archdata_end"]) == (arch, arch + 12)

    backend = SimBackend(state_dir=str(tmp_path / "state"), arch=target.name)
    load(obj, backend, name="extras", header="legacy")
    assert [m.name for m in backend.modules()] == ["extras"]


def test_header_extension_fields_stay_zero_without_those_sections(tmp_path: Path) -> None:
    path = objects.compile_c(tmp_path, objects.SIMPLE_MODULE, name="plain")
    obj = read_object(str(path))
    kernel = parse_symbols(objects.KSYMS)
    linked = link(obj, kernel, lambda size: 0xC8800000, name="plain", header="legacy")
    fields = _header(linked, 4)
    for name in ("runsize", "kallsyms_start", "kallsyms_end", "archdata_start", "archdata_end"):
        assert fields[name] == 0, name


# -- symbol versions: modutils ignored _R<crc> only when module and kernel disagreed ---------
CHECKSUMS = (
    'static const char __module_using_checksums[] __attribute__((section(".modinfo"), used))'
    ' = "using_checksums=1";\n'
)
VERSIONED_PRINTK = 'extern int printk(const char *fmt, ...) __asm__("printk_R1b7d4074");\n'
PLAIN_KERNEL = "c0100000 printk\n"
VERSIONED_KERNEL = "c0100000 printk_R1b7d4074\n00000001 Using_Versions\n"
R_NAMES_ONLY_KERNEL = "c0100000 printk_R1b7d4074\n"  # _R names, but no Using_Versions
BOTH = "both the module and the kernel use symbol checksums: names must match exactly"
NEITHER = "neither the module nor the kernel uses symbol checksums: names must match exactly"


@pytest.mark.parametrize(
    ("module", "kernel", "refusal"),
    [
        # module with checksums, reference without a CRC: refused by a versioned kernel...
        (CHECKSUMS, VERSIONED_KERNEL, BOTH),
        # ... loaded by an unversioned one (the settings differ: CRCs ignored)
        (CHECKSUMS, PLAIN_KERNEL, None),
        # module without checksums: an _R name without Using_Versions does not match...
        ("", R_NAMES_ONLY_KERNEL, NEITHER),
        # ... a versioned kernel's does (settings differ)
        ("", VERSIONED_KERNEL, None),
        # both versioned: the exact name, CRC and all
        (CHECKSUMS + VERSIONED_PRINTK, VERSIONED_KERNEL, None),
        (CHECKSUMS + VERSIONED_PRINTK, VERSIONED_KERNEL.replace("1b7d4074", "00000000"), None),
    ],
    ids=["csum-vs-versioned", "csum-vs-plain", "plain-vs-R-names", "plain-vs-versioned",
         "both-same-crc", "both-other-crc"],
)  # fmt: skip
def test_symbol_versions_follow_modutils_rule(
    tmp_path: Path, module: str, kernel: str, refusal: str | None
) -> None:
    source = module + objects.SIMPLE_MODULE
    path = objects.compile_c(tmp_path, source, name="ver")
    obj = read_object(str(path))
    table = parse_symbols(kernel)
    other_crc = "00000000" in kernel
    if refusal is None and not other_crc:
        linked = link(obj, table, lambda size: 0xC8800000, name="ver", header="legacy")
        assert linked.symbols.get("printk", linked.symbols.get("printk_R1b7d4074")) == 0xC0100000
        return
    with pytest.raises(SymbolError) as err:
        link(obj, table, lambda size: 0xC8800000, name="ver", header="legacy")
    text = str(err.value)
    assert text.startswith(f"{path}: unresolved symbol printk")
    if refusal is not None:  # the rule, not a missing export, refused it: it is named
        assert refusal in text
    else:  # a different CRC is a different interface: no rule to blame
        assert "checksums" not in text


# -- an undefined symbol no relocation uses (binutils 2.40's ld -r -e stext) -----------------
def _linked_with_entry_stext(src: Path, out: Path, arch: str) -> Path:
    """2.4's Makefile rule for fat.o, msdos.o, vfat.o...: ``ld -r -e stext``."""
    emulation = LD_EMULATION[arch]
    subprocess.run(["ld", "-m", emulation, "-r", "-e", "stext", str(src), "-o", str(out)],
                   check=True, capture_output=True)  # fmt: skip
    return out


@pytest.mark.parametrize("arch", ["i386", "x86_64"])
def test_an_undefined_symbol_no_relocation_uses_does_not_stop_a_load(
    built: Path, tmp_path: Path, arch: str
) -> None:
    path = _linked_with_entry_stext(
        built / arch / "examples" / "hello.o", tmp_path / "hello.o", arch
    )
    obj = read_object(str(path))
    stext = [s for s in obj.symbols if s.name == "stext"]
    assert stext and stext[0].shndx == 0  # what modern ld leaves behind
    assert unreferenced_undefined(obj) == ["stext"]
    backend = SimBackend(state_dir=str(tmp_path / "state"), arch=arch)
    load(obj, backend, name="hello", header="legacy")
    assert [m.name for m in backend.modules()] == ["hello"]


def test_verbose_says_the_unreferenced_symbol_is_not_needed(built: Path, tmp_path: Path) -> None:
    path = _linked_with_entry_stext(
        built / "i386" / "examples" / "hello.o", tmp_path / "hello.o", "i386"
    )
    k = Pyinsmod(tmp_path / "state", built / "i386" / "examples")
    proc = k.run("-v", str(path))
    assert "stext is undefined, but no relocation uses it: not needed" in proc.stderr
    assert k.modules() == ["hello"]
