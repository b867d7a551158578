"""The C accelerator (insmod_py/reloc/_native.c) in tests: required unless disabled on purpose."""

from __future__ import annotations

import os

import pytest

import insmod_py.reloc as reloc


def require_native() -> None:
    """Fail when the accelerator is missing (setup.py builds it; `make venv` checks it);
    skip when PYINSMOD_PURE_PYTHON=1 switched it off to test the Python paths alone."""
    if reloc.NATIVE is not None:
        return
    if os.environ.get("PYINSMOD_PURE_PYTHON"):
        pytest.skip("C accelerator switched off (PYINSMOD_PURE_PYTHON)")
    pytest.fail("insmod_py.reloc._native is not built: run `make venv`", pytrace=False)
