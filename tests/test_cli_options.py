"""modutils 2.4 insmod options on ``pyinsmod load``, each through a real subprocess.

Plus lsmod -v / taint header, rmmod -a, --arch auto-pick, --help examples and
shell completion.  Every process gets a private PYINSMOD_STATE.
"""

from __future__ import annotations

import fcntl
import time
from pathlib import Path

import pytest
from support import objects
from support.clirun import Pyinsmod

MISMATCH = (
    "kernel-module version mismatch: {path} was compiled for kernel version 2.4.37.10 "
    "while this kernel is version 2.4.37.11"
)


@pytest.fixture
def k(built: Path, tmp_path: Path) -> Pyinsmod:
    return Pyinsmod(tmp_path / "state", built / "i386" / "examples")


def patched(k: Pyinsmod, tmp_path: Path, name: str, old: bytes, new: bytes) -> str:
    """A copy of an example with one .modinfo string changed (same length)."""
    data = Path(k.obj(name)).read_bytes()
    assert len(old) == len(new) and old in data
    out = tmp_path / name
    out.write_bytes(data.replace(old, new))
    return str(out)


def old_kernel_module(k: Pyinsmod, tmp_path: Path) -> str:
    return patched(k, tmp_path, "hello.o", b"kernel_version=2.4.37.11", b"kernel_version=2.4.37.10")


# -- -f / version check ----------------------------------------------------------------------
def test_version_mismatch_is_refused_without_force(k: Pyinsmod, tmp_path: Path) -> None:
    path = old_kernel_module(k, tmp_path)
    assert k.fails(path) == "pyinsmod: " + MISMATCH.format(path=path)
    assert k.modules() == []


def test_force_loads_with_a_warning_and_taints_f(k: Pyinsmod, tmp_path: Path) -> None:
    path = old_kernel_module(k, tmp_path)
    proc = k.run("-f", path)
    assert proc.stderr == "pyinsmod: Warning: " + MISMATCH.format(path=path) + "\n"
    assert k.modules() == ["hello"]
    assert k.lsmod().splitlines()[0].endswith("Tainted: GF")


def test_module_without_kernel_version_is_refused_even_with_force(
    k: Pyinsmod, tmp_path: Path
) -> None:
    """modutils refused it before looking at -f, in -n and -p as well."""
    path = patched(k, tmp_path, "hello.o", b"kernel_version=", b"xernel_version=")
    reason = f"pyinsmod: {path}: couldn't find the kernel version the module was compiled for"
    for args in ([], ["-f"], ["-n"], ["-p"]):
        assert k.fails(*args, path).startswith(reason), args
    assert k.modules() == []


def test_quiet_hides_the_warning(k: Pyinsmod, tmp_path: Path) -> None:
    proc = k.run("-f", "-q", old_kernel_module(k, tmp_path))
    assert proc.stderr == ""


def test_quiet_still_reports_errors_in_one_line(k: Pyinsmod, tmp_path: Path) -> None:
    assert "version mismatch" in k.fails("-q", old_kernel_module(k, tmp_path))


def test_ksyms_file_version_hint_is_checked(k: Pyinsmod, tmp_path: Path) -> None:
    ksyms = tmp_path / "ksyms"
    ksyms.write_text("# UTS_RELEASE 2.4.18\nc0100000 printk\n")
    line = k.fails("-n", "--ksyms", str(ksyms), k.obj("hello.o"))
    assert "was compiled for kernel version 2.4.37.11 while this kernel is version 2.4.18" in line
    ksyms.write_text("# Linux version 2.4.37.11 (gcc version 2.95.4)\nc0100000 printk\n")
    assert k.run("-n", "--ksyms", str(ksyms), k.obj("hello.o")).stderr == ""


def test_ksyms_file_without_version_skips_the_check_and_says_so(
    k: Pyinsmod, tmp_path: Path
) -> None:
    ksyms = tmp_path / "ksyms"
    ksyms.write_text("c0100000 printk\n")
    path = old_kernel_module(k, tmp_path)
    assert k.run("-n", "--ksyms", str(ksyms), path).stderr == ""
    verbose = k.run("-n", "-v", "--ksyms", str(ksyms), path).stderr
    assert f"{ksyms} names no kernel version: version of {path} not checked" in verbose


# -- license taint ---------------------------------------------------------------------------
def test_gpl_module_does_not_taint(k: Pyinsmod) -> None:
    assert k.run(k.obj("hello.o")).stderr == ""
    assert k.lsmod().splitlines()[0] == "Module                  Size  Used by    Not tainted"


def test_non_gpl_license_warns_and_taints_p(k: Pyinsmod, tmp_path: Path) -> None:
    path = patched(k, tmp_path, "hello.o", b"license=GPL\0", b"license=Foo\0")
    proc = k.run(path)
    assert proc.stderr == (
        f"pyinsmod: Warning: loading {path} will taint the kernel: non-GPL license - Foo\n"
    )
    assert k.lsmod().splitlines()[0].endswith("Tainted: P ")
    k.run("rmmod", "hello")
    assert k.lsmod().splitlines()[0].endswith("Tainted: P ")  # taint stays, as in 2.4


def test_no_license_taints_too(k: Pyinsmod, tmp_path: Path) -> None:
    path = patched(k, tmp_path, "hello.o", b"license=GPL\0", b"licensX=GPL\0")
    assert "will taint the kernel: no license" in k.run(path).stderr
    assert "Tainted: P" in k.lsmod()


def test_taint_sticks_when_the_load_then_fails(k: Pyinsmod, tmp_path: Path) -> None:
    """modutils wrote the taint before create_module: a non-GPL module whose init fails
    leaves the kernel tainted."""
    path = patched(k, tmp_path, "failinit.o", b"license=GPL\0", b"license=Foo\0")
    assert "init_module" in k.fails("-q", path)
    assert k.modules() == []
    assert k.lsmod().splitlines()[0].endswith("Tainted: P ")


def test_unresolved_symbols_stop_the_load_before_the_taint(k: Pyinsmod, tmp_path: Path) -> None:
    """modutils checked the symbols (obj_check_undefineds) before it tainted."""
    path = patched(k, tmp_path, "hello.o", b"license=GPL\0", b"license=Foo\0")
    ksyms = tmp_path / "ksyms"
    ksyms.write_text("c0100000 not_printk\n")
    assert "unresolved symbol" in k.fails("--ksyms", str(ksyms), path)
    assert "Not tainted" in k.lsmod()


def test_dry_run_and_probe_do_not_taint(k: Pyinsmod, tmp_path: Path) -> None:
    path = patched(k, tmp_path, "hello.o", b"license=GPL\0", b"license=Foo\0")
    k.run("-p", path)
    assert "Not tainted" in k.lsmod()


# -- -p probe --------------------------------------------------------------------------------
def test_probe_of_a_loadable_module_exits_0_and_loads_nothing(k: Pyinsmod) -> None:
    proc = k.run("-p", k.obj("hello.o"))
    assert proc.stdout == proc.stderr == ""
    assert k.modules() == []


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("user.o",), "unresolved symbols exporter_value, exporter_add"),
        (("params.o", "i=0x100000000"), "value 0x100000000 out of range for i (int)"),
        (("params.o", "nosuch=1"), "invalid parameter nosuch"),
    ],
)
def test_probe_fails_with_one_line_and_exit_1(k: Pyinsmod, args: tuple[str, ...], reason) -> None:
    assert k.fails("-p", k.obj(args[0]), *args[1:]).endswith(reason)
    assert k.modules() == []


def test_probe_fails_on_version_mismatch(k: Pyinsmod, tmp_path: Path) -> None:
    assert "version mismatch" in k.fails("-p", old_kernel_module(k, tmp_path))


def test_probe_fails_when_the_module_is_loaded(k: Pyinsmod) -> None:
    k.run(k.obj("hello.o"))
    assert k.fails("-p", k.obj("hello.o")).endswith("a module named hello already exists")


def test_argument_to_a_module_without_module_parm_is_an_invalid_parameter(k: Pyinsmod) -> None:
    """hello.o declares no MODULE_PARM and does not read __module_args."""
    line = k.fails(k.obj("hello.o"), "param=5")
    assert line == (
        f"pyinsmod: {k.obj('hello.o')}: invalid parameter param "
        "(the module declares no MODULE_PARM)"
    )
    assert k.modules() == []
    k.run(k.obj("hello.o"))  # without arguments it loads
    assert k.modules() == ["hello"]
    # a prelinked module reads __module_args (Zippel's interface): its arguments go there
    k.run(k.obj("hello.pre.o"), "-o", "prehello", "param=5")
    assert sorted(k.modules()) == ["hello", "prehello"]


def test_loading_a_module_twice_says_a_module_of_that_name_exists(k: Pyinsmod) -> None:
    """EEXIST from create_module, in modutils' words (not "create_module: File exists")."""
    k.run(k.obj("hello.o"))
    assert (
        k.fails(k.obj("hello.o"))
        == f"pyinsmod: {k.obj('hello.o')}: a module named hello already exists"
    )


def test_a_module_too_big_for_the_kernel_says_how_many_bytes_it_needed(
    k: Pyinsmod, tmp_path: Path
) -> None:
    """ENOMEM from create_module, in modutils' words, with the size asked for."""
    src = objects.KERNEL_VERSION.replace("2.4.20", "2.4.37.11") + (
        'static const char lic[] __attribute__((section(".modinfo"), used)) = "license=GPL";\n'
        "char big[96 << 20];\n"
        "int init_module(void) { return big[1]; }\nvoid cleanup_module(void) {}\n"
    )
    path = objects.compile_c(tmp_path, src, name="huge", flags=objects.I386_CFLAGS)
    line = k.fails(str(path))
    assert line.startswith(f"pyinsmod: {path}: can't allocate kernel memory for module; needed ")
    assert int(line.rsplit(" ", 2)[1]) > 96 << 20
    assert k.modules() == []


# -- -v --------------------------------------------------------------------------------------
def test_verbose_says_what_it_does(k: Pyinsmod) -> None:
    err = k.run("-v", k.obj("params.o"), "i=5").stderr
    assert f"Using {k.obj('params.o')} (i386" in err
    assert "kernel symbols from the sim kernel 2.4.37.11" in err
    assert "parameters: i" in err
    assert "params: legacy header, base 0xc88" in err
    assert "params loaded at 0xc88" in err


# -- -s --------------------------------------------------------------------------------------
FAKE_SYSLOG = """
import os
LOG_PID, LOG_DAEMON, LOG_INFO, LOG_WARNING, LOG_ERR = 1, 24, 6, 4, 3
def openlog(ident, option, facility):
    _write(f"openlog {ident}")
def syslog(priority, message):
    _write(f"{priority} {message}")
def _write(line):
    with open(os.environ["FAKE_SYSLOG_FILE"], "a") as fh:
        fh.write(line + "\\n")
"""


def test_syslog_sends_messages_to_syslog_instead_of_stderr(k: Pyinsmod, tmp_path: Path) -> None:
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "syslog.py").write_text(FAKE_SYSLOG)
    log = tmp_path / "syslog.txt"
    k.extra_env = {"PYTHONPATH": str(fake), "FAKE_SYSLOG_FILE": str(log)}
    path = old_kernel_module(k, tmp_path)
    proc = k.run("-s", path, rc=1)
    assert proc.stderr == ""
    assert log.read_text().splitlines() == [
        "openlog pyinsmod",
        "3 " + MISMATCH.format(path=path),
    ]
    log.unlink()
    assert k.run("-s", "-f", path).stderr == ""
    assert log.read_text().splitlines()[1] == "4 Warning: " + MISMATCH.format(path=path)


# -- -x / -X ---------------------------------------------------------------------------------
def _exports(k: Pyinsmod, module: str) -> set[str]:
    return {line.split()[1] for line in k.ksyms().splitlines() if f"[{module}]" in line}


def test_module_without_ksymtab_exports_all_globals_by_default(k: Pyinsmod) -> None:
    k.run("-y", k.obj("hello.o"))  # -y: without the ksymoops symbols
    assert _exports(k, "hello") == {
        "hello_count", "hello_whom", "hello_buf", "hello_ops", "hello_weak"
    }  # fmt: skip


def test_capital_x_is_the_default(k: Pyinsmod) -> None:
    k.run("-X", k.obj("hello.o"))
    assert "hello_count\t[hello]" in k.ksyms()


def test_noexport_exports_nothing_but_the_ksymoops_symbols(k: Pyinsmod) -> None:
    k.run("-x", k.obj("hello.o"))
    assert {n for n in _exports(k, "hello") if not n.startswith("__insmod_hello_")} == set()
    assert _exports(k, "hello")  # modutils still made a __ksymtab for the ksymoops symbols
    k.run("rmmod", "hello")
    k.run("-x", "-y", k.obj("hello.o"))
    assert "[hello]" not in k.ksyms()


def test_special_symbols_are_never_exported(k: Pyinsmod) -> None:
    k.run(k.obj("hello.o"))
    ksyms = k.ksyms()
    assert "init_module" not in ksyms and "cleanup_module" not in ksyms  # hidden, as modutils


@pytest.mark.parametrize("flag", ["-X", "-x"])
def test_prelinked_module_exports_exactly_its_ksymtab(k: Pyinsmod, flag: str) -> None:
    k.run(flag, k.obj("hello.pre.o"))
    assert "[hello]" not in k.ksyms()
    k.run(flag, k.obj("exporter.pre.o"))
    exported = sorted(line.split()[1] for line in k.ksyms().splitlines() if "[exporter]" in line)
    assert exported == ["GPLONLY_exporter_gpl_twice", "exporter_add", "exporter_value"]


def test_module_with_ksymtab_exports_exactly_it_on_the_legacy_path(k: Pyinsmod) -> None:
    k.run("-y", k.obj("exporter.o"))
    exported = sorted(_exports(k, "exporter"))
    assert exported == ["GPLONLY_exporter_gpl_twice", "exporter_add", "exporter_value"]


# -- -L --------------------------------------------------------------------------------------
def test_lock_waits_for_the_holder_of_the_module_file(k: Pyinsmod, tmp_path: Path) -> None:
    path = tmp_path / "hello.o"
    path.write_bytes(Path(k.obj("hello.o")).read_bytes())
    with open(path, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = k.popen("-L", str(path))
        time.sleep(1.0)
        assert proc.poll() is None  # waiting for the lock
        fcntl.flock(held, fcntl.LOCK_UN)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert k.modules() == ["hello"]


def test_lock_treats_an_existing_module_as_a_simultaneous_load(k: Pyinsmod) -> None:
    k.run(k.obj("hello.o"))
    k.run("-L", k.obj("hello.o"))  # modutils: exit 0, the other insmod did it
    line = k.fails(k.obj("hello.o"))
    assert line.endswith("a module named hello already exists")


def test_lock_on_a_missing_file_is_one_line(k: Pyinsmod) -> None:
    assert k.fails("-L", "nothere.o") == "pyinsmod: nothere.o: No such file or directory"


# -- -k and rmmod -a -------------------------------------------------------------------------
def test_rmmod_all_reaps_used_autoclean_modules_only(k: Pyinsmod) -> None:
    k.run("-k", k.obj("exporter.o"))
    k.run("-k", k.obj("hello.o"))
    assert "(autoclean)" in k.lsmod()
    k.run(k.obj("user.pre.o"))
    k.run("rmmod", "user")
    k.run("rmmod", "-a")
    assert k.modules() == ["hello"]  # never used: 2.4 keeps it (MOD_USED_ONCE unset)


def test_rmmod_without_names_or_all_is_a_usage_error(k: Pyinsmod) -> None:
    proc = k.run("rmmod", rc=2)
    assert "name a module, or use -a" in proc.stderr


def test_rmmod_of_an_unknown_module_exits_1(k: Pyinsmod) -> None:
    assert k.fails("rmmod", "nosuch").endswith("nosuch: delete_module: No such file or directory")


# -- parameters through the CLI --------------------------------------------------------------
def test_every_parameter_type_reaches_the_module(k: Pyinsmod) -> None:
    k.run(k.obj("params.o"), "i=0x10", "h=-2", "b", 's="a b"', "a=7,010", "c=hey")
    assert k.dmesg() == [
        "<6>params: i=16",
        "<6>params: h=-2",
        "<6>params: b=1",
        "<6>params: s=a b",
        "<6>params: a=7,8,3,4",
        "<6>params: c=hey",
    ]


@pytest.mark.parametrize(
    ("arg", "reason"),
    [
        ("nosuch=1", "invalid parameter nosuch"),
        ("a=1,2,3,4,5", "too many values for a (max 4)"),
        ("b=300", "value 300 out of range for b (byte)"),
        ("h=70000", "value 70000 out of range for h (short)"),
        ("i=x", "invalid value 'x' for i (int)"),
        ("c=0123456789abcdef", "string too long for c (max 15)"),
        ("s", "parameter s needs a value (s=...)"),
        ('s="open', "unterminated string for s"),
    ],
)
def test_parameter_errors_are_one_line_naming_the_parameter(
    k: Pyinsmod, arg: str, reason: str
) -> None:
    assert k.fails(k.obj("params.o"), arg).endswith(f"params.o: {reason}")
    assert k.modules() == []


# -- lsmod, --arch, help, completion ---------------------------------------------------------
def test_lsmod_verbose_lists_each_modules_char_devices(k: Pyinsmod) -> None:
    k.run(k.obj("chardev.o"))
    lines = k.lsmod("-v").splitlines()
    assert lines[1].startswith("chardev ")
    assert lines[2].startswith("\tchrdev ") and lines[2].endswith(" pychar")


def test_arch_is_picked_when_only_one_kernel_has_state(built: Path, tmp_path: Path) -> None:
    k64 = Pyinsmod(tmp_path / "state", built / "x86_64" / "examples", "x86_64")
    k64.run(k64.obj("hello.o"))
    out = k64.run("lsmod").stdout  # no --arch
    assert out.splitlines()[1].startswith("hello ")
    assert "hello_count\t[hello]" in k64.run("ksyms").stdout
    k64.run("rmmod", "hello")
    assert "Goodbye" in k64.run("dmesg").stdout


@pytest.mark.parametrize(
    "command", ["load", "prelink", "modinfo", "rmmod", "lsmod", "ksyms", "dmesg"]
)
def test_every_command_has_help_with_an_example(k: Pyinsmod, command: str) -> None:
    out = k.run(command, "--help").stdout
    assert "Usage:" in out and "Example" in out and "pyinsmod" in out


def test_load_help_lists_the_modutils_options(k: Pyinsmod) -> None:
    out = k.run("load", "--help").stdout
    for option in ("--force", "--probe", "--quiet", "--verbose", "--syslog", "--noexport",
                   "--export", "--lock", "--autoclean", "--defer-missing"):  # fmt: skip
        assert option in out


def test_bash_completion_script_and_completion(k: Pyinsmod) -> None:
    k.extra_env = {"_PYINSMOD_COMPLETE": "bash_source"}
    assert "_pyinsmod_completion" in k.run().stdout
    k.extra_env = {"_PYINSMOD_COMPLETE": "bash_complete", "COMP_WORDS": "pyinsmod lsm",
                   "COMP_CWORD": "1"}  # fmt: skip
    assert "lsmod" in k.run().stdout
