"""The committed allmod configs keep what the corpus build and the qemu boot rely on, and
the corpus build names why each object failed.

The configs are generated once by driving 2.4's Configure (kernel24/allmod.py) and
committed; these checks catch a regenerated or hand-edited config that would no longer
boot under qemu, would drop the MODVERSIONS switch the two flavours flip, or is not modular.
"""

from __future__ import annotations

import pytest

from insmod_py.arch import MACHINES
from insmod_py.kernel24 import cache
from insmod_py.kernel24.corpus import allmod_config_path, failures_from_log, flavour_config


def _values(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_"):
            name, _, value = line.partition("=")
            values[name] = value
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            values[line[2:].split()[0]] = "n"
    return values


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.name)
def test_allmod_config_is_modular_and_boots_like_the_minimal_one(machine) -> None:
    allmod = _values(allmod_config_path(machine).read_text())
    minimal = _values(cache.config_path(machine).read_text())
    assert allmod["CONFIG_MODULES"] == "y"
    assert sum(v == "m" for v in allmod.values()) > 900
    # what the minimal kernel builds in to boot with its initrd and agent stays built in
    for name in ("CONFIG_SERIAL", "CONFIG_SERIAL_CONSOLE", "CONFIG_BLK_DEV_RAM",
                 "CONFIG_BLK_DEV_INITRD", "CONFIG_EXT2_FS"):  # fmt: skip
        assert minimal[name] == "y" and allmod[name] == "y", name
    # processor and SMP answers are the minimal config's
    for name in ("CONFIG_SMP", "CONFIG_MK8"):
        assert allmod[name] == minimal[name], name


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.name)
@pytest.mark.parametrize("flavour,want", [("plain", "n"), ("modversions", "y")])
def test_each_flavour_sets_modversions(machine, flavour: str, want: str) -> None:
    assert _values(flavour_config(machine, flavour))["CONFIG_MODVERSIONS"] == want


def test_failures_name_the_compiler_or_assembler_error_of_each_object() -> None:
    log = "\n".join([
        "gcc ... -c -o af_irda.o af_irda.c",
        "af_irda.c:1310:17: error: label 'out' used but not defined",
        "make[3]: *** [/x/Rules.make:60: af_irda.o] Error 1",
        "synclinkmp.c: Assembler messages:",
        "synclinkmp.c:1760: Error: invalid instruction suffix for `pop'",
        "synclinkmp.c:1768: Error: invalid instruction suffix for `push'",
        "make[4]: *** [/x/Rules.make:60: synclinkmp.o] Error 1",
        "make[4]: *** [/x/Rules.make:60: lonely.o] Error 1",
    ])  # fmt: skip
    assert failures_from_log(log) == {
        "af_irda.o": "af_irda.c: label 'out' used but not defined",
        "synclinkmp.o": "synclinkmp.c: invalid instruction suffix for `pop'",
        "lonely.o": "(no compiler error in the log)",
    }
