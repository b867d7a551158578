"""The simulated kernel as a 2.4 driver test bench: the example drivers used after init.

Each test loads one of examples/{lkmpgdev,procfile,scull,softwdog}.c (or a small
driver built here) into a private simulated kernel through the Python API
(insmod_py.simkernel) and checks what its C code does when the simulated
process opens, reads, writes, seeks, ioctls and closes it, and when time passes.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from support.simdrivers import build, usecount

from insmod_py.errors import LoadError
from insmod_py.simkernel import DeviceError, SimKernel

HZ = 100
ARCHES = ("i386", "x86_64")

# ioctl numbers as the examples define them (asm/ioctl.h encoding)
SCULL_IOCRESET = 0x6B00
SCULL_IOCGSIZE = 0x80046B01
SCULL_IOCSQUANTUM = 0x40046B02
SCULL_IOCGQUANTUM = 0x80046B03
SCULL_IOCQQUANTUM = 0x6B04
WDIOC_GETSUPPORT = 0x80285700
WDIOC_GETSTATUS = 0x80045701
WDIOC_KEEPALIVE = 0x80045705
WDIOC_SETTIMEOUT = 0xC0045706
WDIOC_GETTIMEOUT = 0x80045707


@pytest.fixture(params=ARCHES)
def kernel(request: pytest.FixtureRequest, tmp_path: Path, built: Path):
    with SimKernel(str(tmp_path / "state"), arch=request.param) as k:
        k.examples = built / request.param / "examples"  # type: ignore[attr-defined]
        yield k


def load(k: SimKernel, name: str, *args: str) -> None:
    k.load(str(k.examples / f"{name}.o"), *args)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- lkmpgdev


def test_lkmpgdev_read_returns_the_message_and_counts_opens(kernel: SimKernel) -> None:
    load(kernel, "lkmpgdev")
    assert kernel.dmesg() == ["<6>lkmpgdev: registered major 254"]
    assert kernel.cat("lkmpgdev") == b"I already told you 0 times Hello world!\n"
    assert kernel.cat("254:0") == b"I already told you 1 times Hello world!\n"
    with kernel.open("lkmpgdev") as f:
        assert f.read(11) == b"I already t"  # put_user one byte at a time
        assert usecount(kernel, "lkmpgdev") == 2  # fops_get (owner) + MOD_INC_USE_COUNT
        with pytest.raises(DeviceError) as busy:
            kernel.open("lkmpgdev")
        assert busy.value.errno == 16
        with pytest.raises(LoadError, match="Device or resource busy"):
            kernel.unload("lkmpgdev")
        assert f.read(100) == b"old you 2 times Hello world!\n"
        assert f.read(100) == b""
    assert usecount(kernel, "lkmpgdev") == 0


def test_lkmpgdev_refuses_writes_with_einval_and_a_printk(kernel: SimKernel) -> None:
    load(kernel, "lkmpgdev")
    with pytest.raises(DeviceError) as err:
        kernel.write("lkmpgdev", b"x")
    assert err.value.errno == 22
    assert kernel.dmesg()[-1] == "<1>lkmpgdev: Sorry, this operation isn't supported."
    kernel.unload("lkmpgdev")
    assert kernel.dmesg()[-1] == "<6>lkmpgdev: unregistered major 254"
    with pytest.raises(LoadError, match="no such device"):
        kernel.cat("lkmpgdev")


# ---------------------------------------------------------------- procfile


def test_proc_entry_is_read_and_written_through_read_proc_and_write_proc(
    kernel: SimKernel,
) -> None:
    load(kernel, "procfile")
    assert kernel.proc_entries() == ["procfile"]
    assert kernel.cat("/proc/procfile") == b"procfile: read 1, text 'none'\n"
    assert kernel.write("/proc/procfile", b"hello proc\n") == 11
    assert kernel.dmesg()[-1] == "<6>procfile: stored 11 bytes"
    assert kernel.cat("/proc/procfile") == b"procfile: read 2, text 'hello proc'\n"
    with kernel.open("/proc/procfile") as f:
        assert usecount(kernel, "procfile") == 1  # entry->owner = THIS_MODULE
        assert f.read(10) == b"procfile: "
        # the next read calls read_proc at offset 10, and this one only answers offset 0:
        # the classic 2.4 short read of a /proc file read in small pieces
        assert f.read(100) == b""
    kernel.unload("procfile")
    assert kernel.proc_entries() == []
    with pytest.raises(DeviceError) as gone:
        kernel.cat("/proc/procfile")
    assert gone.value.errno == 2


# ---------------------------------------------------------------- scull


def test_scull_stores_what_is_written_and_reads_it_back(kernel: SimKernel) -> None:
    load(kernel, "scull")
    assert kernel.dmesg() == ["<6>scull: major 254, 2 devices, quantum 4000"]
    assert kernel.write("scull", b"hello, world") == 12
    assert kernel.cat("scull") == b"hello, world"
    assert kernel.cat("scull:1") == b""  # minor 1 has its own buffer
    kernel.write("scull:1", b"one")
    kernel.write("scull", b"+more", mode="a+")  # O_WRONLY alone would truncate
    assert kernel.cat("scull") == b"hello, world+more"
    kernel.write("scull", b"new")  # O_WRONLY truncates, as in LDD
    assert kernel.cat("scull") == b"new"
    assert kernel.cat("scull:1") == b"one"
    with pytest.raises(DeviceError) as nodev:
        kernel.open("scull:2")
    assert nodev.value.errno == 19


def test_scull_llseek_moves_the_file_position(kernel: SimKernel) -> None:
    load(kernel, "scull")
    with kernel.open("scull", "r+") as f:
        assert f.write(b"0123456789") == 10
        assert f.seek(2) == 2
        assert f.read(3) == b"234"
        assert f.seek(1, 1) == 6
        assert f.read(2) == b"67"
        assert f.seek(-1, 2) == 9
        assert f.read(5) == b"9"
        with pytest.raises(DeviceError) as neg:
            f.seek(-20, 1)
        assert neg.value.errno == 22
        assert f.seek(0x1_0000_0004) == 0x1_0000_0004  # a 64-bit loff_t gets through whole
        assert f.read(1) == b""


def test_scull_ioctls_get_and_set_through_user_pointers(kernel: SimKernel) -> None:
    load(kernel, "scull")
    kernel.write("scull", b"abcdef")
    res = kernel.ioctl("scull", SCULL_IOCGSIZE, b"\xff" * 4)
    assert (res.ret, res.int()) == (0, 6)
    assert kernel.ioctl("scull", SCULL_IOCQQUANTUM).ret == 4000
    assert kernel.ioctl("scull", SCULL_IOCSQUANTUM, struct.pack("<i", 8)).ret == 0
    assert kernel.ioctl("scull", SCULL_IOCGQUANTUM, bytes(4)).int() == 8
    with kernel.open("scull", "w") as f:
        assert f.write(b"0123456789abc") == 8  # the quantum limits a write
    with pytest.raises(DeviceError) as full:
        kernel.write("scull", b"x", mode="a+")
    assert full.value.errno == 28
    with pytest.raises(DeviceError) as bad:
        kernel.ioctl("scull", SCULL_IOCSQUANTUM, struct.pack("<i", 0))
    assert bad.value.errno == 22
    with pytest.raises(DeviceError) as notty:
        kernel.ioctl("scull", 0x5401)  # TCGETS: not scull's magic
    assert notty.value.errno == 25
    assert kernel.ioctl("scull", SCULL_IOCRESET).ret == 0
    assert kernel.cat("scull") == b""


@pytest.mark.parametrize(
    "pointer",
    [0x1000, 0x00BFF000, 0xC0001000],
    ids=["unmapped-user", "unmapped-near-buffers", "kernel-address"],
)
def test_bad_user_pointers_give_efault_not_an_oops(kernel: SimKernel, pointer: int) -> None:
    """put_user/get_user's __ex_table fixups and access_ok, as in 2.4."""
    load(kernel, "scull")
    for cmd in (SCULL_IOCGQUANTUM, SCULL_IOCSQUANTUM):  # __put_user / __get_user
        with pytest.raises(DeviceError) as err:
            kernel.ioctl("scull", cmd, pointer)
        assert err.value.errno == 14
    assert not any("Oops" in line for line in kernel.dmesg())


# ---------------------------------------------------------------- softwdog


def test_watchdog_fires_when_not_pinged_and_stops_on_magic_close(kernel: SimKernel) -> None:
    load(kernel, "softwdog", "soft_margin=2")
    assert kernel.misc_devices() == {"watchdog": 130}
    assert kernel.resolve("watchdog").major == 10
    f = kernel.open("watchdog", "w")
    support = f.ioctl(WDIOC_GETSUPPORT, bytes(40))
    assert support[8:25] == b"Software Watchdog"
    assert struct.unpack("<I", support[:4])[0] == 0x180  # SETTIMEOUT | MAGICCLOSE
    assert kernel.tick(150) == []
    f.write(b"ping")  # pushes the expiry to now + 2 s
    assert kernel.tick(150) == []
    (fired,) = kernel.tick(60)
    assert fired.startswith("<watchdog_fire+0x0>")  # (and the ksymoops section name)
    assert kernel.dmesg()[-1] == "<2>softwdog: Triggered - Reboot ignored."
    assert struct.unpack("<i", f.ioctl(WDIOC_GETSTATUS, bytes(4)))[0] == 1
    with pytest.raises(DeviceError) as busy:
        kernel.open("watchdog", "w")
    assert busy.value.errno == 16
    f.write(b"V")
    f.close()
    assert kernel.dmesg()[-1] == "<6>softwdog: stopped"
    assert kernel.tick(1000) == []  # del_timer: nothing left to fire
    kernel.unload("softwdog")
    assert kernel.misc_devices() == {}


def test_watchdog_keeps_running_after_an_unexpected_close(kernel: SimKernel) -> None:
    load(kernel, "softwdog", "soft_margin=1")
    with kernel.open("watchdog", "w") as f:
        assert struct.unpack("<i", f.ioctl(WDIOC_SETTIMEOUT, struct.pack("<i", 3)))[0] == 3
        assert struct.unpack("<i", f.ioctl(WDIOC_GETTIMEOUT, bytes(4)))[0] == 3
    assert "WDT will not stop" in kernel.dmesg()[-1]
    assert kernel.tick(250) == []
    (fired,) = kernel.tick(100)
    assert fired.startswith("<watchdog_fire+0x0>")


# ---------------------------------------------------------------- kernel services


SERVICES = r"""
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/fs.h>
#include <linux/sched.h>
#include <linux/ioport.h>
#include <linux/wait.h>
#include <linux/poll.h>
#include <asm/io.h>
#include <asm/uaccess.h>

static int major;
static DECLARE_WAIT_QUEUE_HEAD(wq);
static int flag;

static ssize_t svc_read(struct file *file, char *buf, size_t count, loff_t *ppos)
{
    unsigned long before = jiffies;
    int ret;

    printk(KERN_INFO "svc: %s pid %d minor %d flags %o\n", current->comm, current->pid,
           MINOR(file->f_dentry->d_inode->i_rdev), file->f_flags);
    set_current_state(TASK_INTERRUPTIBLE);
    schedule_timeout(HZ / 2);
    printk(KERN_INFO "svc: slept %lu jiffies\n", jiffies - before);
    ret = wait_event_interruptible(wq, flag != 0);
    printk(KERN_INFO "svc: wait_event_interruptible %d, signal %d\n", ret,
           signal_pending(current));
    return ret;
}

static ssize_t svc_write(struct file *file, const char *buf, size_t count, loff_t *ppos)
{
    *(volatile int *)0 = 1;        /* a driver bug: the oops must name svc_write */
    return count;
}

static unsigned int svc_poll(struct file *file, poll_table *pt)
{
    poll_wait(file, &wq, pt);
    return flag ? POLLIN | POLLRDNORM : 0;
}

static int svc_ioctl(struct inode *inode, struct file *file, unsigned int cmd,
                     unsigned long arg)
{
    flag = arg;
    wake_up_interruptible(&wq);
    return 0;
}

static struct file_operations svc_fops = {
    owner:    THIS_MODULE,
    read:     svc_read,
    write:    svc_write,
    poll:     svc_poll,
    ioctl:    svc_ioctl,
};

int init_module(void)
{
    printk(KERN_INFO "svc: check %d\n", check_region(0x300, 8));
    printk(KERN_INFO "svc: request %d\n", request_region(0x300, 8, "svc") != NULL);
    printk(KERN_INFO "svc: check %d, again %d\n", check_region(0x304, 2),
           request_region(0x307, 4, "other") != NULL);
    printk(KERN_INFO "svc: inb %#x inw %#x\n", inb_p(0x300), inw(0x302));
    outb_p(0x55, 0x300);
    major = register_chrdev(0, "svc", &svc_fops);
    return major < 0 ? major : 0;
}

void cleanup_module(void)
{
    release_region(0x300, 8);
    unregister_chrdev(major, "svc");
}

MODULE_LICENSE("GPL");
"""


def test_ioports_are_an_empty_isa_bus_with_region_bookkeeping(
    kernel: SimKernel, tmp_path: Path
) -> None:
    kernel.load(build(kernel, tmp_path, "svc", SERVICES))
    assert kernel.dmesg() == [
        "<6>svc: check 0",
        "<6>svc: request 1",
        "<6>svc: check -16, again 0",
        "<6>svc: inb 0xff inw 0xffff",
    ]


ISA_MEMORY = r"""
#include <linux/module.h>
#include <linux/kernel.h>
#include <asm/page.h>

/* 2.4 asm/io.h: ISA memory is read through the kernel's direct map */
#define isa_readb(a) (*(volatile unsigned char *)(PAGE_OFFSET + (a)))
#define isa_readl(a) (*(volatile unsigned int *)(PAGE_OFFSET + (a)))

int init_module(void)
{
    /* what toshiba.o checks first: "TOSHIBA" in the BIOS at 0xfe010 */
    printk(KERN_INFO "isa: %02x %08x %02x\n", isa_readb(0xfe010), isa_readl(0xa0000),
           isa_readb(0xfffff));
    return -5;
}
"""


def test_the_isa_memory_hole_floats_high(kernel: SimKernel, tmp_path: Path) -> None:
    """640K-1M of the direct map is there (2.4 maps all low memory), with nothing on it."""
    with pytest.raises(LoadError, match="Input/output error"):
        kernel.load(build(kernel, tmp_path, "isamem", ISA_MEMORY))
    assert kernel.dmesg() == ["<6>isa: ff ffffffff ff"]


LOOPS = r"""
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/delay.h>

int init_module(void)
{
    printk(KERN_INFO "loops_per_jiffy %lu\n", loops_per_jiffy);
    return 0;
}
"""


def test_loops_per_jiffy_is_exported_with_a_calibrated_value(
    kernel: SimKernel, tmp_path: Path
) -> None:
    """dtlk sizes its read loop with it; 2.4 measures it at boot (here: 839 BogoMIPS)."""
    kernel.load(build(kernel, tmp_path, "loops", LOOPS))
    assert kernel.dmesg() == [f"<6>loops_per_jiffy {1 << 22}"]


def test_current_sleeping_and_waiting_in_process_context(kernel: SimKernel, tmp_path: Path) -> None:
    kernel.load(build(kernel, tmp_path, "svc", SERVICES))
    kernel.clear_dmesg()
    kernel.comm = "cat"
    with kernel.open("svc:3", nonblock=True) as f, pytest.raises(DeviceError) as intr:
        f.read(1)
    assert intr.value.errno == 512  # ERESTARTSYS: nothing could wake the sleeper
    log = kernel.dmesg()
    assert log[0].startswith("<6>svc: cat pid ") and log[0].endswith(" minor 3 flags 4000")
    assert log[1:] == [
        "<6>svc: slept 50 jiffies",
        "<6>svc: wait_event_interruptible -512, signal 1",
    ]


def test_poll_reports_readiness_after_a_wake_up(kernel: SimKernel, tmp_path: Path) -> None:
    kernel.load(build(kernel, tmp_path, "svc", SERVICES))
    with kernel.open("svc") as f:
        assert f.poll() == 0
        assert f.ioctl(0x1234, 1) == 0  # sets the flag and wakes the queue
        assert f.poll() == 0x41  # POLLIN | POLLRDNORM
    load(kernel, "scull")
    with kernel.open("scull") as f:
        assert f.poll() == 0x145  # no ->poll: always ready (2.4 DEFAULT_POLLMASK)


WOKEN_BY_A_TIMER = r"""
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/fs.h>
#include <linux/sched.h>
#include <linux/timer.h>
#include <linux/wait.h>

static int major, ready;
static DECLARE_WAIT_QUEUE_HEAD(wq);
static struct timer_list timer;

static void fire(unsigned long data)
{
    ready = data;
    printk(KERN_INFO "timed: timer at +%lu, waking\n", jiffies - timer.data);
    wake_up_interruptible(&wq);
}

static ssize_t timed_read(struct file *file, char *buf, size_t count, loff_t *ppos)
{
    unsigned long start = jiffies;
    long left;
    int ret;

    init_timer(&timer);
    timer.function = fire;
    timer.data = start;
    timer.expires = start + HZ / 4;
    add_timer(&timer);
    ret = wait_event_interruptible(wq, ready != 0);
    printk(KERN_INFO "timed: woken with %d after %lu jiffies\n", ret, jiffies - start);
    ready = 0;
    mod_timer(&timer, jiffies + 30);
    left = interruptible_sleep_on_timeout(&wq, HZ);
    printk(KERN_INFO "timed: sleep_on_timeout left %ld\n", left);
    return 0;
}

static struct file_operations fops = { owner: THIS_MODULE, read: timed_read };

int init_module(void) { major = register_chrdev(0, "timed", &fops); return 0; }
void cleanup_module(void) { del_timer(&timer); unregister_chrdev(major, "timed"); }
MODULE_LICENSE("GPL");
"""


def test_a_timer_wakes_a_sleeper_while_time_passes_in_its_sleep(
    kernel: SimKernel, tmp_path: Path
) -> None:
    kernel.load(build(kernel, tmp_path, "timed", WOKEN_BY_A_TIMER))
    kernel.clear_dmesg()
    assert kernel.cat("timed") == b""
    log = kernel.dmesg()
    assert log[:2] == ["<6>timed: timer at +25, waking", "<6>timed: woken with 0 after 25 jiffies"]
    # the second timer (start + 25 + 30) wakes the queue sleeper 30 jiffies into HZ
    assert log[2].startswith("<6>timed: timer at +") and log[3] == (
        "<6>timed: sleep_on_timeout left 70"
    )


def test_an_oops_in_a_file_operation_names_the_function(kernel: SimKernel, tmp_path: Path) -> None:
    kernel.load(build(kernel, tmp_path, "svc", SERVICES))
    with pytest.raises(
        LoadError, match=r"NULL pointer dereference at 0+, [ER]IP \w+ <svc_write\+0x"
    ):
        kernel.write("svc", b"x")
    assert "<svc_write+0x" in kernel.dmesg()[-1]
    assert usecount(kernel, "svc") == 0  # the dying process's file was closed


def test_ksyms_lists_the_driver_services_under_their_2_4_names(kernel: SimKernel) -> None:
    names = {line.split()[1] for line in kernel.backend.proc_ksyms().splitlines()}
    common = {
        "add_timer", "del_timer", "mod_timer", "__wake_up", "interruptible_sleep_on",
        "schedule_timeout", "create_proc_entry", "remove_proc_entry", "proc_root",
        "misc_register", "misc_deregister", "__request_region", "__check_region",
        "__release_region", "ioport_resource", "__get_user_1", "__get_user_4",
        "add_wait_queue", "remove_wait_queue", "jiffies", "no_llseek", "clear_user",
    }  # fmt: skip
    assert common <= names
    if kernel.arch == "i386":
        assert {"__generic_copy_to_user", "__generic_copy_from_user"} <= names
        assert not {"copy_to_user", "__get_user_8"} & names
    else:
        assert {"copy_to_user", "copy_from_user", "__get_user_8"} <= names
        assert "__generic_copy_to_user" not in names
