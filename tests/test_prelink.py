"""Prelinking (ld -r MOD.o module.o -T lds/modules.lds): the objects it makes and its failures."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import SymbolTableSection

from insmod_py import toolchain
from insmod_py.arch import NAMES, by_name
from insmod_py.errors import ElfError, LoadError
from insmod_py.prelink import default_output, prelink

EXAMPLES = sorted(p.stem for p in (toolchain.REPO_ROOT / "examples").glob("*.c"))
SHF_ALLOC = 0x2

# struct module_new field -> (offset i386, offset x86_64, symbol the stub points it at)
HEADER_FIELDS = {
    "name": (8, 16, "__module_name"),
    "syms": (32, 56, "__syms_start"),
    "init": (44, 80, "init_module"),
    "cleanup": (48, 88, "cleanup_module"),
    "ex_table_start": (52, 96, "__ex_table_start"),
    "ex_table_end": (56, 104, "__ex_table_end"),
    "syms_end": (96, 184, "__syms_end"),
    "arg": (100, 192, "__module_args"),
}


def pre(built: Path, arch: str, name: str) -> Path:
    return built / arch / "examples" / f"{name}.pre.o"


def alloc_sections(elf: ELFFile) -> list:
    return [s for s in elf.iter_sections() if s["sh_flags"] & SHF_ALLOC]


def symtab(elf: ELFFile) -> dict:
    sec = elf.get_section_by_name(".symtab")
    assert isinstance(sec, SymbolTableSection)
    return {s.name: s for s in sec.iter_symbols() if s.name}


def listing(directory: Path) -> set[str]:
    return set(os.listdir(directory))


@pytest.mark.parametrize("arch", NAMES)
@pytest.mark.parametrize("name", EXAMPLES)
def test_prelinked_object_has_header_first(built: Path, arch: str, name: str) -> None:
    with open(pre(built, arch, name), "rb") as fh:
        elf = ELFFile(fh)
        assert elf["e_type"] == "ET_REL"
        alloc = alloc_sections(elf)
        assert alloc[0].name == ".module_initdata"
        sym = symtab(elf)["__module_initdata"]
        assert elf.get_section(sym["st_shndx"]).name == ".module_initdata"
        assert sym["st_value"] == 0
        assert sym["st_size"] == {"i386": 104, "x86_64": 200}[arch]  # sizeof(struct module_new)


@pytest.mark.parametrize("arch", NAMES)
@pytest.mark.parametrize("name", EXAMPLES)
def test_readelf_reports_no_warnings(built: Path, arch: str, name: str) -> None:
    proc = subprocess.run(
        ["readelf", "-aW", str(pre(built, arch, name))], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    assert proc.stderr == ""
    assert "warning" not in proc.stdout.lower()


@pytest.mark.parametrize("arch", NAMES)
def test_header_fields_are_relocated_against_the_right_symbols(built: Path, arch: str) -> None:
    i = NAMES.index(arch)
    with open(pre(built, arch, "hello"), "rb") as fh:
        elf = ELFFile(fh)
        relsec = next(
            s
            for s in elf.iter_sections()
            if isinstance(s, RelocationSection)
            and elf.get_section(s["sh_info"]).name == ".module_initdata"
        )
        syms = elf.get_section(relsec["sh_link"])
        got = {
            r["r_offset"]: syms.get_symbol(r["r_info_sym"]).name for r in relsec.iter_relocations()
        }
    assert got == {offs[i]: sym for offs in HEADER_FIELDS.values() for sym in [offs[2]]}


@pytest.mark.parametrize("arch", NAMES)
def test_missing_cleanup_module_becomes_absolute_zero(built: Path, arch: str) -> None:
    with open(pre(built, arch, "failinit"), "rb") as fh:
        syms = symtab(ELFFile(fh))
    assert syms["cleanup_module"]["st_shndx"] == "SHN_ABS"
    assert syms["cleanup_module"]["st_value"] == 0
    assert syms["init_module"]["st_shndx"] not in ("SHN_ABS", "SHN_UNDEF")


@pytest.mark.parametrize("arch", NAMES)
@pytest.mark.parametrize("name", EXAMPLES)
def test_section_kinds_after_prelink(built: Path, arch: str, name: str) -> None:
    with open(pre(built, arch, name), "rb") as fh:
        elf = ELFFile(fh)
        by_name = {s.name: s for s in elf.iter_sections()}
        # symbol tables of the header are always loaded, even when empty
        for table in ("__ksymtab", "__ex_table"):
            assert by_name[table]["sh_flags"] & SHF_ALLOC
        assert not by_name[".modinfo"]["sh_flags"] & SHF_ALLOC
        assert b"kernel_version=2.4.37.11" in by_name[".modinfo"].data()
        for dropped in (".eh_frame", ".note.GNU-stack", ".note.gnu.property"):
            assert dropped not in by_name
        assert all(s["st_shndx"] != "SHN_COMMON" for s in symtab(elf).values())


@pytest.mark.parametrize("arch", NAMES)
def test_this_module_stays_weak_undefined_for_the_loader(built: Path, arch: str) -> None:
    """module.c does not define __this_module: the loader binds it to the header at 0."""
    with open(pre(built, arch, "chardev"), "rb") as fh:
        sym = symtab(ELFFile(fh))["__this_module"]
    assert sym["st_shndx"] == "SHN_UNDEF"
    assert sym["st_info"]["bind"] == "STB_WEAK"


@pytest.mark.parametrize("arch", NAMES)
@pytest.mark.parametrize("name", EXAMPLES)
def test_ld_layout_is_zippels_layout(built: Path, arch: str, name: str) -> None:
    """ld's sh_addr in the output equal Zippel's placement: in order, each aligned."""
    with open(pre(built, arch, name), "rb") as fh:
        addr = 0
        for sec in alloc_sections(ELFFile(fh)):
            align = max(sec["sh_addralign"], 1)
            addr = (addr + align - 1) // align * align
            assert sec["sh_addr"] == addr, sec.name
            addr += sec["sh_size"]


@pytest.mark.parametrize("arch", NAMES)
def test_exporter_syms_span_its_three_exports(built: Path, arch: str) -> None:
    with open(pre(built, arch, "exporter"), "rb") as fh:
        syms = symtab(ELFFile(fh))
    span = syms["__syms_end"]["st_value"] - syms["__syms_start"]["st_value"]
    assert span == 3 * 2 * by_name(arch).word_size


@pytest.mark.parametrize("arch", NAMES)
def test_prelink_gives_the_same_bytes_as_make(built: Path, arch: str, tmp_path: Path) -> None:
    out = tmp_path / "hello.pre.o"
    prelink(str(built / arch / "examples" / "hello.o"), str(out))
    assert out.read_bytes() == pre(built, arch, "hello").read_bytes()
    assert listing(tmp_path) == {"hello.pre.o"}


@pytest.mark.parametrize("arch", NAMES)
@pytest.mark.parametrize("variant", ["common", "eh"])
def test_prelink_allocates_common_and_drops_eh_frame(
    built: Path, arch: str, variant: str, tmp_path: Path
) -> None:
    out = tmp_path / "hello.pre.o"
    prelink(str(built / arch / "examples" / f"hello.{variant}.o"), str(out))
    with open(out, "rb") as fh:
        elf = ELFFile(fh)
        assert elf.get_section_by_name(".eh_frame") is None
        hello_buf = symtab(elf)["hello_buf"]
        assert elf.get_section(hello_buf["st_shndx"]).name == ".bss"


def test_prelink_builds_the_stub_when_it_is_missing(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(toolchain, "BUILD_DIR", tmp_path / "build")
    out = tmp_path / "hello.pre.o"
    prelink(str(built / "i386" / "examples" / "hello.o"), str(out))
    assert (tmp_path / "build" / "i386" / "kernel_stub" / "module.o").is_file()
    # same flags as make: the same stub, so the same prelinked bytes
    assert out.read_bytes() == pre(built, "i386", "hello").read_bytes()


def test_missing_compiler_for_the_stub_is_a_load_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(toolchain, "BUILD_DIR", tmp_path)
    with pytest.raises(LoadError, match="no-such-gcc not found: install gcc"):
        toolchain.stub_object("x86_64", cc="no-such-gcc")
    assert not (tmp_path / "x86_64" / "kernel_stub" / "module.o").exists()


def test_default_output_name() -> None:
    assert default_output("dir/hello.o") == "dir/hello.pre.o"
    assert default_output("hello.ko") == "hello.ko.pre.o"


# ---- failures: one LoadError line, and nothing left in the output directory ----


def patched_copy(src: Path, dst: Path, offset: int, value: bytes) -> Path:
    data = bytearray(src.read_bytes())
    data[offset : offset + len(value)] = value
    dst.write_bytes(bytes(data))
    return dst


def fake_ld(tmp_path: Path, script: str) -> str:
    path = tmp_path / "fake-ld"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return str(path)


def expect_failure(
    src: str, out_dir: Path, match: str, *, ld: str = "ld", exc: type = LoadError
) -> None:
    before = listing(out_dir)
    with pytest.raises(exc, match=match) as info:
        prelink(src, str(out_dir / "out.pre.o"), ld=ld)
    assert "\n" not in str(info.value)
    assert info.value.file == src
    assert listing(out_dir) == before


def test_missing_input(tmp_path: Path) -> None:
    expect_failure(str(tmp_path / "nope.o"), tmp_path, "cannot read: No such file")


def test_non_elf_input(tmp_path: Path) -> None:
    src = tmp_path / "text.o"
    src.write_text("this is not an object\n")
    expect_failure(str(src), tmp_path, "not an ELF file", exc=ElfError)


def test_wrong_machine(built: Path, tmp_path: Path) -> None:
    arm = patched_copy(built / "i386/examples/hello.o", tmp_path / "arm.o", 18, b"\x28\x00")
    expect_failure(str(arm), tmp_path, "unsupported machine 40", exc=ElfError)


def test_not_relocatable(built: Path, tmp_path: Path) -> None:
    exe = patched_copy(built / "x86_64/examples/hello.o", tmp_path / "exe.o", 16, b"\x02\x00")
    expect_failure(str(exe), tmp_path, r"not a relocatable object \(ELF type 2\)", exc=ElfError)


def test_missing_ld(built: Path, tmp_path: Path) -> None:
    src = str(built / "i386/examples/hello.o")
    expect_failure(
        src,
        tmp_path,
        r"ld not found: install binutils \(apt-get install binutils\)",
        ld=str(tmp_path / "no-ld"),
    )


def test_ld_error_is_its_first_error_line(built: Path, tmp_path: Path) -> None:
    ld = fake_ld(
        tmp_path,
        'echo "$0: warning: noise" >&2; echo "$0: boom: bad input" >&2\n'
        'echo "$0: second error" >&2; exit 1\n',
    )
    src = str(built / "i386/examples/hello.o")
    expect_failure(src, tmp_path, r"^.*hello\.o: ld failed: boom: bad input$", ld=ld)


def test_prelinking_twice_is_refused(built: Path, tmp_path: Path) -> None:
    src = str(built / "x86_64/examples/hello.pre.o")
    expect_failure(src, tmp_path, "already prelinked")


def test_ld_output_that_is_not_et_rel_is_rejected(built: Path, tmp_path: Path) -> None:
    exe = patched_copy(built / "i386/examples/hello.o", tmp_path / "exe.bin", 16, b"\x02\x00")
    # a "linker" that writes an ET_EXEC file to its -o argument
    ld = fake_ld(tmp_path, f'while [ "$1" != -o ]; do shift; done; cp {exe} "$2"\n')
    expect_failure(
        str(built / "i386/examples/hello.o"), tmp_path, "ld produced a bad object", ld=ld
    )


def test_failure_keeps_an_existing_output(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.pre.o"
    out.write_bytes(b"old")
    with pytest.raises(LoadError):
        prelink(str(built / "x86_64/examples/hello.pre.o"), str(out))
    assert out.read_bytes() == b"old"
    assert listing(tmp_path) == {"out.pre.o"}
