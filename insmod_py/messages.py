"""Where insmod's messages go: stderr, or syslog with ``-s`` (modutils' ``setsyslog``).

modutils sent its errors, warnings and verbose lines to syslog *instead of*
the terminal once ``-s`` was given (it was meant for kerneld/kmod, which have
no terminal); ``-q`` dropped the warnings, ``-v`` added what it was doing.
The library reports through a :class:`Reporter` and never prints itself.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class Reporter:
    """Verbose lines, warnings and errors of one command."""

    verbose: bool = False
    quiet: bool = False
    syslog: bool = False
    ident: str = "pyinsmod"
    stream: TextIO | None = None  # default: sys.stderr at the time of writing
    warnings: list[str] = field(default_factory=list)  # every warning, even when quiet
    _opened: bool = False

    def _emit(self, priority: str, text: str) -> None:
        if self.syslog:
            import syslog

            if not self._opened:
                syslog.openlog(self.ident, syslog.LOG_PID, syslog.LOG_DAEMON)
                self._opened = True
            syslog.syslog(getattr(syslog, priority), text)
            return
        print(f"{self.ident}: {text}", file=self.stream or sys.stderr)

    def info(self, text: str) -> None:
        """What the command is doing: shown with ``-v`` only."""
        if self.verbose:
            self._emit("LOG_INFO", text)

    def warn(self, text: str) -> None:
        """Something the user should know that does not stop the load (``-q`` hides it)."""
        self.warnings.append(text)
        if not self.quiet:
            self._emit("LOG_WARNING", f"Warning: {text}")

    def error(self, text: str) -> None:
        """The one line of a failure (always shown, even with ``-q``)."""
        self._emit("LOG_ERR", text)
