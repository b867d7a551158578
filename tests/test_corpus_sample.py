"""Real Debian modules (make corpus): a fixed-seed sample links byte-identically to GNU ld.

The full run (8157 modules of Debian bookworm's 686 and amd64 kernels) is
``make corpus``; this test checks a fixed sample of it, per architecture,
whenever the corpus cache exists, and is skipped with the reason when not.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from insmod_py.arch import NAMES
from insmod_py.corpus.check import Job, check
from insmod_py.corpus.fetch import cache_dir, cached_tree
from insmod_py.depmod import Depmod, read_module, scan_tree
from insmod_py.ksyms import SymbolTable
from insmod_py.loader import link
from insmod_py.oracle import compare_with_ld

SAMPLE = 50
SEED = 2002
ARCHES = list(NAMES)


@pytest.fixture(scope="module", params=ARCHES)
def corpus(request: pytest.FixtureRequest) -> tuple[str, Path, Depmod, SymbolTable]:
    arch = request.param
    tree = cached_tree(arch)
    if tree is None:
        pytest.skip(
            f"no {arch} corpus in {cache_dir() / arch} (run `make corpus` once: it downloads "
            "Debian's kernel packages, about 1.7 GB, and keeps 0.8 GB; CORPUS_DIR overrides)"
        )
    depmod = scan_tree(tree.modules, tree.system_map)
    return arch, tree.modules, depmod, depmod.table()


def _jobs(arch: str, root: Path, depmod: Depmod) -> list[Job]:
    modules = random.Random(SEED).sample(depmod.modules, SAMPLE)
    return [Job(arch, str(root), m.path, m.name, m.base, m.slot, "") for m in modules]


def test_depmod_resolves_every_undefined_name_of_the_tree(corpus) -> None:
    _, _, depmod, _ = corpus
    assert depmod.unresolved == {}
    spans = sorted((m.base, m.base + m.slot) for m in depmod.modules)
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))


def test_sample_is_identical_to_gnu_ld_or_refused_with_a_reason(corpus) -> None:
    arch, root, depmod, table = corpus
    outcomes = [check(job, table) for job in _jobs(arch, root, depmod)]
    bad = [o for o in outcomes if o.status in ("differing", "error")]
    assert bad == []
    for o in outcomes:
        assert o.status == "identical" or (o.status == "refused" and o.reason)
    assert sum(o.status == "identical" for o in outcomes) > 0


def test_exports_have_the_address_of_their_slot(corpus) -> None:
    """A module linked in its depmod slot defines its exports where the symbol file says."""
    _, root, depmod, table = corpus
    module = next(m for m in depmod.modules if m.path.endswith("/libcrc32c.ko"))
    obj = read_module(root / module.path)
    linked = link(obj, table, lambda size: module.base, name=module.name, header="legacy")
    assert module.exports
    for name in module.exports:
        assert linked.symbols[name] == table.lookup(name).value


def test_oracle_notices_a_wrong_kernel_address_in_a_real_module(corpus, tmp_path: Path) -> None:
    """Resolve one used kernel symbol 16 bytes off in our link: ld's bytes then differ."""
    _, root, depmod, table = corpus
    module = next(m for m in depmod.modules if m.path.endswith("/libcrc32c.ko"))
    obj = read_module(root / module.path)
    good = link(obj, table, lambda size: module.base, name=module.name, header="legacy")
    victim = next(s.name for s in obj.symbols[1:] if s.shndx == 0 and s.name in table)
    shifted = dataclasses.replace(table.lookup(victim), value=table.lookup(victim).value + 16)
    wrong = SymbolTable([s for s in table if s.name != victim] + [shifted])
    bad = link(obj, wrong, lambda size: module.base, name=module.name, header="legacy")
    assert bad.image != good.image
    # ld is told the true address, so every relocation against the victim now differs.
    honest = dataclasses.replace(bad, symbols=good.symbols)
    assert compare_with_ld(obj, honest, tmp_path).differing != []


def _closure(deps: dict[str, list[str]], module: str) -> set[str]:
    seen: set[str] = set()
    todo = list(deps[module])
    while todo:
        dep = todo.pop()
        if dep not in seen:
            seen.add(dep)
            todo += deps[dep]
    return seen


def test_dependencies_match_kmods_depmod(corpus) -> None:
    """Our direct dependencies, closed transitively, are what kmod's depmod lists."""
    _, root, depmod, _ = corpus
    kmod = shutil.which("depmod") or next(
        (p for p in ("/usr/sbin/depmod", "/sbin/depmod") if Path(p).exists()), None
    )
    if kmod is None:
        pytest.skip("kmod's depmod is not installed (apt-get install kmod)")
    release = root.name
    proc = subprocess.run(
        [kmod, "-b", str(root.parents[2]), "-F", str(root.parents[2] / "System.map"), "-n",
         release],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    theirs = {}
    for line in proc.stdout.split("\n# ")[0].splitlines():
        path, _, deps = line.partition(":")
        theirs[path] = set(deps.split())
    by_name = {m.name: m.path for m in depmod.modules}
    ours = {m.path: [by_name[d] for d in m.deps] for m in depmod.modules}
    assert ours.keys() == theirs.keys()
    assert [p for p in ours if _closure(ours, p) != theirs[p]] == []


def test_an_unsupported_relocation_type_is_refused_by_name(corpus, tmp_path: Path) -> None:
    """A real module with one relocation retyped to a GOT type: refused, the type named."""
    arch, root, depmod, table = corpus
    module = next(m for m in depmod.modules if m.path.endswith("/libcrc32c.ko"))
    obj = read_module(root / module.path)
    sec = next(s for s in obj.relocation_sections() if obj.relocations(s).offsets)
    data = bytearray(obj.data)
    word = obj.word_size
    info_at = sec.offset + word  # r_info of the first entry
    if word == 4:
        data[info_at] = 3  # R_386_GOT32: the type is r_info's low byte
        expected = "R_386_GOT32"
    else:
        data[info_at : info_at + 4] = (9).to_bytes(4, "little")  # R_X86_64_GOTPCREL
        expected = "R_X86_64_GOTPCREL"
    (tmp_path / "bad.ko").write_bytes(data)
    job = Job(arch, str(tmp_path), "bad.ko", module.name, module.base, module.slot, "")
    outcome = check(job, table)
    assert outcome.status == "refused"
    assert f"unsupported relocation {expected}" in outcome.reason
