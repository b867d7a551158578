"""The broad modular ("allmod") 2.4 configuration, generated with 2.4's own ``Configure``.

2.4 has no ``allmodconfig``.  This drives ``scripts/Configure`` (``make config``) question
by question, starting from the minimal config's values: every tristate is answered ``m``,
except those the minimal config builds in (the serial console, the RAM disk, ext2: what
the kernel needs to boot under qemu with its initrd and agent), which stay ``y``;
a bool is answered ``y`` when some other question tests it (it gates a menu or a driver,
e.g. ``CONFIG_NET``, ``CONFIG_SCSI_LOWLEVEL``...), except in the "Processor type and
features" and "Kernel hacking" menus, which keep the minimal config's answers (processor,
SMP, HIGHMEM, debugging), as do debugging options elsewhere, and ``CONFIG_FBCON_FONTS``
(``y`` without a font selected breaks the bzImage link).  Every other question keeps its
default.  The result is committed as ``configs/<arch>-allmod.config``
(``tools/corpus24 --generate-config`` rewrites it), so a
build does not depend on this driver.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
from pathlib import Path

from .source import Kernel24Error

_PROMPT = re.compile(r"\((CONFIG_\w+)\) \[([^\]]*)\] (?:\(NEW\) )?$")
# a choice: "Title (one, two, ...) [default] "
_CHOICE = re.compile(r"\] (?:\(NEW\) )?$")
_NAME = re.compile(r"\$(CONFIG_\w+)")
_ANY_NAME = re.compile(r"\b(CONFIG_\w+)\b")
# Menus whose bools keep the base config's answers (their tristates are still m).
_KEPT_MENUS = ("Processor type and features", "Kernel hacking")
_MAX_PASSES = 6
_KEPT_NAMES = frozenset({"CONFIG_FBCON_FONTS", "CONFIG_MODVERSIONS"})


def _gating_names(tree: Path) -> set[str]:
    """Every CONFIG_ name some Config.in tests (``$CONFIG_X`` in a condition or dep_ list)."""
    names: set[str] = set()
    for path in tree.rglob("*"):
        if path.name in ("Config.in", "config.in") and path.is_file():
            names.update(_NAME.findall(path.read_text(errors="replace")))
    return names


def _kept_names(arch_config_in: Path) -> set[str]:
    """The names asked in the arch's kept menus (from the menu's comment to its endmenu)."""
    kept: set[str] = set()
    inside = False
    for line in arch_config_in.read_text(errors="replace").splitlines():
        if line.startswith("comment") and any(m in line for m in _KEPT_MENUS):
            inside = True
        elif inside and line.strip() == "endmenu" and not line[0].isspace():
            inside = False
        elif inside:
            kept.update(_ANY_NAME.findall(line))
    return kept


def _answer(name: str, choices: str, gating: set[str], kept: set[str], built_in: set[str]) -> str:
    options = choices.lower().split("/")
    if name in built_in and "y" in options:
        return "y"
    if "m" in options:
        return "m"
    keep = name in kept or name in _KEPT_NAMES or "DEBUG" in name
    if set(options) >= {"y", "n"} and name in gating and not keep:
        return "y"
    return ""  # the default: the base config's value, else Configure's


def generate(tree: Path, arch: str, base_config: str, modversions: bool = False) -> str:
    """Run Configure in the unpacked, patched ``tree`` until its answers are a fixed point.

    One pass is not enough: some Config.in files test an option that a later file asks
    (the ACPI hotplug driver, the PCILynx driver's I2C), so a pass sees the previous
    pass's value; the result is the first .config that a pass reproduces unchanged,
    which is also what ``make oldconfig`` keeps.
    """
    gating = _gating_names(tree)
    kept = _kept_names(tree / "arch" / arch / "config.in")
    built_in = {ln.split("=")[0] for ln in base_config.splitlines() if ln.endswith("=y")}
    config = base_config
    for _ in range(_MAX_PASSES):
        new = _one_pass(tree, arch, config, modversions, gating, kept, built_in)
        if new == config:
            return new
        config = new
    raise Kernel24Error(f"Configure's answers for {arch} do not settle in {_MAX_PASSES} passes")


def _one_pass(
    tree: Path,
    arch: str,
    base_config: str,
    modversions: bool,
    gating: set[str],
    kept: set[str],
    built_in: set[str],
) -> str:
    (tree / ".config").write_text(base_config)
    proc = subprocess.Popen(
        ["bash", "scripts/Configure", f"arch/{arch}/config.in"],
        cwd=tree,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ARCH": arch, "PAGER": "cat"},
    )
    assert proc.stdin is not None and proc.stdout is not None
    pending = ""
    fd = proc.stdout.fileno()
    while True:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            proc.kill()
            raise Kernel24Error(f"Configure stopped answering after: {pending[-200:]!r}")
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        pending = (pending + chunk.decode(errors="replace"))[-4000:]
        last = pending.rsplit("\n", 1)[-1]
        m = _PROMPT.search(last)
        if m:
            name = m.group(1)
            if name == "CONFIG_MODVERSIONS":
                ans = "y" if modversions else "n"
            else:
                ans = _answer(name, m.group(2), gating, kept, built_in)
        elif _CHOICE.search(last):
            ans = ""
        else:
            continue
        proc.stdin.write(ans.encode() + b"\n")
        proc.stdin.flush()
        pending = ""
    if proc.wait() != 0:
        raise Kernel24Error(f"Configure failed for {arch}: {pending[-300:]!r}")
    return (tree / ".config").read_text()
