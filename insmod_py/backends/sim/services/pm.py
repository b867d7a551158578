"""Power management registration, as 2.4.37.11's kernel/pm.c (``CONFIG_PM=y`` in the
allmod kernels): ``pm_register`` kmallocs a zeroed ``struct pm_dev`` holding the type, id
and callback, and puts it at the head of the kernel's ``pm_devs`` list (NULL when
kmalloc fails); ``pm_unregister`` unlinks and frees it (NULL: nothing).  The module
owns the struct in between (it may set ``data``).  Nothing sends power events: the
simulated machine never suspends.  The list's head is in the kernel data page, rebuilt
from the driver state for each run.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import kstructs
from ..drivers_state import PM_DEVS
from .call import kmalloc_size
from .kmem import kmap, list_add, poke, wsize
from .uaccess import drivers


def _register(c) -> int:
    pd = kstructs.struct(wsize(c), "pm_dev")
    dev = c.kmalloc.alloc(kmalloc_size(pd.size), 32)
    if not dev:
        return 0
    c.write(dev, bytes(pd.size))
    poke(c, dev + pd.off("type"), c.arg(0), pd.width("type"))
    poke(c, dev + pd.off("id"), c.arg(1))
    poke(c, dev + pd.off("callback"), c.arg(2))
    devs = drivers(c).pm_devs
    head = kmap(c).data_base + PM_DEVS
    first = devs[0] + pd.off("entry") if devs else head
    list_add(c, dev + pd.off("entry"), head, first)  # list_add: at the head
    devs.insert(0, dev)
    return dev


def _unregister(c) -> int:
    dev = c.arg(0)
    if not dev:
        return 0
    pd = kstructs.struct(wsize(c), "pm_dev")
    w = wsize(c)
    entry = dev + pd.off("entry")
    nxt, prev = c.read(entry, w), c.read(entry + w, w)
    poke(c, int.from_bytes(nxt, "little") + w, int.from_bytes(prev, "little"))  # list_del
    poke(c, int.from_bytes(prev, "little"), int.from_bytes(nxt, "little"))
    poke(c, entry, 0)
    poke(c, entry + w, 0)
    devs = drivers(c).pm_devs
    if dev in devs:
        devs.remove(dev)
    c.kmalloc.free(dev)
    return 0


FUNCTIONS: tuple[tuple[str, Callable], ...] = (
    ("pm_register", _register),
    ("pm_unregister", _unregister),
)
