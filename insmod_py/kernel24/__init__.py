"""The real Linux 2.4.37.11 kernel, built and cached for i386 and x86_64.

Two variants per architecture: the stock kernel ("unpatched") and the kernel with
Roman Zippel's 2002 ``sys_init_module`` change ("patched"), which accepts a prelinked
module's ``struct module_new`` header.  :func:`find_kernel` only looks in the cache;
:func:`build_kernel` builds what is missing (see README.md in this directory).
"""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from ..arch import NAMES as ARCHES
from ..arch import Machine, by_name
from . import cache
from .build import INCLUDE_PLACEHOLDER, MANIFEST, Log, build_variants
from .source import VERSION, Kernel24Error, Source, download, locate

VARIANTS = cache.VARIANTS

__all__ = [
    "ARCHES", "VARIANTS", "VERSION", "Kernel24Error", "KernelBuild", "build_kernel",
    "cache_root", "find_kernel", "prune", "source_tarball",
]  # fmt: skip

cache_root = cache.cache_root


@dataclass(frozen=True)
class KernelBuild:
    """One cached kernel: its files, and how its modules were compiled."""

    arch: str  # "i386" | "x86_64"
    variant: str  # "unpatched" | "patched"
    directory: Path  # the cache entry
    bzimage: Path
    system_map: Path
    vmlinux: Path  # unstripped, for symbols
    include: Path  # the configured include/ tree (asm is asm-<arch>, resolved)
    modules: Path  # the kernel's own modules (.o): fat.o, msdos.o, vfat.o, ...
    cflags: tuple[str, ...]  # gcc flags its modules were built with (-I<include> included)
    config: Path  # the .config it was built with
    key: str  # the cache key (source, patches, config, compiler, flags)
    source_sha256: str  # of the tarball it was built from
    build_seconds: float  # cold for the first variant built in a tree, else incremental

    @classmethod
    def load(cls, directory: Path) -> KernelBuild:
        """The entry at ``directory`` (Kernel24Error if it is not a complete entry)."""
        include = directory / "include"
        with cache.manifest_of(directory, MANIFEST, "kernel24") as manifest:
            return cls(
                arch=manifest["arch"],
                variant=manifest["variant"],
                directory=directory,
                bzimage=directory / "bzImage",
                system_map=directory / "System.map",
                vmlinux=directory / "vmlinux",
                include=include,
                modules=directory / "modules",
                cflags=tuple(
                    f.replace(INCLUDE_PLACEHOLDER, str(include)) for f in manifest["cflags"]
                ),
                config=directory / "config",
                key=manifest["key"],
                source_sha256=manifest["source_sha256"],
                build_seconds=float(manifest["build_seconds"]),
            )


def _machine(arch: str, variant: str) -> Machine:
    if arch not in ARCHES:
        raise Kernel24Error(f"unknown architecture {arch!r} (one of: {', '.join(ARCHES)})")
    if variant not in VARIANTS:
        raise Kernel24Error(f"unknown kernel variant {variant!r} (one of: {', '.join(VARIANTS)})")
    return by_name(arch)


def _find(machine: Machine, variant: str, src: Source, root: Path) -> KernelBuild | None:
    entry = cache.entry_dir(root, machine.name, variant, cache.key(machine, variant, src.sha256))
    return KernelBuild.load(entry) if (entry / MANIFEST).is_file() else None


def _download_dir(root: Path) -> Path:
    return root / "src"


def find_kernel(arch: str, variant: str, *, source: Path | None = None) -> KernelBuild | None:
    """The cached build for the source at hand (see source.py), or None; never builds."""
    machine = _machine(arch, variant)
    root = cache_root()
    src = locate(source, _download_dir(root))
    return None if src is None else _find(machine, variant, src, root)


def _stderr(line: str) -> None:
    print(f"kernel24: {line}", file=sys.stderr, flush=True)


def source_tarball(source: Path | None = None, *, log: Log = _stderr) -> Source:
    """The 2.4.37.11 tarball a build would use, downloaded if none is at hand."""
    download_dir = _download_dir(cache_root())
    return locate(source, download_dir) or download(download_dir, log)


def build_kernel(
    arch: str, variant: str, *, source: Path | None = None, log: Log = _stderr
) -> KernelBuild:
    """The cached build, built first if missing (downloading the source if none is at hand).

    The other variant of ``arch`` is built in the same run when it is missing too: it
    costs only the kernel/module.c rebuild.  Concurrent callers wait on a per-arch lock.
    """
    machine = _machine(arch, variant)
    root = cache_root()
    src = source_tarball(source, log=log)
    found = _find(machine, variant, src, root)
    if found is not None:
        return found
    with cache.arch_lock(root, arch):
        cache.remove_stale_builds(root, arch)
        missing = [v for v in VARIANTS if _find(machine, v, src, root) is None]
        if variant in missing:
            build_variants(machine, missing, src, root, log)
    result = _find(machine, variant, src, root)
    if result is None:  # pragma: no cover - build_variants installs it or raises
        raise Kernel24Error(f"{arch} {variant}: the build left no cache entry")
    return result


def prune(*, source: Path | None = None) -> list[Path]:
    """Remove this cache's entries that no current build uses (older keys); return them.

    Without a tarball at hand the current keys are unknown, and nothing is removed.
    """
    root = cache_root()
    src = locate(source, _download_dir(root))
    if src is None or not root.is_dir():
        return []
    removed = []
    for arch in ARCHES:
        machine = by_name(arch)
        keep = {cache.entry_dir(root, arch, v, cache.key(machine, v, src.sha256)) for v in VARIANTS}
        entry_name = re.compile(rf"{re.escape(arch)}-({'|'.join(VARIANTS)})-[0-9a-f]{{16}}")
        with cache.arch_lock(root, arch):
            for entry in sorted(root.iterdir()):
                ours = entry_name.fullmatch(entry.name) and (entry / MANIFEST).is_file()
                if ours and entry not in keep:
                    shutil.rmtree(entry)
                    removed.append(entry)
    return removed
