"""The guest's root file system: the agent (kernel24/agent/) as /init in an ext2 initrd.

Built with gcc and genext2fs, cached under the user's cache directory by a hash of the
agent's sources and flags, so a new state directory or VM reuses it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from ...errors import LoadError
from ...fsutil import atomic_write
from ...toolchain import REPO_ROOT
from .machines import AGENT_COMMON_CFLAGS, QemuMachine

AGENT_DIR = REPO_ROOT / "kernel24" / "agent"
AGENT_SOURCE = AGENT_DIR / "agent.c"
INSTALL_HINT = "apt-get install qemu-system-x86 genext2fs"

# genext2fs device table: name type mode uid gid major minor start inc count.  The root
# is mounted read-only, so every directory the agent mounts on must be in the image.
DEVICE_TABLE = """\
/dev d 755 0 0 - - - - -
/dev/console c 600 0 0 5 1 - - -
/dev/ttyS0 c 600 0 0 4 64 - - -
/dev/ttyS1 c 600 0 0 4 65 - - -
/dev/null c 666 0 0 1 3 - - -
/dev/mem c 640 0 0 1 1 - - -
/dev/kmem c 640 0 0 1 2 - - -
/dev/ram0 b 600 0 0 1 0 - - -
/dev/ram1 b 600 0 0 1 1 - - -
/proc d 555 0 0 - - - - -
/mnt d 755 0 0 - - - - -
/tmp d 1777 0 0 - - - - -
"""


def cache_root() -> Path:
    """``$PYINSMOD_CACHE``, else ``$XDG_CACHE_HOME/pyinsmod``, else ``~/.cache/pyinsmod``."""
    env = os.environ.get("PYINSMOD_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "pyinsmod"


def _agent_command(machine: QemuMachine, output: Path) -> list[str]:
    return [
        "gcc",
        *AGENT_COMMON_CFLAGS,
        *machine.agent_cflags,
        "-include",
        str(AGENT_DIR / machine.agent_header),
        "-o",
        str(output),
        str(AGENT_SOURCE),
    ]


def _key(machine: QemuMachine) -> str:
    digest = hashlib.sha256()
    for path in (AGENT_SOURCE, AGENT_DIR / machine.agent_header):
        digest.update(path.read_bytes())
    digest.update(repr(_agent_command(machine, Path("-"))).encode())
    digest.update(DEVICE_TABLE.encode())
    return digest.hexdigest()[:16]


def _run(cmd: list[str], what: str) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise LoadError(
            f"{cmd[0]} not found (needed for {what}); install with: {INSTALL_HINT}"
        ) from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        raise LoadError(f"{what}: {cmd[0]}: {last}")


def agent_initrd(machine: QemuMachine) -> Path:
    """The cached initrd for ``machine``, built first if needed."""
    directory = cache_root() / "agent" / f"{machine.arch}-{_key(machine)}"
    image = directory / "initrd.img"
    if image.exists():
        return image
    if shutil.which("genext2fs") is None:
        raise LoadError(f"genext2fs not found (it builds the guest's initrd); run: {INSTALL_HINT}")
    directory.mkdir(parents=True, exist_ok=True)
    work = directory / f".build-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    root = work / "root"
    try:
        root.mkdir(parents=True)
        _run(_agent_command(machine, root / "init"), f"building the {machine.arch} guest agent")
        table = work / "devices"
        table.write_text(DEVICE_TABLE.replace(" ", "\t"))
        blocks = (root / "init").stat().st_size // 1024 + 256
        raw = work / "initrd.img"
        cmd = ["genext2fs", "-b", str(blocks), "-N", "64", "-d", str(root), "-D", str(table)]
        _run([*cmd, str(raw)], "building the guest's initrd")
        atomic_write(str(image), raw.read_bytes())  # a concurrent builder writes the same
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return image
