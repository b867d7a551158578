"""The qemu backend: the agent protocol, the VM's lifecycle, and what goes wrong with it.

The protocol tests run against a fake agent on a socket pair; the rest boot the real
i386 2.4.37.11 kernel (tests/support/realkernel.py builds it if needed) in their own state
directories, since they stop, kill and freeze VMs.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from insmod_py import modstruct as ms
from insmod_py.backends.qemu import QemuBackend
from insmod_py.backends.qemu.protocol import (
    ACK,
    CHUNK,
    RESPONSE_MAGIC,
    Channel,
    GuestDied,
    Op,
    ProtocolError,
    encode_request,
    pack_zero_runs,
)
from insmod_py.elf import read_object
from insmod_py.errors import KernelError, LoadError
from insmod_py.kernel24 import build_kernel
from insmod_py.loader import load

# -- the protocol, against a fake agent ---------------------------------------------------------


def response(seq: int, op: int, ret: int, data: bytes = b"") -> bytes:
    head = struct.pack("<4sIIqI", RESPONSE_MAGIC, seq, op, ret, len(data))
    return head + data + struct.pack("<I", zlib.crc32(data, zlib.crc32(head)))


class FakeAgent:
    """Reads requests the way agent.c does (ACK after every CHUNK bytes) and answers."""

    def __init__(self, sock: socket.socket, answer: object) -> None:
        self.sock = sock
        self.answer = answer
        self.requests: list[tuple[int, int, bytes]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            got = self.sock.recv(n - len(data))
            if not got:
                raise EOFError
            data += got
        return data

    def _run(self) -> None:
        try:
            while True:
                head = self._read(16)
                _, seq, op, length = struct.unpack("<4sIII", head)
                rest, have, total = b"", 16, 16 + length + 4
                while have < total:
                    step = min(CHUNK - have % CHUNK, total - have)
                    rest += self._read(step)
                    have += step
                    if have % CHUNK == 0 and have < total:
                        self.sock.sendall(bytes([ACK]))
                payload = rest[:length]
                assert struct.unpack("<I", rest[length:])[0] == zlib.crc32(
                    payload, zlib.crc32(head)
                )
                self.requests.append((seq, op, payload))
                self.sock.sendall(self.answer(seq, op, payload))  # type: ignore[operator]
        except (EOFError, OSError):
            pass


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_a_large_request_crosses_in_acknowledged_chunks(pair) -> None:
    host, guest = pair
    image = os.urandom(5 * CHUNK + 123)
    agent = FakeAgent(guest, lambda seq, op, p: response(seq, op, len(p), p[-4:]))
    reply = Channel(host).call(Op.INIT_MODULE, image, timeout=5)
    assert reply.ret == len(image) and reply.data == image[-4:]
    assert agent.requests[0][2] == image


def test_stale_bytes_and_answers_to_other_requests_are_skipped(pair) -> None:
    host, guest = pair

    def answer(seq: int, op: int, payload: bytes) -> bytes:
        # junk, a half magic, an answer for an earlier (killed) session, then the real one
        return b"\x00junk" + RESPONSE_MAGIC[:2] + response(seq - 7, op, 5) + response(seq, op, 9)

    FakeAgent(guest, answer)
    assert Channel(host).call(Op.HELLO, timeout=5).ret == 9


def test_a_worker_killed_in_a_syscall_is_reported(pair) -> None:
    host, guest = pair
    FakeAgent(guest, lambda seq, op, p: response(0, Op.DIED, 11))
    with pytest.raises(GuestDied, match="killed by signal 11"):
        Channel(host).call(Op.INIT_MODULE, b"x", timeout=5)


def test_a_corrupt_answer_and_a_silent_agent_are_one_clear_error(pair) -> None:
    host, guest = pair
    bad = bytearray(response(1, Op.HELLO, 0, b"abc"))
    FakeAgent(guest, lambda seq, op, p: bytes(bad[:-1]) + bytes([bad[-1] ^ 1]))
    with pytest.raises(ProtocolError, match="CRC"):
        Channel(host).call(Op.HELLO, timeout=5)
    a, b = socket.socketpair()
    with a, b, pytest.raises(ProtocolError, match=r"no answer to HELLO within 0.2 s"):
        Channel(a).call(Op.HELLO, timeout=0.2)


def test_a_request_damaged_on_the_line_is_sent_again(pair) -> None:
    """The agent refuses a request whose CRC fails (EBADMSG) without carrying it out;
    the host sends it again, and gives up with one clear line after a few tries."""
    host, guest = pair
    bad = errno.EBADMSG
    calls: list[int] = []

    def flaky(seq: int, op: int, p: bytes) -> bytes:
        calls.append(seq)
        return response(seq, Op.AGENT_ERROR, -bad) if len(calls) < 3 else response(seq, op, 5)

    FakeAgent(guest, flaky)
    assert Channel(host).call(Op.HELLO, timeout=5).ret == 5
    assert len(calls) == 3 and len(set(calls)) == 3  # each try a new sequence number
    a, b = socket.socketpair()
    with a, b:
        FakeAgent(b, lambda seq, op, p: response(seq, Op.AGENT_ERROR, -bad))
        with pytest.raises(ProtocolError, match=r"refused HELLO 3 times: EBADMSG"):
            Channel(a).call(Op.HELLO, timeout=5)


def test_request_frames_carry_their_crc() -> None:
    frame = encode_request(7, Op.DELETE_MODULE, b"\x01hello\x00")
    assert frame[:4] == b"P24Q" and struct.unpack("<III", frame[4:16]) == (7, 4, 7)
    assert struct.unpack("<I", frame[-4:])[0] == zlib.crc32(frame[:-4])


# -- a real VM ----------------------------------------------------------------------------------

ARCH, VARIANT = "i386", "unpatched"


@pytest.fixture(scope="module")
def kernel() -> Path:
    return Path(build_kernel(ARCH, VARIANT, log=lambda line: None).modules)


@pytest.fixture
def vm(tmp_path: Path, kernel: Path) -> Iterator[QemuBackend]:
    be = QemuBackend(str(tmp_path / "state"), ARCH, VARIANT, timeout=3.0)
    yield be
    be.stop()


def pyinsmod(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYINSMOD_STATE": str(state)}
    return subprocess.run(
        [sys.executable, "-m", "insmod_py", *args], capture_output=True, text=True, env=env
    )


def test_commands_share_one_vm_that_stays_up(built: Path, tmp_path: Path, kernel: Path) -> None:
    state = tmp_path / "state"
    hello = str(built / ARCH / "examples" / "hello.o")
    q = ("--backend", "qemu", "--kernel", VARIANT)
    try:
        assert pyinsmod(state, "load", *q, hello).returncode == 0
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        lsmod = pyinsmod(state, "lsmod", *q, "-v").stdout.splitlines()
        assert re.fullmatch(r"hello {10,}\d+   0 \(unused\)", lsmod[1]), lsmod
        assert lsmod[2].startswith("qemu: i386 unpatched 2.4 VM running (pid ")
        assert "<6>hello: Hello, world! count=3 magic=c0ffee" in pyinsmod(state, "dmesg", *q).stdout
        assert "\thello_count\t[hello]" not in pyinsmod(state, "ksyms", *q).stdout
        assert " hello_count\t[hello]" in pyinsmod(state, "ksyms", *q).stdout
        assert pyinsmod(state, "rmmod", *q, "hello").returncode == 0
        assert "<6>hello: Goodbye, world! count=13" in pyinsmod(state, "dmesg", *q).stdout
    finally:
        stop = pyinsmod(state, "qemu", "stop")
    assert stop.stdout == "stopped the i386 unpatched 2.4 VM\n"
    status = pyinsmod(state, "qemu", "status", "--arch", ARCH, "--kernel", VARIANT).stdout
    assert status.startswith("qemu: i386 unpatched 2.4 VM stopped;")


def stripped_fat(kernel: Path, tmp_path: Path) -> str:
    """The kernel's own fat.o (34 KB of image) without the unreferenced undefined ``stext``
    that binutils 2.40's ``ld -r -e stext`` leaves in every kernel-built module."""
    out = tmp_path / "fat.o"
    subprocess.run(["objcopy", "--strip-symbol=stext", str(kernel / "fat.o"), str(out)], check=True)
    return str(out)


def test_a_large_image_crosses_the_serial_line(vm: QemuBackend, kernel: Path, tmp_path) -> None:
    linked = load(read_object(stripped_fat(kernel, tmp_path)), vm, name="fat", header="legacy")
    assert linked.size > 30000
    assert vm.proc_modules() == f"fat{' ' * 17}{linked.size:8d}   0 (unused)\n"
    assert vm.proc_ksyms().count("\t[fat]\n") > 20
    vm.delete_module("fat")
    assert vm.modules() == []


def test_a_dead_vm_is_reported_once_then_booted_afresh(vm: QemuBackend) -> None:
    vm.create_module("left", 4096)
    pid = vm.status().pid
    assert pid is not None
    vm.close()
    os.kill(pid, signal.SIGKILL)
    while vm.status().state == "running":
        time.sleep(0.01)
    with pytest.raises(LoadError, match=r"^the i386 unpatched 2.4 VM died \("):
        vm.modules()
    assert vm.modules() == []  # a fresh kernel


def test_a_stale_pid_file_is_not_taken_for_a_vm(vm: QemuBackend) -> None:
    vm.vm.dir.mkdir(parents=True)
    vm.vm.pid_file.write_text(f"{os.getpid()}\n")  # alive, but not our qemu
    (vm.vm.dir / "agent.sock").touch()
    assert vm.status().state == "dead"
    with pytest.raises(LoadError, match="died"):
        vm.modules()
    assert vm.modules() == []


def test_a_frozen_guest_times_out_with_one_line(vm: QemuBackend) -> None:
    vm.modules()
    pid = vm.status().pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(
            LoadError,
            match=r"^query_module: i386 unpatched 2.4 VM: no answer to QUERY_MODULE within 3 s",
        ):
            vm.modules()
    finally:
        os.kill(pid, signal.SIGCONT)
    assert vm.modules() == []  # and it answers again


def test_a_request_cut_off_mid_frame_leaves_the_vm_usable(vm: QemuBackend) -> None:
    # what a pyinsmod killed while sending an image leaves: a created module and half a
    # frame in the guest, which drops it after a quiet second; the next command resyncs
    base = vm.create_module("cut", 8192)
    frame = encode_request(1, Op.INIT_MODULE, b"\x01cut\x00" + os.urandom(8192))
    vm.vm.unlock()
    vm.close()
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(vm.vm._short("agent.sock"))
    sock.sendall(frame[:CHUNK])
    assert sock.recv(1) == bytes([ACK])
    sock.sendall(frame[CHUNK : CHUNK + 100])
    sock.close()
    fresh = QemuBackend(str(vm.vm.state_dir), ARCH, VARIANT, timeout=3.0)
    assert [(m.name, m.base, m.flags) for m in fresh.modules()] == [("cut", base, 0)]
    assert fresh.proc_modules() == f"cut{' ' * 17}{8192:8d} (uninitialized)\n"
    fresh.delete_module("cut")
    fresh.close()


@pytest.mark.parametrize("delay", [0.3, 0.8])
def test_a_pyinsmod_killed_mid_load_leaves_the_vm_usable(
    vm: QemuBackend, kernel: Path, tmp_path: Path, delay: float
) -> None:
    vm.modules()
    vm.close()  # the child needs the VM's lock
    fat = stripped_fat(kernel, tmp_path)
    child = subprocess.Popen(
        [sys.executable, "-m", "insmod_py", "load", "--backend", "qemu", "--kernel", VARIANT,
         "--state", str(vm.vm.state_dir), fat],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(delay)
    child.kill()
    child.wait()
    mods = [(m.name, m.flags) for m in vm.modules()]
    assert mods in ([], [("fat", 0)], [("fat", 1)])  # nothing, created, or loaded
    if mods:
        vm.delete_module("fat")
    assert vm.modules() == []


def test_an_image_that_panics_the_kernel_is_reported_and_the_next_command_boots(
    vm: QemuBackend,
) -> None:
    # init_module: push "boom"; call panic -- the guest kernel dies (panic=1 reboots it,
    # -no-reboot ends qemu); the host says so in one line, and the next command boots
    panic = vm.kernel_symbols().lookup("panic")
    assert panic is not None
    base = vm.create_module("boom", 4096)
    image = bytearray(4096)
    code = 0x200
    image[code : code + 5] = b"\x68" + struct.pack("<I", base + 0x700)  # push $msg
    image[code + 5] = 0xE8  # call panic
    image[code + 6 : code + 10] = struct.pack("<i", panic.value - (base + code + 10))
    image[0x700:0x705] = b"boom\0"
    image[0x300:0x305] = b"boom\0"
    header = ms.build_module(4, {
        "size_of_struct": ms.sizeof_module(4), "size": 4096, "name": base + 0x300,
        "init": base + code,
    })  # fmt: skip
    image[: len(header)] = header
    with pytest.raises(LoadError, match=r"^init_module: .*died \(Kernel panic: boom\)"):
        vm.init_module("boom", bytes(image))
    assert vm.status().state != "running"
    assert vm.modules() == []  # a fresh kernel


def unpack_zero_runs(packed: bytes) -> bytes:
    """agent.c's decoder, for the round trip."""
    out, i = bytearray(), 0
    while i < len(packed):
        (lit,) = struct.unpack_from("<H", packed, i)
        out += packed[i + 2 : i + 2 + lit]
        i += 2 + lit
        (zeros,) = struct.unpack_from("<H", packed, i)
        out += bytes(zeros)
        i += 2
    return bytes(out)


@pytest.mark.parametrize(
    "data",
    [b"", b"a", bytes(4096), os.urandom(70000), bytes(70000) + b"x" + bytes(9), b"ab" + bytes(7)],
)
def test_zero_runs_round_trip(data: bytes) -> None:
    packed = pack_zero_runs(data)
    assert unpack_zero_runs(packed) == data
    if data.count(0) > len(data) // 2:
        assert len(packed) < len(data) // 100 + 16


def test_a_modules_device_is_reachable_through_the_agents_file_calls(
    vm: QemuBackend, built: Path
) -> None:
    # chardev.o registers a dynamic major; a node for it in the guest's /tmp (a ramfs)
    # reaches its file_operations: open counts a use, read returns its buffer
    load(read_object(str(built / ARCH / "examples" / "chardev.o")), vm, name="chardev")
    major = int(vm.dmesg()[-1].rsplit(" ", 1)[1])
    vm.mknod("/tmp/pychar", stat.S_IFCHR | 0o600, major << 8)
    fd = vm.open_file("/tmp/pychar")
    assert vm.modules()[0].usecount > 0
    assert vm.read_fd(fd, 64) == b"Hello from pychar\n"
    assert vm.lseek(fd, 6) == 6
    assert vm.read_fd(fd, 64) == b"from pychar\n"
    with pytest.raises(KernelError):  # no ioctl in its file_operations
        vm.ioctl(fd, 0x5401, bytes(64))
    vm.close_fd(fd)
    assert vm.modules()[0].usecount == 0
    vm.delete_module("chardev")
    with pytest.raises(KernelError) as gone:
        vm.open_file("/tmp/pychar")
    assert gone.value.errno == errno.ENODEV
