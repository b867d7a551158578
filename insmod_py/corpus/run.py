"""The corpus run: every module of both trees through our loader and GNU ld, one report.

Outputs (in ``--out``, default ``CORPUS_DIR/report``):

* ``report.txt``: counts per architecture, every refusal reason, every
  differing or failed module; deterministic down to the ``timing`` section,
  the only part that changes from run to run, so two runs ``diff`` cleanly;
* ``modules.txt``: one line per module, ``arch status path [reason]``;
* ``results.json``: everything, timings included.

Per tree, the depmod output it linked against is kept beside the tree:
``symbols.txt`` (ksyms format) and ``modules.dep``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path

from ..arch import NAMES
from ..depmod import Depmod, scan_tree
from ..errors import LoadError
from ..fsutil import atomic_write
from .check import STATUSES, Job, Outcome, check
from .fetch import Tree, cache_dir, fetch

SLOWEST = 15


def prepare(tree: Tree) -> tuple[Depmod, Path]:
    """depmod the tree and write its symbol file and modules.dep; returns (depmod, symbols)."""
    depmod = scan_tree(tree.modules, tree.system_map)
    symbols = tree.root / "symbols.txt"
    atomic_write(str(symbols), depmod.format_symbols().encode())
    atomic_write(str(tree.root / "modules.dep"), depmod.format_deps().encode())
    return depmod, symbols


def jobs_for(
    tree: Tree, depmod: Depmod, symbols: Path, sample: int = 0, seed: int = 0
) -> list[Job]:
    """A job per module of the tree, or a fixed-seed sample of ``sample`` of them."""
    modules = depmod.modules
    if sample and sample < len(modules):
        modules = sorted(random.Random(seed).sample(modules, sample), key=lambda m: m.path)
    return [
        Job(tree.arch, str(tree.modules), m.path, m.name, m.base, m.slot, str(symbols))
        for m in modules
    ]


def run_jobs(jobs: Sequence[Job], processes: int = 2) -> list[Outcome]:
    """Check every job in a process pool, biggest files first (the pool stays busy to the end)."""
    ordered = sorted(jobs, key=lambda j: -(Path(j.tree) / j.path).stat().st_size)
    if processes <= 1:
        return [check(j) for j in ordered]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(processes) as pool:
        return list(pool.imap_unordered(check, ordered, chunksize=4))


def _pattern(reason: str) -> str:
    """A refusal reason with its numbers and quoted names blanked, to group modules by cause."""
    return re.sub(r"0x[0-9a-f]+|\b\d+\b", "#", reason)


def format_report(outcomes: Iterable[Outcome], releases: dict[str, str], wall: float) -> str:
    results = sorted(outcomes, key=lambda o: (o.arch, o.path))
    out = ["pyinsmod corpus report: our dry-run link vs GNU ld, every non-empty SHF_ALLOC section",
           ""]  # fmt: skip
    by_arch: dict[str, list[Outcome]] = defaultdict(list)
    for o in results:
        by_arch[o.arch].append(o)
    for arch, items in sorted(by_arch.items()):
        counts = Counter(o.status for o in items)
        summary = ", ".join(f"{counts[s]} {s}" for s in STATUSES)
        sections = sum(o.sections for o in items)
        relocs = sum(o.relocations for o in items)
        out.append(f"{arch:<7} {releases.get(arch, '?')}: {len(items)} modules: {summary}")
        out.append(f"{'':<7} {sections} sections compared, {relocs} relocations applied")
    total = Counter(o.status for o in results)
    out.append(f"total   {len(results)} modules: " + ", ".join(f"{total[s]} {s}" for s in STATUSES))
    for status in STATUSES[1:]:
        items = [o for o in results if o.status == status]
        out += ["", f"{status}: {len(items)}"]
        groups: dict[str, list[Outcome]] = defaultdict(list)
        for o in items:
            groups[_pattern(o.reason)].append(o)
        for pattern, members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            out.append(f"  {len(members):5}  {pattern}")
            out += [f"         {o.arch} {o.path}: {o.reason}" for o in members]
    out += ["", "timing (varies run to run; everything above is deterministic)"]
    link = sum(o.link_s for o in results)
    ld = sum(o.ld_s for o in results)
    out.append(
        f"  wall {wall:.1f} s; summed over modules: ours {link:.1f} s, ld+compare {ld:.1f} s"
    )
    out.append(f"  slowest {SLOWEST} (ours + ld):")
    for o in sorted(results, key=lambda o: -(o.link_s + o.ld_s))[:SLOWEST]:
        out.append(
            f"    {o.link_s + o.ld_s:7.3f} s  ours {o.link_s:6.3f}  ld {o.ld_s:6.3f}  "
            f"{o.relocations:7} relocs  {o.arch} {o.path}"
        )
    return "\n".join(out) + "\n"


def write_outputs(
    outdir: Path, outcomes: list[Outcome], releases: dict[str, str], wall: float
) -> str:
    outdir.mkdir(parents=True, exist_ok=True)
    report = format_report(outcomes, releases, wall)
    results = sorted(outcomes, key=lambda o: (o.arch, o.path))
    lines = [
        f"{o.arch} {o.status} {o.path}" + (f" {o.reason}" if o.reason else "") for o in results
    ]
    data = {"releases": releases, "wall_s": round(wall, 3), "modules": [asdict(o) for o in results]}
    atomic_write(str(outdir / "report.txt"), report.encode())
    atomic_write(str(outdir / "modules.txt"), "".join(f"{x}\n" for x in lines).encode())
    atomic_write(str(outdir / "results.json"), (json.dumps(data, indent=1) + "\n").encode())
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/corpus", description=__doc__.split("\n")[0])
    parser.add_argument("--arch", choices=list(NAMES), action="append",
                        help="only this architecture (repeatable; default: both)")  # fmt: skip
    parser.add_argument("--fetch-only", action="store_true", help="fill the cache, check nothing")
    parser.add_argument("--sample", type=int, default=0, metavar="N",
                        help="check a fixed-seed sample of N modules per arch")  # fmt: skip
    parser.add_argument("--seed", type=int, default=2002)
    parser.add_argument("-j", "--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--out", type=Path, help="report directory (default CORPUS_DIR/report)")
    args = parser.parse_args(argv)
    arches = args.arch or list(NAMES)
    root = cache_dir()
    try:
        trees = [fetch(arch, root) for arch in arches]
        if args.fetch_only:
            return 0
        start = time.perf_counter()
        jobs: list[Job] = []
        for tree in trees:
            depmod, symbols = prepare(tree)
            jobs += jobs_for(tree, depmod, symbols, args.sample, args.seed)
            missing = sum(len(v) for v in depmod.unresolved.values())
            print(f"corpus: {tree.arch}: {len(depmod.modules)} modules, {len(depmod.symbols)} "
                  f"symbols, {missing} names exported by nobody", flush=True)  # fmt: skip
        print(f"corpus: checking {len(jobs)} modules with {args.jobs} processes", flush=True)
        outcomes = run_jobs(jobs, args.jobs)
        wall = time.perf_counter() - start
    except LoadError as err:
        print(f"corpus: {err}", file=sys.stderr)
        return 1
    releases = {t.arch: t.release for t in trees}
    outdir = args.out or (root / ("report" if not args.sample else f"report-sample{args.sample}"))
    report = write_outputs(outdir, outcomes, releases, wall)
    print(report, end="")
    print(f"corpus: reports in {outdir}")
    bad = sum(o.status in ("differing", "error") for o in outcomes)
    return 1 if bad else 0
