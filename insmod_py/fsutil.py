"""Atomic file output: a reader sees the old file or the whole new one, never half.

Several outputs of one command are written as a group: every temporary file
is complete before the first rename, so a failure leaves none of them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import stat
from collections.abc import Sequence

from .errors import LoadError

_serial = itertools.count()


def _create_temp(directory: str) -> tuple[int, str]:
    """A new file of our own in ``directory`` (O_EXCL), as tempfile.mkstemp makes.

    Named by process id and a counter rather than with ``tempfile``, whose import
    (random, shutil...) costs a command more than writing a module image.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = os.path.join(directory, f".pyinsmod-{os.getpid()}-{next(_serial)}")
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue  # left by an earlier process with our pid


def _write_temp(path: str, data: bytes, mode: int) -> str:
    """A complete temporary file beside ``path``; its name is returned."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = _create_temp(directory)
    except OSError as exc:
        raise LoadError(f"cannot write: {exc.strerror}", file=path) from None
    try:
        try:  # straight from the caller's buffer: no file object, no copy
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.chmod(tmp, mode)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise LoadError(f"cannot write: {exc.strerror}", file=path) from None
        raise
    return tmp


def _is_special(path: str) -> bool:
    """An existing output that is not a regular file (``/dev/null``, ``/dev/stdout``, a
    FIFO): renaming a file over it would replace the device node itself."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)  # through symlinks: /dev/stdout
    except OSError:
        return False


def _write_special(path: str, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    except OSError as exc:
        raise LoadError(f"cannot write: {exc.strerror}", file=path) from None


def atomic_write_all(outputs: Sequence[tuple[str, bytes]], mode: int = 0o644) -> None:
    """Write every ``(path, data)``, or none of them.

    Outputs that are devices or pipes are written into, not replaced, once every
    regular file's temporary copy is complete.
    """
    temps: list[tuple[str, str]] = []
    path = ""
    try:
        kinds = [_is_special(p) for p, _ in outputs]
        for (path, data), is_special in zip(outputs, kinds, strict=True):
            if not is_special:
                temps.append((_write_temp(path, data, mode), path))
        for (path, data), is_special in zip(outputs, kinds, strict=True):
            if is_special:
                _write_special(path, data)
        for tmp, path in temps:
            os.replace(tmp, path)
    except OSError as exc:
        raise LoadError(f"cannot write: {exc.strerror}", file=path) from None
    finally:
        for tmp, _ in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)  # only the ones not renamed are still there


def atomic_write(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write one file atomically."""
    atomic_write_all([(path, data)], mode)
