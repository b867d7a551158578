"""`pyinsmod cat | write | ioctl | tick | devices`: the example drivers used from the shell.

One process per step, as a user would type them: the driver's state (scull's
buffer, the watchdog's timer) lives in the simulated kernel between commands.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support.clirun import Pyinsmod

from insmod_py import toolchain


@pytest.fixture(params=["i386", "x86_64"])
def kernel(built: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Pyinsmod:
    return Pyinsmod(tmp_path / "state", built / request.param / "examples", request.param)


def test_a_char_device_written_and_read_back(kernel: Pyinsmod) -> None:
    kernel.run(kernel.obj("scull.o"))
    assert kernel.run("write", "-v", "scull", "hello, world").stdout == (
        "scull: wrote 12 of 12 bytes\n"
    )
    assert kernel.run("cat", "scull").stdout == "hello, world"
    assert kernel.run("cat", "254:1").stdout == ""
    assert kernel.run("ioctl", "scull", "0x80046b01", "--int", "0").stdout == "ret 0\nint 12\n"
    assert kernel.run("ioctl", "scull", "0x6b04").stdout == "ret 4000\n"
    assert "254 scull" in kernel.run("devices").stdout.splitlines()


def test_errors_are_one_line_naming_the_device(kernel: Pyinsmod) -> None:
    kernel.run(kernel.obj("scull.o"))
    assert kernel.fails("cat", "nosuch") == (
        "pyinsmod: nosuch: no such device (not in /proc/devices, not a misc device)"
    )
    assert kernel.fails("cat", "scull:7") == "pyinsmod: scull:7: open: No such device"
    assert kernel.fails("ioctl", "scull", "0x5401") == (
        "pyinsmod: scull: ioctl: Inappropriate ioctl for device"
    )
    assert kernel.fails("ioctl", "scull", "0x80046b03", "0x1000") == (
        "pyinsmod: scull: ioctl: Bad address"
    )
    assert kernel.run("ioctl", "scull", "1", "2", "--int", "3", rc=1).returncode == 1


def test_watchdog_timer_fires_after_tick_and_dmesg_shows_it(kernel: Pyinsmod) -> None:
    kernel.run(kernel.obj("softwdog.o"), "soft_margin=1")
    assert "130 watchdog" in kernel.run("devices").stdout.splitlines()
    assert kernel.run("ioctl", "watchdog", "0x80285700", "--buf", "40").stdout.startswith(
        "ret 0\nbuf 8001000000000000536f66"  # options, firmware 0, "Sof..."
    )
    assert (
        kernel.run("tick", "-v", "-s", "2")
        .stdout.splitlines()[0]
        .startswith("timer <watchdog_fire+0x0>")
    )
    assert kernel.dmesg()[-2:] == [
        "<2>softwdog: WDT device closed unexpectedly.  WDT will not stop!",
        "<2>softwdog: Triggered - Reboot ignored.",
    ]
    kernel.run("write", "watchdog", "V")  # open, ping with the magic 'V', close: stopped
    assert kernel.dmesg()[-1] == "<6>softwdog: stopped"
    assert kernel.run("tick", "-v", "500").stdout.startswith("jiffies ")


def test_a_refused_write_is_one_line_with_the_errno_and_the_printk(kernel: Pyinsmod) -> None:
    kernel.run(kernel.obj("lkmpgdev.o"))
    assert kernel.fails("write", "lkmpgdev", "x") == "pyinsmod: lkmpgdev: write: Invalid argument"
    assert kernel.dmesg()[-1] == "<1>lkmpgdev: Sorry, this operation isn't supported."


BUGGY = r"""
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/fs.h>
static int major;
static ssize_t buggy_read(struct file *f, char *buf, size_t n, loff_t *pos)
{
    printk(KERN_INFO "buggy: reading %d bytes\n", (int)n);
    return *(volatile int *)0;
}
static struct file_operations fops = { owner: THIS_MODULE, read: buggy_read };
int init_module(void) { major = register_chrdev(0, "buggy", &fops); return 0; }
void cleanup_module(void) { unregister_chrdev(major, "buggy"); }
MODULE_LICENSE("GPL");
"""


def test_an_oops_in_module_code_is_one_line_naming_symbol_and_offset(
    kernel: Pyinsmod, tmp_path: Path
) -> None:
    src = tmp_path / "buggy.c"
    src.write_text(BUGGY)
    obj = tmp_path / "buggy.o"
    cflags = toolchain.cflags(kernel.arch)
    subprocess.run(["gcc", *cflags, "-c", str(src), "-o", str(obj)], check=True)
    kernel.run(str(obj))
    line = kernel.fails("cat", "buggy")
    assert line.startswith("pyinsmod: buggy: Oops: unable to handle kernel NULL pointer")
    assert "<buggy_read+0x" in line
    assert kernel.dmesg()[-2] == "<6>buggy: reading 4096 bytes"
    assert kernel.dmesg()[-1] == "<1>" + line.removeprefix("pyinsmod: buggy: ")
    kernel.rmmod("buggy")  # the dead process's file was closed: nothing holds the module
