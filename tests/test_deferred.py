"""--defer-missing: a module loads before the one exporting what it needs.

The sim kernel keeps the relocation records of the missing symbols in SQLite,
the sites point at unresolved-symbol traps (a call or read there is an oops
naming the symbol), and loading the exporter applies them, in the exporter's
init_module transaction, through the loader's own relocation routine, and
pins the exporter while the user is loaded.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from support import objects
from support.clirun import Pyinsmod

from insmod_py.backends.sim import SimBackend
from insmod_py.elf import read_object
from insmod_py.errors import UsageError
from insmod_py.loader import load
from insmod_py.reloc import Relocator


@pytest.fixture(params=["i386", "x86_64"])
def kernel(built: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Pyinsmod:
    return Pyinsmod(tmp_path / "state", built / request.param / "examples", request.param)


def test_without_the_flag_missing_symbols_are_refused(kernel: Pyinsmod) -> None:
    line = kernel.fails(kernel.obj("lazy.o"))
    assert line.endswith("lazy.o: unresolved symbols exporter_add, exporter_value")


@pytest.mark.parametrize("obj", ["lazy.o", "lazy.pre.o"])
def test_user_before_exporter_loads_then_works_once_the_exporter_arrives(
    kernel: Pyinsmod, obj: str
) -> None:
    kernel.run("--defer-missing", kernel.obj(obj))
    assert kernel.modules() == ["lazy"]
    assert "<6>lazy: loaded, exporter not needed yet" in kernel.dmesg()
    verbose = kernel.lsmod("-v")
    assert "\tdeferred: exporter_add exporter_value (provider not loaded)" in verbose

    kernel.run(kernel.obj("exporter.o"))
    log = kernel.dmesg()
    assert any(
        "lazy:" in line and "deferred relocations resolved from exporter" in line for line in log
    )
    listing = kernel.lsmod()
    assert "[lazy]" in listing.splitlines()[1]  # exporter is used by lazy now
    assert "deferred" not in kernel.lsmod("-v")

    line = kernel.fails("rmmod", "--arch", kernel.arch, "exporter")
    assert "exporter: delete_module: Device or resource busy (used by lazy)" in line
    kernel.run("rmmod", "--arch", kernel.arch, "lazy")
    assert kernel.dmesg()[-1] == "<6>lazy: exporter_add(2, 3) = 5, exporter_value = 42"
    kernel.run("rmmod", "--arch", kernel.arch, "exporter")
    assert kernel.modules() == []


def test_call_into_an_unresolved_site_is_an_oops_naming_the_symbol(kernel: Pyinsmod) -> None:
    line = kernel.fails("--defer-missing", kernel.obj("lazy.o"), "touch=1")
    assert "Oops: call to unresolved symbol exporter_add (deferred, provider not loaded)" in line
    assert "from <init_module+0x" in line
    assert kernel.modules() == ["lazy"]  # an oops in init leaves it initializing, as 2.4


def test_read_through_an_unresolved_data_site_is_an_oops(kernel: Pyinsmod) -> None:
    line = kernel.fails("--defer-missing", kernel.obj("lazy.o"), "touch=2")
    assert "unable to handle kernel paging request" in line
    assert "unresolved symbol exporter_value (deferred, provider not loaded)" in line
    assert kernel.modules() == ["lazy"]


def test_cleanup_calling_an_unresolved_site_oopses_and_the_module_goes(kernel: Pyinsmod) -> None:
    kernel.run("--defer-missing", kernel.obj("lazy.o"))
    line = kernel.fails("rmmod", "--arch", kernel.arch, "lazy")
    assert "unresolved symbol exporter_" in line
    assert kernel.modules() == []
    kernel.run(kernel.obj("exporter.o"))  # nothing left to resolve, nothing pinned
    assert "[lazy]" not in kernel.lsmod()


def test_syscall_backend_refuses_the_flag_clearly(kernel: Pyinsmod) -> None:
    line = kernel.fails("--backend", "syscall", "--defer-missing", kernel.obj("lazy.o"))
    assert "--defer-missing needs the simulated kernel" in line


def test_dry_run_and_probe_accept_the_flag(kernel: Pyinsmod) -> None:
    base = hex(objects.MODULE_BASES[kernel.arch])  # within PC32 reach of the kernel
    kernel.run("-n", "--base", base, "--defer-missing", kernel.obj("lazy.o"))
    kernel.run("-p", "--base", base, "--defer-missing", kernel.obj("lazy.o"))
    assert kernel.modules() == []


# -- in-process: where the records live and which routine applies them ---------------------
def test_records_live_in_sqlite_until_applied(built: Path, tmp_path: Path) -> None:
    examples = built / "i386" / "examples"
    be = SimBackend(state_dir=str(tmp_path), arch="i386")
    load(read_object(str(examples / "lazy.o")), be, name="lazy", defer_missing=True)
    db = sqlite3.connect(be.state_path)
    names = {row[0] for row in db.execute("SELECT name FROM deferred_relocs")}
    assert names == {"exporter_add", "exporter_value"}
    assert be.unresolved() == {"lazy": ["exporter_add", "exporter_value"]}
    load(read_object(str(examples / "exporter.o")), be, name="exporter")
    assert db.execute("SELECT COUNT(*) FROM deferred_relocs").fetchone()[0] == 0
    assert be.unresolved() == {}


def test_records_go_with_their_module(built: Path, tmp_path: Path) -> None:
    examples = built / "i386" / "examples"
    be = SimBackend(state_dir=str(tmp_path), arch="i386")
    load(read_object(str(examples / "lazy.o")), be, name="lazy", defer_missing=True)
    with pytest.raises(Exception, match="unresolved symbol exporter_"):
        be.delete_module("lazy")  # cleanup oopses; the module is removed anyway
    assert be.unresolved() == {}


def test_deferred_sites_go_through_the_loaders_relocator(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = Relocator.apply

    def spy(self, table, *args, **kwargs):
        if table.section.name == "(deferred relocations)":  # not the loader's own tables
            calls.append(list(table.types))
        return real(self, table, *args, **kwargs)

    monkeypatch.setattr(Relocator, "apply", spy)
    examples = built / "i386" / "examples"
    be = SimBackend(state_dir=str(tmp_path), arch="i386")
    load(read_object(str(examples / "lazy.o")), be, name="lazy", defer_missing=True)
    load(read_object(str(examples / "exporter.o")), be, name="exporter")
    assert len(calls) == 1 and len(calls[0]) == 4  # two calls, two reads of exporter_value


def test_backend_without_traps_refuses(built: Path) -> None:
    class NoTraps:
        word_size = 4

    obj = read_object(str(built / "i386" / "examples" / "lazy.o"))
    with pytest.raises(UsageError, match="--defer-missing needs the simulated kernel"):
        load(obj, NoTraps(), name="lazy", defer_missing=True)  # type: ignore[arg-type]
