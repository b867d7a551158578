"""Unresolved-symbol traps: where a deferred relocation points until its provider loads.

Each deferred symbol name gets a slot in an address range the emulator never
maps (``SimKernelMap.trap_area``), inside the kernel's own address window (so
i386 absolute and x86_64 ``-mcmodel=kernel`` 32S/PC32 relocations reach it).  A call there faults on
the fetch, a read or write faults on the access, and the emulator turns the
fault into an oops that names the symbol instead of running garbage.
Slots are wide so that ``sym+offset`` (a field of a deferred struct) still
falls in the symbol's own slot.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...arch import by_name

SLOT_SIZE = 0x4000


def slots(arch: str) -> int:
    return by_name(arch).sim_kernel.trap_area[1] // SLOT_SIZE


def address(arch: str, slot: int) -> int:
    """The trap address of ``slot`` (the middle of it: negative offsets stay inside)."""
    start, _ = by_name(arch).sim_kernel.trap_area
    return start + slot * SLOT_SIZE + SLOT_SIZE // 2


def slot_of(arch: str, addr: int) -> int | None:
    start, size = by_name(arch).sim_kernel.trap_area
    if not start <= addr < start + size:
        return None
    return (addr - start) // SLOT_SIZE


def name_at(arch: str, addr: int, names: Mapping[int, str]) -> str | None:
    """The deferred symbol whose trap slot holds ``addr`` (``names``: slot -> name)."""
    slot = slot_of(arch, addr)
    if slot is None:
        return None
    return names.get(slot, "(unknown)")
