"""/proc/modules and /proc/ksyms of the simulated kernel, byte for byte as 2.4 printed them."""

from __future__ import annotations

from ... import modstruct as ms
from ...ksyms import KernelSymbol, SymbolTable, format_ksyms
from .memory import PAGE_SIZE
from .syscalls import Kernel


def proc_modules(k: Kernel) -> str:
    """2.4 get_module_list: one line per module, head first, at most one page.

    Like 2.4's ``safe_copy_str``, a piece that no longer fits in the page is
    dropped together with everything after it.
    """
    out: list[str] = []
    left = PAGE_SIZE

    def put(piece: str) -> bool:
        nonlocal left
        n = len(piece.encode("utf-8", "surrogateescape"))
        if left < n:
            return False
        out.append(piece)
        left -= n
        return True

    for mod in k.modules:
        name = k.display_name(mod)
        flags = mod.get("flags")
        pieces = [name, " " * max(0, 20 - len(name)), f"{mod.get('size') & k.mask:8d}"]
        if flags & ms.MOD_RUNNING:
            pieces.append(f"{k.usecount(mod):4d}")
        if flags & ms.MOD_DELETED:
            pieces.append(" (deleted)")
        elif flags & ms.MOD_RUNNING:
            if flags & ms.MOD_AUTOCLEAN:
                pieces.append(" (autoclean)")
            if not flags & ms.MOD_USED_ONCE:
                pieces.append(" (unused)")
        elif flags & ms.MOD_INITIALIZING:
            pieces.append(" (initializing)")
        else:
            pieces.append(" (uninitialized)")
        refs = k.refs_of(mod)
        if refs:
            pieces.append(" [")
            for i, user in enumerate(refs):
                if i:
                    pieces.append(" ")
                pieces.append(k.display_name(user))
            pieces.append("]")
        pieces.append("\n")
        for piece in pieces:
            if piece and not put(piece):
                return "".join(out)
    return "".join(out)


def ksym_list(k: Kernel) -> list[KernelSymbol]:
    """Module exports (list order) then the kernel's, as /proc/ksyms listed them."""
    return [
        KernelSymbol(name.decode("utf-8", "surrogateescape"), value, owner)
        for value, name, owner in k.ksyms()
    ]


def kernel_symbols(k: Kernel) -> SymbolTable:
    """What a module may link against now: earlier entries win, as in modutils."""
    return SymbolTable(ksym_list(k))


def proc_ksyms(k: Kernel) -> str:
    """``%0*lx %s\\t[%s]`` for module symbols, ``%0*lx %s`` for the kernel's."""
    return format_ksyms(ksym_list(k), k.ws)
