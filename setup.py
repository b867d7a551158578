"""Build hook for the one C accelerator; everything else is declared in setup.cfg.

``insmod_py.reloc._native`` applies relocation sections in C.  It is optional:
without a C compiler or Python's headers the install still succeeds and the
pure-Python path (which decides every error anyway) does all the work.
``make venv`` checks that it was built and names the package to install if not.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "insmod_py.reloc._native",
            ["insmod_py/reloc/_native.c"],
            extra_compile_args=["-O2", "-std=c99", "-Wall"],
            optional=True,
        )
    ]
)
