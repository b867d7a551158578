"""ELF constants used by the loader (the subset of elf.h we need)."""

ELFMAG = b"\x7fELF"
ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB = 1
EV_CURRENT = 1
ET_REL = 1

SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA = 0, 1, 2, 3, 4
SHT_NOBITS, SHT_REL, SHT_SYMTAB_SHNDX, SHT_GROUP = 8, 9, 18, 17

SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
SHF_MERGE, SHF_STRINGS = 0x10, 0x20

SHN_UNDEF, SHN_LORESERVE, SHN_ABS, SHN_COMMON, SHN_XINDEX = 0, 0xFF00, 0xFFF1, 0xFFF2, 0xFFFF

STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE = 0, 1, 2, 3, 4

# bytes.translate table over symbol types: 1 for a symbol that names something (not the
# SECTION or FILE entries), 0 otherwise -- a C-speed filter of SymbolColumns.types.
NAMES_SOMETHING = bytes(t not in (STT_SECTION, STT_FILE) for t in range(256))
