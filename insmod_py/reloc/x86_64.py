"""x86_64 (EM_X86_64) relocations: SHT_RELA, the addend comes from ``r_addend``.

The rules are the kernel's ``apply_relocate_add``: R_X86_64_32 must fit
zero-extended, 32S/PC32/PLT32 sign-extended (an object built without
``-mcmodel=kernel`` fails here at a kernel address), and a target that is
already non-zero is refused (commit eda9cec4c9a1, "x86/module: Detect and
skip invalid relocations").
"""

from . import Check, MachineRelocs, Recipe

R_X86_64_NONE, R_X86_64_64, R_X86_64_PC32, R_X86_64_PLT32 = 0, 1, 2, 4
R_X86_64_32, R_X86_64_32S, R_X86_64_16, R_X86_64_PC16 = 10, 11, 12, 13
R_X86_64_8, R_X86_64_PC8, R_X86_64_PC64 = 14, 15, 24

TYPE_NAMES = {
    0: "R_X86_64_NONE", 1: "R_X86_64_64", 2: "R_X86_64_PC32", 3: "R_X86_64_GOT32",
    4: "R_X86_64_PLT32", 5: "R_X86_64_COPY", 6: "R_X86_64_GLOB_DAT", 7: "R_X86_64_JUMP_SLOT",
    8: "R_X86_64_RELATIVE", 9: "R_X86_64_GOTPCREL", 10: "R_X86_64_32", 11: "R_X86_64_32S",
    12: "R_X86_64_16", 13: "R_X86_64_PC16", 14: "R_X86_64_8", 15: "R_X86_64_PC8",
    24: "R_X86_64_PC64", 26: "R_X86_64_GOTPC32", 41: "R_X86_64_GOTPCRELX",
    42: "R_X86_64_REX_GOTPCRELX",
}  # fmt: skip

RELOCS = MachineRelocs(
    name="x86_64",
    rela=True,
    address_bits=64,
    zero_target=True,
    # The kernel's own words (arch/x86/kernel/module.c) for the usual cause.
    overflow_hint="; likely not compiled with -mcmodel=kernel",
    recipes={
        R_X86_64_NONE: Recipe("R_X86_64_NONE", 0),
        R_X86_64_64: Recipe("R_X86_64_64", 8),
        R_X86_64_PC32: Recipe("R_X86_64_PC32", 4, pcrel=True, check=Check.SIGNED),
        R_X86_64_PLT32: Recipe("R_X86_64_PLT32", 4, pcrel=True, check=Check.SIGNED),
        R_X86_64_32: Recipe("R_X86_64_32", 4, check=Check.UNSIGNED),
        R_X86_64_32S: Recipe("R_X86_64_32S", 4, check=Check.SIGNED),
        R_X86_64_16: Recipe("R_X86_64_16", 2, check=Check.BITFIELD),
        R_X86_64_PC16: Recipe("R_X86_64_PC16", 2, pcrel=True, check=Check.SIGNED),
        R_X86_64_8: Recipe("R_X86_64_8", 1, check=Check.BITFIELD),
        R_X86_64_PC8: Recipe("R_X86_64_PC8", 1, pcrel=True, check=Check.SIGNED),
        R_X86_64_PC64: Recipe("R_X86_64_PC64", 8, pcrel=True),
    },
    type_names=TYPE_NAMES,
)
