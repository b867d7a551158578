"""The ``pyinsmod`` process: :func:`insmod_py.cli.main`, with its imports kept out of the GC.

Only the command's own process starts here (the ``pyinsmod`` script, ``python -m
insmod_py``); a program that imports insmod_py or calls ``cli.main`` keeps Python's
defaults.
"""

from __future__ import annotations

import gc


def run() -> None:
    """Run ``pyinsmod`` on the process's arguments (``main`` exits with its status)."""
    # The imports (click and ours) leave ~13,000 objects that live until exit; the cyclic
    # GC would traverse them in ~20 collections while importing and in every later full
    # collection, to free nothing (a visible share of a --help).  So: import with it off, then move
    # what exists to the permanent generation (gc.freeze).
    enabled = gc.isenabled()
    gc.disable()
    try:
        from .cli import main
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
    main()
