"""``python -m insmod_py`` runs the ``pyinsmod`` command."""

from .entry import run

run()
