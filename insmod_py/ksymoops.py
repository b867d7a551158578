"""ksymoops symbols: what modutils 2.4's insmod added so that an oops can be decoded.

A 2.4 oops prints bare addresses; ``ksymoops`` turned them into
``module:section+offset`` with the help of symbols insmod added to every
module's exports (``/proc/ksyms``), unless ``insmod -y``:

* ``__insmod_<module>_O<object>_M<mtime>_V<version>`` at the module start (its
  ``struct module``): ``<object>`` is the object's real path, ``<mtime>`` its
  modification time as upper-case hex, zero-padded to two digits per byte of
  the target's ``time_t`` (``%0*lX``, 8 on i386, 16 on x86_64; 0 when it cannot
  be read), ``<version>`` the kernel version the module was built for as the
  decimal ``a << 16 | b << 8 | c`` (``%d``; 132116 for 2.4.20);
* ``__insmod_<module>_S<section>_L<length>`` at the start of each of
  ``.text``, ``.rodata``, ``.data`` and ``.bss`` the module has with a
  non-zero size, ``<length>`` its size in decimal.

Where they go (the loader's job): with a ``__ksymtab``, or with ``-x``, into
the table the header points at; otherwise the export-all table lists them with
the module's other globals.  Only the legacy header is concerned: a prelinked
module's ``struct module_new`` names its own table.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from dataclasses import dataclass

from .elf import ElfObject

PREFIX = "__insmod_"
SECTIONS = (".text", ".rodata", ".data", ".bss")  # modutils 2.4's list, in its order
_SECTION_SYMBOL = re.compile(r"_S(\.[A-Za-z0-9_.]+)_L(\d+)$")


@dataclass(frozen=True)
class ObjectTag:
    """What the first symbol records about the object file."""

    path: str  # its real path
    mtime: int  # st_mtime, 0 when stat failed (as modutils)
    version: int  # a << 16 | b << 8 | c of the kernel it was built for, -1 if unknown


def tag_object(path: str, version: int) -> ObjectTag:
    """The tag for the object at ``path``, as modutils made it (realpath, then stat)."""
    real = os.path.realpath(path)
    try:
        mtime = int(os.stat(real).st_mtime)
    except OSError:
        mtime = 0
    return ObjectTag(real, mtime, version)


def symbols(
    obj: ElfObject, module: str, tag: ObjectTag, loaded: Collection[int]
) -> list[tuple[str, int | None]]:
    """(name, section index) of each ksymoops symbol; None: the module start (header).

    ``loaded`` are the section indexes the image holds.
    """
    width = 2 * obj.word_size  # sizeof(time_t) is the word on both targets
    mtime = tag.mtime & ((1 << (8 * obj.word_size)) - 1)
    out: list[tuple[str, int | None]] = [
        (f"{PREFIX}{module}_O{tag.path}_M{mtime:0{width}X}_V{tag.version}", None)
    ]
    for name in SECTIONS:
        sec = obj.section_by_name(name)
        if sec is not None and sec.size and sec.index in loaded:
            out.append((f"{PREFIX}{module}_S{name}_L{sec.size}", sec.index))
    return out


def section_of(name: str) -> tuple[str, int] | None:
    """(section, length) a ``__insmod_..._S<section>_L<length>`` symbol names, else None."""
    if not name.startswith(PREFIX):
        return None
    m = _SECTION_SYMBOL.search(name)
    return (m.group(1), int(m.group(2))) if m else None
