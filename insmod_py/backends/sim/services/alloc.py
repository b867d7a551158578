"""kmalloc / kfree and vmalloc / vfree over the simulated kernel's two arenas."""

from __future__ import annotations

from ....arch import PAGE
from .call import Call, kmalloc_size
from .printk import log_text
from .runtime import Oops

KMALLOC_MAX = 128 * 1024  # 2.4's largest general cache, size-131072


def _kmalloc(c: Call) -> int:
    size = c.arg(0)
    if size > KMALLOC_MAX:
        return 0
    n = kmalloc_size(size)
    return c.kmalloc.alloc(n, min(n, PAGE))


def _kfree(c: Call) -> int:
    addr = c.arg(0)
    if addr and not c.kmalloc.free(addr):
        raise Oops(
            f"Oops: kfree of a pointer not from kmalloc (or freed twice) {c.kernel_map.hex(addr)}, "
            f"called from {c.where(c.caller)}"
        )
    return 0


def _vmalloc(c: Call) -> int:
    size = c.arg(0)
    if size == 0:
        return 0
    # page granular with an unmapped-in-spirit guard page after each area, as get_vm_area
    return c.vmalloc.alloc(-(-size // PAGE) * PAGE, PAGE, gap=PAGE)


def _vfree(c: Call) -> int:
    addr = c.arg(0)
    if addr and not c.vmalloc.free(addr):
        hexaddr = c.kernel_map.hex(addr)
        log_text(c.runtime, f"<3>Trying to vfree() nonexistent vm area ({hexaddr})\n".encode())
    return 0
