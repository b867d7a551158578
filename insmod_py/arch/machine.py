"""The shape of a machine descriptor: every i386 / x86_64 fact the loader, the linker
oracle, the simulated kernel and the syscall backend need, in one frozen value.

A new machine is one more module next to ``i386.py`` (an instance of :class:`Machine`),
one relocation table in ``reloc/<name>.py`` and one line in ``arch/__init__.py``.
Nothing here imports anything heavy: the descriptor is read by the CLI at start-up.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..reloc import MachineRelocs

PAGE = 0x1000


class VaList(Enum):
    """How a ``va_list`` walks the variadic arguments (what ``vprintk`` reads)."""

    STACK = "stack"  # i386: a pointer to the next stack word
    SYSV = "sysv"  # x86_64: {gp_offset, fp_offset, overflow_arg_area, reg_save_area}


@dataclass(frozen=True)
class SimKernelMap:
    """Where the simulated 2.4 kernel keeps things: one address map per machine.

    Every range lies in the kernel's address window and clear of the others, so a
    module linked at ``module_area`` reaches all of them with its normal relocations.
    """

    word: int  # bytes per long / pointer (the machine's word size)
    stub_base: int  # one page of kernel function stubs (a ``ret`` each), hooked
    native_base: int  # next page, not hooked: the sentinel ``hlt`` + real-code thunks
    data_base: int  # one rw page of kernel data symbols (jiffies, the x86_64 PDA)
    stack_base: int  # 8 KiB aligned: fake task_struct at the base, stack top at +8 KiB
    kmalloc_base: int
    kmalloc_size: int
    vmalloc_base: int
    vmalloc_size: int
    module_area: tuple[int, int]  # where create_module places modules [start, end)
    trap_area: tuple[int, int]  # (start, size): never mapped; deferred symbols point here
    user_limit: int  # USER_DS, 2.4's PAGE_OFFSET: user space ends here (current->addr_limit)
    # 2.4's module_map, as the real 2.4.37.11 kernel places modules: the bytes it leaves
    # unmapped after each area (vmalloc's guard page on i386), and whether a hole must be
    # larger than the area (x86_64's modutil.c tests ``addr + size < next``)
    module_guard: int = PAGE
    module_strict_fit: bool = False
    # services the machine's real 2.4 kernel does not export (its headers inline them or
    # spell them otherwise); the simulated kernel keeps the stubs but does not export them
    unexported_services: frozenset[str] = frozenset()

    @property
    def sentinel(self) -> int:
        return self.native_base

    @property
    def stack_size(self) -> int:
        return 2 * PAGE

    @property
    def kernel_module(self) -> int:
        """``&kernel_module``: the last slot of the data page (only its address is used)."""
        return self.data_base + PAGE - 0x100

    @property
    def isa_window(self) -> tuple[int, int]:
        """(start, size) of the ISA memory hole, 640K to 1M, in the kernel's direct map:
        2.4's ``isa_readb(a)`` (and ``phys_to_virt``) read ``PAGE_OFFSET + a`` there, on
        every PC (``user_limit`` is PAGE_OFFSET)."""
        return self.user_limit + 0xA0000, 0x60000

    def hex(self, addr: int) -> str:
        return f"{addr & ((1 << (8 * self.word)) - 1):0{2 * self.word}x}"


@dataclass(frozen=True)
class Emulator:
    """How unicorn runs this machine's module code and how arguments reach a service."""

    unicorn_mode: str  # name of the unicorn.UC_MODE_* constant
    virtual_tlb: bool  # UC_TLB_VIRTUAL: unicorn otherwise cuts addresses to 52 bits
    sp: str  # register names, as in unicorn.x86_const.UC_X86_REG_<NAME>
    pc: str
    ret: str
    arg_registers: tuple[str, ...]  # integer arguments before the stack ones
    va_list: VaList
    thunk_registers: tuple[str, ...]  # __x86_indirect_thunk_<reg>, in ModRM order
    current_in_pda: bool  # 2.4 x86_64: `current` is the PDA's pcurrent (%gs:0x18), no stack mask
    fastcall_registers: tuple[str, ...]  # 2.4 FASTCALL (regparm(3)) argument registers
    wide_registers: tuple[str, str] | None  # a 64-bit value in two registers (low, high)
    aux_return: str  # where asm helpers return a second value (__get_user_N: the value)
    saved_registers: tuple[str, ...]  # what a kernel call from inside a service must restore
    # 2.4's down()/up() slow paths (__down_failed, __up_wakeup) take the semaphore in this
    # register, an asm convention of their own, and preserve every other register
    semaphore_register: str

    @property
    def pc_name(self) -> str:
        """The instruction pointer as an oops names it (``EIP``, ``RIP``)."""
        return self.pc.upper()


# gcc flags that make a modern gcc (Debian bookworm's gcc-12) build the real 2.4.37.11
# kernel correctly, on every machine (see Kernel24Recipe):
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
KERNEL24_CFLAGS: tuple[str, ...] = (
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
class Kernel24Recipe:
    """How ``insmod_py.kernel24`` builds the real 2.4.37.11 kernel for this machine with the
    host's gcc and binutils (the kernel's ``ARCH=`` is the machine's name)."""

    cflags: tuple[str, ...]  # the compiler wrapper's flags, before the kernel's own
    asflags: tuple[str, ...]  # the assembler wrapper's flags
    patches: tuple[str, ...]  # kernel24/patches/*.patch for this machine, in order
    bzimage: str  # where the build leaves bzImage, relative to the tree


@dataclass(frozen=True)
class QemuRecipe:
    """How ``backends/qemu`` boots this machine's real 2.4 kernel and builds its guest agent."""

    binary: str  # the qemu system emulator
    cpu: str  # -cpu (TCG; 2.4 did not boot under this host's KVM)
    append: str  # kernel command line beyond what every machine gets
    agent_header: str  # kernel24/agent/<this>: system call numbers and entry code
    agent_cflags: tuple[str, ...]  # gcc flags of the agent beyond the common ones


@dataclass(frozen=True)
class Machine:
    """One architecture, as every layer of the loader sees it."""

    # -- identity
    name: str  # our name for it (``i386``, ``x86_64``): --arch, state directories
    e_machine: int  # ELF header e_machine
    elf_class: int  # EI_CLASS: 1 = ELFCLASS32, 2 = ELFCLASS64
    word_size: int  # bytes of an address (unsigned long)
    rela: bool  # SHT_RELA (addend in the entry) or SHT_REL (addend in the word)

    # -- linking: the relocation table lives in reloc/<name>.py (see ``relocs``)
    ld_emulation: str  # ld -m
    cflags: tuple[str, ...]  # gcc flags on top of toolchain.COMMON_CFLAGS
    variants: tuple[str, ...]  # object variants the tests build (toolchain.VARIANT_REPLACE)
    depmod_area: tuple[int, int]  # synthetic module area for a whole tree (depmod, corpus)

    # -- the 2.4 kernel
    syscall_numbers: Mapping[str, int]  # the legacy module syscalls by name
    sim_kernel: SimKernelMap
    debian_flavour: str  # Debian kernel flavour of the corpus (linux-image-*-<flavour>)
    debian_arch: str  # Debian architecture of that package

    # -- the emulator
    emulator: Emulator

    # -- the real 2.4.37.11 kernel (insmod_py.kernel24)
    kernel24: Kernel24Recipe

    # -- that kernel under qemu, with the guest agent as /init (backends/qemu)
    qemu: QemuRecipe

    @property
    def bits(self) -> int:
        return 8 * self.word_size

    @property
    def address_mask(self) -> int:
        return (1 << self.bits) - 1

    @property
    def word_format(self) -> str:
        """The ``struct``/``array`` code of one unsigned word."""
        from ..modstruct import WORD_FORMAT

        return WORD_FORMAT[self.word_size]

    @property
    def relocs(self) -> MachineRelocs:
        """The relocation table (``reloc/<name>.py``), imported on first use."""
        return importlib.import_module(f"insmod_py.reloc.{self.name}").RELOCS

    def hex(self, addr: int) -> str:
        """An address as the kernel prints it: zero-padded to the word."""
        return self.sim_kernel.hex(addr)
