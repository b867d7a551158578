"""Deferred relocations on the kernel side: sites kept until their provider loads.

``insmod --defer-missing`` hands init_module the relocation records of the
sites whose symbols no loaded module exports; they point at unresolved-symbol
traps (:mod:`.traps`) meanwhile.  :func:`keep` stores them, :func:`resolve`
applies them in the syscall that starts a module exporting the names (with the
loader's own relocation entry point) and records the new dependency, and
:func:`trap_addresses` hands out the trap slots.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from ... import modstruct as ms
from ...deferred import DeferredRelocs
from ...deferred import apply as apply_deferred
from ...errors import LoadError
from ...ksyms import KernelSymbol, SymbolTable
from ...resolve import GPL_PREFIX
from . import traps
from .memory import LiveModule
from .services.printk import KERN_ERR, KERN_INFO, KERN_WARNING
from .state import UnresolvedSite

if TYPE_CHECKING:
    from .syscalls import Kernel


def keep(kernel: Kernel, mod: LiveModule, deferred: DeferredRelocs) -> None:
    """Remember the module's unresolved sites until a module exporting their names loads."""
    kernel.st.unresolved.extend(
        UnresolvedSite(
            mod.base,
            site,
            deferred.machine,
            deferred.rela,
            deferred.gpl_ok,
            deferred.deps_limit,
        )
        for site in deferred.sites
    )
    kernel.st.extras_dirty = True
    names = ", ".join(deferred.names)
    kernel.st.log.append(
        f"{KERN_WARNING}{kernel.display_name(mod)}: deferred relocations for {names}"
    )


def resolve(kernel: Kernel, exporter: LiveModule) -> None:
    """Apply kept sites that ``exporter``'s symbols satisfy, in this same syscall.

    Each user gets a module_ref on the exporter in a spare ``.kmodtab`` slot the
    loader reserved, so the exporter cannot be removed while the user needs it.
    """
    if not kernel.st.unresolved:
        return
    owner = kernel.display_name(exporter)
    table = SymbolTable(
        KernelSymbol(n.decode("utf-8", "surrogateescape"), v, owner)
        for v, n in kernel.exports_of(exporter)
    )
    by_user: dict[int, list[UnresolvedSite]] = {}
    for u in kernel.st.unresolved:
        by_user.setdefault(u.module, []).append(u)
    for base, rows in by_user.items():
        user = kernel.space.at_base(base)
        if user is None or user is exporter:
            continue
        found: dict[str, int] = {}
        for name in sorted({u.site.name for u in rows}):
            sym = table.lookup(name)
            if sym is None and rows[0].gpl_ok:
                sym = table.lookup(GPL_PREFIX + name)
            if sym is not None:
                found[name] = sym.value
        if not found:
            continue
        applied = [u for u in rows if u.site.name in found]
        user_name = kernel.display_name(user)
        try:
            apply_deferred(
                user.memory, user.base, [u.site for u in applied], found,
                rows[0].machine, rows[0].rela, user_name,
            )  # fmt: skip
        except LoadError as err:
            kernel.st.log.append(f"{KERN_ERR}{user_name}: deferred relocation failed: {err}")
            continue
        _add_dep(kernel, user, exporter, rows[0].deps_limit)
        done = {id(u) for u in applied}
        kernel.st.unresolved = [u for u in kernel.st.unresolved if id(u) not in done]
        kernel.st.extras_dirty = True
        user.dirty = True
        kernel.st.log.append(
            f"{KERN_INFO}{user_name}: {len(applied)} deferred relocations resolved "
            f"from {owner} ({', '.join(sorted(found))})"
        )


def _add_dep(kernel: Kernel, user: LiveModule, dep: LiveModule, limit: int) -> None:
    """Link a module_ref user -> dep as step 23 of init_module would have."""
    if any(d == dep.base for _, d in kernel.deps_of(user)):
        return
    ndeps = user.get("ndeps")
    addr = (user.get("deps") + ndeps * kernel.ref_size) & kernel.mask
    if ndeps >= limit or not user.get("deps"):
        kernel.st.log.append(
            f"{KERN_WARNING}{kernel.display_name(user)}: no room to record its use of "
            f"{kernel.display_name(dep)}"
        )
        return
    kernel.space.write_word(addr, dep.base)
    kernel.space.write_word(addr + kernel.ws, user.base)
    kernel.space.write_word(addr + 2 * kernel.ws, dep.get("refs"))
    dep.set("refs", addr)
    dep.set("flags", dep.get("flags") | ms.MOD_USED_ONCE)
    user.set("ndeps", ndeps + 1)


def trap_addresses(kernel: Kernel, names: list[str]) -> dict[str, int]:
    """An unresolved-symbol trap slot per name (kept by name, reused when free)."""
    out = {}
    for name in names:
        if name not in kernel.st.traps:
            used = set(kernel.st.traps.values())
            free = next((i for i in range(traps.slots(kernel.arch.name)) if i not in used), None)
            if free is None:  # recycle slots nobody waits on any more
                waiting = {u.site.name for u in kernel.st.unresolved} | set(names)
                kernel.st.traps = {n: i for n, i in kernel.st.traps.items() if n in waiting}
                used = set(kernel.st.traps.values())
                slots = range(traps.slots(kernel.arch.name))
                free = next((i for i in slots if i not in used), None)
            if free is None:
                raise kernel.fail("create_module", errno.ENOMEM, "no free unresolved-symbol trap")
            kernel.st.traps[name] = free
            kernel.st.extras_dirty = True
        out[name] = traps.address(kernel.arch.name, kernel.st.traps[name])
    return out
