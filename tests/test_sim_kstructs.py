"""The simulated kernel's struct offsets (sim/kstructs.py) against gcc on kernel_stub/.

kernel_stub/ is checked against the real 2.4.37.11 headers elsewhere, so these
tables are what the real kernel uses too.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from insmod_py import toolchain
from insmod_py.arch import NAMES
from insmod_py.backends.sim import kstructs

HEADERS = (
    "#include <linux/module.h>\n#include <linux/fs.h>\n#include <linux/sched.h>\n"
    "#include <linux/proc_fs.h>\n#include <linux/miscdevice.h>\n#include <linux/ioport.h>\n"
    "#include <linux/notifier.h>\n#include <linux/nls.h>\n#include <linux/crypto.h>\n"
    "#include <linux/pm.h>\n"
)
WORD = {"i386": 4, "x86_64": 8}


def gcc_values(arch: str, exprs: list[str], tmp: Path) -> list[int]:
    """Each C constant expression as gcc computes it (via the assembler listing)."""
    body = "".join(f'__asm__(".ascii \\"<<%c0>>\\"" :: "i"({e}));\n' for e in exprs)
    src = tmp / "probe.c"
    src.write_text(f"{HEADERS}void probe(void) {{\n{body}}}\n")
    proc = subprocess.run(
        ["gcc", *toolchain.cflags(arch), "-S", str(src), "-o", "-"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return [int(v) for v in re.findall(r"<<(-?\d+)>>", proc.stdout)]


@pytest.mark.parametrize("arch", NAMES)
def test_every_offset_size_and_width_matches_kernel_stub(arch: str, tmp_path: Path) -> None:
    word = WORD[arch]
    exprs, expected = [], []
    for name in kstructs.names():
        s = kstructs.struct(word, name)
        for m in s.members():
            exprs += [f"offsetof(struct {name}, {m})", f"sizeof(((struct {name} *)0)->{m})"]
            expected += [s.off(m), s.width(m)]
        if name not in ("task_struct",):  # only its leading members are described
            exprs.append(f"sizeof(struct {name})")
            expected.append(s.size)
    for m in kstructs.FOPS_MEMBERS:
        exprs.append(f"offsetof(struct file_operations, {m})")
        expected.append(kstructs.fops_offset(word, m))
    assert gcc_values(arch, exprs, tmp_path) == expected
