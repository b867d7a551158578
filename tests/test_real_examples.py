"""The example modules on the real 2.4.37.11 kernel (qemu) and on the simulated one.

The same loader links the same object against each kernel's own symbols and hands it
over; what each kernel then shows must be the same: the outcome (loaded, an errno, an
oops), the printk lines, /proc/modules, the module's /proc/ksyms lines (as offsets from
its base, which differs), and rmmod's outcome and lines.  Zippel's compatibility matrix
{plain, prelinked} x {legacy, new header} x {unpatched, patched} runs cell by cell.

Not here: loop.o (its init never returns; 2.4 has no preemption, so the real kernel
hangs for good, where the simulated one stops it after a time limit).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from test_compat_matrix import CELLS, LOADABLE, expected

from insmod_py.backends.sim import SimBackend
from insmod_py.elf import read_object
from insmod_py.errors import KernelError, LoadError
from insmod_py.loader import load
from insmod_py.modinfo import read_modinfo
from insmod_py.params import split_arguments

_KSYM = re.compile(r"^([0-9a-f]+) (\S+)\t\[(\S+)\]$")


class Observer:
    """Drives one kernel through loads and removals and writes down what it shows."""

    def __init__(self, be: Any, examples: Path) -> None:
        self.be = be
        self.examples = examples
        self.seen: list[tuple[Any, ...]] = []
        self._log = len(be.dmesg())

    def _new_log(self) -> list[str]:
        log = self.be.dmesg()
        new, self._log = log[self._log :], len(log)
        return new

    def _ksyms(self) -> list[tuple[str, str, int]]:
        bases = {m.name: m.base for m in self.be.modules()}
        out = []
        for line in self.be.proc_ksyms().splitlines():
            match = _KSYM.match(line)
            if match:
                addr, sym, mod = match.groups()
                out.append((mod, sym, int(addr, 16) - bases[mod]))
        return out

    def load(self, file: str, *args: str, header: str = "auto", name: str | None = None) -> str:
        obj = read_object(str(self.examples / file))
        name = name or file.split(".")[0]
        arg_string, params = split_arguments(args, read_modinfo(obj).parameters, obj.word_size)
        try:
            load(obj, self.be, name=name, header=header, args=arg_string, params=params)
            outcome = "loaded"
        except KernelError as exc:
            outcome = f"{exc.call}: errno {exc.errno}"
        except LoadError as exc:
            # an oops in init: the real guest's caller is killed, the simulator says "Oops"
            text = str(exc)
            oops = "killed by signal" in text or text.split(": ", 1)[-1].startswith("Oops")
            outcome = "oops" if oops else f"refused: {type(exc).__name__}"
        log = self._new_log()
        if outcome == "oops":  # the oops report itself differs in form: compare up to it
            log = log[: next((i for i, line in enumerate(log) if line.startswith("<1>")), None)]
        self.seen.append(("load", file, args, header, outcome, log, self.be.proc_modules()))
        if outcome == "loaded":
            self.seen.append(("ksyms", name, [k for k in self._ksyms() if k[0] == name]))
        return outcome

    def rmmod(self, name: str) -> None:
        try:
            self.be.delete_module(name)
            outcome = "removed"
        except KernelError as exc:
            outcome = f"errno {exc.errno}"
        self.seen.append(("rmmod", name, outcome, self._new_log(), self.be.proc_modules()))


def run_both(real_kernels: Any, built: Path, tmp_path: Path, arch: str, variant: str,
             steps: Any) -> tuple[Observer, Observer]:  # fmt: skip
    examples = built / arch / "examples"
    real = Observer(real_kernels.get(arch, variant), examples)
    steps(real)
    sim = Observer(SimBackend(state_dir=str(tmp_path), arch=arch, variant=variant), examples)
    steps(sim)
    return real, sim


# Each architecture runs the whole matrix on i386; x86_64 runs it for two modules (its
# boots and loads are slower under TCG, and the matrix is the same code path).
X86_64_CELL_MODULES = {"hello", "user"}


@pytest.mark.parametrize(
    ("arch", "name", "obj_kind", "header", "kernel"),
    [c for c in CELLS if c[0] == "i386" or c[1] in X86_64_CELL_MODULES],
)
def test_compat_cell_real_kernel_agrees(
    real_kernels: Any, built: Path, tmp_path: Path, arch: str, name: str, obj_kind: str,
    header: str, kernel: str,
) -> None:  # fmt: skip
    file = f"{name}.pre.o" if obj_kind == "prelinked" else f"{name}.o"

    def steps(k: Observer) -> None:
        if name == "user":
            k.load("exporter.o", header="legacy")
        if k.load(file, header=header) == "loaded":
            k.rmmod(name)

    real, sim = run_both(real_kernels, built, tmp_path, arch, kernel, steps)
    assert sim.seen == real.seen
    outcome = expected(obj_kind, header, kernel)
    step = real.seen[2 if name == "user" else 0]
    want = {"loads": "loaded", "EINVAL": "init_module: errno 22"}.get(outcome, "refused")
    assert step[4].startswith(want)
    if outcome == "loads":
        assert any(line.startswith(LOADABLE[name][0]) for line in step[5])


def _scenario_busy_and_exists(k: Observer) -> None:
    k.load("hello.o")
    k.load("hello.o")  # EEXIST from create_module
    k.load("exporter.o")
    k.load("user.o")
    k.rmmod("exporter")  # EBUSY: user uses it
    k.load("lazy.o")  # its symbols come from exporter, used only by cleanup
    k.rmmod("lazy")
    k.rmmod("user")
    k.rmmod("exporter")
    k.rmmod("hello")


def _scenario_chardev(k: Observer) -> None:
    k.load("chardev.o", "hold=1")
    k.rmmod("chardev")  # EBUSY: init kept a reference
    k.load("chardev.o", name="chardev2")


def _scenario_failures(k: Observer) -> None:
    k.load("failinit.o")  # init returns -EBUSY; the loader deletes the module again
    k.load("params.o", "i=5", "h=1", "b=7", "s=xyz", "a=9,8", "c=hello")
    k.rmmod("params")
    k.load("tables.o")  # __ex_table: the fault in probe(NULL) is fixed up
    k.rmmod("tables")
    k.load("nullderef.o")  # an oops in init: the module stays, initializing
    k.rmmod("nullderef")


SCENARIOS = {
    "busy-and-exists": _scenario_busy_and_exists,
    "chardev": _scenario_chardev,
    "failures": _scenario_failures,
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize(("arch", "variant"), [("i386", "unpatched"), ("x86_64", "patched")])
def test_examples_real_kernel_agrees(
    real_kernels: Any, built: Path, tmp_path: Path, arch: str, variant: str, scenario: str
) -> None:
    real, sim = run_both(real_kernels, built, tmp_path, arch, variant, SCENARIOS[scenario])
    assert sim.seen == real.seen
    if scenario == "failures":
        real_kernels.reboot(arch, variant)  # nullderef cannot be removed
