"""Fetch Debian bookworm's newest 686 and amd64 kernels into the corpus cache.

Nothing is installed: ``apt-get download`` fetches the packages, ``dpkg-deb
-x`` unpacks the image package's ``.ko`` files, and only ``System.map`` is
taken out of the (800 MB) ``-dbg`` package, which is deleted afterwards.  A
``.complete`` stamp per architecture makes a second run reuse the cache.
"""

from __future__ import annotations

import lzma
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..arch import by_name
from ..errors import LoadError

STAMP = ".complete"


@dataclass(frozen=True)
class Tree:
    """One unpacked kernel: its module directory and the real System.map."""

    arch: str  # i386 or x86_64
    release: str  # e.g. 6.1.0-50-686
    root: Path  # CORPUS_DIR/<arch>
    modules: Path  # .../lib/modules/<release>
    system_map: Path


def cache_dir() -> Path:
    """``$CORPUS_DIR``, else ``$XDG_CACHE_HOME/pyinsmod-corpus``, else ``~/.cache/...``."""
    if os.environ.get("CORPUS_DIR"):
        return Path(os.environ["CORPUS_DIR"])
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "pyinsmod-corpus"


def cached_tree(arch: str, root: Path | None = None) -> Tree | None:
    """The tree of ``arch`` if a previous fetch completed, else None."""
    base = (root or cache_dir()) / arch
    stamp = base / STAMP
    if not stamp.is_file():
        return None
    release = stamp.read_text().strip()
    return Tree(arch, release, base, base / "lib" / "modules" / release, base / "System.map")


def _run(cmd: list[str], **kw: object) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise LoadError(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-400:]}")
    return proc.stdout


def _log(text: str) -> None:
    print(f"corpus: {text}", flush=True)


def ensure_foreign_arch(debarch: str) -> None:
    """``dpkg --add-architecture`` + ``apt-get update`` when the arch is not known yet."""
    native = _run(["dpkg", "--print-architecture"]).strip()
    foreign = _run(["dpkg", "--print-foreign-architectures"]).split()
    if debarch == native or debarch in foreign:
        return
    _log(f"adding dpkg architecture {debarch} and updating the package lists")
    _run(["dpkg", "--add-architecture", debarch])
    # A half-synced mirror index elsewhere must not stop us: apt-get download
    # reports clearly if the package we need is still unknown.
    subprocess.run(["apt-get", "update", "-q"], capture_output=True)


def newest_release(flavour: str) -> str:
    """The newest ``6.1.0-<abi>-<flavour>`` that apt knows (highest ABI number)."""
    pattern = rf"^linux-image-6\.1\.0-[0-9]+-{flavour}$"
    out = _run(["apt-cache", "search", "--names-only", pattern])
    abis = [int(m.group(1)) for m in re.finditer(rf"linux-image-6\.1\.0-(\d+)-{flavour}\b", out)]
    if not abis:
        raise LoadError(f"apt knows no linux-image-6.1.0-*-{flavour} (run apt-get update?)")
    return f"6.1.0-{max(abis)}-{flavour}"


def _download(package: str, debarch: str, debs: Path) -> Path:
    found = sorted(debs.glob(f"{package}_*_{debarch}.deb"))
    if found:
        return found[-1]
    _log(f"downloading {package}:{debarch}")
    _run(["apt-get", "download", f"{package}:{debarch}"], cwd=debs)
    found = sorted(debs.glob(f"{package}_*_{debarch}.deb"))
    if not found:
        raise LoadError(f"apt-get download {package}:{debarch} produced no .deb")
    return found[-1]


def decompress_modules(tree: Path) -> int:
    """Replace every ``.ko.xz`` by its ``.ko`` (Python's lzma); returns how many."""
    count = 0
    for packed in sorted(tree.rglob("*.ko.xz")):
        packed.with_suffix("").write_bytes(lzma.decompress(packed.read_bytes()))
        packed.unlink()
        count += 1
    return count


def fetch(arch: str, root: Path | None = None) -> Tree:
    """Make sure the tree of ``arch`` is in the cache; download and unpack it if not."""
    root = root or cache_dir()
    tree = cached_tree(arch, root)
    if tree is not None:
        return tree
    machine = by_name(arch)
    flavour, debarch = machine.debian_flavour, machine.debian_arch
    ensure_foreign_arch(debarch)
    release = newest_release(flavour)
    debs = root / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    image = _download(f"linux-image-{release}", debarch, debs)
    base = root / arch
    if base.exists():  # an interrupted earlier run
        shutil.rmtree(base)
    staging = root / f".{arch}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    _log(f"unpacking {image.name}")
    _run(["dpkg-deb", "-x", str(image), str(staging)])
    count = decompress_modules(staging / "lib" / "modules" / release)
    if count:
        _log(f"decompressed {count} .ko.xz files")

    system_map = root / f"System.map-{release}"
    if not system_map.is_file():
        dbg = _download(f"linux-image-{release}-dbg", debarch, debs)
        _log(f"extracting System.map from {dbg.name} (about a minute)")
        maps = staging / ".dbg"
        maps.mkdir()
        tar = f"dpkg-deb --fsys-tarfile '{dbg}' | tar -x -C '{maps}' --wildcards '*System.map*'"
        _run(["sh", "-c", tar])
        found = [p for p in maps.rglob(f"System.map-{release}") if p.stat().st_size > 1 << 20]
        if not found:
            raise LoadError(f"{dbg.name} has no real System.map-{release}")
        shutil.move(found[0], system_map)
        shutil.rmtree(maps)
        dbg.unlink()  # 800 MB, and only this one file was needed
    shutil.copyfile(system_map, staging / "System.map")
    (staging / STAMP).write_text(release + "\n")
    staging.rename(base)
    tree = cached_tree(arch, root)
    assert tree is not None
    _log(f"{arch}: {release}, {sum(1 for _ in tree.modules.rglob('*.ko'))} modules")
    return tree
