"""register_chrdev / unregister_chrdev: the character device majors."""

from __future__ import annotations

from .call import Call
from .runtime import MAX_CHRDEV
from .strings import read_string

EBUSY, EINVAL = 16, 22


def _register_chrdev(c: Call) -> int:
    major, fops = c.arg(0), c.arg(2)
    name = read_string(c, c.arg(1), 256).decode("utf-8", "backslashreplace")
    devs = c.runtime.chrdevs
    entry = {"name": name, "fops": fops, "module": c.module_at(c.caller)}
    if major == 0:
        for m in range(MAX_CHRDEV - 1, 0, -1):
            if m not in devs:
                devs[m] = entry
                return m
        return -EBUSY
    if major >= MAX_CHRDEV:
        return -EINVAL
    if major in devs and devs[major]["fops"] != fops:
        return -EBUSY
    devs[major] = entry
    return 0


def _unregister_chrdev(c: Call) -> int:
    major = c.arg(0)
    name = read_string(c, c.arg(1), 256).decode("utf-8", "backslashreplace")
    dev = c.runtime.chrdevs.get(major)
    if major >= MAX_CHRDEV or dev is None or dev["name"] != name:
        return -EINVAL
    del c.runtime.chrdevs[major]
    return 0
