"""Test helpers: build tiny objects with gcc and damage their ELF bytes on purpose.

The mutators parse the ELF layout themselves with ``struct`` (not with the
reader under test), so a test can say "set sh_link of .symtab to 99" and the
reader sees exactly that one change.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from insmod_py import arch
from insmod_py.arch import Machine

I386_CFLAGS = ["-m32", "-O2", "-fno-pic", "-ffreestanding", "-fno-common"]
X86_64_SMALL_CFLAGS = [
    "-m64",
    "-O2",
    "-mcmodel=small",
    "-fno-pic",
    "-ffreestanding",
    "-fno-asynchronous-unwind-tables",
    "-mno-red-zone",
    "-fno-common",
]
X86_64_KERNEL_CFLAGS = [
    f if f != "-mcmodel=small" else "-mcmodel=kernel" for f in X86_64_SMALL_CFLAGS
]

SIMPLE_MODULE = r"""
extern int printk(const char *fmt, ...);
int counter = 3;
int zeroed;
static int table[16];
int init_module(void) { return printk("hello %d\n", counter + zeroed + table[3]); }
void cleanup_module(void) { printk("bye\n"); }
"""

# What <linux/module.h> puts in every 2.4 module: insmod refuses a module without it.
KERNEL_VERSION = (
    'static const char __module_kernel_version[] __attribute__((section(".modinfo"), used)) =\n'
    '    "kernel_version=2.4.20";\n'
)

KSYMS = "c0100000 printk\n"


@dataclass(frozen=True)
class Target:
    """What an arch-parametrised test needs to know about one machine: the product's
    :class:`Machine` plus the flags the tests build with and the kernel's ``_text``.

    ``module_base`` is where the simulated kernel's ``create_module`` puts the first
    module (vmalloc on i386, the module area on x86_64); ``kernel_text`` is the
    kernel's ``_text``, so kernel symbols are ``kernel_text + offset``.
    """

    arch: Machine
    cflags: tuple[str, ...]
    kernel_text: int
    startup: str  # the kernel entry symbol System.map shows at _text

    @property
    def name(self) -> str:
        return self.arch.name

    @property
    def machine(self) -> int:  # e_machine
        return self.arch.e_machine

    @property
    def word(self) -> int:  # pointer size in bytes
        return self.arch.word_size

    @property
    def rela(self) -> bool:  # SHT_RELA (addend in r_addend), not SHT_REL (in the word)
        return self.arch.rela

    @property
    def module_base(self) -> int:
        return self.arch.sim_kernel.module_area[0]

    def kernel(self, offset: int) -> int:
        return self.kernel_text + offset

    def module(self, offset: int) -> int:
        return self.module_base + offset

    def hex(self, address: int) -> str:
        """An address as /proc/ksyms, /proc/kallsyms and System.map print it (zero-padded)."""
        return f"{address:0{2 * self.word}x}"

    @property
    def word_format(self) -> str:
        return "<" + self.arch.word_format

    def flags(self, *, common: bool = False) -> list[str]:
        """The compile flags; ``common`` swaps -fno-common for -fcommon (COMMON symbols)."""
        if not common:
            return list(self.cflags)
        return [f if f != "-fno-common" else "-fcommon" for f in self.cflags]


I386 = Target(arch.I386, tuple(I386_CFLAGS), 0xC0100000, "startup_32")
X86_64 = Target(arch.X86_64, tuple(X86_64_KERNEL_CFLAGS), 0xFFFFFFFF81000000, "startup_64")
TARGETS = (I386, X86_64)
BY_NAME = {t.name: t for t in TARGETS}
#: arch name -> where the simulated kernel puts the first module.
MODULE_BASES = {t.name: t.module_base for t in TARGETS}


def compile_c(
    tmp_path: Path,
    source: str,
    name: str = "mod",
    flags: list[str] | None = None,
    suffix: str = ".c",
) -> Path:
    """Compile ``source`` (C, or assembler with ``suffix=".s"``) to ``tmp_path/name.o``.

    The test is skipped if gcc is missing or cannot target the machine.
    """
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    src = tmp_path / f"{name}{suffix}"
    out = tmp_path / f"{name}.o"
    src.write_text(source)
    cmd = ["gcc", *(flags or I386_CFLAGS), "-c", str(src), "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        if "-m32" in cmd and ("bits/" in proc.stderr or "gnu/stubs" in proc.stderr):
            pytest.skip("gcc cannot build -m32 objects here")
        raise AssertionError(f"gcc failed: {' '.join(cmd)}\n{proc.stderr}")
    return out


# -- ELF field tables: name -> (offset, struct code), per class ---------------------------
_EHDR = {
    32: {"e_type": (16, "H"), "e_machine": (18, "H"), "e_version": (20, "I"),
         "e_shoff": (32, "I"), "e_shentsize": (46, "H"), "e_shnum": (48, "H"),
         "e_shstrndx": (50, "H")},
    64: {"e_type": (16, "H"), "e_machine": (18, "H"), "e_version": (20, "I"),
         "e_shoff": (40, "Q"), "e_shentsize": (58, "H"), "e_shnum": (60, "H"),
         "e_shstrndx": (62, "H")},
}  # fmt: skip
_SHDR = {
    32: {"sh_name": (0, "I"), "sh_type": (4, "I"), "sh_flags": (8, "I"), "sh_addr": (12, "I"),
         "sh_offset": (16, "I"), "sh_size": (20, "I"), "sh_link": (24, "I"),
         "sh_info": (28, "I"), "sh_addralign": (32, "I"), "sh_entsize": (36, "I")},
    64: {"sh_name": (0, "I"), "sh_type": (4, "I"), "sh_flags": (8, "Q"), "sh_addr": (16, "Q"),
         "sh_offset": (24, "Q"), "sh_size": (32, "Q"), "sh_link": (40, "I"),
         "sh_info": (44, "I"), "sh_addralign": (48, "Q"), "sh_entsize": (56, "Q")},
}  # fmt: skip
_SHDR_SIZE = {32: 40, 64: 64}
_SYM = {
    32: {"st_name": (0, "I"), "st_value": (4, "I"), "st_size": (8, "I"), "st_info": (12, "B"),
         "st_shndx": (14, "H")},
    64: {"st_name": (0, "I"), "st_info": (4, "B"), "st_shndx": (6, "H"), "st_value": (8, "Q"),
         "st_size": (16, "Q")},
}  # fmt: skip
_SYM_SIZE = {32: 16, 64: 24}
# (bits, rela) -> fields; r_info is split by the caller
_REL = {
    32: {"r_offset": (0, "I"), "r_info": (4, "I"), "r_addend": (8, "i")},
    64: {"r_offset": (0, "Q"), "r_info": (8, "Q"), "r_addend": (16, "q")},
}


def bits(data: bytes) -> int:
    return 64 if data[4] == 2 else 32


def _get(data: bytes, base: int, table: dict[str, tuple[int, str]], field: str) -> int:
    off, code = table[field]
    return struct.unpack_from("<" + code, data, base + off)[0]


def _put(
    data: bytes, base: int, table: dict[str, tuple[int, str]], field: str, value: int
) -> bytes:
    off, code = table[field]
    out = bytearray(data)
    struct.pack_into("<" + code, out, base + off, value)
    return bytes(out)


def ehdr(data: bytes, field: str) -> int:
    return _get(data, 0, _EHDR[bits(data)], field)


def patch_ehdr(data: bytes, field: str, value: int) -> bytes:
    return _put(data, 0, _EHDR[bits(data)], field, value)


def _shdr_base(data: bytes, index: int) -> int:
    return ehdr(data, "e_shoff") + index * _SHDR_SIZE[bits(data)]


def shdr(data: bytes, index: int, field: str) -> int:
    return _get(data, _shdr_base(data, index), _SHDR[bits(data)], field)


def patch_shdr(data: bytes, index: int, field: str, value: int) -> bytes:
    return _put(data, _shdr_base(data, index), _SHDR[bits(data)], field, value)


def _cstring(data: bytes, start: int) -> str:
    """The NUL-terminated string at ``start`` (``data`` may be an mmap: no .index)."""
    end = data.find(b"\0", start)
    if end < 0:
        raise ValueError(f"no NUL after offset {start:#x}")
    return data[start:end].decode()


def section_names(data: bytes) -> list[str]:
    strndx = ehdr(data, "e_shstrndx")
    off = shdr(data, strndx, "sh_offset")
    return [_cstring(data, off + shdr(data, i, "sh_name")) for i in range(ehdr(data, "e_shnum"))]


def section_index(data: bytes, name: str) -> int:
    return section_names(data).index(name)


def section_bytes(data: bytes, name: str) -> bytes:
    i = section_index(data, name)
    off = shdr(data, i, "sh_offset")
    return data[off : off + shdr(data, i, "sh_size")]


def symtab_index(data: bytes) -> int:
    return next(i for i in range(ehdr(data, "e_shnum")) if shdr(data, i, "sh_type") == 2)


def symbol_index(data: bytes, name: str) -> int:
    """Index of the named symbol in .symtab."""
    st = symtab_index(data)
    strtab_off = shdr(data, shdr(data, st, "sh_link"), "sh_offset")
    size = _SYM_SIZE[bits(data)]
    for i in range(shdr(data, st, "sh_size") // size):
        if _cstring(data, strtab_off + sym(data, i, "st_name")) == name:
            return i
    raise KeyError(name)


def _sym_base(data: bytes, index: int) -> int:
    return shdr(data, symtab_index(data), "sh_offset") + index * _SYM_SIZE[bits(data)]


def sym(data: bytes, index: int, field: str) -> int:
    return _get(data, _sym_base(data, index), _SYM[bits(data)], field)


def patch_sym(data: bytes, index: int, field: str, value: int) -> bytes:
    return _put(data, _sym_base(data, index), _SYM[bits(data)], field, value)


def _rel_base(data: bytes, section: str, entry: int) -> int:
    i = section_index(data, section)
    return shdr(data, i, "sh_offset") + entry * shdr(data, i, "sh_entsize")


def rel(data: bytes, section: str, entry: int, field: str) -> int:
    return _get(data, _rel_base(data, section, entry), _REL[bits(data)], field)


def patch_rel(data: bytes, section: str, entry: int, field: str, value: int) -> bytes:
    return _put(data, _rel_base(data, section, entry), _REL[bits(data)], field, value)


def rel_info(data: bytes, symbol: int, rtype: int) -> int:
    return (symbol << 32 | rtype) if bits(data) == 64 else (symbol << 8 | rtype)


def rel_sym(data: bytes, info: int) -> int:
    return info >> 32 if bits(data) == 64 else info >> 8


def rel_type(data: bytes, info: int) -> int:
    return info & 0xFFFFFFFF if bits(data) == 64 else info & 0xFF


def truncate(data: bytes, length: int) -> bytes:
    return data[:length]


def table_first(data: bytes) -> bytes:
    """The same object with its section header table moved right after the ELF header.

    gcc puts the table at the end, so cutting the file anywhere cuts the table
    first; with the table in front, a cut can land inside a section's data.
    """
    ehsize = 52 if bits(data) == 32 else 64
    shoff = ehdr(data, "e_shoff")
    table_size = ehdr(data, "e_shnum") * _SHDR_SIZE[bits(data)]
    table = data[shoff : shoff + table_size]
    out = patch_ehdr(data[:ehsize] + table + data[ehsize:shoff], "e_shoff", ehsize)
    for i in range(1, ehdr(out, "e_shnum")):
        offset = shdr(out, i, "sh_offset")
        if offset >= ehsize:
            out = patch_shdr(out, i, "sh_offset", offset + table_size)
    return out
