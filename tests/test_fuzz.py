"""Hostile objects: a fixed-seed fuzz run of the dry-run pipeline, in ``make test``.

Every mutated example object must end in success or one LoadError (no other
exception, no hang, no allocation beyond the loader's image limit), and the
command line must print exactly one stderr line and leave no output file.
The long run is ``make fuzz N=...`` (tools/fuzz); every crash it finds is kept
under tests/regressions/ with the minimal input.
"""

from __future__ import annotations

import json
import struct
import tracemalloc
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from insmod_py import fuzz as fh
from insmod_py.errors import ElfError
from insmod_py.layout import MAX_IMAGE_SIZE

MASTER_SEED = 20020  # fixed: the same inputs every run
COUNT = 8000
CLI_COUNT = 48
REGRESSIONS = Path(__file__).parent / "regressions"


@pytest.fixture(scope="module")
def seeds(built: Path) -> list[fh.Seed]:
    found = fh.load_seeds(built)
    assert {s.arch for s in found} == {"i386", "x86_64"}
    return found


def test_fixed_seed_run_ends_in_success_or_one_load_error(seeds: list[fh.Seed]) -> None:
    report = fh.fuzz(seeds, MASTER_SEED, COUNT)
    print(report.summary())
    assert report.tried == COUNT
    assert not report.failures, report.summary()
    # the mutations must reach the linker, not only the header checks
    assert report.ok > COUNT // 10 and report.error_kinds.get("RelocError", 0) > 0
    assert report.slowest[0] < fh.TIME_LIMIT
    assert report.largest_image[0] <= MAX_IMAGE_SIZE
    # the image (plus its one bytes() copy) is the only large allocation
    growth = report.rss_after_mib - report.rss_before_mib
    assert growth <= 2 * MAX_IMAGE_SIZE / (1 << 20) + 128, report.summary()


def test_inputs_are_reproducible_from_their_key(seeds: list[fh.Seed]) -> None:
    a, b = fh.make_input(seeds, "7:123"), fh.make_input(seeds, "7:123")
    assert (a.data, a.header, a.mutations) == (b.data, b.header, b.mutations)
    kinds = Counter(i.seed.arch for i in fh.inputs(seeds, 7, 400))
    headers = Counter(i.header for i in fh.inputs(seeds, 7, 400))
    assert min(kinds.values()) > 100 and min(headers.values()) > 100


def _with_field(data: bytes, offset: int, code: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into("<" + code, out, offset, value)
    return bytes(out)


def _huge_claims(seed: fh.Seed) -> list[tuple[str, bytes]]:
    """.bss (NOBITS) claiming 4 GiB and more, and a COMMON symbol of 4 GiB."""
    by_name = {f.what: f for f in seed.sections + seed.symbols}
    cases = []
    for i in range(seed.nsections):
        if fh._u(seed.data, by_name[f"shdr[{i}].sh_type"].offset, "I") == 8:  # SHT_NOBITS
            f = by_name[f"shdr[{i}].sh_size"]
            for value in (0xFFFFFFFF, MAX_IMAGE_SIZE + 1, 1 << 32, (1 << 63) + 1):
                if value < 1 << (8 * f.size):
                    cases.append(
                        (f"{f.what}={value:#x}", _with_field(seed.data, f.offset, f.code, value))
                    )
    for j in range(1, seed.nsymbols):
        shndx = by_name[f"sym[{j}].st_shndx"]
        if fh._u(seed.data, shndx.offset, "H") == 0xFFF2:  # SHN_COMMON
            f = by_name[f"sym[{j}].st_size"]
            cases.append((f"{f.what}=4GiB-1", _with_field(seed.data, f.offset, f.code, 0xFFFFFFFF)))
    return cases


@pytest.mark.parametrize("arch", ["i386", "x86_64"])
def test_a_section_claiming_4_gib_allocates_nothing(seeds: list[fh.Seed], arch: str) -> None:
    chosen = [s for s in seeds if s.arch == arch and not s.small and ".common." in s.name]
    cases = [(s, what, data) for s in chosen for what, data in _huge_claims(s)]
    assert len(cases) >= 4
    for seed, what, data in cases:
        tracemalloc.start()
        try:
            out = fh.run_one(data, seed.name, arch, seed.small)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert out.status == "error" and "too large" in out.detail, (seed.name, what, out)
        assert out.detail.startswith(ElfError.__name__)
        assert peak < 8 << 20, (seed.name, what, peak)


def test_command_line_sample_prints_one_line_and_leaves_no_output(
    seeds: list[fh.Seed], tmp_path: Path
) -> None:
    items = list(fh.inputs(seeds, MASTER_SEED + 1, CLI_COUNT))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda item: fh.run_cli(item, tmp_path), items))
    problems = [(r.key, r.problem) for r in results if r.problem]
    assert not problems
    statuses = Counter(r.returncode for r in results)
    assert statuses[0] and statuses[1]  # both outcomes were exercised


def _regressions() -> list[tuple[str, dict[str, object]]]:
    cases = json.loads((REGRESSIONS / "cases.json").read_text())
    return sorted(cases.items())


@pytest.mark.parametrize(("name", "case"), _regressions(), ids=[n for n, _ in _regressions()])
@pytest.mark.parametrize("header", ["auto", "legacy"])
def test_regression_inputs_no_longer_crash(name: str, case: dict[str, object], header: str) -> None:
    data = (REGRESSIONS / name).read_bytes()
    arch = "x86_64" if data[4] == 2 else "i386"
    out = fh.run_one(data, name, arch, ".small." in str(case["seed"]), header)
    assert not out.failed, (case["cause"], out.detail)
