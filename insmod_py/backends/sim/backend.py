"""SimBackend: the Backend protocol over the simulated 2.4 kernel.

Each public method is one transaction on the persistent state (``state.py``)
running one syscall of ``syscalls.py``; /proc views come from ``procfs.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ...ksyms import SymbolTable
from ..base import ImageInfo, ModuleInfo
from . import procfs
from .execution import Executor, Runner
from .memory import arch_params
from .state import KernelState, StateStore
from .syscalls import VARIANTS, Kernel, KernelConfig

T = TypeVar("T")


class SimBackend:
    """A simulated Linux 2.4 kernel (with or without Zippel's patch) persisted in SQLite."""

    def __init__(
        self,
        state_dir: str | None = None,
        arch: str = "i386",
        variant: str = "patched",
        *,
        privileged: bool = True,
        runner: Runner | None = None,
        lock_timeout: float = 10.0,
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(
                f"kernel variant must be one of {', '.join(VARIANTS)}, not {variant!r}"
            )
        self.arch = arch
        self.variant = variant
        self._params = arch_params(arch)
        self.word_size = self._params.word_size
        self._config = KernelConfig(variant, privileged)
        self._executor = Executor(arch, runner)
        self._store = StateStore(state_dir, self._params, lock_timeout)

    @property
    def state_path(self) -> str:
        """The database file holding this kernel."""
        return str(self._store.path)

    def _call(self, fn: Callable[[Kernel], T], *, write: bool = True) -> T:
        def body(st: KernelState) -> T:
            result = fn(Kernel(st, self._config, self._executor))
            self._executor.save_runtime(st)
            return result

        return self._store.transact(body, write=write)

    # -- the Backend protocol -------------------------------------------------------------

    def kernel_symbols(self) -> SymbolTable:
        return self._call(procfs.kernel_symbols, write=False)

    def create_module(self, name: str, size: int) -> int:
        return self._call(lambda k: k.create_module(name, size))

    def init_module(self, name: str, image: bytes, info: ImageInfo | None = None) -> None:
        self._call(lambda k: k.init_module(name, image, info))

    def delete_module(self, name: str | None) -> None:
        self._call(lambda k: k.delete_module(name))

    def modules(self) -> list[ModuleInfo]:
        return self._call(lambda k: [k.info(m) for m in k.modules], write=False)

    # -- the rest of 2.4's interface ------------------------------------------------------

    def query_module(self, name: str | None, which: int, bufsize: int) -> tuple[bytes, int]:
        """sys_query_module: (buffer contents, *ret); raises QueryBufferTooSmall for ENOSPC."""
        return self._call(lambda k: k.query_module(name, which, bufsize), write=False)

    def get_kernel_syms(self) -> list[tuple[int, str]]:
        """sys_get_kernel_syms' table: ("#mod" pseudo entries, then symbols; kernel last)."""
        rows = self._call(lambda k: k.get_kernel_syms(), write=False)
        return [(v, n.decode("utf-8", "surrogateescape")) for v, n in rows]

    def get_kernel_syms_count(self) -> int:
        """sys_get_kernel_syms(NULL)."""
        return self._call(lambda k: k.get_kernel_syms_count(), write=False)

    def proc_modules(self) -> str:
        return self._call(procfs.proc_modules, write=False)

    def proc_ksyms(self) -> str:
        return self._call(procfs.proc_ksyms, write=False)

    def chrdevs(self) -> list[tuple[int, str, str | None]]:
        """Registered character devices (major, name, owning module) as /proc/devices."""

        def read(k: Kernel) -> list[tuple[int, str, str | None]]:
            rt = self._executor.runtime(k.st)
            devs = getattr(rt, "chrdevs", {}) or {}
            return sorted(
                (int(m), str(d.get("name", "")), d.get("module")) for m, d in devs.items()
            )

        return self._call(read, write=False)

    def dmesg(self) -> list[str]:
        """The kernel log, oldest first, with the ``<N>`` level of each line."""
        return self._store.read_log()

    def clear_dmesg(self) -> None:
        self._store.clear_log()

    def reset(self) -> None:
        """Forget every module and the kernel log (a reboot)."""
        self._store.reset()

    def close(self) -> None:
        self._store.close()
