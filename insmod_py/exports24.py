"""What a 2.4 kernel or module exports, read from its ``__ksymtab`` as the kernel reads it.

2.4's ``EXPORT_SYMBOL(x)`` puts ``{&x, __kstrtab_x}`` (two words) into ``__ksymtab`` and the
name string into ``.kstrtab``.  The string is what the kernel's table holds: under
CONFIG_MODVERSIONS the versioned name (``printk_R1b7d4074``), for ``EXPORT_SYMBOL_GPL``
without MODVERSIONS ``GPLONLY_x``; the ``__ksymtab_x`` symbol's own name says neither, so
names come from the strings.  A module without a ``__ksymtab`` section exports every
global instead (modutils' default; :func:`insmod_py.header.wants_export_all`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .elf import ElfObject
from .elf import constants as C
from .errors import SymbolError
from .ksyms import KernelSymbol

KSYMTAB = "__ksymtab"
KSTRTAB = ".kstrtab"
USING_VERSIONS = "Using_Versions"  # a MODVERSIONS kernel exports it (value 1)


@dataclass(frozen=True)
class ModuleExport:
    name: str  # as the kernel's table will hold it
    symbol: int  # index of the symbol the value word is relocated against
    addend: int  # added to that symbol's address


def is_24_module(obj: ElfObject) -> bool:
    """A 2.4 module: it has a ``.modinfo`` and no 2.6+ ``.gnu.linkonce.this_module``."""
    return (
        obj.section_by_name(".gnu.linkonce.this_module") is None
        and obj.section_by_name(".modinfo") is not None
    )


def module_ksymtab(obj: ElfObject) -> list[ModuleExport] | None:
    """The entries of a 2.4 module's ``__ksymtab``, in order; None without one.

    Raises SymbolError when an entry's words are not relocated as EXPORT_SYMBOL makes them.
    """
    ksymtab = obj.section_by_name(KSYMTAB)
    if ksymtab is None:
        return None
    if not ksymtab.size:  # EXPORT_NO_SYMBOLS: an empty table, exports nothing
        return []
    strings_sec = obj.section_by_name(KSTRTAB)
    word = obj.word_size
    if ksymtab.size % (2 * word) or strings_sec is None:
        raise SymbolError(f"{KSYMTAB} is not a 2.4 export table", file=obj.path)
    data = obj.contents(ksymtab)
    strings = obj.contents(strings_sec)
    relocs: dict[int, tuple[int, int]] = {}
    for sec in obj.relocation_sections():
        if obj.relocation_target(sec).index != ksymtab.index:
            continue
        table = obj.relocations(sec)
        for off, sym, add in zip(table.offsets, table.symbols, table.addends, strict=True):
            implicit = int.from_bytes(data[off : off + word], "little", signed=True)
            relocs[off] = (sym, add if table.is_rela else implicit)
    symbols = obj.symbols
    out = []
    for at in range(0, ksymtab.size, 2 * word):
        value, name = relocs.get(at), relocs.get(at + word)
        if value is None or name is None or symbols[name[0]].shndx != strings_sec.index:
            raise SymbolError(f"{KSYMTAB} entry at {at:#x} is not relocated", file=obj.path)
        start = symbols[name[0]].value + name[1]
        end = strings.find(b"\0", start)
        if not 0 <= start < len(strings) or end < 0:
            raise SymbolError(f"{KSYMTAB} entry at {at:#x} names no string", file=obj.path)
        out.append(ModuleExport(strings[start:end].decode("latin-1"), value[0], value[1]))
    return out


def vmlinux_exports(path: str | os.PathLike[str]) -> list[KernelSymbol]:
    """The kernel's export table: every ``__ksymtab`` entry of an unstripped vmlinux."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            elf = ELFFile(fh)
            word = elf.elfclass // 8
            sections = [s for s in elf.iter_sections() if s["sh_flags"] & C.SHF_ALLOC]
            ksymtab = elf.get_section_by_name(KSYMTAB)
            if ksymtab is None:
                raise SymbolError(f"no {KSYMTAB} section: not a modular kernel", file=name)
            data = ksymtab.data()
            blobs = {s.name: (s["sh_addr"], s.data()) for s in sections if s["sh_type"] != 8}
    except (OSError, ELFError) as exc:
        raise SymbolError(f"not a readable vmlinux ({exc})", file=name) from None

    def string_at(addr: int) -> str:
        for base, blob in blobs.values():
            if base <= addr < base + len(blob):
                end = blob.find(b"\0", addr - base)
                return blob[addr - base : end].decode("latin-1")
        raise SymbolError(f"{KSYMTAB} names a string at {addr:#x}, outside the image", file=name)

    out = []
    for at in range(0, len(data) - 2 * word + 1, 2 * word):
        value = int.from_bytes(data[at : at + word], "little")
        out.append(KernelSymbol(string_at(int.from_bytes(data[at + word : at + 2 * word],
                                                          "little")), value))  # fmt: skip
    return out


def is_elf(path: str | os.PathLike[str]) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"\x7fELF"
    except OSError:
        return False
