"""``python -m insmod_py.corpus``: the corpus run (see :mod:`insmod_py.corpus.run`)."""

import sys

from .run import main

sys.exit(main())
