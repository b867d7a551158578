"""The crypto API's algorithm list, as 2.4.37.11's crypto/api.c keeps it.

``crypto_register_alg`` adds a module's ``struct crypto_alg`` at the tail of the
kernel's ``crypto_alg_list`` unless an algorithm of the same ``cra_name`` is there
(``-EEXIST``); ``crypto_unregister_alg`` takes it out (``-ENOENT`` when it is not
there; an algorithm without ``cra_module`` is a kernel BUG).  Both are GPL-only
exports, as in 2.4.  No algorithm is built into the kernels we build (only the API
and HMAC are), so the list starts empty.  The list's entries live in module memory;
its head is in the kernel data page, rebuilt from the driver state for each run.
Transforms (``crypto_alloc_tfm``) are not provided.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import kstructs
from ..drivers_state import CRYPTO_ALG_LIST
from .kmem import kmap, peek, poke, wsize
from .runtime import Oops
from .strings import read_string
from .uaccess import drivers

ENOENT, EEXIST = 2, 17
UNREGISTER_BUG_LINE = 193  # crypto/api.c: BUG_ON(!alg->cra_module)


def _head(c) -> int:
    return kmap(c).data_base + CRYPTO_ALG_LIST


def _name(c, alg: int) -> bytes:
    ca = kstructs.struct(wsize(c), "crypto_alg")
    return read_string(c, alg + ca.off("cra_name"), ca.width("cra_name"))


def _set_links(c, entry: int, nxt: int, prev: int) -> None:
    """``entry``'s list_head (cra_list is the first member, so alg == &alg->cra_list)."""
    poke(c, entry, nxt)
    poke(c, entry + wsize(c), prev)


def _register(c) -> int:
    alg = c.arg(0)
    algs = drivers(c).crypto_algs
    name = _name(c, alg)
    if any(_name(c, q) == name for q in algs):
        return -EEXIST
    head = _head(c)
    last = algs[-1] if algs else head
    _set_links(c, alg, head, last)  # list_add_tail
    poke(c, last, alg)
    poke(c, head + wsize(c), alg)
    algs.append(alg)
    return 0


def _unregister(c) -> int:
    alg = c.arg(0)
    ca = kstructs.struct(wsize(c), "crypto_alg")
    if not peek(c, alg + ca.off("cra_module")):
        raise Oops(f"Oops: kernel BUG at api.c:{UNREGISTER_BUG_LINE}! (from {c.where(c.caller)})")
    algs = drivers(c).crypto_algs
    if alg not in algs:
        return -ENOENT
    i = algs.index(alg)
    head = _head(c)
    prev = algs[i - 1] if i else head
    nxt = algs[i + 1] if i + 1 < len(algs) else head
    poke(c, prev, nxt)  # list_del
    poke(c, nxt + wsize(c), prev)
    _set_links(c, alg, 0, 0)
    del algs[i]
    return 0


FUNCTIONS: tuple[tuple[str, Callable], ...] = (
    ("GPLONLY_crypto_register_alg", _register),
    ("GPLONLY_crypto_unregister_alg", _unregister),
)
