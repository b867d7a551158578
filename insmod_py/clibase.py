"""click classes of the ``pyinsmod`` commands: click's, minus an import per help screen.

click's HelpFormatter imports :mod:`shutil` (with zlib, bz2, lzma and fnmatch) only to
call ``shutil.get_terminal_size()``; every ``--help`` and usage error paid for it.
"""

from __future__ import annotations

import os
import sys

import click
from click import formatting


def terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``: $COLUMNS, else stdout's terminal, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        stdout = sys.__stdout__
        try:
            columns = os.get_terminal_size(stdout.fileno()).columns if stdout else 0
        except (AttributeError, ValueError, OSError):  # closed, detached or not a terminal
            columns = 0
        columns = columns or 80
    return columns


class HelpFormatter(click.HelpFormatter):
    """click's formatter, with the width click would compute, measured without shutil."""

    def __init__(
        self, indent_increment: int = 2, width: int | None = None, max_width: int | None = None
    ) -> None:
        # click.testing's runner sets FORCED_WIDTH: then click's own rule applies
        if width is None and formatting.FORCED_WIDTH is None:
            limit = 80 if max_width is None else max_width
            width = max(min(terminal_columns(), limit) - 2, 50)
        super().__init__(indent_increment, width, max_width)


class Context(click.Context):
    formatter_class = HelpFormatter


class Command(click.Command):
    context_class = Context
