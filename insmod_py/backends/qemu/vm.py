"""One real 2.4 kernel under qemu per state directory, architecture and kernel variant.

The VM lives in ``STATE/qemu/ARCH-VARIANT/`` (the state directory is private, 0700):

* ``vm.pid``: the detached qemu process (``-daemonize``), kept after it dies (qemu's own
  ``qemu.pid`` goes with it), so a dead VM is told from a stopped one;
* ``agent.sock``: the guest's second serial port, where the agent answers (protocol.py);
* ``monitor.sock``: qemu's human monitor, used to stop it;
* ``console.log``: the guest's console (the first serial port): boot messages, printk, oopses;
* ``lock``: an exclusive flock held by whichever pyinsmod talks to the VM, so requests of
  different processes never interleave on the serial line.

Booting is the first command's job; the VM then stays up between commands.  A pid file
whose process is gone (or is not our qemu) is a dead VM: the command that finds it says
so in one line and clears it, so the next command boots a fresh kernel.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ...errors import LoadError
from .initrd import INSTALL_HINT, agent_initrd
from .machines import QEMU_MACHINES, QemuMachine
from .protocol import Channel, Op, ProtocolError

BOOT_TIMEOUT = 120.0  # a loaded 2-core machine boots x86_64 2.4 in a few seconds
LOCK_TIMEOUT = 120.0
HELLO_RETRY = 1.5  # longer than the agent's one quiet second that drops a partial frame
AGENT_READY = b"pyinsmod-agent: serving"
MEMORY_MB = 64  # create_module's first base (0xc4800000 on i386) depends on it


class VmError(LoadError):
    """The VM is missing, dead or not answering; the message says what to do."""


@dataclass(frozen=True)
class VmStatus:
    state: str  # "running", "stopped" or "dead"
    pid: int | None
    detail: str = ""


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (an exited qemu nobody reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


class Vm:
    """The VM of one (state directory, arch, variant)."""

    def __init__(self, state_dir: str, arch: str, variant: str) -> None:
        if arch not in QEMU_MACHINES:
            raise LoadError(f"qemu backend: unsupported architecture {arch!r}")
        self.machine: QemuMachine = QEMU_MACHINES[arch]
        self.arch = arch
        self.variant = variant
        self.state_dir = Path(state_dir)
        self.dir = self.state_dir / "qemu" / f"{arch}-{variant}"
        self.pid_file = self.dir / "vm.pid"  # ours: qemu deletes its own pid file on exit
        self.console = self.dir / "console.log"
        self.info_file = self.dir / "vm.json"
        self._lock_fd: int | None = None
        self._dir_fd: int | None = None

    @property
    def label(self) -> str:
        return f"{self.arch} {self.variant} 2.4 VM"

    # -- the directory and its lock -------------------------------------------------------------

    def _make_dir(self) -> None:
        try:
            if not self.state_dir.is_dir():
                self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.chmod(self.state_dir, 0o700)  # mkdir's mode is filtered by the umask
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise LoadError(
                f"cannot create state directory: {exc.strerror}", file=str(self.dir)
            ) from None

    def lock(self, timeout: float = LOCK_TIMEOUT) -> None:
        """Take the VM's lock (kept until :meth:`unlock` or the process ends)."""
        if self._lock_fd is not None:
            return
        self._make_dir()
        fd = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise VmError(
                        f"the {self.label} in {self.dir} is busy: another pyinsmod has held "
                        f"it for {timeout:g} s"
                    ) from None
                time.sleep(0.05)
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def _short(self, name: str) -> str:
        """A path to a file of the VM directory short enough for a Unix socket address.

        ``sun_path`` holds 107 bytes; a test's tmp directory can be longer, so the
        socket is reached through ``/proc/self/fd/N/`` of an open directory descriptor.
        """
        path = str(self.dir / name)
        if len(path) < 100:
            return path
        if self._dir_fd is None:
            self._dir_fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return f"/proc/self/fd/{self._dir_fd}/{name}"

    # -- status --------------------------------------------------------------------------------

    def _pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def _is_our_qemu(self, pid: int) -> bool:
        """The pid is alive and is a qemu started with this VM's pid file (a reused pid is not)."""
        if not _alive(pid):
            return False
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                args = fh.read().split(b"\0")
        except OSError:
            return True  # a process we cannot inspect: assume it is ours
        return os.fsencode(self._pid_path()) in args

    def _pid_path(self) -> str:
        return os.path.join(os.path.realpath(self.dir), "qemu.pid")

    def status(self) -> VmStatus:
        pid = self._pid()
        if pid is None:
            return VmStatus("stopped", None)
        if self._is_our_qemu(pid):
            return VmStatus("running", pid, self._info_text())
        return VmStatus("dead", pid, self.last_words())

    def _info_text(self) -> str:
        try:
            info = json.loads(self.info_file.read_text())
        except (OSError, ValueError):
            return ""
        return f"{info.get('release', '?')}, booted in {info.get('boot_seconds', 0):.1f} s"

    def last_words(self) -> str:
        """The console's most telling last line: a panic or oops, else the last line."""
        try:
            with open(self.console, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(fh.tell() - 16384, 0))
                lines = fh.read().decode("latin-1").replace("\r", "").splitlines()
        except OSError:
            return "no console log"
        lines = [line.strip() for line in lines if line.strip()]
        for marker in ("Kernel panic", "Oops", "Unable to handle", "invalid operand"):
            found = [line for line in lines if marker in line]
            if found:
                return found[-1]
        return lines[-1] if lines else "empty console log"

    def _clear(self) -> None:
        for name in ("vm.pid", "qemu.pid", "agent.sock", "monitor.sock", "vm.json"):
            with contextlib.suppress(OSError):
                (self.dir / name).unlink()

    def check_alive(self, call: str = "") -> None:
        """Raise one clear line if the VM has died (and clear it for the next boot)."""
        st = self.status()
        if st.state == "dead":
            self._clear()
            raise VmError(
                f"{call + ': ' if call else ''}the {self.label} died ({st.detail}); the next "
                f"command boots a fresh one (console log: {self.console})"
            )

    def wait_exit(self, timeout: float) -> None:
        """Wait up to ``timeout`` for qemu to end (it is ending when it closed its sockets)."""
        pid = self._pid()
        deadline = time.monotonic() + timeout
        while pid is not None and _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    # -- boot and stop -------------------------------------------------------------------------

    def _qemu_command(self, bzimage: Path, initrd: Path) -> list[str]:
        m = self.machine
        append = f"console=ttyS0 root=/dev/ram0 init=/init ramdisk_size=16384 panic=1 {m.append}"
        return [
            m.qemu,
            "-kernel", str(bzimage), "-initrd", str(initrd), "-append", append.strip(),
            "-m", str(MEMORY_MB), "-cpu", m.cpu, "-display", "none", "-no-reboot",
            "-net", "none", "-monitor", "unix:monitor.sock,server=on,wait=off",
            "-chardev", "file,id=console,path=console.log", "-serial", "chardev:console",
            "-chardev", "socket,id=agent,path=agent.sock,server=on,wait=off",
            "-serial", "chardev:agent",
            "-daemonize", "-pidfile", self._pid_path(),
        ]  # fmt: skip

    def boot(self, bzimage: Path, initrd: Path | None = None) -> Channel:
        """Start qemu detached and wait for the agent's HELLO; the caller holds the lock."""
        if shutil.which(self.machine.qemu) is None:
            raise VmError(f"{self.machine.qemu} not found; install it with: {INSTALL_HINT}")
        initrd = initrd or agent_initrd(self.machine)
        self._clear()
        with contextlib.suppress(OSError):
            self.console.unlink()
        start = time.monotonic()
        proc = subprocess.run(
            self._qemu_command(bzimage, initrd),
            cwd=self.dir,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
            raise VmError(f"{self.machine.qemu} did not start: {last}")
        try:
            pid = int(Path(self._pid_path()).read_text().strip())
        except (OSError, ValueError):
            raise VmError(f"{self.machine.qemu} started but wrote no pid file") from None
        self.pid_file.write_text(f"{pid}\n")
        try:
            channel, hello = self._first_hello(start)
        except BaseException:
            self.stop()
            raise
        release = hello.data[2 * 65 : 3 * 65].split(b"\0", 1)[0].decode("latin-1")
        info = {
            "arch": self.arch,
            "variant": self.variant,
            "kernel": str(bzimage),
            "release": release,
            "boot_seconds": round(time.monotonic() - start, 3),
        }
        self.info_file.write_text(json.dumps(info) + "\n")
        return channel

    def _wait_for_agent(self, deadline: float) -> None:
        """Until the console shows the agent's ready line (bytes sent earlier are lost)."""
        while True:
            with contextlib.suppress(OSError):
                if AGENT_READY in self.console.read_bytes():
                    return
            if self.status().state != "running":
                raise VmError(f"the {self.label} stopped while booting ({self.last_words()})")
            if time.monotonic() > deadline:
                raise VmError(
                    f"the {self.label} did not come up within {BOOT_TIMEOUT:g} s "
                    f"({self.last_words()})"
                )
            time.sleep(0.02)

    def _first_hello(self, start: float) -> tuple[Channel, object]:
        deadline = start + BOOT_TIMEOUT
        self._wait_for_agent(deadline)
        channel = self.connect()
        try:
            while True:
                if self.status().state != "running":
                    raise VmError(f"the {self.label} stopped while booting ({self.last_words()})")
                try:
                    return channel, channel.call(Op.HELLO, timeout=HELLO_RETRY)
                except ProtocolError:
                    if time.monotonic() > deadline:
                        raise VmError(
                            f"the {self.label} did not come up within {BOOT_TIMEOUT:g} s "
                            f"({self.last_words()})"
                        ) from None
        except BaseException:
            channel.close()
            raise

    def connect(self) -> Channel:
        """A channel to the agent socket (refused quickly when nothing listens)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            sock.settimeout(5)
            sock.connect(self._short("agent.sock"))
        except OSError as exc:
            sock.close()
            self.check_alive()
            raise VmError(
                f"cannot reach the {self.label}'s agent socket ({exc.strerror or exc}); "
                f"`pyinsmod qemu stop` clears it"
            ) from None
        return Channel(sock)

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop qemu (monitor ``quit``, then signals); False if nothing was running."""
        pid = self._pid()
        running = pid is not None and self._is_our_qemu(pid)
        if running:
            assert pid is not None
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as mon:
                mon.settimeout(timeout)
                mon.connect(self._short("monitor.sock"))
                mon.sendall(b"quit\n")
                while mon.recv(4096):  # until qemu closes it: a close before that can
                    pass  # make qemu drop the command unread
            deadline = time.monotonic() + timeout
            sig = signal.SIGTERM
            while _alive(pid):
                if time.monotonic() > deadline:
                    with contextlib.suppress(OSError):
                        os.kill(pid, sig)
                    sig, deadline = signal.SIGKILL, time.monotonic() + timeout
                time.sleep(0.05)
        self._clear()
        return running


@contextlib.contextmanager
def locked(vm: Vm) -> Iterator[Vm]:
    vm.lock()
    try:
        yield vm
    finally:
        vm.unlock()


def running_arches(state_dir: str | None) -> list[str]:
    """Architectures with a running VM in ``state_dir`` (either kernel variant)."""
    from ..sim.state import default_state_dir

    root = Path(state_dir if state_dir is not None else default_state_dir())
    found = []
    for arch in QEMU_MACHINES:
        if any(
            Vm(str(root), arch, v).status().state == "running" for v in ("unpatched", "patched")
        ):
            found.append(arch)
    return found
