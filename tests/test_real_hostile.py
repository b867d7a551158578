"""The hostile-image table against the real 2.4.37.11 kernel: every sys_init_module check.

Each row of tests/test_hostile_images.py (which includes the errno table of
tests/test_sim_syscalls.py) runs on the real kernel under qemu and on the simulated
one, with a bystander module loaded: the errno (0 when it loads), /proc/modules
afterwards and the kernel's own log lines of the call must be the same.  Where they
differ the real kernel is right.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest
from test_hostile_images import _cases
from test_sim_syscalls import SIZE, Mod, backend, build_image, load

from insmod_py import modstruct as ms
from insmod_py.backends.sim import services
from insmod_py.errors import KernelError

_KERNEL_MODULE: dict[tuple[str, str], int] = {}


def _kernel_module(be: Any) -> int:
    """&kernel_module of the kernel ``be`` is: System.map's for a real one."""
    if hasattr(be, "vm"):
        from support.realkernel import kernel_address

        key = (be.arch, be.variant)
        if key not in _KERNEL_MODULE:
            _KERNEL_MODULE[key] = kernel_address(be.arch, be.variant, "kernel_module")
        return _KERNEL_MODULE[key]
    return services.kernel_map(be.arch).kernel_module


def fill_dep_tables(be: Any, m: Mod, img: bytearray) -> None:
    """deps entries for the dependency rows: self, a non-module, &kernel_module."""
    for off, dep in ((0x600, m.base), (0x620, m.at(0x100000)), (0x640, _kernel_module(be))):
        img[off : off + 3 * m.ws] = ms.build(m.ws, "module_ref", dep=dep)


def run_row(be: Any, kind: str, fields: Any) -> tuple[int, str, list[str]]:
    """(errno or 0, /proc/modules after, the log lines the call added)."""
    load(be, "other", "legacy", exports=(("other_sym", 0x600),))
    base = be.create_module("victim", SIZE)
    m = Mod(be.word_size, base, SIZE, kind)
    img = build_image(m, "victim", header=fields(m))
    fill_dep_tables(be, m, img)
    before = be.dmesg()
    try:
        be.init_module("victim", bytes(img))
        err = 0
    except KernelError as exc:
        err = exc.errno
    after = be.dmesg()
    assert after[: len(before)] == before
    return err, be.proc_modules(), after[len(before) :]


@pytest.mark.parametrize(("arch", "kind", "variant", "fields", "err"), _cases())
def test_hostile_row_real_kernel_agrees(
    real_kernels: Any, tmp_path: Path, arch: str, kind: str, variant: str, fields: Any, err: int
) -> None:
    real = run_row(real_kernels.get(arch, variant), kind, fields)
    sim = run_row(backend(tmp_path, arch, variant), kind, fields)
    assert sim == real
    assert real[0] == err, errno.errorcode.get(real[0], real[0])


# ----------------------------------------------------------------------- the other checks


class Recorder:
    """What a scenario saw: each call's result or errno, /proc/modules and new log lines."""

    def __init__(self, be: Any) -> None:
        self.be = be
        self.seen: list[tuple[str, Any]] = []
        self._log = len(be.dmesg())

    def call(self, label: str, fn: Any) -> Any:
        try:
            result = fn()
        except KernelError as exc:
            self.seen.append((label, errno.errorcode.get(exc.errno, exc.errno)))
            return None
        self.seen.append((label, "ok"))
        return result

    def note(self, label: str, value: Any) -> None:
        self.seen.append((label, value))

    def state(self, label: str) -> None:
        log = self.be.dmesg()
        self.seen.append((label, (self.be.proc_modules(), log[self._log :])))
        self._log = len(log)


def _modules(be: Any) -> list[tuple[Any, ...]]:
    return [(m.name, m.size, m.flags, m.usecount, m.refs, m.deps) for m in be.modules()]


def sc_plain_errnos(be: Any, rec: Recorder) -> None:
    rec.call("init ghost", lambda: be.init_module("ghost", b"\0" * 200))
    base = be.create_module("hello", SIZE)
    m = Mod(be.word_size, base, SIZE, "legacy")
    rec.call("image of 2 bytes", lambda: be.init_module("hello", b"\0\0"))
    image = bytes(build_image(m, "hello"))
    rec.call("image shorter than size", lambda: be.init_module("hello", image[: SIZE // 2]))
    rec.call("empty name", lambda: be.init_module("", image))
    rec.call("name of 4096", lambda: be.init_module("x" * 4096, image))
    rec.call("delete ghost", lambda: be.delete_module("ghost"))
    rec.call("delete empty name", lambda: be.delete_module(""))
    rec.state("after")
    rec.call("name changed", lambda: be.init_module("hello", bytes(build_image(m, "hellO"))))
    rec.state("after name change")


def sc_create_module(be: Any, rec: Recorder) -> None:
    sizeof = ms.sizeof_module(be.word_size)
    for name, size in (("", 4096), ("n" * 4096, 8192), ("abc", sizeof + 3), ("abc", 0x7FFFFFFF)):
        rec.call(f"create {name[:8]!r} {size}", lambda: be.create_module(name, size))  # noqa: B023
    a = rec.call("create exact", lambda: be.create_module("abc", sizeof + 4))
    rec.call("create again", lambda: be.create_module("abc", 4096))
    b = rec.call("create second", lambda: be.create_module("b", 5000))
    rec.note("second module's offset", b - a)
    be.delete_module("abc")
    rec.note("first fit", be.create_module("c", 4096) - a)
    rec.state("after")
    rec.note("modules", _modules(be))


def sc_init_returns(be: Any, rec: Recorder) -> None:
    for name, code in (("neg", b"\xb8\xfb\xff\xff\xff\xc3"), ("pos", b"\xb8\x03\0\0\0\xc3")):
        base = be.create_module(name, SIZE)
        m = Mod(be.word_size, base, SIZE, "new" if be.variant == "patched" else "legacy")
        image = bytes(build_image(m, name, code={0x200: code}))
        rec.call(f"init {name}", lambda: be.init_module(name, image))  # noqa: B023
        rec.state(f"after {name}")
        rec.note("modules", _modules(be))


def sc_new_header(be: Any, rec: Recorder) -> None:
    base = be.create_module("hello", SIZE)
    m = Mod(be.word_size, base, SIZE, "new")
    junk = {"can_unload": 1, "kallsyms_start": 5, "kallsyms_end": 1, "kernel_data": 7}
    rec.call("module_new, junk members", lambda: be.init_module("hello", bytes(build_image(
        m, "hellO", header=junk))))  # fmt: skip
    rec.state("after")
    rec.note("modules", _modules(be))


def sc_name_without_nul(be: Any, rec: Recorder) -> None:
    base = be.create_module("victim", SIZE)
    m = Mod(be.word_size, base, SIZE, "legacy")
    img = build_image(m, "victim", header={"name": m.at(SIZE - 6)})
    img[SIZE - 6 :] = b"victim"
    rec.call("name without NUL", lambda: be.init_module("victim", bytes(img)))
    rec.state("after")


def sc_module_new_name_off_the_end(be: Any, rec: Recorder) -> None:
    base = be.create_module("victim", SIZE)
    m = Mod(be.word_size, base, SIZE, "new")
    img = build_image(m, "victim", header={"name": m.at(SIZE - 6)})
    img[SIZE - 6 :] = b"victim"
    rec.call("module_new name without NUL", lambda: be.init_module("victim", bytes(img)))
    rec.state("after")


def sc_dependencies(be: Any, rec: Recorder) -> None:
    kind = "new" if be.variant == "patched" else "legacy"
    other, _ = load(be, "other", "legacy", exports=(("o_sym", 0x600),))
    base = be.create_module("victim", SIZE)
    m = Mod(be.word_size, base, SIZE, kind)
    img = build_image(m, "victim", deps=(other.at(0x10),))
    rec.call("dependency inside a module", lambda: be.init_module("victim", bytes(img)))
    rec.state("after")
    img = build_image(m, "victim", header={"ndeps": 1, "deps": m.at(0x640)})
    fill_dep_tables(be, m, img)
    rec.call("dependency on the kernel", lambda: be.init_module("victim", bytes(img)))
    rec.state("after kernel dep")
    rec.note("modules", _modules(be))
    rec.call("delete it", lambda: be.delete_module("victim"))
    # overlapping syms and deps: the kernel's ref/next_ref stores land in the symbol table
    base = be.create_module("user", SIZE)
    u = Mod(be.word_size, base, SIZE, "legacy")
    img = build_image(u, "user", exports=(("u_sym", 0x600),), deps=(other.base,))
    header = ms.build_module(u.ws, {
        "size_of_struct": ms.sizeof_module(u.ws), "size": SIZE, "name": u.at(0x300),
        "nsyms": 1, "syms": u.at(0x400), "ndeps": 1, "deps": u.at(0x400),
    })  # fmt: skip
    img[0x400 : 0x400 + 3 * u.ws] = ms.build(u.ws, "module_ref", dep=other.base)
    img[: len(header)] = header
    rec.call("overlapping syms and deps", lambda: be.init_module("user", bytes(img)))
    rec.note("modules", _modules(be))
    rec.call("delete what is used", lambda: be.delete_module("other"))
    rec.state("after overlap")


def sc_long_header(be: Any, rec: Recorder) -> None:
    # size_of_struct may exceed sizeof(struct module) by up to 16 words; the longer header
    # then overwrites the created name in the module, which check 18 must not compare with
    sos = ms.sizeof_module(be.word_size) + 8 * be.word_size
    base = be.create_module("victim", SIZE)
    m = Mod(be.word_size, base, SIZE, "legacy")
    img = build_image(m, "victim", header={"size_of_struct": sos})
    img[ms.sizeof_module(be.word_size) : sos] = b"\xa5" * (8 * be.word_size)
    rec.call("header longer than struct module", lambda: be.init_module("victim", bytes(img)))
    rec.state("after")
    rec.note("modules", _modules(be))


def sc_persist(be: Any, rec: Recorder) -> None:
    top = (1 << (8 * be.word_size)) - 16
    base = be.create_module("p", SIZE)
    m = Mod(be.word_size, base, SIZE, "legacy")
    img = build_image(m, "p", header={"persist_start": top, "persist_end": 16})
    rec.call("persist pointers anywhere", lambda: be.init_module("p", bytes(img)))
    rec.state("after")


def sc_queries(be: Any, rec: Recorder) -> None:
    from insmod_py.backends.sim import QueryBufferTooSmall

    ws = be.word_size

    def query(label: str, name: str | None, which: int, size: int) -> None:
        try:
            data, count = be.query_module(name, which, size)
        except QueryBufferTooSmall as exc:
            rec.note(label, ("ENOSPC", exc.ret))
            return
        except KernelError as exc:
            rec.note(label, errno.errorcode[exc.errno])
            return
        if which == ms.QM_INFO:
            info = ms.parse(ws, "module_info", data[: 4 * ws])
            info["addr"] -= m.base
            rec.note(label, (info, count))
        elif which == ms.QM_SYMBOLS:
            values = [int.from_bytes(data[i * ws : i * ws + ws], "little") for i in range(count)]
            rec.note(label, (count, values[::2] and [v - m.base for v in values[::2]]))
        else:
            rec.note(label, (data.split(b"\0")[:count], count))

    m, _ = load(be, "alpha", "new" if be.variant == "patched" else "legacy",
                exports=(("a_sym", 0x800), ("b" * 70, 0x800)))  # fmt: skip
    be.create_module("beta", SIZE)
    query("probe", None, 0, 0)
    query("modules", None, ms.QM_MODULES, 100)
    query("modules, small", None, ms.QM_MODULES, 5)
    for which in (ms.QM_DEPS, ms.QM_REFS, ms.QM_INFO):
        query(f"kernel {which}", None, which, 100)
    query("unknown query", "alpha", 99, 100)
    query("ghost", "ghost", ms.QM_INFO, 100)
    query("info", "alpha", ms.QM_INFO, 100)
    query("info, small", "alpha", ms.QM_INFO, 4 * ws - 1)
    query("uninitialized symbols", "beta", ms.QM_SYMBOLS, 100)
    query("symbols", "alpha", ms.QM_SYMBOLS, 1000)
    query("symbols, small", "alpha", ms.QM_SYMBOLS, 10)
    query("deps", "alpha", ms.QM_DEPS, 100)
    table = be.get_kernel_syms()
    marker = [n for _, n in table].index("#")
    rec.note("get_kernel_syms, modules", [(v - m.base, n) for v, n in table[:marker]])
    rec.note("count less the kernel's", be.get_kernel_syms_count() - (len(table) - marker))


SCENARIOS = {
    f.__name__[3:]: f
    for f in (
        sc_plain_errnos, sc_create_module, sc_init_returns, sc_new_header, sc_name_without_nul,
        sc_module_new_name_off_the_end,
        sc_dependencies, sc_long_header, sc_persist, sc_queries,
    )
}  # fmt: skip
SCENARIO_CASES = [
    pytest.param(arch, variant, name, id=f"{arch}-{variant}-{name}")
    for arch in ("i386", "x86_64")
    for variant in ("unpatched", "patched")
    for name in SCENARIOS
    if not (name in ("new_header", "module_new_name_off_the_end") and variant == "unpatched")
]


@pytest.mark.parametrize(("arch", "variant", "name"), SCENARIO_CASES)
def test_scenario_real_kernel_agrees(
    request: pytest.FixtureRequest, real_kernels: Any, tmp_path: Path, arch: str, variant: str,
    name: str,
) -> None:  # fmt: skip
    real_be = real_kernels.get(arch, variant)
    real = Recorder(real_be)
    SCENARIOS[name](real_be, real)
    sim_be = backend(tmp_path, arch, variant)
    sim = Recorder(sim_be)
    SCENARIOS[name](sim_be, sim)
    assert sim.seen == real.seen
