"""The 2.4 module syscalls (kernel/module.c), check by check, on the simulated kernel.

Each method is one syscall working on a :class:`KernelState` loaded for it;
``init_module`` is a chain of named checks, numbered 1-25 in 2.4's order as
docs/abi.md numbers them.  A failed
check raises :class:`KernelError` and the caller keeps nothing but the kernel
log (2.4 restored the saved header).  ``variant="patched"`` adds Roman Zippel's
2002 change: ``size_of_struct == 0`` means a ``struct module_new`` header,
``size == 0`` means "the created size, nsyms = syms_end - syms", and the name
check is skipped when ``size_of_struct`` is 0.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from ... import modstruct as ms
from ...deferred import DeferredRelocs
from ...errors import KernelError, LoadError
from ..base import ImageInfo, ModuleInfo
from . import pending, services
from .execution import Executor
from .memory import PAGE_SIZE, AddressSpace, LiveModule, allocate, page_round
from .services.printk import KERN_ALERT, KERN_ERR
from .state import KernelState

# The release of the real kernel it is checked against (qemu backend), as
# kernel_stub/include/linux/version.h says for the examples.
UTS_RELEASE = "2.4.37.11"
CHAIN_LIMIT = 1 << 16  # longest refs chain we follow: a corrupt list must not hang us

VARIANTS = ("patched", "unpatched")


class QueryBufferTooSmall(KernelError):
    """query_module's ENOSPC: the buffer is too small; ``ret`` is the size needed."""

    def __init__(self, needed: int, which: int) -> None:
        super().__init__("query_module", errno.ENOSPC, f"{needed} bytes needed")
        self.ret = needed
        self.which = which


_kernel_error = KernelError


def _init_failure(ret: int) -> str:
    """Whose error it is: the module's own init_module, not a check of the kernel's."""
    if ret > 0:  # 2.4 printed "Buggy module" and returned EBUSY
        return f"the module's own init_module returned {ret}; 2.4 reports a positive value as EBUSY"
    name = errno.errorcode.get(-ret)
    return f"the module's own init_module returned {ret}" + (f" (-{name})" if name else "")


@dataclass(frozen=True)
class KernelConfig:
    """How the simulated kernel was built and who calls it."""

    variant: str = "patched"
    privileged: bool = True  # capable(CAP_SYS_MODULE)


class Kernel:
    """The simulated kernel during one syscall."""

    def __init__(self, st: KernelState, config: KernelConfig, executor: Executor) -> None:
        self.st = st
        self.config = config
        self.executor = executor
        self.arch = st.arch
        self.ws = st.arch.word_size
        self.mask = st.arch.mask
        self.space = AddressSpace(st.arch, st.modules)
        self.sizeof = ms.sizeof_module(self.ws)
        self.sym_size = ms.sizeof(self.ws, "module_symbol")
        self.ref_size = ms.sizeof(self.ws, "module_ref")

    @property
    def modules(self) -> list[LiveModule]:
        """module_list without kernel_module, head (newest) first."""
        return self.st.modules

    # -- helpers ------------------------------------------------------------------------

    def fail(self, call: str, err: int, detail: str = "", printk: str | None = None) -> LoadError:
        if printk is not None:
            self.st.log.append(f"{KERN_ERR}{call}: {printk}")
        return _kernel_error(call, err, detail or (printk or "").rstrip("."))

    def _capable(self, call: str) -> None:
        if not self.config.privileged:
            raise self.fail(call, errno.EPERM, "CAP_SYS_MODULE needed")

    def _get_mod_name(self, call: str, name: str | bytes) -> bytes:
        """1.3: the name as strncpy_from_user saw it (stops at a NUL)."""
        raw = name.encode("utf-8", "surrogateescape") if isinstance(name, str) else bytes(name)
        raw = raw.split(b"\0", 1)[0]
        if not raw:
            raise self.fail(call, errno.EINVAL, "empty module name")
        if len(raw) >= PAGE_SIZE:
            raise self.fail(call, errno.ENAMETOOLONG)
        return raw

    def name_of(self, mod: LiveModule) -> bytes:
        """``mod->name`` read from kernel memory."""
        return self.space.read_cstr(mod.get("name")) or b""

    def display_name(self, mod: LiveModule) -> str:
        return self.name_of(mod).decode("utf-8", "surrogateescape")

    def find_module(self, name: bytes) -> LiveModule | None:
        """2.4 find_module: first match in list order, MOD_DELETED ones ignored."""
        for mod in self.modules:
            if not mod.get("flags") & ms.MOD_DELETED and self.name_of(mod) == name:
                return mod
        return None

    def mod_bound(self, mod: LiveModule, p: int, nbytes: int) -> bool:
        """2.4 mod_bound(p, n, m), in unsigned long arithmetic (``nbytes`` = n * sizeof *p)."""
        m = self.mask
        lo = (mod.base + mod.get("size_of_struct")) & m
        hi = (mod.base + mod.get("size")) & m
        return p >= lo and (p + nbytes) & m <= hi

    def member_present(self, mod: LiveModule, member: str) -> bool:
        return ms.member_end(self.ws, member) <= mod.get("size_of_struct")

    @staticmethod
    def can_query(mod: LiveModule) -> bool:
        flags = mod.get("flags")
        return bool(flags & (ms.MOD_RUNNING | ms.MOD_INITIALIZING)) and not flags & ms.MOD_DELETED

    def _mapped(self) -> list[tuple[LiveModule, str]]:
        return [(m, self.display_name(m)) for m in self.modules]

    def _run(self, entry: int, args: tuple[int, ...] = ()) -> int:
        return self.executor.run(self.st, self._mapped(), entry, args)

    # -- reading module tables ----------------------------------------------------------

    def deps_of(self, mod: LiveModule) -> list[tuple[int, int]]:
        """(address of deps[i], deps[i].dep) for each of mod->ndeps entries that is readable."""
        out = []
        deps = mod.get("deps")
        for i in range(mod.get("ndeps")):
            addr = (deps + i * self.ref_size) & self.mask
            dep = self.space.read_word(addr)
            if dep is None:
                break
            out.append((addr, dep))
        return out

    def refs_of(self, mod: LiveModule) -> list[LiveModule]:
        """Modules referencing ``mod``: its refs / next_ref chain, newest link first."""
        out = []
        cur = mod.get("refs")
        for _ in range(CHAIN_LIMIT):
            if not cur:
                break
            child = self.space.read_word(cur + self.ws)
            user = self.space.at_base(child) if child is not None else None
            if user is not None:
                out.append(user)
            nxt = self.space.read_word(cur + 2 * self.ws)
            cur = nxt or 0
        return out

    def exports_of(self, mod: LiveModule) -> list[tuple[int, bytes]]:
        """mod->syms[0..nsyms): (value, name) read from memory."""
        out = []
        syms = mod.get("syms")
        limit = min(mod.get("nsyms"), len(mod.memory) // self.sym_size + 1)
        for i in range(limit):
            addr = (syms + i * self.sym_size) & self.mask
            value = self.space.read_word(addr)
            name_ptr = self.space.read_word(addr + self.ws)
            if value is None or name_ptr is None:
                break
            out.append((value, self.space.read_cstr(name_ptr) or b""))
        return out

    def kernel_exports(self) -> list[tuple[int, bytes]]:
        """kernel_module's __ksymtab: the services' stubs and data."""
        return [(v, n.encode()) for n, v in services.kernel_exports(self.arch.name).items()]

    def usecount(self, mod: LiveModule) -> int:
        """What /proc/modules shows: -1 when can_unload decides, else the usecount in memory."""
        if self.member_present(mod, "can_unload") and mod.get("can_unload"):
            return -1
        return mod.get("usecount")

    def info(self, mod: LiveModule) -> ModuleInfo:
        deps = []
        for _, dep in self.deps_of(mod):
            d = self.space.at_base(dep)
            deps.append(self.display_name(d) if d is not None else "")  # "": kernel_module
        return ModuleInfo(
            name=self.display_name(mod),
            base=mod.base,
            size=mod.get("size"),
            flags=mod.get("flags"),
            usecount=mod.get("usecount"),
            refs=tuple(self.display_name(r) for r in self.refs_of(mod)),
            deps=tuple(deps),
            extra={
                "can_unload": self.usecount(mod) == -1,
                "alloc_size": len(mod.memory),
            },
        )

    # -- 1.4 sys_create_module ------------------------------------------------------------

    def create_module(self, name: str | bytes, size: int) -> int:
        call = "create_module"
        self._capable(call)  # 1
        nm = self._get_mod_name(call, name)  # 2
        size &= self.mask  # size_t
        if size < self.sizeof + len(nm) + 1:  # 3: 2.4.37's bound counts the name's NUL
            raise self.fail(call, errno.EINVAL, "size smaller than struct module + name")
        if self.find_module(nm) is not None:  # 4
            raise self.fail(call, errno.EEXIST)
        base = allocate(self.arch, self.modules, size)  # 6: module_map (vmalloc)
        if base is None:
            raise self.fail(call, errno.ENOMEM)
        # vmalloc hands out whole pages: the name's NUL may lie past ``size`` (as in 2.4)
        memory = bytearray(page_round(size))
        mod = LiveModule(base, memory, self.ws, seq=self.st.next_seq(), dirty=True)
        mod.set("size_of_struct", self.sizeof)
        mod.set("name", base + self.sizeof)  # name copied right after the struct
        mod.set("size", size)
        mod.write(self.sizeof, nm + b"\0")
        head = self.modules[0].base if self.modules else self.arch.kernel_module
        mod.set("next", head)  # linked at the head of module_list
        self.modules.insert(0, mod)
        return base

    # -- 1.5 sys_init_module ----------------------------------------------------------------

    def init_module(
        self,
        name: str | bytes,
        image: bytes,
        info: ImageInfo | None = None,
        deferred: DeferredRelocs | None = None,
    ) -> None:
        call = "init_module"
        self._capable(call)  # check 1, with get_mod_name's errors
        nm = self._get_mod_name(call, name)
        mod = self.find_module(nm)
        if mod is None:  # check 2: create_module comes first
            raise self.fail(call, errno.ENOENT)
        image = bytes(image)
        user_size = self._check_header_size(call, image)
        saved = bytes(mod.memory)  # mod_tmp (and the name): failed checks 5-22 restore it
        try:
            self._install(call, mod, nm, image, user_size, info)
        except LoadError:
            mod.memory[:] = saved
            raise
        if deferred is not None and deferred.sites:
            pending.keep(self, mod, deferred)
        self._start(mod)
        if mod.get("flags") & ms.MOD_RUNNING and mod.get("nsyms"):
            pending.resolve(self, mod)

    def _install(
        self,
        call: str,
        mod: LiveModule,
        nm: bytes,
        image: bytes,
        user_size: int,
        info: ImageInfo | None,
    ) -> None:
        """Checks 5-23 of sys_init_module, in 2.4's order: copy the user's header,
        check it, copy the rest, link the deps.  The first failing check raises."""
        created_size = mod.get("size")
        # 2.4.37.11 keeps a copy (name_tmp): a header longer than struct module may
        # overwrite the created name in the module before check 18 compares with it
        created_name = self.space.read_cstr(mod.get("name")) or b""
        saved_next = mod.get("next")
        self._copy_user_header(call, mod, image, user_size)
        self._check_size(call, mod, created_size)
        self._check_name_in_bounds(call, mod, len(nm))
        self._check_syms_in_bounds(call, mod)
        self._check_deps_in_bounds(call, mod)
        self._check_entry_in_bounds(call, mod, "init")
        self._check_entry_in_bounds(call, mod, "cleanup")
        self._check_ex_table(call, mod)
        self._check_flags(call, mod)
        self._check_can_unload(call, mod)
        self._check_optional_range(call, mod, "kallsyms")
        self._check_optional_range(call, mod, "archdata")
        self._check_kernel_data(call, mod)
        if mod.get("size_of_struct"):  # Zippel: skipped for a struct module_new header
            self._check_user_name(call, mod, image, len(nm), created_name)
        self._copy_rest(call, mod, image, user_size)
        # Check 20: module_arch_init is a no-op on x86.  21: flush_icache_range, then
        # the kernel's own list pointers replace whatever the user's header said.
        mod.set("next", saved_next)
        mod.set("refs", 0)
        deps = self._check_deps(call, mod)
        self._link_deps(mod, deps)
        if info is not None:
            mod.regions, mod.symbols = tuple(info.regions), tuple(info.symbols)
        mod.dirty = True

    def _check_header_size(self, call: str, image: bytes) -> int:
        """Checks 3-4: 2.4 read ``size_of_struct`` (-EFAULT) and refused one below
        ``offsetof(struct module, persist_start)`` or above ``sizeof(struct module) +
        16 words`` with -EINVAL and "Invalid module header size".  Returns the header
        size to copy (Zippel's patch: 0 means a ``struct module_new``)."""
        if len(image) < self.ws:
            raise self.fail(call, errno.EFAULT, "image shorter than size_of_struct")
        user_size = int.from_bytes(image[: self.ws], "little")
        if self.config.variant == "patched" and user_size == 0:
            return ms.sizeof_module_new(self.ws)
        if user_size < ms.offsetof(self.ws, "persist_start") or user_size > (
            self.sizeof + 16 * self.ws
        ):
            self.st.log.append(f"{KERN_ERR}init_module: Invalid module header size.")
            self.st.log.append(f"{KERN_ERR}A new version of the modutils is likely needed.")
            raise _kernel_error(call, errno.EINVAL, "invalid module header size")
        return user_size

    def _copy_user_header(self, call: str, mod: LiveModule, image: bytes, user_size: int) -> None:
        """Check 5: ``copy_from_user(mod, image, mod_user_size)``, -EFAULT on a fault.
        From here on every check reads the user's header, at the module's address."""
        if len(image) < user_size:
            raise self.fail(call, errno.EFAULT, "image shorter than its header")
        mod.write(0, image[:user_size])

    def _check_size(self, call: str, mod: LiveModule, created_size: int) -> None:
        """Check 6: ``mod->size`` larger than the created module -> -EINVAL.  Zippel's
        patch: ``size == 0`` takes the created size and ``nsyms = syms_end - syms``."""
        size = mod.get("size")
        if self.config.variant == "patched" and size == 0:
            mod.set("size", created_size)
            syms_end = ms.unpack_word(
                self.ws, mod.memory, ms.offsetof(self.ws, "syms_end", "module_new")
            )
            diff = (syms_end - mod.get("syms")) & self.mask
            if diff >> (8 * self.ws - 1):
                diff -= 1 << (8 * self.ws)
            # pointer subtraction: an arithmetic shift by log2(sizeof(struct module_symbol))
            mod.set("nsyms", diff >> (self.sym_size.bit_length() - 1))
        elif size > created_size:
            raise self.fail(
                call,
                errno.EINVAL,
                printk="Size of initialized module exceeds size of created module.",
            )

    def _check_name_in_bounds(self, call: str, mod: LiveModule, namelen: int) -> None:
        """Check 7: ``!mod_bound(mod->name, namelen, mod)`` -> -EINVAL."""
        if not self.mod_bound(mod, mod.get("name"), namelen):
            raise self.fail(call, errno.EINVAL, printk="mod->name out of bounds.")

    def _check_syms_in_bounds(self, call: str, mod: LiveModule) -> None:
        """Check 8: ``mod->nsyms && !mod_bound(mod->syms, mod->nsyms, mod)`` -> -EINVAL."""
        nsyms = mod.get("nsyms")
        if nsyms and not self.mod_bound(mod, mod.get("syms"), nsyms * self.sym_size):
            raise self.fail(call, errno.EINVAL, printk="mod->syms out of bounds.")

    def _check_deps_in_bounds(self, call: str, mod: LiveModule) -> None:
        """Check 9: ``mod->ndeps && !mod_bound(mod->deps, mod->ndeps, mod)`` -> -EINVAL."""
        ndeps = mod.get("ndeps")
        if ndeps and not self.mod_bound(mod, mod.get("deps"), ndeps * self.ref_size):
            raise self.fail(call, errno.EINVAL, printk="mod->deps out of bounds.")

    def _check_entry_in_bounds(self, call: str, mod: LiveModule, entry: str) -> None:
        """Checks 10 (``init``) and 11 (``cleanup``): a non-NULL function pointer
        outside the module -> -EINVAL."""
        address = mod.get(entry)
        if address and not self.mod_bound(mod, address, 0):
            raise self.fail(call, errno.EINVAL, printk=f"mod->{entry} out of bounds.")

    def _check_ex_table(self, call: str, mod: LiveModule) -> None:
        """Check 12: the exception table must lie in ``[mod + size_of_struct, mod + size)``
        (a strict ``<`` for its end), start <= end, and be whole entries; else -EINVAL."""
        g, m = mod.get, self.mask
        start, end = g("ex_table_start"), g("ex_table_end")
        entry = ms.sizeof(self.ws, "exception_table_entry")
        inside = start >= (mod.base + g("size_of_struct")) & m and end < (mod.base + g("size")) & m
        if start > end or (start and not inside) or ((start - end) & m) % entry:
            raise self.fail(call, errno.EINVAL, printk="mod->ex_table_* invalid.")

    def _check_flags(self, call: str, mod: LiveModule) -> None:
        """Check 13: userspace may set only MOD_AUTOCLEAN in ``mod->flags``; else -EINVAL."""
        if mod.get("flags") & ~ms.MOD_AUTOCLEAN:
            raise self.fail(call, errno.EINVAL, printk="mod->flags invalid.")

    def _check_can_unload(self, call: str, mod: LiveModule) -> None:
        """Check 14: a present, non-NULL ``can_unload`` outside the module -> -EINVAL."""
        if (
            self.member_present(mod, "can_unload")
            and mod.get("can_unload")
            and not self.mod_bound(mod, mod.get("can_unload"), 0)
        ):
            raise self.fail(call, errno.EINVAL, printk="mod->can_unload out of bounds.")

    def _check_optional_range(self, call: str, mod: LiveModule, what: str) -> None:
        """Checks 15 (``kallsyms``) and 16 (``archdata``): when the header has the
        member, a set ``_end`` needs both ends inside the module and start <= end;
        else -EINVAL."""
        if not self.member_present(mod, f"{what}_end"):
            return
        lo, hi = mod.get(f"{what}_start"), mod.get(f"{what}_end")
        if hi and (not self.mod_bound(mod, lo, 0) or not self.mod_bound(mod, hi, 0)):
            raise self.fail(call, errno.EINVAL, printk=f"mod->{what} out of bounds.")
        if lo > hi:
            raise self.fail(call, errno.EINVAL, printk=f"mod->{what} invalid.")

    def _check_kernel_data(self, call: str, mod: LiveModule) -> None:
        """Check 17: a present ``kernel_data`` must be zero; else -EINVAL."""
        if self.member_present(mod, "kernel_data") and mod.get("kernel_data"):
            raise self.fail(call, errno.EINVAL, printk="mod->kernel_data must be zero.")

    def _copy_rest(self, call: str, mod: LiveModule, image: bytes, user_size: int) -> None:
        """Check 19: ``copy_from_user`` of the image past the header up to ``mod->size``,
        -EFAULT on a fault."""
        end_copy = mod.get("size")
        if end_copy < user_size or len(image) < end_copy:
            raise self.fail(call, errno.EFAULT, "image shorter than mod->size")
        mod.write(user_size, image[user_size:end_copy])
        if not mod.get("size_of_struct") and not self.space.read_cstr(mod.get("name")):
            # Zippel's header skips check 18; an empty name, or one running off the module,
            # would leave a module nobody can name again (2.4 would oops reading it later)
            raise self.fail(call, errno.EINVAL, printk="mod->name out of bounds.")

    def _check_deps(self, call: str, mod: LiveModule) -> list[tuple[int, int]]:
        """Check 22: every ``deps[i].dep`` must be another module in the list (the
        walk stops at ``&kernel_module``); else -EINVAL.  Returns (entry, dep) pairs."""
        deps = self.deps_of(mod)
        gone = "found dependency that is (no longer?) a module."
        for _, dep in deps:
            if dep == mod.base:
                raise self.fail(
                    call, errno.EINVAL, printk="self-referential dependency in mod->deps."
                )
            # 2.4 scans module_list up to &kernel_module for d, so a dependency on the
            # kernel itself passes (seen on the real 2.4.37.11 kernel)
            if self.space.at_base(dep) is None and dep != self.arch.kernel_module:
                raise self.fail(call, errno.EINVAL, printk=gone)
        if len(deps) != mod.get("ndeps"):  # an entry we could not even read (2.4 would oops)
            raise self.fail(call, errno.EINVAL, printk=gone)
        return deps

    def _link_deps(self, mod: LiveModule, deps: list[tuple[int, int]]) -> None:
        """Step 23: the kernel fills ``ref``/``next_ref`` of each entry (userspace gave
        only ``dep``), pushes it on the dependency's ``refs`` and marks it MOD_USED_ONCE."""
        for addr, dep in deps:
            dmod = self.space.at_base(dep)
            if dmod is None:  # &kernel_module: its refs list is not shown anywhere, not kept
                self.space.write_word(addr + self.ws, mod.base)
                self.space.write_word(addr + 2 * self.ws, 0)
                continue
            self.space.write_word(addr + self.ws, mod.base)
            self.space.write_word(addr + 2 * self.ws, dmod.get("refs"))
            dmod.set("refs", addr)
            dmod.set("flags", dmod.get("flags") | ms.MOD_USED_ONCE)

    def _check_user_name(
        self, call: str, mod: LiveModule, image: bytes, namelen: int, current: bytes
    ) -> None:
        """Check 18: 2.4 re-read the name from the user's image at ``image + (mod->name
        - mod)`` (get_mod_name's errors); a different length or string -> -EINVAL,
        "changed module name"."""
        off = (mod.get("name") - mod.base) & self.mask
        failure = "get_mod_name failure."
        if off >= len(image):
            raise self.fail(call, errno.EFAULT, printk=failure)
        nul = image.find(b"\0", off, off + PAGE_SIZE)
        if nul < 0:
            err = errno.EFAULT if off + PAGE_SIZE > len(image) else errno.ENAMETOOLONG
            raise self.fail(call, err, printk=failure)
        n_name = image[off:nul]
        if not n_name:
            raise self.fail(call, errno.EINVAL, printk=failure)
        # strcmp with name_tmp, the created name as it was before the header copy
        if len(n_name) != namelen or n_name != current:
            shown = n_name.decode("utf-8", "replace")
            raise self.fail(
                call,
                errno.EINVAL,
                f"changed module name to `{shown}' from `{current.decode('utf-8', 'replace')}'",
                printk=f"changed module name to `{shown}' from "
                f"`{current.decode('utf-8', 'replace')}'",
            )

    def _start(self, mod: LiveModule) -> None:
        """Steps 24-25: run init with usecount 1 and MOD_INITIALIZING; a non-zero
        return leaves the module uninitialized (a positive one as -EBUSY)."""
        mod.set("usecount", 1)
        mod.set("flags", mod.get("flags") | ms.MOD_INITIALIZING)
        init = mod.get("init")
        if init:
            try:
                ret = self._run(init)
            except self.executor.oops_types() as oops:
                self._oops_in_init(mod, str(oops))
                return
            if ret != 0:
                mod.set("usecount", 0)
                mod.set("flags", mod.get("flags") & ~ms.MOD_INITIALIZING)
                err = errno.EBUSY if ret > 0 else -ret  # "Buggy module": positive -> EBUSY
                self.st.deferred = _kernel_error("init_module", err, _init_failure(ret))
                return
        mod.set("usecount", mod.get("usecount") - 1)
        mod.set("flags", (mod.get("flags") | ms.MOD_RUNNING) & ~ms.MOD_INITIALIZING)

    def _oops_in_init(self, mod: LiveModule, report: str) -> None:
        """As 2.4: the oops kills the caller inside sys_init_module, so the module stays.

        It keeps usecount 1 and MOD_INITIALIZING ("(initializing)" in /proc/modules,
        delete_module says EBUSY) and whatever init did before the fault (memory, heap,
        registered devices), as the real 2.4.37.11 kernel under qemu shows.
        """
        if not report.startswith("<"):
            self.st.log.append(f"{KERN_ALERT}{report}")
        mod.dirty = True
        self.st.deferred = LoadError(report)

    # -- 1.6 sys_delete_module ------------------------------------------------------------

    def in_use(self, mod: LiveModule) -> int:
        """__MOD_IN_USE: can_unload() when present and set, else the usecount in memory."""
        if self.member_present(mod, "can_unload") and mod.get("can_unload"):
            try:
                return self._run(mod.get("can_unload"))
            except self.executor.oops_types() as oops:
                raise LoadError(str(oops)) from None
        return mod.get("usecount")

    def delete_module(self, name: str | bytes | None) -> None:
        call = "delete_module"
        self._capable(call)
        if name is not None:
            nm = self._get_mod_name(call, name)
            mod = self.find_module(nm)
            if mod is None:
                raise self.fail(call, errno.ENOENT)
            if mod.get("refs"):
                users = " ".join(self.display_name(r) for r in self.refs_of(mod))
                raise self.fail(call, errno.EBUSY, f"used by {users}" if users else "")
            if self.in_use(mod):
                raise self.fail(call, errno.EBUSY)
            mod.set("flags", mod.get("flags") | ms.MOD_DELETED)
            self.free_module(mod, tag_freed=False)
            return
        self._reap()

    def _reap(self) -> None:
        """delete_module(NULL): autoclean reaping with 2.4's second chance (MOD_VISITED)."""
        while True:
            changed = False
            for mod in list(self.modules):
                if mod not in self.modules:
                    continue
                f = mod.get("flags")
                if (
                    not mod.get("refs")
                    and f & ms.MOD_AUTOCLEAN
                    and f & ms.MOD_RUNNING
                    and not f & ms.MOD_DELETED
                    and f & ms.MOD_USED_ONCE
                    and not self.in_use(mod)
                ):
                    f = mod.get("flags")
                    if f & ms.MOD_VISITED and not f & ms.MOD_JUST_FREED:
                        mod.set("flags", f & ~ms.MOD_VISITED)
                    else:
                        mod.set("flags", f | ms.MOD_DELETED)
                        self.free_module(mod, tag_freed=True)
                        changed = True
            if not changed:
                break
        for mod in self.modules:
            mod.set("flags", mod.get("flags") & ~ms.MOD_JUST_FREED)

    def free_module(self, mod: LiveModule, tag_freed: bool) -> None:
        """Run cleanup if RUNNING, unlink from the deps' refs chains and the list, free."""
        if mod.get("flags") & ms.MOD_RUNNING:
            cleanup = mod.get("cleanup")
            if cleanup:
                try:
                    self._run(cleanup)
                except self.executor.oops_types() as oops:
                    # the module goes anyway; the caller hears about the crash after the commit
                    report = str(oops)
                    if not report.startswith("<"):
                        self.st.log.append(f"{KERN_ALERT}{report}")
                    if self.st.deferred is None:
                        self.st.deferred = LoadError(report)
            mod.set("flags", mod.get("flags") & ~ms.MOD_RUNNING)
        self._release(mod, tag_freed)

    # -- deferred relocations (insmod --defer-missing; the livepatch idea) -------------------

    def trap_addresses(self, names: list[str]) -> dict[str, int]:
        """An unresolved-symbol trap slot per name (kept by name, reused when free)."""
        return pending.trap_addresses(self, names)

    def add_taint(self, flags: int) -> None:
        """A write to /proc/sys/kernel/tainted (2.4.10+: insmod ORs its flags in)."""
        if flags & ~self.st.tainted:
            self.st.tainted |= flags
            self.st.extras_dirty = True

    def _release(self, mod: LiveModule, tag_freed: bool) -> None:
        if any(u.module == mod.base for u in self.st.unresolved):
            self.st.unresolved = [u for u in self.st.unresolved if u.module != mod.base]
            self.st.extras_dirty = True
        for addr, d in self.deps_of(mod):
            dmod = self.space.at_base(d)
            if dmod is None:
                continue
            prev, cur = None, dmod.get("refs")
            for _ in range(CHAIN_LIMIT):
                if not cur or cur == addr:
                    break
                prev, cur = cur, self.space.read_word(cur + 2 * self.ws) or 0
            if cur == addr:
                nxt = self.space.read_word(addr + 2 * self.ws) or 0
                if prev is None:
                    dmod.set("refs", nxt)
                else:
                    self.space.write_word(prev + 2 * self.ws, nxt)
            if tag_freed and not dmod.get("refs"):
                dmod.set("flags", dmod.get("flags") | ms.MOD_JUST_FREED)
        index = self.modules.index(mod)
        if index > 0:
            self.modules[index - 1].set("next", mod.get("next"))
        del self.modules[index]
        self.st.removed.add(mod.base)

    # -- 1.7 sys_query_module -------------------------------------------------------------

    def query_module(self, name: str | bytes | None, which: int, bufsize: int) -> tuple[bytes, int]:
        """(buffer contents, *ret); ENOSPC as :class:`QueryBufferTooSmall` carrying *ret."""
        call = "query_module"
        mod: LiveModule | None = None  # None: kernel_module
        if name is not None:
            mod = self.find_module(self._get_mod_name(call, name))
            if mod is None:
                raise self.fail(call, errno.ENOENT)
        if which == 0:
            return b"", 0
        if which == ms.QM_MODULES:
            return self._names([self.name_of(m) for m in self.modules], bufsize, which)
        if which in (ms.QM_DEPS, ms.QM_REFS, ms.QM_INFO) and mod is None:
            raise self.fail(call, errno.EINVAL, "not for the kernel itself")
        if which == ms.QM_INFO:
            assert mod is not None
            size = ms.sizeof(self.ws, "module_info")
            if bufsize < size:
                raise QueryBufferTooSmall(size, which)
            data = ms.build(
                self.ws,
                "module_info",
                addr=mod.base,
                size=mod.get("size"),
                flags=mod.get("flags"),
                usecount=self.usecount(mod),  # query's own increment is taken back out
            )
            return data, size
        if which not in (ms.QM_DEPS, ms.QM_REFS, ms.QM_SYMBOLS):
            raise self.fail(call, errno.EINVAL, f"unknown query {which}")
        if mod is not None and not self.can_query(mod):
            return b"", 0
        if which == ms.QM_DEPS:
            assert mod is not None
            names = []
            for _, d in self.deps_of(mod):
                dmod = self.space.at_base(d)
                names.append(self.name_of(dmod) if dmod is not None else b"")
            return self._names(names, bufsize, which)
        if which == ms.QM_REFS:
            assert mod is not None
            return self._names([self.name_of(r) for r in self.refs_of(mod)], bufsize, which)
        syms = self.kernel_exports() if mod is None else self.exports_of(mod)
        table = len(syms) * 2 * self.ws
        needed = table + sum(len(n) + 1 for _, n in syms)
        if needed > bufsize:
            raise QueryBufferTooSmall(needed, which)
        vals, strings, offset = [], [], table
        for value, sym_name in syms:
            vals.append(ms.pack_word(self.ws, value) + ms.pack_word(self.ws, offset))
            strings.append(sym_name + b"\0")
            offset += len(sym_name) + 1
        return b"".join(vals) + b"".join(strings), len(syms)

    @staticmethod
    def _names(names: list[bytes], bufsize: int, which: int) -> tuple[bytes, int]:
        data = b"".join(n + b"\0" for n in names)
        if len(data) > bufsize:
            raise QueryBufferTooSmall(len(data), which)
        return data, len(names)

    # -- 1.8 sys_get_kernel_syms ----------------------------------------------------------

    def get_kernel_syms_count(self) -> int:
        """get_kernel_syms(NULL): sum of nsyms + 1 over every module, the kernel included."""
        return sum(m.get("nsyms") + 1 for m in self.modules) + len(self.kernel_exports()) + 1

    def get_kernel_syms(self) -> list[tuple[int, bytes]]:
        """The table: per queryable module "#name" then its symbols; the kernel ("#") last."""
        out: list[tuple[int, bytes]] = []
        limit = ms.KERNEL_SYM_NAME_LEN - 1
        for mod in self.modules:
            if not self.can_query(mod):
                continue
            out.append((mod.base, (b"#" + self.name_of(mod))[:limit]))
            out.extend((v, n[:limit]) for v, n in self.exports_of(mod))
        out.append((self.arch.kernel_module, b"#"))
        out.extend((v, n[:limit]) for v, n in self.kernel_exports())
        return out

    # -- /proc/ksyms order ----------------------------------------------------------------

    def ksyms(self) -> list[tuple[int, bytes, str | None]]:
        """(value, name, module) as 2.4's /proc/ksyms: module_list order, kernel last."""
        out: list[tuple[int, bytes, str | None]] = []
        for mod in self.modules:
            if self.can_query(mod):
                owner = self.display_name(mod) or None
                out.extend((v, n, owner) for v, n in self.exports_of(mod))
        out.extend((v, n, None) for v, n in self.kernel_exports())
        return out
