"""Concurrent ``pyinsmod`` processes against one simulated kernel: nothing lost, nothing torn.

Eight driver threads each run the real command line (``python -m insmod_py``) one
process after another, so eight processes load and remove modules against one
``PYINSMOD_STATE`` at any moment: their own ``-o`` copies of hello, exporter and
user, and contended loads and removals of shared names.  Afterwards the module
list must agree with the exit codes (every successful load is there unless a
successful rmmod followed), use counts and refs must be consistent, and no
``database is locked`` or traceback may have reached stderr.  A process
SIGKILLed inside init must leave a kernel whose next command works.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from insmod_py import modstruct as ms
from insmod_py.backends.sim import SimBackend

PYINSMOD = [sys.executable, "-m", "insmod_py"]
WORKERS = 8
ROUNDS = 5  # 8 workers x 5 rounds x 7-8 operations = 296 processes
SHARED = ("shared0", "shared1", "shared2")
LOCKED = "locked by another process"  # the one clear message a bounded wait may end in
VANISHED = "init_module: No such file or directory"


@dataclass(frozen=True)
class Op:
    worker: int
    seq: int  # order within the worker
    action: str  # "load" or "rmmod"
    name: str
    returncode: int
    stderr: str
    started: float
    ended: float


def _env(state: Path) -> dict[str, str]:
    return {**os.environ, "PYINSMOD_STATE": str(state), "LC_ALL": "C"}


def _run(state: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PYINSMOD, *args], capture_output=True, text=True, env=_env(state), timeout=timeout
    )


def _worker(state: Path, examples: Path, w: int) -> list[Op]:
    ops: list[Op] = []

    def do(action: str, name: str, obj: str | None = None) -> None:
        args = ["load", str(examples / obj), "-o", name] if obj else ["rmmod", name]
        start = time.monotonic()
        proc = _run(state, *args)
        ops.append(
            Op(w, len(ops), action, name, proc.returncode, proc.stderr, start, time.monotonic())
        )

    for j in range(ROUNDS):
        own = f"w{w}r{j}"
        do("load", f"h_{own}", "hello.o")
        do("load", f"e_{own}", "exporter.o")
        do("load", f"u_{own}", "user.o")  # binds to the newest exporter, maybe another's
        do("load", SHARED[(w + j) % 3], "hello.o")  # contended: EEXIST for all but one
        do("rmmod", f"u_{own}")
        do("rmmod", f"e_{own}")  # EBUSY while another worker's user uses it
        if j % 2:
            do("rmmod", f"h_{own}")
        do("rmmod", SHARED[(w + j + 1) % 3])  # contended: ENOENT unless loaded
    return ops


def _check_stderr(ops: list[Op]) -> Counter[str]:
    """Every stderr is empty (success) or one pyinsmod line; returns why loads failed."""
    reasons: Counter[str] = Counter()
    for op in ops:
        assert "Traceback" not in op.stderr and "database is locked" not in op.stderr, op
        if op.returncode == 0:
            assert op.stderr == "", op
            continue
        assert op.returncode == 1, op
        lines = op.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("pyinsmod: "), op
        reasons[lines[0].rsplit(": ", 1)[-1] if LOCKED not in lines[0] else LOCKED] += 1
    return reasons


def _expected_present(ops: list[Op]) -> dict[str, bool]:
    """Per name, from exit codes alone: loaded and not removed afterwards."""
    present: dict[str, bool] = {}
    by_name: dict[str, list[Op]] = {}
    for op in ops:
        by_name.setdefault(op.name, []).append(op)
    for name, named in by_name.items():
        ok = [op for op in named if op.returncode == 0]
        # 2.4's two-call window: another rmmod may remove a module between its
        # create_module and init_module; that load fails in init_module with ENOENT
        vanished = [op for op in named if op.action == "load" and VANISHED in op.stderr]
        loads = sum(op.action == "load" for op in ok) + len(vanished)
        removes = sum(op.action == "rmmod" for op in ok)
        # a create needs the name absent, an rmmod needs it present: they alternate
        assert loads - removes in (0, 1), (name, loads, removes, named)
        present[name] = loads - removes == 1
    return present


def _check_consistent(be: SimBackend) -> None:
    mods = be.modules()
    names = [m.name for m in mods]
    assert len(set(names)) == len(names)
    assert len({m.base for m in mods}) == len(mods)
    by_name = {m.name: m for m in mods}
    for m in mods:
        assert m.flags & ~(ms.MOD_VISITED | ms.MOD_USED_ONCE) == ms.MOD_RUNNING, m
        assert m.usecount == 0, m
        for dep in m.deps:  # every user's exporter is present, and knows its user
            assert dep in by_name, (m.name, dep)
            assert m.name in by_name[dep].refs, (m.name, dep)
        for ref in m.refs:
            assert m.name in by_name[ref].deps, (m.name, ref)
        if m.name.startswith("u_"):
            assert len(m.deps) == 1 and m.deps[0].startswith("e_"), m


def test_eight_processes_loading_and_removing_lose_nothing(built: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    examples = built / "i386" / "examples"
    assert _run(state, "lsmod").returncode == 0  # create the database first
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(lambda w: _worker(state, examples, w), range(WORKERS)))
    elapsed = time.monotonic() - start
    ops = [op for ops in results for op in ops]
    reasons = _check_stderr(ops)
    slowest = max(op.ended - op.started for op in ops)
    print(f"{len(ops)} operations, {WORKERS} processes, {elapsed:.1f}s (slowest {slowest:.2f}s)")
    print(f"failures: {dict(reasons)}")
    assert len(ops) == WORKERS * (7 * ROUNDS + ROUNDS // 2)
    # own hello copies never collide: each load either worked or said the state was locked
    for op in ops:
        if op.action == "load" and op.name.startswith("h_"):
            assert op.returncode == 0 or LOCKED in op.stderr, op
    assert reasons[LOCKED] <= len(ops) // 20  # a rare bounded wait, not the rule

    be = SimBackend(str(state), "i386")
    final = {m.name for m in be.modules()}
    expected = _expected_present(ops)
    assert final == {name for name, there in expected.items() if there}
    _check_consistent(be)
    assert sum(op.returncode == 0 for op in ops) > len(ops) // 2
    # and everything can still be removed, users before what they use (hello copies
    # export their symbols, modutils' rule without __ksymtab, so they stack too)
    for _ in range(len(final) + 1):
        mods = SimBackend(str(state), "i386").modules()
        unused = [m.name for m in mods if not m.refs]
        if not mods:
            break
        proc = _run(state, "rmmod", *unused)
        assert proc.returncode == 0 and unused, proc.stderr
    assert SimBackend(str(state), "i386").modules() == []


def _wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("arch", ["i386", "x86_64"])
def test_sigkill_during_init_leaves_a_consistent_kernel(
    built: Path, tmp_path: Path, arch: str
) -> None:
    state = tmp_path / "state"
    examples = built / arch / "examples"
    assert _run(state, "load", str(examples / "hello.o")).returncode == 0
    assert _run(state, "load", str(examples / "exporter.o")).returncode == 0
    before = SimBackend(str(state), arch)
    ksyms_before = before.proc_ksyms()
    proc = subprocess.Popen(
        [*PYINSMOD, "load", str(examples / "loop.o"), "-o", "spin"],
        env=_env(state),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # created (its own committed transaction), then init spins inside the next one;
        # lsmod must answer meanwhile: readers never wait for a running init
        seen = _wait_for(lambda: "spin" in _run(state, "lsmod", "--arch", arch).stdout, 20)
        assert seen, "the load never reached create_module"
        time.sleep(0.3)
        assert proc.poll() is None, "init finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL

    be = SimBackend(str(state), arch)
    mods = {m.name: m for m in be.modules()}
    assert {"hello", "exporter"} <= set(mods)
    # init_module's transaction died with the process: spin is back to what create_module
    # made (2.4's "uninitialized" after an insmod killed between the two calls), never
    # MOD_INITIALIZING, never linked to anything, never exporting
    spin = mods.get("spin")
    if spin is not None:
        assert (spin.flags, spin.usecount, spin.deps, spin.refs) == (0, 0, (), ())
        assert be.proc_modules().splitlines()[0].endswith("(uninitialized)")
    assert be.proc_ksyms() == ksyms_before
    assert all(m.flags == ms.MOD_RUNNING for n, m in mods.items() if n != "spin")
    # the next commands work: a load, and removing the leftover as 2.4's rmmod did
    assert _run(state, "load", str(examples / "user.o")).returncode == 0
    if spin is not None:
        proc2 = _run(state, "rmmod", "--arch", arch, "spin")
        assert proc2.returncode == 0, proc2.stderr
    assert "spin" not in {m.name for m in SimBackend(str(state), arch).modules()}
