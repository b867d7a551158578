"""Mutation fuzzing of the dry-run pipeline: the engine and the one-input runner.

A development tool kept in the package (like ``corpus/``), so that ``tools/fuzz``
and the tests import it the same way; nothing of the loader imports it.

Shared by ``tests/test_fuzz.py`` (a short fixed-seed run in ``make test``) and
``tools/fuzz`` (the long run).  Seeds are the example objects under
``build/<arch>/examples``; each input is one seed with one to three structured
mutations (ELF header fields, section header entries, symbols, relocations,
string tables, truncation, random byte flips) chosen by ``random.Random`` from
the input's own seed string, so any input is reproducible from ``"S:i"``.

The contract under test: every input ends in success or
one :class:`LoadError`; nothing else may escape, no input may run longer than a
wall-clock bound, and no claimed size may turn into a real allocation beyond the
loader's image limit.  The field tables are written here with ``struct`` (not
taken from the reader under test), so a mutation lands exactly where it says.
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .arch import MACHINES, by_name
from .errors import LoadError
from .ksyms import KernelSymbol, SymbolTable
from .toolchain import BUILD_DIR

SEED_GLOB = "*/examples/*.o"
TIME_LIMIT = 2.0  # seconds per input; a valid example links in under a millisecond
PARAMS_ARGS = ("i=5", "h=1", "b=7", "s=xyz", "a=9,8", "c=hello")  # exercised on params.o

# -- ELF field tables: (name, offset, struct code) per ELF class ---------------------------
_EHDR = {
    32: [("e_ident_class", 4, "B"), ("e_ident_data", 5, "B"), ("e_type", 16, "H"),
         ("e_machine", 18, "H"), ("e_version", 20, "I"), ("e_shoff", 32, "I"),
         ("e_shentsize", 46, "H"), ("e_shnum", 48, "H"), ("e_shstrndx", 50, "H")],
    64: [("e_ident_class", 4, "B"), ("e_ident_data", 5, "B"), ("e_type", 16, "H"),
         ("e_machine", 18, "H"), ("e_version", 20, "I"), ("e_shoff", 40, "Q"),
         ("e_shentsize", 58, "H"), ("e_shnum", 60, "H"), ("e_shstrndx", 62, "H")],
}  # fmt: skip
_SHDR = {
    32: [("sh_name", 0, "I"), ("sh_type", 4, "I"), ("sh_flags", 8, "I"), ("sh_addr", 12, "I"),
         ("sh_offset", 16, "I"), ("sh_size", 20, "I"), ("sh_link", 24, "I"),
         ("sh_info", 28, "I"), ("sh_addralign", 32, "I"), ("sh_entsize", 36, "I")],
    64: [("sh_name", 0, "I"), ("sh_type", 4, "I"), ("sh_flags", 8, "Q"), ("sh_addr", 16, "Q"),
         ("sh_offset", 24, "Q"), ("sh_size", 32, "Q"), ("sh_link", 40, "I"),
         ("sh_info", 44, "I"), ("sh_addralign", 48, "Q"), ("sh_entsize", 56, "Q")],
}  # fmt: skip
_SYM = {
    32: [("st_name", 0, "I"), ("st_value", 4, "I"), ("st_size", 8, "I"), ("st_info", 12, "B"),
         ("st_other", 13, "B"), ("st_shndx", 14, "H")],
    64: [("st_name", 0, "I"), ("st_info", 4, "B"), ("st_other", 5, "B"), ("st_shndx", 6, "H"),
         ("st_value", 8, "Q"), ("st_size", 16, "Q")],
}  # fmt: skip
# r_info is also mutated by halves: the symbol index and the type separately
_REL = {
    32: [("r_offset", 0, "I"), ("r_info", 4, "I"), ("r_info.type", 4, "B"),
         ("r_info.sym", 5, "H"), ("r_addend", 8, "I")],
    64: [("r_offset", 0, "Q"), ("r_info", 8, "Q"), ("r_info.type", 8, "I"),
         ("r_info.sym", 12, "I"), ("r_addend", 16, "Q")],
}  # fmt: skip
_SHDR_SIZE = {32: 40, 64: 64}
_SYM_SIZE = {32: 16, 64: 24}
_SHT_SYMTAB, _SHT_STRTAB, _SHT_RELA, _SHT_REL = 2, 3, 4, 9
_INTERESTING = (
    0, 1, 2, 3, 4, 7, 8, 15, 16, 0x20, 0x40, 0x7F, 0x80, 0xFF, 0x100, 0x1000, 0x7FFF, 0x8000,
    0xFF00, 0xFFF1, 0xFFF2, 0xFFFF, 0x10000, 0x0FFFFFFF, 0x10000000, 0x7FFFFFFF, 0x80000000,
    0xFFFFFFF0, 0xFFFFFFFF, 1 << 32, 0x7FFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF,
)  # fmt: skip


@dataclass(frozen=True)
class Field:
    """One mutable field of a seed: where it is and how wide."""

    what: str  # e.g. "shdr[3].sh_size"
    offset: int
    code: str  # struct code, little-endian

    @property
    def size(self) -> int:
        return struct.calcsize("<" + self.code)


@dataclass(frozen=True)
class Seed:
    """An example object and the map of its fields, computed once from the valid file."""

    name: str  # path relative to build/, e.g. "i386/examples/hello.o"
    data: bytes
    arch: str
    small: bool  # x86_64 -mcmodel=small: linked at a low base with low symbols
    header: tuple[Field, ...]
    sections: tuple[Field, ...]
    symbols: tuple[Field, ...]
    relocs: tuple[Field, ...]
    strtabs: tuple[tuple[int, int], ...]  # (offset, size) of every SHT_STRTAB
    nsections: int
    nsymbols: int

    @property
    def word_size(self) -> int:
        return by_name(self.arch).word_size


def _u(data: bytes, offset: int, code: str) -> int:
    return struct.unpack_from("<" + code, data, offset)[0]


def map_seed(name: str, data: bytes) -> Seed:
    """Locate every interesting field of a valid object (the reader is not used)."""
    bits = 64 if data[4] == 2 else 32
    eh = {n: (o, c) for n, o, c in _EHDR[bits]}
    shoff = _u(data, *eh["e_shoff"])
    shnum = _u(data, *eh["e_shnum"])
    shsize = _SHDR_SIZE[bits]
    header = tuple(Field(f"ehdr.{n}", o, c) for n, o, c in _EHDR[bits])
    sections, symbols, relocs, strtabs = [], [], [], []
    nsymbols = 0
    sh = {n: (o, c) for n, o, c in _SHDR[bits]}
    for i in range(shnum):
        base = shoff + i * shsize
        sections += [Field(f"shdr[{i}].{n}", base + o, c) for n, o, c in _SHDR[bits]]
        sh_type = _u(data, base + sh["sh_type"][0], sh["sh_type"][1])
        off = _u(data, base + sh["sh_offset"][0], sh["sh_offset"][1])
        size = _u(data, base + sh["sh_size"][0], sh["sh_size"][1])
        if sh_type == _SHT_STRTAB:
            strtabs.append((off, size))
        elif sh_type == _SHT_SYMTAB:
            nsymbols = size // _SYM_SIZE[bits]
            for j in range(nsymbols):
                at = off + j * _SYM_SIZE[bits]
                symbols += [Field(f"sym[{j}].{n}", at + o, c) for n, o, c in _SYM[bits]]
        elif sh_type in (_SHT_REL, _SHT_RELA):
            entsize = {(32, _SHT_REL): 8, (32, _SHT_RELA): 12}.get((bits, sh_type))
            entsize = entsize or (16 if sh_type == _SHT_REL else 24)
            for j in range(size // entsize):
                at = off + j * entsize
                relocs += [
                    Field(f"rel[{i}][{j}].{n}", at + o, c)
                    for n, o, c in _REL[bits]
                    if o + struct.calcsize(c) <= entsize
                ]
    arch = next(m.name for m in MACHINES if m.bits == bits)
    return Seed(
        name, data, arch, ".small." in name, header, tuple(sections), tuple(symbols),
        tuple(relocs), tuple(strtabs), shnum, nsymbols,
    )  # fmt: skip


def load_seeds(build_dir: Path | None = None) -> list[Seed]:
    """Every example object under ``build/``, sorted by name so runs are reproducible."""
    root = build_dir or BUILD_DIR
    paths = sorted(root.glob(SEED_GLOB))
    return [map_seed(str(p.relative_to(root)), p.read_bytes()) for p in paths]


# -- mutations ----------------------------------------------------------------------------


def _value_for(rng: random.Random, seed: Seed, f: Field, old: int, length: int) -> int:
    """A value likely to hit an edge: limits, sizes of this file, off-by-ones, random."""
    bits = 8 * f.size
    choice = rng.random()
    if choice < 0.35:
        value = rng.choice(_INTERESTING)
    elif choice < 0.55:
        value = old + rng.choice((-1, 1, -2, 2, -4, 4, -8, 8, 16, -16, 0x100))
    elif choice < 0.75:
        anchor = rng.choice(
            (length, seed.nsections, seed.nsymbols, 256 << 20, 1 << 32, len(seed.data))
        )
        value = anchor + rng.choice((-1, 0, 1, -seed.word_size, seed.word_size))
    elif choice < 0.9:
        value = old ^ (1 << rng.randrange(bits))
    else:
        value = rng.getrandbits(bits)
    return value & ((1 << bits) - 1)


def _put(buf: bytearray, f: Field, value: int) -> bool:
    if f.offset + f.size > len(buf):
        return False
    struct.pack_into("<" + f.code, buf, f.offset, value)
    return True


def _mutate_field(
    rng: random.Random, seed: Seed, buf: bytearray, fields: Sequence[Field]
) -> str | None:
    if not fields:
        return None
    f = rng.choice(fields)
    if f.offset + f.size > len(buf):
        return None
    old = _u(bytes(buf), f.offset, f.code)
    value = _value_for(rng, seed, f, old, len(buf))
    _put(buf, f, value)
    return f"{f.what}={value:#x}"


def _mutate_strtab(rng: random.Random, seed: Seed, buf: bytearray) -> str | None:
    tables = [(o, s) for o, s in seed.strtabs if s and o + s <= len(buf)]
    if not tables:
        return None
    off, size = rng.choice(tables)
    kind = rng.random()
    if kind < 0.4:  # drop the terminating NULs at the end of the table
        for i in range(off + size - 1, max(off - 1, off + size - 9), -1):
            buf[i] = ord("A")
        return f"strtab@{off:#x}: tail NULs removed"
    at = off + rng.randrange(size)
    if kind < 0.7:
        buf[at] = 0
        return f"strtab@{off:#x}[{at - off}]=NUL"
    buf[at] = rng.choice((0x41, 0x80, 0xFF, 0x25))
    return f"strtab@{off:#x}[{at - off}]={buf[at]:#x}"


def _truncate(rng: random.Random, seed: Seed, buf: bytearray) -> str | None:
    if len(buf) < 2:
        return None
    if rng.random() < 0.5:  # cut at a structure boundary: inside a field or table
        f = rng.choice(seed.header + seed.sections + seed.symbols + seed.relocs)
        length = min(len(buf) - 1, f.offset + rng.randrange(f.size + 1))
    else:
        length = rng.randrange(len(buf))
    del buf[length:]
    return f"truncated to {length}"


def _flip(rng: random.Random, seed: Seed, buf: bytearray) -> str | None:
    if not buf:
        return None
    spots = []
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(len(buf))
        if rng.random() < 0.5:
            buf[at] ^= 1 << rng.randrange(8)
        else:
            buf[at] = rng.getrandbits(8)
        spots.append(at)
    return "bytes " + ",".join(f"{s:#x}" for s in spots)


def mutate(seed: Seed, rng: random.Random) -> tuple[bytes, list[str]]:
    """One to three mutations of ``seed``; returns the bytes and what was done."""
    buf = bytearray(seed.data)
    done: list[str] = []
    ops = (
        (8, lambda: _mutate_field(rng, seed, buf, seed.header)),
        (25, lambda: _mutate_field(rng, seed, buf, seed.sections)),
        (20, lambda: _mutate_field(rng, seed, buf, seed.symbols)),
        (20, lambda: _mutate_field(rng, seed, buf, seed.relocs)),
        (8, lambda: _mutate_strtab(rng, seed, buf)),
        (6, lambda: _truncate(rng, seed, buf)),
        (10, lambda: _flip(rng, seed, buf)),
    )
    weights = [w for w, _ in ops]
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        _, op = rng.choices(ops, weights)[0]
        what = op()
        if what:
            done.append(what)
    return bytes(buf), done


# -- the pipeline ---------------------------------------------------------------------------


def addresses(arch: str, small: bool) -> tuple[int, int]:
    """(module base, start of kernel symbols) where this kind of object can link."""
    if small:  # -mcmodel=small: everything below 2 GiB, as in a user-space test
        return 0x12340000, 0x01000000
    kernel = by_name(arch).sim_kernel
    return kernel.module_area[0], kernel.stub_base


class AnySymbols(SymbolTable):
    """A kernel that exports every name asked for, at a stable address near its text.

    One name in four is said to come from a module, so the ``.kmodtab``/deps
    path runs too.
    """

    def __init__(self, start: int) -> None:
        super().__init__()
        self.start = start

    def value(self, name: str) -> int:
        return self.start + (zlib.crc32(name.encode("utf-8", "surrogateescape")) & 0xFFFF) * 16

    def lookup(self, name: str) -> KernelSymbol | None:
        crc = zlib.crc32(name.encode("utf-8", "surrogateescape"))
        return KernelSymbol(name, self.value(name), "fuzzdep" if crc % 4 == 0 else None)

    exact = lookup  # every name exists exactly as asked for, whatever the version rule


def header_kind(rng: random.Random) -> str:
    return rng.choice(("auto", "auto", "legacy"))


def run_pipeline(data: bytes, path: str, arch: str, small: bool, header: str) -> int:
    """What ``pyinsmod load -n -m`` does, in process; returns the image size."""
    from . import cli
    from .elf.reader import ElfObject
    from .loader import link, module_name_from_path
    from .modinfo import read_modinfo
    from .params import split_arguments

    obj = ElfObject(data, path)
    info = read_modinfo(obj)
    args = PARAMS_ARGS if os.path.basename(path).startswith("params") else ()
    try:
        arg_string, params = split_arguments(args, info.parameters, obj.word_size)
    except LoadError as err:
        raise err.with_file(path) from None
    base, ksyms = addresses(arch, small)
    linked = link(
        obj, AnySymbols(ksyms), lambda size: base, name=module_name_from_path(path),
        args=arg_string, header=header, params=params, gpl_ok=info.gpl_compatible,
    )  # fmt: skip
    cli._format_map(linked, obj.word_size)
    json.dumps(cli._map_json(linked))
    return linked.size


class FuzzTimeout(Exception):
    """Raised by the wall-clock guard: the input took longer than its bound."""


def _alarm(signum: int, frame: object) -> None:
    raise FuzzTimeout


@dataclass
class Outcome:
    """How one input ended: ``ok``, ``error`` (a LoadError), ``crash`` or ``timeout``."""

    status: str
    detail: str
    seconds: float
    image_size: int = 0

    @property
    def failed(self) -> bool:
        return self.status in ("crash", "timeout")


def run_one(
    data: bytes,
    path: str,
    arch: str,
    small: bool,
    header: str = "auto",
    time_limit: float = TIME_LIMIT,
) -> Outcome:
    """Run one input under a wall-clock guard (SIGALRM: call from the main thread)."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, time_limit)
    start = time.perf_counter()
    try:
        size = run_pipeline(data, path, arch, small, header)
        return Outcome("ok", "", time.perf_counter() - start, size)
    except LoadError as err:
        return Outcome("error", f"{type(err).__name__}: {err}", time.perf_counter() - start)
    except FuzzTimeout:
        return Outcome("timeout", f"over {time_limit}s", time.perf_counter() - start)
    except Exception:  # the point of the fuzzer: anything else is a bug
        return Outcome("crash", traceback.format_exc(), time.perf_counter() - start)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass(frozen=True)
class FuzzInput:
    """One reproducible input: ``key`` is ``"S:i"`` (master seed, input number)."""

    key: str
    seed: Seed
    data: bytes
    header: str
    mutations: tuple[str, ...]

    @property
    def path(self) -> str:
        return self.seed.name


def make_input(seeds: Sequence[Seed], key: str) -> FuzzInput:
    rng = random.Random(key)
    seed = rng.choice(seeds)
    data, done = mutate(seed, rng)
    return FuzzInput(key, seed, data, header_kind(rng), tuple(done))


def inputs(seeds: Sequence[Seed], master: int, count: int, first: int = 0) -> Iterator[FuzzInput]:
    for i in range(first, first + count):
        yield make_input(seeds, f"{master}:{i}")


def peak_rss_mib() -> float:
    """This process's peak resident set so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Report:
    """Totals of a run, for the test's assertions and ``tools/fuzz``'s summary."""

    tried: int = 0
    ok: int = 0
    errors: int = 0
    failures: list[tuple[FuzzInput, Outcome]] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")
    largest_image: tuple[int, str] = (0, "")
    error_kinds: dict[str, int] = field(default_factory=dict)
    rss_before_mib: float = 0.0
    rss_after_mib: float = 0.0
    seconds: float = 0.0

    def add(self, item: FuzzInput, out: Outcome) -> None:
        self.tried += 1
        if out.status == "ok":
            self.ok += 1
        elif out.status == "error":
            self.errors += 1
            kind = out.detail.split(":", 1)[0]
            self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1
        else:
            self.failures.append((item, out))
        if out.seconds > self.slowest[0]:
            self.slowest = (out.seconds, item.key)
        if out.image_size > self.largest_image[0]:
            self.largest_image = (out.image_size, item.key)

    def summary(self) -> str:
        lines = [
            f"inputs tried: {self.tried}  failures: {len(self.failures)}  "
            f"(ok {self.ok}, LoadError {self.errors}) in {self.seconds:.1f}s",
            f"slowest input: {self.slowest[0] * 1000:.1f} ms ({self.slowest[1]}); "
            f"largest image: {self.largest_image[0]} bytes ({self.largest_image[1]}); "
            f"peak RSS {self.rss_before_mib:.0f} -> {self.rss_after_mib:.0f} MiB",
            "errors: " + ", ".join(f"{k} {v}" for k, v in sorted(self.error_kinds.items())),
        ]
        for item, out in self.failures:
            last = out.detail.strip().splitlines()[-1] if out.detail.strip() else out.status
            lines.append(
                f"FAIL seed {item.key} ({item.path}, header {item.header}, "
                f"{'; '.join(item.mutations)}): {out.status}: {last}"
            )
        return "\n".join(lines)


def fuzz(
    seeds: Sequence[Seed], master: int, count: int, first: int = 0, time_limit: float = TIME_LIMIT
) -> Report:
    """Run ``count`` inputs of master seed ``master`` in this process."""
    report = Report(rss_before_mib=peak_rss_mib())
    start = time.perf_counter()
    for item in inputs(seeds, master, count, first):
        out = run_one(
            item.data, item.path, item.seed.arch, item.seed.small, item.header, time_limit
        )
        report.add(item, out)
    report.seconds = time.perf_counter() - start
    report.rss_after_mib = peak_rss_mib()
    return report


# -- minimising a crash -------------------------------------------------------------------


_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning))\b")


def crash_signature(out: Outcome) -> str:
    """The exception type and the innermost insmod_py frame: what must stay while minimising."""
    lines = [line for line in out.detail.strip().splitlines() if line.strip()]
    frames = [line.strip() for line in lines if line.strip().startswith("File ")]
    ours = [f for f in frames if "insmod_py" in f] or frames
    where = re.sub(r"^File \"(?:.*/)?([^/]+)\", line \d+, in ", r"\1:", ours[-1]) if ours else ""
    raised = [m.group(1) for m in map(_EXC_LINE.match, lines) if m]
    kind = raised[-1] if raised else out.status
    return f"{kind} @ {where}"


def minimise(item: FuzzInput, time_limit: float = TIME_LIMIT) -> bytes:
    """Bring the crashing bytes back toward the seed, one differing byte at a time.

    Bytes that differ from the seed are reverted while the same crash (type and
    innermost frame) persists; a truncation is kept if it is needed.
    """

    def crashes(data: bytes) -> bool:
        out = run_one(data, item.path, item.seed.arch, item.seed.small, item.header, time_limit)
        return out.failed and crash_signature(out) == target

    first = run_one(item.data, item.path, item.seed.arch, item.seed.small, item.header, time_limit)
    target = crash_signature(first)
    data = bytearray(item.data)
    if len(data) < len(item.seed.data):  # try the untruncated file first
        longer = bytes(data) + item.seed.data[len(data) :]
        if crashes(longer):
            data = bytearray(longer)
    for at in range(len(data)):
        if at < len(item.seed.data) and data[at] != item.seed.data[at]:
            trial = bytearray(data)
            trial[at] = item.seed.data[at]
            if crashes(bytes(trial)):
                data = trial
    return bytes(data)


# -- the command line, in subprocesses ------------------------------------------------------

PYINSMOD = [sys.executable, "-m", "insmod_py"]


@dataclass
class CliResult:
    key: str
    returncode: int
    stderr: str
    leftovers: list[str]  # files in the output directory that should not exist

    @property
    def problem(self) -> str | None:
        """What is wrong with this run, or None: the CLI contract (module docstring)."""
        if "Traceback" in self.stderr:
            return "traceback on stderr"
        if self.returncode == 0:
            return f"stderr on success: {self.stderr!r}" if self.stderr else None
        if self.returncode != 1:
            return f"exit status {self.returncode}"
        lines = self.stderr.splitlines()
        if len(lines) != 1 or not lines[0].startswith("pyinsmod: "):
            return f"{len(lines)} stderr lines: {self.stderr!r}"
        if self.leftovers:
            return f"left behind after a failure: {self.leftovers}"
        return None


def ksyms_text(seed: Seed) -> str:
    """A /proc/ksyms giving every name in the seed's string tables an address."""
    _, start = addresses(seed.arch, seed.small)
    table = AnySymbols(start)
    names = set()
    for off, size in seed.strtabs:
        for raw in seed.data[off : off + size].split(b"\0"):
            if raw and not raw.startswith(b".") and raw.isascii():
                names.add(raw.decode())
    width = 2 * seed.word_size
    return "".join(f"{table.value(n):0{width}x} {n}\n" for n in sorted(names))


def run_cli(item: FuzzInput, workdir: Path, timeout: float = 60.0) -> CliResult:
    """``pyinsmod load -n --ksyms K -O blob --map-file map -m OBJ`` on one input."""
    case = Path(tempfile.mkdtemp(prefix="case-", dir=workdir))
    obj = case / os.path.basename(item.path)
    obj.write_bytes(item.data)
    ksyms = case / "ksyms"
    ksyms.write_text(ksyms_text(item.seed))
    out = case / "out"
    out.mkdir()
    base, _ = addresses(item.seed.arch, item.seed.small)
    header = [] if item.header == "auto" else [f"--{item.header}"]
    args = list(PARAMS_ARGS) if os.path.basename(item.path).startswith("params") else []
    cmd = [
        *PYINSMOD, "load", "-n", "--ksyms", str(ksyms), "--base", hex(base), "-m", *header,
        "-O", str(out / "blob"), "--map-file", str(out / "map.json"), str(obj), *args,
    ]  # fmt: skip
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, "LC_ALL": "C"}
    )
    leftovers = sorted(p.name for p in out.iterdir()) if proc.returncode else []
    return CliResult(item.key, proc.returncode, proc.stderr, leftovers)
