"""The ET_REL reader: good objects read like pyelftools reads them; bad ones fail with
an ElfError naming the file and the specific reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from support import objects

from insmod_py.arch import I386, X86_64
from insmod_py.elf import ElfObject, read_object
from insmod_py.elf import constants as C
from insmod_py.errors import ElfError, LoadError

PATH = "bad.o"


@pytest.fixture(scope="module")
def i386_obj(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return objects.compile_c(tmp_path_factory.mktemp("i386"), objects.SIMPLE_MODULE).read_bytes()


@pytest.fixture(scope="module")
def x86_64_obj(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    tmp = tmp_path_factory.mktemp("x86_64")
    return objects.compile_c(
        tmp, objects.SIMPLE_MODULE, flags=objects.X86_64_KERNEL_CFLAGS
    ).read_bytes()


def refused(data: bytes, *, symbols: bool = False, relocs: bool = False) -> str:
    """Parse ``data`` (and its symbols / relocations); return the ElfError's text."""
    with pytest.raises(ElfError) as info:
        obj = ElfObject(data, PATH)
        if symbols or relocs:
            obj.symbols  # noqa: B018 - validation happens on first access
        if relocs:
            for sec in obj.relocation_sections():
                obj.relocations(sec)
    text = str(info.value)
    assert text.startswith(f"{PATH}: "), text
    assert "\n" not in text
    return text


# -- good objects, cross-checked against pyelftools ----------------------------------------
@pytest.mark.parametrize("fixture", ["i386_obj", "x86_64_obj"])
def test_sections_and_symbols_match_pyelftools(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    data = request.getfixturevalue(fixture)
    path = tmp_path / "m.o"
    path.write_bytes(data)
    obj = read_object(str(path))
    with open(path, "rb") as fh:
        ref = ELFFile(fh)
        ref_sections = [
            (s.name, s["sh_type"], s["sh_flags"], s["sh_offset"], s["sh_size"], s["sh_link"],
             s["sh_info"], max(s["sh_addralign"], 1), s["sh_entsize"])
            for s in ref.iter_sections()
        ]  # fmt: skip
        symtab = ref.get_section_by_name(".symtab")
        ref_symbols = [
            (s.name, s["st_value"], s["st_size"], s["st_shndx"]) for s in symtab.iter_symbols()
        ]
        ref_relocs = {
            s.name: [
                (r["r_offset"], r["r_info_sym"], r["r_info_type"]) for r in s.iter_relocations()
            ]
            for s in ref.iter_sections()
            if s["sh_type"] in ("SHT_REL", "SHT_RELA")
        }
    TYPES = {"SHT_NULL": 0, "SHT_PROGBITS": 1, "SHT_SYMTAB": 2, "SHT_STRTAB": 3, "SHT_RELA": 4,
             "SHT_NOBITS": 8, "SHT_REL": 9, "SHT_GROUP": 17}  # fmt: skip
    ours = [
        (s.name, s.type, s.flags, s.offset, s.size, s.link, s.info, s.addralign, s.entsize)
        for s in obj.sections
    ]
    assert [(*r[:1], TYPES.get(r[1], r[1]), *r[2:]) for r in ref_sections] == ours

    shndx = {"SHN_UNDEF": 0, "SHN_ABS": C.SHN_ABS, "SHN_COMMON": C.SHN_COMMON}
    assert [(n, v, z, shndx.get(x, x)) for n, v, z, x in ref_symbols] == [
        (s.name, s.value, s.size, s.shndx) for s in obj.symbols
    ]
    assert {"init_module", "cleanup_module", "counter", "printk"} <= {s.name for s in obj.symbols}

    ours_relocs = {}
    for sec in obj.relocation_sections():
        table = obj.relocations(sec)
        ours_relocs[sec.name] = list(zip(table.offsets, table.symbols, table.types, strict=True))
        assert table.target.index == sec.info
    assert ours_relocs == ref_relocs
    assert ours_relocs  # the module calls printk: there are relocations to compare


def test_i386_object_is_read_as_32_bit_i386(i386_obj: bytes) -> None:
    obj = ElfObject(i386_obj, "m.o")
    assert (obj.machine, obj.machine_name, obj.word_size) == (I386.e_machine, "i386", 4)
    assert {s.type for s in obj.relocation_sections()} == {C.SHT_REL}


def test_x86_64_object_is_read_as_64_bit_with_rela(x86_64_obj: bytes) -> None:
    obj = ElfObject(x86_64_obj, "m.o")
    assert (obj.machine, obj.machine_name, obj.word_size) == (X86_64.e_machine, "x86_64", 8)
    text_rela = obj.relocations(obj.section_by_name(".rela.text"))
    assert text_rela.is_rela and text_rela.target.name == ".text"


def test_trailing_bytes_after_section_table_are_accepted(i386_obj: bytes) -> None:
    # A signed .ko carries its signature after everything else.
    signed = i386_obj + b"\x00" * 7 + b"~Module signature appended~\n"
    obj = ElfObject(signed, "signed.o")
    assert [s.name for s in obj.sections] == [s.name for s in ElfObject(i386_obj).sections]
    assert len(obj.symbols) == len(ElfObject(i386_obj).symbols)


def test_section_contents_are_the_file_bytes_and_nobits_is_empty(i386_obj: bytes) -> None:
    obj = ElfObject(i386_obj)
    data = obj.section_by_name(".data")
    assert obj.contents(data) == objects.section_bytes(i386_obj, ".data")
    assert obj.contents(obj.section_by_name(".bss")) == b""


def test_elf_error_is_a_load_error_carrying_the_file() -> None:
    with pytest.raises(LoadError) as info:
        ElfObject(b"", "x.o")
    assert info.value.file == "x.o"


# -- header ---------------------------------------------------------------------------------
def test_empty_file_is_not_an_elf_object() -> None:
    assert "not an ELF object (bad magic)" in refused(b"")


def test_bad_magic_is_refused(i386_obj: bytes) -> None:
    assert "bad magic" in refused(b"\x7fELG" + i386_obj[4:])


def test_text_file_is_refused_as_bad_magic() -> None:
    assert "bad magic" in refused(b"int main(void) { return 0; }\n" * 4)


def test_unknown_elf_class_is_refused(i386_obj: bytes) -> None:
    assert "unsupported ELF class 3" in refused(i386_obj[:4] + b"\x03" + i386_obj[5:])


def test_i386_machine_with_64_bit_class_is_refused(i386_obj: bytes) -> None:
    # ELFCLASS64 header with I386.e_machine: the class and the machine disagree.
    data = objects.patch_ehdr(i386_obj, "e_machine", X86_64.e_machine)
    data = data[:4] + b"\x02" + data[5:]
    data = objects.patch_ehdr(
        data, "e_machine", I386.e_machine
    )  # now at the 64-bit offset (same: 18)
    assert "i386 object with the wrong ELF class" in refused(data)


def test_x86_64_machine_with_32_bit_class_is_refused(i386_obj: bytes) -> None:
    text = refused(objects.patch_ehdr(i386_obj, "e_machine", X86_64.e_machine))
    assert "x86_64 object with the wrong ELF class" in text


@pytest.mark.parametrize(
    ("fixture", "section", "wrong", "message"),
    [
        ("i386_obj", ".rel.text", C.SHT_RELA, "is SHT_RELA; i386 objects use SHT_REL"),
        ("x86_64_obj", ".rela.text", C.SHT_REL, "is SHT_REL; x86_64 objects use SHT_RELA"),
    ],
)
def test_relocation_section_of_the_other_kind_is_refused(
    fixture: str, section: str, wrong: int, message: str, request: pytest.FixtureRequest
) -> None:
    """i386 relocates with SHT_REL (addend in the word), x86_64 with SHT_RELA (addend
    in the entry); the relocation tables assume one kind, so the other is refused."""
    data = request.getfixturevalue(fixture)
    bad = objects.patch_shdr(data, objects.section_index(data, section), "sh_type", wrong)
    assert f"relocation section {section} {message}" in refused(bad)
    ElfObject(data, PATH)  # the unpatched object reads


def test_big_endian_object_is_refused(i386_obj: bytes) -> None:
    assert "not a little-endian object" in refused(i386_obj[:5] + b"\x02" + i386_obj[6:])


@pytest.mark.parametrize(("e_type", "name"), [(2, "ET_EXEC"), (3, "ET_DYN"), (4, "ET_CORE")])
def test_non_relocatable_object_is_refused(i386_obj: bytes, e_type: int, name: str) -> None:
    text = refused(objects.patch_ehdr(i386_obj, "e_type", e_type))
    assert "not a relocatable object" in text and f"e_type {e_type}" in text
    assert "ET_REL" in text


def test_arm_object_is_refused_naming_the_machine(i386_obj: bytes) -> None:
    text = refused(objects.patch_ehdr(i386_obj, "e_machine", 40))
    assert "unsupported machine" in text
    assert "ARM" in text and "40" in text


def test_unknown_machine_number_is_refused_with_its_number(i386_obj: bytes) -> None:
    assert "unsupported machine 9999" in refused(objects.patch_ehdr(i386_obj, "e_machine", 9999))


def test_bad_elf_version_is_refused(i386_obj: bytes) -> None:
    assert "unsupported ELF version 7" in refused(objects.patch_ehdr(i386_obj, "e_version", 7))


def test_missing_section_table_is_refused(i386_obj: bytes) -> None:
    assert "no section header table" in refused(objects.patch_ehdr(i386_obj, "e_shoff", 0))


def test_wrong_section_header_size_is_refused(i386_obj: bytes) -> None:
    assert "bad section header size 32" in refused(objects.patch_ehdr(i386_obj, "e_shentsize", 32))


def test_section_table_offset_past_eof_is_refused(i386_obj: bytes) -> None:
    text = refused(objects.patch_ehdr(i386_obj, "e_shoff", len(i386_obj) + 0x100))
    assert "section header table" in text and "past end of file" in text


def test_section_table_offset_near_2_to_32_is_refused(i386_obj: bytes) -> None:
    text = refused(objects.patch_ehdr(i386_obj, "e_shoff", 0xFFFFFFF0))
    assert "past end of file" in text


def test_too_many_sections_for_the_file_is_refused(i386_obj: bytes) -> None:
    text = refused(objects.patch_ehdr(i386_obj, "e_shnum", 0xFFF0))
    assert "section header table (65520 entries) past end of file" in text


@pytest.mark.parametrize("value", [0, 0xFFFE])
def test_bad_section_name_table_index_is_refused(i386_obj: bytes, value: int) -> None:
    assert f"bad section name table index {value}" in refused(
        objects.patch_ehdr(i386_obj, "e_shstrndx", value)
    )


def test_section_name_table_that_is_not_a_string_table_is_refused(i386_obj: bytes) -> None:
    data = objects.patch_ehdr(i386_obj, "e_shstrndx", objects.section_index(i386_obj, ".text"))
    assert "section name table is not a string table" in refused(data)


# -- truncation -----------------------------------------------------------------------------
def test_truncated_in_identification_is_refused(i386_obj: bytes) -> None:
    assert "bad magic" in refused(i386_obj[:10])


def test_truncated_inside_elf_header_is_refused(i386_obj: bytes) -> None:
    assert "truncated ELF header" in refused(i386_obj[:40])


def test_truncated_inside_section_table_is_refused(i386_obj: bytes) -> None:
    shoff = objects.ehdr(i386_obj, "e_shoff")
    for cut in (shoff + 10, shoff + 40 * 3 + 1, len(i386_obj) - 1):
        text = refused(i386_obj[:cut])
        assert "section header table" in text and "past end of file" in text


def test_truncated_before_section_table_is_refused(i386_obj: bytes) -> None:
    assert "past end of file" in refused(i386_obj[: objects.ehdr(i386_obj, "e_shoff") - 1])


def test_table_first_copy_reads_the_same(i386_obj: bytes) -> None:
    moved = ElfObject(objects.table_first(i386_obj))
    orig = ElfObject(i386_obj)
    assert [(s.name, s.size) for s in moved.sections] == [(s.name, s.size) for s in orig.sections]
    assert [moved.contents(s) for s in moved.sections] == [orig.contents(s) for s in orig.sections]
    assert moved.symbols == orig.symbols


def test_truncated_inside_a_sections_data_is_refused(i386_obj: bytes) -> None:
    data = objects.table_first(i386_obj)
    index = objects.section_index(data, ".text")
    off, size = objects.shdr(data, index, "sh_offset"), objects.shdr(data, index, "sh_size")
    text = refused(data[: off + size // 2])
    assert f"section {index} (offset {off:#x}, size {size:#x}) past end of file" in text


def test_every_truncation_point_gives_an_elf_error(i386_obj: bytes) -> None:
    for data in (i386_obj, objects.table_first(i386_obj)):
        obj = ElfObject(data)
        shoff = objects.ehdr(data, "e_shoff")
        end = max(
            [shoff + len(obj.sections) * 40]
            + [s.offset + s.size for s in obj.sections if not s.nobits]
        )
        for cut in range(end):  # past `end` there is only padding
            refused(data[:cut], relocs=True)


def test_section_whose_offset_plus_size_passes_eof_is_refused(i386_obj: bytes) -> None:
    index = objects.section_index(i386_obj, ".data")
    data = objects.patch_shdr(i386_obj, index, "sh_size", len(i386_obj))
    text = refused(data)
    assert f"section {index} (offset" in text and "past end of file" in text


def test_section_offset_past_eof_is_refused(i386_obj: bytes) -> None:
    index = objects.section_index(i386_obj, ".text")
    data = objects.patch_shdr(i386_obj, index, "sh_offset", 0xFFFFFFF0)
    text = refused(data)
    assert f"section {index} (offset 0xfffffff0" in text and "past end of file" in text


def test_size_that_wraps_around_is_refused(i386_obj: bytes) -> None:
    index = objects.section_index(i386_obj, ".text")
    data = objects.patch_shdr(i386_obj, index, "sh_size", 0xFFFFFFFF)
    assert "past end of file" in refused(data)


def test_nobits_section_larger_than_the_file_is_accepted(i386_obj: bytes) -> None:
    index = objects.section_index(i386_obj, ".bss")
    obj = ElfObject(objects.patch_shdr(i386_obj, index, "sh_size", 1 << 20))
    assert obj.sections[index].size == 1 << 20


# -- section fields -------------------------------------------------------------------------
@pytest.mark.parametrize("align", [3, 6, 12, 0x30])
def test_non_power_of_two_alignment_is_refused(i386_obj: bytes, align: int) -> None:
    index = objects.section_index(i386_obj, ".data")
    text = refused(objects.patch_shdr(i386_obj, index, "sh_addralign", align))
    assert f"section {index} has alignment {align}, not a power of two" in text


def test_alignment_zero_reads_as_one(i386_obj: bytes) -> None:
    index = objects.section_index(i386_obj, ".data")
    obj = ElfObject(objects.patch_shdr(i386_obj, index, "sh_addralign", 0))
    assert obj.sections[index].addralign == 1


def test_section_name_past_its_string_table_is_refused(i386_obj: bytes) -> None:
    index = objects.section_index(i386_obj, ".data")
    text = refused(objects.patch_shdr(i386_obj, index, "sh_name", 0x10000))
    assert "section name offset 0x10000 past end of its string table" in text


def test_unterminated_section_name_table_is_refused(i386_obj: bytes) -> None:
    strndx = objects.ehdr(i386_obj, "e_shstrndx")
    size = objects.shdr(i386_obj, strndx, "sh_size")
    # Drop the final NUL: the last name now runs off the end of the table.
    text = refused(objects.patch_shdr(i386_obj, strndx, "sh_size", size - 1))
    assert "section name at" in text and "is not NUL-terminated" in text


def test_section_lookup_out_of_range_is_refused(i386_obj: bytes) -> None:
    obj = ElfObject(i386_obj, PATH)
    with pytest.raises(ElfError, match=r"^bad\.o: section index 99 out of range \(0\.\.\d+\)$"):
        obj.section(99)


# -- symbols --------------------------------------------------------------------------------
def test_symtab_link_out_of_range_is_refused(i386_obj: bytes) -> None:
    data = objects.patch_shdr(i386_obj, objects.symtab_index(i386_obj), "sh_link", 99)
    assert "symbol string table index 99 out of range" in refused(data, symbols=True)


def test_symtab_link_to_a_non_string_table_is_refused(i386_obj: bytes) -> None:
    data = objects.patch_shdr(
        i386_obj,
        objects.symtab_index(i386_obj),
        "sh_link",
        objects.section_index(i386_obj, ".text"),
    )
    assert "string table is not SHT_STRTAB" in refused(data, symbols=True)


def test_symbol_entry_size_wrong_is_refused(i386_obj: bytes) -> None:
    data = objects.patch_shdr(i386_obj, objects.symtab_index(i386_obj), "sh_entsize", 24)
    assert "symbol table entry size 24 (expected 16)" in refused(data, symbols=True)


def test_symbol_table_size_not_a_multiple_of_entries_is_refused(i386_obj: bytes) -> None:
    st = objects.symtab_index(i386_obj)
    data = objects.patch_shdr(i386_obj, st, "sh_size", objects.shdr(i386_obj, st, "sh_size") - 3)
    assert "symbol table entry size" in refused(data, symbols=True)


def test_two_symbol_tables_are_refused(i386_obj: bytes) -> None:
    data = objects.patch_shdr(
        i386_obj, objects.section_index(i386_obj, ".strtab"), "sh_type", C.SHT_SYMTAB
    )
    assert "more than one symbol table" in refused(data, symbols=True)


def test_symbol_name_past_its_string_table_is_refused(i386_obj: bytes) -> None:
    index = objects.symbol_index(i386_obj, "counter")
    data = objects.patch_sym(i386_obj, index, "st_name", 0x7FFF0)
    text = refused(data, symbols=True)
    assert f"symbol {index} name offset 0x7fff0 past end of its string table" in text


def test_unterminated_symbol_string_table_is_refused(i386_obj: bytes) -> None:
    strtab = objects.section_index(i386_obj, ".strtab")
    off = (
        objects.shdr(i386_obj, strtab, "sh_offset") + objects.shdr(i386_obj, strtab, "sh_size") - 1
    )
    assert i386_obj[off] == 0
    data = i386_obj[:off] + b"X" + i386_obj[off + 1 :]
    text = refused(data, symbols=True)
    assert "name at" in text and "is not NUL-terminated" in text


@pytest.mark.parametrize("shndx", [99, 0xFF00, 0xFFF0])
def test_symbol_section_index_out_of_range_is_refused(i386_obj: bytes, shndx: int) -> None:
    index = objects.symbol_index(i386_obj, "counter")
    text = refused(objects.patch_sym(i386_obj, index, "st_shndx", shndx), symbols=True)
    assert f"symbol {index} has section index {shndx} out of range" in text


def test_symbol_with_xindex_is_refused(i386_obj: bytes) -> None:
    index = objects.symbol_index(i386_obj, "counter")
    text = refused(objects.patch_sym(i386_obj, index, "st_shndx", C.SHN_XINDEX), symbols=True)
    assert f"symbol {index} uses SHN_XINDEX" in text


def test_abs_and_common_section_indexes_are_accepted(i386_obj: bytes) -> None:
    index = objects.symbol_index(i386_obj, "counter")
    for shndx in (C.SHN_ABS, C.SHN_COMMON):
        obj = ElfObject(objects.patch_sym(i386_obj, index, "st_shndx", shndx))
        assert obj.symbols[index].shndx == shndx


def test_object_without_symbol_table_has_no_symbols(i386_obj: bytes) -> None:
    data = objects.patch_shdr(i386_obj, objects.symtab_index(i386_obj), "sh_type", C.SHT_PROGBITS)
    obj = ElfObject(data)
    assert obj.symbols == ()
    with pytest.raises(ElfError, match="does not use the symbol table"):
        obj.relocations(obj.relocation_sections()[0])


# -- relocation tables ----------------------------------------------------------------------
def test_relocation_symbol_index_out_of_range_is_refused(i386_obj: bytes) -> None:
    rtype = objects.rel_type(i386_obj, objects.rel(i386_obj, ".rel.text", 1, "r_info"))
    data = objects.patch_rel(
        i386_obj, ".rel.text", 1, "r_info", objects.rel_info(i386_obj, 5000, rtype)
    )
    text = refused(data, relocs=True)
    assert "relocation 1 of .rel.text names symbol 5000 (table has" in text


def test_x86_64_relocation_symbol_index_out_of_range_is_refused(x86_64_obj: bytes) -> None:
    info = objects.rel_info(x86_64_obj, 0xFFFFFFFF, 2)
    data = objects.patch_rel(x86_64_obj, ".rela.text", 0, "r_info", info)
    text = refused(data, relocs=True)
    assert f"relocation 0 of .rela.text names symbol {0xFFFFFFFF}" in text


@pytest.mark.parametrize("entsize", [4, 12, 16])
def test_rel_entry_size_wrong_is_refused(i386_obj: bytes, entsize: int) -> None:
    index = objects.section_index(i386_obj, ".rel.text")
    data = objects.patch_shdr(i386_obj, index, "sh_entsize", entsize)
    assert f"relocation section .rel.text has entry size {entsize}" in refused(data, relocs=True)


def test_rel_size_not_a_multiple_of_entries_is_refused(i386_obj: bytes) -> None:
    index = objects.section_index(i386_obj, ".rel.text")
    size = objects.shdr(i386_obj, index, "sh_size")
    data = objects.patch_shdr(i386_obj, index, "sh_size", size - 3)
    assert "relocation section .rel.text has entry size 8" in refused(data, relocs=True)


def test_rela_with_rel_entry_size_is_refused(x86_64_obj: bytes) -> None:
    index = objects.section_index(x86_64_obj, ".rela.text")
    data = objects.patch_shdr(x86_64_obj, index, "sh_entsize", 16)
    assert "relocation section .rela.text has entry size 16" in refused(data, relocs=True)


def test_relocation_target_out_of_range_is_refused(i386_obj: bytes) -> None:
    index = objects.section_index(i386_obj, ".rel.text")
    data = objects.patch_shdr(i386_obj, index, "sh_info", 77)
    assert "relocation section .rel.text target 77 out of range" in refused(data, relocs=True)


def test_relocation_table_not_using_the_symbol_table_is_refused(i386_obj: bytes) -> None:
    index = objects.section_index(i386_obj, ".rel.text")
    data = objects.patch_shdr(
        i386_obj, index, "sh_link", objects.section_index(i386_obj, ".strtab")
    )
    assert "does not use the symbol table" in refused(data, relocs=True)


def test_relocation_table_past_eof_is_refused(i386_obj: bytes) -> None:
    index = objects.section_index(i386_obj, ".rel.text")
    data = objects.patch_shdr(i386_obj, index, "sh_offset", len(i386_obj) - 4)
    assert f"section {index} (offset" in refused(data)


# -- files ----------------------------------------------------------------------------------
def test_missing_file_is_refused_with_strerror(tmp_path: Path) -> None:
    path = tmp_path / "missing.o"
    with pytest.raises(ElfError) as info:
        read_object(str(path))
    assert str(info.value) == f"{path}: No such file or directory"


def test_directory_is_refused_with_strerror(tmp_path: Path) -> None:
    with pytest.raises(ElfError) as info:
        read_object(str(tmp_path))
    assert str(info.value) == f"{tmp_path}: Is a directory"


def test_read_object_names_the_file_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "empty.o"
    path.write_bytes(b"")
    with pytest.raises(ElfError) as info:
        read_object(str(path))
    assert str(info.value) == f"{path}: not an ELF object (bad magic)"
