"""Peer (d): the loader a Python user would write with pyelftools, for the benchmark.

One ``Symbol`` and one ``Relocation`` object per entry, each relocation
computed and patched into a bytearray with ``struct``: the baseline the bulk
pipeline is measured against.  Same layout rule as ours (SHF_ALLOC sections in
header order at their alignment), same formulas; no overflow checks.
"""

from __future__ import annotations

import struct

from elftools.elf.elffile import ELFFile

# type -> (struct code, pc-relative) per e_machine
RECIPES = {
    "EM_386": {1: ("<I", False), 2: ("<I", True), 4: ("<I", True)},
    "EM_X86_64": {
        1: ("<Q", False), 2: ("<I", True), 4: ("<I", True), 10: ("<I", False),
        11: ("<I", False), 24: ("<Q", True),
    },
}  # fmt: skip


def link_naive(path: str, kernel: dict[str, int], base: int) -> bytearray:
    """Link ``path`` at ``base`` against ``kernel`` (name -> address); returns the image."""
    with open(path, "rb") as fh:
        elf = ELFFile(fh)
        machine = elf["e_machine"]
        recipes = RECIPES[machine]
        mask = (1 << (64 if machine == "EM_X86_64" else 32)) - 1
        offset_of: dict[int, int] = {}
        pos = 0
        for index, sec in enumerate(elf.iter_sections()):
            if sec["sh_flags"] & 2 and sec.name not in (".modinfo", ".modstring"):
                align = max(sec["sh_addralign"], 1)
                pos = (pos + align - 1) & -align
                offset_of[index] = pos
                pos += sec["sh_size"]
        image = bytearray(pos)
        for index, at in offset_of.items():
            sec = elf.get_section(index)
            if sec["sh_type"] != "SHT_NOBITS":
                image[at : at + sec["sh_size"]] = sec.data()
        symtab = elf.get_section_by_name(".symtab")
        values = []
        for sym in symtab.iter_symbols():
            shndx = sym["st_shndx"]
            if shndx == "SHN_UNDEF":
                values.append(kernel.get(sym.name, 0))
            elif isinstance(shndx, int) and shndx in offset_of:
                values.append(base + offset_of[shndx] + sym["st_value"])
            else:
                values.append(sym["st_value"])
        for sec in elf.iter_sections():
            if sec["sh_type"] not in ("SHT_REL", "SHT_RELA") or sec["sh_info"] not in offset_of:
                continue
            target = offset_of[sec["sh_info"]]
            rela = sec.is_RELA()
            for rel in sec.iter_relocations():
                if rel["r_info_type"] == 0:  # R_*_NONE
                    continue
                code, pcrel = recipes[rel["r_info_type"]]
                where = target + rel["r_offset"]
                addend = rel["r_addend"] if rela else struct.unpack_from(code, image, where)[0]
                value = values[rel["r_info_sym"]] + addend
                if pcrel:
                    value -= base + where
                width = struct.calcsize(code) * 8
                struct.pack_into(code, image, where, value & mask & ((1 << width) - 1))
    return image
