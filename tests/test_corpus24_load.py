"""A fixed sample of the real 2.4.37.11 modules (each machine's minimal kernel24 build's
fat, msdos, vfat and nls_cp437) and two example modules, each with its dependencies, into
the real kernel under qemu and into the simulated one, as ``make corpus24-load`` does for
the whole corpus."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from insmod_py.arch import NAMES
from insmod_py.backends.sim import SimBackend
from insmod_py.corpus.load24 import format_summary, run
from insmod_py.depmod import scan_tree
from insmod_py.kernel24 import Kernel24Error, build_kernel
from insmod_py.modconf import read_dep

SAMPLE = ("fat", "msdos", "vfat", "nls_cp437")
EXAMPLES = ("hello", "failinit")


@pytest.mark.parametrize("arch", NAMES)
def test_sample_into_the_real_and_the_simulated_kernel(
    built: Path, tmp_path: Path, arch: str
) -> None:
    try:
        kernel = build_kernel(arch, "unpatched", log=lambda line: None)
    except Kernel24Error as exc:
        pytest.fail(f"kernel24 {arch}: {exc}", pytrace=False)
    root = tmp_path / "tree"
    root.mkdir()
    for name in SAMPLE:
        shutil.copy(kernel.modules / f"{name}.o", root / f"{name}.o")
    for name in EXAMPLES:  # the simulated kernel runs these: their outcomes must agree
        shutil.copy(built / arch / "examples" / f"{name}.o", root / f"{name}.o")
    (root / "modules.dep").write_text(scan_tree(root, kernel.vmlinux).format_deps())
    dep = read_dep(root / "modules.dep")
    lines: list[str] = []
    names = [*SAMPLE, *EXAMPLES]
    outcomes = run(kernel.bzimage, dep, names, ["qemu", "sim"], progress=lines.append, arch=arch)
    assert len(lines) == len(names)
    by_name = {o.module: o for o in outcomes}
    # the real kernel: every init returns 0 (a file system or an NLS table registers)
    assert {n: by_name[n].qemu for n in SAMPLE} == dict.fromkeys(SAMPLE, "ok")
    # both kernels agree on modules the simulated kernel can run, failure included
    assert (by_name["hello"].qemu, by_name["hello"].sim) == ("ok", "ok")
    assert by_name["failinit"].qemu.startswith("init: E"), by_name["failinit"]
    assert by_name["failinit"].same, by_name["failinit"]
    # the simulated kernel: the same, or it names the kernel services it lacks, which
    # really are not in its table
    sim_table = SimBackend(state_dir=str(tmp_path / "sim"), arch=arch).kernel_symbols()
    for o in outcomes:
        if o.same:
            continue
        assert "unresolved: " in o.sim, o
        lacking = o.sim.rsplit("unresolved: ", 1)[1].split(", ")
        assert lacking and not [n for n in lacking if n in sim_table], o
    assert by_name["vfat"].sim.startswith("dependency fat: ") or by_name["vfat"].same
    # a charset table registers in both (the simulated kernel's NLS list)
    assert (by_name["nls_cp437"].qemu, by_name["nls_cp437"].sim) == ("ok", "ok")
    summary = format_summary(outcomes)
    assert (
        f"{len(names)} modules loaded with their dependencies into both kernels; 3 same" in summary
    )
