"""The simulated 2.4 kernel's services: what a module gets when it calls printk, kmalloc...

One module per kind of service (``printk``, ``alloc``, ``strings``, ``chrdev``;
for drivers ``uaccess`` (user copies), ``timers`` (timers, wait queues,
sleeping), ``semaphores`` (down()/up() when they must wait or wake),
``devices`` (misc devices, /proc entries, I/O port regions), ``devfs``
(registration, the tree of handles) and ``notifiers``
(the reboot chain, a module's own chains); for file systems ``nls`` (charset
tables, UTF-8); ``crypto`` (the algorithm list); ``intermod`` (inter_module_*); ``pm``
(pm_register)),
the state that persists between syscalls (``runtime``) and the interface a
service gets (``call``).  Here: the table of provided symbols
(:func:`kernel_exports`) and where each one lives in the simulated kernel.
Nothing here imports unicorn: the emulator (``machine.py``) hands each service
a :class:`Call` giving access to the arguments and guest memory.

Stub addresses are part of a loaded module's relocated image, so the order of
:data:`FUNCTIONS` is an ABI: append new services, never reorder or remove.
"""

from __future__ import annotations

from collections.abc import Callable

from ....arch import SimKernelMap, by_name
from ..drivers_state import data_symbols
from . import crypto, devfs, devices, intermod, nls, notifiers, pm, semaphores, timers, uaccess
from .alloc import _kfree, _kmalloc, _vfree, _vmalloc
from .call import Call, Heap, kmalloc_size
from .chrdev import _register_chrdev, _unregister_chrdev
from .printk import _panic, _printk, _snprintf, _sprintf, _vsnprintf, _vsprintf, log_text
from .runtime import KernelRuntime, Oops, kernel_map
from .strings import (
    _memcmp,
    _memcpy,
    _memset,
    _strcat,
    _strchr,
    _strcmp,
    _strcpy,
    _strlen,
    _strncmp,
    _strncpy,
    _strnlen,
    _strtoul,
)  # fmt: skip
from .timers import _nop

__all__ = [
    "DATA_SYMBOLS", "FUNCTIONS", "PDA_OFFSET", "SLOT", "Call", "Heap", "KernelRuntime", "Oops",
    "kernel_exports", "kernel_map", "kmalloc_size", "log_text", "native_code", "service_at",
]  # fmt: skip

SLOT = 16  # bytes per kernel function stub

# Kernel data symbols: name -> offset in the data page.
DATA_SYMBOLS = {"jiffies": 0x0, **data_symbols()}
PDA_OFFSET = 0x100  # x86_64 2.4: %gs points at the PDA, whose first word is `current`


def _thunks(arch: str) -> dict[str, tuple[int, bytes]]:
    """``__x86_indirect_thunk_<reg>`` -> (offset in native page, ``jmp *%reg``).

    Registers come in ModRM order, so register ``i`` is ``ff e0+i``, with a REX.B
    prefix (``41``) from r8 on.
    """
    out = {}
    for i, reg in enumerate(by_name(arch).emulator.thunk_registers):
        code = bytes([0xFF, 0xE0 + i]) if i < 8 else bytes([0x41, 0xFF, 0xE0 + i - 8])
        out[f"__x86_indirect_thunk_{reg}"] = (SLOT * (i + 1), code)
    return out


# The stub table. ORDER IS ABI (see the module docstring): append only.
FUNCTIONS: tuple[tuple[str, Callable[[Call], int]], ...] = (
    ("printk", _printk),
    ("sprintf", _sprintf),
    ("snprintf", _snprintf),
    ("vsprintf", _vsprintf),
    ("vsnprintf", _vsnprintf),
    ("kmalloc", _kmalloc),
    ("kfree", _kfree),
    ("vmalloc", _vmalloc),
    ("vfree", _vfree),
    ("memset", _memset),
    ("memcpy", _memcpy),
    ("memmove", _memcpy),  # reads everything before writing: overlap-safe
    ("memcmp", _memcmp),
    ("strlen", _strlen),
    ("strnlen", _strnlen),
    ("strcpy", _strcpy),
    ("strncpy", _strncpy),
    ("strcat", _strcat),
    ("strcmp", _strcmp),
    ("strncmp", _strncmp),
    ("strchr", _strchr),
    ("register_chrdev", _register_chrdev),
    ("unregister_chrdev", _unregister_chrdev),
    ("panic", _panic),
    ("simple_strtoul", lambda c: _strtoul(c, False)),
    ("simple_strtol", lambda c: _strtoul(c, True)),
    ("__udelay", _nop),
    ("__const_udelay", _nop),
    ("schedule", timers.SCHEDULE),
    ("schedule_timeout", timers.SCHEDULE_TIMEOUT),
    *uaccess.FUNCTIONS,
    *timers.FUNCTIONS,
    *devices.FUNCTIONS,
    *notifiers.FUNCTIONS,
    *nls.FUNCTIONS,
    *crypto.FUNCTIONS,
    *semaphores.FUNCTIONS,
    *intermod.FUNCTIONS,
    *devfs.FUNCTIONS,
    *pm.FUNCTIONS,
)


def service_at(lay: SimKernelMap, addr: int) -> tuple[str, Callable[[Call], int]] | None:
    """The service whose stub is at ``addr`` (exactly a slot start), or None."""
    off = addr - lay.stub_base
    if off % SLOT or not 0 <= off // SLOT < len(FUNCTIONS):
        return None
    return FUNCTIONS[off // SLOT]


def native_code(arch: str) -> dict[int, bytes]:
    """Real instructions on the native page: offset -> bytes (sentinel hlt at 0)."""
    out = {0: b"\xf4"}
    out.update({off: code for off, code in _thunks(arch).values()})
    return out


def kernel_exports(arch: str) -> dict[str, int]:
    """Every kernel symbol the simulated kernel provides -> its stub or data address."""
    lay = kernel_map(arch)
    out = {
        name: lay.stub_base + SLOT * i
        for i, (name, _) in enumerate(FUNCTIONS)
        if name not in lay.unexported_services
    }
    out.update({name: lay.native_base + off for name, (off, _) in _thunks(arch).items()})
    out.update({name: lay.data_base + off for name, off in DATA_SYMBOLS.items()})
    return out
