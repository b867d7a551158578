"""modprobe for a 2.4 module tree: a module after its dependencies, in one process.

The order comes from ``modules.dep`` (``pyinsmod depmod``), names from ``modules.conf``
aliases, parameters from its ``options`` lines then the command line.  Every module
goes through :func:`insmod_py.insmod.insmod` with one backend opened once, so the
symbol rule, the version check and the messages are ``load``'s own.  A module already
loaded is skipped.  If a module fails, the modules this run loaded are removed again
(newest first) and the error is the failing module's.  ``remove`` takes the module out
and then each of its dependencies that nothing uses any more.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .backends.base import Backend
from .errors import LoadError
from .insmod import InsmodOptions, insmod
from .messages import Reporter
from .modconf import DepEntry, ModulesConf


@dataclass
class Modprobe:
    """One modprobe run over a tree's modules.dep and a modules.conf."""

    dep: dict[str, DepEntry]
    conf: ModulesConf
    base_options: InsmodOptions  # backend, header, force... shared by every insmod
    report: Reporter = field(default_factory=Reporter)
    echo: Callable[[str], None] = print  # where -n prints what it would do
    open_backend: Callable[[], Backend] | None = None
    _backend: Backend | None = None
    _by_path: dict[Path, DepEntry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_path = {e.path: e for e in self.dep.values()}

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            if self.open_backend is None:
                raise LoadError("no kernel to load into")
            self._backend = self.open_backend()
        return self._backend

    def entry(self, name: str) -> DepEntry | None:
        """The tree's module for a name given as modprobe takes it (alias resolved)."""
        real = self.conf.resolve(name)
        if real is None:
            return None
        real = real.removesuffix(".o")
        found = self.dep.get(real)
        if found is None:
            raise LoadError(f"can't locate module {real}" + (
                f" (alias of {name})" if real != name else ""))  # fmt: skip
        return found

    def order(self, target: DepEntry) -> list[DepEntry]:
        """Dependencies first (depth first, in modules.dep order), each once, target last."""
        out: list[DepEntry] = []
        seen: set[Path] = set()
        stack: list[Path] = []

        def visit(entry: DepEntry) -> None:
            if entry.path in seen:
                return
            if entry.path in stack:
                cycle = " -> ".join(p.name for p in [*stack, entry.path])
                raise LoadError(f"dependency loop: {cycle}")
            stack.append(entry.path)
            for dep in entry.deps:
                found = self._by_path.get(dep)
                if found is None:
                    raise LoadError(f"{entry.name} depends on {dep}, which modules.dep lacks")
                visit(found)
            stack.pop()
            seen.add(entry.path)
            out.append(entry)

        visit(target)
        return out

    def _loaded(self) -> set[str]:
        return {m.name for m in self.backend.modules()}

    def plan(self, name: str) -> list[DepEntry]:
        entry = self.entry(name)
        return [] if entry is None else self.order(entry)

    def args_for(self, entry: DepEntry, target: DepEntry, args: tuple[str, ...]) -> tuple[str, ...]:
        """``options`` of modules.conf (under the module's name or an alias of it), then
        the command line's arguments for the target."""
        conf = self.conf.options_for(entry.name)
        return (*conf, *args) if entry is target else tuple(conf)

    def load(self, name: str, args: tuple[str, ...] = (), dry_run: bool = False) -> list[str]:
        """Load ``name`` after its dependencies; returns the names loaded (or, dry, to load)."""
        entry = self.entry(name)
        if entry is None:
            self.report.info(f"{name} is aliased to off: nothing to load")
            return []
        chain = self.order(entry)
        opts_args = self.conf.options_for(name) if name != entry.name else []
        loaded = set() if dry_run else self._loaded()
        done: list[str] = []
        for item in chain:
            item_args = self.args_for(item, entry, args)
            if item is entry and opts_args:
                item_args = (*opts_args, *item_args)
            if item.name in loaded:
                self.report.info(f"{item.name} is already loaded")
                continue
            line = " ".join(["insmod", str(item.path), *item_args])
            if dry_run:
                self.echo(line)
                done.append(item.name)
                continue
            self.report.info(line)
            opts = replace(self.base_options, path=str(item.path), args=item_args)
            try:
                insmod(opts, self.report, backend=self.backend)
            except LoadError:
                self._undo(done)
                raise
            done.append(item.name)
        return done

    def _undo(self, names: list[str]) -> None:
        for name in reversed(names):
            try:
                self.backend.delete_module(name)
                self.report.info(f"removed {name} again")
            except LoadError as err:
                self.report.warn(f"could not remove {name} again: {err}")

    def remove(self, name: str, dry_run: bool = False) -> list[str]:
        """Remove ``name``, then its dependencies that no module uses any more."""
        entry = self.entry(name)
        if entry is None:
            return []
        chain = self.order(entry)  # deps first: remove in reverse
        live = {m.name: m for m in self.backend.modules()}
        if entry.name not in live:
            raise LoadError(f"module {entry.name} is not loaded")
        removed: list[str] = []
        for item in reversed(chain):
            info = live.get(item.name)
            if info is None:
                continue
            users = [r for r in info.refs if r not in removed]
            if item is not entry and (users or info.usecount):
                continue  # still used: it stays
            if dry_run:
                self.echo(f"rmmod {item.name}")
            else:
                self.report.info(f"rmmod {item.name}")
                self.backend.delete_module(item.name)
            removed.append(item.name)
        return removed

    def listing(self, pattern: str | None = None, kind: str | None = None) -> list[Path]:
        """``-l``: the tree's modules, those under a ``kind`` directory (``-t net``), and
        those whose name matches the shell ``pattern``."""
        out = []
        for entry in self.dep.values():
            if kind is not None and f"/{kind.strip('/')}/" not in f"/{entry.path.as_posix()}":
                continue
            if pattern is not None and not fnmatch.fnmatch(entry.name, pattern.removesuffix(".o")):
                continue
            out.append(entry.path)
        return sorted(out)
