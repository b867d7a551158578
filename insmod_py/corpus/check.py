"""Check one module of a tree: our dry-run link, then GNU ld at our addresses, compared.

Every outcome is a :class:`Outcome` with a status and a one-line reason:
``identical``, ``refused`` (our loader said no with a LoadError: the reason
names the cause, e.g. the relocation type), ``differing`` (sections whose
bytes are not ld's) or ``error`` (ld failed, or a bug: never expected).
"""

from __future__ import annotations

import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..depmod import read_module
from ..elf import ElfObject
from ..errors import LoadError
from ..ksyms import SymbolTable
from ..loader import LinkedModule, link
from ..oracle import OracleError, compare_with_ld

STATUSES = ("identical", "refused", "differing", "error")


@dataclass(frozen=True)
class Job:
    """One module to check, with everything a worker process needs."""

    arch: str
    tree: str  # the module tree root
    path: str  # relative to the tree
    name: str
    base: int
    slot: int
    symbols: str  # the tree's symbol file (pyinsmod depmod output)
    header: str = "legacy"  # or "new": prelinked first (Zippel's ld -r), then linked


@dataclass(frozen=True)
class Outcome:
    arch: str
    path: str
    status: str
    reason: str  # "" when identical
    sections: int  # sections compared byte for byte
    relocations: int
    link_s: float  # our read + link
    ld_s: float  # ld + reading its output + comparing


_TABLES: dict[str, SymbolTable] = {}


def _table(path: str) -> SymbolTable:
    """The symbol table of a tree, read once per worker process."""
    from ..ksyms import load_symbols

    if path not in _TABLES:
        _TABLES[path] = load_symbols(path)
    return _TABLES[path]


def check(job: Job, table: SymbolTable | None = None) -> Outcome:
    """Link one module with our loader and with ld; never raises."""
    if table is None:  # read once per process, not timed
        table = _table(job.symbols)
    t0 = time.perf_counter()
    relocs = 0

    def outcome(
        status: str, reason: str = "", sections: int = 0, t1: float | None = None
    ) -> Outcome:
        now = time.perf_counter()
        mid = now if t1 is None else t1
        return Outcome(job.arch, job.path, status, reason, sections, relocs, mid - t0, now - mid)

    def allocate(size: int) -> int:
        if size > job.slot:  # depmod's slot must hold the image, or exports would overlap
            raise LoadError(f"image of {size:#x} bytes exceeds its depmod slot of {job.slot:#x}")
        return job.base

    with tempfile.TemporaryDirectory(prefix="pyinsmod-oracle-") as tmp:
        try:
            path = Path(job.tree) / job.path
            if job.header == "new":
                from ..prelink import prelink

                prelink(str(path), str(Path(tmp) / "pre.o"))
                path = Path(tmp) / "pre.o"
            obj = read_module(path)
            relocs = sum(s.size // max(s.entsize, 1) for s in obj.relocation_sections())
            linked = link(obj, table, allocate, name=job.name, header=job.header)
        except LoadError as err:
            return outcome("refused", err.reason)
        except Exception as exc:  # a bug in our loader: reported, never a crash of the run
            return outcome("error", f"{type(exc).__name__}: {exc} [{_where(exc)}]")
        t1 = time.perf_counter()
        return _compare(obj, linked, Path(tmp), outcome, t1)


def _compare(
    obj: ElfObject, linked: LinkedModule, tmp: Path, outcome: Callable[..., Outcome], t1: float
) -> Outcome:
    """GNU ld at our addresses, every non-empty ALLOC section compared."""
    try:
        result = compare_with_ld(obj, linked, tmp)
    except OracleError as exc:
        return outcome("error", str(exc), t1=t1)
    except Exception as exc:
        return outcome("error", f"{type(exc).__name__}: {exc} [{_where(exc)}]", t1=t1)
    if result.differing:
        return outcome(
            "differing", "sections " + " ".join(result.differing), len(result.compared), t1
        )
    return outcome("identical", "", len(result.compared), t1)


def _where(exc: BaseException) -> str:
    """file:line of the innermost frame, so an unexpected error is findable."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno}"
