"""The simulated 2.4 kernel as a driver test bench: load a module, then use it.

    with SimKernel(state_dir, arch="i386") as k:
        k.load("build/i386/examples/scull.o")
        k.write("scull", b"hello")            # open O_WRONLY, write, close
        assert k.cat("scull") == b"hello"     # open O_RDONLY, read to EOF, close
        with k.open("scull", "r+") as f:      # one open file, several calls
            f.seek(1)
            assert f.read(2) == b"el"
            size = f.ioctl(SCULL_IOCGSIZE, b"\\0" * 4)
        k.tick(5 * HZ)                        # time passes, due timers run
        print(k.dmesg())

A device is named ``MAJOR:MINOR``, ``NAME`` or ``NAME:MINOR`` (NAME as in
/proc/devices, or a misc device's name), or ``/proc/PATH``.  Every call is one
syscall of the simulated process (one transaction on the kernel state); a
failing one raises :class:`DeviceError` with the errno, module code that
crashes raises :class:`~insmod_py.errors.LoadError` with the oops report (also
in ``dmesg()``), and the kernel keeps what the module did before the crash.
"""

from __future__ import annotations

import contextlib
import os
import struct
from dataclasses import dataclass
from typing import Any

from .arch import DEFAULT
from .errors import LoadError, UsageError

O_RDONLY, O_WRONLY, O_RDWR, O_APPEND, O_NONBLOCK = 0, 1, 2, 0o2000, 0o4000
MODES = {
    "r": O_RDONLY, "w": O_WRONLY, "r+": O_RDWR, "w+": O_RDWR, "a": O_WRONLY | O_APPEND,
    "a+": O_RDWR | O_APPEND,
}  # fmt: skip
MISC_MAJOR = 10
HZ = 100
READ_CHUNK = 4096


class DeviceError(LoadError):
    """A syscall on a device failed: ``errno`` as the kernel returned it (positive)."""

    def __init__(self, device: str, call: str, err: int) -> None:
        self.call, self.errno = call, err
        super().__init__(f"{call}: {os.strerror(err)}", file=device)


@dataclass(frozen=True)
class Device:
    """What a device name resolved to."""

    name: str  # as the user gave it
    major: int = 0
    minor: int = 0
    proc: str = ""  # the path below /proc, for a /proc file


class SimKernel:
    """A simulated 2.4 kernel with a state directory; see the module docstring."""

    def __init__(
        self, state_dir: str | None = None, arch: str = DEFAULT.name, variant: str = "patched"
    ) -> None:
        from .backends.sim import SimBackend

        self.arch = arch
        self.state_dir = state_dir
        self.variant = variant
        self.comm = "pyinsmod"  # current->comm of the simulated process
        self.backend = SimBackend(state_dir=state_dir, arch=arch, variant=variant)

    def __enter__(self) -> SimKernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.backend.close()

    # -- modules ---------------------------------------------------------------------------

    def load(self, path: str, *args: str, name: str | None = None) -> str:
        """insmod ``path`` with MODULE_PARM ``args`` ("x=1"); the module's name."""
        from .insmod import InsmodOptions, insmod
        from .loader import module_name_from_path

        opts = InsmodOptions(
            path=path, args=tuple(args), name=name, state_dir=self.state_dir,
            variant=self.variant,
        )  # fmt: skip
        insmod(opts)
        return name or module_name_from_path(path)

    def unload(self, name: str) -> None:
        self.backend.delete_module(name)

    def dmesg(self) -> list[str]:
        return self.backend.dmesg()

    def clear_dmesg(self) -> None:
        self.backend.clear_dmesg()

    @property
    def jiffies(self) -> int:
        return self.backend._call(lambda k: k.executor.runtime(k.st).jiffies, write=False)

    # -- devices ---------------------------------------------------------------------------

    def resolve(self, device: str) -> Device:
        """A device name as described in the module docstring (UsageError if unknown)."""
        if device.startswith("/proc/"):
            return Device(device, proc=device[len("/proc/") :].strip("/"))
        head, _, tail = device.partition(":")
        try:
            minor = int(tail, 0) if tail else 0
        except ValueError:
            raise UsageError(f"bad minor number {tail!r}", file=device) from None
        if head.isdigit():
            return Device(device, int(head), minor)
        for major, name, _ in self.backend.chrdevs():
            if name == head:
                return Device(device, major, minor)
        misc = self.misc_devices()
        if head in misc and not tail:
            return Device(device, MISC_MAJOR, misc[head])
        raise UsageError("no such device (not in /proc/devices, not a misc device)", file=device)

    def misc_devices(self) -> dict[str, int]:
        """Registered misc devices: name -> minor."""
        from .backends.sim import kstructs

        def read(k: Any) -> dict[str, int]:
            md = kstructs.struct(k.ws, "miscdevice")
            out = {}
            for minor, addr in k.executor.runtime(k.st).drivers.misc.items():
                name_ptr = k.space.read_word(addr + md.off("name"))
                raw = k.space.read_cstr(name_ptr, 64) if name_ptr else None
                out[(raw or b"").decode("utf-8", "replace")] = minor
            return out

        return self.backend._call(read, write=False)

    def proc_entries(self) -> list[str]:
        """Paths below /proc that modules created."""
        return self.backend._call(
            lambda k: [p["path"] for p in k.executor.runtime(k.st).drivers.proc], write=False
        )

    def open(self, device: str, mode: str = "r", *, nonblock: bool = False) -> DeviceFile:
        """Open a device or /proc file (``mode``: r, w, r+, w+, a, a+ as fopen's)."""
        from .backends.sim import userspace

        if mode not in MODES:
            raise UsageError(f"bad open mode {mode!r} (one of {', '.join(MODES)})")
        dev = self.resolve(device)
        flags = MODES[mode] | (O_NONBLOCK if nonblock else 0)

        def routine(ctx: Any) -> int:
            if dev.proc:
                return userspace.open_proc(ctx, dev.proc, flags)
            return userspace.open_device(ctx, dev.major, dev.minor, flags)

        fd = self.backend.userspace(routine, comm=self.comm)
        if fd < 0:
            raise DeviceError(device, "open", -fd)
        return DeviceFile(self, device, fd)

    def cat(self, device: str, limit: int = 1 << 20) -> bytes:
        """Everything a read loop gets from the device until it returns 0 (or ``limit``)."""
        out = bytearray()
        with self.open(device, "r") as f:
            while len(out) < limit:
                chunk = f.read(min(READ_CHUNK, limit - len(out)))
                if not chunk:
                    break
                out += chunk
        return bytes(out)

    def write(self, device: str, data: bytes, mode: str = "w") -> int:
        """Open, write ``data`` (until all is taken or a write returns 0), close."""
        done = 0
        with self.open(device, mode) as f:
            while done < len(data):
                n = f.write(data[done:])
                if n == 0:
                    break
                done += n
        return done

    def ioctl(self, device: str, cmd: int, arg: int | bytes = 0, mode: str = "r") -> IoctlResult:
        with self.open(device, mode) as f:
            return f.ioctl_result(cmd, arg)

    # -- time ------------------------------------------------------------------------------

    def tick(self, ticks: int = 1) -> list[str]:
        """Advance jiffies by ``ticks``; the timer functions that ran, as ``<symbol+off>``."""
        from .backends.sim import userspace

        if ticks < 0:
            raise UsageError("time does not go backwards")
        fired: list[str] = []
        self.backend.userspace(lambda ctx: userspace.tick(ctx, ticks, fired.append), comm=self.comm)
        return fired


@dataclass(frozen=True)
class IoctlResult:
    ret: int  # what the ioctl returned (>= 0; errors raise)
    data: bytes  # the argument buffer after the call (empty for an integer argument)

    def int(self) -> int:
        """The buffer as a C int (what _IOR(..., int) commands fill in)."""
        return struct.unpack("<i", self.data[:4])[0]


class DeviceFile:
    """One open file of the simulated process."""

    def __init__(self, kernel: SimKernel, device: str, fd: int) -> None:
        self.kernel, self.device, self.fd = kernel, device, fd
        self.closed = False

    def __enter__(self) -> DeviceFile:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self.closed:
            return
        if exc_type is None:
            self.close()
            return
        with contextlib.suppress(LoadError):  # the process dies: 2.4 do_exit closes its files
            self.close()

    def _call(self, name: str, fn: Any) -> Any:
        res = self.kernel.backend.userspace(fn, comm=self.kernel.comm)
        if res.ret < 0:
            raise DeviceError(self.device, name, -res.ret)
        return res

    def read(self, count: int = READ_CHUNK) -> bytes:
        from .backends.sim import userspace

        return self._call("read", lambda ctx: userspace.read(ctx, self.fd, count)).data

    def write(self, data: bytes) -> int:
        from .backends.sim import userspace

        return self._call("write", lambda ctx: userspace.write(ctx, self.fd, bytes(data))).ret

    def seek(self, offset: int, whence: int = 0) -> int:
        from .backends.sim import userspace

        return self._call("llseek", lambda ctx: userspace.llseek(ctx, self.fd, offset, whence)).ret

    def ioctl_result(self, cmd: int, arg: int | bytes = 0) -> IoctlResult:
        from .backends.sim import userspace

        res = self._call("ioctl", lambda ctx: userspace.ioctl(ctx, self.fd, cmd, arg))
        return IoctlResult(res.ret, res.data)

    def ioctl(self, cmd: int, arg: int | bytes = 0) -> int | bytes:
        """The return value for an integer ``arg``; the buffer after the call for bytes."""
        res = self.ioctl_result(cmd, arg)
        return res.data if isinstance(arg, bytes) else res.ret

    def poll(self) -> int:
        """The file's ready mask (POLLIN 0x1, POLLOUT 0x4, ...) from its ->poll."""
        from .backends.sim import userspace

        return self._call("poll", lambda ctx: userspace.poll(ctx, self.fd)).ret

    def close(self) -> None:
        from .backends.sim import userspace

        self.closed = True
        ret = self.kernel.backend.userspace(
            lambda ctx: userspace.close(ctx, self.fd), comm=self.kernel.comm
        )
        if ret < 0:
            raise DeviceError(self.device, "close", -ret)
