"""The ``syscall`` backend: the real kernel's answer, and the 2.4 protocol against a fake kernel."""

from __future__ import annotations

import ctypes
import errno as E
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from insmod_py.arch import MACHINES, X86_64, by_name
from insmod_py.backends import syscall as sc
from insmod_py.backends.factory import open_backend
from insmod_py.backends.syscall import NoLegacySyscalls, SyscallBackend
from insmod_py.elf import ElfObject
from insmod_py.errors import KernelError, LoadError
from insmod_py.ksyms import KernelSymbol, SymbolTable
from insmod_py.loader import load
from insmod_py.modstruct import QM_DEPS, QM_INFO, QM_MODULES, QM_REFS, QM_SYMBOLS

ALL_CAPS = (1 << 41) - 1
NAMES = {m.name: {nr: name for name, nr in m.syscall_numbers.items()} for m in MACHINES}

TINY_C = r"""
extern int printk(const char *fmt, ...);
int tiny_count = 3;
int init_module(void) { return printk("tiny %d\n", tiny_count); }
void cleanup_module(void) { printk("bye\n"); }
"""
CFLAGS = {
    "i386": ["-m32", "-O2", "-fno-pic", "-ffreestanding", "-fno-common"],
    "x86_64": [
        "-m64", "-O2", "-mcmodel=kernel", "-fno-pic", "-ffreestanding", "-fno-common",
        "-mno-red-zone", "-fno-asynchronous-unwind-tables",
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ElfObject]:
    """tiny.o for both architectures, built with gcc (skipped without a multilib gcc)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    out = tmp_path_factory.mktemp("tiny")
    src = out / "tiny.c"
    src.write_text(TINY_C)
    objs = {}
    for arch, flags in CFLAGS.items():
        obj = out / f"tiny-{arch}.o"
        run = subprocess.run(
            ["gcc", *flags, "-c", str(src), "-o", str(obj)], capture_output=True, text=True
        )
        if run.returncode:
            pytest.skip(f"gcc cannot build {arch} objects: {run.stderr.strip()[:200]}")
        objs[arch] = ElfObject(obj.read_bytes(), str(obj))
    return objs


def kernel_table(arch: str) -> SymbolTable:
    return SymbolTable([KernelSymbol("printk", by_name(arch).sim_kernel.stub_base)])


# -- a fake 2.4 kernel behind the injected syscall function ------------------------------------


class FakeKernel:
    """Answers the five legacy calls like 2.4's kernel/module.c, and records every call.

    ``fail`` maps a syscall name to an errno it returns (-1 and errno, as libc does).
    """

    def __init__(self, arch: str = "i386", base: int = 0xC8800000) -> None:
        self.arch = arch
        self.word = by_name(arch).word_size
        self.base = base
        self.calls: list[tuple[Any, ...]] = []
        self.fail: dict[str, int] = {}
        self.modules: dict[str, dict[str, Any]] = {}  # newest first when listed
        self.kernel_syms: list[tuple[int, str]] = [(0xC0100000, "printk")]
        self.images: dict[str, bytes] = {}

    def __call__(self, nr: int, *args: Any) -> int:
        name = NAMES[self.arch][nr]
        self.calls.append((name, *self._record(name, args)))
        if name in self.fail:
            return self._error(self.fail[name])
        return getattr(self, name)(*args)

    @staticmethod
    def _record(name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
        if name == "query_module":
            return (args[0] and args[0].decode(), args[1])
        if name in ("create_module", "delete_module"):
            return (args[0] and args[0].decode(), *args[1:])
        if name == "init_module":
            return (args[0].decode(), len(args[1]))
        return args

    @staticmethod
    def _error(err: int) -> int:
        ctypes.set_errno(err)
        return -1

    def _signed(self, value: int) -> int:
        """What a C long return holds: kernel addresses look negative."""
        bits = 8 * self.word
        return value - (1 << bits) if value >> (bits - 1) else value

    def create_module(self, name: bytes, size: int) -> int:
        if name.decode() in self.modules:
            return self._error(E.EEXIST)
        self.modules[name.decode()] = {"size": size, "base": self.base, "flags": 0, "refs": ()}
        return self._signed(self.base)

    def init_module(self, name: bytes, image: bytes) -> int:
        if name.decode() not in self.modules:
            return self._error(E.ENOENT)
        self.images[name.decode()] = image
        self.modules[name.decode()]["flags"] = 1
        return 0

    def delete_module(self, name: bytes | None) -> int:
        if name is not None and self.modules.pop(name.decode(), None) is None:
            return self._error(E.ENOENT)
        return 0

    def query_module(self, name: bytes | None, which: int, buf: Any, size: int, ret: Any) -> int:
        if which == 0:
            return 0
        mod = None if name is None else self.modules.get(name.decode())
        if name is not None and mod is None:
            return self._error(E.ENOENT)
        w = self.word
        count = 0
        if which == QM_MODULES:
            names = list(self.modules)[::-1]
            data, count = b"".join(n.encode() + b"\0" for n in names), len(names)
        elif which in (QM_REFS, QM_DEPS):
            names = list(mod["refs" if which == QM_REFS else "deps"]) if mod else []
            data, count = b"".join(n.encode() + b"\0" for n in names), len(names)
        elif which == QM_INFO:
            fields = (mod["base"], mod["size"], mod["flags"])
            usecount = mod.get("usecount", 0) & ((1 << 8 * w) - 1)
            data = b"".join(v.to_bytes(w, "little") for v in (*fields, usecount))
            count = len(data)
        elif which == QM_SYMBOLS:
            syms = mod["syms"] if mod else self.kernel_syms
            strings = b"".join(s.encode() + b"\0" for _, s in syms)
            table, offset = b"", 2 * w * len(syms)
            for value, sym in syms:
                table += value.to_bytes(w, "little") + offset.to_bytes(w, "little")
                offset += len(sym) + 1
            data, count = table + strings, len(syms)
        else:
            return self._error(E.EINVAL)
        if len(data) > size:  # 2.4's protocol: ENOSPC, *ret = bytes needed
            ret.contents.value = len(data)
            return self._error(E.ENOSPC)
        ctypes.memmove(buf, data, len(data))
        ret.contents.value = count
        return 0

    def get_kernel_syms(self, table: Any) -> int:
        entries = [(m["base"], f"#{n}") for n, m in self.modules.items()]
        entries += [(0, "#"), *self.kernel_syms]
        if table is not None:
            raw = b"".join(
                v.to_bytes(self.word, "little") + s.encode().ljust(60, b"\0") for v, s in entries
            )
            ctypes.memmove(table, raw, len(raw))
        return len(entries)


def backend(kernel: FakeKernel, caps: int = ALL_CAPS, **kw: Any) -> SyscallBackend:
    return SyscallBackend(kernel.arch, syscall=kernel, capabilities=lambda: caps, **kw)


# -- the real running kernel -----------------------------------------------------------------

real_x86_64 = pytest.mark.skipif(
    sc.host_arch() != "x86_64" or platform.system() != "Linux",
    reason="needs a 64-bit x86_64 Linux process",
)


class Spy:
    """Wraps libc's syscall(2), recording the numbers called."""

    def __init__(self) -> None:
        self.real = sc._libc_syscall()
        self.numbers: list[int] = []

    def __call__(self, nr: int, *args: Any) -> int:
        self.numbers.append(nr)
        return self.real(nr, *args)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    """Every real syscall the backend makes goes through the spy (the arch check stays on)."""
    spy = Spy()
    monkeypatch.setattr(sc, "_libc_syscall", lambda: spy)
    return spy


def _seccomp_mode() -> str:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Seccomp:"):
            return line.split(":", 1)[1].strip()
    return "?"


@real_x86_64
def test_real_kernel_answers_enosys_to_create_module() -> None:
    """Measured on this machine (6.18, root, no seccomp): create_module(2) is ENOSYS."""
    if _seccomp_mode() != "0":
        pytest.skip("a seccomp filter decides the answer here, not the kernel")
    call = sc._libc_syscall()
    for name in ("create_module", "query_module", "get_kernel_syms"):
        ctypes.set_errno(0)
        nr = X86_64.syscall_numbers[name]
        args = {"create_module": (b"probe", 4096), "query_module": (None, 0, None, 0, None)}
        ret = call(nr, *args.get(name, (None,)))
        assert (name, ret, ctypes.get_errno()) == (name, -1, E.ENOSYS)


@real_x86_64
def test_real_create_module_is_one_clear_line(spy: Spy) -> None:
    if _seccomp_mode() != "0":
        pytest.skip("a seccomp filter decides the answer here, not the kernel")
    be = SyscallBackend("x86_64", capabilities=lambda: ALL_CAPS)
    with pytest.raises(NoLegacySyscalls) as info:
        be.create_module("probe", 4096)
    release = os.uname().release
    assert str(info.value) == (
        f"create_module: Function not implemented: this kernel ({release}) has no 2.4 module "
        "syscalls; use --backend sim"
    )
    assert info.value.errno == E.ENOSYS and "\n" not in str(info.value)
    assert spy.numbers == [174]


@real_x86_64
def test_real_kernel_never_reaches_modern_init_or_delete(spy: Spy) -> None:
    """175/176 are the modern init_module/delete_module: only the query_module probe runs."""
    if _seccomp_mode() != "0":
        pytest.skip("a seccomp filter decides the answer here, not the kernel")
    be = SyscallBackend("x86_64", capabilities=lambda: ALL_CAPS)
    with pytest.raises(NoLegacySyscalls, match=r"^init_module: not called \(query_module"):
        be.init_module("probe", b"\0" * 184)
    with pytest.raises(NoLegacySyscalls, match=r"^delete_module: not called"):
        be.delete_module("probe")
    with pytest.raises(NoLegacySyscalls, match=r"^delete_module: not called"):
        be.delete_module(None)
    assert spy.numbers == [178, 178, 178]


@real_x86_64
def test_real_load_fails_cleanly_without_modern_init(spy: Spy, tiny: dict[str, ElfObject]) -> None:
    if _seccomp_mode() != "0":
        pytest.skip("a seccomp filter decides the answer here, not the kernel")
    be = open_backend("syscall", arch="x86_64")
    with pytest.raises(NoLegacySyscalls, match=r"has no 2\.4 module syscalls; use --backend sim"):
        load(tiny["x86_64"], be, name="tiny", symbols=kernel_table("x86_64"))
    with pytest.raises(NoLegacySyscalls, match=r"^query_module: Function not implemented"):
        be.kernel_symbols()
    with pytest.raises(NoLegacySyscalls):
        be.modules()
    assert spy.numbers and 175 not in spy.numbers and 176 not in spy.numbers


@real_x86_64
def test_i386_module_from_a_64_bit_process_calls_nothing(spy: Spy) -> None:
    be = SyscallBackend("i386", capabilities=lambda: ALL_CAPS)
    for action in (lambda: be.create_module("tiny", 4096), be.modules, be.kernel_symbols):
        with pytest.raises(LoadError, match="cannot load an i386 module from a 64-bit x86_64"):
            action()
    assert spy.numbers == []


def test_x86_64_module_from_a_32_bit_process_is_refused(spy: Spy) -> None:
    be = SyscallBackend("x86_64", native_arch="i386", capabilities=lambda: ALL_CAPS)
    with pytest.raises(LoadError, match="x86_64 module from a 32-bit i386 process"):
        be.create_module("tiny", 4096)
    assert spy.numbers == []


def test_effective_capabilities_reads_capeff() -> None:
    status = Path("/proc/self/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("CapEff:"))
    assert sc.effective_capabilities() == int(line.split()[1], 16)


# -- the 2.4 protocol against the fake kernel --------------------------------------------------


@pytest.mark.parametrize("arch", ["i386", "x86_64"])
def test_successful_load_call_sequence(arch: str, tiny: dict[str, ElfObject]) -> None:
    base = 0xC8800000 if arch == "i386" else 0xFFFFFFFFA0000000
    kernel = FakeKernel(arch, base)
    linked = load(tiny[arch], backend(kernel), name="tiny", symbols=kernel_table(arch))
    assert kernel.calls == [
        ("query_module", None, QM_MODULES),  # the loader's modules(): names of loaded modules
        ("create_module", "tiny", linked.size),
        ("init_module", "tiny", linked.size),
    ]
    assert linked.base == base
    assert kernel.images["tiny"] == linked.image
    word = by_name(arch).word_size
    assert int.from_bytes(linked.image[:word], "little") == {4: 96, 8: 184}[word]  # legacy header


def test_failed_init_deletes_the_created_module(tiny: dict[str, ElfObject]) -> None:
    kernel = FakeKernel("i386")
    kernel.fail["init_module"] = E.EBUSY  # init() returned > 0: 2.4 maps it to EBUSY
    with pytest.raises(KernelError) as info:
        load(tiny["i386"], backend(kernel), name="tiny", symbols=kernel_table("i386"))
    assert info.value.reason == "init_module: Device or resource busy"  # + file, if attached
    assert [c[0] for c in kernel.calls] == [
        "query_module",
        "create_module",
        "init_module",
        "delete_module",
    ]
    assert kernel.calls[-1] == ("delete_module", "tiny")
    assert "tiny" not in kernel.modules


def test_failed_create_is_not_deleted(tiny: dict[str, ElfObject]) -> None:
    kernel = FakeKernel("i386")
    kernel.modules["tiny"] = {"size": 100, "base": 0xC8000000, "flags": 1, "refs": (), "deps": ()}
    with pytest.raises(KernelError, match=r"create_module: File exists$"):
        load(tiny["i386"], backend(kernel), name="tiny", symbols=kernel_table("i386"))
    assert [c[0] for c in kernel.calls if c[0] != "query_module"] == ["create_module"]


@pytest.mark.parametrize(
    ("call", "err", "text"),
    [
        ("create_module", E.EEXIST, "create_module: File exists"),
        ("create_module", E.ENOMEM, "create_module: Cannot allocate memory"),
        ("create_module", E.EINVAL, "create_module: Invalid argument"),
        ("create_module", E.EFAULT, "create_module: Bad address"),
        ("create_module", E.EPERM, "create_module: Operation not permitted"),
        ("init_module", E.ENOENT, "init_module: No such file or directory"),
        ("init_module", E.EINVAL, "init_module: Invalid argument"),
        ("init_module", E.EBUSY, "init_module: Device or resource busy"),
        ("init_module", E.ENODEV, "init_module: No such device"),
        ("delete_module", E.EBUSY, "delete_module: Device or resource busy"),
        ("delete_module", E.ENOENT, "delete_module: No such file or directory"),
        ("delete_module", E.EPERM, "delete_module: Operation not permitted"),
    ],
)
def test_errno_mapping(call: str, err: int, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sc, "_status_field", lambda name: "0")  # no seccomp hint for EPERM
    kernel = FakeKernel("i386")
    kernel.fail[call] = err
    be = backend(kernel)
    actions = {
        "create_module": lambda: be.create_module("tiny", 4096),
        "init_module": lambda: be.init_module("tiny", b"\0" * 96),
        "delete_module": lambda: be.delete_module("tiny"),
    }
    with pytest.raises(KernelError) as info:
        actions[call]()
    assert (str(info.value), info.value.call, info.value.errno) == (text, call, err)


def test_eperm_with_the_capability_names_seccomp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sc, "_status_field", lambda name: "2")
    kernel = FakeKernel("x86_64")
    kernel.fail["create_module"] = E.EPERM
    with pytest.raises(KernelError, match=r"a seccomp filter \(mode 2\) refuses it"):
        backend(kernel).create_module("tiny", 4096)


@pytest.mark.parametrize(
    ("arch", "raw", "errno_", "address"),
    [
        ("i386", -0x37800000, 0, 0xC8800000),  # 0xc8800000 as a 32-bit long
        ("i386", 0x00800000, 0, 0x00800000),
        ("x86_64", -0x60000000, 0, 0xFFFFFFFFA0000000),  # 0xffffffffa0000000
        ("i386", -1, 2048, 0xFFFFF800),  # libc misread the top page as -errno: modutils' fixup
        ("i386", -1, 0, 0xFFFFFFFF),  # -1 without errno is an address (ret == -1 && errno)
    ],
)
def test_negative_looking_addresses(arch: str, raw: int, errno_: int, address: int) -> None:
    def fake(nr: int, *args: Any) -> int:
        ctypes.set_errno(errno_)
        return raw

    be = SyscallBackend(arch, syscall=fake, capabilities=lambda: ALL_CAPS)
    assert be.create_module("tiny", 4096) == address


def test_missing_capability_calls_nothing() -> None:
    kernel = FakeKernel("i386")
    be = backend(kernel, caps=ALL_CAPS & ~(1 << 16))
    for call, action in (
        ("create_module", lambda: be.create_module("tiny", 4096)),
        ("init_module", lambda: be.init_module("tiny", b"")),
        ("delete_module", lambda: be.delete_module("tiny")),
    ):
        with pytest.raises(LoadError) as info:
            action()
        assert str(info.value) == f"{call}: need CAP_SYS_MODULE (run as root)"
    assert kernel.calls == []
    assert backend(kernel, caps=1 << 16).create_module("tiny", 4096) == 0xC8800000


def test_init_without_create_probes_the_legacy_interface() -> None:
    kernel = FakeKernel("i386")
    kernel.modules["tiny"] = {"size": 96, "base": 0xC8800000, "flags": 0, "refs": ()}
    backend(kernel).init_module("tiny", b"\0" * 96)
    assert kernel.calls == [("query_module", None, 0), ("init_module", "tiny", 96)]


def test_no_legacy_interface_means_no_init_call() -> None:
    kernel = FakeKernel("x86_64")
    kernel.fail["query_module"] = E.ENOSYS
    be = backend(kernel, release="6.1.0")
    with pytest.raises(NoLegacySyscalls) as info:
        be.init_module("tiny", b"\0" * 184)
    assert str(info.value) == (
        "init_module: not called (query_module: Function not implemented): this kernel "
        "(6.1.0) has no 2.4 module syscalls; use --backend sim"
    )
    assert [c[0] for c in kernel.calls] == ["query_module"]


def test_modules_from_query_module_with_enospc_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sc, "_QUERY_START", 4)  # force the ENOSPC protocol
    kernel = FakeKernel("i386")
    kernel.modules["exporter"] = {
        "size": 2000, "base": 0xC8800000, "flags": 1, "usecount": 1,
        "refs": ("user",), "deps": (),
    }  # fmt: skip
    kernel.modules["user"] = {
        "size": 900, "base": 0xC8900000, "flags": 1 | 4, "usecount": -1,
        "refs": (), "deps": ("exporter",),
    }  # fmt: skip
    mods = backend(kernel).modules()
    assert [(m.name, m.base, m.size, m.flags, m.usecount, m.refs, m.deps) for m in mods] == [
        ("user", 0xC8900000, 900, 5, -1, (), ("exporter",)),
        ("exporter", 0xC8800000, 2000, 1, 1, ("user",), ()),
    ]
    assert ("query_module", None, QM_MODULES) in kernel.calls


def test_kernel_symbols_from_query_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sc, "_QUERY_START", 8)
    kernel = FakeKernel("x86_64")
    kernel.kernel_syms = [(0xFFFFFFFF81000000, "printk_R1b7d4074"), (0xFFFFFFFF81000100, "kfree")]
    kernel.modules["exporter"] = {
        "size": 2000, "base": 0xFFFFFFFFA0000000, "flags": 1, "refs": (),
        "syms": [(0xFFFFFFFFA0000100, "exported_fn")],
    }  # fmt: skip
    table = backend(kernel).kernel_symbols()
    assert table.lookup("printk").value == 0xFFFFFFFF81000000
    assert table.lookup("kfree").module is None
    assert table.lookup("exported_fn") == KernelSymbol(
        "exported_fn", 0xFFFFFFFFA0000100, "exporter"
    )
    assert len(table) == 3


def test_kernel_symbols_fall_back_to_proc_ksyms(tmp_path: Path) -> None:
    ksyms = tmp_path / "ksyms"
    ksyms.write_text("c0100000 printk_R1b7d4074\nc8800100 hello_fn\t[hello]\n")
    kernel = FakeKernel("i386")
    kernel.fail["query_module"] = E.ENOSYS
    table = backend(kernel, ksyms_path=str(ksyms)).kernel_symbols()
    assert table.lookup("printk").value == 0xC0100000
    assert table.lookup("hello_fn").module == "hello"


def test_kernel_symbols_fall_back_to_get_kernel_syms(tmp_path: Path) -> None:
    kernel = FakeKernel("i386")
    kernel.fail["query_module"] = E.ENOSYS  # a 2.0 kernel: only get_kernel_syms
    kernel.modules["hello"] = {"size": 96, "base": 0xC8800000, "flags": 1, "refs": ()}
    be = backend(kernel, ksyms_path=str(tmp_path / "none"))
    table = be.kernel_symbols()
    assert [(s.name, s.value, s.module) for s in table] == [("printk", 0xC0100000, None)]


def test_kernel_symbols_on_a_modern_kernel_say_so(tmp_path: Path) -> None:
    kernel = FakeKernel("x86_64")
    kernel.fail["query_module"] = kernel.fail["get_kernel_syms"] = E.ENOSYS
    be = backend(kernel, ksyms_path=str(tmp_path / "none"), release="6.18.0")
    with pytest.raises(NoLegacySyscalls, match=r"^query_module: .*\(6\.18\.0\) has no 2\.4"):
        be.kernel_symbols()


def test_unknown_arch_is_refused() -> None:
    with pytest.raises(LoadError, match="unsupported architecture 'arm'"):
        SyscallBackend("arm")
