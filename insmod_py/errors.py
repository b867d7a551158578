"""One exception family: every failure a user can cause ends as one stderr line.

The CLI catches :class:`LoadError` and prints ``str(err)``; nothing else should
reach the user as a traceback.
"""

from __future__ import annotations

import os


class LoadError(Exception):
    """A failure with a message meant for the user, optionally naming a file."""

    exit_code = 1

    def __init__(self, reason: str, *, file: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.file = file

    def with_file(self, file: str) -> LoadError:
        """Attach the file name if the raiser did not know it."""
        if self.file is None:
            self.file = file
        return self

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}" if self.file else self.reason


class ElfError(LoadError):
    """The object is not a valid relocatable ELF file for a supported machine."""


class SymbolError(LoadError):
    """A symbol source is unreadable, or a symbol cannot be resolved."""


class RelocError(LoadError):
    """A relocation cannot be applied (unknown type, overflow, bad target)."""


class UsageError(LoadError):
    """Bad parameters or options given by the user."""


class KernelError(LoadError):
    """A (simulated or real) kernel call failed with an errno, as 2.4 reported it.

    ``call`` is the syscall name, ``errno`` the positive error number; the
    message reads like modutils: ``init_module: Device or resource busy``.
    """

    def __init__(
        self, call: str, err: int, detail: str = "", *, file: str | None = None, text: str = ""
    ) -> None:
        self.call = call
        self.errno = err
        if not text:  # ``text`` replaces the strerror wording where modutils had its own
            text = f"{call}: {os.strerror(err)}"
            if detail:
                text += f" ({detail})"
        super().__init__(text, file=file)
