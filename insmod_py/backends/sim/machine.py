"""Run one module function (init_module, cleanup_module...) in the unicorn CPU emulator.

A process builds one engine per machine and keeps it: the kernel stub page (a
``ret`` per provided function, hooked so Python runs the service), a native page
(the sentinel ``hlt`` the function returns to, retpoline thunks), the kernel data
page, an 8 KiB task stack and the kmalloc and vmalloc arenas.  Each call maps
every module at its base and writes the data page, the task and the heap blocks;
after it the modules' memory and the heap go back to the caller's objects and
the engine is wiped, so nothing of one call reaches the next (a modprobe of a
chain pays for the engine once).  ``import unicorn`` happens only in here,
inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import itertools
import os
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TypeVar

from insmod_py import modstruct
from insmod_py.backends.base import Region

from ... import ksymoops
from ...arch import PAGE, Machine, SimKernelMap, VaList, by_name
from . import drivers_state, kstructs, traps
from .printf import ArgSource
from .services import (
    PDA_OFFSET,
    Heap,
    KernelRuntime,
    Oops,
    kernel_exports,
    native_code,
    service_at,
)
from .services.timers import FASTCALL
from .usermem import UserMemory

__all__ = [
    "KernelRuntime", "MappedModule", "Oops", "kernel_exports", "run_function", "run_kernel",
]  # fmt: skip

T = TypeVar("T")


@dataclass
class MappedModule:
    """One module's memory as the emulator maps it."""

    name: str
    base: int
    memory: bytearray  # the module's whole memory (size bytes), header at offset 0
    regions: tuple[Region, ...] = ()  # empty => whole module rwx (as 2.4 vmalloc really was)
    symbols: tuple[tuple[int, str], ...] = ()  # (absolute address, name) for oops reports


def run_function(
    arch: str,
    modules: list[MappedModule],
    runtime: KernelRuntime,
    entry: int,
    args: tuple[int, ...] = (),
    *,
    budget: int = 50_000_000,
    timeout: float = 10.0,
    user: UserMemory | None = None,
) -> int:
    """Call ``entry(*args)`` and return its C ``int`` result; raise :class:`Oops` on a crash.

    ``runtime.log`` is reset to the printk lines of this call. Module memory and
    the runtime are updated even when the call oopses (the kernel does not undo
    what the module did before it crashed); text and rodata never change.

    ``budget`` is unicorn's exact instruction ``count``; counting makes tight
    loops 5-40x slower, so ``budget=0`` turns it off and leaves ``timeout``
    (seconds) as the only bound.
    """
    with _syscall(arch, modules, runtime, user) as machine:
        return machine.run(entry, args, budget, timeout)


def run_kernel(
    arch: str,
    modules: list[MappedModule],
    runtime: KernelRuntime,
    routine: Callable[[KernelContext], T],
    *,
    user: UserMemory | None = None,
) -> T:
    """Run ``routine`` as kernel code of one syscall: it reads and writes kernel memory,
    allocates from kmalloc and calls module functions (``ctx.call``), all in one engine.

    Module memory, the heap and ``user`` are updated even when a call oopses.
    """
    with _syscall(arch, modules, runtime, user) as machine:
        return routine(KernelContext(machine))


@contextmanager
def _syscall(
    arch: str, modules: list[MappedModule], runtime: KernelRuntime, user: UserMemory | None
) -> Iterator[_Machine]:
    """The machine for one syscall's kernel code: the runtime bound to ``arch``, its log
    reset and its clock advanced; afterwards memory goes back to the Python objects and
    the engine, wiped, to the idle ones of this process."""
    target = by_name(arch)
    if runtime.arch and runtime.arch != arch:
        raise ValueError(f"kernel runtime belongs to {runtime.arch}, not {arch}")
    runtime.arch = arch
    runtime.log = []
    runtime.jiffies += 1  # time passes between syscalls
    idle = _IDLE.setdefault(target.name, [])
    machine = idle.pop() if idle else _Machine(target)
    try:
        machine.attach(modules, runtime, user)
        yield machine
    finally:
        if machine.detach():
            idle.append(machine)


@dataclass
class EngineStats:
    """What this process's engines did, for the benchmark and the tests."""

    built: int = 0  # engines constructed: one per machine, reused call after call (a
    # second only while the first is busy, or after one could not be wiped)
    calls: int = 0  # calls into module code (nested ones are part of their caller's)
    seconds: float = 0.0  # wall time in those calls: module code and the services it called


_STATS = EngineStats()


def engine_stats() -> EngineStats:
    """A copy of this process's counts so far."""
    return replace(_STATS)


# Idle engines per machine name.  A forked child starts without them: an engine's
# host memory is the parent's, copied, and the child has no use for it.
_IDLE: dict[str, list[_Machine]] = {}
os.register_at_fork(after_in_child=_IDLE.clear)


# ---------------------------------------------------------------- internals

MAX_FIXUPS = 10_000  # a fixup that faults again forever still ends
NESTED_GAP = 512  # bytes left below a sleeper's stack pointer before a nested call's frame
NESTED_TIMEOUT = 10.0  # only for the oops wording: the outer call's limits apply

_INTERRUPTS = {
    0: "divide error",
    1: "debug trap",
    3: "int3",
    4: "overflow",
    5: "bounds",
    6: "invalid opcode",
    13: "general protection fault",
}


class _Machine:
    """One unicorn engine of one machine and the state its hooks share.

    Built once per process and machine (``_syscall`` keeps it between calls): the
    kernel's fixed pages (stubs, native code, data page, task stack, both heap
    arenas) are mapped, the stub code written and the module-independent hooks
    added here.  ``attach`` gives it one syscall's modules, runtime and user memory;
    ``detach`` copies memory back and wipes everything the call left: registers,
    module and user pages, the data page, the stack, the used part of the heaps,
    translated code.  The next call then sees what a fresh engine would show it.
    """

    def __init__(self, arch: Machine) -> None:
        import unicorn as u
        import unicorn.x86_const as x

        lay = arch.sim_kernel
        self.u, self.x, self.lay = u, x, lay
        self.arch = arch
        self.bits = arch.bits
        self.mask = arch.address_mask
        emu = arch.emulator

        def reg(name: str) -> int:
            return getattr(x, f"UC_X86_REG_{name.upper()}")

        self.SP, self.PC, self.AX = reg(emu.sp), reg(emu.pc), reg(emu.ret)
        self.ARGREGS: tuple[int, ...] = tuple(reg(r) for r in emu.arg_registers)
        # 2.4 FASTCALL services take their first arguments in these (i386 regparm(3))
        self.FASTREGS = tuple(reg(r) for r in emu.fastcall_registers) or self.ARGREGS
        self.WIDE = tuple(reg(r) for r in emu.wide_registers) if emu.wide_registers else None
        self.AUX = reg(emu.aux_return)
        self.SEM = reg(emu.semaphore_register)
        self.SAVED = tuple(reg(r) for r in emu.saved_registers)
        self.pc_name = emu.pc_name
        uc = u.Uc(u.UC_ARCH_X86, getattr(u, emu.unicorn_mode))
        if emu.virtual_tlb:
            uc.ctl_set_tlb_mode(u.UC_TLB_VIRTUAL)  # else addresses are cut to 52 bits
        self.uc = uc
        self._map_kernel()
        self._hooks()
        self.blank = uc.context_save()  # the registers of a new engine, restored per call
        # hooks that depend on the modules: (type, start, end, kind) -> handle, kept while
        # the same module ranges stay live
        self.range_hooks: dict[tuple[str, int, int, str], int] = {}
        self.call_maps: list[tuple[int, int]] = []  # (start, size) mapped for one call
        self.loaded = False
        self.kmalloc = Heap(lay.kmalloc_base, lay.kmalloc_size, {})
        self.vmalloc = Heap(lay.vmalloc_base, lay.vmalloc_size, {})
        self.modules: list[MappedModule] = []
        self.user: UserMemory | None = None
        self.pristine: list[tuple[MappedModule, int, bytes]] = []
        _STATS.built += 1

    # -- set-up

    def _map_kernel(self) -> None:
        """The kernel's own memory, the same for every call; stub and native code."""
        u, uc, lay = self.u, self.uc, self.lay
        rw, rx = u.UC_PROT_READ | u.UC_PROT_WRITE, u.UC_PROT_READ | u.UC_PROT_EXEC
        self.kernel = [
            (lay.stub_base, 2 * PAGE, rx, False),
            (lay.data_base, PAGE, rw, True),
            (lay.stack_base, lay.stack_size, rw, True),
            (lay.kmalloc_base, lay.kmalloc_size, rw, True),
            (lay.vmalloc_base, lay.vmalloc_size, rw, True),
            (*lay.isa_window, rw, True),
        ]
        for start, size, prot, _ in self.kernel:
            uc.mem_map(start, size, prot)
        uc.mem_write(lay.stub_base, b"\xc3" * PAGE)  # every stub slot is a `ret`
        for off, code in native_code(self.arch.name).items():
            uc.mem_write(lay.native_base + off, code)

    def attach(
        self, modules: list[MappedModule], runtime: KernelRuntime, user: UserMemory | None
    ) -> None:
        """Take one syscall's modules, runtime and user memory into the engine."""
        lay = self.lay
        self.modules, self.runtime, self.user = modules, runtime, user
        self.nested = 0  # module calls made from inside services so far
        self.replay: tuple[tuple[int, int], object] | None = None  # see _on_stub
        self.failure: BaseException | None = None
        self.fault: tuple[int, int, int] | None = None  # (access type, address, pc)
        self.loaded = False
        self.kmalloc = Heap(lay.kmalloc_base, lay.kmalloc_size, _sizes(runtime.kmalloc))
        self.vmalloc = Heap(lay.vmalloc_base, lay.vmalloc_size, _sizes(runtime.vmalloc))
        self._symbols()
        self._protect()
        self.fixups = self._exception_fixups()
        self._map()
        self._range_hooks()
        # code translated for another call's modules must never run: drop it all (cheap)
        # rather than count on unmapping to
        self.uc.ctl_flush_tb()

    def _symbols(self) -> None:
        spans = []
        self.oops_sections: dict[str, list[tuple[int, int, str]]] = {}
        for m in self.modules:
            end = m.base + len(m.memory)
            inside = [(a, n) for a, n in m.symbols if n and m.base <= a < end]
            # insmod's ksymoops section symbols name no code: they annotate, never win
            sections = [(a, ksymoops.section_of(n), n) for a, n in inside]
            self.oops_sections[m.name] = [(a, s[1], n) for a, s, n in sections if s]
            syms = sorted((a, n) for a, s, n in sections if not s)
            spans.append((m.base, m.base + len(m.memory), m, [a for a, _ in syms], syms))
        spans.sort(key=lambda s: s[0])
        for (_, end, a, *_), (start, _, b, *_) in itertools.pairwise(spans):
            if start < end:
                raise ValueError(f"modules {a.name} and {b.name} overlap")
        self.spans = spans
        self.span_starts = [s[0] for s in spans]

    def _protect(self) -> None:
        """Ranges where module code may not write, and module ranges it may not execute."""
        self.readonly: list[tuple[int, int, str]] = []
        self.noexec: list[tuple[int, int, str]] = []
        for m in self.modules:
            if not m.regions:
                continue
            end = m.base + len(m.memory)
            texts = sorted(
                (r.start, min(r.start + r.size, end)) for r in m.regions if r.kind == "text"
            )
            for r in m.regions:
                if r.kind in ("text", "rodata") and r.size:
                    self.readonly.append((r.start, r.start + r.size, r.kind))
            pos = m.base
            for s, e in [*texts, (end, end)]:
                if s > pos:
                    kind = "data" if any(r.kind == "data" for r in m.regions) else "module"
                    self.noexec.append((pos, s, kind))
                pos = max(pos, e)
        self.pristine = [
            (m, r.start - m.base, bytes(m.memory[r.start - m.base : r.start - m.base + r.size]))
            for m in self.modules
            for r in m.regions
            if r.kind in ("text", "rodata")
        ]

    def _map(self) -> None:
        """Map this call's module and user pages; write the kernel's per-call memory
        (data page, task, heap blocks), the modules and the user pages."""
        u, uc, lay = self.u, self.uc, self.lay
        rw = u.UC_PROT_READ | u.UC_PROT_WRITE
        pages: list[list[int]] = []
        for start, end, *_ in self.spans:
            lo, hi = start & ~(PAGE - 1), -(-end // PAGE) * PAGE
            if pages and lo <= pages[-1][1]:
                pages[-1][1] = max(pages[-1][1], hi)
            else:
                pages.append([lo, hi])
        for lo, hi in pages:
            for kstart, ksize, *_ in self.kernel:
                if lo < kstart + ksize and kstart < hi:
                    raise ValueError(f"module memory {lo:#x}-{hi:#x} overlaps the kernel's")
        self.mapped: list[tuple[int, int, bool]] = [
            (start, start + size, writable) for start, size, _, writable in self.kernel
        ]
        for lo, hi in pages:
            uc.mem_map(lo, hi - lo, u.UC_PROT_ALL)
            self.call_maps.append((lo, hi - lo))
            self.mapped.append((lo, hi, True))
        for page in sorted(self.user.pages if self.user else ()):
            uc.mem_map(page, PAGE, rw)
            self.call_maps.append((page, PAGE))
            self.mapped.append((page, page + PAGE, True))
        self.mapped.sort()
        self.mapped_starts = [m[0] for m in self.mapped]

        # no VGA memory and no ROMs: the ISA memory hole floats high, as the I/O ports do
        # (written for each call: a module may have written there)
        uc.mem_write(lay.isa_window[0], b"\xff" * lay.isa_window[1])
        word = lay.word
        uc.mem_write(lay.data_base, (self.runtime.jiffies & self.mask).to_bytes(word, "little"))
        for off, data in drivers_state.data_image(
            word, lay.data_base, self.runtime.drivers
        ).items():
            uc.mem_write(lay.data_base + off, data)
        self._current_task()
        if self.arch.emulator.current_in_pda:  # `current` is read from the PDA, at %gs
            pda = lay.data_base + PDA_OFFSET
            top = lay.stack_base + lay.stack_size
            # 2.4.37.11's struct x8664_pda: kernelstack, oldrsp, irqrsp, pcurrent (%gs:0x18),
            # irqcount (-1: no interrupt) and cpunumber (0)
            words = (top, 0, 0, lay.stack_base, 0xFFFFFFFF)
            uc.mem_write(pda, b"".join(v.to_bytes(8, "little") for v in words))
            uc.reg_write(self.x.UC_X86_REG_GS_BASE, pda)
        for heap in (self.runtime.kmalloc, self.runtime.vmalloc):
            for addr, data in heap.items():
                uc.mem_write(addr, data)
        for m in self.modules:
            uc.mem_write(m.base, bytes(m.memory))
        for page, data in self.user.pages.items() if self.user else ():
            uc.mem_write(page, bytes(data))
        self.loaded = True  # the call's memory is in the engine: detach copies it back

    def map_user(self, pages: dict[int, bytearray]) -> None:
        """Map new pages of the simulated process (read-write), with their contents."""
        rw = self.u.UC_PROT_READ | self.u.UC_PROT_WRITE
        for page, data in pages.items():
            self.uc.mem_map(page, PAGE, rw)
            self.call_maps.append((page, PAGE))
            self.uc.mem_write(page, bytes(data))
            self.mapped.append((page, page + PAGE, True))
        self.mapped.sort()
        self.mapped_starts = [m[0] for m in self.mapped]

    def _current_task(self) -> None:
        """``current``: a root process (all capabilities but CAP_SETPCAP, as 2.4's init
        gave), addr_limit USER_DS, named and numbered as the runtime says."""
        ts = kstructs.struct(self.lay.word, "task_struct")
        drv = self.runtime.drivers
        base = self.lay.stack_base
        cap = 0xFFFFFEFF
        fields = {
            "addr_limit": self.lay.user_limit,
            "pid": drv.pid,
            "pgrp": drv.pid,
            "tgid": drv.pid,
            "sigpending": drv.sigpending,
            "cap_effective": cap,
            "cap_permitted": cap,
        }
        for name, value in fields.items():
            w = ts.width(name)
            self.uc.mem_write(
                base + ts.off(name), (value & ((1 << 8 * w) - 1)).to_bytes(w, "little")
            )
        comm = self.runtime.comm.encode()[:15]
        self.uc.mem_write(base + ts.off("comm"), comm.ljust(16, b"\0"))

    def _exception_fixups(self) -> dict[int, int]:
        """insn -> fixup from every live module's __ex_table, as 2.4's
        search_exception_table found them: through the header at the module base,
        for modules that are running or initialising."""
        word = self.lay.word
        entry = modstruct.sizeof(word, "exception_table_entry")
        live = modstruct.MOD_RUNNING | modstruct.MOD_INITIALIZING
        fixups: dict[int, int] = {}
        for m in self.modules:
            if len(m.memory) < modstruct.sizeof_module(word):
                continue
            head = modstruct.parse_module(word, m.memory)
            start, end = head["ex_table_start"], head["ex_table_end"]
            if not head["flags"] & live or not m.base <= start <= end <= m.base + len(m.memory):
                continue
            for at in range(start - m.base, end - m.base - entry + 1, entry):
                insn = int.from_bytes(m.memory[at : at + word], "little")
                fixups[insn] = int.from_bytes(m.memory[at + word : at + 2 * word], "little")
        return fixups

    def _hooks(self) -> None:
        """The hooks every call has: kernel stubs, faults, interrupts, port I/O."""
        u, uc, lay = self.u, self.uc, self.lay
        stubs_end = lay.stub_base + PAGE - 1
        uc.hook_add(u.UC_HOOK_CODE, self._on_stub, begin=lay.stub_base, end=stubs_end)
        uc.hook_add(u.UC_HOOK_MEM_UNMAPPED | u.UC_HOOK_MEM_PROT, self._on_fault)
        uc.hook_add(u.UC_HOOK_INTR, self._on_interrupt)
        # port I/O: an empty ISA bus
        uc.hook_add(u.UC_HOOK_INSN, self._on_in, None, 1, 0, self.x.UC_X86_INS_IN)
        uc.hook_add(u.UC_HOOK_INSN, self._on_out, None, 1, 0, self.x.UC_X86_INS_OUT)

    def _range_hooks(self) -> None:
        """This call's write-protect (text, rodata) and no-execute (data) hooks; those of
        ranges no longer live go, those still live stay."""
        u, uc = self.u, self.uc
        want = {("ro", *r) for r in self.readonly} | {("nx", *r) for r in self.noexec}
        for key in [k for k in self.range_hooks if k not in want]:
            uc.hook_del(self.range_hooks.pop(key))
        for key in sorted(want - self.range_hooks.keys()):
            what, start, end, kind = key
            if what == "ro":
                kind_and_fn = (u.UC_HOOK_MEM_WRITE, self._on_ro_write)
            else:
                kind_and_fn = (u.UC_HOOK_CODE, self._on_nx_fetch)
            self.range_hooks[key] = uc.hook_add(*kind_and_fn, kind, begin=start, end=end - 1)

    # -- hooks (they record the failure and stop; exceptions never cross unicorn)

    def _stop(self, failure: BaseException) -> None:
        if self.failure is None:
            self.failure = failure
        self.uc.emu_stop()

    def _on_stub(self, uc, address, size, _data) -> None:
        try:
            sp = uc.reg_read(self.SP)
            caller = self._word(sp)
            svc = service_at(self.lay, address)
            if svc is None:
                raise Oops(
                    f"Oops: call to unknown kernel address {self.lay.hex(address)} "
                    f"from {self.where(caller)}"
                )
            if self.replay is not None and self.replay[0] == (address, sp):
                # the same stub again after a nested call: unicorn resumes the interrupted
                # emulation at the instruction the hook belongs to, so the service already
                # ran; hand back its result instead of running it twice
                result = self.replay[1]
                self.replay = None
            else:
                nested_before = self.nested
                result = svc[1](_Call(self, sp, caller, fastcall=svc[0] in FASTCALL))
                if self.nested != nested_before:
                    self.replay = ((address, sp), result)
            if isinstance(result, Regs):
                uc.reg_write(self.AX, result.ax & self.mask)
                uc.reg_write(self.AUX, result.dx & self.mask)
            elif isinstance(result, Wide):
                self._return_wide(result.value)
            elif isinstance(result, tuple):
                uc.reg_write(self.AX, result[0] & self.mask)
                uc.reg_write(self.AUX, result[1] & self.mask)
            else:
                uc.reg_write(self.AX, result & self.mask)
        except BaseException as e:
            self._stop(e)

    def _return_wide(self, value: int) -> None:
        """A 64-bit return: edx:eax on i386, rax on x86_64."""
        value &= (1 << 64) - 1
        if self.WIDE:
            self.uc.reg_write(self.WIDE[0], value & 0xFFFFFFFF)
            self.uc.reg_write(self.WIDE[1], value >> 32)
        else:
            self.uc.reg_write(self.AX, value)

    def _on_in(self, uc, port, size, _data) -> int:
        return (1 << (8 * size)) - 1  # nothing answers: the bus floats high

    def _on_out(self, uc, port, size, value, _data) -> None:
        return None

    def _on_fault(self, uc, access, address, size, value, _data) -> bool:
        self.fault = (access, address, uc.reg_read(self.PC))
        return False

    def _on_interrupt(self, uc, intno, _data) -> None:
        what = _INTERRUPTS.get(intno, f"unexpected interrupt {intno}")
        self._stop(Oops(f"Oops: {what}, {self._eip(uc.reg_read(self.PC))}"))

    def _on_ro_write(self, uc, access, address, size, value, kind) -> None:
        pc = uc.reg_read(self.PC)
        self._stop(
            Oops(f"Oops: write to read-only {kind} at {self.lay.hex(address)}, {self._eip(pc)}")
        )

    def _on_nx_fetch(self, uc, address, size, kind) -> None:
        caller = self._word(uc.reg_read(self.SP))
        origin = f" (called from {self.where(caller)})" if self._in_module(caller) else ""
        at = self.lay.hex(address)
        self._stop(Oops(f"Oops: attempt to execute non-executable {kind} at {at}{origin}"))

    # -- running

    def run(
        self,
        entry: int,
        args: tuple[int, ...],
        budget: int,
        timeout: float,
        result: str = "int",
        top: int | None = None,
        nested: bool = False,
    ) -> int:
        """Call ``entry``; ``result`` says what it returns: "int" (eax), "long" (a
        machine word, signed) or "wide" (a signed 64-bit value, edx:eax on i386).
        ``top``: where its stack frame goes (default: the top of the task stack)."""
        began = time.monotonic()
        try:
            return self._run(entry, args, budget, timeout, result, top, nested)
        finally:
            if not nested:  # a nested call's time is its caller's
                _STATS.calls += 1
                _STATS.seconds += time.monotonic() - began

    def _run(
        self,
        entry: int,
        args: tuple[int, ...],
        budget: int,
        timeout: float,
        result: str = "int",
        top: int | None = None,
        nested: bool = False,
    ) -> int:
        u, uc, lay = self.u, self.uc, self.lay
        self.failure, self.fault = None, None
        word = lay.word
        regargs, stackargs = args[: len(self.ARGREGS)], args[len(self.ARGREGS) :]
        for reg, val in zip(self.ARGREGS, regargs, strict=False):
            uc.reg_write(reg, val & self.mask)
        if top is None:
            top = lay.stack_base + lay.stack_size - 64
        sp = (top - word * len(stackargs)) & ~15  # 16-byte aligned at the first argument
        sp -= word  # the return address: the sentinel
        frame = [lay.sentinel, *stackargs]
        uc.mem_write(sp, b"".join((v & self.mask).to_bytes(word, "little") for v in frame))
        uc.reg_write(self.SP, sp)
        self.entry = entry
        began = time.monotonic()
        pc = entry
        for _ in range(MAX_FIXUPS):
            left = timeout - (time.monotonic() - began)
            try:
                if nested:  # unicorn cannot nest its timeout and count limits: the outer
                    uc.emu_start(pc, lay.sentinel)  # call's limits bound the nested one
                else:
                    uc.emu_start(pc, lay.sentinel, timeout=max(int(left * 1e6), 1), count=budget)
            except u.UcError as e:
                fixup = self._fixup_for()
                if fixup is not None:  # 2.4's do_page_fault: resume at the __ex_table fixup
                    pc, self.fault = fixup, None
                    uc.reg_write(self.PC, pc)
                    continue
                if self.failure is None:
                    self.failure = self._translate(e)
            break
        if self.failure is not None:
            raise self.failure
        pc = uc.reg_read(self.PC)
        if pc != lay.sentinel:
            name = self.where(entry, ksymoops=False).strip("<>").removesuffix("+0x0")
            if time.monotonic() - began >= timeout:
                limit = f"{timeout:g} seconds"
            else:
                limit = f"{budget} instructions"
            raise Oops(f"Oops: {name} did not return within {limit} (loop?), {self._eip(pc)}")
        if result == "long":
            ret, bits = uc.reg_read(self.AX) & self.mask, self.bits
        elif result == "wide":
            ret, bits = uc.reg_read(self.AX) & self.mask, 64
            if self.WIDE:
                ret = uc.reg_read(self.WIDE[0]) & 0xFFFFFFFF
                ret |= (uc.reg_read(self.WIDE[1]) & 0xFFFFFFFF) << 32
        else:
            ret, bits = uc.reg_read(self.AX) & 0xFFFFFFFF, 32
        return ret - (1 << bits) if ret >> (bits - 1) else ret

    def nested_call(self, entry: int, args: tuple[int, ...]) -> int:
        """Call module code from inside a service (a timer that runs while a task sleeps),
        on the stack below the sleeper's; the sleeper's registers come back afterwards."""
        uc = self.uc
        saved = [(r, uc.reg_read(r)) for r in self.SAVED]
        outer_entry = self.entry
        self.nested += 1
        try:
            top = (uc.reg_read(self.SP) - NESTED_GAP) & ~15
            return self.run(entry, args, 0, NESTED_TIMEOUT, top=top, nested=True)
        finally:
            for r, v in saved:
                uc.reg_write(r, v)
            self.entry = outer_entry

    def _fixup_for(self) -> int | None:
        """The fixup address when a data access faulted at an __ex_table instruction."""
        u = self.u
        if self.failure is not None or self.fault is None:
            return None
        access, _addr, pc = self.fault
        if access not in (u.UC_MEM_READ_UNMAPPED, u.UC_MEM_WRITE_UNMAPPED):
            return None
        return self.fixups.get(pc)

    def _translate(self, err) -> Oops:
        u = self.u
        uc, lay = self.uc, self.lay
        pc = uc.reg_read(self.PC)
        if err.errno == u.UC_ERR_INSN_INVALID:
            return Oops(f"Oops: invalid opcode, {self._eip(pc)}")
        if self.fault is None:
            return Oops(f"Oops: {err}, {self._eip(pc)}")
        access, addr, fpc = self.fault
        trap = self._trap(addr)
        if trap is not None and access == u.UC_MEM_FETCH_UNMAPPED:
            caller = self._word(uc.reg_read(self.SP))
            return Oops(f"Oops: call to {trap} from {self.where(caller)}")
        if trap is not None:
            return Oops(
                f"Oops: unable to handle kernel paging request at {lay.hex(addr)} "
                f"({trap}), {self._eip(fpc)}"
            )
        if access in (u.UC_MEM_FETCH_UNMAPPED, u.UC_MEM_FETCH_PROT):
            caller = self._word(uc.reg_read(self.SP))
            origin = f" (called from {self.where(caller)})" if self._in_module(caller) else ""
            if access == u.UC_MEM_FETCH_PROT:
                return Oops(
                    f"Oops: attempt to execute non-executable memory at {lay.hex(addr)}{origin}"
                )
            if origin and addr >> (self.bits - 1) and not self._in_module(addr):
                return Oops(
                    f"Oops: call to unknown kernel address {lay.hex(addr)} "
                    f"from {self.where(caller)}"
                )
            return Oops(f"{_paging_oops(lay, addr, self._eip(addr))}{origin}")
        if access == u.UC_MEM_WRITE_PROT:
            where = self._eip(fpc)
            return Oops(f"Oops: write to read-only kernel memory at {lay.hex(addr)}, {where}")
        return _paging_oops(lay, addr, self._eip(fpc))

    def _trap(self, addr: int) -> str | None:
        """ "unresolved symbol NAME (...)" when ``addr`` is a deferred symbol's trap."""
        name = traps.name_at(self.arch.name, addr, getattr(self.runtime, "trap_names", {}))
        if name is None:
            return None
        return f"unresolved symbol {name} (deferred, provider not loaded)"

    def detach(self) -> bool:
        """Copy module memory, user pages and heap blocks back to the Python objects (when
        the call got as far as writing them), then wipe the engine for the next call.
        False when it could not be wiped: it must not be used again."""
        try:
            if self.loaded:
                uc = self.uc
                for m in self.modules:
                    m.memory[:] = uc.mem_read(m.base, len(m.memory))
                for page in self.user.pages if self.user else ():
                    self.user.pages[page][:] = uc.mem_read(page, PAGE)
                for m, off, data in self.pristine:  # a faulting write to text never lands
                    m.memory[off : off + len(data)] = data
                rt = self.runtime
                for name in ("kmalloc", "vmalloc"):
                    blocks = sorted(getattr(self, name).blocks.items())
                    setattr(rt, name, {a: bytes(uc.mem_read(a, n)) for a, n in blocks})
        finally:
            clean = self._wipe()
            self.modules, self.user, self.pristine = [], None, []
            self.runtime = None  # type: ignore[assignment]
            self.spans, self.fixups, self.oops_sections = [], {}, {}
        return clean

    def _wipe(self) -> bool:
        """Back to a new engine's state: this call's pages unmapped, the data page, the
        stack and every heap byte a block reached (and the page after: a small overrun)
        zeroed, registers restored."""
        u, uc, lay = self.u, self.uc, self.lay
        self.loaded = False
        try:
            while self.call_maps:
                uc.mem_unmap(*self.call_maps.pop())
            uc.mem_write(lay.data_base, bytes(PAGE))
            uc.mem_write(lay.stack_base, bytes(lay.stack_size))
            for heap in (self.kmalloc, self.vmalloc):
                end = min(-(-heap.top // PAGE) * PAGE + PAGE, heap.base + heap.size)
                uc.mem_write(heap.base, bytes(end - heap.base))
            uc.context_restore(self.blank)
        except u.UcError:
            return False
        return True

    # -- memory and symbols, for hooks and services

    def _word(self, addr: int) -> int:
        try:
            return int.from_bytes(self.uc.mem_read(addr, self.lay.word), "little")
        except self.u.UcError:
            return 0

    def _in_module(self, addr: int) -> bool:
        return self._span(addr) is not None

    def _span(self, addr: int):
        i = bisect_right(self.span_starts, addr) - 1
        if i >= 0 and addr < self.spans[i][1]:
            return self.spans[i]
        return None

    def where(self, addr: int, ksymoops: bool = True) -> str:
        """``<symbol+0xoff>`` for a module or kernel address, else the bare hex address.

        In a module loaded with ksymoops symbols, the one of the section holding
        the address follows (unless ``ksymoops`` is False):
        ``<init_module+0x5> (__insmod_hello_S.text_L277+0x25)``.
        """
        span = self._span(addr)
        if span is not None:
            start, _, m, addrs, syms = span
            i = bisect_right(addrs, addr) - 1
            sections = self.oops_sections.get(m.name, ()) if ksymoops else ()
            oops = next(
                (f" ({n}+{addr - a:#x})" for a, size, n in sections if a <= addr < a + size), ""
            )
            if i >= 0:
                base, name = syms[i]
                return f"<{name}+{addr - base:#x}>{oops}"
            return f"<{m.name}+{addr - start:#x}>{oops}"
        svc = service_at(self.lay, addr & ~15)
        if svc is not None:
            off = addr & 15
            return f"<{svc[0]}+{off:#x}>" if off else f"<{svc[0]}>"
        return self.lay.hex(addr)

    def _eip(self, pc: int) -> str:
        sym = self.where(pc)
        hexpc = self.lay.hex(pc)
        return f"{self.pc_name} {hexpc}" + (f" {sym}" if sym != hexpc else "")

    def check(self, addr: int, size: int, write: bool) -> None:
        """Oops unless [addr, addr+size) is mapped (and writable by the kernel when write)."""
        pos, end = addr, addr + size
        while pos < end:
            i = bisect_right(self.mapped_starts, pos) - 1
            if i < 0 or pos >= self.mapped[i][1]:
                trap = self._trap(pos)
                if trap is not None:  # a service handed a deferred symbol's address
                    raise Oops(
                        f"Oops: unable to handle kernel paging request at "
                        f"{self.lay.hex(pos)} ({trap})"
                    )
                raise _paging_oops(self.lay, pos, "")
            if write and not self.mapped[i][2]:
                raise Oops(f"Oops: write to read-only kernel memory at {self.lay.hex(pos)}")
            pos = self.mapped[i][1]
        if write:
            for start, stop, kind in self.readonly:
                if addr < stop and start < end:
                    raise Oops(
                        f"Oops: write to read-only {kind} at {self.lay.hex(max(addr, start))}"
                    )

    def mapped_end(self, addr: int) -> int:
        """End of the mapped run containing ``addr`` (``addr`` itself if unmapped)."""
        pos = addr
        while True:
            i = bisect_right(self.mapped_starts, pos) - 1
            if i < 0 or pos >= self.mapped[i][1]:
                return pos
            pos = self.mapped[i][1]


def _sizes(heap: dict[int, bytes]) -> dict[int, int]:
    return {a: len(d) for a, d in heap.items()}


def _paging_oops(lay: SimKernelMap, addr: int, eip: str) -> Oops:
    if addr < PAGE:
        what = "unable to handle kernel NULL pointer dereference"
    else:
        what = "unable to handle kernel paging request"
    return Oops(f"Oops: {what} at {lay.hex(addr)}" + (f", {eip}" if eip else ""))


class _Call:
    """The view of the machine one service call gets (see services.Call)."""

    def __init__(self, machine: _Machine, sp: int, caller: int, fastcall: bool = False) -> None:
        self.m = machine
        self.kernel_map = machine.lay
        self.runtime = machine.runtime
        self.kmalloc, self.vmalloc = machine.kmalloc, machine.vmalloc
        self.sp, self.caller = sp, caller
        self.argregs = machine.FASTREGS if fastcall else machine.ARGREGS

    def call_module(self, entry: int, args: tuple[int, ...] = ()) -> int:
        """Call module code now (a timer function while the caller sleeps); Oops if it
        crashes."""
        return self.m.nested_call(entry, args)

    def reg(self, name: str) -> int:
        """A register by its role ("ax", "dx", "sem"), for the asm-convention helpers."""
        regs = {"ax": self.m.AX, "dx": self.m.AUX, "sem": self.m.SEM}
        return self.m.uc.reg_read(regs[name]) & self.m.mask

    @staticmethod
    def wide(value: int) -> Wide:
        """Return a 64-bit value (loff_t) the machine's way."""
        return Wide(value)

    def _stack_word(self, i: int) -> int:
        """The i-th word above the return address."""
        addr = self.sp + self.kernel_map.word * (i + 1)
        return int.from_bytes(self.read(addr, self.kernel_map.word), "little")

    def arg(self, i: int) -> int:
        regs = self.argregs
        if i < len(regs):
            return self.m.uc.reg_read(regs[i]) & self.m.mask
        return self._stack_word(i - len(regs))

    def varargs(self, first: int) -> ArgSource:
        pos = [first]
        word_bits = self.m.bits

        def next_int(bits: int) -> int:
            if bits > word_bits:  # long long on a 32-bit machine: two words, low first
                lo, hi = self.arg(pos[0]), self.arg(pos[0] + 1)
                pos[0] += 2
                return lo | hi << 32
            value = self.arg(pos[0])
            pos[0] += 1
            return value & ((1 << bits) - 1)

        return self._source(next_int)

    def va_list(self, ap: int) -> ArgSource:
        if self.m.arch.emulator.va_list is VaList.STACK:  # a pointer to the next stack word
            cur = [ap]

            def next_int(bits: int) -> int:
                n = 8 if bits > 32 else 4
                value = int.from_bytes(self.read(cur[0], n), "little")
                cur[0] += n
                return value & ((1 << bits) - 1)

            return self._source(next_int)
        # SysV: {u32 gp_offset, u32 fp_offset, void *overflow_arg_area, void *reg_save_area}
        raw = self.read(ap, 24)
        state = [
            int.from_bytes(raw[0:4], "little"),
            int.from_bytes(raw[8:16], "little"),
            int.from_bytes(raw[16:24], "little"),
        ]

        def next_int64(bits: int) -> int:
            if state[0] < 48:
                addr = state[2] + state[0]
                state[0] += 8
            else:
                addr = state[1]
                state[1] += 8
            return int.from_bytes(self.read(addr, 8), "little") & ((1 << bits) - 1)

        return self._source(next_int64)

    def _source(self, next_int) -> ArgSource:
        def write_int(addr: int, value: int, size: int) -> None:
            self.write(addr, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))

        return ArgSource(
            next_int=next_int,
            read_string=self.cstring,
            word_bits=self.m.bits,
            write_int=write_int,
        )

    def read(self, addr: int, size: int) -> bytes:
        if size <= 0:
            return b""
        self.m.check(addr, size, False)
        return bytes(self.m.uc.mem_read(addr, size))

    def write(self, addr: int, data: bytes) -> None:
        if data:
            self.m.check(addr, len(data), True)
            self.m.uc.mem_write(addr, bytes(data))

    def cstring(self, addr: int, limit: int) -> bytes | None:
        end = min(self.m.mapped_end(addr), addr + limit)
        out = bytearray()
        pos = addr
        while pos < end:
            chunk = bytes(self.m.uc.mem_read(pos, min(PAGE - pos % PAGE, end - pos)))
            nul = chunk.find(b"\0")
            if nul >= 0:
                return bytes(out + chunk[:nul])
            out += chunk
            pos += len(chunk)
        return bytes(out) if len(out) >= limit else None

    def module_at(self, addr: int) -> str | None:
        span = self.m._span(addr)
        return span[2].name if span else None

    def where(self, addr: int) -> str:
        return self.m.where(addr)


@dataclass(frozen=True)
class Regs:
    """A service result for the register conventions of asm helpers (__get_user_N)."""

    ax: int
    dx: int


@dataclass(frozen=True)
class Wide:
    """A 64-bit service result (loff_t)."""

    value: int


class KernelContext:
    """What a kernel routine of ``run_kernel`` may do in its engine."""

    def __init__(self, machine: _Machine) -> None:
        self.m = machine
        self.kernel_map = machine.lay
        self.runtime = machine.runtime
        self.kmalloc = machine.kmalloc
        self.user = machine.user

    def call(
        self,
        entry: int,
        args: tuple[int, ...] = (),
        result: str = "int",
        *,
        budget: int = 50_000_000,
        timeout: float = 10.0,
    ) -> int:
        """Call module code (raises Oops when it crashes)."""
        return self.m.run(entry, tuple(args), budget, timeout, result)

    def read(self, addr: int, size: int) -> bytes:
        return _Call(self.m, 0, 0).read(addr, size)

    def write(self, addr: int, data: bytes) -> None:
        self.m.check(addr, len(data), True)
        self.m.uc.mem_write(addr, bytes(data))

    def word(self, addr: int, width: int | None = None) -> int:
        return int.from_bytes(self.read(addr, width or self.kernel_map.word), "little")

    def put(self, addr: int, value: int, width: int | None = None) -> None:
        n = width or self.kernel_map.word
        self.write(addr, (value & ((1 << (8 * n)) - 1)).to_bytes(n, "little"))

    def zalloc(self, size: int) -> int:
        """kmalloc(size) with zeroed contents; 0 when the arena is full."""
        from .services import kmalloc_size

        n = kmalloc_size(size)
        addr = self.kmalloc.alloc(n, min(n, PAGE))
        if addr:
            self.m.uc.mem_write(addr, bytes(n))
        return addr

    def free(self, addr: int) -> None:
        self.kmalloc.free(addr)

    def ualloc(self, data: bytes = b"", size: int | None = None) -> int:
        """A buffer in the simulated process's memory holding ``data`` (see usermem)."""
        if self.user is None:
            raise ValueError("no user memory in this run")
        before = set(self.user.pages)
        addr = self.user.alloc(data, size)
        self.m.map_user({p: self.user.pages[p] for p in self.user.pages if p not in before})
        return addr

    def uread(self, addr: int, size: int) -> bytes:
        """Bytes of the simulated process's memory, as they are now."""
        return bytes(self.m.uc.mem_read(addr, size)) if size > 0 else b""

    def where(self, addr: int) -> str:
        return self.m.where(addr)

    def wide_args(self, value: int) -> tuple[int, ...]:
        """A 64-bit argument (loff_t) as the machine passes it: two words on i386."""
        value &= (1 << 64) - 1
        if self.m.WIDE:  # the stack words of a 64-bit argument, low first
            return (value & 0xFFFFFFFF, value >> 32)
        return (value,)
