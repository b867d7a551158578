"""The simulated 2.4 kernel: every sys_* check with its errno, stacking, reaping, persistence.

Images are crafted with modstruct: a header at offset 0 (Zippel's struct module_new
with size_of_struct == size == 0, or a legacy struct module with size_of_struct =
sizeof), code at INIT/CLEANUP, the name at NAME, exports at SYMS, deps at DEPS.
"""

from __future__ import annotations

import contextlib
import errno
import multiprocessing
import os
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from insmod_py import modstruct as ms
from insmod_py.arch import by_name
from insmod_py.backends.base import ImageInfo, Region
from insmod_py.backends.sim import QueryBufferTooSmall, SimBackend, services
from insmod_py.errors import KernelError, LoadError

SIZE = 0x1000
INIT, CLEANUP, CAN_UNLOAD, NAME, STRS, SYMS, DEPS, DATA = (
    0x200,
    0x210,
    0x220,
    0x300,
    0x340,
    0x400,
    0x500,
    0x800,
)
XOR_EAX_RET = b"\x31\xc0\xc3"  # return 0
ARCHES = ["i386", "x86_64"]
WS = {"i386": 4, "x86_64": 8}


@dataclass(frozen=True)
class Mod:
    """Where a crafted module lives, for building header overrides."""

    ws: int
    base: int
    size: int
    kind: str  # "new" (struct module_new) or "legacy" (struct module)

    def at(self, off: int) -> int:
        return (self.base + off) & ((1 << (8 * self.ws)) - 1)

    @property
    def sos(self) -> int:
        return 0 if self.kind == "new" else ms.sizeof_module(self.ws)


def build_image(
    m: Mod,
    name: str,
    *,
    exports: tuple[tuple[str, int], ...] = (),
    deps: tuple[int, ...] = (),
    header: dict[str, int] | None = None,
    code: dict[int, bytes] | None = None,
) -> bytearray:
    ws = m.ws
    img = bytearray(m.size)
    img[INIT : INIT + 3] = XOR_EAX_RET
    img[CLEANUP] = 0xC3
    img[CAN_UNLOAD : CAN_UNLOAD + 3] = XOR_EAX_RET
    for off, data in (code or {}).items():
        img[off : off + len(data)] = data
    img[NAME : NAME + len(name) + 1] = name.encode() + b"\0"
    strings = STRS
    for i, (sym, off) in enumerate(exports):
        entry = ms.build(ws, "module_symbol", value=m.at(off), name=m.at(strings))
        img[SYMS + i * len(entry) : SYMS + (i + 1) * len(entry)] = entry
        img[strings : strings + len(sym) + 1] = sym.encode() + b"\0"
        strings += len(sym) + 1
    ref_size = ms.sizeof(ws, "module_ref")
    for i, dep in enumerate(deps):
        img[DEPS + i * ref_size : DEPS + (i + 1) * ref_size] = ms.build(ws, "module_ref", dep=dep)
    fields = {
        "name": m.at(NAME),
        "init": m.at(INIT),
        "cleanup": m.at(CLEANUP),
        "syms": m.at(SYMS),
        "deps": m.at(DEPS) if deps else 0,
        "ndeps": len(deps),
    }
    if m.kind == "new":
        fields["syms_end"] = m.at(SYMS + len(exports) * ms.sizeof(ws, "module_symbol"))
        fields.update(header or {})
        raw = ms.build_module_new(ws, fields)
    else:
        fields.update(size_of_struct=ms.sizeof_module(ws), size=m.size, nsyms=len(exports))
        fields.update(header or {})
        raw = ms.build_module(ws, fields)
    img[: len(raw)] = raw
    return img


class FakeRunner:
    """Stands in for machine.run_function: entry address -> behaviour."""

    def __init__(self) -> None:
        self.behaviours: dict[int, Callable[[list[Any], Any], int]] = {}
        self.calls: list[tuple[int, list[str]]] = []

    def __call__(self, arch: str, modules: list[Any], runtime: Any, entry: int, args=()) -> int:
        self.calls.append((entry, [m.name for m in modules]))
        runtime.log = []
        action = self.behaviours.get(entry)
        return 0 if action is None else action(modules, runtime)


def poke(modules: list[Any], base: int, field: str, delta: int = 0, bits: int = 0) -> None:
    """What MOD_INC_USE_COUNT does: change a header field in the module's own memory."""
    mod = next(m for m in modules if m.base == base)
    f = ms.layout(8 if base > 1 << 32 else 4, "module").field(field)
    size = 4 if f.kind == "atomic" else f.size
    raw = mod.memory[f.offset : f.offset + size]
    value = int.from_bytes(raw, "little", signed=True) + delta | bits
    mod.memory[f.offset : f.offset + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(
        size, "little"
    )


def backend(tmp_path: Path, arch: str = "i386", variant: str = "patched", **kw: Any) -> SimBackend:
    return SimBackend(str(tmp_path / "state"), arch, variant, **kw)


def load(
    be: SimBackend, name: str, kind: str, size: int = SIZE, **kw: Any
) -> tuple[Mod, bytearray]:
    base = be.create_module(name, size)
    m = Mod(be.word_size, base, size, kind)
    img = build_image(m, name, **kw)
    be.init_module(name, bytes(img))
    return m, img


def snapshot(be: SimBackend) -> tuple[Any, str]:
    return be.modules(), be.proc_modules()


# ----------------------------------------------------------------------- the errno table

# (id, header kinds it applies to, header overrides for a module, expected errno); each row
# runs on both arches, "new" rows on the patched kernel, "legacy" rows on both kernels


def hdr(**fields: Callable[[Mod], int]) -> Callable[[Mod], dict[str, int]]:
    return lambda m: {k: f(m) for k, f in fields.items()}


BOTH, NEW, LEGACY = ("new", "legacy"), ("new",), ("legacy",)
INIT_ROWS: list[tuple[str, tuple[str, ...], Callable[[Mod], dict[str, int]], int]] = [
    # 4: size_of_struct outside [offsetof(persist_start), sizeof + 16 words]
    (
        "sos-below-persist_start",
        LEGACY,
        hdr(size_of_struct=lambda m: ms.offsetof(m.ws, "persist_start") - 1),
        errno.EINVAL,
    ),
    (
        "sos-above-slop",
        LEGACY,
        hdr(size_of_struct=lambda m: ms.sizeof_module(m.ws) + 16 * m.ws + 1),
        errno.EINVAL,
    ),
    # 6: size larger than created
    ("size-larger-than-created", LEGACY, hdr(size=lambda m: m.size + 1), errno.EINVAL),
    # 7: name outside [m + size_of_struct, m + size)
    ("name-below-body", LEGACY, hdr(name=lambda m: m.at(8)), errno.EINVAL),
    ("name-past-end", BOTH, hdr(name=lambda m: m.at(m.size - 2)), errno.EINVAL),
    ("name-null", BOTH, hdr(name=lambda m: 0), errno.EINVAL),
    # 8: syms (pointer arithmetic in module_symbol elements)
    (
        "syms-past-end",
        LEGACY,
        hdr(nsyms=lambda m: 1, syms=lambda m: m.at(m.size - m.ws)),
        errno.EINVAL,
    ),
    (
        "syms-end-past-end",
        NEW,
        hdr(syms_end=lambda m: m.at(m.size + 2 * m.ws)),
        errno.EINVAL,
    ),
    # 9: deps
    (
        "deps-past-end",
        BOTH,
        hdr(ndeps=lambda m: 2, deps=lambda m: m.at(m.size - 3 * m.ws)),
        errno.EINVAL,
    ),
    # 10, 11: init / cleanup
    ("init-past-end", BOTH, hdr(init=lambda m: m.at(m.size + 1)), errno.EINVAL),
    (
        "init-in-kernel",
        BOTH,
        hdr(init=lambda m: 0xC0100000 if m.ws == 4 else 0xFFFFFFFF81000000),
        errno.EINVAL,
    ),
    ("cleanup-past-end", BOTH, hdr(cleanup=lambda m: m.at(m.size + 1)), errno.EINVAL),
    ("cleanup-in-header", LEGACY, hdr(cleanup=lambda m: m.at(4)), errno.EINVAL),
    # 12: exception table
    (
        "ex-table-start-after-end",
        BOTH,
        hdr(ex_table_start=lambda m: m.at(0x610), ex_table_end=lambda m: m.at(0x600)),
        errno.EINVAL,
    ),
    (
        "ex-table-end-at-size",  # strict "<" for the end
        BOTH,
        hdr(ex_table_start=lambda m: m.at(m.size - 8), ex_table_end=lambda m: m.at(m.size)),
        errno.EINVAL,
    ),
    (
        "ex-table-misaligned",
        BOTH,
        hdr(ex_table_start=lambda m: m.at(0x600), ex_table_end=lambda m: m.at(0x604)),
        errno.EINVAL,
    ),
    (
        "ex-table-in-header",
        LEGACY,
        hdr(ex_table_start=lambda m: m.at(0), ex_table_end=lambda m: m.at(0x10)),
        errno.EINVAL,
    ),
    # 13: flags
    ("flags-running", BOTH, hdr(flags=lambda m: ms.MOD_RUNNING), errno.EINVAL),
    ("flags-used-once", BOTH, hdr(flags=lambda m: ms.MOD_USED_ONCE), errno.EINVAL),
    # 14-17: optional members (present only when size_of_struct says so)
    ("can-unload-past-end", LEGACY, hdr(can_unload=lambda m: m.at(m.size + 4)), errno.EINVAL),
    (
        "kallsyms-past-end",
        LEGACY,
        hdr(kallsyms_start=lambda m: m.at(0x600), kallsyms_end=lambda m: m.at(m.size + 1)),
        errno.EINVAL,
    ),
    (
        "kallsyms-start-after-end",
        LEGACY,
        hdr(kallsyms_start=lambda m: m.at(0x700), kallsyms_end=lambda m: 0),
        errno.EINVAL,
    ),
    (
        "archdata-past-end",
        LEGACY,
        hdr(archdata_start=lambda m: m.at(0x600), archdata_end=lambda m: m.at(m.size + 1)),
        errno.EINVAL,
    ),
    (
        "archdata-start-after-end",
        LEGACY,
        hdr(archdata_start=lambda m: m.at(0x700), archdata_end=lambda m: m.at(0x600)),
        errno.EINVAL,
    ),
    ("kernel-data-nonzero", LEGACY, hdr(kernel_data=lambda m: m.at(0x600)), errno.EINVAL),
    # 22: dependencies
    ("self-dependency", BOTH, lambda m: {"ndeps": 1, "deps": m.at(0x600)}, errno.EINVAL),
    ("missing-dependency", BOTH, lambda m: {"ndeps": 1, "deps": m.at(0x620)}, errno.EINVAL),
]


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize(("kind", "variant"), [("new", "patched"), ("legacy", "unpatched")])
def test_dependency_on_the_kernel_itself_loads_as_in_24(
    tmp_path: Path, arch: str, kind: str, variant: str
) -> None:
    # 2.4's scan of module_list stops at &kernel_module, which then equals the dependency:
    # the real 2.4.37.11 kernel accepts it (tests/test_real_hostile.py)
    be = backend(tmp_path, arch, variant)
    base = be.create_module("victim", SIZE)
    m = Mod(be.word_size, base, SIZE, kind)
    img = build_image(m, "victim", header={"ndeps": 1, "deps": m.at(0x640)})
    _fill_dep_tables(m, img)
    be.init_module("victim", bytes(img))
    (info,) = be.modules()
    assert info.flags == ms.MOD_RUNNING and info.deps == ("",) and info.refs == ()
    assert be.proc_modules() == f"{'victim':<20}{SIZE:>8}   0 (unused)\n"
    be.delete_module("victim")
    assert be.modules() == []


def _fill_dep_tables(m: Mod, img: bytearray) -> None:
    """deps entries for the dependency rows: self, a non-module, &kernel_module."""
    ws = m.ws
    kernel_module = services.kernel_map("i386" if ws == 4 else "x86_64").kernel_module
    for off, dep in ((0x600, m.base), (0x620, m.at(0x100000)), (0x640, kernel_module)):
        img[off : off + 3 * ws] = ms.build(ws, "module_ref", dep=dep)


def _cases() -> list[Any]:
    out = []
    for arch in ARCHES:
        for rid, kinds, fields, err in INIT_ROWS:
            for kind in kinds:
                variants = ("patched",) if kind == "new" else ("patched", "unpatched")
                for variant in variants:
                    out.append(
                        pytest.param(
                            arch, kind, variant, fields, err, id=f"{arch}-{kind}-{variant}-{rid}"
                        )
                    )
    return out


@pytest.mark.parametrize(("arch", "kind", "variant", "fields", "err"), _cases())
def test_init_module_check_fails_with_errno_and_changes_nothing(
    tmp_path: Path, arch: str, kind: str, variant: str, fields: Any, err: int
) -> None:
    be = backend(tmp_path, arch, variant)
    load(be, "other", "legacy")  # a bystander that must not change either
    base = be.create_module("victim", SIZE)
    m = Mod(be.word_size, base, SIZE, kind)
    img = build_image(m, "victim", header=fields(m))
    _fill_dep_tables(m, img)
    before = snapshot(be)
    with pytest.raises(KernelError) as info:
        be.init_module("victim", bytes(img))
    assert info.value.errno == err, str(info.value)
    assert info.value.call == "init_module"
    assert snapshot(be) == before
    # the module is still the created one: a correct image loads afterwards
    be.init_module("victim", bytes(build_image(m, "victim")))
    assert be.modules()[0].flags & ms.MOD_RUNNING


@pytest.mark.parametrize(("arch", "loads"), [("i386", True), ("x86_64", True)])
def test_negative_nsyms_wraps_mod_bound(tmp_path: Path, arch: str, loads: bool):
    # syms_end < syms: nsyms = (unsigned)-2.  On i386 syms + nsyms (32-bit pointer
    # arithmetic) wraps to syms - 16; on x86_64 the module area is so close to the top of
    # the address space that syms + 16 * 0xfffffffe wraps too: 2.4 + Zippel accepted both
    be = backend(tmp_path, arch)
    base = be.create_module("wrap", SIZE)
    m = Mod(be.word_size, base, SIZE, "new")
    img = build_image(m, "wrap", header={"syms_end": m.at(SYMS - 2 * m.ws)})
    if loads:
        be.init_module("wrap", bytes(img))
        assert be.modules()[0].flags == ms.MOD_RUNNING
    else:
        with pytest.raises(KernelError, match="syms out of bounds"):
            be.init_module("wrap", bytes(img))


@pytest.mark.parametrize("arch", ARCHES)
def test_check_failure_logs_the_24_printk(tmp_path: Path, arch: str) -> None:
    be = backend(tmp_path, arch)
    base = be.create_module("victim", SIZE)
    m = Mod(be.word_size, base, SIZE, "legacy")
    with pytest.raises(KernelError, match="mod->name out of bounds"):
        be.init_module("victim", bytes(build_image(m, "victim", header={"name": m.at(4)})))
    assert be.dmesg()[-1] == "<3>init_module: mod->name out of bounds."


# ----------------------------------------------------------------------- other init errnos


@pytest.mark.parametrize("arch", ARCHES)
def test_struct_module_new_on_unpatched_kernel_is_a_bad_header_size(tmp_path: Path, arch: str):
    be = backend(tmp_path, arch, "unpatched")
    base = be.create_module("hello", SIZE)
    before = snapshot(be)
    with pytest.raises(KernelError) as info:
        be.init_module("hello", bytes(build_image(Mod(be.word_size, base, SIZE, "new"), "hello")))
    assert info.value.errno == errno.EINVAL and "header size" in str(info.value)
    assert snapshot(be) == before
    assert "<3>init_module: Invalid module header size." in be.dmesg()


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("variant", ["patched", "unpatched"])
def test_legacy_name_mismatch_is_einval(tmp_path: Path, arch: str, variant: str) -> None:
    be = backend(tmp_path, arch, variant)
    base = be.create_module("hello", SIZE)
    before = snapshot(be)
    img = build_image(Mod(be.word_size, base, SIZE, "legacy"), "hellO")
    with pytest.raises(KernelError, match="changed module name") as info:
        be.init_module("hello", bytes(img))
    assert info.value.errno == errno.EINVAL
    assert snapshot(be) == before


@pytest.mark.parametrize("arch", ARCHES)
def test_patched_kernel_skips_the_name_check_for_module_new(tmp_path: Path, arch: str) -> None:
    # Zippel: with size_of_struct == 0 the name is not compared; mod->name is the image's
    be = backend(tmp_path, arch)
    base = be.create_module("hello", SIZE)
    be.init_module("hello", bytes(build_image(Mod(be.word_size, base, SIZE, "new"), "hellO")))
    assert [i.name for i in be.modules()] == ["hellO"]


@pytest.mark.parametrize("arch", ARCHES)
def test_module_new_does_not_check_optional_members(tmp_path: Path, arch: str) -> None:
    # size_of_struct == 0: mod_member_present() is false for can_unload, kallsyms, kernel_data
    be = backend(tmp_path, arch)
    base = be.create_module("hello", SIZE)
    m = Mod(be.word_size, base, SIZE, "new")
    junk = {"can_unload": 1, "kallsyms_start": 5, "kallsyms_end": 1, "kernel_data": 7}
    be.init_module("hello", bytes(build_image(m, "hello", header=junk)))
    assert be.modules()[0].flags == ms.MOD_RUNNING


@pytest.mark.parametrize("arch", ARCHES)
def test_init_module_plain_errnos(tmp_path: Path, arch: str) -> None:
    be = backend(tmp_path, arch)
    with pytest.raises(KernelError) as info:
        be.init_module("ghost", b"\0" * 200)
    assert info.value.errno == errno.ENOENT
    base = be.create_module("hello", SIZE)
    before = snapshot(be)
    with pytest.raises(KernelError) as info:
        be.init_module("hello", b"\0\0")  # get_user(size_of_struct) faults
    assert info.value.errno == errno.EFAULT
    m = Mod(be.word_size, base, SIZE, "legacy")
    with pytest.raises(KernelError) as info:  # copy_from_user of mod->size bytes faults
        be.init_module("hello", bytes(build_image(m, "hello"))[: SIZE // 2])
    assert info.value.errno == errno.EFAULT
    with pytest.raises(KernelError) as info:
        be.init_module("", bytes(build_image(m, "hello")))
    assert info.value.errno == errno.EINVAL
    with pytest.raises(KernelError) as info:
        be.init_module("x" * 4096, bytes(build_image(m, "hello")))
    assert info.value.errno == errno.ENAMETOOLONG
    assert snapshot(be) == before


# ----------------------------------------------------------------------- create / delete


@pytest.mark.parametrize("arch", ARCHES)
def test_create_module_errnos_and_placement(tmp_path: Path, arch: str) -> None:
    be = backend(tmp_path, arch)
    sizeof = ms.sizeof_module(be.word_size)
    start = services.kernel_map(arch).module_area[0]
    cases = [
        (("", 4096), errno.EINVAL),
        (("n" * 4096, 8192), errno.ENAMETOOLONG),
        (("abc", sizeof + 3), errno.EINVAL),  # 3: smaller than struct module + name + NUL
        (("abc", 0x7FFFFFFF), errno.ENOMEM),
        (("abc", -1), errno.ENOMEM),  # size_t: huge
    ]
    for (name, size), err in cases:
        with pytest.raises(KernelError) as info:
            be.create_module(name, size)
        assert info.value.errno == err, (name[:8], size)
    assert be.modules() == []
    a = be.create_module("abc", sizeof + 4)  # exactly struct module + name + NUL: fine
    assert a == start
    with pytest.raises(KernelError) as info:
        be.create_module("abc", 4096)
    assert info.value.errno == errno.EEXIST
    b = be.create_module("b", 5000)  # after "abc"'s page (and on i386 its guard page)
    assert b == start + 4096 + by_name(arch).sim_kernel.module_guard
    be.delete_module("abc")
    assert be.create_module("c", 4096) == start  # first fit reuses the hole
    assert be.proc_modules().splitlines()[0] == "c                       4096 (uninitialized)"


@pytest.mark.parametrize("call", ["create", "init", "delete"])
def test_unprivileged_caller_gets_eperm(tmp_path: Path, call: str) -> None:
    root = backend(tmp_path)
    base = root.create_module("hello", SIZE)
    user = backend(tmp_path, privileged=False)
    before = snapshot(root)
    img = bytes(build_image(Mod(4, base, SIZE, "new"), "hello"))
    action = {
        "create": lambda: user.create_module("x", SIZE),
        "init": lambda: user.init_module("hello", img),
        "delete": lambda: user.delete_module("hello"),
    }[call]
    with pytest.raises(KernelError) as info:
        action()
    assert info.value.errno == errno.EPERM
    assert snapshot(root) == before
    assert user.query_module("hello", ms.QM_INFO, 64)[1] == 16  # query needs no capability


@pytest.mark.parametrize("arch", ARCHES)
def test_delete_module_errnos(tmp_path: Path, arch: str) -> None:
    runner = FakeRunner()
    be = backend(tmp_path, arch, runner=runner)
    with pytest.raises(KernelError) as info:
        be.delete_module("ghost")
    assert info.value.errno == errno.ENOENT
    with pytest.raises(KernelError) as info:
        be.delete_module("")
    assert info.value.errno == errno.EINVAL
    # MOD_INC_USE_COUNT in init: usecount stays 1 after init's own reference is dropped
    base = be.create_module("busy", SIZE)
    m = Mod(be.word_size, base, SIZE, "new")

    def inc_use_count(mods: list[Any], rt: Any) -> int:
        poke(mods, base, "usecount", +1)
        poke(mods, base, "flags", bits=ms.MOD_VISITED | ms.MOD_USED_ONCE)
        return 0

    runner.behaviours[m.at(INIT)] = inc_use_count
    be.init_module("busy", bytes(build_image(m, "busy")))
    assert be.modules()[0].usecount == 1
    assert be.proc_modules() == f"busy{' ' * 16}{SIZE:8d}   1\n"
    before = snapshot(be)
    with pytest.raises(KernelError) as info:
        be.delete_module("busy")
    assert info.value.errno == errno.EBUSY
    assert snapshot(be) == before
    # MOD_DEC_USE_COUNT later (e.g. a close()): now it goes, and cleanup runs
    runner.behaviours[m.at(CLEANUP)] = lambda mods, rt: 0
    be._call(lambda k: k.modules[0].set("usecount", 0))  # the module's own decrement
    be.delete_module("busy")
    assert be.modules() == []
    assert runner.calls[-1][0] == m.at(CLEANUP)


@pytest.mark.parametrize("arch", ARCHES)
def test_can_unload_decides_in_use(tmp_path: Path, arch: str) -> None:
    runner = FakeRunner()
    be = backend(tmp_path, arch, runner=runner)
    base = be.create_module("cu", SIZE)
    m = Mod(be.word_size, base, SIZE, "legacy")
    be.init_module("cu", bytes(build_image(m, "cu", header={"can_unload": m.at(CAN_UNLOAD)})))
    assert be.proc_modules() == f"cu{' ' * 18}{SIZE:8d}  -1 (unused)\n"
    assert be.modules()[0].extra["can_unload"] is True
    runner.behaviours[m.at(CAN_UNLOAD)] = lambda mods, rt: 1
    with pytest.raises(KernelError) as info:
        be.delete_module("cu")
    assert info.value.errno == errno.EBUSY
    runner.behaviours[m.at(CAN_UNLOAD)] = lambda mods, rt: 0
    be.delete_module("cu")
    assert be.modules() == []


# ----------------------------------------------------------------------- both header paths


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize(
    ("kind", "variant", "loads"),
    [
        ("new", "patched", True),
        ("new", "unpatched", False),
        ("legacy", "patched", True),
        ("legacy", "unpatched", True),
    ],
)
def test_header_kinds_against_kernel_variants(
    tmp_path: Path, arch: str, kind: str, variant: str, loads: bool
) -> None:
    be = backend(tmp_path, arch, variant)
    exports = (("alpha", DATA), ("beta", DATA + 4))
    base = be.create_module("hello", SIZE)
    img = build_image(Mod(be.word_size, base, SIZE, kind), "hello", exports=exports)
    if not loads:
        with pytest.raises(KernelError) as info:
            be.init_module("hello", bytes(img))
        assert info.value.errno == errno.EINVAL
        return
    be.init_module("hello", bytes(img))
    (info,) = be.modules()
    assert (info.name, info.base, info.size, info.flags, info.usecount) == (
        "hello",
        base,
        SIZE,
        ms.MOD_RUNNING,
        0,
    )
    # nsyms from syms_end - syms (new) or from the header (legacy): same exports either way
    syms = be.kernel_symbols()
    assert syms.lookup("alpha").value == base + DATA
    assert syms.lookup("alpha").module == "hello"
    assert syms.lookup("printk").module is None
    width = 2 * be.word_size
    assert be.proc_ksyms().startswith(
        f"{base + DATA:0{width}x} alpha\t[hello]\n{base + DATA + 4:0{width}x} beta\t[hello]\n"
    )
    data, count = be.query_module("hello", ms.QM_SYMBOLS, 4096)
    ws = be.word_size
    assert count == 2
    assert ms.unpack_word(ws, data, 0) == base + DATA
    off = ms.unpack_word(ws, data, ws)
    assert off == 4 * ws and data[off : off + 6] == b"alpha\0"


@pytest.mark.parametrize("arch", ARCHES)
def test_legacy_size_smaller_than_created_keeps_header_size(tmp_path: Path, arch: str) -> None:
    be = backend(tmp_path, arch)
    base = be.create_module("hello", 2 * SIZE)
    m = Mod(be.word_size, base, 2 * SIZE, "legacy")
    img = build_image(m, "hello", header={"size": SIZE})
    be.init_module("hello", bytes(img[:SIZE]))  # only mod->size bytes are copied
    assert be.modules()[0].size == SIZE


# ----------------------------------------------------------------------- running code


@pytest.mark.parametrize("arch", ARCHES)
def test_init_error_return_leaves_uninitialized_module(tmp_path: Path, arch: str) -> None:
    be = backend(tmp_path, arch)  # the real emulator
    base = be.create_module("neg", SIZE)
    m = Mod(be.word_size, base, SIZE, "new")
    mov_eax_minus5 = b"\xb8\xfb\xff\xff\xff\xc3"
    with pytest.raises(KernelError) as info:
        be.init_module("neg", bytes(build_image(m, "neg", code={INIT: mov_eax_minus5})))
    assert info.value.errno == errno.EIO
    (mod,) = be.modules()
    assert (mod.flags, mod.usecount) == (0, 0)
    assert be.proc_modules().endswith(" (uninitialized)\n")
    be.delete_module("neg")  # what insmod does next
    # positive return: "buggy module" -> EBUSY
    base = be.create_module("pos", SIZE)
    m = Mod(be.word_size, base, SIZE, "new")
    with pytest.raises(KernelError) as info:
        be.init_module("pos", bytes(build_image(m, "pos", code={INIT: b"\xb8\x03\0\0\0\xc3"})))
    assert info.value.errno == errno.EBUSY


@pytest.mark.parametrize("arch", ARCHES)
def test_oops_in_init_leaves_the_module_initializing(tmp_path: Path, arch: str) -> None:
    # as the real 2.4.37.11 kernel: the oops kills the caller inside sys_init_module, the
    # module stays with usecount 1 and MOD_INITIALIZING, and cannot be removed
    be = backend(tmp_path, arch)
    load(be, "bystander", "new")
    base = be.create_module("crash", SIZE)
    m = Mod(be.word_size, base, SIZE, "new")
    with pytest.raises(LoadError) as info:
        be.init_module("crash", bytes(build_image(m, "crash", code={INIT: b"\x0f\x0b"})))  # ud2
    assert not isinstance(info.value, KernelError)
    assert str(info.value).startswith("Oops")
    crash, bystander = be.modules()
    assert (crash.name, crash.usecount, crash.flags) == ("crash", 1, ms.MOD_INITIALIZING)
    assert bystander.name == "bystander"
    assert be.proc_modules().splitlines()[0] == f"crash{' ' * 15}{SIZE:8d} (initializing)"
    assert be.dmesg()[-1] == f"<1>{info.value}"
    with pytest.raises(KernelError) as busy:
        be.delete_module("crash")
    assert busy.value.errno == errno.EBUSY


@pytest.mark.parametrize("arch", ARCHES)
def test_printk_from_init_goes_to_dmesg(tmp_path: Path, arch: str) -> None:
    be = backend(tmp_path, arch)
    base = be.create_module("hello", SIZE)
    m = Mod(be.word_size, base, SIZE, "new")
    printk = services.kernel_exports(arch)["printk"]
    text = m.at(0x700)
    if arch == "i386":  # push $text; call printk; add $4,%esp; xor %eax,%eax; ret
        call_at = INIT + 5
        code = b"\x68" + text.to_bytes(4, "little") + b"\xe8"
    else:  # movabs $text,%rdi; call printk; xor %eax,%eax; ret
        call_at = INIT + 10
        code = b"\x48\xbf" + text.to_bytes(8, "little") + b"\xe8"
    rel = (printk - m.at(call_at + 5)) & 0xFFFFFFFF
    code += rel.to_bytes(4, "little")
    code += (b"\x83\xc4\x04" if arch == "i386" else b"") + XOR_EAX_RET
    img = build_image(m, "hello", code={INIT: code, 0x700: b"<6>Hello, world\n\0"})
    be.clear_dmesg()
    be.init_module("hello", bytes(img))
    assert be.dmesg() == ["<6>Hello, world"]
    be.clear_dmesg()
    assert be.dmesg() == []


@pytest.mark.parametrize("arch", ARCHES)
def test_user_module_calls_into_its_exporter(tmp_path: Path, arch: str) -> None:
    be = backend(tmp_path, arch)
    ws = be.word_size
    # exporter: counter() { counter_var++; return 0; } with counter_var at DATA
    base_a = be.create_module("exporter", SIZE)
    a = Mod(ws, base_a, SIZE, "new")
    var = a.at(DATA)
    if arch == "i386":
        inc = b"\xff\x05" + var.to_bytes(4, "little")  # incl var
    else:
        inc = b"\x48\xb8" + var.to_bytes(8, "little") + b"\xff\x00"  # movabs; incl (%rax)
    be.init_module(
        "exporter",
        bytes(
            build_image(
                a, "exporter", exports=(("counter", 0x240),), code={0x240: inc + XOR_EAX_RET}
            )
        ),
    )
    target = be.kernel_symbols().lookup("counter").value
    base_b = be.create_module("user", SIZE)
    b = Mod(ws, base_b, SIZE, "new")
    call = b"\xe8" + ((target - b.at(INIT + 5)) & 0xFFFFFFFF).to_bytes(4, "little") + b"\xc3"
    be.init_module("user", bytes(build_image(b, "user", deps=(base_a,), code={INIT: call})))
    counter = be._call(lambda k: k.space.read_word(var), write=False)
    assert counter & 0xFFFFFFFF == 1


# ----------------------------------------------------------------------- stacking


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("kind", ["new", "legacy"])
def test_stacking_exporter_refused_while_user_loaded(tmp_path: Path, arch: str, kind: str) -> None:
    be = backend(tmp_path, arch)
    a, _ = load(be, "exporter", kind, exports=(("shared_fn", INIT),))
    load(be, "user", kind, deps=(a.base,))
    info = {i.name: i for i in be.modules()}
    assert info["exporter"].refs == ("user",) and info["user"].deps == ("exporter",)
    assert info["exporter"].flags & ms.MOD_USED_ONCE  # being referenced counts as a use
    assert be.proc_modules().splitlines() == [
        f"user{' ' * 16}{SIZE:8d}   0 (unused)",
        f"exporter{' ' * 12}{SIZE:8d}   0 [user]",
    ]
    assert be.query_module("exporter", ms.QM_REFS, 64) == (b"user\0", 1)
    assert be.query_module("user", ms.QM_DEPS, 64) == (b"exporter\0", 1)
    before = snapshot(be)
    with pytest.raises(KernelError) as err:
        be.delete_module("exporter")
    assert err.value.errno == errno.EBUSY and "used by user" in str(err.value)
    assert snapshot(be) == before
    be.delete_module("user")
    assert be.modules()[0].refs == ()
    be.delete_module("exporter")
    assert be.modules() == []


@pytest.mark.parametrize("arch", ARCHES)
def test_deleted_exporter_is_a_missing_dependency(tmp_path: Path, arch: str) -> None:
    be = backend(tmp_path, arch)
    a, _ = load(be, "exporter", "new")
    base = be.create_module("user", SIZE)
    be.delete_module("exporter")
    b = Mod(be.word_size, base, SIZE, "new")
    with pytest.raises(KernelError, match="no longer"):
        be.init_module("user", bytes(build_image(b, "user", deps=(a.base,))))


def test_refs_chain_with_two_users(tmp_path: Path) -> None:
    be = backend(tmp_path)
    a, _ = load(be, "lib", "new")
    load(be, "u1", "new", deps=(a.base,))
    load(be, "u2", "new", deps=(a.base,))
    assert be.proc_modules().splitlines()[-1].endswith("[u2 u1]")
    be.delete_module("u2")  # unlink from the head of the chain
    assert be.modules()[-1].refs == ("u1",)
    load(be, "u3", "new", deps=(a.base,))
    be.delete_module("u1")  # unlink from the tail
    assert be.modules()[-1].refs == ("u3",)


# ----------------------------------------------------------------------- autoclean


@pytest.mark.parametrize("arch", ARCHES)
def test_autoclean_reaping_gives_a_second_chance(tmp_path: Path, arch: str) -> None:
    runner = FakeRunner()
    be = backend(tmp_path, arch, runner=runner)
    used = ms.MOD_VISITED | ms.MOD_USED_ONCE
    # "used": MOD_INC_USE_COUNT + MOD_DEC_USE_COUNT happened during init
    base = be.create_module("used", SIZE)
    m = Mod(be.word_size, base, SIZE, "legacy")
    runner.behaviours[m.at(INIT)] = lambda mods, rt: poke(mods, base, "flags", bits=used) or 0
    be.init_module("used", bytes(build_image(m, "used", header={"flags": ms.MOD_AUTOCLEAN})))
    # "never": autoclean but never used: kmod keeps it
    load(be, "never", "legacy", header={"flags": ms.MOD_AUTOCLEAN})
    # "plain": not autoclean
    load(be, "plain", "legacy")
    assert "(autoclean)" in be.proc_modules()
    be.delete_module(None)  # pass 1: VISITED cleared only
    names = [i.name for i in be.modules()]
    assert names == ["plain", "never", "used"]
    assert not be.modules()[-1].flags & ms.MOD_VISITED
    be.delete_module(None)  # pass 2: reaped
    assert [i.name for i in be.modules()] == ["plain", "never"]
    assert runner.calls[-1][0] == m.at(CLEANUP)


def test_autoclean_reaps_an_exporter_freed_in_the_same_pass(tmp_path: Path) -> None:
    be = backend(tmp_path)
    a, _ = load(be, "lib", "new", header={"flags": ms.MOD_AUTOCLEAN})
    # user: autoclean, used once but not visited -> reaped at once, lib gets JUST_FREED
    base = be.create_module("user", SIZE)
    b = Mod(4, base, SIZE, "new")
    be.init_module("user", bytes(build_image(b, "user", deps=(a.base,), header={"flags": 4})))
    be._call(lambda k: k.modules[0].set("flags", k.modules[0].get("flags") | ms.MOD_USED_ONCE))
    be.delete_module(None)
    assert be.modules() == []


# ----------------------------------------------------------------------- query_module / ksyms


@pytest.mark.parametrize("arch", ARCHES)
def test_query_module_protocol(tmp_path: Path, arch: str) -> None:
    be = backend(tmp_path, arch)
    ws = be.word_size
    m, _ = load(be, "alpha", "new", exports=(("a_sym", DATA),))
    be.create_module("beta", SIZE)
    assert be.query_module(None, 0, 0) == (b"", 0)  # "new interface present"
    assert be.query_module(None, ms.QM_MODULES, 100) == (b"beta\0alpha\0", 2)
    with pytest.raises(QueryBufferTooSmall) as small:
        be.query_module(None, ms.QM_MODULES, 5)
    assert small.value.errno == errno.ENOSPC and small.value.ret == 11
    for which in (ms.QM_DEPS, ms.QM_REFS, ms.QM_INFO):
        with pytest.raises(KernelError) as info:
            be.query_module(None, which, 100)
        assert info.value.errno == errno.EINVAL
    with pytest.raises(KernelError) as info:
        be.query_module("alpha", 99, 100)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(KernelError) as info:
        be.query_module("ghost", ms.QM_INFO, 100)
    assert info.value.errno == errno.ENOENT
    data, ret = be.query_module("alpha", ms.QM_INFO, 100)
    assert ret == 4 * ws and ms.parse(ws, "module_info", data) == {
        "addr": m.base,
        "size": SIZE,
        "flags": ms.MOD_RUNNING,
        "usecount": 0,
    }
    with pytest.raises(QueryBufferTooSmall) as small:
        be.query_module("alpha", ms.QM_INFO, 4 * ws - 1)
    assert small.value.ret == 4 * ws
    # an uninitialized module cannot be queried: *ret = 0
    assert be.query_module("beta", ms.QM_SYMBOLS, 100) == (b"", 0)
    with pytest.raises(QueryBufferTooSmall) as small:
        be.query_module("alpha", ms.QM_SYMBOLS, 10)
    assert small.value.ret == 2 * ws + len("a_sym") + 1
    _, kcount = be.query_module(None, ms.QM_SYMBOLS, 1 << 16)
    assert kcount == len(services.kernel_exports(arch))


@pytest.mark.parametrize("arch", ARCHES)
def test_get_kernel_syms(tmp_path: Path, arch: str) -> None:
    be = backend(tmp_path, arch)
    m, _ = load(be, "alpha", "new", exports=(("a_sym", DATA), ("b" * 70, DATA)))
    be.create_module("beta", SIZE)  # not queryable: no entries, but counted
    table = be.get_kernel_syms()
    assert table[:3] == [(m.base, "#alpha"), (m.base + DATA, "a_sym"), (m.base + DATA, "b" * 59)]
    assert table[3][1] == "#"
    kernel = len(services.kernel_exports(arch))
    assert len(table) == 3 + 1 + kernel
    assert be.get_kernel_syms_count() == (2 + 1) + (0 + 1) + (kernel + 1)


# ----------------------------------------------------------------------- persistence, locking


@pytest.mark.parametrize("arch", ARCHES)
def test_state_persists_across_backend_instances(tmp_path: Path, arch: str) -> None:
    first = backend(tmp_path, arch)
    m, _ = load(first, "keep", "new", exports=(("kept_sym", DATA),))
    base = first.create_module("second", SIZE)
    m2 = Mod(first.word_size, base, SIZE, "new")
    text = Region(m2.at(0x200), 0x100, "text")
    info = ImageInfo(regions=(text,), symbols=((m2.at(INIT), "init_module"),))
    first.init_module("second", bytes(build_image(m2, "second")), info)
    first.close()
    again = backend(tmp_path, arch)
    assert [i.name for i in again.modules()] == ["second", "keep"]
    assert again.kernel_symbols().lookup("kept_sym").value == m.at(DATA)
    assert again.modules()[1].base == m.base
    assert again._call(lambda k: k.modules[0].regions, write=False) == (text,)
    again.delete_module("keep")
    assert [i.name for i in backend(tmp_path, arch).modules()] == ["second"]
    other_arch = backend(tmp_path, "x86_64" if arch == "i386" else "i386")
    assert other_arch.modules() == []  # one database per architecture
    again.reset()
    assert backend(tmp_path, arch).modules() == []


def test_state_directory_is_private(tmp_path: Path) -> None:
    be = backend(tmp_path)
    be.modules()
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700


def test_state_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYINSMOD_STATE", str(tmp_path / "env"))
    assert SimBackend().state_path == str(tmp_path / "env" / "kernel-i386.sqlite3")
    monkeypatch.delenv("PYINSMOD_STATE")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert SimBackend(arch="x86_64").state_path.endswith("xdg/pyinsmod/kernel-x86_64.sqlite3")


def test_locked_state_is_one_clear_error(tmp_path: Path) -> None:
    be = backend(tmp_path, lock_timeout=0.2)
    be.modules()
    holder = sqlite3.connect(be.state_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(LoadError, match="locked by another process"):
            be.create_module("x", SIZE)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    be.create_module("x", SIZE)


def test_corrupt_state_is_one_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "kernel-i386.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(LoadError, match="unreadable"):
        backend(tmp_path).modules()


def test_chrdevs_come_from_the_runtime(tmp_path: Path) -> None:
    assert (1, "mem", None) in backend(tmp_path).chrdevs()


def test_bad_variant_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SimBackend(str(tmp_path), "i386", "vanilla")


def _open_files_under(directory: Path) -> list[str]:
    paths = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the fd listdir itself used is gone
            path = os.readlink(f"/proc/self/fd/{fd}")
            if path.startswith(str(directory)):
                paths.append(path)
    return paths


def test_a_dropped_backend_closes_its_state_at_once(tmp_path: Path) -> None:
    """No connection may outlive its store: a sqlite3.Connection is only freed by the
    cyclic GC, and one still open at a fork() breaks SQLite's locking in the child
    (the once-flaky concurrency test below)."""
    backend(tmp_path).create_module("x", SIZE)
    assert _open_files_under(tmp_path) == []


def test_a_backend_dropped_in_another_thread_closes_its_state(tmp_path: Path) -> None:
    """The GC may finalize a store in any thread; SQLite must let it close there."""
    holder = [backend(tmp_path)]
    holder[0].create_module("x", SIZE)
    worker = threading.Thread(target=holder.clear)  # the last reference dies in the thread
    worker.start()
    worker.join()
    assert _open_files_under(tmp_path) == []


def _worker(state_dir: str, worker: int, rounds: int) -> None:
    be = SimBackend(state_dir, "i386")
    for j in range(rounds):
        name = f"w{worker}_{j}"
        base = be.create_module(name, SIZE)
        m = Mod(4, base, SIZE, "new")
        be.init_module(name, bytes(build_image(m, name, header={"init": 0, "cleanup": 0})))
        if j % 2:
            be.delete_module(name)


def test_concurrent_processes_keep_the_state_consistent(tmp_path: Path) -> None:
    state_dir = str(tmp_path / "state")
    backend(tmp_path).modules()  # create the database first
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(state_dir, w, 6)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    mods = backend(tmp_path).modules()
    assert sorted(i.name for i in mods) == sorted(f"w{w}_{j}" for w in range(4) for j in (0, 2, 4))
    assert len({i.base for i in mods}) == len(mods)
    assert all(i.flags == ms.MOD_RUNNING for i in mods)
