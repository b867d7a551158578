"""The bulk parser for common-shaped symbol files against the per-line parser.

``parse_symbols`` takes a whole file at C speed when every line has one common shape
and otherwise falls back to the per-line parser.  Every table (or error) must be the
same either way: the same iteration order, lookups, twins, errors and later ``add``s.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import pytest

from insmod_py import ksyms
from insmod_py.errors import SymbolError
from insmod_py.ksyms import KernelSymbol, SymbolTable, parse_symbols, strip_version

CORPUS = Path.home() / ".cache" / "pyinsmod-corpus"
SYSTEM_MAPS = sorted(p for p in CORPUS.glob("System.map-*") if p.stat().st_size > 1 << 20)

_CRCS = ["1b7d4074", "1B7D4074", "00000000", "deadbeef"]
_BASES = ["printk", "foo", "bar", "Using_Versions", "x_R1234567", "a.b$c", "#hash", "q_R"]
_KINDS = "TTTtttDdBbRrAaWwVvGgSsiUNnw-?"


def reference_parse(text: str, source: str = "<symbols>") -> SymbolTable:
    """parse_symbols with the fast path switched off."""
    with mock.patch.object(ksyms, "_parse_fast", lambda text: None):
        return parse_symbols(text, source)


def queries(text: str) -> list[str]:
    """Every token of the text, and versioned/unversioned twins of each."""
    found: dict[str, None] = {}
    for token in text.split():
        base = strip_version(token)
        found.update(dict.fromkeys([token, base, f"{base}_R{_CRCS[0]}", f"{token}_R{_CRCS[3]}"]))
        found.update(dict.fromkeys([f"{base}_Rsmp_{_CRCS[0]}", f"{base}_R{_CRCS[2]}"]))
    found.update(dict.fromkeys(["", "nope", "nope_R1b7d4074", "Using_Versions"]))
    return list(found)


def name_queries(text: str) -> list[str]:
    """Every name of a big file and its unversioned and versioned twins."""
    found: dict[str, None] = {}
    for line in text.splitlines():
        name = line.split("\t")[0].rsplit(" ", 1)[1]
        base = strip_version(name)
        found.update(dict.fromkeys([name, base, f"{base}_R{_CRCS[0]}"]))
    return list(found)


def outcome(parse: Callable[[str, str], SymbolTable], text: str, names: list[str]) -> object:
    """What a caller can observe of one parse: the error, or the table's every answer."""
    try:
        table = parse(text, "f")
    except SymbolError as exc:
        return ("error", str(exc))
    return ("table", *observe(table, names))


def observe(table: SymbolTable, names: list[str]) -> tuple[object, ...]:
    before = [(n, table.lookup(n), n in table) for n in names]  # lookups before iterating
    listed = list(table)
    assert all(table.lookup(s.name) is s for s in listed)  # one object per symbol
    after = [table.lookup(n) for n in names]
    assert after == [found for _, found, _ in before]
    return listed, before, len(table), table.using_versions


def assert_same(text: str, names: list[str] | None = None, adding: bool = True) -> bool:
    """Both parsers agree on ``text``; True when the fast path took it."""
    names = queries(text) if names is None else names
    fast = outcome(parse_symbols, text, names)
    slow = outcome(reference_parse, text, names)
    assert fast == slow
    if adding and fast[0] == "table":  # and they keep agreeing as symbols are added
        extra = [KernelSymbol(n, i, "late", i % 2 == 0) for i, n in enumerate(names[:40:3])]
        tables = [parse_symbols(text), reference_parse(text)]
        for table in tables:
            for sym in extra:
                table.add(sym)
        assert observe(tables[0], names) == observe(tables[1], names)
        merged = [t.merged(extra[:5]) for t in tables]
        assert observe(merged[0], names) == observe(merged[1], names)
    return ksyms._parse_fast(text) is not None


# -- random files ---------------------------------------------------------------------------
def _name(rng: random.Random) -> str:
    base = rng.choice(_BASES)
    roll = rng.random()
    if roll < 0.3:
        return f"{base}_R{rng.choice(_CRCS)}"
    if roll < 0.4:
        return f"{base}_Rsmp_{rng.choice(_CRCS)}"
    if roll < 0.45:
        return f"{base}_R{rng.choice(_CRCS)}_R{rng.choice(_CRCS)}"  # versioned twice
    return base


def _address(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return "0" * rng.choice([1, 8, 16])
    digits = f"{rng.getrandbits(64):016x}"[-rng.choice([1, 4, 8, 16]) :]
    return digits.upper() if rng.random() < 0.2 else digits


def _clean_line(rng: random.Random, fields: int) -> str:
    kind = f"{rng.choice(_KINDS)} " if fields == 3 else ""
    module = rng.choice(["", "", "", "\t[mod]", "\t[]", "\t[other.mod]"])
    return f"{_address(rng)} {kind}{_name(rng)}{module}"


def _messy_line(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.05:
        return rng.choice(["", "   ", "# comment", "  # indented", "\t"])
    if roll < 0.1:  # the per-line parser's refusals
        return rng.choice(
            ["-5 foo", "0x10 foo", "c0_10 foo", "zz foo", "10", "10 TT foo", "10 T foo bar"]
        )
    if roll < 0.15:  # odd but accepted by the per-line parser
        return rng.choice(
            ["10 T [brk]", "10 [brk]\t[m]", "10  T  spaced", "  10 T lead ", "10\tT\ttabs",
             "10 T foo [mod]", "10 T a]b", "10 T a[b", "10 foo\t[m]x", "10 T foo\t[[m]]"]
        )  # fmt: skip
    return _clean_line(rng, rng.choice([2, 3]))


def _join(rng: random.Random, lines: list[str]) -> str:
    end = rng.choice(["\n", "\n", "\n", "\r\n", "\r", "\x0b"])
    text = end.join(lines)
    return text + end if rng.random() < 0.8 else text  # sometimes no final newline


def _clean_files(seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    for _ in range(150):
        fields = rng.choice([2, 3])
        lines = [_clean_line(rng, fields) for _ in range(rng.randint(1, 40))]
        text = "\n".join(lines)
        yield text + "\n" if rng.random() < 0.8 else text


def _messy_files(seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    for _ in range(300):
        lines = [_messy_line(rng) for _ in range(rng.randint(0, 30))]
        if rng.random() < 0.3:  # one bad line in an otherwise clean file
            lines = [_clean_line(rng, 3) for _ in range(rng.randint(1, 20))]
            lines.insert(rng.randrange(len(lines) + 1), _messy_line(rng))
        yield _join(rng, lines)


@pytest.mark.parametrize("seed", range(4))
def test_clean_random_files_take_the_fast_path_and_agree(seed: int) -> None:
    for text in _clean_files(seed):
        assert assert_same(text), text


@pytest.mark.parametrize("seed", range(4))
def test_messy_random_files_agree(seed: int) -> None:
    fast = sum(assert_same(text) for text in _messy_files(seed))
    assert fast > 0  # the mix also has files the fast path takes


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        "0 T a\n0 t b\n",  # every address 0
        "00000000 U printk\n10 w weak\n",  # only skipped types
        "10 U printk\n20 T mine\n",
        "10 t dup\n20 T dup\n30 T dup\n40 t dup\n",
        "10 t dup_R11111111\n20 T dup_R22222222\n30 t dup\n",
        "10 t y_R22222222\n20 T y_R11111111\n30 T y_R22222222\n",
        "10 t y\n20 t y_R11111111\n30 T y\n40 T y_R11111111\n",
        "10 t a_R11111111_R22222222\n20 T a_R11111111\n",
        "10 foo_R11111111\n20 foo\n30 Using_Versions\n",
        "10 T a\t[m]\n20 T a\n30 t b\t[]\n",
        "10 T a\n20 T b",  # no final newline
        "10 T a\n20 T b\n\n",  # a blank last line
        "10 T a\r\n20 T b\r\n",
        "10 T a\n20 b\n",  # both shapes in one file
        "10 T a \n",  # trailing space
        "10 T a\x85b\n",
        "10 T a\u00e9\n",
    ],
)
def test_edge_cases_agree(text: str) -> None:
    assert_same(text)


def test_the_fast_path_keeps_the_per_line_error_messages() -> None:
    for text in ["10 T a\n20 TT b\n", "10 T a\nbogus\n", "0 T a\n", "0 U a\n"]:
        with pytest.raises(SymbolError) as fast:
            parse_symbols(text, "f")
        with pytest.raises(SymbolError) as slow:
            reference_parse(text, "f")
        assert str(fast.value) == str(slow.value)


# -- real files -----------------------------------------------------------------------------
def _ksyms_style(system_map: str) -> str:
    """A 2.4 /proc/ksyms-like file from a System.map: versioned names, some module lines."""
    rng = random.Random(7)
    lines = []
    for i, line in enumerate(system_map.splitlines()):
        address, kind, name = line.split()
        if kind in "Uw":
            continue
        crc = f"{rng.getrandbits(32):08x}"
        name = f"{name}_R{crc}" if i % 3 else name
        lines.append(f"{address} {name}" + (f"\t[mod{i % 50}]" if i % 7 == 0 else ""))
    return "\n".join(lines) + "\n"


@pytest.mark.skipif(not SYSTEM_MAPS, reason="no corpus System.map (make corpus)")
@pytest.mark.parametrize("path", SYSTEM_MAPS, ids=lambda p: p.name)
def test_real_system_maps_take_the_fast_path_and_agree(path: Path) -> None:
    text = path.read_text(encoding="ascii")
    for variant in (text, _ksyms_style(text)):
        assert ksyms._parse_fast(variant) is not None
        assert assert_same(variant, name_queries(variant), adding=False)
