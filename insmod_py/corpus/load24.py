"""``make corpus24-load``: every corpus module, after its dependencies, into the real 2.4
kernel (qemu, booting the allmod bzImage the modules were built for) and into the
simulated one, then removed newest first; the two outcomes compared.

An outcome is one of: ``ok`` (init returned 0), ``init: <errno>`` (the errno init_module
returned), ``oops`` (the module's code crashed the caller), ``unresolved: <names>`` (the
kernel lacks those exports: in the simulated kernel, the services it does not model),
``dependency <name>: <outcome>``, or ``refused: <reason>`` for any other refusal.  After
an oops the real kernel is rebooted, as its state is no longer trustworthy.
"""

from __future__ import annotations

import argparse
import errno
import fnmatch
import json
import random
import re
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import arch as machines
from ..backends.base import Backend
from ..errors import KernelError, LoadError, SymbolError
from ..fsutil import atomic_write
from ..insmod import InsmodOptions, insmod
from ..kernel24.corpus import find_corpus
from ..messages import Reporter
from ..modconf import DepEntry, ModulesConf, read_dep
from ..modprobe import Modprobe
from .k24 import DEP_FILE, prepare

KINDS = ("qemu", "sim")


@dataclass(frozen=True)
class Outcome:
    module: str
    qemu: str
    sim: str

    @property
    def same(self) -> bool:
        return self.qemu == self.sim


# how a crash reads: the simulated kernel's "Oops: ...", the real one's worker "killed by
# signal 9 (a kernel oops?)" or "the ... VM died"; whole words, as a symbol name such as
# loops_per_jiffy or oops_in_progress is no crash
_CRASH = re.compile(r"\b(?:Oops|oops|died)\b")


def classify(err: LoadError) -> str:
    """One outcome word for a failed load (errno names, not numbers: they group).

    The kind of error decides first: an errno or a list of unresolved names is never a
    crash, whatever the names spell."""
    if isinstance(err, KernelError):
        name = errno.errorcode.get(err.errno, str(err.errno))
        return f"{'init' if err.call == 'init_module' else err.call}: {name}"
    if isinstance(err, SymbolError) and "unresolved symbol" in err.reason:
        names = err.reason.split("unresolved symbol", 1)[1].lstrip("s ").split(" (")[0]
        return f"unresolved: {names}"
    if _CRASH.search(str(err)):
        return "oops"
    return f"refused: {err.reason}"


class Kernel:
    """One kernel of the comparison, opened once, reopened after an oops."""

    def __init__(self, kind: str, opener: Callable[[], Backend], report: Reporter) -> None:
        self.kind = kind
        self.opener = opener
        self.report = report
        self.backend = opener()
        self.reboots = 0

    def reboot(self) -> None:
        stop = getattr(self.backend, "stop", None)
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()
        if stop is not None:
            stop()
        self.backend = self.opener()
        self.reboots += 1

    def run(self, chain: list[DepEntry], base: InsmodOptions) -> str:
        """Load the chain (dependencies first), then unload what was loaded, newest first.

        The outcome is the last module's load (or the dependency that failed), with
        `` (rmmod: ...)`` when taking a module out again failed.
        """
        try:
            live = {m.name for m in self.backend.modules()}
        except LoadError as err:  # the kernel itself is unusable: say so, start afresh
            self.reboot()
            return f"kernel: {err}"
        loaded: list[str] = []
        outcome = "ok"
        for entry in chain:
            if entry.name in live:
                continue
            opts = InsmodOptions(
                path=str(entry.path), header=base.header, backend=base.backend,
                variant=base.variant, state_dir=base.state_dir,
            )  # fmt: skip
            try:
                insmod(opts, self.report, backend=self.backend)
            except LoadError as err:
                what = classify(err)
                outcome = what if entry is chain[-1] else f"dependency {entry.name}: {what}"
                if what == "oops":
                    self.reboot()
                    return outcome
                break
            loaded.append(entry.name)
        for name in reversed(loaded):
            try:
                self.backend.delete_module(name)
            except LoadError as err:
                self.reboot()  # a module that stays (or a crash in cleanup): start afresh
                return f"{outcome} (rmmod {name}: {classify(err)})"
        return outcome


def _open_qemu(bzimage: Path, state: Path, arch: str) -> Callable[[], Backend]:
    def opener() -> Backend:
        from ..backends.qemu import QemuBackend

        return QemuBackend(str(state), arch=arch, variant="unpatched", bzimage=bzimage)

    return opener


def _open_sim(state: Path, arch: str) -> Callable[[], Backend]:
    def opener() -> Backend:
        from ..backends.sim import SimBackend

        return SimBackend(state_dir=str(state), arch=arch, variant="unpatched")

    return opener


def format_summary(outcomes: list[Outcome]) -> str:
    total = len(outcomes)
    same = sum(o.same for o in outcomes)
    out = [f"{total} modules loaded with their dependencies into both kernels; "
           f"{same} same outcome, {total - same} different", ""]  # fmt: skip
    for kind in KINDS:
        counts = Counter(_group(getattr(o, kind)) for o in outcomes)
        out.append(f"{kind:>5}: " + ", ".join(f"{n} {k}" for k, n in counts.most_common()))
    out += ["", "differences (real kernel -> simulated kernel), grouped:"]
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for o in outcomes:
        if not o.same:
            groups[_group(o.qemu), _group(o.sim)].append(o.module)
    for (q, s), mods in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        out.append(f"  {len(mods):5}  {q} -> {s}: {' '.join(sorted(mods)[:8])}"
                   + (" ..." if len(mods) > 8 else ""))  # fmt: skip
    lacking = Counter(
        name
        for o in outcomes
        if o.sim.startswith("unresolved: ")
        for name in o.sim.split(": ", 1)[1].split(", ")
    )
    if lacking:
        out += ["", "kernel services the simulated kernel lacks (modules needing each):"]
        out += [f"  {n:5}  {name}" for name, n in lacking.most_common(25)]
    return "\n".join(out) + "\n"


def _short(outcome: str, limit: int = 3) -> str:
    """An outcome for the progress line: a long list of unresolved names cut short."""
    head, sep, names = outcome.rpartition("unresolved: ")
    listed = names.split(", ")
    if not sep or len(listed) <= limit:
        return outcome
    return f"{head}unresolved: {', '.join(listed[:limit])} (+{len(listed) - limit} more)"


def _group(outcome: str) -> str:
    """An outcome without its details: unresolved names, dependency names, numbers."""
    if outcome.startswith("unresolved: "):
        return "unresolved"
    if outcome.startswith("dependency "):
        return "dependency " + outcome.split(": ", 1)[1].split(":")[0]
    return re.sub(r"0x[0-9a-f]+|\b\d+\b", "#", outcome)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/corpus24-load", description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default=machines.DEFAULT.name, choices=machines.NAMES,
                        help="the corpus of this machine (default: %(default)s)")  # fmt: skip
    parser.add_argument("--flavour", default="plain", choices=("plain", "modversions"))
    parser.add_argument("--sample", type=int, default=0, metavar="N",
                        help="a fixed-seed sample of N modules")  # fmt: skip
    parser.add_argument("--seed", type=int, default=2002)
    parser.add_argument("-m", "--module", "--only", dest="only", action="extend", nargs="+",
                        metavar="PATTERN", help="just the modules these names or shell "
                        "patterns match (dtlk, 'ip_nat_*'); may be repeated")  # fmt: skip
    parser.add_argument("--kernel", choices=KINDS, action="append",
                        help="only this kernel (default: both)")  # fmt: skip
    parser.add_argument("--real-from", type=Path, metavar="LOAD.JSON",
                        help="the real kernel's outcomes from an earlier run's load.json "
                        "instead of booting it: only the simulated kernel runs")  # fmt: skip
    args = parser.parse_args(argv)
    kinds = ["sim"] if args.real_from else args.kernel or list(KINDS)
    try:
        build = find_corpus(args.arch, args.flavour)
        if build is None:
            print(f"corpus24-load: no {args.arch} {args.flavour} corpus built; run: make corpus24",
                  file=sys.stderr)  # fmt: skip
            return 1
        real = _read_real(args.real_from) if args.real_from else None
        if not (build.modules / DEP_FILE).is_file():
            prepare(build)
        dep = read_dep(build.modules / DEP_FILE)
        names = select(sorted(dep), args.only, args.sample, args.seed)
        if not names:
            print(f"corpus24-load: no module matches {' '.join(args.only)}", file=sys.stderr)
            return 1
        # a kill (SIGTERM) unwinds like Ctrl-C, so run()'s cleanup stops the qemu VM
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        outcomes = run(build.bzimage, dep, names, kinds, arch=args.arch, real=real)
    except LoadError as err:
        print(f"corpus24-load: {err}", file=sys.stderr)
        return 1
    summary = format_summary(outcomes)
    outdir = build.directory / "report"
    outdir.mkdir(exist_ok=True)
    # only a whole run on both kernels replaces the report; any other is written beside it
    stem = "load" if len(names) == len(dep) and kinds == list(KINDS) else "load-partial"
    atomic_write(str(outdir / f"{stem}.txt"), summary.encode())
    rows = [{"module": o.module, "qemu": o.qemu, "sim": o.sim} for o in outcomes]
    atomic_write(str(outdir / f"{stem}.json"), (json.dumps(rows, indent=1) + "\n").encode())
    print(summary, end="")
    print(f"corpus24-load: reports in {outdir} ({stem}.txt, {stem}.json)")
    return 0


def select(names: list[str], patterns: list[str] | None, sample: int, seed: int) -> list[str]:
    """The modules of a run: those ``patterns`` match (names or shell patterns), else a
    fixed-seed sample of ``sample`` of them, else all."""
    if patterns:
        return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    if sample and sample < len(names):
        return sorted(random.Random(seed).sample(names, sample))
    return names


def _read_real(path: Path) -> dict[str, str]:
    """The real kernel's outcome per module, from an earlier run's ``load.json``."""
    try:
        rows = json.loads(path.read_text())
        return {row["module"]: row["qemu"] for row in rows}
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise LoadError(f"{path}: not a corpus24-load report ({exc})") from None


def run(
    bzimage: Path,
    dep: dict[str, DepEntry],
    names: list[str],
    kinds: list[str],
    progress: Callable[[str], None] = print,
    *,
    arch: str = machines.DEFAULT.name,
    real: dict[str, str] | None = None,
) -> list[Outcome]:
    """Each of ``names`` (with its dependencies) into each kernel of ``kinds``, both of
    machine ``arch``; the real one boots ``bzimage``, which must be the kernel the modules
    were built for.  ``real``: the real kernel's outcomes of an earlier run, when it is not
    in ``kinds``."""
    report = Reporter(quiet=True)
    probe = Modprobe(dep, ModulesConf(), InsmodOptions(path=""), report)
    with tempfile.TemporaryDirectory(prefix="pyinsmod-corpus24-load-") as tmp:
        kernels = {}
        base = {}
        for kind in kinds:
            state = Path(tmp) / kind
            opener = _open_qemu(bzimage, state, arch) if kind == "qemu" else _open_sim(state, arch)
            kernels[kind] = Kernel(kind, opener, report)
            base[kind] = InsmodOptions(path="", header="legacy", backend=kind,
                                       variant="unpatched", state_dir=str(state))  # fmt: skip
        outcomes = []
        start = time.monotonic()
        try:
            for i, name in enumerate(names, 1):
                chain = probe.order(dep[name])
                got = {kind: kernels[kind].run(chain, base[kind]) for kind in kinds}
                earlier = (real or {}).get(name, "-")
                o = Outcome(name, got.get("qemu", earlier), got.get("sim", "-"))
                outcomes.append(o)
                mark = "=" if o.same else "!"
                elapsed = time.monotonic() - start
                progress(f"[{i}/{len(names)} {elapsed:5.0f}s] {mark} {name}: "
                         f"qemu {_short(o.qemu)} | sim {_short(o.sim)}")  # fmt: skip
        finally:
            for k in kernels.values():
                stop = getattr(k.backend, "stop", None)
                if stop is not None:
                    stop()
    return outcomes
