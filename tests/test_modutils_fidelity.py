"""What a modutils 2.4 insmod did that the loader follows: header fields, symbols, messages.

Each test names the modutils behaviour it checks; the simulated kernel is the
2.4 one, so what it accepts and reports is what 2.4 would.
"""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import pytest
from support import objects
from support.clirun import Pyinsmod

from insmod_py import modstruct as ms
from insmod_py.arch import by_name
from insmod_py.backends.sim import SimBackend
from insmod_py.elf import read_object
from insmod_py.errors import LoadError, SymbolError
from insmod_py.insmod import InsmodOptions, InsmodResult, insmod
from insmod_py.ksyms import SymbolTable, parse_symbols
from insmod_py.loader import link, load
from insmod_py.resolve import unreferenced_undefined

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
    emulation = by_name(arch).ld_emulation
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


# -- ksymoops symbols (-Y, the default, and -y) ---------------------------------------------
def _exported(linked, word: int) -> dict[str, int]:
    """name -> value of every entry in the table the legacy header points at."""
    fields = _header(linked, word)
    fmt = "<II" if word == 4 else "<QQ"
    out = {}
    for i in range(fields["nsyms"]):
        entry = fields["syms"] - linked.base + 2 * word * i
        value, name_at = struct.unpack_from(fmt, linked.image, entry)
        start = name_at - linked.base
        out[linked.image[start : linked.image.index(0, start)].decode()] = value
    return out


def _dry_run(path: Path, ksyms: Path, *args: str, **opts) -> InsmodResult:
    options = InsmodOptions(str(path), args=args, dry_run=True, ksyms_path=str(ksyms),
                            base=0xC8800000, header="legacy", **opts)  # fmt: skip
    return insmod(options)


@pytest.fixture
def kernel_file(tmp_path: Path) -> Path:
    path = tmp_path / "ksyms"
    path.write_text("c0100000 printk\nc0100100 register_chrdev\n")
    return path


def test_ksymoops_symbols_name_object_mtime_version_and_sections(
    built: Path, tmp_path: Path, kernel_file: Path
) -> None:
    """modutils' format: _O<realpath>_M<%08lX mtime>_V<a<<16|b<<8|c> at the module start,
    _S<section>_L<size> at each of .text/.rodata/.data/.bss with a size; exported with
    the module's other globals (hello.o has no __ksymtab)."""
    path = tmp_path / "hello.o"
    path.write_bytes((built / "i386" / "examples" / "hello.o").read_bytes())
    os.utime(path, (0x12345678, 0x12345678))
    linked = _dry_run(path, kernel_file).linked
    obj = read_object(str(path))
    exported = _exported(linked, 4)
    real = os.path.realpath(path)
    assert exported[f"__insmod_hello_O{real}_M12345678_V132133"] == linked.base  # 2.4.37
    expected_sections = {
        f"__insmod_hello_S{name}_L{sec.size}": _section_address(linked, obj, name)
        for name in (".text", ".rodata", ".data", ".bss")
        if (sec := obj.section_by_name(name)) is not None and sec.size
    }
    assert expected_sections and ".text" in str(expected_sections)
    assert {n: v for n, v in exported.items() if "_S." in n} == expected_sections
    assert {"hello_count", "hello_ops"} <= exported.keys()  # the export-all table, as before

    without = _exported(_dry_run(path, kernel_file, ksymoops=False).linked, 4)
    assert without == {n: v for n, v in exported.items() if not n.startswith("__insmod_")}


def test_ksymoops_mtime_is_as_wide_as_the_targets_time_t(built: Path, tmp_path: Path) -> None:
    path = tmp_path / "hello.o"
    path.write_bytes((built / "x86_64" / "examples" / "hello.o").read_bytes())
    os.utime(path, (0x12345678, 0x12345678))
    kernel = tmp_path / "ksyms"
    kernel.write_text("ffffffff81000000 T printk\n")
    options = InsmodOptions(str(path), dry_run=True, ksyms_path=str(kernel),
                            base=0xFFFFFFFFA0000000, header="legacy")  # fmt: skip
    names = insmod(options).linked.symbols
    assert any(n.endswith("_M0000000012345678_V132133") for n in names)


def test_ksymoops_symbols_join_an_existing_ksymtab_and_leave_the_sections_alone(
    built: Path, tmp_path: Path, kernel_file: Path
) -> None:
    """exporter.o has a __ksymtab: the header's table is its entries, then the ksymoops
    ones (modutils extended the section); every section of the object keeps its bytes."""
    path = built / "i386" / "examples" / "exporter.o"
    with_oops = _dry_run(path, kernel_file).linked
    plain = _dry_run(path, kernel_file, ksymoops=False).linked
    names = list(_exported(with_oops, 4))
    assert names[:3] == list(_exported(plain, 4))
    assert all(n.startswith("__insmod_exporter_") for n in names[3:]) and len(names) > 4
    for piece in plain.layout.pieces:
        if piece.index >= 0:
            span = slice(piece.offset, piece.offset + piece.size)
            assert with_oops.image[span] == plain.image[span], piece.name


def test_noexport_still_exports_the_ksymoops_symbols(
    built: Path, tmp_path: Path, kernel_file: Path
) -> None:
    path = built / "i386" / "examples" / "hello.o"
    names = _exported(_dry_run(path, kernel_file, export_all=False).linked, 4)
    assert names and all(n.startswith("__insmod_hello_") for n in names)
    assert _exported(_dry_run(path, kernel_file, export_all=False, ksymoops=False).linked, 4) == {}


def test_oops_report_and_ksyms_show_the_ksymoops_symbols(built: Path, tmp_path: Path) -> None:
    k = Pyinsmod(tmp_path / "state", built / "i386" / "examples")
    line = k.fails(k.obj("nullderef.o"))
    assert "<init_module+0x" in line and "(__insmod_nullderef_S.text_L" in line
    assert "(__insmod" not in k.fails("-y", k.obj("nullderef.o"))
    k.run(k.obj("hello.o"))
    assert "__insmod_hello_S.text_L" in k.ksyms()


class _HungKernel(SimBackend):
    """A kernel that is interrupted in init_module and then cannot answer at all."""

    def __init__(self, state: str, interrupt: BaseException) -> None:
        super().__init__(state, "i386")
        self.interrupt = interrupt
        self.deletes = 0

    def init_module(self, *args, **kw) -> None:
        raise self.interrupt

    def delete_module(self, name) -> None:
        self.deletes += 1
        raise LoadError("no answer to DELETE_MODULE within 60 s")


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt(), SystemExit(143),
                                       LoadError("init_module: guest died")])  # fmt: skip
def test_a_failing_clean_up_does_not_replace_the_error_that_stopped_the_load(
    tmp_path: Path, interrupt: BaseException
) -> None:
    """insmod deletes a created module that did not start; when that fails too (a hung
    VM), the first error, Ctrl-C or a kill is what the caller sees, not the clean-up's."""
    path = objects.compile_c(tmp_path, objects.KERNEL_VERSION + INIT_AND_EXTRAS, name="m",
                             flags=objects.I386_CFLAGS)  # fmt: skip
    kernel = _HungKernel(str(tmp_path / "state"), interrupt)
    with pytest.raises(type(interrupt)) as caught:
        load(read_object(str(path)), kernel, name="m", symbols=SymbolTable())
    assert caught.value is interrupt and kernel.deletes == 1
