"""Read ``.modinfo``: the NUL-separated ``key=value`` strings 2.4's macros emit.

``MODULE_AUTHOR``/``DESCRIPTION``/``LICENSE``, ``kernel_version``,
``MODULE_PARM`` (``parm_<var>=<type>``) and ``MODULE_PARM_DESC``
(``parm_desc_<var>=<text>``).  The section is not SHF_ALLOC: it is read from
the object, never loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from .elf import ElfObject

# 2.4.10+ (include/linux/module.h): licenses that do not taint the kernel.
GPL_COMPATIBLE = frozenset(
    ("GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MPL/GPL", "Dual MIT/GPL")
)


@dataclass(frozen=True)
class ModInfo:
    entries: tuple[tuple[str, str], ...]  # in section order, duplicates kept

    def get(self, key: str) -> str | None:
        """The first value of ``key`` (a bare ``key`` without ``=`` gives "")."""
        return next((v for k, v in self.entries if k == key), None)

    def all(self, key: str) -> list[str]:
        return [v for k, v in self.entries if k == key]

    @property
    def parameters(self) -> dict[str, str]:
        """``parm_<var>=<type>`` entries: variable name -> type string."""
        return {
            k[5:]: v
            for k, v in self.entries
            if k.startswith("parm_") and not k.startswith("parm_desc_")
        }

    @property
    def parameter_descriptions(self) -> dict[str, str]:
        return {k[10:]: v for k, v in self.entries if k.startswith("parm_desc_")}

    @property
    def license(self) -> str | None:
        return self.get("license")

    @property
    def gpl_compatible(self) -> bool:
        return self.license in GPL_COMPATIBLE


def parse_modinfo(data: bytes) -> ModInfo:
    entries = []
    for raw in data.split(b"\0"):
        if not raw:
            continue
        text = raw.decode("utf-8", "replace")
        key, _, value = text.partition("=")
        entries.append((key, value))
    return ModInfo(tuple(entries))


def read_modinfo(obj: ElfObject) -> ModInfo:
    sec = obj.section_by_name(".modinfo")
    return parse_modinfo(obj.contents(sec) if sec is not None else b"")
