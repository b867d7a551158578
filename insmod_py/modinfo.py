"""Read ``.modinfo``: the NUL-separated ``key=value`` strings 2.4's macros emit.

``MODULE_AUTHOR``/``DESCRIPTION``/``LICENSE``, ``kernel_version``,
``MODULE_PARM`` (``parm_<var>=<type>``) and ``MODULE_PARM_DESC``
(``parm_desc_<var>=<text>``).  The section is not SHF_ALLOC: it is read from
the object, never loaded.  The second half formats it the way modutils'
``modinfo`` printed it (default format, ``-f FORMAT``, ``parm:`` lines).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .elf import ElfObject
from .errors import UsageError

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


# A kernel version as modutils' get_module_version read it: "a.b.c", anything after c ignored.
_VERSION = re.compile(r"(\d*)\.(\d*)\.(\d+)")
# 2.0-style modules had no .modinfo: the version was a string these symbols pointed at.
_VERSION_SYMBOLS = ("kernel_version", "__module_kernel_version")


def compiled_for(obj: ElfObject, info: ModInfo) -> tuple[str, int] | None:
    """(version string, ``a << 16 | b << 8 | c``) of the kernel the module was built for.

    modutils 2.4's ``get_module_version``: ``.modinfo``'s ``kernel_version``,
    else the string a ``kernel_version`` (or ``__module_kernel_version``)
    symbol points at; None when neither gives "a.b.c" (insmod then refused the
    module, ``-f`` or not).  Not modutils: a 2.6+ module's ``vermagic`` (its first
    word) also counts, so such a module can still be linked with ``-n``.  The number
    is what the ksymoops symbol's ``_V`` shows.
    """
    text = info.get("kernel_version")
    vermagic = info.get("vermagic")
    if text is None and vermagic:
        # 2.6+ modules: modutils 2.4 never saw one; the release is vermagic's first word
        text = vermagic.split(" ", 1)[0]
    if text is None:
        text = _version_symbol_string(obj)
    m = _VERSION.match(text) if text is not None else None
    if text is None or m is None:
        return None
    a, b, c = (int(g or "0") for g in m.groups())
    return text, (a << 16 | b << 8 | c) & 0xFFFFFFFF


def _version_symbol_string(obj: ElfObject) -> str | None:
    """The NUL-terminated string a 2.0-style version symbol points at, if there is one."""
    by_name = {s.name: s for s in obj.symbols if s.name in _VERSION_SYMBOLS}
    for name in _VERSION_SYMBOLS:
        sym = by_name.get(name)
        if sym is None or not 0 < sym.shndx < len(obj.sections):
            continue
        sec = obj.sections[sym.shndx]
        if sec.nobits:
            continue
        data = obj.contents(sec)[sym.value :]
        return data.split(b"\0", 1)[0].decode("ascii", "replace")
    return None


# -- how modutils' modinfo showed it --------------------------------------------------------

# modinfo's default format (modutils 2.4, plus the license line later versions added)
DEFAULT_FORMAT = "filename:    %n\ndescription: %d\nauthor:      %a\nlicense:     %l\n"
_MULTI_LINE = frozenset(("author", "description"))  # printed in quotes, as modutils did
_FORMAT_KEYS = {"a": "author", "d": "description", "n": "filename", "l": "license"}
_ESCAPES = {"a": "\a", "v": "\v", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n",
            "r": "\r", "t": "\t"}  # fmt: skip
_KIND_WORDS = {"b": "byte", "h": "short", "i": "int", "l": "long", "s": "string", "c": "char"}
_PARM_TYPE = re.compile(r"^(?:(\d+)(?:-(\d+))?)?(.?)")


def field_text(info: ModInfo, key: str, filename: str) -> str:
    """One ``%x``/``%{key}`` replacement: quoted for author/description, ``<none>`` if absent."""
    value = filename if key == "filename" else info.get(key)
    if value is None:
        return "<none>"
    if key in _MULTI_LINE:
        return '"' + value.replace("\n", "\n  ") + '"'
    return value


def format_query(info: ModInfo, fmt: str, filename: str) -> str:
    """modutils' ``modinfo -f FORMAT``: ``%a %d %n %l %{key} %%`` and C escapes."""
    out: list[str] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "\\" and i + 1 < len(fmt):
            out.append(_ESCAPES.get(fmt[i + 1], fmt[i + 1]))
            i += 2
        elif ch != "%":
            out.append(ch)
            i += 1
        elif i + 1 >= len(fmt):
            raise UsageError("format: missing replacement after %")
        elif fmt[i + 1] == "%":
            out.append("%")
            i += 2
        elif fmt[i + 1] == "{":
            end = fmt.find("}", i + 2)
            if end < 0:
                raise UsageError("format: unterminated %{...} construct")
            out.append(field_text(info, fmt[i + 2 : end], filename))
            i = end + 1
        elif fmt[i + 1] in _FORMAT_KEYS:
            out.append(field_text(info, _FORMAT_KEYS[fmt[i + 1]], filename))
            i += 2
        else:
            raise UsageError(f"format: {fmt[i + 1]}: unknown replacement")
    return "".join(out)


def describe_parameter(name: str, spec: str, description: str | None) -> str:
    """modutils' show_parameter, e.g. ``a int array (min = 1, max = 4), description "..."``."""
    m = _PARM_TYPE.match(spec)
    assert m is not None  # every group is optional
    lo = int(m.group(1)) if m.group(1) else 1
    hi = int(m.group(2)) if m.group(2) else lo
    letter = m.group(3)
    if not letter:
        return f"{name} no format character!"
    if letter not in _KIND_WORDS:
        return f"{name} unknown format character '{letter}'"
    text = f"{name} {_KIND_WORDS[letter]}"
    rest = spec[m.end() :]
    if letter == "c":
        digits = re.match(r"\d*", rest).group()  # type: ignore[union-attr]
        if not digits:
            text += " *** missing string size ***"
        rest = rest[len(digits) :]
    if rest:
        text += f" unknown format modifier '{rest[0]}'"
    if lo > 1 or hi > 1:
        text += f" array (min = {lo}, max = {hi})"
    if description:
        text += ', description "' + description.replace("\n", "\n  ") + '"'
    return text


def parameter_lines(info: ModInfo) -> list[str]:
    """``parm:`` lines in .modinfo order."""
    descriptions = info.parameter_descriptions
    return [
        f"parm:        {describe_parameter(var, spec, descriptions.get(var))}"
        for var, spec in info.parameters.items()
    ]
