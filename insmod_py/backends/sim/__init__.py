"""The simulated Linux 2.4 kernel backend.

``syscalls.py`` holds the sys_* logic, ``memory.py`` the module memory,
``state.py`` the SQLite persistence, ``execution.py`` the calls into module
code (through ``machine.py``), ``procfs.py`` the /proc views and
``backend.py`` the Backend protocol on top of them.
"""

from .backend import SimBackend
from .syscalls import VARIANTS, QueryBufferTooSmall

__all__ = ["VARIANTS", "QueryBufferTooSmall", "SimBackend"]
