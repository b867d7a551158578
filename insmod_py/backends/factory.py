"""Open a backend by name; imports happen here, only for the backend asked for."""

from __future__ import annotations

from ..arch import DEFAULT
from ..errors import UsageError
from .base import Backend

BACKENDS = ("sim", "syscall", "qemu")


def open_backend(
    kind: str, *, arch: str = DEFAULT.name, variant: str = "patched", state_dir: str | None = None
) -> Backend:
    """``sim`` (the simulated 2.4 kernel), ``syscall`` (the real legacy syscalls) or ``qemu``
    (a real 2.4 kernel in a VM kept per state directory)."""
    if kind == "sim":
        from .sim import SimBackend

        return SimBackend(state_dir=state_dir, arch=arch, variant=variant)
    if kind == "syscall":
        from .syscall import SyscallBackend

        return SyscallBackend(arch=arch)
    if kind == "qemu":
        from .qemu import QemuBackend

        return QemuBackend(state_dir=state_dir, arch=arch, variant=variant)
    raise UsageError(f"unknown backend {kind!r} (choose from {', '.join(BACKENDS)})")
