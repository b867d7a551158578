"""Running module code (init, cleanup, can_unload) for the simulated syscalls.

The emulator itself is ``machine.run_function``; this file maps every live
module into it, carries the services' runtime (heap, chrdevs, jiffies) in and
out of the persistent state, and moves the printk lines into the kernel log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ...errors import LoadError
from . import services
from .memory import LiveModule
from .state import KernelState

T = TypeVar("T")

# run_function(arch, modules, runtime, entry, args) -> int, raising an Oops
Runner = Callable[[str, list[Any], Any, int, tuple[int, ...]], int]


def _int32(value: int) -> int:
    """The C ``int`` an entry point returned (eax / the low half of rax)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


class Executor:
    """Calls into module code with all live modules mapped."""

    def __init__(self, arch: str, runner: Runner | None = None) -> None:
        self.arch = arch
        self._runner = runner

    def oops_types(self) -> tuple[type[BaseException], ...]:
        """What a crash looks like: the services' Oops (and machine's, if it has its own)."""
        types: list[type[BaseException]] = [services.Oops]
        if self._runner is None:
            from . import machine

            other = getattr(machine, "Oops", None)
            if isinstance(other, type) and other not in types:
                types.append(other)
        return tuple(types)

    def runtime(self, st: KernelState) -> Any:
        """The services' state of this kernel, loaded from its blob once per syscall."""
        if st.runtime is None:
            try:
                st.runtime = (
                    services.KernelRuntime.from_blob(st.runtime_blob)
                    if st.runtime_blob
                    else services.KernelRuntime()
                )
            except ValueError as exc:
                raise LoadError(
                    f"simulated kernel runtime state is corrupt ({exc}); reset the state"
                ) from None
        return st.runtime

    def run(
        self,
        st: KernelState,
        modules: Sequence[tuple[LiveModule, str]],
        entry: int,
        args: tuple[int, ...] = (),
    ) -> int:
        """Call ``entry``; printk output goes to ``st.log`` even when the code oopses."""
        runner = self._runner
        from .machine import MappedModule

        if runner is None:
            from .machine import run_function as runner
        rt = self.runtime(st)
        # transient (never serialised): lets an oops name the deferred symbol of a trap slot
        rt.trap_names = {slot: name for name, slot in st.traps.items()}
        mapped = [MappedModule(name, m.base, m.memory, m.regions, m.symbols) for m, name in modules]
        try:
            result = runner(self.arch, mapped, rt, entry, tuple(args))
        finally:
            for (mod, _), mm in zip(modules, mapped, strict=True):
                if mm.memory is not mod.memory:  # a runner that hands back new buffers
                    mod.memory[:] = mm.memory
            st.log.extend(getattr(rt, "log", ()))
            if isinstance(getattr(rt, "log", None), list):
                rt.log.clear()
            st.runtime_dirty = True
        return _int32(result)

    def run_kernel(
        self,
        st: KernelState,
        modules: Sequence[tuple[LiveModule, str]],
        routine: Callable[[Any], T],
        *,
        comm: str = "insmod",
    ) -> T:
        """Run a kernel ``routine`` (machine.run_kernel) for the simulated process ``comm``;
        printk output goes to ``st.log`` even when module code oopses."""
        from .machine import MappedModule, run_kernel
        from .usermem import UserMemory

        rt = self.runtime(st)
        rt.trap_names = {slot: name for name, slot in st.traps.items()}
        rt.comm = comm
        mapped = [MappedModule(name, m.base, m.memory, m.regions, m.symbols) for m, name in modules]
        try:
            return run_kernel(self.arch, mapped, rt, routine, user=UserMemory())
        finally:
            st.log.extend(rt.log)
            rt.log.clear()
            st.runtime_dirty = True

    def save_runtime(self, st: KernelState) -> None:
        """Serialise the runtime back into the state (before the commit)."""
        if st.runtime is not None and st.runtime_dirty:
            st.runtime_blob = st.runtime.to_blob()  # type: ignore[attr-defined]
