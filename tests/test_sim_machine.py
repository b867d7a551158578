"""The emulator runs real gcc-compiled module code against the simulated kernel's services.

Each C snippet is compiled with the flags a 2.4 module used and linked with GNU
ld at a module address, the kernel symbols defined from ``kernel_exports``; the
loaded bytes become a :class:`MappedModule`. (The project's own linker is not
used, so these tests check the machine alone.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import objects

from insmod_py.arch import by_name
from insmod_py.backends.base import Region
from insmod_py.backends.sim import services
from insmod_py.backends.sim.machine import (
    KernelRuntime,
    MappedModule,
    Oops,
    kernel_exports,
    run_function,
)

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None or shutil.which("ld") is None, reason="needs gcc and GNU ld"
)

CFLAGS = {
    "i386": ["-m32", "-O2", "-fno-pic", "-ffreestanding", "-nostdinc", "-fno-stack-protector"],
    "x86_64": [
        "-m64",
        "-O2",
        "-mcmodel=kernel",
        "-mno-red-zone",
        "-fno-pic",
        "-ffreestanding",
        "-nostdinc",
        "-fno-asynchronous-unwind-tables",
        "-mno-sse",
        "-fno-stack-protector",
    ],
}
LDEMU = {"i386": "elf_i386", "x86_64": "elf_x86_64"}
BASE = objects.MODULE_BASES
ARCHES = ["i386", "x86_64"]

PRELUDE = r"""
typedef unsigned long size_t;
int printk(const char *fmt, ...);
int sprintf(char *buf, const char *fmt, ...);
int snprintf(char *buf, size_t n, const char *fmt, ...);
void *kmalloc(size_t size, int flags);
void kfree(const void *p);
void *vmalloc(unsigned long size);
void vfree(void *p);
void *memset(void *s, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
size_t strlen(const char *s);
char *strcpy(char *d, const char *s);
int strcmp(const char *a, const char *b);
int register_chrdev(unsigned int major, const char *name, void *fops);
int unregister_chrdev(unsigned int major, const char *name);
void panic(const char *fmt, ...);
extern volatile unsigned long jiffies;
#define GFP_KERNEL 0x1f0
"""


def build(
    tmp_path: Path,
    arch: str,
    src: str,
    *,
    name: str = "mod",
    base: int | None = None,
    defsyms: dict[str, int] | None = None,
    regions: bool = False,
) -> tuple[MappedModule, dict[str, int]]:
    """Compile and link ``src`` at ``base``; return the module and its symbol table."""
    from elftools.elf.elffile import ELFFile

    base = BASE[arch] if base is None else base
    c, obj, elf = (tmp_path / f"{name}.{ext}" for ext in ("c", "o", "elf"))
    c.write_text(PRELUDE + src)
    subprocess.run(["gcc", *CFLAGS[arch], "-c", str(c), "-o", str(obj)], check=True)
    # every service stub, also those an i386 kernel does not export (its string functions
    # are inline there): these tests exercise the services themselves
    lay = services.kernel_map(arch)
    stubs = {n: lay.stub_base + services.SLOT * i for i, (n, _) in enumerate(services.FUNCTIONS)}
    syms = {**stubs, **kernel_exports(arch), **(defsyms or {})}
    cmd = ["ld", "-m", LDEMU[arch], "-N", "-nostdlib", f"-Ttext={base:#x}", "-e", "0"]
    cmd += ["--no-warn-rwx-segments"] if _ld_knows_rwx_flag() else []
    cmd += [f"--defsym={k}={v:#x}" for k, v in syms.items()]
    subprocess.run([*cmd, "-o", str(elf), str(obj)], check=True)
    with elf.open("rb") as f:
        ef = ELFFile(f)
        secs = [s for s in ef.iter_sections() if s["sh_flags"] & 2 and s["sh_size"]]  # SHF_ALLOC
        end = max(s["sh_addr"] + s["sh_size"] for s in secs)
        memory = bytearray(end - base)
        regs = []
        for s in secs:
            off = s["sh_addr"] - base
            if s["sh_type"] != "SHT_NOBITS":
                memory[off : off + s["sh_size"]] = s.data()
            kind = "text" if s["sh_flags"] & 4 else "data" if s["sh_flags"] & 1 else "rodata"
            regs.append(Region(s["sh_addr"], s["sh_size"], kind))
        table = {
            sym.name: sym["st_value"]
            for sym in ef.get_section_by_name(".symtab").iter_symbols()
            if sym.name and sym["st_shndx"] != "SHN_ABS" and sym["st_info"]["type"] != "STT_FILE"
        }
    mod = MappedModule(
        name=name,
        base=base,
        memory=memory,
        regions=tuple(regs) if regions else (),
        symbols=tuple((a, n) for n, a in table.items()),
    )
    return mod, table


_RWX: list[bool] = []


def _ld_knows_rwx_flag() -> bool:
    if not _RWX:
        out = subprocess.run(["ld", "--help"], capture_output=True, text=True).stdout
        _RWX.append("--no-warn-rwx-segments" in out)
    return _RWX[0]


def run(arch, mods, rt, entry, *args, **kw) -> int:
    return run_function(arch, mods if isinstance(mods, list) else [mods], rt, entry, args, **kw)


# ---------------------------------------------------------------- printk and services


@pytest.mark.parametrize("arch", ARCHES)
def test_printk_formats_arguments_from_the_stack_or_registers(tmp_path, arch):
    mod, sym = build(
        tmp_path,
        arch,
        r"""
        int init_module(void) {
            printk("<1>hello %s %d %u %x\n", "world", -42, 3000000000u, 0xbeef);
            printk("%5d|%-5d|%05d|%c|%%|%lu|%ld\n", 7, 7, -7, 'Z', 4000000000ul, -5l);
            printk(KERN_X "%s %s %s %s %s %s %d\n", "a", "b", "c", "d", "e", "f", 99);
            return 0;
        }
        """.replace("KERN_X ", '"<6>"'),
    )
    rt = KernelRuntime()
    assert run(arch, mod, rt, sym["init_module"]) == 0
    long_min5 = "4000000000|-5"
    assert rt.log == [
        "<1>hello world -42 3000000000 beef",
        f"<4>    7|7    |-0007|Z|%|{long_min5}",
        "<6>a b c d e f 99",
    ]


@pytest.mark.parametrize("arch", ARCHES)
def test_printk_pointer_is_zero_padded_to_the_word(tmp_path, arch):
    mod, sym = build(
        tmp_path, arch, r'int init_module(void) { printk("%p\n", (void *)0x1234); return 0; }'
    )
    rt = KernelRuntime()
    run(arch, mod, rt, sym["init_module"])
    assert rt.log == ["<4>" + "1234".rjust(by_name(arch).word_size * 2, "0")]


@pytest.mark.parametrize("arch", ARCHES)
def test_partial_printk_line_continues_and_unmapped_string_is_efault(tmp_path, arch):
    mod, sym = build(
        tmp_path,
        arch,
        r"""
        int init_module(void) {
            printk("<3>abc");
            printk("def %s\n", (char *)0x1000);
            printk("tail");
            return 0;
        }
        """,
    )
    rt = KernelRuntime()
    run(arch, mod, rt, sym["init_module"])
    assert rt.log == ["<3>abcdef (efault)"]
    assert rt.pending == "<4>tail"


@pytest.mark.parametrize("arch", ARCHES)
def test_kmalloc_memory_is_usable_and_survives_between_calls(tmp_path, arch):
    mod, sym = build(
        tmp_path,
        arch,
        r"""
        static char *buf;
        int init_module(void) {
            buf = kmalloc(100, GFP_KERNEL);
            if (!buf) return -12;
            sprintf(buf, "n=%d", 17);
            strcpy(buf + 10, "copied");
            printk("<6>%s %s %d\n", buf, buf + 10, (int)strlen(buf));
            return 0;
        }
        void cleanup_module(void) {
            printk("<6>still %s\n", buf);
            kfree(buf);
        }
        """,
    )
    rt = KernelRuntime()
    assert run(arch, mod, rt, sym["init_module"]) == 0
    assert rt.log == ["<6>n=17 copied 4"]
    assert len(rt.kmalloc) == 1 and len(next(iter(rt.kmalloc.values()))) == 128
    rt = KernelRuntime.from_blob(rt.to_blob())
    run(arch, mod, rt, sym["cleanup_module"])
    assert rt.log == ["<6>still n=17"]
    assert rt.kmalloc == {}


@pytest.mark.parametrize("arch", ARCHES)
def test_global_written_in_one_call_is_read_in_the_next(tmp_path, arch):
    mod, sym = build(
        tmp_path,
        arch,
        r"""
        int counter = 5;
        static unsigned long seen;
        int init_module(void) { counter *= 3; seen = jiffies; return counter; }
        int cleanup_module(void) { printk("%d %lu\n", counter, jiffies - seen); return 0; }
        """,
        regions=True,
    )
    rt = KernelRuntime()
    assert run(arch, mod, rt, sym["init_module"]) == 15
    memory = bytes(mod.memory)
    blob = rt.to_blob()
    # a later process: fresh objects built from the saved bytes
    mod2 = MappedModule(mod.name, mod.base, bytearray(memory), mod.regions, mod.symbols)
    rt2 = KernelRuntime.from_blob(blob)
    run(arch, mod2, rt2, sym["cleanup_module"])
    assert rt2.log == ["<4>15 1"]


@pytest.mark.parametrize("arch", ARCHES)
def test_arguments_and_negative_return(tmp_path, arch):
    mod, sym = build(
        tmp_path,
        arch,
        "int f(int a, int b, int c, int d, int e, int f, int g, int h)"
        " { return a - b + c - d + e - f + g - h - 100; }",
    )
    assert run(arch, mod, KernelRuntime(), sym["f"], 1, 2, 3, 4, 5, 6, 7, 8) == -104


@pytest.mark.parametrize("arch", ARCHES)
def test_register_chrdev_allocates_majors_downward_from_254(tmp_path, arch):
    mod, sym = build(
        tmp_path,
        arch,
        r"""
        static int fops[4];
        int init_module(void) {
            int a = register_chrdev(0, "dyn", fops);
            int b = register_chrdev(0, "dyn2", fops);
            int c = register_chrdev(10, "misc2", fops);
            int d = register_chrdev(42, "fixed", fops);
            printk("%d %d %d %d\n", a, b, c, d);
            return 0;
        }
        int cleanup_module(void) {
            return unregister_chrdev(254, "dyn") * 1000 + unregister_chrdev(254, "dyn");
        }
        """,
    )
    rt = KernelRuntime()
    run(arch, mod, rt, sym["init_module"])
    assert rt.log == ["<4>254 253 -16 0"]
    assert rt.chrdevs[254] == {"name": "dyn", "fops": sym["fops"], "module": "mod"}
    assert rt.chrdevs[42]["name"] == "fixed"
    assert run(arch, mod, rt, sym["cleanup_module"]) == -22
    assert 254 not in rt.chrdevs


@pytest.mark.parametrize("arch", ARCHES)
def test_one_module_calls_another(tmp_path, arch):
    lib, libsym = build(
        tmp_path,
        arch,
        r"""
        static int calls;
        int lib_twice(int x) { calls++; printk("<7>lib called %d\n", calls); return 2 * x; }
        """,
        name="lib",
    )
    user, usersym = build(
        tmp_path,
        arch,
        r"""
        int lib_twice(int x);
        int init_module(void) { printk("<6>got %d\n", lib_twice(21)); return 0; }
        """,
        name="user",
        base=BASE[arch] + 0x10000,
        defsyms={"lib_twice": libsym["lib_twice"]},
    )
    rt = KernelRuntime()
    run(arch, [lib, user], rt, usersym["init_module"])
    assert rt.log == ["<7>lib called 1", "<6>got 42"]


@pytest.mark.parametrize("arch", ARCHES)
def test_simple_strtol_parses_like_2_4(tmp_path, arch):
    mod, sym = build(
        tmp_path,
        arch,
        r"""
        long simple_strtol(const char *cp, char **endp, unsigned int base);
        unsigned long simple_strtoul(const char *cp, char **endp, unsigned int base);
        static const char *in[] = { "-0x1f,", "017", "42z", "ff", "" };
        int init_module(void) {
            char *end;
            int i;
            for (i = 0; i < 4; i++) {
                long v = simple_strtol(in[i], &end, 0);
                printk("%ld:%d ", v, (int)(end - in[i]));
            }
            printk("%lu\n", simple_strtoul(in[3], 0, 16));
            return 0;
        }
        """,
    )
    rt = KernelRuntime()
    run(arch, mod, rt, sym["init_module"])
    assert rt.log == ["<4>-31:5 15:3 42:2 0:0 255"]


# ---------------------------------------------------------------- oopses


@pytest.mark.parametrize("arch", ARCHES)
def test_null_dereference_oops_names_the_function(tmp_path, arch):
    mod, sym = build(
        tmp_path,
        arch,
        r"""
        int *volatile p;
        int init_module(void) { printk("<1>before\n"); return *p; }
        """,
    )
    rt = KernelRuntime()
    with pytest.raises(Oops) as exc:
        run(arch, mod, rt, sym["init_module"])
    msg = str(exc.value)
    assert msg.startswith("Oops: unable to handle kernel NULL pointer dereference at 0000")
    assert "<init_module+0x" in msg and "\n" not in msg
    assert rt.log == ["<1>before"]  # what was printed before the crash is kept


@pytest.mark.parametrize("arch", ARCHES)
def test_endless_loop_is_stopped_by_the_budget(tmp_path, arch):
    mod, sym = build(
        tmp_path, arch, 'int init_module(void) { for (;;) __asm__ volatile(""); return 0; }'
    )
    with pytest.raises(Oops, match=r"init_module did not return within 100000 instructions"):
        run(arch, mod, KernelRuntime(), sym["init_module"], budget=100_000)


@pytest.mark.parametrize("arch", ARCHES)
def test_write_to_text_faults_when_regions_are_given(tmp_path, arch):
    src = r"""
        int init_module(void) { *(volatile unsigned char *)init_module = 0x90; return 7; }
    """
    mod, sym = build(tmp_path, arch, src, regions=True)
    before = bytes(mod.memory)
    with pytest.raises(Oops, match=r"write to read-only text at .*<init_module\+0x"):
        run(arch, mod, KernelRuntime(), sym["init_module"])
    assert bytes(mod.memory) == before
    # without regions the module is rwx, as 2.4's vmalloc'ed modules were
    loose, sym = build(tmp_path, arch, src, name="loose")
    assert run(arch, loose, KernelRuntime(), sym["init_module"]) == 7


@pytest.mark.parametrize("arch", ARCHES)
def test_jump_into_data_faults_when_regions_are_given(tmp_path, arch):
    src = r"""
        unsigned char code[16] = { 0xc3 };
        int init_module(void) { ((void (*)(void))code)(); return 1; }
    """
    mod, sym = build(tmp_path, arch, src, regions=True)
    with pytest.raises(Oops, match=r"execute non-executable data .*from <init_module\+0x"):
        run(arch, mod, KernelRuntime(), sym["init_module"])


@pytest.mark.parametrize("arch", ARCHES)
def test_call_to_a_kernel_address_without_provider(tmp_path, arch):
    lay = by_name(arch).sim_kernel
    src = "void nothere(void); int init_module(void) { nothere(); return 0; }"
    # past the last stub, and between the native page and the data page (below the stubs
    # lies the direct map's ISA window, which is mapped)
    for target in (lay.stub_base + 0xFF0, lay.data_base - 0x10000):
        mod, sym = build(tmp_path, arch, src, defsyms={"nothere": target})
        with pytest.raises(Oops) as exc:
            run(arch, mod, KernelRuntime(), sym["init_module"])
        assert str(exc.value).startswith(
            f"Oops: call to unknown kernel address {lay.hex(target)} from <init_module+0x"
        )


@pytest.mark.parametrize("arch", ARCHES)
def test_double_kfree_and_invalid_opcode_oops(tmp_path, arch):
    mod, sym = build(
        tmp_path,
        arch,
        r"""
        int init_module(void) { void *p = kmalloc(8, 0); kfree(p); kfree(p); return 0; }
        int bug(void) { __asm__ volatile("ud2"); return 0; }
        """,
    )
    with pytest.raises(Oops, match=r"kfree of a pointer not from kmalloc .* <init_module\+0x"):
        run(arch, mod, KernelRuntime(), sym["init_module"])
    with pytest.raises(Oops, match=r"invalid opcode, [ER]IP [0-9a-f]+ <bug\+0x0>"):
        run(arch, mod, KernelRuntime(), sym["bug"])


@pytest.mark.parametrize("arch", ARCHES)
def test_panic_is_an_oops_with_its_message_logged(tmp_path, arch):
    mod, sym = build(tmp_path, arch, r'int init_module(void) { panic("bad %d", 3); return 0; }')
    rt = KernelRuntime()
    with pytest.raises(Oops, match=r"^Kernel panic: bad 3 \(called from <init_module\+0x"):
        run(arch, mod, rt, sym["init_module"])
    assert rt.log == ["<0>Kernel panic: bad 3"]


@pytest.mark.parametrize("arch", ARCHES)
def test_current_masks_the_stack_to_an_8k_task_struct(tmp_path, arch):
    mod, sym = build(
        tmp_path,
        arch,
        r"""
        int init_module(void) {
            unsigned long sp = (unsigned long)&sp;
            unsigned long *task = (unsigned long *)(sp & ~8191UL);
            return task[0] == 0 && sp - (unsigned long)task < 8192;
        }
        """,
    )
    assert run(arch, mod, KernelRuntime(), sym["init_module"]) == 1


def test_runtime_blob_rejects_garbage():
    for blob in (b"", b"KRT", b"KRTxyz", b"KRT" + __import__("zlib").compress(b"[1]")):
        with pytest.raises(ValueError):
            KernelRuntime.from_blob(blob)
    rt = KernelRuntime(arch="i386", kmalloc={0xC1000000: b"x" * 32}, jiffies=9, pending="<4>a")
    assert KernelRuntime.from_blob(rt.to_blob()) == rt
    bad = KernelRuntime(arch="i386", kmalloc={0x1000: b"x"})
    with pytest.raises(ValueError, match="bad heap block"):
        KernelRuntime.from_blob(bad.to_blob())


def test_kernel_exports_is_cheap_and_stable():
    ex = kernel_exports("i386")
    assert ex["printk"] == 0xC0100000 and ex["sprintf"] == 0xC0100010
    assert ex["jiffies"] == 0xC0200000
    assert kernel_exports("x86_64")["printk"] == 0xFFFFFFFF81000000
    with pytest.raises(ValueError):
        kernel_exports("sparc")


@pytest.mark.parametrize("arch", ARCHES)
def test_timeout_stops_a_loop_when_the_budget_is_off(tmp_path, arch):
    mod, sym = build(tmp_path, arch, "int init_module(void) { for (;;); return 0; }")
    t0 = time.perf_counter()
    with pytest.raises(Oops, match=r"init_module did not return within 0.2 seconds \(loop\?\)"):
        run(arch, mod, KernelRuntime(), sym["init_module"], budget=0, timeout=0.2)
    assert time.perf_counter() - t0 < 2


@pytest.mark.parametrize("arch", ARCHES)
def test_null_function_pointer_call_names_the_caller(tmp_path, arch):
    mod, sym = build(
        tmp_path, arch, "void (*volatile fp)(void); int init_module(void) { fp(); return 0; }"
    )
    with pytest.raises(
        Oops, match=r"NULL pointer dereference at 0+, [ER]IP 0+ \(called from <init"
    ):
        run(arch, mod, KernelRuntime(), sym["init_module"])


@pytest.mark.parametrize("arch", ARCHES)
def test_service_writing_into_text_is_an_oops(tmp_path, arch):
    src = "int init_module(void) { memset((void *)init_module, 0, 4); return 0; }"
    mod, sym = build(tmp_path, arch, src, regions=True)
    with pytest.raises(Oops, match=r"write to read-only text at"):
        run(arch, mod, KernelRuntime(), sym["init_module"])


@pytest.mark.parametrize("arch", ARCHES)
def test_vsprintf_from_a_module_varargs_function_and_long_long(tmp_path, arch):
    mod, sym = build(
        tmp_path,
        arch,
        r"""
        int vsprintf(char *buf, const char *fmt, __builtin_va_list ap);
        static char out[128];
        static int say(const char *fmt, ...) {
            __builtin_va_list ap;
            int n;
            __builtin_va_start(ap, fmt);
            n = vsprintf(out, fmt, ap);
            __builtin_va_end(ap);
            return n;
        }
        int init_module(void) {
            int n = say("%d-%s-%x-%d-%d-%d-%d-%d", 1, "two", 3, 4, 5, 6, 7, 8);
            printk("%s (%d) %lld %llu\n", out, n, -5ll, 1ull << 40);
            return 0;
        }
        """,
    )
    rt = KernelRuntime()
    run(arch, mod, rt, sym["init_module"])
    assert rt.log == ["<4>1-two-3-4-5-6-7-8 (17) -5 1099511627776"]


# ---------------------------------------------------------------- cost


def _instructions(arch, mod, fn, n) -> int:
    """Exact instruction count of fn(n), by bisecting the budget."""
    lo, hi = 1, 1 << 24
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            run(arch, mod, KernelRuntime(), fn, n, budget=mid)
            hi = mid
        except Oops:
            lo = mid + 1
    return lo


@pytest.mark.parametrize("arch", ARCHES)
def test_cost_of_a_tiny_init_and_of_a_loop(tmp_path, arch, capsys):
    mod, sym = build(
        tmp_path,
        arch,
        r"""
        int init_module(void) { printk("<6>hi\n"); return 0; }
        int loop(int n) {
            int acc = 0;
            for (int i = 0; i < n; i++) acc += i ^ (acc >> 3);
            return acc;
        }
        int mem(int n) {
            volatile int acc = 0;
            for (int i = 0; i < n; i++) acc += i ^ (acc >> 3);
            return acc;
        }
        """,
        regions=True,
    )
    rt = KernelRuntime()
    run(arch, mod, rt, sym["init_module"])  # warm: import unicorn
    t0 = time.perf_counter()
    for _ in range(20):
        run(arch, mod, rt, sym["init_module"])
    tiny = (time.perf_counter() - t0) / 20
    rates = []
    for fn in ("loop", "mem"):
        per = _instructions(arch, mod, sym[fn], 2000) - _instructions(arch, mod, sym[fn], 1000)
        per /= 1000
        for budget in (50_000_000, 0):
            # A rate, not a limit: the generous timeout keeps a loaded machine from failing it.
            n = 5_000_000
            t0 = time.perf_counter()
            run(arch, mod, rt, sym[fn], n, budget=budget, timeout=120.0)
            rate = n * per / (time.perf_counter() - t0) / 1e6
            rates.append(
                f"{fn} ({per:g} insn/iter) {'counted' if budget else 'uncounted'}: "
                f"{rate:.0f} M insn/s"
            )
    with capsys.disabled():
        print(f"\n[{arch}] tiny init {tiny * 1e3:.2f} ms; " + "; ".join(rates))
    assert tiny < 0.5


# ---------------------------------------------------------------- one engine per process

# What a call leaves behind when it crashes: callee-saved registers and the direction
# flag set, freed kmalloc and vmalloc memory (and a little past the block) and the task
# stack full of a pattern.
DIRTY_ENTRY = {
    "i386": """
        dirty_entry: call dirty_body
        mov $0x11111111, %ebx; mov $0x22222222, %esi; mov $0x33333333, %edi
        mov $0x44444444, %ebp; std; xor %eax, %eax; mov (%eax), %eax
    """,
    "x86_64": """
        dirty_entry: call dirty_body
        movabs $0x1111111111111111, %rbx; movabs $0x2222222222222222, %rbp
        movabs $0x3333333333333333, %r12; movabs $0x4444444444444444, %r15
        std; xor %eax, %eax; mov (%rax), %rax
    """,
}
DIRTY_BODY = r"""
    void dirty_body(void) {
        volatile unsigned char stack[2048];
        for (int i = 0; i < 2048; i++) stack[i] = 0x55;
        unsigned char *k = kmalloc(64, GFP_KERNEL);
        memset(k, 0xaa, 256);  /* past its block, as a buggy module would */
        kfree(k);
        unsigned char *v = vmalloc(8192);
        memset(v, 0xbb, 8192);
        vfree(v);
        printk("<6>dirty: about to crash\n");
    }
"""
# What a call sees that it did not set: those registers and flags on entry, the
# stack below its frame, fresh kmalloc and vmalloc memory beyond what it allocated.
PROBE_ENTRY = {
    "i386": """
        probe_entry: mov %ebx, seen; mov %esi, seen+4; mov %edi, seen+8; mov %ebp, seen+12
        pushf; pop %eax; mov %eax, seen+16; jmp probe_body
    """,
    "x86_64": """
        probe_entry: mov %rbx, seen(%rip); mov %rbp, seen+8(%rip); mov %r12, seen+16(%rip)
        mov %r15, seen+24(%rip); pushf; pop %rax; mov %rax, seen+32(%rip); jmp probe_body
    """,
}
PROBE_BODY = r"""
    unsigned long seen[5];
    static unsigned long hash(const volatile unsigned char *p, int n) {
        unsigned long h = 0;
        for (int i = 0; i < n; i++) h = h * 31 + p[i];
        return h;
    }
    int probe_body(void) {
        volatile unsigned char stack[1024];  /* never written: what the stack held */
        unsigned char *k = kmalloc(64, GFP_KERNEL);
        unsigned char *v = vmalloc(4096);
        printk("<6>probe: %lx %lx %lx %lx %lx stack %lx kmalloc %lx vmalloc %lx\n",
               seen[0], seen[1], seen[2], seen[3], seen[4], hash(stack, 1024),
               hash(k, 256), hash(v, 8192));
        return 42;
    }
"""
PROBE_RUN = r"""
import json, sys
from insmod_py.backends.base import Region
from insmod_py.backends.sim.machine import KernelRuntime, MappedModule, run_function
arch, base, entry, regions, memory = json.loads(sys.stdin.read())
mod = MappedModule("probe", base, bytearray.fromhex(memory), tuple(Region(*r) for r in regions))
rt = KernelRuntime()
ret = run_function(arch, [mod], rt, entry)
print(json.dumps([ret, rt.log, mod.memory.hex(), {str(a): d.hex() for a, d in rt.kmalloc.items()}]))
"""


def _module_with_entry(tmp_path, arch, name, entry_asm, body):
    src = f'__asm__(".text\\n.globl {name}_entry\\n" {json.dumps(entry_asm)});\n{body}'
    return build(tmp_path, arch, src, name=name, regions=True)


@pytest.mark.parametrize("arch", ARCHES)
def test_an_oops_leaves_nothing_for_the_next_call_to_see(tmp_path, arch):
    """The engine is reused call after call: after a call that crashed with registers,
    flags, stack and heap dirty, a module at the same address (its code translated
    afresh) sees exactly what it sees in a new process."""
    dirty, dsym = _module_with_entry(tmp_path, arch, "dirty", DIRTY_ENTRY[arch], DIRTY_BODY)
    probe, psym = _module_with_entry(tmp_path, arch, "probe", PROBE_ENTRY[arch], PROBE_BODY)
    pristine = bytes(probe.memory)
    with pytest.raises(Oops, match="NULL pointer dereference"):
        run(arch, dirty, KernelRuntime(), dsym["dirty_entry"])
    rt = KernelRuntime()
    ret = run(arch, probe, rt, psym["probe_entry"])
    here = [ret, rt.log, probe.memory.hex(), {str(a): d.hex() for a, d in rt.kmalloc.items()}]
    regions = [[r.start, r.size, r.kind] for r in probe.regions]
    job = [arch, probe.base, psym["probe_entry"], regions, pristine.hex()]
    fresh = subprocess.run(
        [sys.executable, "-c", PROBE_RUN], input=json.dumps(job), capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    assert here == json.loads(fresh.stdout)
    assert ret == 42 and rt.log[0].startswith("<6>probe: 0 0 0 0 ")


def test_one_engine_serves_every_call_of_a_process(tmp_path):
    """Calls, an oops among them, and run_kernel share the engine built for the machine."""
    mod, sym = build(tmp_path, "i386", r"int init_module(void) { return 7; }")
    crash, csym = build(tmp_path, "i386", "int *volatile p; int f(void) { return *p; }",
                        name="crash")  # fmt: skip
    code = r"""
import json, sys
from insmod_py.backends.base import Region
from insmod_py.backends.sim.machine import (
    KernelRuntime, MappedModule, Oops, engine_stats, run_function, run_kernel)
jobs = json.loads(sys.stdin.read())
mods = [MappedModule(n, b, bytearray.fromhex(m)) for n, b, m, _ in jobs]
rt = KernelRuntime()
out = []
for _ in range(3):
    out.append(run_function("i386", [mods[0]], rt, jobs[0][3]))
    try:
        run_function("i386", [mods[1]], rt, jobs[1][3])
    except Oops:
        out.append("oops")
out.append(run_kernel("i386", [mods[0]], rt, lambda ctx: ctx.call(jobs[0][3])))
stats = engine_stats()
print(json.dumps([stats.built, stats.calls, out]))
"""
    jobs = [["mod", mod.base, mod.memory.hex(), sym["init_module"]],
            ["crash", crash.base, crash.memory.hex(), csym["f"]]]  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], input=json.dumps(jobs),
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert json.loads(proc.stdout) == [1, 7, [7, "oops"] * 3 + [7]]
