"""i386 (EM_386) relocations: SHT_REL, the addend is the word being patched.

Supported: what gcc emits for non-PIC kernel code (R_386_32, R_386_PC32, and
R_386_PLT32, which newer binutils emit for ``call foo`` and which the kernel
treats as PC32), plus the 16- and 8-bit forms with ld's bitfield overflow rule.
GOT/PLT-based types need a GOT, which a kernel module never has: refused by name.
"""

from . import Check, MachineRelocs, Recipe

R_386_NONE, R_386_32, R_386_PC32, R_386_PLT32 = 0, 1, 2, 4
R_386_16, R_386_PC16, R_386_8, R_386_PC8 = 20, 21, 22, 23

TYPE_NAMES = {
    0: "R_386_NONE", 1: "R_386_32", 2: "R_386_PC32", 3: "R_386_GOT32", 4: "R_386_PLT32",
    5: "R_386_COPY", 6: "R_386_GLOB_DAT", 7: "R_386_JMP_SLOT", 8: "R_386_RELATIVE",
    9: "R_386_GOTOFF", 10: "R_386_GOTPC", 14: "R_386_TLS_TPOFF", 20: "R_386_16",
    21: "R_386_PC16", 22: "R_386_8", 23: "R_386_PC8", 43: "R_386_GOT32X",
}  # fmt: skip

RELOCS = MachineRelocs(
    name="i386",
    rela=False,
    address_bits=32,
    recipes={
        R_386_NONE: Recipe("R_386_NONE", 0),
        R_386_32: Recipe("R_386_32", 4),
        R_386_PC32: Recipe("R_386_PC32", 4, pcrel=True),
        R_386_PLT32: Recipe("R_386_PLT32", 4, pcrel=True),
        R_386_16: Recipe("R_386_16", 2, check=Check.BITFIELD),
        R_386_PC16: Recipe("R_386_PC16", 2, pcrel=True, check=Check.BITFIELD),
        R_386_8: Recipe("R_386_8", 1, check=Check.BITFIELD),
        R_386_PC8: Recipe("R_386_PC8", 1, pcrel=True, check=Check.SIGNED),
    },
    type_names=TYPE_NAMES,
)
