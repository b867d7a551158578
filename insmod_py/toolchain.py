"""The C toolchain for modules: repo paths, the common gcc flags and variants, the stub object.

Per-machine flags and the ld emulation are fields of ``arch.Machine``.

This is the one place the gcc flags are written for Python; ``mk/modules.mk`` spells the
same lists for make (make must work without the venv) and
``tests/test_examples_build.py`` checks that the two agree.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from .arch import by_name
from .errors import LoadError

REPO_ROOT = Path(__file__).resolve().parents[1]
KERNEL_STUB = REPO_ROOT / "kernel_stub"
INCLUDE_DIR = KERNEL_STUB / "include"
STUB_SOURCE = KERNEL_STUB / "module.c"
LDS = REPO_ROOT / "lds" / "modules.lds"
BUILD_DIR = REPO_ROOT / "build"

# Flags for every module object, both arches.  Beyond the 2.4 basics (-O2, no PIC,
# freestanding, -fno-common, the kernel headers only, __KERNEL__/MODULE):
#   -fno-pie            Debian's gcc defaults to PIE; a 2.4 module is absolute code
#                       (R_386_32/PC32 only, no GOT).
#   -fno-stack-protector  the canary needs __stack_chk_fail and a %gs/%fs guard that a
#                       2.4 kernel does not have.
#   -fcf-protection=none  Debian's gcc defaults to CET: endbr instructions plus a
#                       .note.gnu.property per object, neither known to 2.4.
#   -fno-asynchronous-unwind-tables  no .eh_frame: 2.4 has no unwinder and its modules
#                       had none (the "eh" variant keeps it, as an oracle stress).
#   -fno-strict-aliasing  as the 2.4 Makefile.
#   -fno-delete-null-pointer-checks  a NULL dereference stays a real load (an oops),
#                       not a ud2 trap; Linux has used it since 2009.
#   -fno-ipa-reference-addressable  insmod writes MODULE_PARM variables behind the
#                       compiler's back; without this gcc folds a static parameter the
#                       module only reads into a constant and drops its symbol.
COMMON_CFLAGS: tuple[str, ...] = (
    "-O2",
    "-fno-pic",
    "-fno-pie",
    "-ffreestanding",
    "-fno-common",
    "-nostdinc",
    "-D__KERNEL__",
    "-DMODULE",
    "-fno-strict-aliasing",
    "-fno-stack-protector",
    "-fcf-protection=none",
    "-fno-asynchronous-unwind-tables",
    "-fno-delete-null-pointer-checks",
    "-fno-ipa-reference-addressable",
    "-Wall",
)

# Variants: flag replacements applied to the default flags.  "" is the default object.
#   common  uninitialised globals as SHN_COMMON symbols, for the loader's COMMON path.
#   eh      .eh_frame kept (SHF_ALLOC, with PC-relative relocations): oracle stress.
#   small   x86_64 -mcmodel=small: R_X86_64_32 against the module's own symbols, which
#           must fail with an overflow at a kernel address.
VARIANT_REPLACE: dict[str, dict[str, str]] = {
    "": {},
    "common": {"-fno-common": "-fcommon"},
    "eh": {"-fno-asynchronous-unwind-tables": "-fasynchronous-unwind-tables"},
    "small": {"-mcmodel=kernel": "-mcmodel=small"},
}


def cflags(arch: str, variant: str = "", *, include_dir: Path = INCLUDE_DIR) -> list[str]:
    """The gcc flags for one arch and variant, with ``-I`` pointing at ``include_dir``."""
    machine = by_name(arch)
    if variant not in machine.variants:
        raise ValueError(f"no variant {variant!r} for {arch}")
    replace = VARIANT_REPLACE[variant]
    flags = [*COMMON_CFLAGS, *machine.cflags, f"-I{include_dir}"]
    return [replace.get(flag, flag) for flag in flags]


def _stub_inputs() -> list[Path]:
    return [STUB_SOURCE, *sorted(INCLUDE_DIR.rglob("*.h"))]


def stub_object(arch: str, *, cc: str = "gcc", build_dir: Path | None = None) -> Path:
    """``<build>/<arch>/kernel_stub/module.o``, compiled here if missing or out of date.

    ``make modules`` normally builds it; this lets ``pyinsmod prelink`` work from a fresh
    checkout.  The object is written to a temporary name and renamed, so a concurrent
    ``make`` or prelink never sees half a file.
    """
    out = (build_dir or BUILD_DIR) / arch / "kernel_stub" / "module.o"
    with contextlib.suppress(OSError):
        built = out.stat().st_mtime
        if all(src.stat().st_mtime <= built for src in _stub_inputs()):
            return out
    compiler = shutil.which(cc)
    if compiler is None:
        raise LoadError(
            f"{cc} not found: install gcc (apt-get install gcc) to build kernel_stub/module.o"
        )
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [compiler, *cflags(arch), "-c", str(STUB_SOURCE), "-o", str(tmp)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            first = next((ln for ln in proc.stderr.splitlines() if "error" in ln), None)
            detail = first or (proc.stderr.strip().splitlines() or ["exit status"])[0]
            raise LoadError(f"cannot build kernel_stub/module.o for {arch}: {detail}")
        os.replace(tmp, out)
    except OSError as exc:
        raise LoadError(f"cannot build {out}: {exc.strerror}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return out
