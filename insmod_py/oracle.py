"""GNU ld as the oracle: link the same object at the addresses we chose, compare bytes.

What ld would do on its own, and how each is neutralised so the comparison
is like with like:

* section placement: a linker script gives every SHF_ALLOC input section that
  we placed its own output section at exactly the address of our layout, and
  ``/DISCARD/`` takes everything else (.comment, .note.GNU-stack, .modinfo,
  debug info);
* special handling by name (.eh_frame is parsed and rewritten, build-id notes
  are dropped, .note.gnu.property is merged, .gnu.linkonce.* is COMDAT): ld
  gets a copy of the object in which every ALLOC section's name loses its
  first character (``sh_name + 1``), so ld treats each as an ordinary section;
* SHF_MERGE string/constant sections (.rodata.str1.*, .rodata.cst*,
  __ksymtab_strings) are deduplicated by ld but copied verbatim by a kernel:
  the copy has SHF_MERGE|SHF_STRINGS cleared;
* symbols from outside the object (kernel and other modules' exports,
  ``__this_module``/``__module_name``/``__module_args`` when undefined),
  COMMON symbols and weak definitions overridden by the kernel are defined
  in the script as ``name = value;`` with the values our resolver chose: ld
  then checks that each relocation computes the same bytes from the same
  symbol values.  (COMMON placement itself is checked separately.)
* empty sections vanish from ld's output and are not compared; the
  loader-made header, .kmodtab and strings are not ld's business either.
  Every other non-empty, non-NOBITS ALLOC section is compared byte for byte;
* a prelinked object's ``struct module_new`` (new path): the loader adds the
  module's dependencies (``ndeps``, ``deps``) and the autoclean flag at load
  time, as Zippel's design has it, so those fields are taken from our image
  and every other byte of ``.module_initdata`` is ld's to match.
"""

from __future__ import annotations

import re
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .elf import ElfObject
from .elf import constants as C
from .loader import LinkedModule

LD_FLAGS = [
    "-static", "-N", "--no-pie", "-e", "0", "--build-id=none", "-z", "norelro",
    "--no-warn-rwx-segments",
]  # fmt: skip
# Names ld's script lexer reads literally; anything else is quoted ("..."), which
# also stops ld from reading * ? [ ] in a section name as a wildcard.
_PLAIN_NAME = re.compile(r"[A-Za-z_.$][A-Za-z0-9_.$]*")


class OracleError(Exception):
    """ld could not link the object (the comparison did not happen)."""


@dataclass
class OracleResult:
    compared: list[str]  # section names compared byte for byte
    differing: list[str]  # section names whose bytes differ (empty on success)


def _quote(name: str) -> str:
    if _PLAIN_NAME.fullmatch(name):
        return name
    if '"' in name or "\n" in name:
        raise OracleError(f"name {name!r} cannot be written in a linker script")
    return f'"{name}"'


def oracle_copy(obj: ElfObject) -> bytes:
    """The object with ALLOC section names shifted by one byte and SHF_MERGE cleared."""
    data = bytearray(obj.data)
    shoff, shsize = obj.section_header_table
    flag_fmt = "<" + obj.arch.word_format  # sh_flags is a word
    for sec in obj.sections:
        if not sec.alloc:
            continue
        at = shoff + sec.index * shsize
        struct.pack_into("<I", data, at, sec.name and struct.unpack_from("<I", data, at)[0] + 1)
        struct.pack_into(flag_fmt, data, at + 8, sec.flags & ~(C.SHF_MERGE | C.SHF_STRINGS))
    return bytes(data)


def linker_script(obj: ElfObject, linked: LinkedModule) -> str:
    """One output section per placed section at our address; our values for outside symbols."""
    lines = ["SECTIONS", "{"]
    seen: set[str] = set()
    for piece in linked.layout.pieces:
        if piece.index < 0:
            continue  # empty sections too: symbols like __syms_start live in them
        name = obj.sections[piece.index].name[1:]
        if name in seen:  # the script selects input sections by name only
            raise OracleError(f"section name {name!r} twice: the script cannot tell them apart")
        seen.add(name)
        addr = linked.base + piece.offset
        lines.append(f"  o{piece.index} {addr:#x} : {{ KEEP(*({_quote(name)})) }}")
    lines.append("  /DISCARD/ : { *(*) }")
    lines.append("}")
    defined: set[str] = set()
    for sym in obj.symbols[1:]:
        external = sym.shndx in (C.SHN_UNDEF, C.SHN_COMMON) or sym.bind == C.STB_WEAK
        if not (sym.name and sym.bind != C.STB_LOCAL and external) or sym.name in defined:
            continue
        if sym.name in linked.symbols:
            defined.add(sym.name)
            lines.append(f"{_quote(sym.name)} = {linked.symbols[sym.name]:#x};")
    return "\n".join(lines) + "\n"


def run_ld(obj: ElfObject, linked: LinkedModule, workdir: Path) -> Path:
    """Link the oracle copy with the oracle script; returns ld's output file."""
    copy = workdir / "oracle-input.o"
    script = workdir / "oracle.lds"
    out = workdir / "oracle-output"
    copy.write_bytes(oracle_copy(obj))
    script.write_text(linker_script(obj, linked))
    cmd = ["ld", "-m", obj.arch.ld_emulation, *LD_FLAGS, "-T", str(script), "-o", str(out)]
    proc = subprocess.run([*cmd, str(copy)], capture_output=True, text=True)
    if proc.returncode != 0:
        first = proc.stderr.strip().splitlines()[:3]
        raise OracleError("ld failed: " + " | ".join(first))
    return out


def compare_with_ld(obj: ElfObject, linked: LinkedModule, workdir: Path) -> OracleResult:
    """Link with GNU ld at our addresses and compare every non-empty ALLOC section."""
    from elftools.elf.elffile import ELFFile

    out = run_ld(obj, linked, workdir)
    compared, differing = [], []
    with out.open("rb") as fh:
        elf = ELFFile(fh)
        for piece in linked.layout.pieces:
            if piece.index < 0 or piece.size == 0 or piece.nobits:
                continue
            name = obj.sections[piece.index].name
            section = elf.get_section_by_name(f"o{piece.index}")
            if section is None:
                raise OracleError(f"ld dropped {name}")
            if section["sh_addr"] != linked.base + piece.offset:
                raise OracleError(f"ld placed {name} at {section['sh_addr']:#x}")
            ours = linked.image[piece.offset : piece.offset + piece.size]
            theirs = section.data()
            if linked.header == "new" and piece.offset == 0:
                theirs = _with_loader_fields(theirs, ours, obj.word_size)
            compared.append(name)
            if theirs != ours:
                differing.append(name)
    return OracleResult(compared, differing)


# struct module_new members the loader writes at load time (not in the object)
LOADER_FIELDS = ("ndeps", "deps", "flags")


def _with_loader_fields(theirs: bytes, ours: bytes | bytearray, word_size: int) -> bytes:
    """ld's ``struct module_new`` bytes with the loader's own fields taken from ours."""
    from . import modstruct

    out = bytearray(theirs)
    table = modstruct.layout(word_size, "module")
    for name in LOADER_FIELDS:
        f = table.field(name)
        out[f.offset : f.offset + f.size] = ours[f.offset : f.offset + f.size]
    return bytes(out)
