"""Output files: regular files are replaced atomically; a device or pipe given as the
output (``-o /dev/null``, ``/dev/stdout``, a FIFO) is written into, never replaced."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from insmod_py.errors import LoadError
from insmod_py.fsutil import atomic_write, atomic_write_all


def _reader(fifo: Path, got: list[bytes]) -> threading.Thread:
    def read() -> None:
        with open(fifo, "rb") as f:
            got.append(f.read())

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return t


def test_a_fifo_output_is_written_into_and_stays_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = _reader(fifo, got)
    atomic_write(str(fifo), b"image bytes")
    reader.join(5)
    assert got == [b"image bytes"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no temporary left


def test_a_group_writes_regular_files_and_a_symlinked_pipe(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (tmp_path / "out").symlink_to(fifo)  # as /dev/stdout is a link to the process's fd
    got: list[bytes] = []
    reader = _reader(fifo, got)
    atomic_write_all([(str(tmp_path / "a.img"), b"A"), (str(tmp_path / "out"), b"map")])
    reader.join(5)
    assert got == [b"map"] and (tmp_path / "a.img").read_bytes() == b"A"
    assert (tmp_path / "out").is_symlink() and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_an_unwritable_output_is_one_error_and_leaves_no_temporary(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "x.img"
    with pytest.raises(LoadError, match="cannot write"):
        atomic_write_all([(str(tmp_path / "ok.img"), b"1"), (str(missing), b"2")])
    assert list(tmp_path.iterdir()) == []  # the group wrote nothing, left no temporary
