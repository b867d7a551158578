"""Kernel symbol sources: /proc/ksyms (2.4), /proc/kallsyms, System.map, and their errors.

Every test that reads addresses runs once per target: i386 lines carry 8 hex digits
(kernel at 0xc0100000, modules from 0xc8800000), x86_64 lines 16 (kernel at
0xffffffff81000000, modules from 0xffffffffa0000000).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support import objects

from insmod_py.errors import SymbolError
from insmod_py.ksyms import (
    KernelSymbol,
    SymbolTable,
    format_ksyms,
    load_symbols,
    parse_symbols,
    strip_version,
)

# Address tokens in the texts below, rendered per target by Arch.render:
#   K+off  kernel _text + off     M+off  module area + off     A+off  the absolute value off
# all at the target's width; a "_" after the letter (K_+0) puts an underscore in the digits.
_TOKEN = re.compile(r"(?P<kind>[KMA])(?P<split>_?)\+(?P<off>[0-9a-f]+)")

PROC_KSYMS_24 = """\
K+16b40 printk_R1b7d4074
K+30f00 kmalloc_R93d4cfe6
K+30f60 kfree_R037a0cba
K+150000 Using_Versions
M+1000 exporter_value_R12345678\t[exporter]
M+1010 exporter_fn\t[exporter]
"""

KALLSYMS = """\
K+0 T _text
K+16b40 T printk
K+16c00 t static_helper
K+30f00 T kmalloc
K+100000 D jiffies
K+110000 b local_bss
M+1010 t exporter_fn\t[exporter]
M+1020 T exporter_api\t[exporter]
"""

SYSTEM_MAP = """\
K+0 T _text
K+0 T STARTUP
K+16b40 T printk
K+100000 D jiffies
K+200000 A _end
"""


class Arch:
    """Symbol-file text and addresses for one target."""

    def __init__(self, target: objects.Target) -> None:
        self.target = target

    def k(self, offset: int) -> int:
        return self.target.kernel(offset)

    def m(self, offset: int) -> int:
        return self.target.module(offset)

    def render(self, template: str) -> str:
        def address(match: re.Match[str]) -> str:
            offset = int(match["off"], 16)
            kind = match["kind"]
            value = self.k(offset) if kind == "K" else self.m(offset) if kind == "M" else offset
            digits = self.target.hex(value)
            return digits[:2] + "_" + digits[2:] if match["split"] else digits

        return _TOKEN.sub(address, template).replace("STARTUP", self.target.startup)

    def parse(self, template: str, source: str = "<symbols>") -> SymbolTable:
        return parse_symbols(self.render(template), source)


@pytest.fixture(params=objects.TARGETS, ids=lambda t: t.name)
def arch(request: pytest.FixtureRequest) -> Arch:
    return Arch(request.param)


def test_proc_ksyms_lines_without_module_are_kernel_symbols(arch: Arch) -> None:
    table = arch.parse(PROC_KSYMS_24)
    sym = table.lookup("printk_R1b7d4074")
    assert sym == KernelSymbol("printk_R1b7d4074", arch.k(0x16B40), None, True)


def test_proc_ksyms_lines_with_module_name_the_module(arch: Arch) -> None:
    table = arch.parse(PROC_KSYMS_24)
    assert table.lookup("exporter_fn") == KernelSymbol("exporter_fn", arch.m(0x1010), "exporter")
    assert table.lookup("exporter_value").module == "exporter"


def test_unversioned_reference_finds_versioned_kernel_symbol(arch: Arch) -> None:
    table = arch.parse(PROC_KSYMS_24)
    assert table.lookup("printk").value == arch.k(0x16B40)
    assert "kmalloc" in table


def test_versioned_reference_finds_unversioned_kernel_symbol(arch: Arch) -> None:
    table = arch.parse(KALLSYMS)
    assert table.lookup("printk_R1b7d4074").value == arch.k(0x16B40)


def test_smp_versioned_names_match_both_ways(arch: Arch) -> None:
    table = arch.parse("K+16b40 printk_Rsmp_1b7d4074\n")
    assert table.lookup("printk").value == arch.k(0x16B40)
    plain = arch.parse("K+16b40 printk\n")
    assert plain.lookup("printk_Rsmp_1b7d4074").value == arch.k(0x16B40)


def test_exact_name_wins_over_version_twin(arch: Arch) -> None:
    table = arch.parse("K+1 foo_R11111111\nK+2 foo\n")
    assert table.lookup("foo").value == arch.k(2)
    assert table.lookup("foo_R11111111").value == arch.k(1)


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("printk_R1b7d4074", "printk"),
        ("printk_Rsmp_1b7d4074", "printk"),
        ("printk", "printk"),
        ("printk_R1b7d407", "printk_R1b7d407"),  # 7 hex digits: not a version
        ("printk_Rxyzxyzxy", "printk_Rxyzxyzxy"),
        ("a_R1b7d4074_b", "a_R1b7d4074_b"),
    ],
)
def test_strip_version_only_strips_a_real_version_suffix(name: str, base: str) -> None:
    assert strip_version(name) == base  # names only: the same on every arch


def test_using_versions_marks_a_modversions_kernel(arch: Arch) -> None:
    assert arch.parse(PROC_KSYMS_24).using_versions
    assert not arch.parse(KALLSYMS).using_versions


def test_kallsyms_three_field_lines_with_module(arch: Arch) -> None:
    assert "\t[exporter]" in arch.render(KALLSYMS)
    table = arch.parse(KALLSYMS)
    assert table.lookup("exporter_api") == KernelSymbol("exporter_api", arch.m(0x1020), "exporter")
    assert table.lookup("jiffies") == KernelSymbol("jiffies", arch.k(0x100000), None, True)


def test_kallsyms_lowercase_types_are_local(arch: Arch) -> None:
    table = arch.parse(KALLSYMS)
    assert table.lookup("static_helper").exported is False
    assert table.lookup("local_bss").exported is False
    assert table.lookup("printk").exported is True


def test_system_map_is_read(arch: Arch) -> None:
    table = arch.parse(SYSTEM_MAP)
    assert table.lookup(arch.target.startup).value == arch.target.kernel_text
    assert table.lookup("_end").value == arch.k(0x200000)
    assert len(table) == 5


def test_exported_symbol_wins_over_local_of_same_name(arch: Arch) -> None:
    local_first = arch.parse("K+10 t dup\nK+20 T dup\n")
    assert local_first.lookup("dup").value == arch.k(0x20)
    global_first = arch.parse("K+20 T dup\nK+10 t dup\n")
    assert global_first.lookup("dup").value == arch.k(0x20)


def test_first_of_equals_wins(arch: Arch) -> None:
    table = arch.parse("K+10 T dup\nK+20 T dup\n")
    assert table.lookup("dup").value == arch.k(0x10)


def test_exported_wins_over_local_also_through_the_version_twin(arch: Arch) -> None:
    table = arch.parse("K+10 t dup_R11111111\nK+20 T dup_R22222222\n")
    assert table.lookup("dup").value == arch.k(0x20)


@pytest.mark.parametrize("kind", ["U", "w", "N", "n", "?", "-"])
def test_undefined_weak_undefined_and_debug_lines_are_skipped(arch: Arch, kind: str) -> None:
    table = arch.parse(f"K+0 T printk\nA+0 {kind} skipped_sym\n")
    assert "skipped_sym" not in table
    assert len(table) == 1


def test_weak_defined_uppercase_w_is_kept(arch: Arch) -> None:
    assert arch.parse("K+0 W weak_def\n").lookup("weak_def").value == arch.target.kernel_text


def test_blank_lines_and_comments_are_ignored(arch: Arch) -> None:
    table = arch.parse("\n# a comment\n   \nK+0 printk\n\n")
    assert [s.name for s in table] == ["printk"]


def test_addresses_are_read_at_the_full_word_width(arch: Arch) -> None:
    text = arch.render("K+0 T _text\n")
    assert len(text.split()[0]) == 2 * arch.target.word  # 8 or 16 hex digits
    assert parse_symbols(text).lookup("_text").value == arch.target.kernel_text
    top = "f" * 2 * arch.target.word
    assert parse_symbols(f"{top} T top\n").lookup("top").value == (1 << 8 * arch.target.word) - 1


def test_all_zero_addresses_are_refused_as_kptr_restrict(arch: Arch) -> None:
    text = arch.render("A+0 T printk\nA+0 t helper\nA+0 U x\n")
    with pytest.raises(SymbolError) as info:
        parse_symbols(text, "/proc/kallsyms")
    assert str(info.value).startswith("/proc/kallsyms: every address is 0")
    assert "kptr_restrict" in str(info.value)


def test_some_zero_addresses_are_fine(arch: Arch) -> None:
    table = arch.parse("A+0 A zero_abs\nK+0 T printk\n")
    assert table.lookup("zero_abs").value == 0


def test_empty_text_gives_an_empty_table() -> None:
    assert len(parse_symbols("")) == 0


@pytest.mark.parametrize(
    ("line", "lineno"),
    [
        ("not a symbol line at all", 2),
        ("K+0", 2),  # address only
        ("K+0 T printk extra", 2),
        ("K+0 TT printk", 2),  # type must be one letter
        ("zzzzzzzz printk", 2),
        ("-5 printk", 2),  # int() would take a sign
        ("0x printk", 2),  # a 0x prefix needs digits after it
        ("K_+0 printk", 2),  # ... or underscores
    ],
)
def test_garbage_line_is_refused_with_its_line_number(arch: Arch, line: str, lineno: int) -> None:
    line = arch.render(line)
    with pytest.raises(SymbolError) as info:
        arch.parse(f"K+0 T printk\n{line}\nK+4 T after\n", "syms.txt")
    text = str(info.value)
    assert text.startswith(f"syms.txt: line {lineno}: not a symbol line: ")
    assert repr(line)[:20] in text
    assert "\n" not in text


def test_addresses_with_a_0x_prefix_are_read_as_hex(arch: Arch) -> None:
    """Many symbol dumps write "0xc0100000 printk"; modutils' own files never did, but
    refusing them made users edit the file by hand."""
    table = arch.parse("0xK+0 T printk\n0XK+10 kfree\nK+20 kmalloc\n")
    assert table.lookup("printk").value == arch.k(0)
    assert table.lookup("kfree").value == arch.k(0x10)
    assert table.lookup("kmalloc").value == arch.k(0x20)


def test_garbage_line_number_counts_blank_and_comment_lines(arch: Arch) -> None:
    with pytest.raises(SymbolError, match=r"^f: line 4: not a symbol line"):
        arch.parse("# header\n\nK+0 printk\nbogus\n", "f")


def test_long_garbage_line_is_shortened_in_the_message() -> None:
    with pytest.raises(SymbolError) as info:
        parse_symbols("x" * 5000, "f")
    assert len(str(info.value)) < 120


# -- files ----------------------------------------------------------------------------------
def test_load_symbols_reads_a_file(arch: Arch, tmp_path: Path) -> None:
    path = tmp_path / "ksyms"
    path.write_text(arch.render(PROC_KSYMS_24))
    table = load_symbols(path)
    assert table.lookup("printk").value == arch.k(0x16B40)
    assert table.lookup("exporter_fn").module == "exporter"


def test_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nope"
    with pytest.raises(SymbolError) as info:
        load_symbols(path)
    assert str(info.value) == f"{path}: No such file or directory"


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SymbolError) as info:
        load_symbols(tmp_path)
    assert str(info.value) == f"{tmp_path}: Is a directory"


def test_binary_file_is_refused_as_not_text(arch: Arch, tmp_path: Path) -> None:
    path = tmp_path / "vmlinux"
    elfclass = {4: b"\x01", 8: b"\x02"}[arch.target.word]  # the arch's vmlinux, not System.map
    path.write_bytes(b"\x7fELF" + elfclass + b"\x01\x01" + bytes(range(256)))
    with pytest.raises(SymbolError) as info:
        load_symbols(path)
    assert str(info.value) == f"{path}: not a text symbol file"


def test_file_errors_name_the_file(arch: Arch, tmp_path: Path) -> None:
    path = tmp_path / "System.map"
    path.write_text(arch.render("K+0 T printk\nbroken line here now\n"))
    with pytest.raises(SymbolError) as info:
        load_symbols(path)
    assert str(info.value).startswith(f"{path}: line 2: not a symbol line")


# -- the table ------------------------------------------------------------------------------
def test_merged_table_keeps_the_first_and_adds_the_rest(arch: Arch) -> None:
    kernel = arch.parse("K+0 printk\n")
    extra = KernelSymbol("extra", arch.m(0x2000), "m")
    merged = kernel.merged([KernelSymbol("printk", arch.k(0x10)), extra])
    assert merged.lookup("printk").value == arch.target.kernel_text
    assert merged.lookup("extra") == extra
    assert "extra" not in kernel


def test_format_ksyms_round_trips_through_the_parser(arch: Arch) -> None:
    table = arch.parse(PROC_KSYMS_24)
    text = format_ksyms(table, arch.target.word)
    assert text == arch.render(PROC_KSYMS_24)  # 8 or 16 zero-padded digits, "\t[mod]"
    lines = text.splitlines()
    assert lines[0] == f"{arch.k(0x16B40):0{2 * arch.target.word}x} printk_R1b7d4074"
    assert f"{arch.m(0x1010):0{2 * arch.target.word}x} exporter_fn\t[exporter]" in lines
    assert list(parse_symbols(text)) == list(table)


def test_format_ksyms_pads_small_addresses_to_the_word(arch: Arch) -> None:
    text = format_ksyms([KernelSymbol("zero_abs", 0x1234)], arch.target.word)
    assert text == "0" * (2 * arch.target.word - 4) + "1234 zero_abs\n"


def test_symbol_table_contains_only_strings() -> None:
    table = SymbolTable([KernelSymbol("a", 1)])
    assert "a" in table
    assert 1 not in table


def test_versioned_reference_with_a_different_crc_is_not_found(arch: Arch) -> None:
    # modutils used ncv_strcmp only when kernel and module disagreed about versioning.
    table = arch.parse("K+16b40 printk_R1b7d4074\n")
    assert table.lookup("printk_R00000000") is None
    assert table.lookup("printk_Rsmp_1b7d4074") is None
    assert table.lookup("printk_R1b7d4074").value == arch.k(0x16B40)


def test_an_empty_symbol_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_text("\n")
    with pytest.raises(SymbolError, match="empty symbol file"):
        load_symbols(str(path))


def test_nm_output_of_an_object_is_refused_with_a_hint(arch: Arch) -> None:
    with pytest.raises(SymbolError, match="only undefined 'U' lines"):
        arch.parse("A+0 U printk\nA+0 U kmalloc\n", "nm.txt")
