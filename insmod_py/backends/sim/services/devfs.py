"""devfs's registration calls, as 2.4.37.11's fs/devfs/base.c answers them (the allmod
kernels have ``CONFIG_DEVFS_FS=y``, not mounted; the minimal ones inline it away).

A handle (``devfs_handle_t``) is opaque to modules: each entry is a small kmalloc block
standing for devfs's ``struct devfs_entry``, and the tree (name, parent, directory or
not) is kept in the driver state.  What a module can see is which calls return NULL:

- ``devfs_register(dir, "a/b/name", flags, major, minor, mode, ops, info)`` creates
  the missing directories on the way and the leaf; NULL for a NULL name, NULL ``ops``
  (the simulated kernel has no block majors whose fops a block device could borrow), a
  directory or symlink mode, a mode that is no device or file, a path through an
  entry that is no directory, a ``../`` component (2.4 refuses to climb), or a name
  that is taken;
- ``devfs_mk_dir`` returns the new directory, or the one already there of that name;
- ``devfs_unregister`` removes an entry, a directory with everything below it (NULL
  and the root: nothing);
- ``devfs_register_chrdev``/``devfs_unregister_chrdev`` are ``register_chrdev``/
  ``unregister_chrdev`` (devfs runs without its "only" boot option).

The tree starts empty: the real kernel's built-in drivers have registered entries of
their own by the time a module loads, so a module re-registering one of their names
gets NULL there and a handle here.  ``DEVFS_FL_AUTO_DEVNUM`` numbers are not tracked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .call import kmalloc_size
from .chrdev import _register_chrdev, _unregister_chrdev
from .strings import read_string
from .uaccess import drivers

S_IFMT, S_IFDIR, S_IFLNK = 0o170000, 0o040000, 0o120000
S_IFCHR, S_IFBLK, S_IFREG = 0o020000, 0o060000, 0o100000
ENTRY_SIZE = 64  # the block standing for a struct devfs_entry


def _tree(c) -> list[dict[str, Any]]:
    return drivers(c).devfs


def _entry(c, addr: int) -> dict[str, Any] | None:
    return next((e for e in _tree(c) if e["addr"] == addr), None)


def _root(c) -> dict[str, Any] | None:
    """_devfs_get_root_entry: the root directory, made on first use."""
    root = next((e for e in _tree(c) if not e["parent"]), None)
    if root is None:
        root = _alloc(c, 0, "", True)
    return root


def _alloc(c, parent: int, name: str, is_dir: bool) -> dict[str, Any] | None:
    addr = c.kmalloc.alloc(kmalloc_size(ENTRY_SIZE), 32)
    if not addr:
        return None
    c.write(addr, bytes(ENTRY_SIZE))
    entry = {"addr": addr, "parent": parent, "name": name, "dir": is_dir}
    _tree(c).append(entry)
    return entry


def _child(c, parent: dict[str, Any], name: str) -> dict[str, Any] | None:
    """_devfs_search_dir: the entry of that name in a directory (none in a non-directory)."""
    if not parent["dir"]:
        return None
    return next((e for e in _tree(c) if e["parent"] == parent["addr"] and e["name"] == name), None)


def _append(
    c, parent: dict[str, Any], name: str, is_dir: bool
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """_devfs_append_entry of a new entry: (the new one, or None; the one in the way)."""
    if not parent["dir"]:
        return None, None  # -ENOTDIR
    old = _child(c, parent, name)
    if old is not None:
        return None, old  # -EEXIST
    return _alloc(c, parent["addr"], name, is_dir), None


def _parent_for_leaf(c, dir_addr: int, name: str) -> tuple[dict[str, Any], str] | None:
    """_devfs_make_parent_for_leaf: (the directory the leaf goes in, the leaf's name)."""
    cur = _root(c) if not dir_addr else _entry(c, dir_addr)
    if cur is None:
        return None  # no kmalloc for the root, or a handle devfs no longer has
    pos = len(name) - 1
    while pos > 0 and name[pos] != "/":
        pos -= 1
    leaf_pos = pos + 1 if name and name[pos] == "/" else 0
    i, left = 0, pos
    while left > 0:
        part = name[i : i + left]
        if part.startswith("../"):
            return None  # the parent is reached, and 2.4 gives up there
        step = part.find("/")
        step = left if step < 0 else step
        found = _child(c, cur, part[:step])
        if found is None:
            found, old = _append(c, cur, part[:step], True)
            if found is None:
                if old is None or not old["dir"]:
                    return None
                found = old
        cur = found
        if i + step < len(name) and name[i + step] == "/":
            step += 1
        i, left = i + step, left - step
    return cur, name[leaf_pos:]


def _name(c, addr: int) -> str:
    return read_string(c, addr).decode("utf-8", "surrogateescape")


def _register(c) -> int:
    dir_addr, name_addr, mode, ops = c.arg(0), c.arg(1), c.arg(5) & 0xFFFF, c.arg(6)
    if not name_addr or not ops:  # a block device's fops from its major: none here
        return 0
    kind = mode & S_IFMT
    if kind in (S_IFDIR, S_IFLNK):
        return 0
    placed = _parent_for_leaf(c, dir_addr, _name(c, name_addr))
    if placed is None or kind not in (S_IFCHR, S_IFBLK, S_IFREG):
        return 0
    new, _ = _append(c, placed[0], placed[1], False)
    return new["addr"] if new is not None else 0


def _mk_dir(c) -> int:
    dir_addr, name_addr = c.arg(0), c.arg(1)
    if not name_addr:
        return 0
    placed = _parent_for_leaf(c, dir_addr, _name(c, name_addr))
    if placed is None:
        return 0
    new, old = _append(c, placed[0], placed[1], True)
    if new is not None:
        return new["addr"]
    return old["addr"] if old is not None and old["dir"] else 0


def _remove(c, entry: dict[str, Any]) -> None:
    """_devfs_unregister: unhook and free ``entry``, and below a directory, every child."""
    for child in [e for e in _tree(c) if e["parent"] == entry["addr"]]:
        _remove(c, child)
    _tree(c).remove(entry)
    c.kmalloc.free(entry["addr"])


def _unregister(c) -> int:
    entry = _entry(c, c.arg(0)) if c.arg(0) else None
    if entry is not None and entry["parent"]:
        _remove(c, entry)
    return 0


FUNCTIONS: tuple[tuple[str, Callable], ...] = (
    ("devfs_register", _register),
    ("devfs_mk_dir", _mk_dir),
    ("devfs_unregister", _unregister),
    ("devfs_register_chrdev", _register_chrdev),
    ("devfs_unregister_chrdev", _unregister_chrdev),
)
