"""The simulated kernel's registries a module joins with one call, as 2.4.37.11 keeps them:
notifier chains (kernel/sys.c), NLS tables (fs/nls/nls_base.c), crypto algorithms
(crypto/api.c), inter-module entries (kernel/module.c), devfs (fs/devfs/base.c), power
management devices (kernel/pm.c), and semaphores that must wait (arch/*/kernel/semaphore.c).

Each test builds a small module against kernel_stub/, loads it into a private simulated
kernel and checks what the kernel's code, as 2.4 wrote it, answers it: the order a chain
keeps, the errors of a second registration or of an unknown block, and a table found
by name holding its owner's use count.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.simdrivers import build, usecount

from insmod_py.backends.sim.services import nls
from insmod_py.errors import KernelError, LoadError
from insmod_py.simkernel import SimKernel

ARCHES = ("i386", "x86_64")


@pytest.fixture(params=ARCHES)
def kernel(request: pytest.FixtureRequest, tmp_path: Path):
    with SimKernel(str(tmp_path / "state"), arch=request.param, variant="unpatched") as k:
        yield k


# ---------------------------------------------------------------- notifier chains

NOTIFIERS = r"""
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/notifier.h>
#include <linux/reboot.h>

static int noop(struct notifier_block *nb, unsigned long code, void *p) { return NOTIFY_DONE; }

static struct notifier_block low = { notifier_call: noop, priority: 0 };
static struct notifier_block mid = { notifier_call: noop, priority: 5 };
static struct notifier_block mid2 = { notifier_call: noop, priority: 5 };
static struct notifier_block high = { notifier_call: noop, priority: 9 };
static struct notifier_block *own;  /* a chain of the module's own */

static char which(struct notifier_block *nb)
{
    return nb == &low ? 'l' : nb == &mid ? 'm' : nb == &mid2 ? 'n' : nb == &high ? 'h' : '?';
}

int init_module(void)
{
    struct notifier_block *p;
    char order[8];
    int i = 0, a, b, c, d;

    a = notifier_chain_register(&own, &mid);
    b = notifier_chain_register(&own, &low);
    c = notifier_chain_register(&own, &high);
    d = notifier_chain_register(&own, &mid2);  /* after the block of equal priority */
    for (p = own; p && i < 7; p = p->next)
        order[i++] = which(p);
    order[i] = 0;
    printk("own: %d %d %d %d %s\n", a, b, c, d, order);
    a = notifier_chain_unregister(&own, &mid);
    b = notifier_chain_unregister(&own, &mid);
    printk("own: unregister %d, again %d, first %c\n", a, b, which(own));
    a = register_reboot_notifier(&low);
    b = register_reboot_notifier(&high);
    c = unregister_reboot_notifier(&mid);
    printk("reboot: %d %d, not there %d, high->next %c\n", a, b, c, which(high.next));
    return 0;
}

void cleanup_module(void)
{
    int a = unregister_reboot_notifier(&low);
    int b = unregister_reboot_notifier(&high);
    int c = unregister_reboot_notifier(&high);

    printk("reboot: unregister %d %d %d\n", a, b, c);
}

MODULE_LICENSE("GPL");
"""


def test_notifier_chains_keep_priority_order_and_refuse_unknown_blocks(
    kernel: SimKernel, tmp_path: Path
) -> None:
    kernel.load(build(kernel, tmp_path, "notif", NOTIFIERS))
    assert kernel.dmesg() == [
        "<4>own: 0 0 0 0 hmnl",
        "<4>own: unregister 0, again -2, first h",
        "<4>reboot: 0 0, not there -2, high->next l",
    ]
    kernel.clear_dmesg()
    kernel.unload("notif")
    assert kernel.dmesg() == ["<4>reboot: unregister 0 0 -2"]


def test_the_reboot_chain_outlives_the_call_that_registered_it(
    kernel: SimKernel, tmp_path: Path
) -> None:
    """A second module sees the first one's block: the chain is kernel state."""
    first = NOTIFIERS.replace("int init_module(void)\n{", "int unused(void)\n{").replace(
        "void cleanup_module(void)\n{",
        "int init_module(void) { return register_reboot_notifier(&mid); }\n"
        "void cleanup_module(void)\n{\n    unregister_reboot_notifier(&mid);",
    )
    kernel.load(build(kernel, tmp_path, "first", first))
    second = r"""
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/notifier.h>
#include <linux/reboot.h>
static struct notifier_block nb = { priority: 9 };
int init_module(void)
{
    int a = register_reboot_notifier(&nb);
    printk("second: %d, next is %s\n", a, nb.next ? "first's" : "none");
    return unregister_reboot_notifier(&nb);
}
void cleanup_module(void) { }
"""
    kernel.clear_dmesg()
    kernel.load(build(kernel, tmp_path, "second", second))
    assert kernel.dmesg() == ["<4>second: 0, next is first's"]  # priority 9 goes before 5
    kernel.unload("second")
    kernel.clear_dmesg()
    kernel.unload("first")
    assert kernel.dmesg() == ["<4>reboot: unregister -2 -2 -2"]  # only mid was on the chain


# ---------------------------------------------------------------- NLS tables

CHARSET = r"""
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/errno.h>
#include <linux/nls.h>

static struct nls_table table = { charset: "test-1", owner: THIS_MODULE };
static struct nls_table other = { charset: "test-2", owner: THIS_MODULE };

int init_module(void)
{
    int a = register_nls(&table);
    int b = register_nls(&table);
    int c = register_nls(&other);
    int d = unregister_nls(&other);
    int e = unregister_nls(&other);

    printk("charset: %d %d %d %d %d\n", a, b, c, d, e);
    return a;
}

void cleanup_module(void)
{
    unregister_nls(&table);
}

MODULE_LICENSE("GPL");
"""

USER = r"""
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/errno.h>
#include <linux/nls.h>

static struct nls_table *p;

int init_module(void)
{
    struct nls_table *missing = load_nls("cp932");

    p = load_nls("test-1");
    printk("user: %s, cp932 %s\n", p ? p->charset : "none", missing ? "found" : "none");
    return p ? 0 : -EINVAL;
}

void cleanup_module(void)
{
    unload_nls(p);
}
"""


def test_nls_tables_register_once_and_a_lookup_holds_the_owner(
    kernel: SimKernel, tmp_path: Path
) -> None:
    with pytest.raises(KernelError, match="init_module: Invalid argument"):
        kernel.load(build(kernel, tmp_path, "user", USER))  # nothing registered yet
    kernel.clear_dmesg()
    kernel.load(build(kernel, tmp_path, "charset", CHARSET))
    assert kernel.dmesg() == ["<4>charset: 0 -16 0 0 -22"]
    assert usecount(kernel, "charset") == 0
    kernel.load(build(kernel, tmp_path, "user", USER))
    assert kernel.dmesg()[-1] == "<4>user: test-1, cp932 none"  # no kmod loads cp932
    assert usecount(kernel, "charset") == 1
    with pytest.raises(KernelError, match="Device or resource busy"):
        kernel.unload("charset")
    kernel.unload("user")
    assert usecount(kernel, "charset") == 0
    kernel.unload("charset")
    kernel.clear_dmesg()
    with pytest.raises(KernelError, match="init_module: Invalid argument"):
        kernel.load(build(kernel, tmp_path, "user2", USER))  # unregistered by cleanup


UTF8 = r"""
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/nls.h>

int init_module(void)
{
    static const __u8 euro[] = "\xe2\x82\xac", bad[] = "\xe2\x28\xac", text[] = "a\xc3\xa9\xff" "b";
    wchar_t wc = 0, wide[8] = { 0 };
    __u8 out[8] = { 0 };
    int n;

    n = utf8_mbtowc(&wc, euro, 3);
    printk("mbtowc %d %04x, short %d, bad %d\n", n, wc, utf8_mbtowc(&wc, euro, 2),
           utf8_mbtowc(&wc, bad, 3));
    n = utf8_wctomb(out, 0x20ac, 6);
    printk("wctomb %d %02x%02x%02x, short %d\n", n, out[0], out[1], out[2],
           utf8_wctomb(out, 0x20ac, 2));
    n = utf8_mbstowcs(wide, text, 8);
    printk("mbstowcs %d %04x %04x %04x\n", n, wide[0], wide[1], wide[2]);
    wide[2] = 0x20ac;
    n = utf8_wcstombs(out, wide, 8);
    printk("wcstombs %d %02x %02x%02x %02x%02x%02x\n", n, out[0], out[1], out[2], out[3],
           out[4], out[5]);
    return 0;
}

void cleanup_module(void) { }
"""


def test_utf8_conversions(kernel: SimKernel, tmp_path: Path) -> None:
    kernel.load(build(kernel, tmp_path, "utf8", UTF8))
    assert kernel.dmesg() == [
        "<4>mbtowc 3 20ac, short -1, bad -1",
        "<4>wctomb 3 e282ac, short -1",
        "<4>mbstowcs 3 0061 00e9 0062",  # 0xff is no sequence: skipped
        "<4>wcstombs 6 61 c3a9 e282ac",
    ]


def test_utf8_agrees_with_the_unicode_codec_on_every_16_bit_character() -> None:
    for wc in range(0x10000):
        expected = chr(wc).encode("utf-8", "surrogatepass")
        assert nls.wctomb(wc, 6) == expected
        assert nls.mbtowc(lambda i, e=expected: e[i], len(expected)) == (len(expected), wc)
    assert nls.mbtowc(lambda i: b"\xc0\x80"[i], 2) == (-1, 0)  # overlong NUL
    assert nls.mbtowc(lambda i: b"\xf0\x90\x80\x80"[i], 4) == (4, 0x10000)  # kept; *p truncates


# ---------------------------------------------------------------- crypto algorithms

ALGS = r"""
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/crypto.h>

static struct crypto_alg a = { cra_name: "one", cra_module: THIS_MODULE };
static struct crypto_alg b = { cra_name: "two", cra_module: THIS_MODULE };
static struct crypto_alg again = { cra_name: "one", cra_module: THIS_MODULE };

int init_module(void)
{
    int r1 = crypto_register_alg(&a);
    int r2 = crypto_register_alg(&b);
    int r3 = crypto_register_alg(&again);
    struct list_head *head = a.cra_list.prev;

    printk("register %d %d %d, a->b %d, b->head %d, head->a %d\n", r1, r2, r3,
           a.cra_list.next == &b.cra_list, b.cra_list.next == head, head->next == &a.cra_list);
    r1 = crypto_unregister_alg(&a);
    r2 = crypto_unregister_alg(&a);
    printk("unregister %d %d, a unlinked %d, head->b %d, b->prev head %d\n", r1, r2,
           a.cra_list.next == 0 && a.cra_list.prev == 0, head->next == &b.cra_list,
           b.cra_list.prev == head);
    return 0;
}

void cleanup_module(void)
{
    printk("cleanup %d\n", crypto_unregister_alg(&b));
}

MODULE_LICENSE("GPL");
"""


def test_crypto_algorithms_are_listed_once_by_name(kernel: SimKernel, tmp_path: Path) -> None:
    kernel.load(build(kernel, tmp_path, "algs", ALGS))
    assert kernel.dmesg() == [
        "<4>register 0 0 -17, a->b 1, b->head 1, head->a 1",
        "<4>unregister 0 -2, a unlinked 1, head->b 1, b->prev head 1",
    ]
    kernel.clear_dmesg()
    later = ALGS.replace('"one"', '"three"').replace('"two"', '"four"')
    kernel.load(build(kernel, tmp_path, "later", later))
    # the list is the kernel's, across modules: "three" went in after the first module's
    # "two", so what this module takes for the head (a's prev) is that entry, whose next
    # is "three", and "four" ends the list at the real head
    assert kernel.dmesg()[0] == "<4>register 0 0 -17, a->b 1, b->head 0, head->a 1"
    kernel.unload("later")
    kernel.clear_dmesg()
    kernel.unload("algs")
    assert kernel.dmesg() == ["<4>cleanup 0"]


def test_crypto_registration_is_gpl_only_and_needs_an_owner(
    kernel: SimKernel, tmp_path: Path
) -> None:
    proprietary = ALGS.replace('MODULE_LICENSE("GPL");', 'MODULE_LICENSE("Proprietary");')
    with pytest.raises(LoadError, match=r"unresolved symbols? crypto_"):
        kernel.load(build(kernel, tmp_path, "prop", proprietary))
    ownerless = ALGS.replace('cra_name: "one", cra_module: THIS_MODULE', 'cra_name: "one"')
    with pytest.raises(LoadError, match=r"kernel BUG at api\.c:193"):
        kernel.load(build(kernel, tmp_path, "ownerless", ownerless))


# ---------------------------------------------------------------- semaphores

SEMAPHORES = r"""
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/timer.h>
#include <asm/semaphore.h>

static DECLARE_MUTEX(free_one);
static DECLARE_MUTEX_LOCKED(taken);
static struct timer_list later;
static int mode;
MODULE_PARM(mode, "i");

static void release(unsigned long data)
{
    up(&taken);
    printk("timer: up, count %d\n", atomic_read(&taken.count));
}

int init_module(void)
{
    unsigned long start = jiffies;
    int r;

    down(&free_one);                 /* uncontended: no call into the kernel */
    up(&free_one);
    r = down_trylock(&taken);
    printk("trylock %d, count %d, free %d\n", r, atomic_read(&taken.count),
           atomic_read(&free_one.count));
    if (mode == 1) {
        r = down_interruptible(&taken);   /* nobody will up() it */
        printk("interruptible %d, count %d, sleepers %d\n", r, atomic_read(&taken.count),
               taken.sleepers);
        return 0;
    }
    if (mode == 2) {
        down(&taken);                    /* nobody will up() it: deadlock */
        return 0;
    }
    init_timer(&later);
    later.function = release;
    later.expires = jiffies + 5;
    add_timer(&later);
    down(&taken);                        /* sleeps until the timer's up() */
    printk("down after %lu jiffies, count %d, sleepers %d, queue empty %d\n",
           jiffies - start, atomic_read(&taken.count), taken.sleepers,
           list_empty(&taken.wait.task_list));
    up(&taken);
    return 0;
}

void cleanup_module(void) { }
"""


def test_down_sleeps_until_up_wakes_it(kernel: SimKernel, tmp_path: Path) -> None:
    kernel.load(build(kernel, tmp_path, "sem", SEMAPHORES))
    assert kernel.dmesg() == [
        "<4>trylock 1, count 0, free 1",  # trylock gave the count back
        "<4>timer: up, count 0",  # the sleeper had made it -1
        "<4>down after 5 jiffies, count 0, sleepers 0, queue empty 1",
    ]


def test_down_interruptible_with_nobody_to_wake_it_is_interrupted(
    kernel: SimKernel, tmp_path: Path
) -> None:
    kernel.load(build(kernel, tmp_path, "sem", SEMAPHORES), "mode=1")
    assert kernel.dmesg()[-1] == "<4>interruptible -4, count 0, sleepers 0"


def test_down_with_nobody_to_wake_it_is_a_deadlock(kernel: SimKernel, tmp_path: Path) -> None:
    with pytest.raises(LoadError, match=r"down\(\) sleeps uninterruptibly .* \(deadlock\)"):
        kernel.load(build(kernel, tmp_path, "sem", SEMAPHORES), "mode=2")


# ---------------------------------------------------------------- inter_module_*

PROVIDER = r"""
#include <linux/module.h>
#include <linux/kernel.h>

static int answer = 42;
static int twice;
MODULE_PARM(twice, "i");

int init_module(void)
{
    inter_module_register("answer", THIS_MODULE, &answer);
    if (twice)
        inter_module_register("answer", THIS_MODULE, &answer);
    return 0;
}

void cleanup_module(void)
{
    inter_module_unregister("answer");
}
"""

TAKER = r"""
#include <linux/module.h>
#include <linux/kernel.h>

static const int *p;
static int bad;
MODULE_PARM(bad, "i");

int init_module(void)
{
    const void *none = inter_module_get_request("question", "nobody");

    if (bad)
        inter_module_put("question");
    p = inter_module_get("answer");
    printk("taker: %d, question %s\n", p ? *p : -1, none ? "found" : "none");
    return p ? 0 : -ENODEV;
}

void cleanup_module(void)
{
    inter_module_put("answer");
}
"""


def test_inter_module_entries_hold_their_owner(kernel: SimKernel, tmp_path: Path) -> None:
    taker = build(kernel, tmp_path, "taker", TAKER.replace("-ENODEV", "-19"))
    with pytest.raises(KernelError, match="No such device"):
        kernel.load(taker)
    kernel.clear_dmesg()
    provider = build(kernel, tmp_path, "provider", PROVIDER)
    kernel.load(provider)
    kernel.load(taker)
    assert kernel.dmesg() == ["<4>taker: 42, question none"]
    assert usecount(kernel, "provider") == 1
    with pytest.raises(KernelError, match="busy"):
        kernel.unload("provider")
    kernel.unload("taker")
    assert usecount(kernel, "provider") == 0
    kernel.unload("provider")
    kernel.clear_dmesg()
    with pytest.raises(LoadError, match=r"kernel BUG at module\.c:230"):
        kernel.load(taker, "bad=1")


def test_inter_module_name_registered_twice_is_a_bug(kernel: SimKernel, tmp_path: Path) -> None:
    """(2.4's KERN_ERR line before the BUG has no newline: it is still an unfinished line.)"""
    with pytest.raises(LoadError, match=r"kernel BUG at module\.c:117"):
        kernel.load(build(kernel, tmp_path, "provider", PROVIDER), "twice=1")


# ---------------------------------------------------------------- devfs

DEVFS = r"""
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/fs.h>
#define CONFIG_DEVFS_FS 1  /* the allmod kernels have devfs; kernel_stub's config does not */
#include <linux/devfs_fs_kernel.h>

static struct file_operations fops = { owner: THIS_MODULE };
static devfs_handle_t dir, dev;

#define REG(d, name, mode, ops) \
    devfs_register(d, name, DEVFS_FL_DEFAULT, 42, 0, mode, ops, NULL)

int init_module(void)
{
    devfs_handle_t again, mk, inner, file;
    int major;

    dev = REG(NULL, "a/b/dev", S_IFCHR | 0600, &fops);
    dir = devfs_mk_dir(NULL, "a", NULL);              /* made on the way: this one */
    inner = devfs_mk_dir(dir, "b", NULL);
    again = REG(inner, "dev", S_IFCHR | 0600, &fops);  /* taken */
    mk = devfs_mk_dir(NULL, "a/b/dev", NULL);          /* no directory */
    file = REG(dev, "x", S_IFCHR | 0600, &fops);       /* below a device */
    printk("devfs: %d %d %d %d %d %d\n", dev != NULL, dir != NULL, inner != NULL,
           again != NULL, mk != NULL, file != NULL);
    printk("refused: %d %d %d %d\n", REG(NULL, "../x/up", S_IFCHR, &fops) != NULL,
           REG(NULL, "noops", S_IFCHR, NULL) != NULL, REG(NULL, "d", S_IFDIR, &fops) != NULL,
           REG(NULL, "fifo", S_IFIFO, &fops) != NULL);
    devfs_unregister(dir);                             /* a/, a/b/ and a/b/dev */
    dev = REG(NULL, "a/b/dev", S_IFCHR | 0600, &fops);
    devfs_unregister(NULL);
    major = devfs_register_chrdev(0, "devfstest", &fops);
    printk("again: %d, major %d, %d\n", dev != NULL, major > 0,
           devfs_unregister_chrdev(major, "devfstest"));
    return 0;
}

void cleanup_module(void)
{
    devfs_unregister(dev);
}

MODULE_LICENSE("GPL");
"""


def test_devfs_registration_walks_and_refuses_as_2_4(kernel: SimKernel, tmp_path: Path) -> None:
    kernel.load(build(kernel, tmp_path, "devfstest", DEVFS))
    assert kernel.dmesg() == [
        "<4>devfs: 1 1 1 0 0 0",
        "<4>refused: 0 0 0 0",  # "../" climbs only before another component
        "<4>again: 1, major 1, 0",
    ]
    kernel.unload("devfstest")
    kernel.clear_dmesg()
    kernel.load(build(kernel, tmp_path, "devfstest2", DEVFS))  # the tree was emptied
    assert kernel.dmesg()[0] == "<4>devfs: 1 1 1 0 0 0"


# ---------------------------------------------------------------- power management

PM = r"""
#include <linux/module.h>
#include <linux/kernel.h>
#define CONFIG_PM 1  /* the allmod kernels have it; kernel_stub's config does not */
#include <linux/pm.h>

static int cb(struct pm_dev *dev, pm_request_t rqst, void *data) { return 0; }
static struct pm_dev *one, *two;

int init_module(void)
{
    one = pm_register(PM_ISA_DEV, 7, cb);
    two = pm_register(PM_PCI_DEV, 8, cb);
    one->data = one;
    printk("pm: %d %lu %d %d, newest first %d, head->prev is one %d\n", one->type, one->id,
           one->callback == cb, one->flags == 0 && one->state == 0,
           two->entry.next == &one->entry, two->entry.prev->prev == &one->entry);
    pm_unregister(two);
    pm_unregister(NULL);
    printk("pm: one alone %d\n", one->entry.next == one->entry.prev);
    return 0;
}

void cleanup_module(void)
{
    pm_unregister(one);
}
"""


def test_pm_register_lists_a_zeroed_pm_dev(kernel: SimKernel, tmp_path: Path) -> None:
    kernel.load(build(kernel, tmp_path, "pmtest", PM))
    assert kernel.dmesg() == [
        "<4>pm: 5 7 1 1, newest first 1, head->prev is one 1",  # PM_ISA_DEV is 5
        "<4>pm: one alone 1",
    ]
    kernel.unload("pmtest")
