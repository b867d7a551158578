"""Prelink a module the way Zippel did: ``ld -r MOD.o kernel_stub/module.o -T lds/modules.lds``.

The result is still a relocatable object, now carrying its own ``struct module_new``
header in ``.module_initdata`` (the first allocated section, offset 0 of the image).
GNU ld does the linking; this module picks the emulation from the ELF header, supplies
the stub object and the script, and writes the output atomically.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from . import toolchain
from .arch import NAMES, by_e_machine, by_name
from .errors import ElfError, LoadError

_ELF_MAGIC = b"\x7fELF"
_ET_REL = 1
_HEADER_BYTES = 20  # e_ident (16), e_type (2), e_machine (2)


def default_output(module: str) -> str:
    """``hello.o`` -> ``hello.pre.o``; a name without ``.o`` gets ``.pre.o`` appended."""
    return module[:-2] + ".pre.o" if module.endswith(".o") else module + ".pre.o"


def _arch_of(header: bytes, file: str) -> str:
    """The arch of a relocatable ELF header, or ElfError naming what is wrong."""
    if len(header) < _HEADER_BYTES or not header.startswith(_ELF_MAGIC):
        raise ElfError("not an ELF file", file=file)
    order = {1: "little", 2: "big"}.get(header[5])
    if order is None:
        raise ElfError(f"bad ELF data encoding {header[5]}", file=file)
    e_type = int.from_bytes(header[16:18], order)
    e_machine = int.from_bytes(header[18:20], order)
    machine = by_e_machine(e_machine)
    if machine is None:
        raise ElfError(
            f"unsupported machine {e_machine} (prelink knows {' and '.join(NAMES)})", file=file
        )
    if header[4] != machine.elf_class or order != "little":
        raise ElfError(f"ELF class/encoding does not match machine {machine.name}", file=file)
    if e_type != _ET_REL:
        raise ElfError(f"not a relocatable object (ELF type {e_type})", file=file)
    return machine.name


def _read_header(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(_HEADER_BYTES)
    except OSError as exc:
        raise LoadError(f"cannot read: {exc.strerror}", file=path) from None


def _ld_error(stderr: str, ld_names: tuple[str, ...]) -> str:
    """ld's first error line (warnings skipped), without its program-name prefix."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    first = next((ln for ln in lines if "warning:" not in ln), lines[0] if lines else "")
    for name in ld_names:
        if first.startswith(name + ": "):
            first = first[len(name) + 2 :]
            break
    if "multiple definition of `__module_initdata'" in first:
        return "already prelinked (it defines __module_initdata)"
    return f"ld failed: {first}" if first else "ld failed"


def prelink(obj_path: str, out_path: str, *, ld: str = "ld") -> None:
    """Link ``obj_path`` with the module header stub into ``out_path`` (an ET_REL object).

    Raises :class:`LoadError` (``ElfError`` for a bad input) with one line of reason; on
    any failure no output file and no temporary file remain.
    """
    arch = _arch_of(_read_header(obj_path), obj_path)
    ld_exe = shutil.which(ld)
    if ld_exe is None:
        raise LoadError("ld not found: install binutils (apt-get install binutils)", file=obj_path)
    stub = toolchain.stub_object(arch)

    out = Path(out_path)
    if not out.parent.is_dir():
        raise LoadError("cannot write: no such directory", file=out_path)
    # ld creates this itself (with the umask's mode); the random part keeps concurrent
    # prelinks of the same output apart.
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.tmp")
    cmd = [ld_exe, "-m", by_name(arch).ld_emulation, "-r", obj_path, str(stub)]
    cmd += ["-T", str(toolchain.LDS), "-o", str(tmp)]
    try:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise LoadError(f"cannot run {ld}: {exc.strerror}", file=obj_path) from None
        if proc.returncode != 0:
            names = (ld_exe, ld, os.path.basename(ld_exe))
            raise LoadError(_ld_error(proc.stderr, names), file=obj_path)
        try:
            header = _read_header(str(tmp))
            if _arch_of(header, str(tmp)) != arch:
                raise ElfError("ld changed the machine")
        except LoadError as exc:
            raise LoadError(f"ld produced a bad object: {exc.reason}", file=obj_path) from None
        try:
            os.replace(tmp, out)
        except OSError as exc:
            raise LoadError(f"cannot write: {exc.strerror}", file=out_path) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
