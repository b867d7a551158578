"""``make corpus24``: the real 2.4.37.11 module corpus, linked by us and by GNU ld.

Builds (or finds) the allmod kernel in both flavours (kernel24/corpus.py), runs
``depmod`` on each module tree against the kernel's own export table (vmlinux's
``__ksymtab``), writes ``modules.dep`` and the symbol file into the tree's cache entry,
then checks every module as ``make corpus`` does (our dry-run link at its depmod slot
against the kernel's and the other modules' exports, GNU ld at the same addresses,
every non-empty SHF_ALLOC section compared).  Reports land in ``<entry>/report/``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

from ..arch import NAMES as ARCHES
from ..arch import by_name
from ..depmod import Depmod, scan_tree
from ..errors import LoadError
from ..fsutil import atomic_write, atomic_write_all
from ..kernel24.corpus import (
    FLAVOURS,
    CorpusBuild,
    allmod_config_path,
    build_corpus,
    failures_from_log,
    find_corpus,
    generate_config,
)
from .check import Job
from .run import run_jobs, write_outputs

HEADERS = ("legacy", "new")
DEP_FILE = "modules.dep"
SYMBOLS_FILE = "symbols.txt"


def prepare(build: CorpusBuild) -> tuple[Depmod, Path]:
    """depmod the build's tree (kernel exports from vmlinux); write modules.dep, the
    modules.*map files beside it, and the symbols."""
    depmod = scan_tree(build.modules, build.vmlinux)
    symbols = build.directory / SYMBOLS_FILE
    release = "# UTS_RELEASE 2.4.37.11\n"
    atomic_write(str(symbols), (release + depmod.format_symbols()).encode())
    maps = [
        (str(build.modules / name), text.encode()) for name, text in depmod.format_maps().items()
    ]
    atomic_write_all([*maps, (str(build.modules / DEP_FILE), depmod.format_deps().encode())])
    return depmod, symbols


def maps_summary(depmod: Depmod) -> str:
    """How many modules, and entries, each map file got."""
    parts = []
    for name, text in depmod.format_maps().items():
        lines = text.splitlines()[1:]
        modules = len({line.split()[0] for line in lines})
        parts.append(f"{name.removeprefix('modules.')} {modules} ({len(lines)} entries)")
    return "maps: modules (entries): " + ", ".join(parts)


def build_summary(build: CorpusBuild) -> str:
    """Modules built and objects that failed, grouped by their first compiler error."""
    lines = [f"{build.arch} {build.flavour}: {len(build.module_files)} modules built, "
             f"{len(build.failures)} objects failed to compile"]  # fmt: skip
    log = build.directory / "modules.log"
    failures = failures_from_log(log.read_text(errors="replace")) if log.is_file() else {}
    groups: dict[str, list[str]] = {}
    for obj, why in sorted((failures or build.failures).items()):
        groups.setdefault(why or "(no compiler error found in the log)", []).append(obj)
    for why, objs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        lines.append(f"  {len(objs):4}  {why}")
        lines += [f"          {o}" for o in objs]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/corpus24", description=__doc__.split("\n")[0])
    parser.add_argument("--arch", choices=ARCHES, action="append",
                        help="architecture (default: every one with an allmod config)")  # fmt: skip
    parser.add_argument("--flavour", choices=FLAVOURS, action="append",
                        help="plain (no MODVERSIONS) or modversions (default: both)")  # fmt: skip
    parser.add_argument("--generate-config", action="store_true",
                        help="rewrite configs/<arch>-allmod.config (2.4's Configure)")  # fmt: skip
    parser.add_argument("--header", choices=HEADERS, action="append",
                        help="legacy or new (prelinked); default: both")  # fmt: skip
    parser.add_argument("--build-only", action="store_true", help="build and cache, check nothing")
    parser.add_argument("--cached", action="store_true", help="never build: use what is cached")
    parser.add_argument("--entry", type=Path, metavar="DIR",
                        help="check this cache entry (e.g. one of an earlier config)")  # fmt: skip
    parser.add_argument("-j", "--jobs", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    status = 0
    try:
        arches = args.arch or [a for a in ARCHES if allmod_config_path(by_name(a)).is_file()]
        if args.generate_config:
            for arch in arches:
                generate_config(arch)
            return 0
        for arch, flavour in ((a, f) for a in arches for f in args.flavour or FLAVOURS):
            if args.entry:
                build = CorpusBuild.load(args.entry)
                if (build.arch, build.flavour) != (arch, flavour):
                    continue
            elif args.cached:
                build = find_corpus(arch, flavour)
            else:
                build = build_corpus(arch, flavour)
            if build is None:
                print(f"corpus24: {arch} {flavour}: not built (make corpus24)", file=sys.stderr)
                status = 1
                continue
            print(build_summary(build), flush=True)
            if args.build_only:
                continue
            start = time.perf_counter()
            depmod, symbols = prepare(build)
            missing = Counter(n for names in depmod.unresolved.values() for n in names)
            print(f"corpus24: {arch} {flavour}: depmod: {len(depmod.modules)} modules, "
                  f"{len(depmod.symbols)} symbols, {sum(missing.values())} unresolved "
                  f"references in {len(depmod.unresolved)} modules", flush=True)  # fmt: skip
            print(f"corpus24: {arch} {flavour}: depmod: {maps_summary(depmod)}", flush=True)
            for line in depmod.table_warnings():
                print(f"corpus24: {arch} {flavour}: depmod: WARNING: {line}", flush=True)
            jobs = [
                Job(f"{arch}-{flavour}-{header}", str(build.modules), m.path, m.name, m.base,
                    m.slot, str(symbols), header)
                for header in args.header or HEADERS
                for m in depmod.modules
            ]  # fmt: skip
            outcomes = run_jobs(jobs, args.jobs)
            wall = time.perf_counter() - start
            releases = {j.arch: "2.4.37.11 allmod" for j in jobs}
            report = write_outputs(build.directory / "report", outcomes, releases, wall)
            print(report, end="")
            if any(o.status in ("differing", "error") for o in outcomes):
                status = 1
    except LoadError as err:
        print(f"corpus24: {err}", file=sys.stderr)
        return 1
    return status
