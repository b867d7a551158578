"""Persistence of the simulated kernel: one SQLite database per architecture.

Every syscall is one ``BEGIN IMMEDIATE`` transaction: load the whole kernel
state, let the syscall work on it in memory, write back what changed, commit.
Concurrent processes therefore serialise like callers of 2.4's ``lock_kernel()``
and never lose or corrupt an entry.  SQLite's own messages never reach the
user: a busy database and an unreadable one are each one clear LoadError.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from ...deferred import DeferredSite
from ...errors import LoadError
from ..base import Region
from .memory import ArchParams, LiveModule

SCHEMA_VERSION = 1
LOG_KEEP = 5000  # kernel log lines kept (2.4 had a ring buffer too)
ROWS_KEPT = 1024  # decoded module rows remembered between syscalls

T = TypeVar("T")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB)",
    # base: the kernel address as signed 64-bit; seq: list order, highest = head of
    # module_list; name: informational (the name in memory is the truth); memory: the
    # module's whole memory with its struct module at offset 0
    "CREATE TABLE IF NOT EXISTS modules (base INTEGER PRIMARY KEY, seq INTEGER NOT NULL,"
    " name TEXT NOT NULL, memory BLOB NOT NULL, regions TEXT NOT NULL, symbols TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS klog (id INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL)",
)
# Added later without a schema bump: created on every open, so older databases get them.
_SCHEMA_ADDITIONS = (
    # deferred relocations (insmod --defer-missing): one row per unresolved site; module is
    # the base of the module holding the site, original the field's bytes before relocation
    "CREATE TABLE IF NOT EXISTS deferred_relocs (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " module INTEGER NOT NULL, name TEXT NOT NULL, offset INTEGER NOT NULL,"
    " type INTEGER NOT NULL, addend INTEGER NOT NULL, original BLOB NOT NULL,"
    " machine INTEGER NOT NULL, rela INTEGER NOT NULL, gpl INTEGER NOT NULL,"
    " deps_limit INTEGER NOT NULL)",
    # unresolved-symbol trap slots (traps.py): name -> slot
    "CREATE TABLE IF NOT EXISTS trap_slots (name TEXT PRIMARY KEY, slot INTEGER UNIQUE NOT NULL)",
)

_TABLE_NAME = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)")


def default_state_dir() -> str:
    """``$PYINSMOD_STATE``, else ``$XDG_STATE_HOME/pyinsmod``, else ``~/.local/state/pyinsmod``."""
    env = os.environ.get("PYINSMOD_STATE")
    if env:
        return env
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return str(base / "pyinsmod")


def existing_arches(state_dir: str | None = None) -> list[str]:
    """Architectures that have a simulated kernel database in ``state_dir``."""
    directory = Path(state_dir if state_dir is not None else default_state_dir())
    try:
        names = sorted(p.name for p in directory.glob("kernel-*.sqlite3"))
    except OSError:
        return []
    return [n[len("kernel-") : -len(".sqlite3")] for n in names]


def _to_s64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _to_u64(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


@dataclass
class KernelState:
    """Everything one syscall may look at or change, loaded from the database."""

    arch: ArchParams
    modules: list[LiveModule]  # module_list order: head (newest) first
    runtime_blob: bytes | None = None
    log: list[str] = field(default_factory=list)  # kernel log lines produced by this call
    deferred: LoadError | None = None  # raised after the commit (init failed, oops...)
    removed: set[int] = field(default_factory=set)  # bases freed during this call
    runtime_dirty: bool = False
    runtime: object | None = None  # the services' KernelRuntime, loaded on first use
    unresolved: list[UnresolvedSite] = field(default_factory=list)  # deferred relocations
    traps: dict[str, int] = field(default_factory=dict)  # deferred symbol -> trap slot
    tainted: int = 0  # /proc/sys/kernel/tainted: 1 = P (proprietary), 2 = F (forced)
    extras_dirty: bool = False  # unresolved, traps or tainted changed

    def next_seq(self) -> int:
        return max((m.seq for m in self.modules), default=0) + 1


@dataclass(frozen=True)
class UnresolvedSite:
    """A deferred relocation kept by the kernel, with what applying it later needs."""

    module: int  # base of the module holding the site
    site: DeferredSite
    machine: int
    rela: bool
    gpl_ok: bool
    deps_limit: int


# SQLite must not have a connection open across fork(): the child inherits the
# library's per-process record of POSIX locks it does not really hold, and
# its own new connections then skip locking, which can lose another process's
# commit.  Every open store closes its connection before a fork; both sides
# reconnect on their next transaction.  A store that is dropped closes its
# connection at once (__del__): a sqlite3.Connection is part of a reference
# cycle (its statement cache) and would otherwise stay open, unseen by this
# registry, until the cyclic GC runs -- possibly after a fork.
_STORES: weakref.WeakSet[StateStore] = weakref.WeakSet()


def _close_before_fork() -> None:
    for store in list(_STORES):
        store.close()


os.register_at_fork(before=_close_before_fork)


class StateStore:
    """The database file of one simulated kernel and the transaction discipline."""

    def __init__(self, state_dir: str | None, arch: ArchParams, timeout: float = 10.0) -> None:
        self.dir = Path(state_dir if state_dir is not None else default_state_dir())
        self.arch = arch
        self.timeout = timeout
        self.path = self.dir / f"kernel-{arch.name}.sqlite3"
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self._rows: dict[tuple[str, str], tuple[tuple[Region, ...], tuple[tuple[int, str], ...]]]
        self._rows = {}  # (regions, symbols) text -> decoded (see _decoded)
        _STORES.add(self)

    # -- connection ---------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        try:
            if not self.dir.is_dir():
                self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.chmod(self.dir, 0o700)  # mkdir's mode is filtered by the umask
        except OSError as exc:
            raise LoadError(
                f"cannot create state directory: {exc.strerror}", file=str(self.dir)
            ) from None
        with self._db_errors():
            # check_same_thread=False: __del__ may run in whichever thread the GC runs in,
            # and must still close it; the store itself is never shared between threads.
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")  # readers never wait for a running init
            # WAL's NORMAL: no fsync per commit; commits stay atomic and ordered, and only a
            # power loss can take the newest ones (a real kernel loses all its modules then)
            conn.execute("PRAGMA synchronous = NORMAL")
            self._init_schema(conn)
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        # The write lock only when something must be created: a reader (lsmod, dmesg, the
        # symbol query before a load) must not wait for another process's running init.
        conn.execute("BEGIN IMMEDIATE" if self._needs_setup(conn) else "BEGIN")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                for statement in _SCHEMA:
                    conn.execute(statement)
            for statement in _SCHEMA_ADDITIONS:
                conn.execute(statement)
            if version == 0:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('arch', ?)", (self.arch.name.encode(),)
                )
            elif version != SCHEMA_VERSION:
                raise LoadError(
                    f"simulated kernel state has schema {version}, expected {SCHEMA_VERSION}"
                    " (remove it to start afresh)",
                    file=str(self.path),
                )
            row = conn.execute("SELECT value FROM meta WHERE key = 'arch'").fetchone()
            if row is None or bytes(row[0]).decode() != self.arch.name:
                raise LoadError(
                    "simulated kernel state is for another architecture", file=str(self.path)
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _needs_setup(conn: sqlite3.Connection) -> bool:
        if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
            return True
        have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return any(
            m is None or m.group(1) not in have
            for m in (_TABLE_NAME.search(s) for s in _SCHEMA + _SCHEMA_ADDITIONS)
        )

    def _db_errors(self) -> _DbErrors:
        return _DbErrors(str(self.path))

    def close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    def __del__(self) -> None:
        self.close()

    # -- transactions ---------------------------------------------------------------------

    def transact(self, fn: Callable[[KernelState], T], *, write: bool = True) -> T:
        """Run ``fn`` on the loaded state inside one transaction.

        ``fn`` returning: its changes are saved and committed, then
        ``state.deferred`` (if any) is raised.  ``fn`` raising a LoadError: only
        the kernel log lines it produced are kept (the 2.4 checks restore
        everything else), then the error propagates.
        """
        conn = self._connect()
        with self._db_errors():
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                state = self._load(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        try:
            result = fn(state)
        except LoadError:
            with self._db_errors():
                if write and state.log:
                    self._append_log(conn, state.log)
                    conn.execute("COMMIT")
                else:
                    conn.execute("ROLLBACK")
            raise
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        with self._db_errors():
            try:
                if write:
                    self._save(conn, state)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        if state.deferred is not None:
            raise state.deferred
        return result

    def _load(self, conn: sqlite3.Connection) -> KernelState:
        mods = []
        rows = conn.execute(
            "SELECT base, seq, memory, regions, symbols FROM modules ORDER BY seq DESC"
        ).fetchall()
        for base, seq, memory, regions, symbols in rows:
            regs, syms = self._decoded(regions, symbols)
            mem = bytes(memory)
            mods.append(
                LiveModule(
                    base=_to_u64(base),
                    memory=bytearray(mem),
                    word_size=self.arch.word_size,
                    regions=regs,
                    symbols=syms,
                    seq=seq,
                    original=mem,
                )
            )
        row = conn.execute("SELECT value FROM meta WHERE key = 'runtime'").fetchone()
        state = KernelState(self.arch, mods, bytes(row[0]) if row and row[0] is not None else None)
        state.unresolved = [
            UnresolvedSite(
                _to_u64(module),
                DeferredSite(name, offset, rtype, addend, bytes(original)),
                machine,
                bool(rela),
                bool(gpl),
                deps_limit,
            )
            for module, name, offset, rtype, addend, original, machine, rela, gpl, deps_limit in (
                conn.execute(
                    "SELECT module, name, offset, type, addend, original, machine, rela, gpl,"
                    " deps_limit FROM deferred_relocs ORDER BY id"
                )
            )
        ]
        state.traps = dict(conn.execute("SELECT name, slot FROM trap_slots").fetchall())
        row = conn.execute("SELECT value FROM meta WHERE key = 'tainted'").fetchone()
        state.tainted = int(bytes(row[0]).decode() or 0) if row and row[0] is not None else 0
        return state

    def _decoded(
        self, regions: str, symbols: str
    ) -> tuple[tuple[Region, ...], tuple[tuple[int, str], ...]]:
        """A module row's regions and symbols; rows unchanged since the last syscall of this
        process (the usual case: every syscall reads every module) are decoded once."""
        key = (regions, symbols)
        found = self._rows.get(key)
        if found is None:
            try:
                regs = tuple(Region(int(s), int(n), str(k)) for s, n, k in json.loads(regions))
                syms = tuple((int(a), str(n)) for a, n in json.loads(symbols))
            except (ValueError, TypeError) as exc:
                raise sqlite3.DatabaseError(f"bad module row: {exc}") from None
            if len(self._rows) >= ROWS_KEPT:
                self._rows.clear()
            found = self._rows[key] = (regs, syms)
        return found

    def _save(self, conn: sqlite3.Connection, state: KernelState) -> None:
        live = {m.base for m in state.modules}
        for base in state.removed - live:
            conn.execute("DELETE FROM modules WHERE base = ?", (_to_s64(base),))
        for mod in state.modules:
            if mod.original and bytes(mod.memory) == mod.original and not mod.dirty:
                continue
            conn.execute(
                "INSERT OR REPLACE INTO modules VALUES (?, ?, ?, ?, ?, ?)",
                (
                    _to_s64(mod.base),
                    mod.seq,
                    mod.own_name().decode("utf-8", "replace"),
                    bytes(mod.memory),
                    json.dumps([[r.start, r.size, r.kind] for r in mod.regions]),
                    json.dumps([[a, n] for a, n in mod.symbols]),
                ),
            )
        if state.runtime_dirty:
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('runtime', ?)", (state.runtime_blob,))
        if state.extras_dirty:
            self._save_extras(conn, state)
        self._append_log(conn, state.log)

    def _save_extras(self, conn: sqlite3.Connection, state: KernelState) -> None:
        """Deferred relocations, trap slots and the taint flags: small, rewritten whole."""
        conn.execute("DELETE FROM deferred_relocs")
        conn.executemany(
            "INSERT INTO deferred_relocs (module, name, offset, type, addend, original, machine,"
            " rela, gpl, deps_limit) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    _to_s64(u.module),
                    u.site.name,
                    u.site.offset,
                    u.site.rtype,
                    _to_s64(u.site.addend & ((1 << 64) - 1)),
                    u.site.original,
                    u.machine,
                    int(u.rela),
                    int(u.gpl_ok),
                    u.deps_limit,
                )
                for u in state.unresolved
            ],
        )
        conn.execute("DELETE FROM trap_slots")
        conn.executemany("INSERT INTO trap_slots VALUES (?, ?)", sorted(state.traps.items()))
        conn.execute(
            "INSERT OR REPLACE INTO meta VALUES ('tainted', ?)", (str(state.tainted).encode(),)
        )

    def _append_log(self, conn: sqlite3.Connection, lines: list[str]) -> None:
        if not lines:
            return
        conn.executemany("INSERT INTO klog (line) VALUES (?)", [(line,) for line in lines])
        conn.execute("DELETE FROM klog WHERE id <= (SELECT MAX(id) FROM klog) - ?", (LOG_KEEP,))

    # -- kernel log and reset -------------------------------------------------------------

    def read_log(self) -> list[str]:
        conn = self._connect()
        with self._db_errors():
            return [row[0] for row in conn.execute("SELECT line FROM klog ORDER BY id")]

    def clear_log(self) -> None:
        self._write_all("DELETE FROM klog")

    def reset(self) -> None:
        """Forget every module, the runtime and the log (a reboot)."""
        self._write_all(
            "DELETE FROM modules",
            "DELETE FROM klog",
            "DELETE FROM meta WHERE key IN ('runtime', 'tainted')",
            "DELETE FROM deferred_relocs",
            "DELETE FROM trap_slots",
        )

    def _write_all(self, *statements: str) -> None:
        """Run ``statements`` as one write transaction: all of them, or none."""
        conn = self._connect()
        with self._db_errors():
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in statements:
                    conn.execute(statement)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")  # not left open for the next transaction
                raise


class _DbErrors:
    """Turns sqlite3 exceptions into one clear LoadError each."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> bool:
        if isinstance(exc, sqlite3.OperationalError) and (
            "locked" in str(exc) or "busy" in str(exc)
        ):
            raise LoadError("simulated kernel state is locked by another process") from None
        if isinstance(exc, sqlite3.Error):
            raise LoadError(
                f"simulated kernel state is unreadable ({exc}); remove it to start afresh",
                file=self.path,
            ) from None
        return False
