"""The example drivers on the real 2.4.37.11 kernel (qemu) and in the simulated one.

Each driver is built twice, against the real kernel's own configured headers for the
real kernel and against kernel_stub/ for the simulated one, loaded by the same loader,
and driven through the same steps: open, read, write, llseek, ioctl and close of its
device node (the guest agent's system calls on a node it makes with mknod in /tmp), /proc reads and
writes, and time passing (real seconds in the guest, ticks in the simulation).  Every
step's result (return value or -errno, the bytes read, the ioctl buffer) and the printk
lines each step produced must be the same on both kernels.
"""

from __future__ import annotations

import struct
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from insmod_py.backends.qemu.protocol import Op, encode_str
from insmod_py.elf import read_object
from insmod_py.errors import KernelError
from insmod_py.loader import load
from insmod_py.modinfo import read_modinfo
from insmod_py.params import split_arguments
from insmod_py.simkernel import SimKernel

O_RDONLY, O_WRONLY, O_RDWR = 0, 1, 2
S_IFCHR = 0o020000
MISC_MAJOR = 10
HZ = 100


class Bench:
    """Driver steps on one kernel; every step returns what a user program would see."""

    be: Any

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []
        self._log = len(self.be.dmesg())

    def step(self, what: str, result: Any) -> None:
        log = self.be.dmesg()
        new, self._log = log[self._log :], len(log)
        self.seen.append((what, result, new))

    def load_module(self, obj: Path, name: str, *args: str) -> None:
        elf = read_object(str(obj))
        arg_string, params = split_arguments(args, read_modinfo(elf).parameters, elf.word_size)
        load(elf, self.be, name=name, args=arg_string, params=params)
        self.step(f"load {name}", "loaded")

    def unload(self, name: str) -> None:
        try:
            self.be.delete_module(name)
            self.step(f"rmmod {name}", 0)
        except KernelError as exc:
            self.step(f"rmmod {name}", -exc.errno)

    def major(self, name: str) -> int:
        raise NotImplementedError


class RealBench(Bench):
    """The real kernel through the guest agent (device nodes under /dev)."""

    def __init__(self, be: Any) -> None:
        self.be = be
        super().__init__()

    def _call(self, op: Op, payload: bytes) -> tuple[int, bytes]:
        reply = self.be.request(op, payload)
        return reply.ret, reply.data

    def major(self, name: str) -> int:
        for line in self.be.read_file("/proc/devices").decode().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] == name:
                return int(parts[0])
        raise AssertionError(f"{name} not in /proc/devices")

    def node(self, major: int, minor: int) -> str:
        path = f"/tmp/d{major}_{minor}"  # the agent mounts a ramfs there for device nodes
        ret, _ = self._call(Op.MKNOD, encode_str(path) + struct.pack("<II", S_IFCHR | 0o600,
                            (major << 8) | minor))  # fmt: skip
        assert ret in (0, -17), ret  # made, or made by an earlier step
        return path

    def open(self, path: str, flags: int) -> int:
        return self._call(Op.OPEN, encode_str(path) + struct.pack("<II", flags, 0))[0]

    def read(self, fd: int, count: int) -> tuple[int, bytes]:
        return self._call(Op.READ, struct.pack("<II", fd, count))

    def write(self, fd: int, data: bytes) -> int:
        return self._call(Op.WRITE, struct.pack("<I", fd) + data)[0]

    def lseek(self, fd: int, offset: int, whence: int) -> int:
        return self._call(Op.LSEEK, struct.pack("<IqI", fd, offset, whence))[0]

    def ioctl(self, fd: int, cmd: int, arg: int | bytes) -> tuple[int, bytes]:
        if isinstance(arg, bytes):
            return self._call(Op.IOCTL, struct.pack("<III", fd, cmd, 1) + arg)
        return self._call(Op.IOCTL, struct.pack("<IIIQ", fd, cmd, 0, arg))[0], b""

    def close(self, fd: int) -> int:
        return self._call(Op.CLOSE, struct.pack("<I", fd))[0]

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)


class SimBench(Bench):
    """The simulated kernel through its userspace entry points."""

    def __init__(self, kernel: SimKernel) -> None:
        self.k = kernel
        self.be = kernel.backend
        super().__init__()

    def _run(self, fn: Any) -> Any:
        return self.be.userspace(fn)

    def major(self, name: str) -> int:
        return next(m for m, n, _ in self.be.chrdevs() if n == name)

    def node(self, major: int, minor: int) -> tuple[int, int]:
        return (major, minor)

    def open(self, path: Any, flags: int) -> int:
        from insmod_py.backends.sim import userspace

        if isinstance(path, str):
            return self._run(lambda ctx: userspace.open_proc(ctx, path[len("/proc/") :], flags))
        return self._run(lambda ctx: userspace.open_device(ctx, path[0], path[1], flags))

    def read(self, fd: int, count: int) -> tuple[int, bytes]:
        from insmod_py.backends.sim import userspace

        res = self._run(lambda ctx: userspace.read(ctx, fd, count))
        return res.ret, res.data

    def write(self, fd: int, data: bytes) -> int:
        from insmod_py.backends.sim import userspace

        return self._run(lambda ctx: userspace.write(ctx, fd, data)).ret

    def lseek(self, fd: int, offset: int, whence: int) -> int:
        from insmod_py.backends.sim import userspace

        return self._run(lambda ctx: userspace.llseek(ctx, fd, offset, whence)).ret

    def ioctl(self, fd: int, cmd: int, arg: int | bytes) -> tuple[int, bytes]:
        from insmod_py.backends.sim import userspace

        res = self._run(lambda ctx: userspace.ioctl(ctx, fd, cmd, arg))
        return res.ret, res.data

    def close(self, fd: int) -> int:
        from insmod_py.backends.sim import userspace

        return self._run(lambda ctx: userspace.close(ctx, fd))

    def wait(self, seconds: float) -> None:
        self.k.tick(round(seconds * HZ))


def scenario_lkmpgdev(b: Bench, obj: Path) -> None:
    b.load_module(obj, "lkmpgdev")
    node = b.node(b.major("lkmpgdev"), 0)
    for _ in range(2):
        fd = b.open(node, O_RDONLY)
        b.step("read", b.read(fd, 100))
        b.step("read again", b.read(fd, 100))
        b.step("busy while open", b.open(node, O_RDONLY))
        b.step("close", b.close(fd))
    fd = b.open(node, O_WRONLY)
    b.step("write", b.write(fd, b"x"))
    b.close(fd)
    b.unload("lkmpgdev")


def scenario_procfile(b: Bench, obj: Path) -> None:
    b.load_module(obj, "procfile")
    fd = b.open("/proc/procfile", O_RDONLY)
    b.step("read", b.read(fd, 4096))
    b.step("read at the end", b.read(fd, 4096))
    b.close(fd)
    fd = b.open("/proc/procfile", O_WRONLY)
    b.step("write", b.write(fd, b"hello proc\n"))
    b.close(fd)
    fd = b.open("/proc/procfile", O_RDONLY)
    b.step("read back", b.read(fd, 4096))
    b.close(fd)
    b.unload("procfile")


SCULL_IOCRESET, SCULL_IOCGSIZE, SCULL_IOCGQUANTUM = 0x6B00, 0x80046B01, 0x80046B03
SCULL_IOCSQUANTUM, SCULL_IOCQQUANTUM = 0x40046B02, 0x6B04


def scenario_scull(b: Bench, obj: Path) -> None:
    b.load_module(obj, "scull")
    major = b.major("scull")
    node0, node1 = b.node(major, 0), b.node(major, 1)
    fd = b.open(node0, O_WRONLY)
    b.step("write", b.write(fd, b"hello, world"))
    b.close(fd)
    fd = b.open(node0, O_RDWR)
    b.step("lseek", b.lseek(fd, 7, 0))
    b.step("read", b.read(fd, 100))
    b.step("lseek end", b.lseek(fd, -2, 2))
    b.step("read tail", b.read(fd, 100))
    b.step("lseek negative", b.lseek(fd, -100, 1))
    b.step("size", b.ioctl(fd, SCULL_IOCGSIZE, b"\xff" * 4))
    b.step("quantum", b.ioctl(fd, SCULL_IOCQQUANTUM, 0))
    b.step("set quantum", b.ioctl(fd, SCULL_IOCSQUANTUM, struct.pack("<i", 16)))
    b.step("get quantum", b.ioctl(fd, SCULL_IOCGQUANTUM, bytes(4)))
    b.step("bad pointer", b.ioctl(fd, SCULL_IOCGQUANTUM, 0x1000))
    b.step("kernel pointer", b.ioctl(fd, SCULL_IOCGQUANTUM, 0xC0001000))
    b.step("not ours", b.ioctl(fd, 0x5401, 0))
    b.step("reset", b.ioctl(fd, SCULL_IOCRESET, 0))
    b.close(fd)
    fd = b.open(node1, O_RDONLY)
    b.step("minor 1 empty", b.read(fd, 10))
    b.close(fd)
    b.step("minor 2", b.open(b.node(major, 2), O_RDONLY))
    b.unload("scull")


WDIOC_GETSUPPORT, WDIOC_KEEPALIVE, WDIOC_GETTIMEOUT = 0x80285700, 0x80045705, 0x80045707


def scenario_softwdog(b: Bench, obj: Path) -> None:
    b.load_module(obj, "softwdog", "soft_margin=1")
    node = b.node(MISC_MAJOR, 130)
    fd = b.open(node, O_WRONLY)
    b.step("support", b.ioctl(fd, WDIOC_GETSUPPORT, bytes(40)))
    b.step("timeout", b.ioctl(fd, WDIOC_GETTIMEOUT, bytes(4)))
    b.step("second open", b.open(node, O_WRONLY))
    b.step("ping", b.write(fd, b"x"))
    b.step("close unexpectedly", b.close(fd))
    b.wait(2.5)
    b.step("after the margin", None)
    fd = b.open(node, O_WRONLY)
    b.step("magic", b.write(fd, b"V"))
    b.step("close", b.close(fd))
    b.wait(2.5)
    b.step("stopped: nothing fires", None)
    b.unload("softwdog")


SCENARIOS = {
    "lkmpgdev": scenario_lkmpgdev,
    "procfile": scenario_procfile,
    "scull": scenario_scull,
    "softwdog": scenario_softwdog,
}


def real_object(kb: Any, name: str, tmp_path: Path) -> Path:
    src = Path(__file__).resolve().parents[1] / "examples" / f"{name}.c"
    out = tmp_path / f"{name}.real.o"
    subprocess.run(["gcc", *kb.cflags, "-c", str(src), "-o", str(out)], check=True)
    return out


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize(("arch", "variant"), [("i386", "unpatched"), ("x86_64", "patched")])
def test_driver_behaves_the_same_on_the_real_and_the_simulated_kernel(
    real_kernels: Any, kernel24_build: Any, built: Path, tmp_path: Path, arch: str,
    variant: str, name: str,
) -> None:  # fmt: skip
    real = RealBench(real_kernels.get(arch, variant))
    try:
        SCENARIOS[name](real, real_object(kernel24_build(arch, variant), name, tmp_path))
    finally:
        # x86_64 2.4's module_map never unlinks an area (arch/x86_64/mm/modutil.c), so
        # later tests would see where these modules were: they get a fresh kernel
        real_kernels.reboot(arch, variant)
    with SimKernel(str(tmp_path / "sim"), arch=arch, variant=variant) as k:
        sim = SimBench(k)
        SCENARIOS[name](sim, built / arch / "examples" / f"{name}.o")
    assert len(real.seen) == len(sim.seen)
    for r, s in zip(real.seen, sim.seen, strict=True):
        assert r == s, f"real {r} != simulated {s}"
    # the scenario is not vacuous: something was read or printed
    assert any(step[2] for step in sim.seen)
