"""insmod_py: a userspace prelinking module loader for the Linux 2.4 module ABI.

The package is usable without the command line: :func:`insmod_py.loader.link`
turns an ET_REL object into a relocated image, and a backend hands it to a
(simulated or real) kernel.
"""

__version__ = "0.1.0"
