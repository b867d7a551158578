"""kernel_stub/ against the real 2.4.37.11 headers: the same struct layouts and constants.

A module built against kernel_stub/ shares struct file, struct inode, struct
file_operations, timers, /proc entries, misc devices, wait queues, the leading fields
of task_struct and struct module with the kernel it runs in; every offset and size
here is computed by gcc from both header sets (the real ones from the
``kernel24_build`` fixture, configured as that kernel was built) and must agree.
Constants a driver passes to the kernel or compares with (O_NONBLOCK, S_IFCHR, ioctl
numbers, errno values, ...) are checked the same way.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from insmod_py import kernel24, toolchain

HEADERS = """
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/fs.h>
#include <linux/sched.h>
#include <linux/timer.h>
#include <linux/wait.h>
#include <linux/poll.h>
#include <linux/proc_fs.h>
#include <linux/miscdevice.h>
#include <linux/watchdog.h>
#include <linux/reboot.h>
#include <linux/notifier.h>
#include <linux/nls.h>
#include <linux/crypto.h>
#include <linux/pm.h>
#include <linux/ioport.h>
#include <linux/delay.h>
#include <linux/smp_lock.h>
#include <linux/devfs_fs_kernel.h>
#include <linux/major.h>
#include <linux/slab.h>
#include <linux/errno.h>
#include <linux/stat.h>
#include <linux/fcntl.h>
#include <asm/uaccess.h>
#include <asm/io.h>
#include <asm/bitops.h>
"""

# struct -> the members whose offsets must agree (a driver or the kernel uses them).
MEMBERS: dict[str, tuple[str, ...]] = {
    "file": (
        "f_list",
        "f_dentry",
        "f_vfsmnt",
        "f_op",
        "f_count",
        "f_flags",
        "f_mode",
        "f_pos",
        "f_reada",
        "f_rawin",
        "f_owner",
        "f_uid",
        "f_gid",
        "f_error",
        "f_maxcount",
        "f_version",
        "private_data",
        "f_iobuf",
        "f_iobuf_lock",
    ),
    "inode": (
        "i_hash",
        "i_list",
        "i_dentry",
        "i_dirty_buffers",
        "i_dirty_data_buffers",
        "i_ino",
        "i_count",
        "i_dev",
        "i_mode",
        "i_nlink",
        "i_uid",
        "i_gid",
        "i_rdev",
        "i_size",
        "i_atime",
        "i_mtime",
        "i_ctime",
        "i_blkbits",
        "i_blksize",
        "i_blocks",
        "i_version",
        "i_bytes",
        "i_sem",
        "i_alloc_sem",
        "i_zombie",
        "i_op",
        "i_fop",
        "i_sb",
        "i_wait",
        "i_flock",
        "i_mapping",
        "i_data",
        "i_dquot",
        "i_devices",
        "i_pipe",
        "i_bdev",
        "i_cdev",
        "i_dnotify_mask",
        "i_dnotify",
        "i_state",
        "i_flags",
        "i_sock",
        "i_writecount",
        "i_attr_flags",
        "i_generation",
        "u",
        "u.generic_ip",
    ),
    "file_operations": (
        "owner",
        "llseek",
        "read",
        "write",
        "readdir",
        "poll",
        "ioctl",
        "mmap",
        "open",
        "flush",
        "release",
        "fsync",
        "fasync",
        "lock",
        "readv",
        "writev",
        "sendpage",
        "get_unmapped_area",
    ),
    "dentry": ("d_count", "d_flags", "d_inode", "d_parent"),
    "timer_list": ("list", "expires", "data", "function"),
    "proc_dir_entry": (
        "low_ino",
        "namelen",
        "name",
        "mode",
        "nlink",
        "uid",
        "gid",
        "size",
        "proc_iops",
        "proc_fops",
        "get_info",
        "owner",
        "next",
        "parent",
        "subdir",
        "data",
        "read_proc",
        "write_proc",
        "count",
        "deleted",
        "rdev",
        "set",
    ),
    "miscdevice": ("minor", "name", "fops", "next", "prev", "devfs_handle"),
    "__wait_queue_head": ("task_list",),
    "__wait_queue": ("flags", "task", "task_list"),
    "semaphore": ("count", "sleepers", "wait"),
    "task_struct": (
        "state",
        "flags",
        "sigpending",
        "addr_limit",
        "exec_domain",
        "need_resched",
        "ptrace",
        "lock_depth",
        "counter",
        "nice",
        "policy",
        "mm",
        "processor",
        "cpus_runnable",
        "run_list",
        "next_task",
        "active_mm",
        "binfmt",
        "exit_code",
        "personality",
        "pid",
        "pgrp",
        "tgid",
        "leader",
        "p_pptr",
        "thread_group",
        "wait_chldexit",
        "real_timer",
        "times",
        "start_time",
        "per_cpu_utime",
        "min_flt",
        "uid",
        "euid",
        "fsgid",
        "ngroups",
        "groups",
        "cap_effective",
        "user",
        "rlim",
        "used_math",
        "comm",
        "link_count",
        "tty",
        "locks",
        "semundo",
        "semsleeping",
    ),
    "module": (
        "size_of_struct",
        "next",
        "name",
        "size",
        "uc",
        "flags",
        "nsyms",
        "ndeps",
        "syms",
        "deps",
        "refs",
        "init",
        "cleanup",
        "ex_table_start",
        "ex_table_end",
        "persist_start",
        "persist_end",
        "can_unload",
        "runsize",
        "kallsyms_start",
        "kallsyms_end",
        "archdata_start",
        "archdata_end",
        "kernel_data",
    ),
    "module_symbol": ("value", "name"),
    "resource": ("name", "start", "end", "flags", "parent", "sibling", "child"),
    "watchdog_info": ("options", "firmware_version", "identity"),
    "notifier_block": ("notifier_call", "next", "priority"),
    "nls_table": (
        "charset",
        "uni2char",
        "char2uni",
        "charset2lower",
        "charset2upper",
        "owner",
        "next",
    ),
    "crypto_alg": (
        "cra_list",
        "cra_flags",
        "cra_blocksize",
        "cra_ctxsize",
        "cra_name",
        "cra_u",
        "cra_module",
    ),
    "cipher_alg": ("cia_min_keysize", "cia_max_keysize", "cia_setkey", "cia_encrypt"),
    "digest_alg": ("dia_digestsize", "dia_init", "dia_update", "dia_final", "dia_setkey"),
    "compress_alg": ("coa_init", "coa_exit", "coa_compress", "coa_decompress"),
    "pm_dev": ("type", "id", "callback", "data", "flags", "state", "prev_state", "entry"),
    "fown_struct": ("pid", "uid", "euid", "signum"),
    "address_space": ("clean_pages", "nrpages", "a_ops", "host", "gfp_mask"),
    "poll_table_struct": ("error", "table"),
}

# Whole structs (and types) whose size must agree: everything a module allocates,
# embeds or indexes.  task_struct and dentry are only partly described, on purpose.
SIZES = (
    "struct file",
    "struct inode",
    "struct file_operations",
    "struct timer_list",
    "struct proc_dir_entry",
    "struct miscdevice",
    "wait_queue_head_t",
    "wait_queue_t",
    "struct semaphore",
    "struct rw_semaphore",
    "struct module",
    "struct module_symbol",
    "struct module_ref",
    "struct exception_table_entry",
    "struct resource",
    "struct watchdog_info",
    "struct notifier_block",
    "struct nls_table",
    "struct crypto_alg",
    "struct pm_dev",
    "wchar_t",
    "struct list_head",
    "spinlock_t",
    "atomic_t",
    "mm_segment_t",
    "kdev_t",
    "mode_t",
    "uid_t",
    "gid_t",
    "pid_t",
    "size_t",
    "ssize_t",
    "loff_t",
    "off_t",
    "time_t",
    "dev_t",
    "ino_t",
    "nlink_t",
    "umode_t",
    "poll_table",
)

# Integer constants a module compiles in.
CONSTANTS = (
    "HZ",
    "PAGE_SIZE",
    "PAGE_OFFSET",
    "MAX_SCHEDULE_TIMEOUT",
    "TASK_RUNNING",
    "TASK_INTERRUPTIBLE",
    "TASK_UNINTERRUPTIBLE",
    "O_RDONLY",
    "O_WRONLY",
    "O_RDWR",
    "O_NONBLOCK",
    "O_APPEND",
    "O_NDELAY",
    "O_SYNC",
    "FASYNC",
    "S_IFMT",
    "S_IFCHR",
    "S_IFREG",
    "S_IFDIR",
    "S_IFBLK",
    "S_IRUGO",
    "S_IWUSR",
    "S_IRWXUGO",
    "FMODE_READ",
    "FMODE_WRITE",
    "MINORBITS",
    "MINOR(0x1234)",
    "MAJOR(0x1234)",
    "MKDEV(10, 130)",
    "MISC_MAJOR",
    "MISC_DYNAMIC_MINOR",
    "WATCHDOG_MINOR",
    "MAX_CHRDEV",
    "WDIOC_GETSUPPORT",
    "WDIOC_GETSTATUS",
    "WDIOC_KEEPALIVE",
    "WDIOC_SETTIMEOUT",
    "WDIOC_GETTIMEOUT",
    "WDIOF_SETTIMEOUT",
    "WDIOF_MAGICCLOSE",
    "WDIOS_DISABLECARD",
    "_IOR('k', 1, int)",
    "_IOW('k', 2, long)",
    "_IOWR('k', 3, char[5])",
    "_IO('k', 4)",
    "_IOC_NR(0xc0045706)",
    "_IOC_SIZE(0xc0045706)",
    "SYS_DOWN",
    "SYS_RESTART",
    "SYS_HALT",
    "SYS_POWER_OFF",
    "NOTIFY_DONE",
    "NOTIFY_OK",
    "IORESOURCE_IO",
    "IORESOURCE_BUSY",
    "POLLIN",
    "POLLOUT",
    "POLLRDNORM",
    "POLLWRNORM",
    "POLLERR",
    "EFAULT",
    "EINVAL",
    "ENOTTY",
    "EBUSY",
    "EAGAIN",
    "ENODEV",
    "ESPIPE",
    "ENOSPC",
    "ERESTARTSYS",
    "ENOIOCTLCMD",
    "VERIFY_READ",
    "VERIFY_WRITE",
    "GFP_KERNEL",
    "GFP_ATOMIC",
    "CAP_SYS_ADMIN",
    "WQ_FLAG_EXCLUSIVE",
    "MOD_RUNNING",
    "MOD_AUTOCLEAN",
    "SEL_IN",
    "READ",
    "WRITE",
)


def probe_source() -> tuple[str, list[str]]:
    """C source whose ``layout_values`` array holds every checked number, and their names."""
    names: list[str] = []
    exprs: list[str] = []
    for struct, members in MEMBERS.items():
        for m in members:
            names.append(f"offsetof(struct {struct}, {m})")
            exprs.append(f"__builtin_offsetof(struct {struct}, {m})")
    for t in SIZES:
        names.append(f"sizeof({t})")
        exprs.append(f"sizeof({t})")
    for c in CONSTANTS:
        names.append(c)
        exprs.append(f"(unsigned long long)({c})")
    body = ",\n\t".join(exprs)
    return f"{HEADERS}\nunsigned long long layout_values[] = {{\n\t{body}\n}};\n", names


def compute(flags: list[str], tmp: Path, tag: str) -> list[int]:
    src, names = probe_source()
    c, o = tmp / f"{tag}.c", tmp / f"{tag}.o"
    c.write_text(src)
    proc = subprocess.run(
        ["gcc", *flags, "-c", str(c), "-o", str(o)], capture_output=True, text=True
    )
    assert proc.returncode == 0, f"{tag}: {proc.stderr[-4000:]}"
    with open(o, "rb") as fh:
        elf = ELFFile(fh)
        (sym,) = elf.get_section_by_name(".symtab").get_symbol_by_name("layout_values")
        data = elf.get_section(sym["st_shndx"]).data()
        raw = data[sym["st_value"] : sym["st_value"] + sym["st_size"]]
    values = [int.from_bytes(raw[i : i + 8], "little") for i in range(0, len(raw), 8)]
    assert len(values) == len(names)
    return values


def stub_flags(arch: str) -> list[str]:
    return toolchain.cflags(arch)


@pytest.mark.parametrize("arch", kernel24.ARCHES)
def test_stub_layouts_and_constants_match_the_real_headers(kernel24_build, arch, tmp_path):
    kb = kernel24_build(arch, "unpatched")
    real = compute(list(kb.cflags), tmp_path, "real")
    ours = compute(stub_flags(arch), tmp_path, "stub")
    _, names = probe_source()
    diffs = [
        f"{n}: kernel_stub {o:#x}, 2.4.37.11 {r:#x}"
        for n, o, r in zip(names, ours, real, strict=True)
        if o != r
    ]
    assert not diffs, "\n".join(diffs)


def test_probe_would_notice_a_layout_change(tmp_path):
    """The comparison is sensitive: moving one member of struct file changes the values."""
    flags = stub_flags("i386")
    base = compute(flags, tmp_path, "base")
    inc = tmp_path / "inc" / "linux"
    inc.mkdir(parents=True)
    fs = (toolchain.INCLUDE_DIR / "linux" / "fs.h").read_text()
    moved = fs.replace(
        "\tvoid\t\t\t*private_data;\n", "\tvoid\t\t\t*private_data;\n\tint\t\t\tf_extra;\n"
    )
    assert moved != fs
    (inc / "fs.h").write_text(moved)
    changed = compute([f"-I{tmp_path / 'inc'}", *flags], tmp_path, "moved")
    _, names = probe_source()
    diff = {n for n, a, b in zip(names, base, changed, strict=True) if a != b}
    assert "offsetof(struct file, f_iobuf)" in diff and "sizeof(struct file)" in diff


CURRENT = """
#include <linux/module.h>
#include <linux/sched.h>
int current_pid(void) { return current->pid; }
"""


@pytest.mark.parametrize("arch", kernel24.ARCHES)
def test_current_is_found_the_same_way_with_both_header_sets(kernel24_build, arch, tmp_path):
    """``current`` is inline code a module carries: the stack mask on i386, a load from the
    per-CPU area on x86_64 (its pcurrent slot); both header sets must compile the same."""
    kb = kernel24_build(arch, "unpatched")
    src = tmp_path / "current.c"
    src.write_text(CURRENT)
    code = {}
    for tag, flags in (("real", list(kb.cflags)), ("stub", stub_flags(arch))):
        proc = subprocess.run(
            ["gcc", *flags, "-O2", "-S", str(src), "-o", "-"], capture_output=True, text=True
        )
        assert proc.returncode == 0, f"{tag}: {proc.stderr[-3000:]}"
        body = proc.stdout.split("current_pid:", 1)[1].split(".size", 1)[0]
        code[tag] = [line.split("#")[0].strip() for line in body.splitlines() if "\t" in line]
    assert code["real"] == code["stub"]
    if arch == "x86_64":
        assert any("%gs:24" in line for line in code["stub"]), code["stub"]


DRIVER_EXAMPLES = ("lkmpgdev", "procfile", "scull", "softwdog")


@pytest.mark.parametrize("arch", kernel24.ARCHES)
@pytest.mark.parametrize("name", DRIVER_EXAMPLES)
def test_driver_examples_build_against_the_real_headers_with_the_same_imports(
    kernel24_build, arch, name, tmp_path
):
    """The same source compiles against both header sets and asks the kernel for the
    same services (up to a string function one of them inlines)."""
    kb = kernel24_build(arch, "unpatched")
    src = toolchain.REPO_ROOT / "examples" / f"{name}.c"
    imports = {}
    for tag, flags in (("real", list(kb.cflags)), ("stub", stub_flags(arch))):
        out = tmp_path / f"{tag}.o"
        proc = subprocess.run(
            ["gcc", *flags, "-c", str(src), "-o", str(out)], capture_output=True, text=True
        )
        assert proc.returncode == 0, f"{tag}: {proc.stderr[-3000:]}"
        with open(out, "rb") as fh:
            symtab = ELFFile(fh).get_section_by_name(".symtab")
            imports[tag] = {
                s.name for s in symtab.iter_symbols() if s.name and s["st_shndx"] == "SHN_UNDEF"
            }
    # either compiler may inline a string function the other calls
    inlinable = {"memcpy", "memset", "strlen", "strcpy"}
    assert imports["real"] - inlinable == imports["stub"] - inlinable
