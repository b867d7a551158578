"""Zippel's claim, cell by cell: {plain, prelinked} x {legacy, new header} x
{unpatched, patched kernel}, for every example module that loads cleanly.

Expected per cell:
* plain object on the new path: refused before any syscall (nothing created);
* legacy header (plain or prelinked object): loads on both kernels;
* struct module_new (prelinked): loads on the patched kernel; the unpatched
  one refuses it with EINVAL ("Invalid module header size") and the loader
  deletes the created module again.
Where a cell loads, the module must work: its init ran (its printk lines are
in the log), its exports are in /proc/ksyms, and rmmod runs its cleanup.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from insmod_py.backends.sim import SimBackend
from insmod_py.elf import read_object
from insmod_py.errors import KernelError, LoadError
from insmod_py.loader import load

# Modules whose init succeeds, with the line their init prints and what they export.
LOADABLE = {
    "hello": ("<6>hello: Hello, world! count=3 magic=c0ffee", ()),
    "params": ("<6>params: i=42", ()),
    "exporter": ("<6>exporter: ready, exporter_value=42", ("exporter_add", "exporter_value")),
    "user": ("<6>user: exporter_add(2, 3) = 5, exporter_value = 42", ()),
    "chardev": ("<6>chardev: registered major", ()),
    "tables": ("<6>tables: probe(NULL) = -14", ()),
}
CELLS = [
    (arch, name, obj, header, kernel)
    for arch in ("i386", "x86_64")
    for name in LOADABLE
    for obj in ("plain", "prelinked")
    for header in ("legacy", "new")
    for kernel in ("unpatched", "patched")
]


def expected(obj: str, header: str, kernel: str) -> str:
    if obj == "plain" and header == "new":
        return "refused before any syscall"
    if header == "new" and kernel == "unpatched":
        return "EINVAL"
    return "loads"


@pytest.mark.parametrize(("arch", "name", "obj_kind", "header", "kernel"), CELLS)
def test_compat_cell(
    built: Path, tmp_path: Path, arch: str, name: str, obj_kind: str, header: str, kernel: str
) -> None:
    arch_dir = built / arch / "examples"
    suffix = ".pre.o" if obj_kind == "prelinked" else ".o"
    backend = SimBackend(state_dir=str(tmp_path), arch=arch, variant=kernel)
    if name == "user":  # its symbols come from a loaded exporter
        load(read_object(str(arch_dir / "exporter.o")), backend, name="exporter", header="legacy")
    before = {m.name for m in backend.modules()}
    obj = read_object(str(arch_dir / f"{name}{suffix}"))
    outcome = expected(obj_kind, header, kernel)

    if outcome == "refused before any syscall":
        with pytest.raises(LoadError, match=r"not a prelinked module.*pyinsmod prelink"):
            load(obj, backend, name=name, header=header)
        assert {m.name for m in backend.modules()} == before
        return
    if outcome == "EINVAL":
        with pytest.raises(KernelError) as err:
            load(obj, backend, name=name, header=header)
        assert err.value.call == "init_module" and err.value.errno == errno.EINVAL
        assert any("Invalid module header size" in line for line in backend.dmesg())
        assert {m.name for m in backend.modules()} == before  # created, then deleted again
        return

    load(obj, backend, name=name, header=header)
    init_line, exports = LOADABLE[name]
    assert any(line.startswith(init_line) for line in backend.dmesg())
    ksyms = backend.proc_ksyms()
    for symbol in exports:
        assert f" {symbol}\t[{name}]" in ksyms
    assert name in {m.name for m in backend.modules()}
    backend.delete_module(name)
    assert {m.name for m in backend.modules()} == before
    assert f"[{name}]" not in backend.proc_ksyms()


@pytest.mark.parametrize("arch", ["i386", "x86_64"])
def test_exporter_cannot_be_removed_while_its_user_is_loaded(
    built: Path, tmp_path: Path, arch: str
) -> None:
    arch_dir = built / arch / "examples"
    backend = SimBackend(state_dir=str(tmp_path), arch=arch)
    load(read_object(str(arch_dir / "exporter.pre.o")), backend, name="exporter")
    load(read_object(str(arch_dir / "user.pre.o")), backend, name="user", header="legacy")
    with pytest.raises(KernelError) as err:
        backend.delete_module("exporter")
    assert err.value.errno == errno.EBUSY
    assert "[user]" in backend.proc_modules()
    backend.delete_module("user")
    backend.delete_module("exporter")
    assert backend.modules() == []
