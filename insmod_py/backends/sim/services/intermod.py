"""Inter-module registration, as 2.4.37.11's kernel/module.c: a module publishes a pointer
under a name (``inter_module_register``) and another takes it (``inter_module_get``,
holding a use of the owner module) and gives it back (``inter_module_put``).

A name registered twice, or unregistered or put when it is not there, is a kernel BUG
after a ``KERN_ERR`` line, as 2.4 has it.  The kernels we build have no kmod, so
``inter_module_get_request`` loads nothing: it is ``inter_module_get`` twice.  The
entries (newest first, as ``list_add`` leaves them) are kept in the driver state; the
names stay in the modules' memory and are compared there, as 2.4 does.
"""

from __future__ import annotations

from collections.abc import Callable

from .nls import mod_dec_use_count, try_inc_mod_count
from .printk import log_text
from .runtime import Oops
from .strings import read_string
from .uaccess import drivers

# kernel/module.c: the line of each BUG()
REGISTER_BUG, UNREGISTER_BUG, PUT_BUG = 117, 158, 230
KERN_ERR = "<3>"


def _find(c, name: bytes) -> int | None:
    """The index of the entry registered under ``name``, or None."""
    for i, (im_name, _, _) in enumerate(drivers(c).inter_module):
        if read_string(c, im_name) == name:
            return i
    return None


def _bug(c, line: int, message: str) -> Oops:
    log_text(c.runtime, f"{KERN_ERR}{message}".encode(errors="surrogateescape"))
    return Oops(f"Oops: kernel BUG at module.c:{line}! (from {c.where(c.caller)})")


def _text(name: bytes) -> str:
    return name.decode("utf-8", "surrogateescape")


def _register(c) -> int:
    im_name, owner, userdata = c.arg(0), c.arg(1), c.arg(2)
    name = read_string(c, im_name)
    if _find(c, name) is not None:
        raise _bug(c, REGISTER_BUG, f"inter_module_register: duplicate im_name '{_text(name)}'")
    drivers(c).inter_module.insert(0, [im_name, owner, userdata])
    return 0


def _unregister(c) -> int:
    name = read_string(c, c.arg(0))
    i = _find(c, name)
    if i is None:
        raise _bug(c, UNREGISTER_BUG, f"inter_module_unregister: no entry for '{_text(name)}'")
    del drivers(c).inter_module[i]
    return 0


def _get(c) -> int:
    i = _find(c, read_string(c, c.arg(0)))
    if i is None:
        return 0
    _, owner, userdata = drivers(c).inter_module[i]
    return userdata if try_inc_mod_count(c, owner) else 0


def _put(c) -> int:
    name = read_string(c, c.arg(0))
    i = _find(c, name)
    if i is None:
        raise _bug(c, PUT_BUG, f"inter_module_put: no entry for '{_text(name)}'")
    owner = drivers(c).inter_module[i][1]
    if owner:
        mod_dec_use_count(c, owner)
    return 0


FUNCTIONS: tuple[tuple[str, Callable], ...] = (
    ("inter_module_register", _register),
    ("inter_module_unregister", _unregister),
    ("inter_module_get", _get),
    ("inter_module_get_request", _get),  # no kmod: request_module loads nothing
    ("inter_module_put", _put),
)
