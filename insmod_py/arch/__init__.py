"""Per-machine facts: one frozen :class:`Machine` per architecture, and the lookups.

Every i386 / x86_64 difference outside the relocation tables (``reloc/<name>.py``)
and the struct definitions (``modstruct.py``) is a field here, looked up by ELF
``e_machine`` (:func:`by_e_machine`) or by our name (:func:`by_name`).
"""

from __future__ import annotations

from .i386 import MACHINE as I386
from .machine import PAGE, Emulator, Kernel24Recipe, Machine, SimKernelMap, VaList
from .x86_64 import MACHINE as X86_64

MACHINES: tuple[Machine, ...] = (I386, X86_64)
NAMES: tuple[str, ...] = tuple(m.name for m in MACHINES)
DEFAULT = I386  # the machine of 2.4's module world, when nothing says otherwise

_BY_NAME = {m.name: m for m in MACHINES}
_BY_E_MACHINE = {m.e_machine: m for m in MACHINES}

__all__ = [
    "DEFAULT", "I386", "MACHINES", "NAMES", "PAGE", "X86_64", "Emulator", "Kernel24Recipe",
    "Machine", "SimKernelMap", "VaList", "by_e_machine", "by_name", "host",
]  # fmt: skip


def by_name(name: str) -> Machine:
    """The machine called ``name``; ValueError for one we do not support."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unsupported architecture {name!r}") from None


def by_e_machine(e_machine: int) -> Machine | None:
    """The machine of an ELF ``e_machine``, or None for one we do not support."""
    return _BY_E_MACHINE.get(e_machine)


def host() -> Machine | None:
    """The machine this process runs as (its ``syscall(2)`` ABI), or None if neither.

    A 32-bit Python on an x86_64 kernel speaks the i386 ABI, so the pointer size
    decides between the two, not only ``uname -m``.
    """
    import ctypes
    import platform

    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64", "i386", "i486", "i586", "i686", "x86"):
        return None
    if ctypes.sizeof(ctypes.c_void_p) == X86_64.word_size and machine in ("x86_64", "amd64"):
        return X86_64
    return I386
