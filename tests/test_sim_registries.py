"""The simulated kernel's registries a module joins with one call, as 2.4.37.11 keeps them:
notifier chains (kernel/sys.c) and NLS tables (fs/nls/nls_base.c).

Each test builds a small module against kernel_stub/, loads it into a private simulated
kernel and checks what the kernel's code, as 2.4 wrote it, answers it: the order a chain
keeps, the errors of a second registration or of an unknown block, and a table found
by name holding its owner's use count.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from insmod_py import toolchain
from insmod_py.simkernel import SimKernel

ARCHES = ("i386", "x86_64")


@pytest.fixture(params=ARCHES)
def kernel(request: pytest.FixtureRequest, tmp_path: Path):
    with SimKernel(str(tmp_path / "state"), arch=request.param, variant="unpatched") as k:
        yield k


def build(k: SimKernel, tmp_path: Path, name: str, source: str) -> str:
    src = tmp_path / f"{name}.c"
    src.write_text(source)
    obj = tmp_path / f"{name}.o"
    proc = subprocess.run(
        ["gcc", *toolchain.cflags(k.arch), "-c", str(src), "-o", str(obj)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return str(obj)


def usecount(k: SimKernel, name: str) -> int:
    (mod,) = [m for m in k.backend.modules() if m.name == name]
    return mod.usecount


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
