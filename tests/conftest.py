"""Shared fixtures: ``built`` makes sure the C objects under build/ exist (``make -s modules``)."""

from __future__ import annotations

import fcntl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BUILD_DIR = REPO_ROOT / "build"


@pytest.fixture(scope="session")
def built() -> Iterator[Path]:
    """Path of ``build/`` after ``make -s modules`` ran once for this session.

    Layout: ``build/<arch>/kernel_stub/module.o`` and ``build/<arch>/examples/NAME{,.common,
    .eh,.small,.pre}.o`` (see mk/modules.mk).  A lock file serialises concurrent test
    sessions so two makes never rebuild the same tree at once.
    """
    BUILD_DIR.mkdir(exist_ok=True)
    with open(BUILD_DIR / ".modules.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run(
            ["make", "-s", "--no-print-directory", "modules"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        pytest.fail(f"make modules failed:\n{proc.stdout}{proc.stderr}", pytrace=False)
    yield BUILD_DIR


@pytest.fixture(scope="session")
def real_kernels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The real 2.4 kernels under qemu (tests/realkernel.py): ``real_kernels.get(arch,
    variant)`` is a QemuBackend with no modules loaded and an empty log."""
    from realkernel import RealKernels

    kernels = RealKernels(tmp_path_factory.mktemp("qemu-state"))
    try:
        yield kernels
    finally:
        kernels.close()
