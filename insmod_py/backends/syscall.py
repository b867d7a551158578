"""The ``syscall`` backend: hand the image to a real Linux 2.4 kernel by its legacy syscalls.

``create_module``, ``init_module`` (2.4's two-argument form), ``delete_module``
(one argument), ``query_module`` and ``get_kernel_syms`` are called by number
through ctypes.  Every kernel since 2.6 lacks them; there the backend says so in
one line and never reaches the modern ``init_module``/``delete_module`` that now
sit on the same numbers.

Syscall numbers, checked against public kernel sources:

* i386: 2.5-era ``include/asm-i386/unistd.h`` (dmgerman/history-token):
  ``__NR_create_module 127``, ``__NR_init_module 128``, ``__NR_delete_module 129``,
  ``__NR_get_kernel_syms 130``, ``__NR_query_module 167``.
* x86_64: ``arch/x86/entry/syscalls/syscall_64.tbl`` (GNUWeeb/linux):
  ``174 64 create_module`` (no entry point), ``175 common init_module sys_init_module``,
  ``176 common delete_module sys_delete_module``, ``177 64 get_kernel_syms``,
  ``178 64 query_module``; google/kafel's amd64 table agrees on 174/177/178
  ("only in kernels before Linux 2.6").
"""

from __future__ import annotations

import ctypes
import errno as E
import os
import platform
from collections.abc import Callable
from typing import Any

from ..arch import DEFAULT, by_name, host
from ..errors import KernelError, LoadError
from ..ksyms import KernelSymbol, SymbolTable, load_symbols
from ..modstruct import KERNEL_SYM_NAME_LEN, QM_SYMBOLS
from . import querybuf
from .base import ImageInfo, ModuleInfo

CAP_SYS_MODULE = 16  # include/uapi/linux/capability.h
# 2.4's errno values stop below 126 (asm-i386/unistd.h: "user-visible error numbers are in
# the range -1 - -124"); a larger "errno" after create_module is an address libc misread.
MAX_LEGACY_ERRNO = 125
_QUERY_START = 1024  # first buffer size for query_module; ENOSPC tells the real one

SyscallFn = Callable[..., int]


class NoLegacySyscalls(KernelError):
    """The running kernel has no 2.4 module syscalls (ENOSYS): a one-line explanation."""

    def __init__(self, call: str, release: str, *, probe: str | None = None) -> None:
        super().__init__(call, E.ENOSYS)
        # ``probe``: the call that answered ENOSYS when ``call`` itself was never made.
        what = f"not called ({probe}: {os.strerror(E.ENOSYS)})" if probe else os.strerror(E.ENOSYS)
        self.reason = (
            f"{call}: {what}: this kernel ({release}) has no 2.4 module syscalls; use --backend sim"
        )
        self.args = (self.reason,)


def _libc_syscall() -> SyscallFn:
    """libc's ``syscall(2)``; errno is kept by ctypes (``use_errno``) for ``get_errno``."""
    libc = ctypes.CDLL(None, use_errno=True)
    fn = libc.syscall
    fn.restype = ctypes.c_long

    def call(nr: int, *args: Any) -> int:
        # syscall(2) is variadic: every argument must be passed as a full word, never as
        # ctypes' default C int (that would truncate sizes and NULL pointers on x86_64).
        conv = [ctypes.c_long(nr)]
        for arg in args:
            if arg is None:
                conv.append(ctypes.c_void_p(None))
            elif isinstance(arg, bytes):
                conv.append(ctypes.c_char_p(arg))  # bytes objects are NUL-terminated
            elif isinstance(arg, int):
                conv.append(ctypes.c_long(arg))
            else:
                conv.append(arg)  # a ctypes buffer or pointer
        return int(fn(*conv))

    return call


def host_arch() -> str | None:
    """The ABI this process's ``syscall(2)`` speaks: i386, x86_64, or None (anything else)."""
    machine = host()
    return None if machine is None else machine.name


def _status_field(name: str) -> str | None:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key == name:
                    return value.strip()
    except OSError:
        return None
    return None


def effective_capabilities() -> int:
    """``CapEff`` of this process (a bit mask), from /proc/self/status; 0 if unreadable."""
    value = _status_field("CapEff")
    try:
        return int(value, 16) if value else 0
    except ValueError:
        return 0


def _legacy_release(release: str) -> bool:
    """True for 2.0-2.5 kernels, the ones that may have the module syscalls."""
    parts = release.split(".")
    try:
        return int(parts[0]) < 2 or (int(parts[0]) == 2 and int(parts[1]) < 6)
    except (ValueError, IndexError):
        return False


class SyscallBackend:
    """The real kernel through its 2.4 module syscalls.

    ``syscall(nr, *args) -> int`` behaves like libc's: -1 with errno (read with
    ``ctypes.get_errno``) on failure.  Arguments are ints, ``bytes`` (C strings
    and images), None (NULL) or ctypes objects (query buffers, ``size_t`` pointers).
    ``capabilities()`` returns the effective capability mask.
    """

    def __init__(
        self,
        arch: str = DEFAULT.name,
        *,
        syscall: SyscallFn | None = None,
        capabilities: Callable[[], int] | None = None,
        native_arch: str | None = None,
        ksyms_path: str = "/proc/ksyms",
        release: str | None = None,
    ) -> None:
        try:
            machine = by_name(arch)
        except ValueError:
            raise LoadError(f"syscall backend: unsupported architecture {arch!r}") from None
        self.arch = arch
        self.word_size = machine.word_size
        self.numbers = machine.syscall_numbers
        self._injected = syscall is not None
        self._syscall = syscall
        self._capabilities = capabilities or effective_capabilities
        self._native_arch = native_arch
        self._ksyms_path = ksyms_path
        self._release = release or os.uname().release
        # None: not known yet; True once query_module(NULL, 0) or create_module worked.
        self._legacy: bool | None = None

    # -- the raw call -------------------------------------------------------------------------

    def _check_arch(self) -> None:
        """A module's ABI must be the process's: an i386 module needs the i386 syscall table."""
        if self._injected:
            return
        native = self._native_arch or host_arch()
        if native == self.arch:
            return
        if native is None:
            what = f"a {platform.machine() or 'non-x86'} process"
        else:
            what = f"a {by_name(native).bits}-bit {native} process"
        hint = ""
        if native is not None and self.word_size < by_name(native).word_size:
            hint = f" (the {self.arch} legacy ABI needs int 0x80 from a 32-bit process)"
        if not _legacy_release(self._release):
            hint += f"; this kernel ({self._release}) has no 2.4 module syscalls anyway"
        raise LoadError(
            f"syscall backend: cannot load an {self.arch} module from {what}{hint}; "
            "use --backend sim"
        )

    def _raw(self, call: str, *args: Any) -> tuple[int, int]:
        """(return value, errno) of one syscall; nothing is interpreted here."""
        self._check_arch()
        if self._syscall is None:
            self._syscall = _libc_syscall()
        ctypes.set_errno(0)
        ret = self._syscall(self.numbers[call], *args)
        return ret, ctypes.get_errno()

    def _fail(self, call: str, err: int, detail: str = "") -> KernelError:
        if err == E.ENOSYS:
            return NoLegacySyscalls(call, self._release)
        if err == E.EPERM and not detail and self._has_cap():
            seccomp = _status_field("Seccomp")
            if seccomp and seccomp != "0":
                detail = f"CAP_SYS_MODULE is held: a seccomp filter (mode {seccomp}) refuses it"
        return KernelError(call, err, detail)

    def _call(self, call: str, *args: Any) -> int:
        """An int-returning call: errors (-1 and errno) become :class:`KernelError`."""
        ret, err = self._raw(call, *args)
        if ret == -1 and err:
            raise self._fail(call, err)
        return ret

    # -- guards ---------------------------------------------------------------------------------

    def _has_cap(self) -> bool:
        return bool(self._capabilities() >> CAP_SYS_MODULE & 1)

    def _require_cap(self, call: str) -> None:
        self._check_arch()
        if not self._has_cap():
            raise LoadError(f"{call}: need CAP_SYS_MODULE (run as root)")

    def _require_legacy(self, call: str) -> None:
        """Refuse ``call`` unless the kernel speaks the 2.2/2.4 interface.

        Since 2.6, 175/128 is ``init_module(umod, len, uargs)`` and 176/129 is
        ``delete_module(name, flags)``: a legacy call would hand a pointer as a length,
        or remove a modern module.  modutils probed the same way: ``query_module(NULL,
        0, NULL, 0, NULL)`` returns 0 only on a kernel with the "new" (2.1+) interface,
        and is ENOSYS (``sys_ni_syscall``) on every kernel since 2.6.
        """
        if self._legacy:
            return
        ret, err = self._raw("query_module", None, 0, None, 0, None)
        if ret != 0:
            self._legacy = False
            if err == E.ENOSYS or not err:
                raise NoLegacySyscalls(call, self._release, probe="query_module")
            raise self._fail("query_module", err, f"probing the 2.4 interface before {call}")
        self._legacy = True

    # -- Backend protocol -----------------------------------------------------------------------

    def create_module(self, name: str, size: int) -> int:
        self._require_cap("create_module")
        # create_module is its own probe: on 2.6+ the number is sys_ni_syscall (ENOSYS).
        ret, err = self._raw("create_module", name.encode(), size)
        mask = (1 << (8 * self.word_size)) - 1
        if ret == -1 and err:
            if err <= MAX_LEGACY_ERRNO:
                raise self._fail("create_module", err)
            # modutils/uClibc: a kernel address in the top page looks like -errno to libc.
            ret = -err
        self._legacy = True
        # A kernel address (0xc8800000, 0xffffffffa0000000) is negative as a C long.
        return ret & mask

    def init_module(
        self, name: str, image: bytes | bytearray, info: ImageInfo | None = None
    ) -> None:
        self._require_cap("init_module")
        self._require_legacy("init_module")
        self._call("init_module", name.encode(), bytes(image))

    def delete_module(self, name: str | None) -> None:
        self._require_cap("delete_module")
        self._require_legacy("delete_module")
        self._call("delete_module", None if name is None else name.encode())

    def modules(self) -> list[ModuleInfo]:
        """QM_MODULES, then QM_INFO, QM_REFS and QM_DEPS per module (newest first)."""
        return querybuf.modules(self.query_module, self.word_size)

    def kernel_symbols(self) -> SymbolTable:
        """Module exports (newest module first) then the kernel's, as /proc/ksyms listed them.

        query_module(QM_SYMBOLS) first (2.2/2.4), then /proc/ksyms, then the
        obsolete get_kernel_syms.
        """
        try:
            kernel = querybuf.symbols(self.word_size, *self.query_module(None, QM_SYMBOLS), None)
            return querybuf.symbol_table(self.query_module, self.word_size, kernel)
        except KernelError as exc:
            if exc.errno != E.ENOSYS:
                raise
            missing = exc
        if os.path.exists(self._ksyms_path):
            return load_symbols(self._ksyms_path)
        try:
            return SymbolTable(self.get_kernel_syms())  # 2.0 had only this one
        except KernelError as exc:
            if exc.errno != E.ENOSYS:
                raise
        raise missing  # a modern kernel: nothing to read the 2.4 symbol table from

    # -- query_module ---------------------------------------------------------------------------

    def query_module(self, name: str | None, which: int) -> tuple[bytes, int]:
        """One query with the ENOSPC protocol: (buffer contents, ``*ret``)."""
        size = _QUERY_START
        cname = None if name is None else name.encode()
        for _ in range(8):  # the needed size can grow between calls; never loop forever
            buf = ctypes.create_string_buffer(max(size, 1))
            ret = ctypes.c_size_t(0)
            rv, err = self._raw("query_module", cname, which, buf, size, ctypes.pointer(ret))
            if rv == 0:
                return buf.raw[:size], ret.value
            if rv == -1 and err == E.ENOSPC:
                size = max(ret.value, size + 1)  # *ret holds the bytes needed
                continue
            raise self._fail("query_module", err or E.EIO)
        raise KernelError("query_module", E.ENOSPC, "buffer size kept changing")

    # -- get_kernel_syms ------------------------------------------------------------------------

    def get_kernel_syms(self) -> list[KernelSymbol]:
        """The obsolete 2.0-2.4 table: ``#module`` markers, each followed by its symbols."""
        count = self._call("get_kernel_syms", None)
        entry = self.word_size + KERNEL_SYM_NAME_LEN
        # The kernel writes without a bound: leave room for modules loaded meanwhile.
        slack = count + 64
        buf = ctypes.create_string_buffer(slack * entry)
        written = min(self._call("get_kernel_syms", buf), slack)
        data = buf.raw
        symbols = []
        module: str | None = None
        for i in range(written):
            rec = data[i * entry : (i + 1) * entry]
            value = int.from_bytes(rec[: self.word_size], "little")
            sym = rec[self.word_size :].split(b"\0", 1)[0].decode("latin-1")
            if sym.startswith("#"):
                module = sym[1:] or None  # "#" alone: the kernel's own symbols follow
                continue
            symbols.append(KernelSymbol(sym, value, module))
        return symbols
