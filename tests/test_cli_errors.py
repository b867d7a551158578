"""The CLI on bad input: one ``pyinsmod: FILE: reason`` line on stderr, exit status 1,
no traceback, and no output file left behind; and what a good dry run writes.

Most cases run the installed ``pyinsmod`` script in a real subprocess, as a user would.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import objects

from insmod_py.cli import cli
from insmod_py.elf import constants as C

GOOD_KSYMS = "c0100000 printk\nc0100100 kfree\n"
GOOD_KSYMS_64 = "ffffffff81000000 T printk\n"
BASE = hex(objects.I386.module_base)
BASE_64 = hex(objects.X86_64.module_base)


def pyinsmod_command() -> list[str]:
    script = Path(sys.executable).with_name("pyinsmod")
    if script.exists():
        return [str(script)]
    found = shutil.which("pyinsmod")
    if found:
        return [found]
    return [sys.executable, "-c", "from insmod_py.cli import main; main()"]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYINSMOD_STATE": str(cwd / "state")}
    return subprocess.run(
        [*pyinsmod_command(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def good_i386(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    # it reads __module_args (Zippel's interface), so arguments without MODULE_PARM go there
    reads_args = "extern char __module_args[];\nchar *args_seen = __module_args;\n"
    source = objects.SIMPLE_MODULE + objects.KERNEL_VERSION + reads_args
    return objects.compile_c(tmp_path_factory.mktemp("cli"), source).read_bytes()


@pytest.fixture(scope="module")
def small_x86_64(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    tmp = tmp_path_factory.mktemp("cli64")
    source = "int gvar = 1;\nint *addr(void) { return &gvar; }\n" + objects.KERNEL_VERSION
    return objects.compile_c(tmp, source, flags=objects.X86_64_SMALL_CFLAGS).read_bytes()


# -- the bad inputs -------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """A bad input: how to damage the object or the symbol file, and the expected reason."""

    id: str
    reason: str  # a substring of the message, after "pyinsmod: FILE: "
    mutate: Callable[[bytes], bytes] | None = None  # applied to the good i386 object
    ksyms: str | bytes | None = None  # symbol file contents; the message names that file
    arch64: bool = False  # start from the x86_64 small-model object instead


def _sec(name: str, field: str, value: int) -> Callable[[bytes], bytes]:
    return lambda d: objects.patch_shdr(d, objects.section_index(d, name), field, value)


def _ehdr(field: str, value: int) -> Callable[[bytes], bytes]:
    return lambda d: objects.patch_ehdr(d, field, value)


def _sym(name: str, field: str, value: int) -> Callable[[bytes], bytes]:
    return lambda d: objects.patch_sym(d, objects.symbol_index(d, name), field, value)


def _rel_type(rtype: int) -> Callable[[bytes], bytes]:
    def mutate(d: bytes) -> bytes:
        sym = objects.rel_sym(d, objects.rel(d, ".rel.text", 0, "r_info"))
        return objects.patch_rel(d, ".rel.text", 0, "r_info", objects.rel_info(d, sym, rtype))

    return mutate


def _unterminated_strtab(d: bytes) -> bytes:
    i = objects.section_index(d, ".strtab")
    end = objects.shdr(d, i, "sh_offset") + objects.shdr(d, i, "sh_size") - 1
    return d[:end] + b"X" + d[end + 1 :]


def _cut_in_text(d: bytes) -> bytes:
    moved = objects.table_first(d)
    i = objects.section_index(moved, ".text")
    return moved[: objects.shdr(moved, i, "sh_offset") + 3]


def _class64(d: bytes) -> bytes:
    return d[:4] + b"\x02" + d[5:]


def _nonzero_rela_target(d: bytes) -> bytes:
    text = objects.section_index(d, ".text")
    where = objects.shdr(d, text, "sh_offset") + objects.rel(d, ".rela.text", 0, "r_offset")
    return d[:where] + b"\x01" + d[where + 1 :]


CASES = [
    Case("empty-file", "not an ELF object (bad magic)", lambda d: b""),
    Case("bad-magic", "not an ELF object (bad magic)", lambda d: b"\x7fELX" + d[4:]),
    Case("class-mismatch", "i386 object with the wrong ELF class", _class64),
    Case("big-endian", "not a little-endian object", lambda d: d[:5] + b"\x02" + d[6:]),
    Case("et-exec", "not a relocatable object (e_type 2)", _ehdr("e_type", 2)),
    Case("et-dyn", "not a relocatable object (e_type 3)", _ehdr("e_type", 3)),
    Case("em-arm", "unsupported machine EM_ARM (40)", _ehdr("e_machine", 40)),
    Case("truncated-header", "truncated ELF header", lambda d: d[:30]),
    Case("truncated-section-table", "section header table", lambda d: d[:-50]),
    Case("truncated-section-data", "past end of file", _cut_in_text),
    Case("shoff-past-eof", "section header table past end of file", _ehdr("e_shoff", 0x7FFFFF)),
    Case("section-past-eof", "past end of file", _sec(".data", "sh_size", 0x100000)),
    Case(
        "symtab-link", "symbol string table index 99 out of range", _sec(".symtab", "sh_link", 99)
    ),
    Case("st-name", "past end of its string table", _sym("counter", "st_name", 0x100000)),
    Case("st-shndx", "has section index 999 out of range", _sym("counter", "st_shndx", 999)),
    Case(
        "rel-symbol",
        "relocation 0 of .rel.text names symbol 4096",
        lambda d: objects.patch_rel(d, ".rel.text", 0, "r_info", objects.rel_info(d, 4096, 1)),
    ),
    Case(
        "rel-entsize",
        "relocation section .rel.text has entry size 12",
        _sec(".rel.text", "sh_entsize", 12),
    ),
    Case("addralign", "has alignment 24, not a power of two", _sec(".data", "sh_addralign", 24)),
    Case("unterminated-strtab", "is not NUL-terminated", _unterminated_strtab),
    Case("unresolved", "unresolved symbol printk", None, ksyms="c0100100 kfree\n"),
    Case(
        "unsupported-reloc",
        "unsupported relocation R_386_GOT32 in .rel.text at offset",
        _rel_type(3),
    ),
    Case(
        "reloc-offset",
        "is outside .text",
        lambda d: objects.patch_rel(d, ".rel.text", 0, "r_offset", 0x10000),
    ),
    Case("huge-nobits", "module too large: .bss", _sec(".bss", "sh_size", 0xFFFFFFFF)),
    Case(
        "x86_64-overflow", "relocation overflow: R_X86_64_32 against gvar in .text+0x1", arch64=True
    ),
    Case(
        "x86_64-nonzero-target",
        "invalid relocation target: .text+0x1",
        _nonzero_rela_target,
        arch64=True,
    ),
    Case("ksyms-kptr-restrict", "every address is 0", ksyms="00000000 T printk\n00000000 t x\n"),
    Case("ksyms-garbage", "line 2: not a symbol line", ksyms="c0100000 printk\nthis is garbage\n"),
    Case("ksyms-binary", "not a text symbol file", ksyms=b"\x7fELF\x01\x01\xff\xfe\x00"),
]


def _prepare(case: Case, tmp_path: Path, good_i386: bytes, small_x86_64: bytes) -> Path:
    """Write mod.o and ksyms.txt; return the file the message must name."""
    data = small_x86_64 if case.arch64 else good_i386
    module = tmp_path / "mod.o"
    module.write_bytes(case.mutate(data) if case.mutate else data)
    ksyms = tmp_path / "ksyms.txt"
    contents = (
        case.ksyms if case.ksyms is not None else (GOOD_KSYMS_64 if case.arch64 else GOOD_KSYMS)
    )
    if isinstance(contents, bytes):
        ksyms.write_bytes(contents)
    else:
        ksyms.write_text(contents)
    named = ksyms if case.ksyms is not None and case.id.startswith("ksyms") else module
    return named


def assert_one_error_line(proc: subprocess.CompletedProcess[str], file: str, reason: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"pyinsmod: {file}: "), lines[0]
    assert reason in lines[0], lines[0]
    assert proc.stdout == ""


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gives_one_line_exit_1_and_no_output_files(
    case: Case, tmp_path: Path, good_i386: bytes, small_x86_64: bytes
) -> None:
    named = _prepare(case, tmp_path, good_i386, small_x86_64)
    out = tmp_path / "out"
    out.mkdir()
    base = BASE_64 if case.arch64 else BASE
    args = ["load", "-n", "--ksyms", "ksyms.txt", "--base", base, "-O", "out/img", "--map-file"]
    proc = run([*args, "out/map.json", "-m", "mod.o"], tmp_path)
    assert_one_error_line(proc, named.name, case.reason)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("case", CASES[:3] + CASES[-3:], ids=[c.id for c in CASES[:3] + CASES[-3:]])
def test_bad_input_with_missing_output_directory_leaves_nothing(
    case: Case, tmp_path: Path, good_i386: bytes, small_x86_64: bytes
) -> None:
    named = _prepare(case, tmp_path, good_i386, small_x86_64)
    args = ["load", "-n", "--ksyms", "ksyms.txt", "-O", "nodir/img", "--map-file", "nodir/m.json"]
    proc = run([*args, "mod.o"], tmp_path)
    assert_one_error_line(proc, named.name, case.reason)
    assert not (tmp_path / "nodir").exists()


def test_missing_module_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "ksyms.txt").write_text(GOOD_KSYMS)
    proc = run(["load", "-n", "--ksyms", "ksyms.txt", "-O", "img", "nothere.o"], tmp_path)
    assert_one_error_line(proc, "nothere.o", "No such file or directory")
    assert not (tmp_path / "img").exists()


def test_missing_ksyms_file_is_named(tmp_path: Path, good_i386: bytes) -> None:
    (tmp_path / "mod.o").write_bytes(good_i386)
    proc = run(["load", "-n", "--ksyms", "nothere.map", "-O", "img", "mod.o"], tmp_path)
    assert_one_error_line(proc, "nothere.map", "No such file or directory")
    assert not (tmp_path / "img").exists()


def test_ksyms_directory_is_named(tmp_path: Path, good_i386: bytes) -> None:
    (tmp_path / "mod.o").write_bytes(good_i386)
    (tmp_path / "syms").mkdir()
    proc = run(["load", "-n", "--ksyms", "syms", "mod.o"], tmp_path)
    assert_one_error_line(proc, "syms", "Is a directory")


def test_module_directory_is_one_line_exit_1(tmp_path: Path) -> None:
    (tmp_path / "ksyms.txt").write_text(GOOD_KSYMS)
    (tmp_path / "dir.o").mkdir()
    proc = run(["load", "-n", "--ksyms", "ksyms.txt", "dir.o"], tmp_path)
    assert_one_error_line(proc, "dir.o", "Is a directory")


def test_unwritable_output_directory_is_one_line_naming_the_output(
    tmp_path: Path, good_i386: bytes
) -> None:
    (tmp_path / "mod.o").write_bytes(good_i386)
    (tmp_path / "ksyms.txt").write_text(GOOD_KSYMS)
    proc = run(["load", "-n", "--ksyms", "ksyms.txt", "-O", "nodir/img", "mod.o"], tmp_path)
    assert_one_error_line(proc, "nodir/img", "cannot write: No such file or directory")
    assert not (tmp_path / "nodir").exists()


def test_failed_map_write_leaves_no_image_behind(tmp_path: Path, good_i386: bytes) -> None:
    (tmp_path / "mod.o").write_bytes(good_i386)
    (tmp_path / "ksyms.txt").write_text(GOOD_KSYMS)
    args = ["load", "-n", "--ksyms", "ksyms.txt", "-O", "img", "--map-file", "nodir/m.json"]
    proc = run([*args, "mod.o"], tmp_path)
    assert_one_error_line(proc, "nodir/m.json", "cannot write")
    assert not (tmp_path / "img").exists()


def test_base_beyond_the_address_width_is_one_line_exit_1(tmp_path: Path, good_i386: bytes) -> None:
    (tmp_path / "mod.o").write_bytes(good_i386)
    (tmp_path / "ksyms.txt").write_text(GOOD_KSYMS)
    proc = run(["load", "-n", "--ksyms", "ksyms.txt", "--base", "0x100000000", "mod.o"], tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1


def test_existing_output_is_kept_when_the_load_fails(tmp_path: Path, good_i386: bytes) -> None:
    (tmp_path / "mod.o").write_bytes(good_i386[:100])
    (tmp_path / "ksyms.txt").write_text(GOOD_KSYMS)
    (tmp_path / "img").write_bytes(b"old image")
    proc = run(["load", "-n", "--ksyms", "ksyms.txt", "-O", "img", "mod.o"], tmp_path)
    assert proc.returncode == 1
    assert (tmp_path / "img").read_bytes() == b"old image"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".pyinsmod")] == []


# -- a good dry run -------------------------------------------------------------------------
def test_good_dry_run_writes_image_and_json_map(tmp_path: Path, good_i386: bytes) -> None:
    (tmp_path / "mod.o").write_bytes(good_i386)
    (tmp_path / "ksyms.txt").write_text(GOOD_KSYMS)
    args = ["load", "-n", "--ksyms", "ksyms.txt", "--base", BASE, "-O", "mod.img"]
    proc = run([*args, "--map-file", "mod.json", "mod.o", "a=1"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    image = (tmp_path / "mod.img").read_bytes()
    doc = json.loads((tmp_path / "mod.json").read_text())
    assert {"base", "size", "sections", "symbols"} <= set(doc)
    assert doc["base"] == int(BASE, 16)
    assert doc["size"] == len(image)
    assert doc["sections"], doc
    for entry in doc["sections"]:
        assert set(entry) == {"index", "name", "addr", "size"}
        assert (
            doc["base"]
            <= entry["addr"]
            <= entry["addr"] + entry["size"]
            <= doc["base"] + doc["size"]
        )
    names = [s["name"] for s in doc["sections"]]
    assert ".text" in names and ".data" in names and ".bss" in names
    symbols = doc["symbols"]
    assert symbols["printk"] == 0xC0100000
    text = next(s for s in doc["sections"] if s["name"] == ".text")
    assert text["addr"] <= symbols["init_module"] < text["addr"] + text["size"]
    # The counter's initial value is in the image at its map address.
    assert struct.unpack_from("<i", image, symbols["counter"] - doc["base"])[0] == 3
    assert image.endswith(b"mod\0a=1\0")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".pyinsmod")] == []


def test_map_sections_match_the_object(tmp_path: Path, good_i386: bytes) -> None:
    from insmod_py.elf import ElfObject
    from insmod_py.layout import loaded_sections

    (tmp_path / "mod.o").write_bytes(good_i386)
    (tmp_path / "ksyms.txt").write_text(GOOD_KSYMS)
    proc = run(["load", "-n", "--ksyms", "ksyms.txt", "--map-file", "m.json", "mod.o"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "m.json").read_text())
    obj = ElfObject(good_i386)
    loaded = loaded_sections(obj)  # SHF_ALLOC less .modinfo, which modutils never loaded
    alloc = {(s.index, s.name, s.size) for s in loaded}
    assert ".modinfo" in {s.name for s in obj.sections if s.flags & C.SHF_ALLOC} - {
        s.name for s in loaded
    }
    assert {(s["index"], s["name"], s["size"]) for s in doc["sections"]} == alloc
    assert doc["base"] == 0x12340000  # modutils' dry-run default


def test_map_option_prints_a_table(tmp_path: Path, good_i386: bytes) -> None:
    (tmp_path / "mod.o").write_bytes(good_i386)
    (tmp_path / "ksyms.txt").write_text(GOOD_KSYMS)
    proc = run(["load", "-n", "--ksyms", "ksyms.txt", "--base", BASE, "-m", "mod.o"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Sections:")
    assert "Symbols:" in lines
    assert any(line.startswith(".text ") for line in lines)
    assert "c0100000 printk" in lines
    assert any(line.endswith(" init_module") and line.startswith("c88") for line in lines)


def test_map_section_column_never_runs_into_the_size(tmp_path: Path, good_i386: bytes) -> None:
    """A piece name longer than the column ("__ksymtab (all globals)") is followed by a
    space, so every section row still splits into name, size, address, alignment."""
    (tmp_path / "mod.o").write_bytes(good_i386)
    (tmp_path / "ksyms.txt").write_text(GOOD_KSYMS)
    proc = run(["load", "-n", "--ksyms", "ksyms.txt", "--base", BASE, "-m", "mod.o"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = proc.stdout.split("\n\nSymbols:")[0].splitlines()[1:]
    assert any(row.startswith("__ksymtab (all globals) ") for row in rows)
    for row in rows:
        size, addr, align = row.rsplit(None, 3)[1:]
        assert len(size) == 8 and int(size, 16) >= 0, row
        assert int(addr, 16) >= int(BASE, 16) and align.startswith("2**"), row


def test_same_input_gives_the_same_image(tmp_path: Path, good_i386: bytes) -> None:
    (tmp_path / "mod.o").write_bytes(good_i386)
    (tmp_path / "ksyms.txt").write_text(GOOD_KSYMS)
    for out in ("a.img", "b.img"):
        proc = run(["load", "-n", "--ksyms", "ksyms.txt", "-O", out, "mod.o"], tmp_path)
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "a.img").read_bytes() == (tmp_path / "b.img").read_bytes()


def test_help_exits_0(tmp_path: Path) -> None:
    for args in (["--help"], ["load", "--help"]):
        proc = run(args, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "Usage:" in proc.stdout
    assert "--dry-run" in run(["load", "--help"], tmp_path).stdout


# -- in-process, via click's runner ---------------------------------------------------------
def test_cli_runner_dry_run_prints_the_map(tmp_path: Path, good_i386: bytes) -> None:
    module = tmp_path / "mod.o"
    module.write_bytes(good_i386)
    ksyms = tmp_path / "ksyms.txt"
    ksyms.write_text(GOOD_KSYMS)
    result = CliRunner().invoke(
        cli, ["load", "-n", "--ksyms", str(ksyms), "--base", BASE, "-m", str(module)]
    )
    assert result.exit_code == 0, result.output
    assert "Sections:" in result.output and "init_module" in result.output


def test_cli_runner_help_exits_0() -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["--help"]).exit_code == 0
    result = runner.invoke(cli, ["load", "--help"])
    assert result.exit_code == 0
    assert "--ksyms" in result.output and "--map-file" in result.output


def test_main_turns_a_load_error_into_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from insmod_py.cli import main

    module = tmp_path / "bad.o"
    module.write_bytes(b"garbage")
    with pytest.raises(SystemExit) as info:
        main(["load", "-n", str(module)])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err == f"pyinsmod: {module}: not an ELF object (bad magic)\n"
