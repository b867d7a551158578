"""The kernel cache: where entries live, what keys them, and the lock around building.

An entry is ``<root>/<arch>-<variant>-<key>/``; ``key`` hashes everything that decides
the build's output (source, patches, config, compiler and its flags, this build
script's version), so a change to any of them makes a new entry instead of reusing a
stale one.  Entries appear by ``rename`` of a finished directory, so a reader never
sees half of one; builders of one architecture take its lock in turn.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..arch import Machine

# Bump when the build steps or the entry layout change.
BUILD_VERSION = "2"

PACKAGE_DIR = Path(__file__).resolve().parent
PATCH_DIR = PACKAGE_DIR / "patches"
CONFIG_DIR = PACKAGE_DIR / "configs"
ZIPPEL_PATCH = "zippel-sys_init_module.patch"
VARIANTS = ("unpatched", "patched")


def cache_root() -> Path:
    """``$PYINSMOD_CACHE/kernel24``, else ``~/.cache/pyinsmod/kernel24`` (``$XDG_CACHE_HOME``)."""
    base = os.environ.get("PYINSMOD_CACHE")
    if base:
        return Path(base) / "kernel24"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg or Path.home() / ".cache") / "pyinsmod" / "kernel24"


def variant_patches(machine: Machine, variant: str) -> tuple[str, ...]:
    """The patch files applied for ``variant``, in order."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
    return machine.kernel24.patches + ((ZIPPEL_PATCH,) if variant == "patched" else ())


def config_path(machine: Machine) -> Path:
    return CONFIG_DIR / f"{machine.name}.config"


@functools.cache
def compiler_identity() -> str:
    """The host gcc's and ld's version lines: a new compiler is a new build."""
    lines = []
    for cmd in (["gcc", "--version"], ["ld", "--version"]):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
        except OSError:
            out = ""
        lines.append((out.splitlines() or [f"{cmd[0]} missing"])[0])
    return "\n".join(lines)


def key(machine: Machine, variant: str, source_sha256: str) -> str:
    """16 hex digits identifying one build's inputs."""
    h = hashlib.sha256()

    def part(label: str, data: bytes) -> None:
        h.update(f"{label}\0{len(data)}\0".encode())
        h.update(data)

    part("build", BUILD_VERSION.encode())
    part("source", source_sha256.encode())
    part("arch", machine.name.encode())
    for name in variant_patches(machine, variant):
        part(f"patch {name}", (PATCH_DIR / name).read_bytes())
    part("config", config_path(machine).read_bytes())
    part("cflags", " ".join(machine.kernel24.cflags).encode())
    part("asflags", " ".join(machine.kernel24.asflags).encode())
    part("compiler", compiler_identity().encode())
    return h.hexdigest()[:16]


def entry_dir(root: Path, arch: str, variant: str, key_: str) -> Path:
    return root / f"{arch}-{variant}-{key_}"


@contextlib.contextmanager
def arch_lock(root: Path, arch: str) -> Iterator[None]:
    """Exclusive while one process builds ``arch`` (both variants share one tree)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".lock-{arch}", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def remove_stale_builds(root: Path, arch: str) -> None:
    """Scratch trees of ``arch`` left by a killed builder (call with the arch lock held)."""
    for stale in root.glob(f".build-{arch}-*"):
        shutil.rmtree(stale, ignore_errors=True)


def install(staging: Path, final: Path) -> None:
    """Move a finished entry into place; an entry already there (same key) wins."""
    try:
        os.rename(staging, final)
    except OSError:
        if not final.is_dir():
            raise


def share_identical_files(reference: Path, entry: Path) -> None:
    """Hard-link files of ``entry`` that are byte-identical to ``reference``'s.

    The two variants differ only in kernel/module.c, so their headers and modules are
    the same bytes; sharing them halves the cache.  Entries are never written after
    they are installed, so sharing is safe.
    """
    for path in entry.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        ref = reference / path.relative_to(entry)
        same_size = ref.is_file() and ref.stat().st_size == path.stat().st_size
        if same_size and ref.read_bytes() == path.read_bytes():
            tmp = path.with_name(path.name + ".lnk")
            os.link(ref, tmp)
            os.replace(tmp, path)


@contextlib.contextmanager
def manifest_of(directory: Path, name: str, what: str) -> Iterator[dict[str, Any]]:
    """A cache entry's manifest; reading it or a field missing from it, inside the
    ``with``, is one Kernel24Error (``not a <what> cache entry``), never a traceback."""
    from .source import Kernel24Error

    try:
        yield json.loads((directory / name).read_text())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        why = f"no {exc} field" if isinstance(exc, KeyError) else str(exc)
        raise Kernel24Error(f"not a {what} cache entry ({why})", file=str(directory)) from None
