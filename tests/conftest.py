"""Shared fixtures: ``built`` makes sure the C objects under build/ exist (``make -s modules``);
``kernel24_build`` gives the real 2.4 kernels (insmod_py.kernel24)."""

from __future__ import annotations

import fcntl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from insmod_py.kernel24 import Kernel24Error, KernelBuild, build_kernel

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
def kernel24_build() -> Callable[[str, str], KernelBuild]:
    """``kernel24_build(arch, variant)``: the real Linux 2.4.37.11 kernel, from the cache.

    Built on first use (``make kernel24`` does the same ahead of time; a cold build of
    one architecture makes both variants).  A build that cannot be made fails the test
    with its one-line reason; it is never skipped.
    """
    builds: dict[tuple[str, str], KernelBuild] = {}

    def get(arch: str, variant: str) -> KernelBuild:
        if (arch, variant) not in builds:
            try:
                builds[arch, variant] = build_kernel(arch, variant)
            except Kernel24Error as exc:
                pytest.fail(f"kernel24 {arch} {variant}: {exc}", pytrace=False)
        return builds[arch, variant]

    return get


@pytest.fixture(scope="session")
def real_kernels(
    tmp_path_factory: pytest.TempPathFactory, kernel24_build: Callable[[str, str], KernelBuild]
) -> Iterator[Any]:
    """The real 2.4 kernels under qemu (tests/support/realkernel.py): ``real_kernels.get(arch,
    variant)`` is a QemuBackend with no modules loaded and an empty log; each VM boots
    once per session."""
    from support.realkernel import RealKernels

    kernels = RealKernels(tmp_path_factory.mktemp("qemu-state"), kernel24_build)
    try:
        yield kernels
    finally:
        kernels.close()
