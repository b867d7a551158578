"""The written documentation stays true: docs/abi.md's struct tables equal modstruct's
layouts (which tests/test_modstruct.py holds to gcc), and every relative link resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from insmod_py import modstruct as ms

REPO = Path(__file__).resolve().parents[1]
ABI = REPO / "docs" / "abi.md"
DOCS = [
    REPO / "README.md",
    REPO / "HACKING.md",
    REPO / "bench" / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
]

_ROW = re.compile(r"^\| `(\w+)` \|[^|]*\| (\d+) \| (\d+) \|$")
_SIZE_ROW = re.compile(r"^\| `(\w+)`[^|]*\|[^|]*\| (\d+) \| (\d+)")
_LINK = re.compile(r"\]\(([^)#]+)(?:#[^)]*)?\)")


def _section(text: str, heading: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("#")), len(lines))
    return lines[start:end]


def test_struct_module_offsets_in_abi_md_are_modstructs() -> None:
    lines = _section(ABI.read_text(), "### struct module")
    rows = [m.groups() for m in map(_ROW.match, lines) if m]
    # every member, in order; the doc calls the use-count union by its C name, ``uc``
    assert [name for name, _, _ in rows] == [
        "uc" if f.name == "usecount" else f.name for f in ms.layout(4).fields
    ]
    for name, off32, off64 in rows:
        field = "usecount" if name == "uc" else name
        assert (int(off32), int(off64)) == (ms.offsetof(4, field), ms.offsetof(8, field)), name
    total = re.search(r"\*\*sizeof\*\* \| \| \*\*(\d+)\*\* \| \*\*(\d+)\*\*", ABI.read_text())
    assert total and (int(total[1]), int(total[2])) == (ms.sizeof(4), ms.sizeof(8))


def test_smaller_struct_sizes_in_abi_md_are_modstructs() -> None:
    rows = _section(ABI.read_text(), "### The smaller structures")
    sizes = {m[1]: (int(m[2]), int(m[3])) for m in map(_SIZE_ROW.match, rows) if m}
    assert set(sizes) == {
        "module_symbol", "module_ref", "exception_table_entry", "kernel_sym", "module_info",
    }  # fmt: skip
    for struct, (i386, x86_64) in sizes.items():
        assert (i386, x86_64) == (ms.sizeof(4, struct), ms.sizeof(8, struct)), struct


def test_module_new_offsets_in_abi_md_are_modstructs() -> None:
    text = ABI.read_text()
    for field in ("syms_end", "arg"):
        m = re.search(rf"^\| `{field}` \| (\d+) \| (\d+) \|$", text, re.MULTILINE)
        assert m, field
        expected = (ms.offsetof(4, field, "module_new"), ms.offsetof(8, field, "module_new"))
        assert (int(m[1]), int(m[2])) == expected, field
    m = re.search(r"\*\*sizeof\*\* \| \*\*(\d+)\*\* \| \*\*(\d+)\*\*", text)
    assert m and (int(m[1]), int(m[2])) == (ms.sizeof_module_new(4), ms.sizeof_module_new(8))


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_point_at_files_in_the_repository(doc: Path) -> None:
    for target in _LINK.findall(doc.read_text()):
        if "://" in target:
            continue
        assert (doc.parent / target).resolve().exists(), f"{doc.name}: {target}"
