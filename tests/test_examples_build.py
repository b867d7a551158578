"""The example modules and the kernel_stub build: what gcc must (and must not) put in them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_E_MACHINE
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import SymbolTableSection

from insmod_py import toolchain
from insmod_py.arch import NAMES, by_name

EXAMPLES = sorted(p.stem for p in (toolchain.REPO_ROOT / "examples").glob("*.c"))


def obj(built: Path, arch: str, name: str, variant: str = "") -> Path:
    return built / arch / "examples" / (f"{name}.{variant}.o" if variant else f"{name}.o")


def symbols(elf: ELFFile) -> dict[str, object]:
    symtab = elf.get_section_by_name(".symtab")
    assert isinstance(symtab, SymbolTableSection)
    return {s.name: s for s in symtab.iter_symbols() if s.name}


def reloc_types(elf: ELFFile) -> set[str]:
    from elftools.elf.descriptions import describe_reloc_type

    return {
        describe_reloc_type(r["r_info_type"], elf)
        for sec in elf.iter_sections()
        if isinstance(sec, RelocationSection)
        for r in sec.iter_relocations()
    }


def modinfo(elf: ELFFile) -> list[str]:
    return elf.get_section_by_name(".modinfo").data().decode().split("\0")[:-1]


def test_examples_include_the_required_modules() -> None:
    required = {"hello", "params", "exporter", "user", "failinit", "nullderef", "loop", "chardev"}
    assert required <= set(EXAMPLES)


@pytest.mark.parametrize("arch", NAMES)
def test_every_object_is_built_as_et_rel_for_its_machine(built: Path, arch: str) -> None:
    paths = [built / arch / "kernel_stub" / "module.o"]
    paths += [obj(built, arch, n, v) for n in EXAMPLES for v in by_name(arch).variants]
    paths += [obj(built, arch, n, "pre") for n in EXAMPLES]
    for path in paths:
        with open(path, "rb") as fh:
            elf = ELFFile(fh)
            assert elf["e_type"] == "ET_REL", path
            assert ENUM_E_MACHINE[elf["e_machine"]] == by_name(arch).e_machine, path


def test_make_and_python_use_the_same_gcc_flags(built: Path) -> None:
    out = subprocess.run(
        ["make", "-s", "--no-print-directory", "modules-flags"],
        cwd=toolchain.REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    seen = {}
    for line in out.splitlines():
        key, flags = line.split(": ", 1)
        arch, variant = key.split()
        seen[(arch, "" if variant == "-" else variant)] = flags.split()
    expected = {
        (arch, v): toolchain.cflags(arch, v, include_dir=Path("kernel_stub/include"))
        for arch in NAMES
        for v in by_name(arch).variants
    }
    assert seen == expected


# 2.4's include/linux/module.h: offsets of struct module (i386, x86_64) and the sizes around it.
MODULE_OFFSETS = {
    "size_of_struct": (0, 0),
    "next": (4, 8),
    "name": (8, 16),
    "size": (12, 24),
    "uc": (16, 32),
    "flags": (20, 40),
    "nsyms": (24, 48),
    "ndeps": (28, 52),
    "syms": (32, 56),
    "deps": (36, 64),
    "refs": (40, 72),
    "init": (44, 80),
    "cleanup": (48, 88),
    "ex_table_start": (52, 96),
    "ex_table_end": (56, 104),
    "persist_start": (60, 112),
    "persist_end": (64, 120),
    "can_unload": (68, 128),
    "runsize": (72, 136),
    "kallsyms_start": (76, 144),
    "kallsyms_end": (80, 152),
    "archdata_start": (84, 160),
    "archdata_end": (88, 168),
    "kernel_data": (92, 176),
}
SIZES = {
    "struct module": (96, 184),
    "struct module_new": (104, 200),
    "struct module_symbol": (8, 16),
    "struct module_ref": (12, 24),
    "struct module_info": (16, 32),
    "struct exception_table_entry": (8, 16),
    "struct kernel_sym": (64, 72),
}


@pytest.mark.parametrize("arch", NAMES)
def test_module_h_lays_out_structs_as_linux_2_4(arch: str, tmp_path: Path) -> None:
    i = NAMES.index(arch)
    # struct exception_table_entry lives in asm/uaccess.h, as in 2.4
    lines = ["#include <linux/module.h>", "#include <asm/uaccess.h>", "#include <linux/stddef.h>"]
    for field, offs in MODULE_OFFSETS.items():
        lines.append(f'_Static_assert(offsetof(struct module, {field}) == {offs[i]}, "{field}");')
    for typ, sizes in SIZES.items():
        lines.append(f'_Static_assert(sizeof({typ}) == {sizes[i]}, "{typ}");')
    lines.append(
        '_Static_assert(offsetof(struct module_new, syms_end) == sizeof(struct module), "");'
    )
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(
        ["gcc", *toolchain.cflags(arch), "-fsyntax-only", str(src)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


ALLOWED_RELOCS = {
    ("i386", ""): {"R_386_32", "R_386_PC32"},
    ("x86_64", ""): {"R_X86_64_64", "R_X86_64_32S", "R_X86_64_PC32", "R_X86_64_PLT32"},
}


@pytest.mark.parametrize("arch", NAMES)
@pytest.mark.parametrize("name", EXAMPLES)
def test_objects_are_2_4_like(built: Path, arch: str, name: str) -> None:
    """Absolute code, no unwind tables or CET notes, only the relocations 2.4 knew."""
    for variant in by_name(arch).variants:
        with open(obj(built, arch, name, variant), "rb") as fh:
            elf = ELFFile(fh)
            names = {s.name for s in elf.iter_sections()}
            assert ".note.gnu.property" not in names
            assert (".eh_frame" in names) == (variant == "eh")
            assert not any("got" in n or "plt" in n for n in names)
            types = reloc_types(elf)
            allowed = set(ALLOWED_RELOCS[(arch, "")])
            if variant == "small":
                allowed |= {"R_X86_64_32"}
            assert types <= allowed, (variant, types - allowed)


def test_small_model_objects_use_zero_extended_32_bit_relocations(built: Path) -> None:
    with open(obj(built, "x86_64", "hello", "small"), "rb") as fh:
        assert "R_X86_64_32" in reloc_types(ELFFile(fh))


@pytest.mark.parametrize("arch", NAMES)
def test_fcommon_variant_has_common_symbols_and_default_has_none(built: Path, arch: str) -> None:
    with open(obj(built, arch, "hello", "common"), "rb") as fh:
        sym = symbols(ELFFile(fh))["hello_buf"]
        assert sym["st_shndx"] == "SHN_COMMON"
        assert sym["st_size"] == 32
    for name in EXAMPLES:
        with open(obj(built, arch, name), "rb") as fh:
            assert all(s["st_shndx"] != "SHN_COMMON" for s in symbols(ELFFile(fh)).values())


@pytest.mark.parametrize("arch", NAMES)
@pytest.mark.parametrize("name", EXAMPLES)
def test_modinfo_has_version_license_author_description(built: Path, arch: str, name: str) -> None:
    with open(obj(built, arch, name), "rb") as fh:
        strings = modinfo(ELFFile(fh))
    assert "" not in strings  # dense: no alignment padding between the strings
    assert "kernel_version=2.4.37.11" in strings
    assert "license=GPL" in strings
    assert "author=insmod_py" in strings
    assert any(s.startswith("description=") for s in strings)
    assert strings.count("kernel_version=2.4.37.11") == 1


@pytest.mark.parametrize("arch", NAMES)
def test_params_has_one_parameter_of_each_type(built: Path, arch: str) -> None:
    with open(obj(built, arch, "params"), "rb") as fh:
        elf = ELFFile(fh)
        strings = modinfo(elf)
        syms = symbols(elf)
    types = {"i": "i", "h": "h", "b": "b", "s": "s", "a": "1-4i", "c": "c16"}
    sizes = {"i": 4, "h": 2, "b": 1, "s": by_name(arch).word_size, "a": 16, "c": 16}
    for var, typ in types.items():
        assert f"parm_{var}={typ}" in strings
        assert any(s.startswith(f"parm_desc_{var}=") for s in strings)
        # the variable must survive -O2 as a real object insmod can patch
        sym = syms[var]
        assert sym["st_info"]["type"] == "STT_OBJECT"
        assert sym["st_size"] == sizes[var]
        assert sym["st_shndx"] not in ("SHN_UNDEF", "SHN_ABS", "SHN_COMMON")


# What each example needs from the kernel (or from exporter): the simulated kernel's contract.
UNDEFINED = {
    "hello": {"printk"},
    "params": {"printk"},
    "exporter": {"printk"},
    "user": {"printk", "exporter_add", "exporter_value"},
    "failinit": {"printk"},
    "nullderef": {"printk"},
    "loop": {"printk"},
    "tables": {"printk"},
    "chardev": {
        "printk",
        "kmalloc",
        "kfree",
        "register_chrdev",
        "unregister_chrdev",
        "memcpy",
        "jiffies",
        "__this_module",
    },
}


# String functions an x86_64 2.4 kernel exports and an i386 one inlines (asm-i386/string.h).
UNDEFINED_OUT_OF_LINE: dict[str, dict[str, set[str]]] = {
    "i386": {},
    "x86_64": {"chardev": {"strlen", "strcpy"}},
}


@pytest.mark.parametrize("arch", NAMES)
@pytest.mark.parametrize("name", sorted(UNDEFINED))
def test_undefined_symbols_are_the_kernel_api_used(built: Path, arch: str, name: str) -> None:
    with open(obj(built, arch, name), "rb") as fh:
        syms = symbols(ELFFile(fh))
    undefined = {n for n, s in syms.items() if s["st_shndx"] == "SHN_UNDEF"}
    assert undefined == UNDEFINED[name] | UNDEFINED_OUT_OF_LINE[arch].get(name, set())
    if "__this_module" in undefined:
        assert syms["__this_module"]["st_info"]["bind"] == "STB_WEAK"


@pytest.mark.parametrize("arch", NAMES)
def test_exporter_exports_through_ksymtab_and_kstrtab(built: Path, arch: str) -> None:
    with open(obj(built, arch, "exporter"), "rb") as fh:
        elf = ELFFile(fh)
        ksymtab = elf.get_section_by_name("__ksymtab")
        kstrtab = elf.get_section_by_name(".kstrtab").data().split(b"\0")[:-1]
    assert ksymtab.data_size == 3 * 2 * by_name(arch).word_size
    assert sorted(kstrtab) == [b"GPLONLY_exporter_gpl_twice", b"exporter_add", b"exporter_value"]


@pytest.mark.parametrize("arch", NAMES)
def test_tables_has_two_exception_table_entries(built: Path, arch: str) -> None:
    with open(obj(built, arch, "tables"), "rb") as fh:
        elf = ELFFile(fh)
        assert elf.get_section_by_name("__ex_table").data_size == 2 * 2 * by_name(arch).word_size
        assert elf.get_section_by_name(".fixup") is not None


@pytest.mark.parametrize("arch", NAMES)
def test_hello_weak_symbol_and_static_functions(built: Path, arch: str) -> None:
    with open(obj(built, arch, "hello"), "rb") as fh:
        syms = symbols(ELFFile(fh))
    assert syms["hello_weak"]["st_info"]["bind"] == "STB_WEAK"
    assert syms["hello_weak"]["st_shndx"] != "SHN_UNDEF"
    for static in ("twice", "square"):
        assert syms[static]["st_info"]["bind"] == "STB_LOCAL"
