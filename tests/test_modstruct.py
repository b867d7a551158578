"""modstruct's layouts equal what gcc makes of kernel_stub/include/linux/module.h.

A generated C file puts every offsetof/sizeof (and the MOD_*/QM_* values) into
one ``unsigned long long`` array; it is compiled with ``gcc -c`` only (no libc
needed for -m32) and the array is read back from the object's .data section.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from insmod_py import modstruct as ms

ROOT = Path(__file__).resolve().parent.parent
INCLUDE = ROOT / "kernel_stub" / "include"
GCC_FLAGS = {
    4: ["-m32"],
    8: ["-m64", "-mcmodel=kernel", "-fno-pic"],
}
CONSTANTS = [
    "MOD_UNINITIALIZED",
    "MOD_RUNNING",
    "MOD_DELETED",
    "MOD_AUTOCLEAN",
    "MOD_VISITED",
    "MOD_USED_ONCE",
    "MOD_JUST_FREED",
    "MOD_INITIALIZING",
    "QM_MODULES",
    "QM_DEPS",
    "QM_REFS",
    "QM_SYMBOLS",
    "QM_INFO",
]


def _c_member(struct: str, field: str) -> str:
    """The C spelling of a field: module's usecount sits in the union uc."""
    if field == "usecount" and struct in ("module", "module_new"):
        return "uc"
    return field


def _c_path(struct: str, field: str) -> str:
    member = _c_member(struct, field)
    if struct == "module_new" and field not in ("syms_end", "arg"):
        member = f"old_module.{member}"
    if member.endswith("uc"):
        member += ".usecount"
    return member


def _expressions() -> list[tuple[str, str]]:
    """(key, C expression) rows in a fixed order."""
    rows = []
    for struct, fields in ms.STRUCTS.items():
        rows.append((f"sizeof {struct}", f"sizeof(struct {struct})"))
        for field, _ in fields:
            path = _c_path(struct, field)
            size_path = path.removesuffix(".usecount")
            rows.append((f"offsetof {struct}.{field}", f"offsetof(struct {struct}, {path})"))
            rows.append(
                (f"sizeof {struct}.{field}", f"sizeof(((struct {struct} *)0)->{size_path})")
            )
    rows.extend((name, name) for name in CONSTANTS)
    return rows


def _gcc_values(word_size: int, tmp_path: Path) -> dict[str, int]:
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    if not (INCLUDE / "linux" / "module.h").exists():
        pytest.skip("kernel_stub/include/linux/module.h not written yet")
    rows = _expressions()
    src = tmp_path / f"layout{word_size}.c"
    body = ",\n".join(f"  (unsigned long long)({expr})" for _, expr in rows)
    src.write_text(
        "#include <linux/stddef.h>\n#include <linux/module.h>\n#include <asm/uaccess.h>\n"
        f"unsigned long long layout_values[] = {{\n{body}\n}};\n"
    )
    obj = tmp_path / f"layout{word_size}.o"
    cmd = [
        "gcc",
        *GCC_FLAGS[word_size],
        "-nostdinc",
        f"-I{INCLUDE}",
        "-D__KERNEL__",
        "-DMODULE",
        "-O0",
        "-c",
        str(src),
        "-o",
        str(obj),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        if "unrecognized" in proc.stderr or "not supported" in proc.stderr:
            pytest.skip(f"gcc cannot build {GCC_FLAGS[word_size]}: {proc.stderr.strip()[:200]}")
        pytest.fail(f"gcc failed:\n{proc.stderr}")
    elf = ELFFile(io.BytesIO(obj.read_bytes()))
    data = elf.get_section_by_name(".data").data()
    assert len(data) == 8 * len(rows)
    return {
        key: int.from_bytes(data[8 * i : 8 * i + 8], "little") for i, (key, _) in enumerate(rows)
    }


@pytest.fixture(scope="module", params=[4, 8], ids=["i386", "x86_64"])
def gcc(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    ws = request.param
    return ws, _gcc_values(ws, tmp_path_factory.mktemp(f"gcc{ws}"))


@pytest.mark.parametrize("struct", list(ms.STRUCTS))
def test_sizeof_matches_gcc(gcc, struct: str) -> None:
    ws, values = gcc
    assert ms.sizeof(ws, struct) == values[f"sizeof {struct}"]


@pytest.mark.parametrize("struct", list(ms.STRUCTS))
def test_every_field_offset_and_size_match_gcc(gcc, struct: str) -> None:
    ws, values = gcc
    for f in ms.layout(ws, struct).fields:
        assert f.offset == values[f"offsetof {struct}.{f.name}"], f.name
        assert f.size == values[f"sizeof {struct}.{f.name}"], f.name


def test_constants_match_header(gcc) -> None:
    _, values = gcc
    for name in CONSTANTS:
        assert getattr(ms, name) == values[name], name


@pytest.mark.parametrize(("ws", "module", "module_new"), [(4, 96, 104), (8, 184, 200)])
def test_documented_sizes(ws: int, module: int, module_new: int) -> None:
    assert ms.sizeof_module(ws) == module
    assert ms.sizeof_module_new(ws) == module_new
    assert ms.offsetof(ws, "persist_start") == (60 if ws == 4 else 112)


@pytest.mark.parametrize("ws", [4, 8])
@pytest.mark.parametrize("struct", list(ms.STRUCTS))
def test_construct_struct_has_c_size(ws: int, struct: str) -> None:
    assert ms.struct_for(ws, struct).sizeof() == ms.sizeof(ws, struct)
    assert len(ms.build(ws, struct)) == ms.sizeof(ws, struct)


@pytest.mark.parametrize("ws", [4, 8])
def test_build_parse_round_trip_puts_fields_at_their_offsets(ws: int) -> None:
    values = {f.name: (i + 1) * 3 for i, f in enumerate(ms.layout(ws, "module_new").fields)}
    values["usecount"] = -2
    values["runsize"] = -7
    raw = ms.build_module_new(ws, values)
    assert ms.parse_module_new(ws, raw) == values
    off = ms.offsetof(ws, "syms_end", "module_new")
    assert ms.unpack_word(ws, raw, off) == values["syms_end"]
    assert int.from_bytes(raw[ms.offsetof(ws, "usecount") :][:4], "little", signed=True) == -2


def test_kernel_sym_name_is_truncated_to_59_bytes_and_nul() -> None:
    raw = ms.build(4, "kernel_sym", value=1, name="x" * 80)
    assert len(raw) == 64 and raw[4 + 59] == 0
    assert ms.parse(4, "kernel_sym", raw)["name"] == b"x" * 59


def test_unknown_member_is_an_error() -> None:
    with pytest.raises(KeyError):
        ms.build_module(4, bogus=1)
    with pytest.raises(ValueError):
        ms.sizeof(5)


def test_import_does_not_load_construct() -> None:
    code = (
        "import sys, insmod_py.modstruct as m; m.offsetof(4, 'init');"
        " print('construct' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("word_size", [4, 8])
@pytest.mark.parametrize("struct", sorted(ms.STRUCTS))
def test_fast_packer_and_construct_definition_give_the_same_bytes(
    word_size: int, struct: str
) -> None:
    """The loader packs and the simulated kernel unpacks with struct.Struct; the construct
    definition is the reference."""
    import random

    rng = random.Random(f"{word_size}{struct}")
    for _ in range(20):
        values = {}
        for name, kind in ms.STRUCTS[struct]:
            bits = 32 if kind in ("int", "uint", "atomic") or word_size == 4 else 64
            if kind == "char60":
                values[name] = bytes(rng.randrange(1, 256) for _ in range(rng.randrange(60)))
            elif kind in ("long", "int", "atomic"):
                values[name] = rng.randrange(-(1 << (bits - 1)), 1 << (bits - 1))
            else:
                values[name] = rng.randrange(1 << bits)
        fast = ms.build(word_size, struct, values)
        reference = ms.build_with_construct(
            word_size,
            struct,
            {k: ms._char60(v) if isinstance(v, bytes) else v for k, v in values.items()},
        )
        assert fast == reference
        assert ms.build_array(word_size, struct, [values, values]) == reference * 2
        assert ms.parse(word_size, struct, fast) == ms.parse_with_construct(word_size, struct, fast)
