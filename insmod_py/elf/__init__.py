"""A validated reader for relocatable ELF objects (ET_REL).

Every field read from the file is bounds-checked before it is used; a bad
object raises :class:`insmod_py.errors.ElfError` with one readable reason.
"""

from .reader import ElfObject, Section, Symbol, read_object

__all__ = ["ElfObject", "Section", "Symbol", "read_object"]
