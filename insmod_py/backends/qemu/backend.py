"""QemuBackend: the Backend protocol over a real Linux 2.4.37.11 kernel running under qemu.

Every call is one request to the guest agent, which makes the real system call
(protocol.py); the VM is booted by the first use of a state directory and left running
(vm.py).  The backend holds the VM's lock from its first call until :meth:`close` (or
the process ends), so one pyinsmod command's calls are never interleaved with another's.
"""

from __future__ import annotations

import contextlib
import errno as E
import struct
from pathlib import Path

from ... import modstruct as ms
from ...arch import DEFAULT
from ...errors import KernelError, LoadError
from ...fsutil import atomic_write
from ...ksyms import KernelSymbol, SymbolTable
from ...modstruct import QM_SYMBOLS
from .. import querybuf
from ..base import ImageInfo, ModuleInfo
from .protocol import Channel, GuestDied, Op, ProtocolError, Reply, encode_str
from .vm import KERNEL_SYMBOLS_CACHE, Vm, VmError, VmStatus

CALL_TIMEOUT = 60.0  # per request, beyond what the line itself needs (a long init)
EXIT_GRACE = 5.0  # from qemu closing the agent socket to its process being gone
SECONDS_PER_MB = 30.0  # the serial line's worst case under a busy host
VARIANTS = ("unpatched", "patched")
SYSLOG_READ_ALL, SYSLOG_CLEAR = 3, 5
SYSLOG_SIZE = 1 << 17  # more than 2.4's log buffer holds
_QUERY_START = 1024
TAINT_FILE = "/proc/sys/kernel/tainted"


def kernel_build(arch: str, variant: str) -> Path:
    """The bzImage of the built kernel, or one line naming the command that builds it."""
    try:
        from ...kernel24 import find_kernel
    except ImportError:  # a tree without the kernel builder
        find_kernel = None
    build = find_kernel(arch, variant) if find_kernel is not None else None
    if build is None:
        raise LoadError(f"no {variant} {arch} 2.4 kernel has been built; run: make kernel24")
    return Path(build.bzimage)


class QemuBackend:
    """A real 2.4 kernel (stock or with Zippel's patch) in a qemu VM kept per state directory."""

    def __init__(
        self,
        state_dir: str | None = None,
        arch: str = DEFAULT.name,
        variant: str = "patched",
        *,
        timeout: float = CALL_TIMEOUT,
        bzimage: Path | None = None,
    ) -> None:
        """``bzimage``: boot this kernel instead of the cached ``variant`` (the allmod
        corpus kernel); the state directory should then be its own."""
        if variant not in VARIANTS:
            raise ValueError(f"kernel variant must be one of {', '.join(VARIANTS)}")
        from ..sim.state import default_state_dir

        self.arch = arch
        self.variant = variant
        self.bzimage = bzimage
        self.vm = Vm(state_dir if state_dir is not None else default_state_dir(), arch, variant)
        self.word_size = self.vm.machine.word_size
        self._mask = self.vm.machine.address_mask
        self._channel: Channel | None = None
        self._release: str | None = None
        self._timeout = timeout

    # -- the connection ------------------------------------------------------------------------

    def _connect(self) -> Channel:
        if self._channel is not None:
            return self._channel
        self.vm.lock()
        try:
            self.vm.check_alive()
            if self.vm.status().state == "running":
                channel = self.vm.connect()
                hello = self._hello(channel)
            else:
                channel = self.vm.boot(self.bzimage or kernel_build(self.arch, self.variant))
                hello = self._hello(channel)
        except BaseException:
            self.vm.unlock()
            raise
        self._release = hello.data[2 * 65 : 3 * 65].split(b"\0", 1)[0].decode("latin-1")
        self._channel = channel
        return channel

    def _hello(self, channel: Channel) -> Reply:
        """The first request of a connection; retried once past the agent's resync second."""
        for attempt in range(2):
            try:
                reply = channel.call(Op.HELLO, timeout=2.0 + 3.0 * attempt)
                break
            except GuestDied:
                continue  # an earlier command's worker died; this one was told
            except ProtocolError:
                self.vm.check_alive()
                if attempt:
                    raise VmError(
                        f"the {self.vm.label} does not answer ({self.vm.last_words()}); "
                        "`pyinsmod qemu stop` stops it"
                    ) from None
        if reply.ret != self.word_size:
            raise VmError(f"the {self.vm.label}'s agent has word size {reply.ret}")
        return reply

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        self.vm.unlock()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def request(self, op: Op, payload: bytes = b"", call: str = "") -> Reply:
        """One request; a dead or silent guest becomes one clear line."""
        channel = self._connect()
        timeout = self._timeout + SECONDS_PER_MB * len(payload) / (1 << 20)
        name = call or op.name.lower()
        try:
            return channel.call(op, payload, timeout=timeout)
        except GuestDied as exc:
            raise LoadError(f"{name}: {exc} (see the console log {self.vm.console})") from None
        except ProtocolError as exc:
            self.close()
            if exc.closed:  # qemu closes its sockets a moment before its process ends
                self.vm.wait_exit(EXIT_GRACE)
            if self.vm.status().state != "running":
                self.vm.check_alive(call=name)  # raises: the kernel died
            raise VmError(
                f"{name}: {self.vm.label}: {exc} (`pyinsmod qemu stop` stops it)"
            ) from None

    def _syscall(self, op: Op, payload: bytes, call: str) -> int:
        """A call whose return value is -errno on failure, else a number."""
        ret = self.request(op, payload, call).ret
        if -4096 < ret < 0:
            raise KernelError(call, -ret)
        return ret

    # -- the Backend protocol ------------------------------------------------------------------

    def kernel_symbols(self) -> SymbolTable:
        """Module exports (newest module first) then the kernel's, via QM_SYMBOLS."""
        return querybuf.symbol_table(self._query, self.word_size, self._kernel_own_symbols())

    def _kernel_own_symbols(self) -> list[KernelSymbol]:
        """QM_SYMBOLS of the kernel itself, kept in the VM's directory after the first query:
        a booted kernel's own table never changes, and it is most of what a load reads."""
        cache = self.vm.dir / KERNEL_SYMBOLS_CACHE
        try:
            raw = cache.read_bytes()
            count, data = int.from_bytes(raw[:8], "little"), raw[8:]
        except OSError:
            data, count = self._query(None, QM_SYMBOLS)
            atomic_write(str(cache), count.to_bytes(8, "little") + data, 0o600)
        return querybuf.symbols(self.word_size, data, count, None)

    def create_module(self, name: str, size: int) -> int:
        payload = struct.pack("<Q", size & 0xFFFFFFFFFFFFFFFF) + encode_str(name)
        return self._syscall(Op.CREATE_MODULE, payload, "create_module") & self._mask

    def init_module(
        self, name: str, image: bytes | bytearray, info: ImageInfo | None = None
    ) -> None:
        self._syscall(Op.INIT_MODULE, encode_str(name) + bytes(image), "init_module")

    def delete_module(self, name: str | None) -> None:
        self._syscall(Op.DELETE_MODULE, encode_str(name), "delete_module")

    def modules(self) -> list[ModuleInfo]:
        """QM_MODULES, then QM_INFO, QM_REFS and QM_DEPS per module (newest first)."""
        return querybuf.modules(self._query, self.word_size)

    # -- the rest of 2.4's interface -----------------------------------------------------------

    def query_module(self, name: str | None, which: int, bufsize: int) -> tuple[bytes, int]:
        """sys_query_module with a buffer of ``bufsize`` bytes: (buffer, ``*ret``).

        ENOSPC raises :class:`QueryBufferTooSmall` carrying ``*ret`` (the size needed),
        as the simulated kernel's does.
        """
        from ..sim import QueryBufferTooSmall

        payload = encode_str(name) + struct.pack("<IQ", which, bufsize)
        reply = self.request(Op.QUERY_MODULE, payload, "query_module")
        count = int.from_bytes(reply.data[:8], "little")
        if reply.ret == -E.ENOSPC:
            raise QueryBufferTooSmall(count, which)
        if -4096 < reply.ret < 0:
            raise KernelError("query_module", -reply.ret)
        return reply.data[8:].ljust(bufsize, b"\0"), count

    def _query(self, name: str | None, which: int) -> tuple[bytes, int]:
        from ..sim import QueryBufferTooSmall

        size = _QUERY_START
        for _ in range(8):  # the size needed can grow between calls
            try:
                return self.query_module(name, which, size)
            except QueryBufferTooSmall as exc:
                size = max(exc.ret, size + 1)
        raise KernelError("query_module", E.ENOSPC, "buffer size kept changing")

    def get_kernel_syms(self) -> list[tuple[int, str]]:
        """sys_get_kernel_syms' table: "#module" pseudo entries, then symbols, kernel last."""
        reply = self.request(Op.GET_KERNEL_SYMS, struct.pack("<I", 1), "get_kernel_syms")
        if -4096 < reply.ret < 0:
            raise KernelError("get_kernel_syms", -reply.ret)
        size = ms.sizeof(self.word_size, "kernel_sym")
        rows = []
        for i in range(reply.ret):
            sym = ms.parse(self.word_size, "kernel_sym", reply.data, i * size)
            rows.append((sym["value"], sym["name"].decode("latin-1")))
        return rows

    def get_kernel_syms_count(self) -> int:
        """sys_get_kernel_syms(NULL)."""
        return self._syscall(Op.GET_KERNEL_SYMS, struct.pack("<I", 0), "get_kernel_syms")

    def read_file(self, path: str) -> bytes:
        reply = self.request(Op.READ_FILE, encode_str(path), "open")
        if -4096 < reply.ret < 0:
            raise KernelError("open", -reply.ret, path)
        return reply.data

    def proc_modules(self) -> str:
        return self.read_file("/proc/modules").decode("latin-1")

    def proc_ksyms(self) -> str:
        return self.read_file("/proc/ksyms").decode("latin-1")

    def kernel_version(self) -> str:
        """The guest's ``uname -r``."""
        self._connect()
        assert self._release is not None
        return self._release

    def tainted(self) -> int:
        """/proc/sys/kernel/tainted; 0 for a kernel without sysctl (it keeps no flags)."""
        try:
            return int(self.read_file(TAINT_FILE).split()[0])
        except KernelError as exc:
            if exc.errno == E.ENOENT:
                return 0
            raise

    def add_taint(self, flags: int) -> None:
        """OR ``flags`` into /proc/sys/kernel/tainted, as 2.4.10+ insmod did (and as it,
        nothing when the kernel has no such file)."""
        try:
            value = int(self.read_file(TAINT_FILE).split()[0]) | flags
        except KernelError as exc:
            if exc.errno == E.ENOENT:
                return
            raise
        fd = self.open_file(TAINT_FILE, 1)  # O_WRONLY
        try:
            self.write_fd(fd, f"{value}\n".encode())
        finally:
            self.close_fd(fd)

    # -- files in the guest (device nodes for a module's file_operations) ----------------------

    def _data_call(self, op: Op, payload: bytes, call: str) -> Reply:
        reply = self.request(op, payload, call)
        if -4096 < reply.ret < 0:
            raise KernelError(call, -reply.ret)
        return reply

    def mknod(self, path: str, mode: int, dev: int) -> None:
        """mknod(2); the guest's root is read-only, /tmp is a ramfs."""
        self._syscall(Op.MKNOD, encode_str(path) + struct.pack("<II", mode, dev), "mknod")

    def open_file(self, path: str, flags: int = 0, mode: int = 0) -> int:
        return self._syscall(Op.OPEN, encode_str(path) + struct.pack("<II", flags, mode), "open")

    def read_fd(self, fd: int, count: int) -> bytes:
        return self._data_call(Op.READ, struct.pack("<II", fd, count), "read").data

    def write_fd(self, fd: int, data: bytes) -> int:
        return self._syscall(Op.WRITE, struct.pack("<I", fd) + data, "write")

    def ioctl(self, fd: int, cmd: int, arg: int | bytes = 0) -> tuple[int, bytes]:
        """ioctl(2) with an integer argument, or with a buffer (returned as the call left it)."""
        if isinstance(arg, int):
            payload = struct.pack("<IIIQ", fd, cmd, 0, arg & 0xFFFFFFFFFFFFFFFF)
        else:
            payload = struct.pack("<III", fd, cmd, 1) + arg
        reply = self._data_call(Op.IOCTL, payload, "ioctl")
        return reply.ret, reply.data

    def lseek(self, fd: int, offset: int, whence: int = 0) -> int:
        payload = struct.pack("<IqI", fd, offset, whence)
        return self._syscall(Op.LSEEK, payload, "lseek")

    def close_fd(self, fd: int) -> None:
        self._syscall(Op.CLOSE, struct.pack("<I", fd), "close")

    def dmesg(self) -> list[str]:
        """The kernel log (syslog(2) READ_ALL), oldest first, each line with its <N> level."""
        reply = self.request(Op.SYSLOG, struct.pack("<II", SYSLOG_READ_ALL, SYSLOG_SIZE), "syslog")
        if -4096 < reply.ret < 0:
            raise KernelError("syslog", -reply.ret)
        return reply.data.decode("latin-1").splitlines()

    def clear_dmesg(self) -> None:
        self._syscall(Op.SYSLOG, struct.pack("<II", SYSLOG_CLEAR, 0), "syslog")

    def reset(self) -> None:
        """Unload every module (users before what they use) and clear the log."""
        for _ in range(64):
            mods = self.modules()
            if not mods:
                break
            removable = [m for m in mods if not m.refs]
            for mod in removable or mods:
                self.delete_module(mod.name)
        else:
            raise LoadError(f"the {self.vm.label} keeps modules that cannot be removed")
        self.clear_dmesg()

    # -- the VM ----------------------------------------------------------------------------------

    def status(self) -> VmStatus:
        return self.vm.status()

    def stop(self) -> bool:
        """Stop the VM (waiting for the lock first, so no command is cut off)."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        self.vm.lock()
        try:
            return self.vm.stop()
        finally:
            self.vm.unlock()
