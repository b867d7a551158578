"""SimBackend: the Backend protocol over the simulated 2.4 kernel.

Each public method is one transaction on the persistent state (``state.py``)
running one syscall of ``syscalls.py``; /proc views come from ``procfs.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ...arch import DEFAULT
from ...deferred import DeferredRelocs
from ...errors import LoadError
from ...ksyms import SymbolTable
from ..base import ImageInfo, ModuleInfo
from . import procfs
from .execution import Executor, Runner
from .memory import arch_params
from .state import KernelState, StateStore
from .syscalls import UTS_RELEASE, VARIANTS, Kernel, KernelConfig

T = TypeVar("T")


class SimBackend:
    """A simulated Linux 2.4 kernel (with or without Zippel's patch) persisted in SQLite."""

    def __init__(
        self,
        state_dir: str | None = None,
        arch: str = DEFAULT.name,
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

    def init_module(
        self,
        name: str,
        image: bytes | bytearray,
        info: ImageInfo | None = None,
        deferred: DeferredRelocs | None = None,
    ) -> None:
        """sys_init_module; ``deferred`` (sim only) keeps unresolved sites for later."""
        self._call(lambda k: k.init_module(name, image, info, deferred))

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

    # -- module code after init: the simulated process (userspace.py) ----------------------

    def userspace(self, routine: Callable[[Any], T], *, comm: str = "pyinsmod") -> T:
        """Run ``routine(ctx)`` as one syscall of the simulated process ``comm``
        (``ctx``: machine.KernelContext).  An oops in module code is logged, the state
        is kept as the crash left it, and it is raised as a LoadError."""

        def body(k: Kernel) -> T | None:
            try:
                return self._executor.run_kernel(k.st, k._mapped(), routine, comm=comm)
            except self._executor.oops_types() as oops:
                report = str(oops)
                k.st.log.append(f"<1>{report}")
                k.st.deferred = LoadError(report)
                return None

        return self._call(body)  # type: ignore[return-value]

    # -- beyond 2.4's syscalls: version, taint, deferred relocations ------------------------

    def kernel_version(self) -> str:
        """The simulated kernel's UTS release (what ``uname -r`` would say)."""
        return UTS_RELEASE

    def tainted(self) -> int:
        """/proc/sys/kernel/tainted: TAINT_PROPRIETARY (P) | TAINT_FORCED (F)."""
        return self._call(lambda k: k.st.tainted, write=False)

    def add_taint(self, flags: int) -> None:
        """OR ``flags`` into /proc/sys/kernel/tainted, as 2.4.10+ insmod did."""
        self._call(lambda k: k.add_taint(flags))

    def trap_addresses(self, names: list[str]) -> dict[str, int]:
        """Unresolved-symbol trap addresses for deferred symbols (see traps.py)."""
        return self._call(lambda k: k.trap_addresses(list(names)))

    def unresolved(self) -> dict[str, list[str]]:
        """Module name -> symbols its deferred relocations still wait for."""

        def read(k: Kernel) -> dict[str, list[str]]:
            out: dict[str, set[str]] = {}
            for u in k.st.unresolved:
                mod = k.space.at_base(u.module)
                if mod is not None:
                    out.setdefault(k.display_name(mod), set()).add(u.site.name)
            return {m: sorted(n) for m, n in out.items()}

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
