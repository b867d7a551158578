"""``modules.dep`` and ``modules.conf`` as modutils 2.4's modprobe read them.

``modules.dep`` (what ``depmod`` writes): ``path: dep dep ...``, a line continued
with a backslash, blank lines between entries.  ``modules.conf``: ``alias NAME
MODULE`` (``off`` and ``null`` mean "load nothing"), ``options NAME ARGS...``;
comments (``#``), blank lines and backslash continuations as modutils allowed them.
Directives that run commands or change the search (``install``, ``pre-install``,
``post-install``, ``remove``, ``pre-remove``, ``post-remove``, ``probe``, ``probeall``,
``above``, ``below``, ``keep``, ``path``, ``depfile``, ``include``, ``if``...) are not
supported: each is reported once, with its line, and ignored.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from .errors import LoadError
from .loader import module_name_from_path

UNSUPPORTED = frozenset(
    [
        "install",
        "pre-install",
        "post-install",
        "remove",
        "pre-remove",
        "post-remove",
        "probe",
        "probeall",
        "above",
        "below",
        "keep",
        "path",
        "depfile",
        "include",
        "if",
        "elseif",
        "else",
        "endif",
        "define",
        "generic_stringfile",
        "pcimapfile",
        "isapnpmapfile",
        "usbmapfile",
        "parportmapfile",
        "ieee1394mapfile",
        "pnpbiosmapfile",
        "prune",
        "persistdir",
        "insmod_opt",
    ]
)
_NOTHING = ("off", "null")  # alias NAME off: modprobe NAME loads nothing and succeeds


@dataclass(frozen=True)
class DepEntry:
    name: str
    path: Path  # absolute
    deps: tuple[Path, ...]  # its direct dependencies, absolute


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) with backslash continuations joined."""
    out: list[tuple[int, str]] = []
    pending, first = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            first = number
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        out.append((first, pending + raw))
        pending = ""
    if pending:
        out.append((first, pending))
    return out


def read_dep(path: str | os.PathLike[str]) -> dict[str, DepEntry]:
    """modules.dep: module name -> entry; relative paths are relative to the file's directory."""
    dep_file = Path(path)
    try:
        text = dep_file.read_text()
    except OSError as exc:
        raise LoadError(
            f"{exc.strerror or exc} (run: pyinsmod depmod on the tree first)", file=str(path)
        ) from None
    root = dep_file.parent
    entries: dict[str, DepEntry] = {}
    for number, line in _logical_lines(text):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        head, sep, tail = line.partition(":")
        if not sep or not head.strip():
            raise LoadError(f"line {number}: not 'module: dependencies'", file=str(path))
        module = root / head.strip()
        deps = tuple(root / d for d in tail.split())
        name = module_name_from_path(str(module))
        entries.setdefault(name, DepEntry(name, module, deps))
    return entries


@dataclass
class ModulesConf:
    aliases: dict[str, str] = field(default_factory=dict)
    options: dict[str, list[str]] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)  # "file:line: directive" not supported

    def resolve(self, name: str) -> str | None:
        """The module an alias names (aliases may chain); None for ``off``/``null``."""
        seen: set[str] = set()
        while name in self.aliases and name not in seen:
            seen.add(name)
            name = self.aliases[name]
        return None if name in _NOTHING else name

    def options_for(self, name: str) -> list[str]:
        return list(self.options.get(name, []))


def read_conf(path: str | os.PathLike[str]) -> ModulesConf:
    """Parse a modules.conf; a malformed supported line is a LoadError naming the line."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise LoadError(exc.strerror or str(exc), file=str(path)) from None
    conf = ModulesConf()
    for number, line in _logical_lines(text):
        stripped = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if not stripped:
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            raise LoadError(f"line {number}: {exc}", file=str(path)) from None
        if not words:
            continue
        directive = words[0]
        if directive == "alias":
            if len(words) != 3:
                raise LoadError(f"line {number}: alias needs NAME MODULE", file=str(path))
            conf.aliases[words[1]] = words[2]
        elif directive == "options":
            if len(words) < 2:
                raise LoadError(f"line {number}: options needs a module name", file=str(path))
            conf.options[words[1]] = words[2:]  # the last options line for a module wins
        elif directive in UNSUPPORTED or directive.startswith(("pre-", "post-")):
            conf.ignored.append(f"{path}:{number}: {directive}")
        elif "=" in directive:  # modutils' variable assignments (depfile=..., path=...)
            conf.ignored.append(f"{path}:{number}: {directive.split('=')[0]}=")
        else:
            raise LoadError(f"line {number}: unknown directive {directive!r}", file=str(path))
    return conf
