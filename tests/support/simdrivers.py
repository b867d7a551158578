"""Test helpers for driver code in the simulated kernel: compile a module against
kernel_stub with the machine's flags, and read a loaded module's use count."""

from __future__ import annotations

import subprocess
from pathlib import Path

from insmod_py import toolchain
from insmod_py.simkernel import SimKernel


def build(k: SimKernel, tmp_path: Path, name: str, source: str) -> str:
    src = tmp_path / f"{name}.c"
    src.write_text(source)
    obj = tmp_path / f"{name}.o"
    proc = subprocess.run(
        ["gcc", *toolchain.cflags(k.arch), "-c", str(src), "-o", str(obj)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return str(obj)


def usecount(k: SimKernel, name: str) -> int:
    (mod,) = [m for m in k.backend.modules() if m.name == name]
    return mod.usecount
