"""``pyinsmod modinfo`` as modutils' modinfo printed it, through a real subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import objects
from support.clirun import Pyinsmod

from insmod_py.elf import read_object
from insmod_py.modinfo import (
    compiled_for,
    describe_parameter,
    format_query,
    parse_modinfo,
    read_modinfo,
)


@pytest.fixture
def tool(built: Path, tmp_path: Path) -> Pyinsmod:
    return Pyinsmod(tmp_path / "state", built / "i386" / "examples")


def test_default_output_has_filename_description_author_license_and_parameters(
    tool: Pyinsmod,
) -> None:
    path = tool.obj("params.o")
    lines = tool.run("modinfo", path).stdout.splitlines()
    assert lines[:4] == [
        f"filename:    {path}",
        'description: "One parameter of each MODULE_PARM type"',
        'author:      "insmod_py"',
        "license:     GPL",
    ]
    assert sorted(lines[4:]) == [
        'parm:        a int array (min = 1, max = 4), description "one to four ints"',
        'parm:        b byte, description "a byte"',
        'parm:        c char, description "a char array of 16 bytes"',
        'parm:        h short, description "a short"',
        'parm:        i int, description "an int"',
        'parm:        s string, description "a string"',
    ]


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("-a", '"insmod_py"'),
        ("--author", '"insmod_py"'),
        ("-d", '"One parameter of each MODULE_PARM type"'),
        ("-l", "GPL"),
        ("--license", "GPL"),
    ],
)
def test_single_field_flags(tool: Pyinsmod, flag: str, expected: str) -> None:
    assert tool.run("modinfo", flag, tool.obj("params.o")).stdout == expected + "\n"


def test_filename_flag_prints_the_path(tool: Pyinsmod) -> None:
    path = tool.obj("hello.o")
    assert tool.run("modinfo", "-n", path).stdout == path + "\n"


def test_parameters_flag_prints_only_parm_lines(tool: Pyinsmod) -> None:
    out = tool.run("modinfo", "-p", tool.obj("chardev.o")).stdout
    assert out == (
        'parm:        hold int, description "1: keep a use count from init, '
        'so the module cannot be removed"\n'
    )


def test_module_without_parameters_prints_no_parm_lines(tool: Pyinsmod) -> None:
    assert tool.run("modinfo", "-p", tool.obj("hello.o")).stdout == ""


def test_field_flag_prints_raw_values_of_any_key(tool: Pyinsmod) -> None:
    assert tool.run("modinfo", "-F", "kernel_version", tool.obj("hello.o")).stdout == "2.4.37.11\n"
    assert tool.run("modinfo", "-F", "parm_a", tool.obj("params.o")).stdout == "1-4i\n"
    assert tool.run("modinfo", "-F", "nosuchkey", tool.obj("hello.o")).stdout == ""


def test_format_string_like_modutils(tool: Pyinsmod) -> None:
    path = tool.obj("hello.o")
    out = tool.run("modinfo", "-f", r"%n|%l|%{kernel_version}|%{nokey}|%%\n", path).stdout
    assert out == f"{path}|GPL|2.4.37.11|<none>|%\n"


def test_bad_format_is_one_error_line(tool: Pyinsmod) -> None:
    line = tool.fails("modinfo", "-f", "%q", tool.obj("hello.o"))
    assert "unknown replacement" in line


def test_missing_file_exits_1_naming_it(tool: Pyinsmod) -> None:
    assert tool.fails("modinfo", "nothere.o") == "pyinsmod: nothere.o: No such file or directory"


def test_one_missing_file_among_several_still_shows_the_others(tool: Pyinsmod) -> None:
    proc = tool.run("modinfo", "-l", tool.obj("hello.o"), "nothere.o", rc=1)
    assert proc.stdout == "GPL\n"
    assert proc.stderr == "pyinsmod: nothere.o: No such file or directory\n"


def test_not_an_object_exits_1(tool: Pyinsmod, tmp_path: Path) -> None:
    junk = tmp_path / "junk.o"
    junk.write_bytes(b"not elf")
    assert "not an ELF object" in tool.fails("modinfo", str(junk))


def test_missing_fields_show_none(tool: Pyinsmod, tmp_path: Path) -> None:
    data = Path(tool.obj("hello.o")).read_bytes()
    bare = tmp_path / "bare.o"
    # rename the keys so .modinfo no longer has author or license
    bare.write_bytes(data.replace(b"author=", b"xuthor=").replace(b"license=", b"xicense="))
    out = tool.run("modinfo", str(bare)).stdout.splitlines()
    assert out[2:4] == ["author:      <none>", "license:     <none>"]


def test_help_has_an_example(tool: Pyinsmod) -> None:
    out = tool.run("modinfo", "--help").stdout
    assert "Examples:" in out and "pyinsmod modinfo -p params.o" in out


# -- the formatting, in-process -------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "desc", "expected"),
    [
        ("i", None, "x int"),
        ("b", "a byte", 'x byte, description "a byte"'),
        ("1-4l", None, "x long array (min = 1, max = 4)"),
        ("3s", None, "x string array (min = 3, max = 3)"),
        ("c16", None, "x char"),
        ("c", None, "x char *** missing string size ***"),
        ("2-3c8", None, "x char array (min = 2, max = 3)"),
        ("q", None, "x unknown format character 'q'"),
        ("", None, "x no format character!"),
        ("ip", None, "x int unknown format modifier 'p'"),
        ("h", "two\nlines", 'x short, description "two\n  lines"'),
    ],
)
def test_describe_parameter_matches_modutils(spec: str, desc: str | None, expected: str) -> None:
    assert describe_parameter("x", spec, desc) == expected


def test_format_query_quotes_multi_line_fields_and_takes_escapes() -> None:
    info = parse_modinfo(b"author=A\nB\0license=GPL\0")
    assert format_query(info, r"%a\t%l\n", "f.o") == '"A\n  B"\tGPL\n'


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # a 2.4 module: .modinfo's kernel_version; "2.4.37.11" counts as 2.4.37
        (objects.KERNEL_VERSION.replace("2.4.20", "2.4.37.11"), ("2.4.37.11", 0x020425)),
        # a 2.0-style module: no .modinfo, a kernel_version string in .data
        ('char kernel_version[] = "2.0.36";\n', ("2.0.36", 0x020024)),
        # a 2.6+ module (not modutils): vermagic's first word
        (
            'static const char v[] __attribute__((section(".modinfo"), used)) =\n'
            '    "vermagic=6.1.0-50-686 SMP mod_unload";\n',
            ("6.1.0-50-686", 0x060100),
        ),
        ("int nothing;\n", None),
        # .modinfo's string is not "a.b.c": modutils' get_module_version gave -1
        (objects.KERNEL_VERSION.replace("2.4.20", "2.4-pre"), None),
    ],
)
def test_compiled_for_reads_the_version_as_modutils_did(
    tmp_path: Path, source: str, expected: tuple[str, int] | None
) -> None:
    obj = read_object(str(objects.compile_c(tmp_path, source)))
    info = read_modinfo(obj)
    assert compiled_for(obj, info) == expected
