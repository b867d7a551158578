"""The example modules run through the real `pyinsmod` command, one process per step.

Each step is a separate process, so these tests also prove that the simulated
kernel's state (module list, module memory, kernel log) survives between
invocations, as a 2.4 kernel's did between insmod and rmmod.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.clirun import Pyinsmod


@pytest.fixture(params=["i386", "x86_64"])
def kernel(built: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Pyinsmod:
    """A private simulated kernel of each arch; the object's arch picks the kernel."""
    return Pyinsmod(tmp_path / "state", built / request.param / "examples", request.param)


def test_hello_init_and_cleanup_print_what_the_c_code_says(kernel: Pyinsmod) -> None:
    kernel.run(kernel.obj("hello.pre.o"))
    assert kernel.dmesg() == [
        "<6>hello: Hello, world! count=3 magic=c0ffee",
        "<6>hello: ops gave 6 and 16, sum 22",
        '<6>hello: weak hook returned 105, scratch "ok"',
    ]
    name, size, usecount, *_ = kernel.lsmod().splitlines()[1].split()
    assert (name, usecount) == ("hello", "0") and int(size) > 0
    kernel.rmmod("hello")
    # cleanup re-reads the global init changed, in a later process: memory persisted
    assert kernel.dmesg()[-1] == "<6>hello: Goodbye, world! count=13"
    assert "hello" not in kernel.lsmod()


def test_parameters_reach_the_module_before_init(kernel: Pyinsmod) -> None:
    kernel.run(kernel.obj("params.o"), "i=5", "h=1", "b=7", "s=xyz", "a=9,8", "c=hello")
    assert kernel.dmesg() == [
        "<6>params: i=5",
        "<6>params: h=1",
        "<6>params: b=7",
        "<6>params: s=xyz",
        "<6>params: a=9,8,3,4",
        "<6>params: c=hello",
    ]


def test_bad_parameter_is_one_line_naming_it(kernel: Pyinsmod) -> None:
    line = kernel.fails(kernel.obj("params.o"), "nosuch=1")
    assert line.endswith("params.o: invalid parameter nosuch")
    assert "params" not in kernel.lsmod()


def test_user_calls_the_exporter_and_pins_it(kernel: Pyinsmod) -> None:
    kernel.run(kernel.obj("exporter.o"))
    kernel.run(kernel.obj("user.pre.o"))
    assert "<6>user: exporter_add(2, 3) = 5, exporter_value = 42" in kernel.dmesg()
    assert "[user]" in kernel.lsmod()
    line = kernel.fails("rmmod", "--arch", kernel.arch, "exporter")
    assert line.startswith("pyinsmod: exporter: delete_module: Device or resource busy")
    kernel.rmmod("user")
    kernel.rmmod("exporter")
    assert kernel.dmesg()[-2:] == ["<6>user: done", "<6>exporter: done"]


def test_user_without_exporter_lists_every_unresolved_symbol(kernel: Pyinsmod) -> None:
    line = kernel.fails(kernel.obj("user.o"))
    assert "user.o: unresolved symbols" in line
    assert "exporter_add" in line and "exporter_value" in line


def test_failing_init_reports_errno_and_leaves_nothing(kernel: Pyinsmod) -> None:
    line = kernel.fails(kernel.obj("failinit.o"))
    assert line.endswith(
        "failinit.o: init_module: Device or resource busy "
        "(the module's own init_module returned -16 (-EBUSY))"
    )
    assert "<4>failinit: refusing to load" in kernel.dmesg()
    assert "failinit" not in kernel.lsmod()


@pytest.mark.parametrize(
    ("name", "oops"),
    [
        ("nullderef.pre.o", "NULL pointer dereference at 00000000"),
        ("loop.o", "init_module did not return within"),
    ],
)
def test_faulting_init_is_an_oops_and_leaves_the_module_initializing(
    kernel: Pyinsmod, name: str, oops: str
) -> None:
    # as on the real 2.4 kernel: the oops kills insmod inside init_module; the module
    # stays "(initializing)" with usecount 1, so rmmod says EBUSY
    line = kernel.fails(kernel.obj(name))
    assert oops in line and "<init_module+0x" in line
    module = name.split(".")[0]
    assert f"{module} " in kernel.lsmod() and "(initializing)" in kernel.lsmod()
    assert "Device or resource busy" in kernel.fails("rmmod", "--arch", kernel.arch, module)
    kernel.run(kernel.obj("hello.o"))  # the kernel is still usable
    assert "hello" in kernel.lsmod()


def test_module_holding_a_reference_cannot_be_removed(kernel: Pyinsmod) -> None:
    kernel.run(kernel.obj("chardev.o"), "hold=1")
    assert "<6>chardev: holding a reference" in kernel.dmesg()
    line = kernel.fails("rmmod", "--arch", kernel.arch, "chardev")
    assert line.endswith("chardev: delete_module: Device or resource busy")
    assert "chardev" in kernel.lsmod()


def test_new_header_on_unpatched_kernel_is_refused_with_einval(kernel: Pyinsmod) -> None:
    line = kernel.fails("load", "--kernel", "unpatched", "--new", kernel.obj("hello.pre.o"))
    assert "init_module: Invalid argument" in line
    assert "hello" not in kernel.lsmod()
    kernel.run("load", "--kernel", "unpatched", "--legacy", kernel.obj("hello.pre.o"))
    assert "hello" in kernel.lsmod()
