"""depmod and modprobe on small trees: the example modules in the simulated kernel, and
the real 2.4.37.11 kernel's own fat/msdos/vfat against its vmlinux export table."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.clirun import Pyinsmod

from insmod_py.corpus.check import Job, check
from insmod_py.depmod import scan_tree
from insmod_py.errors import LoadError
from insmod_py.kernel24 import Kernel24Error, KernelBuild, build_kernel
from insmod_py.modconf import read_conf, read_dep


@pytest.fixture
def tree(built: Path, tmp_path: Path) -> tuple[Pyinsmod, Path]:
    """exporter, user, a second user of exporter, hello, params and failinit, depmod'ed
    against the simulated kernel's exports (a /proc/ksyms dump)."""
    examples = built / "i386" / "examples"
    root = tmp_path / "modules"
    (root / "kernel" / "misc").mkdir(parents=True)
    (root / "kernel" / "net").mkdir(parents=True)
    for name in ("exporter", "user", "hello", "params", "failinit"):
        shutil.copy(examples / f"{name}.o", root / "kernel" / "misc" / f"{name}.o")
    shutil.copy(examples / "user.o", root / "kernel" / "net" / "user2.o")
    py = Pyinsmod(tmp_path / "state", examples)
    ksyms = tmp_path / "ksyms"
    ksyms.write_text(py.run("ksyms", "--arch", "i386").stdout)
    py.run("depmod", "-F", str(ksyms), str(root), "-o", str(tmp_path / "syms"),
           "--deps", str(root / "modules.dep"))  # fmt: skip
    return py, root


def test_depmod_writes_the_24_layout(tree: tuple[Pyinsmod, Path]) -> None:
    _, root = tree
    text = (root / "modules.dep").read_text()
    assert "kernel/misc/user.o: \\\n\tkernel/misc/exporter.o\n\n" in text
    assert "kernel/misc/hello.o:\n\n" in text
    dep = read_dep(root / "modules.dep")
    assert dep["user2"].deps == (root / "kernel/misc/exporter.o",)


def test_modprobe_loads_dependencies_first_and_removes_unused_ones(tree) -> None:
    py, root = tree
    py.run("modprobe", "--dir", str(root), "user")
    assert py.modules() == ["user", "exporter"]
    assert py.dmesg()[-2:] == [
        "<6>exporter: ready, exporter_value=42",
        "<6>user: exporter_add(2, 3) = 5, exporter_value = 42",
    ]
    py.run("modprobe", "--dir", str(root), "user2")  # exporter is loaded: not again
    assert py.modules() == ["user2", "user", "exporter"]
    py.run("modprobe", "--dir", str(root), "-r", "user")  # exporter still used by user2
    assert py.modules() == ["user2", "exporter"]
    py.run("modprobe", "--dir", str(root), "-r", "user2")
    assert py.modules() == []


def test_modprobe_dry_run_and_listing(tree) -> None:
    py, root = tree
    out = py.run("modprobe", "--dir", str(root), "-n", "user").stdout
    assert out.splitlines() == [
        f"insmod {root}/kernel/misc/exporter.o",
        f"insmod {root}/kernel/misc/user.o",
    ]
    assert py.modules() == []
    listed = py.run("modprobe", "--dir", str(root), "-l", "-t", "net").stdout.split()
    assert listed == [f"{root}/kernel/net/user2.o"]
    listed = py.run("modprobe", "--dir", str(root), "-l", "u*").stdout.split()
    assert [Path(p).name for p in listed] == ["user.o", "user2.o"]


def test_modules_conf_alias_and_options(tree, tmp_path: Path) -> None:
    py, root = tree
    (root / "modules.conf").write_text(
        "# comment\nalias net-thing user2\nalias sound-x off\n"
        "options params i=7 \\\n  s=conf\npost-install params echo hi\n"
    )
    proc = py.run("modprobe", "--dir", str(root), "net-thing")
    assert "post-install" in proc.stderr and "not supported" in proc.stderr
    assert py.modules() == ["user2", "exporter"]
    py.run("modprobe", "--dir", str(root), "sound-x")  # aliased off: nothing, success
    py.run("modprobe", "--dir", str(root), "params", "c=cli")
    log = py.dmesg()
    assert {"<6>params: i=7", "<6>params: s=conf", "<6>params: c=cli"} <= set(log), log


def test_modprobe_failure_unloads_what_it_loaded(tree) -> None:
    py, root = tree
    line = py.fails("modprobe", "--dir", str(root), "failinit")
    assert "failinit" in line
    assert py.modules() == []
    assert "can't locate module nosuch" in py.fails("modprobe", "--dir", str(root), "nosuch")


MODPROBE_IN_ONE_PROCESS = r"""
import json, sys
from pathlib import Path
from insmod_py.backends.sim import SimBackend
from insmod_py.backends.sim.machine import engine_stats
from insmod_py.insmod import InsmodOptions
from insmod_py.messages import Reporter
from insmod_py.modconf import ModulesConf, read_dep
from insmod_py.modprobe import Modprobe
root, state = Path(sys.argv[1]), sys.argv[2]
backend = SimBackend(state_dir=state, arch="i386")
run = Modprobe(read_dep(root / "modules.dep"), ModulesConf(),
               InsmodOptions(path="", backend="sim", state_dir=state), Reporter(quiet=True),
               open_backend=lambda: backend)
loaded = run.load("user") + run.load("user2") + run.load("hello")
removed = run.remove("user")
stats = engine_stats()
print(json.dumps([loaded, removed, stats.built, stats.calls]))
"""


def test_modprobe_builds_the_engine_once_per_process(tree, tmp_path: Path) -> None:
    """Loads (inits) and removals (cleanups) of a chain in one process share one engine."""
    _, root = tree
    cmd = [sys.executable, "-c", MODPROBE_IN_ONE_PROCESS, str(root), str(tmp_path / "one")]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    loaded, removed, built, calls = json.loads(proc.stdout)
    assert loaded == ["exporter", "user", "user2", "hello"] and removed == ["user"]
    assert (built, calls) == (1, 5)  # four inits and user's cleanup


def test_conf_rejects_an_unknown_directive(tmp_path: Path) -> None:
    conf = tmp_path / "modules.conf"
    conf.write_text("frobnicate x\n")
    with pytest.raises(LoadError, match="line 1: unknown directive 'frobnicate'"):
        read_conf(conf)


@pytest.fixture(scope="module")
def kernel24() -> KernelBuild:
    try:
        return build_kernel("i386", "unpatched")
    except Kernel24Error as exc:
        pytest.fail(f"kernel24 i386: {exc}", pytrace=False)


def test_depmod_of_the_real_fat_modules_resolves_everything(kernel24, tmp_path: Path) -> None:
    """fat/msdos/vfat of the real kernel: every reference resolved against vmlinux's
    __ksymtab and fat's exports, and each module links byte-identical to GNU ld there."""
    root = tmp_path / "tree"
    root.mkdir()
    for name in ("fat", "msdos", "vfat"):
        shutil.copy(kernel24.modules / f"{name}.o", root / f"{name}.o")
    depmod = scan_tree(root, kernel24.vmlinux)
    assert depmod.unresolved == {}
    deps = {m.name: m.deps for m in depmod.modules}
    assert deps == {"fat": (), "msdos": ("fat",), "vfat": ("fat",)}
    symbols = tmp_path / "symbols.txt"
    symbols.write_text(depmod.format_symbols())
    for m in depmod.modules:
        for header in ("legacy", "new"):
            job = Job("i386", str(root), m.path, m.name, m.base, m.slot, str(symbols), header)
            outcome = check(job)
            assert outcome.status == "identical", outcome
