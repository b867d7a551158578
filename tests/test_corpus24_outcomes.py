"""How ``make corpus24-load`` names an outcome and picks its modules, without the corpus or
qemu: the errors the two kernels raise, classified, and a small module tree run through
the simulated kernel the way the whole corpus is."""

from __future__ import annotations

import errno
import json
import subprocess
from pathlib import Path

import pytest

from insmod_py import toolchain
from insmod_py.backends.qemu.protocol import GuestDied
from insmod_py.corpus.load24 import _read_real, classify, run, select
from insmod_py.depmod import scan_tree
from insmod_py.errors import KernelError, LoadError, SymbolError
from insmod_py.modconf import read_dep

DTLK = "/corpus/kernel/drivers/char/dtlk.o"


@pytest.mark.parametrize(
    ("err", "outcome"),
    [
        # dtlk in the simulated kernel: names spelling "oops" are still missing services
        (
            SymbolError(
                "unresolved symbols loops_per_jiffy_Rba497f13, devfs_register_R023bdd5b",
                file=DTLK,
            ),
            "unresolved: loops_per_jiffy_Rba497f13, devfs_register_R023bdd5b",
        ),
        (
            SymbolError("unresolved symbol oops_in_progress", file=DTLK),
            "unresolved: oops_in_progress",
        ),
        (KernelError("init_module", errno.ENODEV), "init: ENODEV"),
        (KernelError("delete_module", errno.EBUSY), "delete_module: EBUSY"),
        # the simulated kernel's crash report, and the real kernel's dead worker or VM
        (
            LoadError("Oops: unable to handle kernel NULL pointer dereference at 00000000"),
            "oops",
        ),
        (LoadError(f"init_module: {GuestDied(9)} (see the console log c.log)"), "oops"),
        (LoadError("init_module: the i386 unpatched 2.4.37.11 VM died (panic)"), "oops"),
        (LoadError("bad module"), "refused: bad module"),
    ],
)
def test_classify(err: LoadError, outcome: str) -> None:
    assert classify(err) == outcome


def test_select() -> None:
    names = ["dtlk", "ip_nat_ftp", "ip_nat_irc", "ipv6", "vfat"]
    assert select(names, ["ip_nat_*", "vfat"], 0, 1) == ["ip_nat_ftp", "ip_nat_irc", "vfat"]
    assert select(names, ["dtlk"], 3, 1) == ["dtlk"]  # patterns win over a sample
    assert select(names, ["nothing*"], 0, 1) == []
    sample = select(names, None, 2, 7)
    assert len(sample) == 2 and sample == select(names, None, 2, 7) and set(sample) < set(names)
    assert select(names, None, 0, 1) == names


def test_read_real(tmp_path: Path) -> None:
    report = tmp_path / "load.json"
    report.write_text(json.dumps([{"module": "dtlk", "qemu": "ok", "sim": "oops"}]))
    assert _read_real(report) == {"dtlk": "ok"}
    report.write_text('{"module": "dtlk"}')
    with pytest.raises(LoadError, match="not a corpus24-load report"):
        _read_real(report)


NEEDY = r"""
#include <linux/module.h>
extern unsigned long whoops_loops_per_jiffy;  /* no kernel has it */
int init_module(void) { return whoops_loops_per_jiffy ? 0 : 1; }
void cleanup_module(void) { }
"""

FINE = r"""
#include <linux/module.h>
int init_module(void) { return 0; }
void cleanup_module(void) { }
"""


@pytest.mark.parametrize("arch", ["i386", "x86_64"])
def test_sim_run_names_the_missing_service(arch: str, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for name, source in (("needy", NEEDY), ("fine", FINE)):
        (tmp_path / f"{name}.c").write_text(source)
        proc = subprocess.run(
            ["gcc", *toolchain.cflags(arch), "-c", str(tmp_path / f"{name}.c"),
             "-o", str(tree / f"{name}.o")],
            capture_output=True, text=True,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    (tree / "modules.dep").write_text(scan_tree(tree, None).format_deps())
    dep = read_dep(tree / "modules.dep")
    lines: list[str] = []
    real = {"needy": "ok", "fine": "ok"}
    outcomes = run(Path("unused"), dep, ["fine", "needy"], ["sim"], lines.append,
                   arch=arch, real=real)  # fmt: skip
    got = {o.module: (o.qemu, o.sim) for o in outcomes}
    assert got == {"fine": ("ok", "ok"), "needy": ("ok", "unresolved: whoops_loops_per_jiffy")}
    assert [line.split("] ", 1)[1][:7] for line in lines] == ["= fine:", "! needy"]
