"""Hostile ``struct module`` images against the simulated kernel: 2.4's errno, no state change.

tests/test_sim_syscalls.py holds the table of init_module checks (INIT_ROWS) and
compares modules() and /proc/modules around each failure.  This file adds the
cases the table lacks (ranges overlapping the header,
nsyms/ndeps too large, a name without its NUL, a dependency that is inside a
module but not one) and holds every row, old and new, to the stricter rule:
the whole SQLite-visible state (every table but the log, /proc/ksyms, the log
minus the kernel's own ``<3>`` error lines) is unchanged by a refused call.
Cases that 2.4 accepted (persist pointers, wrapping pointer arithmetic,
overlapping syms/deps) must load and leave a kernel that still answers.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_sim_syscalls import (
    ARCHES,
    BOTH,
    DEPS,
    INIT_ROWS,
    LEGACY,
    NAME,
    SIZE,
    SYMS,
    Mod,
    _fill_dep_tables,
    backend,
    build_image,
    hdr,
    load,
)

from insmod_py import modstruct as ms
from insmod_py.backends.sim import SimBackend
from insmod_py.errors import KernelError

Row = tuple[str, tuple[str, ...], Callable[[Mod], dict[str, int]], int]


def _sos(m: Mod) -> int:
    return ms.sizeof_module(m.ws)


HOSTILE_ROWS: list[Row] = [
    # ranges overlapping the struct module itself (legacy: [m, m + size_of_struct) is off limits)
    ("init-in-header", LEGACY, hdr(init=lambda m: m.at(8)), errno.EINVAL),
    ("can-unload-in-header", LEGACY, hdr(can_unload=lambda m: m.at(4)), errno.EINVAL),
    ("syms-in-header", LEGACY, hdr(nsyms=lambda m: 1, syms=lambda m: m.at(0)), errno.EINVAL),
    (
        "syms-straddle-header-end",
        LEGACY,
        hdr(nsyms=lambda m: 2, syms=lambda m: m.at(_sos(m) - m.ws)),
        errno.EINVAL,
    ),
    ("deps-in-header", LEGACY, hdr(ndeps=lambda m: 1, deps=lambda m: m.at(0)), errno.EINVAL),
    (
        "name-straddles-header-end",
        LEGACY,
        hdr(name=lambda m: m.at(_sos(m) - 2)),
        errno.EINVAL,
    ),
    (
        "kallsyms-in-header",
        LEGACY,
        hdr(kallsyms_start=lambda m: m.at(4), kallsyms_end=lambda m: m.at(8)),
        errno.EINVAL,
    ),
    (
        "ex-table-straddles-end",
        BOTH,
        hdr(ex_table_start=lambda m: m.at(SIZE - 8), ex_table_end=lambda m: m.at(SIZE + 8)),
        errno.EINVAL,
    ),
    # counts too large for the image (no wrap: 2.4's pointer arithmetic stays in range)
    ("nsyms-too-large", LEGACY, hdr(nsyms=lambda m: 0x10000), errno.EINVAL),
    (
        "ndeps-too-large",
        BOTH,
        hdr(ndeps=lambda m: 0x10000, deps=lambda m: m.at(DEPS)),
        errno.EINVAL,
    ),
    (
        # i386: ndeps * 12 wraps to 8 and mod_bound passes, but the entries are not modules
        "ndeps-wraps",
        BOTH,
        hdr(
            ndeps=lambda m: (1 << 32) // ms.sizeof(m.ws, "module_ref") + 1,
            deps=lambda m: m.at(DEPS),
        ),
        errno.EINVAL,
    ),
    # pointers outside the image for everything mod_bound checks, with the size grown too
    ("name-past-created-size", LEGACY, hdr(name=lambda m: m.at(SIZE + 0x100)), errno.EINVAL),
    ("syms-before-image", BOTH, hdr(syms=lambda m: m.at(-0x1000), nsyms=lambda m: 1), errno.EINVAL),
    ("size-of-struct-zero-legacy-size", LEGACY, hdr(size_of_struct=lambda m: 0), errno.EINVAL),
    (
        "size-of-struct-huge",
        LEGACY,
        hdr(size_of_struct=lambda m: (1 << (8 * m.ws)) - 1),
        errno.EINVAL,
    ),
]


def _cases() -> list[Any]:
    out = []
    for arch in ARCHES:
        for rid, kinds, fields, err in INIT_ROWS + HOSTILE_ROWS:
            for kind in kinds:
                for variant in ("patched",) if kind == "new" else ("patched", "unpatched"):
                    if rid == "size-of-struct-zero-legacy-size" and variant == "patched":
                        continue  # 0 means struct module_new there: another row's business
                    out.append(
                        pytest.param(
                            arch, kind, variant, fields, err, id=f"{arch}-{kind}-{variant}-{rid}"
                        )
                    )
    return out


def full_state(be: SimBackend) -> dict[str, Any]:
    """Everything a later call could see: every table but the log, the /proc views, the log."""
    db = sqlite3.connect(be.state_path)
    try:
        tables = [
            r[0]
            for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        dump = {
            t: sorted(db.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr)
            for t in tables
            if t not in ("klog", "sqlite_sequence")
        }
    finally:
        db.close()
    return {
        "tables": dump,
        "modules": be.modules(),
        "proc_modules": be.proc_modules(),
        "proc_ksyms": be.proc_ksyms(),
        "dmesg": be.dmesg(),
    }


def assert_unchanged(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Equal, except that the refused call may add the kernel's own error lines to the log."""
    assert {k: v for k, v in after.items() if k != "dmesg"} == {
        k: v for k, v in before.items() if k != "dmesg"
    }
    old, new = before["dmesg"], after["dmesg"]
    assert new[: len(old)] == old
    assert all(line.startswith("<3>") for line in new[len(old) :]), new[len(old) :]


@pytest.mark.parametrize(("arch", "kind", "variant", "fields", "err"), _cases())
def test_hostile_header_is_refused_and_changes_no_state(
    tmp_path: Path, arch: str, kind: str, variant: str, fields: Any, err: int
) -> None:
    be = backend(tmp_path, arch, variant)
    load(be, "other", "legacy", exports=(("other_sym", 0x600),))  # a bystander
    base = be.create_module("victim", SIZE)
    m = Mod(be.word_size, base, SIZE, kind)
    img = build_image(m, "victim", header=fields(m))
    _fill_dep_tables(m, img)
    before = full_state(be)
    with pytest.raises(KernelError) as info:
        be.init_module("victim", bytes(img))
    assert info.value.errno == err, str(info.value)
    assert_unchanged(before, full_state(be))
    # still the created module: a correct image loads, and both can be removed
    be.init_module("victim", bytes(build_image(m, "victim")))
    be.delete_module("victim")
    be.delete_module("other")
    assert be.modules() == []


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize(("kind", "variant"), [("legacy", "patched"), ("legacy", "unpatched")])
def test_name_without_nul_in_the_image_is_efault(
    tmp_path: Path, arch: str, kind: str, variant: str
) -> None:
    # step 7 passes (the name's bytes fit), step 18 re-reads it from the image and runs off
    # the end: 2.4's strncpy_from_user faults there
    be = backend(tmp_path, arch, variant)
    base = be.create_module("victim", SIZE)
    m = Mod(be.word_size, base, SIZE, kind)
    img = build_image(m, "victim", header={"name": m.at(SIZE - 6)})
    img[SIZE - 6 :] = b"victim"
    before = full_state(be)
    with pytest.raises(KernelError) as info:
        be.init_module("victim", bytes(img))
    assert info.value.errno == errno.EFAULT
    assert_unchanged(before, full_state(be))


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("name", [b"victim", b""])
def test_module_new_name_must_be_a_string_in_the_module(
    tmp_path: Path, arch: str, name: bytes
) -> None:
    # Zippel's header skips the name comparison; a name that runs off the module (or is
    # empty) would leave a module that no delete_module can name: refused as out of bounds
    be = backend(tmp_path, arch)
    base = be.create_module("victim", SIZE)
    m = Mod(be.word_size, base, SIZE, "new")
    at = SIZE - len(name) if name else NAME
    img = build_image(m, "victim", header={"name": m.at(at)})
    img[at : at + len(name) + (0 if name else 1)] = name or b"\0"
    before = full_state(be)
    with pytest.raises(KernelError, match="name out of bounds") as info:
        be.init_module("victim", bytes(img))
    assert info.value.errno == errno.EINVAL
    assert_unchanged(before, full_state(be))
    be.delete_module("victim")


@pytest.mark.parametrize("arch", ARCHES)
def test_dependency_inside_a_module_but_not_at_its_base(tmp_path: Path, arch: str) -> None:
    be = backend(tmp_path, arch)
    other, _ = load(be, "other", "legacy")
    base = be.create_module("victim", SIZE)
    m = Mod(be.word_size, base, SIZE, "new")
    img = build_image(m, "victim", deps=(other.at(0x10),))
    before = full_state(be)
    with pytest.raises(KernelError, match="no longer") as info:
        be.init_module("victim", bytes(img))
    assert info.value.errno == errno.EINVAL
    assert_unchanged(before, full_state(be))


@pytest.mark.parametrize("arch", ARCHES)
def test_persist_pointers_are_not_checked_as_in_24(tmp_path: Path, arch: str) -> None:
    # 2.4's sys_init_module never validated persist_start/persist_end or runsize; nothing
    # in the kernel dereferences them, so pointers anywhere load and change nothing else
    be = backend(tmp_path, arch, "unpatched")
    top = (1 << (8 * be.word_size)) - 16
    _, _ = load(be, "p", "legacy", header={"persist_start": top, "persist_end": 16})
    (info,) = be.modules()
    assert info.flags == ms.MOD_RUNNING
    be.delete_module("p")
    assert be.modules() == []


def _still_answers(be: SimBackend) -> None:
    start = time.perf_counter()
    be.proc_ksyms()
    be.proc_modules()
    be.get_kernel_syms()
    be.get_kernel_syms_count()
    be.kernel_symbols()
    for mod in be.modules():
        be.query_module(mod.name, ms.QM_SYMBOLS, 1 << 22)
        be.query_module(mod.name, ms.QM_DEPS, 1 << 16)
        be.query_module(mod.name, ms.QM_REFS, 1 << 16)
    assert time.perf_counter() - start < 5


def test_wrapping_nsyms_loads_as_in_24_and_the_kernel_stays_bounded(tmp_path: Path) -> None:
    # i386: syms + 0x20000000 module_symbols wraps back to syms, so mod_bound passes and
    # 2.4 accepted it; readers of the symbol table must stop at the module's memory
    be = backend(tmp_path, "i386", "unpatched")
    load(be, "wrap", "legacy", header={"nsyms": 0x20000000})
    assert be.modules()[0].flags == ms.MOD_RUNNING
    _still_answers(be)
    be.delete_module("wrap")
    assert be.modules() == []


@pytest.mark.parametrize("arch", ARCHES)
def test_overlapping_syms_and_deps_load_as_in_24(tmp_path: Path, arch: str) -> None:
    # 2.4 checks each range against the module, never against each other: the kernel's
    # ref/next_ref stores land in the symbol table; lists and counts must stay consistent
    be = backend(tmp_path, arch)
    a, _ = load(be, "lib", "new", exports=(("lib_sym", 0x600),))
    base = be.create_module("user", SIZE)
    m = Mod(be.word_size, base, SIZE, "legacy")
    img = build_image(m, "user", exports=(("u_sym", 0x600),), deps=(a.base,))
    header = ms.build_module(
        m.ws,
        {
            "size_of_struct": ms.sizeof_module(m.ws),
            "size": SIZE,
            "name": m.at(NAME),
            "nsyms": 1,
            "syms": m.at(SYMS),
            "ndeps": 1,
            "deps": m.at(SYMS),
        },
    )
    img[SYMS : SYMS + 3 * m.ws] = ms.build(m.ws, "module_ref", dep=a.base)
    img[: len(header)] = header
    be.init_module("user", bytes(img))
    info = {i.name: i for i in be.modules()}
    assert info["lib"].refs == ("user",) and info["user"].deps == ("lib",)
    _still_answers(be)
    with pytest.raises(KernelError):
        be.delete_module("lib")
    be.delete_module("user")
    be.delete_module("lib")
    assert be.modules() == []


# ----------------------------------------------------------------------- privileges

_DROPPED_CAP_PROBE = """
from insmod_py.backends.syscall import CAP_SYS_MODULE, SyscallBackend, effective_capabilities
from insmod_py.errors import LoadError
calls = []
be = SyscallBackend("x86_64", syscall=lambda *a: calls.append(a) or 0)
assert not effective_capabilities() >> CAP_SYS_MODULE & 1, "capability still held"
for call in (lambda: be.create_module("m", 4096), lambda: be.init_module("m", b""),
             lambda: be.delete_module("m")):
    try:
        call()
    except LoadError as err:
        print(err)
print(len(calls), "syscalls")
"""


def _drop_cap_sys_module() -> None:
    """In the child before exec: CAP_SYS_MODULE leaves the bounding set (root keeps the rest)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(24, 16, 0, 0, 0) != 0:  # PR_CAPBSET_DROP, CAP_SYS_MODULE
        os._exit(77)


def test_syscall_backend_without_cap_sys_module_says_so_and_calls_nothing() -> None:
    # a real process without the capability (the unit tests fake the mask): CapEff is read
    # from /proc/self/status, and no syscall is attempted
    proc = subprocess.run(
        [sys.executable, "-c", _DROPPED_CAP_PROBE],
        capture_output=True,
        text=True,
        preexec_fn=_drop_cap_sys_module,
    )
    if proc.returncode == 77:
        pytest.skip("cannot drop CAP_SYS_MODULE here (needs CAP_SETPCAP)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "create_module: need CAP_SYS_MODULE (run as root)",
        "init_module: need CAP_SYS_MODULE (run as root)",
        "delete_module: need CAP_SYS_MODULE (run as root)",
        "0 syscalls",
    ]


def test_state_directory_is_private_even_with_a_permissive_umask(tmp_path: Path) -> None:
    # created by the command line under umask 000, below parents that do not exist yet
    state = tmp_path / "a" / "b" / "state"
    proc = subprocess.run(
        [sys.executable, "-m", "insmod_py", "lsmod"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYINSMOD_STATE": str(state)},
        preexec_fn=lambda: os.umask(0),
    )
    assert proc.returncode == 0, proc.stderr
    assert state.stat().st_mode & 0o777 == 0o700
    assert stat.S_ISDIR(state.stat().st_mode)
