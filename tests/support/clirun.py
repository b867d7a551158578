"""Run the real ``pyinsmod`` (``python -m insmod_py``) in a subprocess with a private kernel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PYINSMOD = [sys.executable, "-m", "insmod_py"]


class Pyinsmod:
    """One private simulated kernel (``PYINSMOD_STATE``) and the example objects of an arch."""

    def __init__(self, state: Path, examples: Path, arch: str = "i386") -> None:
        self.state = state
        self.examples = examples
        self.arch = arch
        self.extra_env: dict[str, str] = {}

    def env(self) -> dict[str, str]:
        return {"PYINSMOD_STATE": str(self.state), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                **self.extra_env}  # fmt: skip

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*PYINSMOD, *args], env=self.env(), text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip

    def run(self, *args: str, rc: int | None = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*PYINSMOD, *args], capture_output=True, text=True, env=self.env(), timeout=60
        )
        if rc is not None:
            assert proc.returncode == rc, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    def fails(self, *args: str) -> str:
        """Run, expect exit 1, and return the one ``pyinsmod: ...`` stderr line."""
        proc = self.run(*args, rc=1)
        lines = proc.stderr.splitlines()
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith("pyinsmod: "), lines[0]
        return lines[0]

    def obj(self, name: str) -> str:
        return str(self.examples / name)

    def lsmod(self, *args: str) -> str:
        return self.run("lsmod", "--arch", self.arch, *args).stdout

    def modules(self) -> list[str]:
        return [line.split()[0] for line in self.lsmod().splitlines()[1:]]

    def dmesg(self) -> list[str]:
        return self.run("dmesg", "--arch", self.arch).stdout.splitlines()

    def rmmod(self, *names: str) -> None:
        self.run("rmmod", "--arch", self.arch, *names)

    def ksyms(self) -> str:
        return self.run("ksyms", "--arch", self.arch).stdout
