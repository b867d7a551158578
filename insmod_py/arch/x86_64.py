"""x86_64 (EM_X86_64): ELFCLASS64, SHT_RELA, 8-byte words, -mcmodel=kernel modules."""

from .machine import (
    KERNEL24_CFLAGS,
    Emulator,
    Kernel24Recipe,
    Machine,
    QemuRecipe,
    SimKernelMap,
    VaList,
)

WORD = 8

MACHINE = Machine(
    name="x86_64",
    e_machine=62,  # EM_X86_64
    elf_class=2,  # ELFCLASS64
    word_size=WORD,
    rela=True,
    ld_emulation="elf_x86_64",
    # The kernel code model (symbols in the top 2 GiB, R_X86_64_32S), no red zone
    # (interrupts use the kernel stack), no SSE/MMX registers in kernel code.
    cflags=("-m64", "-mcmodel=kernel", "-mno-red-zone", "-mno-sse", "-mno-mmx"),
    variants=("", "common", "eh", "small"),
    # The real MODULES_VADDR without KASLR, within +-2 GiB of the kernel image as
    # PC32/32S need.
    depmod_area=(0xFFFFFFFFC0000000, 0xFFFFFFFFFF000000),
    # arch/x86/entry/syscalls/syscall_64.tbl: 174-178, "only in kernels before 2.6".
    syscall_numbers={
        "create_module": 174,
        "init_module": 175,
        "delete_module": 176,
        "get_kernel_syms": 177,
        "query_module": 178,
    },
    sim_kernel=SimKernelMap(
        word=WORD,
        stub_base=0xFFFFFFFF81000000,
        native_base=0xFFFFFFFF81001000,
        data_base=0xFFFFFFFF81200000,
        stack_base=0xFFFF888000300000,
        kmalloc_base=0xFFFF888001000000,
        kmalloc_size=4 << 20,
        vmalloc_base=0xFFFFC90000000000,
        vmalloc_size=16 << 20,
        module_area=(0xFFFFFFFFA0000000, 0xFFFFFFFFFF000000),
        trap_area=(0xFFFFFFFF84000000, 0x04000000),
        user_limit=0x0000010000000000,  # PAGE_OFFSET
        module_guard=0,  # arch/x86_64/mm/modutil.c: no guard page
        module_strict_fit=True,
        # asm-x86_64/uaccess.h calls the exported copy_*_user; no __generic_copy_*
        unexported_services=frozenset(("__generic_copy_to_user", "__generic_copy_from_user")),
    ),
    debian_flavour="amd64",
    debian_arch="amd64",
    emulator=Emulator(
        unicorn_mode="UC_MODE_64",
        virtual_tlb=True,
        sp="rsp",
        pc="rip",
        ret="rax",
        arg_registers=("rdi", "rsi", "rdx", "rcx", "r8", "r9"),  # SysV
        va_list=VaList.SYSV,
        thunk_registers=(
            *("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"),
            *(f"r{i}" for i in range(8, 16)),
        ),
        current_in_pda=True,
        fastcall_registers=(),
        wide_registers=None,
        aux_return="rdx",
        saved_registers=(
            *("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "rip", "rflags"),
            *(f"r{i}" for i in range(8, 16)),
        ),
        semaphore_register="rdi",  # asm-x86_64/semaphore.h: "D" (sem)
    ),
    kernel24=Kernel24Recipe(
        # -fno-strict-overflow: vsnprintf's "end < buf - 1" wrap check is pointer-overflow
        #   UB that gcc-12 deletes; sprintf then writes far past its buffer and pid 1 oopses.
        # -mno-sse...: kernel code must not touch the FPU/SSE registers, which 2.4's
        #   Makefile does not forbid to gcc-12's vectoriser.
        cflags=(
            *KERNEL24_CFLAGS,
            "-fno-strict-overflow",
            *("-mno-sse", "-mno-mmx", "-mno-sse2", "-mno-3dnow", "-mno-avx"),
        ),
        asflags=(),
        patches=("gcc12-compiler.patch", "x86_64-gcc12-boot.patch"),
        bzimage="arch/x86_64/boot/bzImage",
    ),
    qemu=QemuRecipe(
        binary="qemu-system-x86_64",
        # qemu64 is an AMD CPU, for which qemu adds an e820 entry near 1 TB; 2.4 x86_64
        # direct-maps up to the highest entry and panics "Cannot find space for the kernel
        # page tables"
        cpu="qemu64,vendor=GenuineIntel",
        # nmi_watchdog=0: its boot-time test only costs time.  noapic: with the IO-APIC set
        # up, boot waits 10 ms of emulated time for timer ticks and panics ("IO-APIC + timer
        # doesn't work") when a loaded host delivers too few; the 8259A needs no such test
        append="nmi_watchdog=0 noapic",
        agent_header="sys-x86_64.h",
        agent_cflags=("-m64", "-mgeneral-regs-only"),  # the kernel need not save SSE state
    ),
)
