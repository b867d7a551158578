"""The real 2.4.37.11 kernels under qemu, for the differential tests.

One VM per (arch, variant) per test session, booted on first use (after building the
kernel into the cache if it is not there: ``make kernel24`` does the same) and reset
between tests by unloading every module and clearing the log.  A VM that cannot be reset
(a module stuck after an oops) is stopped and the next use boots a fresh one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from insmod_py.backends.qemu import QemuBackend
from insmod_py.errors import LoadError
from insmod_py.kernel24 import KernelBuild, build_kernel


class RealKernels:
    """The session's VMs; :meth:`get` hands out one reset to an empty module list."""

    def __init__(
        self, state_dir: Path, build: Callable[[str, str], KernelBuild] | None = None
    ) -> None:
        self.state_dir = state_dir
        self._build = build or (lambda arch, variant: build_kernel(arch, variant))
        self._backends: dict[tuple[str, str], QemuBackend] = {}

    def get(self, arch: str, variant: str) -> QemuBackend:
        key = (arch, variant)
        be = self._backends.get(key)
        if be is not None:
            try:
                be.reset()
                return be
            except LoadError:
                be.stop()
        self._build(arch, variant)
        be = QemuBackend(str(self.state_dir), arch, variant)
        be.reset()  # boots it
        self._backends[key] = be
        return be

    def reboot(self, arch: str, variant: str) -> None:
        """Stop the VM; the next :meth:`get` boots a fresh kernel."""
        be = self._backends.pop((arch, variant), None)
        if be is not None:
            be.stop()

    def close(self) -> None:
        for be in self._backends.values():
            with contextlib.suppress(LoadError):
                be.stop()
        self._backends.clear()


def kernel_address(arch: str, variant: str, symbol: str) -> int:
    """An address from the built kernel's System.map (also symbols it does not export)."""
    build = build_kernel(arch, variant, log=lambda line: None)
    for line in build.system_map.read_text().splitlines():
        addr, _, name = line.split(maxsplit=2)
        if name == symbol:
            return int(addr, 16)
    raise KeyError(symbol)
