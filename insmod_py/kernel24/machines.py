"""Per-machine facts of building the real 2.4.37.11 kernel, one row per architecture.

To fold into ``insmod_py/arch/`` (fields of ``Machine``) once that package exists;
until then this table is the only place kernel24 tells i386 from x86_64.
"""

from __future__ import annotations

from dataclasses import dataclass

# gcc flags that make a modern gcc (Debian bookworm's gcc-12) build 2.4 correctly, on
# both machines:
#   -std=gnu89                 2.4's C: old "extern inline", implicit int...
#   -fno-pie -fno-pic          Debian's gcc defaults to PIE; the kernel is absolute code.
#   -fno-stack-protector       no __stack_chk_fail / canary segment in 2.4.
#   -fcf-protection=none       no endbr / .note.gnu.property (CET) in 2.4.
#   -fcommon                   gcc >= 10 defaults to -fno-common; 2.4 has tentative
#                              definitions in headers (its own -fno-common, given later on
#                              the command line, wins for the objects that ask for it).
#   -fno-strict-aliasing       as 2.4's Makefile, for every object (boot code too).
#   -fno-asynchronous-unwind-tables -fno-unwind-tables   no .eh_frame (2.4 has no unwinder).
#   -fno-delete-null-pointer-checks   2.4 dereferences NULL on purpose in places.
#   -fno-tree-loop-distribute-patterns   gcc otherwise turns a loop in fs/ext2/balloc.c
#                              into a memmove call that i386 2.4 has no out-of-line copy of.
#   -Wno-error -w              2.4 predates gcc-12's warnings; none of them is an error.
_COMMON_CFLAGS = (
    "-std=gnu89",
    "-fno-pie",
    "-fno-pic",
    "-fno-stack-protector",
    "-fcommon",
    "-fno-strict-aliasing",
    "-fno-asynchronous-unwind-tables",
    "-fno-unwind-tables",
    "-fcf-protection=none",
    "-fno-delete-null-pointer-checks",
    "-fno-tree-loop-distribute-patterns",
    "-Wno-error",
    "-w",
)


@dataclass(frozen=True)
class KernelMachine:
    """How to build 2.4.37.11 for one architecture with the host's gcc and binutils."""

    arch: str  # the kernel's ARCH= (and ours)
    cflags: tuple[str, ...]  # the compiler wrapper's flags, before the kernel's own
    asflags: tuple[str, ...]  # the assembler wrapper's flags
    patches: tuple[str, ...]  # kernel24/patches/*.patch for this machine, in order
    bzimage: str  # where the build leaves bzImage, relative to the tree


MACHINES: dict[str, KernelMachine] = {
    "i386": KernelMachine(
        arch="i386",
        # the host is x86_64: -m32 / --32 (2.4's arch Makefile adds ld's -m elf_i386)
        cflags=("-m32", *_COMMON_CFLAGS),
        asflags=("--32",),
        patches=("gcc12-compiler.patch", "i386-asmlinkage.patch"),
        bzimage="arch/i386/boot/bzImage",
    ),
    "x86_64": KernelMachine(
        arch="x86_64",
        # -fno-strict-overflow: vsnprintf's "end < buf - 1" wrap check is pointer-overflow
        #   UB that gcc-12 deletes; sprintf then writes far past its buffer and pid 1 oopses.
        # -mno-sse...: kernel code must not touch the FPU/SSE registers, which 2.4's
        #   Makefile does not forbid to gcc-12's vectoriser.
        cflags=(
            *_COMMON_CFLAGS,
            "-fno-strict-overflow",
            "-mno-sse",
            "-mno-mmx",
            "-mno-sse2",
            "-mno-3dnow",
            "-mno-avx",
        ),
        asflags=(),
        patches=("gcc12-compiler.patch", "x86_64-gcc12-boot.patch"),
        bzimage="arch/x86_64/boot/bzImage",
    ),
}

ARCHES: tuple[str, ...] = tuple(MACHINES)
