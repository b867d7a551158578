"""``python -m insmod_py`` runs the ``pyinsmod`` command."""

from .cli import main

main()
