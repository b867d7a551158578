"""i386 (EM_386): ELFCLASS32, SHT_REL, 4-byte words, the 2.4 kernel at 0xC0000000."""

from .machine import (
    KERNEL24_CFLAGS,
    Emulator,
    Kernel24Recipe,
    Machine,
    QemuRecipe,
    SimKernelMap,
    VaList,
)

WORD = 4

MACHINE = Machine(
    name="i386",
    e_machine=3,  # EM_386
    elf_class=1,  # ELFCLASS32
    word_size=WORD,
    rela=False,
    ld_emulation="elf_i386",
    # -march=i686 as 2.4's CONFIG_M686 (gcc's -m32 default, x86-64, would vectorise
    # with SSE, which kernel code must not touch); -mpreferred-stack-boundary=2 as 2.4.
    cflags=("-m32", "-march=i686", "-mpreferred-stack-boundary=2"),
    variants=("", "common", "eh"),
    # No +-2 GiB limit on i386: the area only needs room for every module of a tree.
    depmod_area=(0xD0000000, 0xFFFFE000),
    # 2.4's include/asm-i386/unistd.h.
    syscall_numbers={
        "create_module": 127,
        "init_module": 128,
        "delete_module": 129,
        "get_kernel_syms": 130,
        "query_module": 167,
    },
    sim_kernel=SimKernelMap(
        word=WORD,
        stub_base=0xC0100000,
        native_base=0xC0101000,
        data_base=0xC0200000,
        stack_base=0xC0300000,
        kmalloc_base=0xC1000000,
        kmalloc_size=4 << 20,
        vmalloc_base=0xD0000000,
        vmalloc_size=16 << 20,
        module_area=(0xC8800000, 0xD0000000),
        trap_area=(0xC4000000, 0x04000000),
        user_limit=0xC0000000,  # PAGE_OFFSET
        # asm-i386/string.h inlines the string functions; asm-i386/uaccess.h wraps
        # __generic_copy_*_user inline, and a 4-byte get_user is the widest
        unexported_services=frozenset(
            (
                "memmove",
                "strlen",
                "strnlen",
                "strcpy",
                "strncpy",
                "strcat",
                "strcmp",
                "strncmp",
                "strchr",
                "copy_to_user",
                "copy_from_user",
                "copy_user_generic",
                "__get_user_8",
            )
        ),
    ),
    debian_flavour="686",
    debian_arch="i386",
    emulator=Emulator(
        unicorn_mode="UC_MODE_32",
        virtual_tlb=False,
        sp="esp",
        pc="eip",
        ret="eax",
        arg_registers=(),  # cdecl: every argument on the stack
        va_list=VaList.STACK,
        thunk_registers=("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"),
        current_in_pda=False,
        fastcall_registers=("eax", "edx", "ecx"),
        wide_registers=("eax", "edx"),
        aux_return="edx",
        saved_registers=("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip", "eflags"),
        semaphore_register="ecx",  # asm-i386/semaphore.h: "c" (sem)
    ),
    kernel24=Kernel24Recipe(
        # the host is x86_64: -m32 / --32 (2.4's arch Makefile adds ld's -m elf_i386)
        cflags=("-m32", *KERNEL24_CFLAGS),
        asflags=("--32",),
        patches=("gcc12-compiler.patch", "i386-asmlinkage.patch"),
        bzimage="arch/i386/boot/bzImage",
    ),
    qemu=QemuRecipe(
        binary="qemu-system-i386",
        cpu="pentium2",  # a CPU the 686 kernel knows
        append="",
        agent_header="sys-i386.h",
        agent_cflags=("-m32",),
    ),
)
