"""Where the 2.4.37.11 source tarball comes from, and how it is checked and unpacked.

In order: the path given (``--source``), ``$LINUX24_TARBALL``, the workspace's shared copy
``../shared/linux24/`` next to the repository, a tarball this code downloaded before (kept
in the cache), and, only when building, kernel.org.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import LoadError
from ..toolchain import REPO_ROOT

VERSION = "2.4.37.11"
TARBALL_NAME = f"linux-{VERSION}.tar.xz"
URL = f"https://cdn.kernel.org/pub/linux/kernel/v2.4/{TARBALL_NAME}"
SHARED_TARBALL = REPO_ROOT.parent / "shared" / "linux24" / TARBALL_NAME

# sha256 of tarballs known to hold exactly 2.4.37.11.  kernel.org's own tarball is a
# different file whose checksum we could not look up here, so a tarball that is not
# listed (kernel.org's, or any $LINUX24_TARBALL) is accepted when its top Makefile says
# 2.4.37.11 (check_tree) and every patch applies cleanly; its checksum still keys the cache.
KNOWN_SHA256 = {
    # the tree of github.com/indigoparadox/linux-2.4 at e294a2074f0059de7c69b30fe3048fe61f971b83
    # (branch master) as a git archive with the prefix linux-2.4.37.11/
    "d4b86bcd0c7b16cc6f8f1bf7483d2dcf89b44791eca1f13d0236951f8435148b": "git archive e294a207",
}

_MAKEFILE_IDENTITY = {"VERSION": "2", "PATCHLEVEL": "4", "SUBLEVEL": "37", "EXTRAVERSION": ".11"}


class Kernel24Error(LoadError):
    """Building or finding the real 2.4 kernel failed; the message names the fix."""


@dataclass(frozen=True)
class Source:
    """A located tarball: its path, its sha256 and how it was found."""

    path: Path
    sha256: str
    origin: str  # "--source", "$LINUX24_TARBALL", "shared", "download"

    @property
    def known(self) -> bool:
        return self.sha256 in KNOWN_SHA256


_hash_memo: dict[tuple[str, int, int], str] = {}


def sha256_of(path: Path) -> str:
    """The file's sha256 (remembered per path, size and mtime for this process)."""
    st = path.stat()
    memo_key = (str(path), st.st_size, st.st_mtime_ns)
    if memo_key not in _hash_memo:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _hash_memo[memo_key] = h.hexdigest()
    return _hash_memo[memo_key]


def _candidates(explicit: Path | None, download_dir: Path) -> list[tuple[Path, str]]:
    if explicit is not None:
        return [(explicit, "--source")]
    env = os.environ.get("LINUX24_TARBALL")
    if env:
        return [(Path(env), "$LINUX24_TARBALL")]
    return [(SHARED_TARBALL, "shared"), (download_dir / TARBALL_NAME, "download")]


def locate(explicit: Path | None, download_dir: Path) -> Source | None:
    """The tarball to use, without downloading; None if there is none at hand.

    A path that was asked for (``explicit`` or ``$LINUX24_TARBALL``) must exist.
    """
    for path, origin in _candidates(explicit, download_dir):
        if path.is_file():
            return Source(path, sha256_of(path), origin)
        if origin in ("--source", "$LINUX24_TARBALL"):
            raise Kernel24Error(
                f"no such file (give the {TARBALL_NAME} path, or unset LINUX24_TARBALL)",
                file=str(path),
            )
    return None


def download(download_dir: Path, log: Callable[[str], None]) -> Source:
    """Fetch kernel.org's tarball into ``download_dir`` (atomically: temp file, rename)."""
    download_dir.mkdir(parents=True, exist_ok=True)
    final = download_dir / TARBALL_NAME
    tmp = download_dir / f".{TARBALL_NAME}.{os.getpid()}"
    log(f"downloading {URL}")
    try:
        with urllib.request.urlopen(URL, timeout=60) as resp, open(tmp, "wb") as out:
            while chunk := resp.read(1 << 20):
                out.write(chunk)
        os.replace(tmp, final)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise Kernel24Error(
            f"cannot download {URL} ({exc}); put {TARBALL_NAME} somewhere and set LINUX24_TARBALL"
        ) from None
    return Source(final, sha256_of(final), "download")


def check_tree(tree: Path, source: Source) -> None:
    """The unpacked tree's top Makefile must say 2.4.37.11."""
    try:
        text = (tree / "Makefile").read_text(errors="replace")
    except OSError:
        text = ""
    if not text:
        raise Kernel24Error("not a Linux source tarball (no top Makefile)", file=str(source.path))
    for var, want in _MAKEFILE_IDENTITY.items():
        m = re.search(rf"^{var}\s*=\s*(\S*)\s*$", text, re.M)
        if (m.group(1) if m else None) != want:
            raise Kernel24Error(
                f"not Linux {VERSION} (top Makefile {var} is {m.group(1) if m else 'missing'!r})",
                file=str(source.path),
            )


def extract(source: Source, dest: Path) -> Path:
    """Unpack the tarball's single top directory into ``dest``; returns ``dest``."""
    dest.mkdir(parents=True)
    proc = subprocess.run(
        ["tar", "-xJf", str(source.path), "-C", str(dest), "--strip-components=1"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["tar failed"])[0]
        raise Kernel24Error(f"not a readable tar.xz ({first})", file=str(source.path))
    check_tree(dest, source)
    return dest
