"""The Backend protocol: the four 2.4 module syscalls plus what /proc shows.

A backend raises :class:`insmod_py.errors.KernelError` with the errno the
2.4 kernel would have returned; it never prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..ksyms import SymbolTable


@dataclass(frozen=True)
class ModuleInfo:
    """One row of /proc/modules (2.4)."""

    name: str
    base: int
    size: int
    flags: int
    usecount: int
    refs: tuple[str, ...] = ()  # modules that use this one (2.4's "[referrers]")
    deps: tuple[str, ...] = ()  # modules this one uses
    extra: dict[str, object] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Region:
    """A placed section range, for backends that enforce page-like permissions."""

    start: int  # absolute kernel address
    size: int
    kind: str  # "text" (r-x), "rodata" (r--) or "data" (rw-)


@dataclass(frozen=True)
class ImageInfo:
    """What the loader knows about an image beyond its bytes (optional for a backend).

    A real 2.4 kernel sees only the bytes; the simulated one uses this to set
    permissions and to name ``symbol+offset`` in an oops report.
    """

    regions: tuple[Region, ...] = ()
    symbols: tuple[tuple[int, str], ...] = ()  # (absolute address, name), defined symbols


class Backend(Protocol):
    """What the loader needs from a kernel."""

    word_size: int

    def kernel_symbols(self) -> SymbolTable:
        """Symbols a module may link against (kernel + loaded modules' exports)."""
        ...

    def create_module(self, name: str, size: int) -> int:
        """sys_create_module: reserve ``size`` bytes, return their kernel address."""
        ...

    def init_module(
        self, name: str, image: bytes | bytearray, info: ImageInfo | None = None
    ) -> None:
        """sys_init_module: check and install the image, then run its init."""
        ...

    def delete_module(self, name: str | None) -> None:
        """sys_delete_module: remove ``name``, or reap autoclean modules when None."""
        ...

    def modules(self) -> list[ModuleInfo]:
        """The module list, newest first as /proc/modules shows it."""
        ...
