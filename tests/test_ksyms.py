"""Kernel symbol sources: /proc/ksyms (2.4), /proc/kallsyms, System.map, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from insmod_py.errors import SymbolError
from insmod_py.ksyms import (
    KernelSymbol,
    SymbolTable,
    format_ksyms,
    load_symbols,
    parse_symbols,
    strip_version,
)

PROC_KSYMS_24 = """\
c0116b40 printk_R1b7d4074
c0130f00 kmalloc_R93d4cfe6
c0130f60 kfree_R037a0cba
c0250000 Using_Versions
c8801000 exporter_value_R12345678\t[exporter]
c8801010 exporter_fn\t[exporter]
"""

KALLSYMS = """\
c0100000 T _text
c0116b40 T printk
c0116c00 t static_helper
c0130f00 T kmalloc
c0200000 D jiffies
c0210000 b local_bss
c8801010 t exporter_fn\t[exporter]
c8801020 T exporter_api\t[exporter]
"""

SYSTEM_MAP = """\
c0100000 T _text
c0100000 T startup_32
c0116b40 T printk
c0200000 D jiffies
c0300000 A _end
"""


def test_proc_ksyms_lines_without_module_are_kernel_symbols() -> None:
    table = parse_symbols(PROC_KSYMS_24)
    sym = table.lookup("printk_R1b7d4074")
    assert sym == KernelSymbol("printk_R1b7d4074", 0xC0116B40, None, True)


def test_proc_ksyms_lines_with_module_name_the_module() -> None:
    table = parse_symbols(PROC_KSYMS_24)
    assert table.lookup("exporter_fn") == KernelSymbol("exporter_fn", 0xC8801010, "exporter")
    assert table.lookup("exporter_value").module == "exporter"


def test_unversioned_reference_finds_versioned_kernel_symbol() -> None:
    table = parse_symbols(PROC_KSYMS_24)
    assert table.lookup("printk").value == 0xC0116B40
    assert "kmalloc" in table


def test_versioned_reference_finds_unversioned_kernel_symbol() -> None:
    table = parse_symbols(KALLSYMS)
    assert table.lookup("printk_R1b7d4074").value == 0xC0116B40


def test_smp_versioned_names_match_both_ways() -> None:
    table = parse_symbols("c0116b40 printk_Rsmp_1b7d4074\n")
    assert table.lookup("printk").value == 0xC0116B40
    assert parse_symbols("c0116b40 printk\n").lookup("printk_Rsmp_1b7d4074").value == 0xC0116B40


def test_exact_name_wins_over_version_twin() -> None:
    table = parse_symbols("c0000001 foo_R11111111\nc0000002 foo\n")
    assert table.lookup("foo").value == 0xC0000002
    assert table.lookup("foo_R11111111").value == 0xC0000001


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
    assert strip_version(name) == base


def test_using_versions_marks_a_modversions_kernel() -> None:
    assert parse_symbols(PROC_KSYMS_24).using_versions
    assert not parse_symbols(KALLSYMS).using_versions


def test_kallsyms_three_field_lines_with_module() -> None:
    table = parse_symbols(KALLSYMS)
    assert table.lookup("exporter_api") == KernelSymbol("exporter_api", 0xC8801020, "exporter")
    assert table.lookup("jiffies") == KernelSymbol("jiffies", 0xC0200000, None, True)


def test_kallsyms_lowercase_types_are_local() -> None:
    table = parse_symbols(KALLSYMS)
    assert table.lookup("static_helper").exported is False
    assert table.lookup("local_bss").exported is False
    assert table.lookup("printk").exported is True


def test_system_map_is_read() -> None:
    table = parse_symbols(SYSTEM_MAP)
    assert table.lookup("startup_32").value == 0xC0100000
    assert table.lookup("_end").value == 0xC0300000
    assert len(table) == 5


def test_exported_symbol_wins_over_local_of_same_name() -> None:
    local_first = parse_symbols("c0000010 t dup\nc0000020 T dup\n")
    assert local_first.lookup("dup").value == 0xC0000020
    global_first = parse_symbols("c0000020 T dup\nc0000010 t dup\n")
    assert global_first.lookup("dup").value == 0xC0000020


def test_first_of_equals_wins() -> None:
    table = parse_symbols("c0000010 T dup\nc0000020 T dup\n")
    assert table.lookup("dup").value == 0xC0000010


def test_exported_wins_over_local_also_through_the_version_twin() -> None:
    table = parse_symbols("c0000010 t dup_R11111111\nc0000020 T dup_R22222222\n")
    assert table.lookup("dup").value == 0xC0000020


@pytest.mark.parametrize("kind", ["U", "w", "N", "n", "?", "-"])
def test_undefined_weak_undefined_and_debug_lines_are_skipped(kind: str) -> None:
    table = parse_symbols(f"c0100000 T printk\n00000000 {kind} skipped_sym\n")
    assert "skipped_sym" not in table
    assert len(table) == 1


def test_weak_defined_uppercase_w_is_kept() -> None:
    assert parse_symbols("c0100000 W weak_def\n").lookup("weak_def").value == 0xC0100000


def test_blank_lines_and_comments_are_ignored() -> None:
    table = parse_symbols("\n# a comment\n   \nc0100000 printk\n\n")
    assert [s.name for s in table] == ["printk"]


def test_64_bit_addresses_are_read() -> None:
    sym = parse_symbols("ffffffff81000000 T _text\n").lookup("_text")
    assert sym.value == 0xFFFFFFFF81000000


def test_all_zero_addresses_are_refused_as_kptr_restrict() -> None:
    text = "0000000000000000 T printk\n0000000000000000 t helper\n0000000000000000 U x\n"
    with pytest.raises(SymbolError) as info:
        parse_symbols(text, "/proc/kallsyms")
    assert str(info.value).startswith("/proc/kallsyms: every address is 0")
    assert "kptr_restrict" in str(info.value)


def test_some_zero_addresses_are_fine() -> None:
    table = parse_symbols("00000000 A zero_abs\nc0100000 T printk\n")
    assert table.lookup("zero_abs").value == 0


def test_empty_text_gives_an_empty_table() -> None:
    assert len(parse_symbols("")) == 0


@pytest.mark.parametrize(
    ("line", "lineno"),
    [
        ("not a symbol line at all", 2),
        ("c0100000", 2),  # address only
        ("c0100000 T printk extra", 2),
        ("c0100000 TT printk", 2),  # type must be one letter
        ("zzzzzzzz printk", 2),
        ("-5 printk", 2),  # int() would take a sign
        ("0xc0100000 printk", 2),  # ... or a 0x prefix
        ("c0_100000 printk", 2),  # ... or underscores
    ],
)
def test_garbage_line_is_refused_with_its_line_number(line: str, lineno: int) -> None:
    with pytest.raises(SymbolError) as info:
        parse_symbols(f"c0100000 T printk\n{line}\nc0100004 T after\n", "syms.txt")
    text = str(info.value)
    assert text.startswith(f"syms.txt: line {lineno}: not a symbol line: ")
    assert repr(line)[:20] in text
    assert "\n" not in text


def test_garbage_line_number_counts_blank_and_comment_lines() -> None:
    with pytest.raises(SymbolError, match=r"^f: line 4: not a symbol line"):
        parse_symbols("# header\n\nc0100000 printk\nbogus\n", "f")


def test_long_garbage_line_is_shortened_in_the_message() -> None:
    with pytest.raises(SymbolError) as info:
        parse_symbols("x" * 5000, "f")
    assert len(str(info.value)) < 120


# -- files ----------------------------------------------------------------------------------
def test_load_symbols_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "ksyms"
    path.write_text(PROC_KSYMS_24)
    table = load_symbols(path)
    assert table.lookup("printk").value == 0xC0116B40


def test_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nope"
    with pytest.raises(SymbolError) as info:
        load_symbols(path)
    assert str(info.value) == f"{path}: No such file or directory"


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SymbolError) as info:
        load_symbols(tmp_path)
    assert str(info.value) == f"{tmp_path}: Is a directory"


def test_binary_file_is_refused_as_not_text(tmp_path: Path) -> None:
    path = tmp_path / "vmlinux"
    path.write_bytes(b"\x7fELF\x01\x01\x01" + bytes(range(256)))
    with pytest.raises(SymbolError) as info:
        load_symbols(path)
    assert str(info.value) == f"{path}: not a text symbol file"


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "System.map"
    path.write_text("c0100000 T printk\nbroken line here now\n")
    with pytest.raises(SymbolError) as info:
        load_symbols(path)
    assert str(info.value).startswith(f"{path}: line 2: not a symbol line")


# -- the table ------------------------------------------------------------------------------
def test_merged_table_keeps_the_first_and_adds_the_rest() -> None:
    kernel = parse_symbols("c0100000 printk\n")
    merged = kernel.merged([KernelSymbol("printk", 1), KernelSymbol("extra", 2, "m")])
    assert merged.lookup("printk").value == 0xC0100000
    assert merged.lookup("extra") == KernelSymbol("extra", 2, "m")
    assert "extra" not in kernel


def test_format_ksyms_round_trips_through_the_parser() -> None:
    table = parse_symbols(PROC_KSYMS_24)
    text = format_ksyms(table)
    assert text.splitlines()[0] == "c0116b40 printk_R1b7d4074"
    assert "c8801010 exporter_fn\t[exporter]" in text.splitlines()
    assert list(parse_symbols(text)) == list(table)


def test_symbol_table_contains_only_strings() -> None:
    table = SymbolTable([KernelSymbol("a", 1)])
    assert "a" in table
    assert 1 not in table


def test_versioned_reference_with_a_different_crc_is_not_found() -> None:
    # modutils used ncv_strcmp only when kernel and module disagreed about versioning.
    table = parse_symbols("c0116b40 printk_R1b7d4074\n")
    assert table.lookup("printk_R00000000") is None
    assert table.lookup("printk_Rsmp_1b7d4074") is None
    assert table.lookup("printk_R1b7d4074").value == 0xC0116B40


def test_an_empty_symbol_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_text("\n")
    with pytest.raises(SymbolError, match="empty symbol file"):
        load_symbols(str(path))


def test_nm_output_of_an_object_is_refused_with_a_hint() -> None:
    with pytest.raises(SymbolError, match="only undefined 'U' lines"):
        parse_symbols("00000000 U printk\n00000000 U kmalloc\n", "nm.txt")
