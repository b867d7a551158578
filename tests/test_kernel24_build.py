"""The real Linux 2.4.37.11 kernels of insmod_py.kernel24: what the builds contain, that
our patches fit the pristine source, what keys the cache, and one-line failures.

The kernels come from the session's ``kernel24_build`` fixture (built once, cached).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from insmod_py import arch as arches
from insmod_py import kernel24
from insmod_py.kernel24 import cache
from insmod_py.kernel24.source import VERSION

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / "tools" / "kernel24"
BUILDS = [(a, v) for a in kernel24.ARCHES for v in kernel24.VARIANTS]
ELF_BITS = {"i386": 32, "x86_64": 64}
WORD = {"i386": 4, "x86_64": 8}


def system_map(path: Path) -> dict[str, tuple[int, str]]:
    out = {}
    for line in path.read_text().splitlines():
        addr, kind, name = line.split()[:3]
        out.setdefault(name, (int(addr, 16), kind))
    return out


def ksymtab(vmlinux: Path, word: int) -> dict[str, int]:
    """The kernel's exported symbols: __ksymtab's {value, name} pairs, names in .kstrtab."""
    with open(vmlinux, "rb") as f:
        elf = ELFFile(f)
        tab = elf.get_section_by_name("__ksymtab")
        strs = elf.get_section_by_name(".kstrtab")
        data, sdata, sbase = tab.data(), strs.data(), strs["sh_addr"]
        out = {}
        for off in range(0, len(data), 2 * word):
            value = int.from_bytes(data[off : off + word], "little")
            ptr = int.from_bytes(data[off + word : off + 2 * word], "little") - sbase
            out[sdata[ptr : sdata.index(b"\0", ptr)].decode()] = value
        return out


def symbol_size(vmlinux: Path, name: str) -> int:
    with open(vmlinux, "rb") as f:
        (sym,) = ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name(name)
        return sym["st_size"]


@pytest.mark.parametrize(("arch", "variant"), BUILDS)
def test_system_map_has_the_module_syscalls_and_printk(kernel24_build, arch, variant):
    kb = kernel24_build(arch, variant)
    syms = system_map(kb.system_map)
    for name in ("sys_create_module", "sys_init_module", "sys_delete_module", "printk"):
        assert syms[name][1] == "T", name
    assert kb.bzimage.stat().st_size > 100_000


@pytest.mark.parametrize(("arch", "variant"), BUILDS)
def test_vmlinux_exports_printk_at_its_system_map_address(kernel24_build, arch, variant):
    kb = kernel24_build(arch, variant)
    exports = ksymtab(kb.vmlinux, WORD[arch])
    assert exports["printk"] == system_map(kb.system_map)["printk"][0]
    assert "sys_init_module" not in exports  # a syscall, not an export
    assert len(exports) > 500


@pytest.mark.parametrize("arch", kernel24.ARCHES)
def test_only_the_patched_kernel_has_zippels_change(kernel24_build, arch):
    stock, zippel = kernel24_build(arch, "unpatched"), kernel24_build(arch, "patched")
    stock_c = (stock.directory / "source/kernel/module.c").read_text()
    zippel_c = (zippel.directory / "source/kernel/module.c").read_text()
    change = "mod->nsyms = new_mod->syms_end - mod->syms;"
    assert change in zippel_c and "struct module_new" in zippel_c
    assert change not in stock_c and "struct module_new" not in stock_c
    # and the compiled sys_init_module is a different function
    assert symbol_size(stock.vmlinux, "sys_init_module") != symbol_size(
        zippel.vmlinux, "sys_init_module"
    )
    assert stock.key != zippel.key and stock.directory != zippel.directory


@pytest.mark.parametrize(("arch", "variant"), BUILDS)
def test_entry_builds_a_module_with_its_own_headers_and_flags(
    kernel24_build, arch, variant, tmp_path
):
    kb = kernel24_build(arch, variant)
    assert f'"{VERSION}"' in (kb.include / "linux/version.h").read_text()
    assert "#define CONFIG_MODULES 1" in (kb.include / "linux/autoconf.h").read_text()
    assert (kb.include / "asm").is_dir() and not (kb.include / "asm").is_symlink()
    assert {"fat.o", "msdos.o", "vfat.o", "minix.o", "romfs.o"} <= {
        p.name for p in kb.modules.iterdir()
    }
    src = tmp_path / "m.c"
    src.write_text(
        "#include <linux/module.h>\n#include <linux/kernel.h>\n"
        'int init_module(void) { printk("<1>hi\\n"); return 0; }\n'
        "void cleanup_module(void) { }\n"
    )
    obj = tmp_path / "m.o"
    proc = subprocess.run(
        ["gcc", *kb.cflags, "-c", str(src), "-o", str(obj)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    with open(obj, "rb") as f:
        elf = ELFFile(f)
        assert elf.elfclass == ELF_BITS[arch]
        assert (
            elf.get_section_by_name(".modinfo")
            .data()
            .startswith(f"kernel_version={VERSION}".encode())
        )


def _patched_files(patches: list[Path]) -> set[str]:
    return {
        line.split()[1].split("/", 1)[1]
        for p in patches
        for line in p.read_text().splitlines()
        if line.startswith("+++ ")
    }


ALL_PATCHES = sorted(cache.PATCH_DIR.glob("*.patch"))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """The files our patches touch, straight from the source tarball (read once)."""
    dest = tmp_path_factory.mktemp("pristine")
    wanted = _patched_files(ALL_PATCHES)
    tarball = kernel24.source_tarball().path
    subprocess.run(
        ["tar", "-xJf", str(tarball), "-C", str(dest), "--wildcards"]
        + [f"*/{name}" for name in sorted(wanted)],
        check=True,
    )
    (top,) = dest.iterdir()
    assert {str(p.relative_to(top)) for p in top.rglob("*") if p.is_file()} == wanted
    return top


@pytest.mark.parametrize("arch", kernel24.ARCHES)
def test_patches_apply_exactly_to_the_pristine_source(arch, pristine, tmp_path):
    machine = arches.by_name(arch)
    patches = [cache.PATCH_DIR / p for p in cache.variant_patches(machine, "patched")]
    tree = tmp_path / "linux"
    shutil.copytree(pristine, tree)
    for patch in patches:
        proc = subprocess.run(
            ["patch", "-p1", "--no-backup-if-mismatch", "-i", str(patch)],
            cwd=tree,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "fuzz" not in proc.stdout and "offset" not in proc.stdout, proc.stdout
    assert "mod->nsyms = new_mod->syms_end - mod->syms;" in (tree / "kernel/module.c").read_text()


def test_every_patch_is_used_by_some_build():
    used = {p for m in arches.MACHINES for p in cache.variant_patches(m, "patched")}
    assert used == {p.name for p in ALL_PATCHES}


def test_cache_key_follows_config_patches_and_variant(tmp_path, monkeypatch):
    m = arches.by_name("i386")
    sha = "0" * 64
    base = cache.key(m, "unpatched", sha)
    assert cache.key(m, "unpatched", sha) == base
    assert cache.key(m, "patched", sha) != base
    assert cache.key(m, "unpatched", "1" * 64) != base
    configs = tmp_path / "configs"
    configs.mkdir()
    text = cache.config_path(m).read_text()
    (configs / "i386.config").write_text(text)
    monkeypatch.setattr(cache, "CONFIG_DIR", configs)
    assert cache.key(m, "unpatched", sha) == base  # same bytes, same key
    (configs / "i386.config").write_text(text.replace("CONFIG_MINIX_FS=m", "CONFIG_MINIX_FS=y"))
    assert cache.key(m, "unpatched", sha) != base


def _tool(*args: str, cache_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYINSMOD_CACHE": str(cache_dir)}
    env.pop("LINUX24_TARBALL", None)
    return subprocess.run(
        [sys.executable, str(TOOL), *args], capture_output=True, text=True, env=env, timeout=120
    )


def _one_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("kernel24: ")
    return lines[0]


def test_missing_tarball_is_one_line(tmp_path):
    line = _one_line(
        _tool("--arch", "i386", "--source", str(tmp_path / "nope.tar.xz"), cache_dir=tmp_path)
    )
    assert "nope.tar.xz: no such file" in line


def test_corrupt_tarball_is_one_line(tmp_path):
    bad = tmp_path / "bad.tar.xz"
    bad.write_bytes(b"not xz at all" * 100)
    line = _one_line(_tool("--arch", "i386", "--source", str(bad), cache_dir=tmp_path))
    assert "bad.tar.xz: not a readable tar.xz" in line
    assert not [p for p in (tmp_path / "kernel24").iterdir() if not p.name.startswith(".lock")]


def test_other_kernel_version_is_refused(tmp_path):
    tree = tmp_path / "linux-2.6.39"
    tree.mkdir()
    (tree / "Makefile").write_text("VERSION = 2\nPATCHLEVEL = 6\nSUBLEVEL = 39\nEXTRAVERSION =\n")
    tarball = tmp_path / "linux-2.6.39.tar.xz"
    with tarfile.open(tarball, "w:xz") as tar:
        tar.add(tree, arcname="linux-2.6.39")
    line = _one_line(_tool("--arch", "x86_64", "--source", str(tarball), cache_dir=tmp_path))
    assert "not Linux 2.4.37.11 (top Makefile PATCHLEVEL is '6')" in line


def test_print_names_a_missing_build_and_the_fix(tmp_path):
    proc = _tool("--print", "--arch", "i386", "--variant", "patched", cache_dir=tmp_path)
    assert proc.returncode == 1
    assert "i386 patched: not built; run: make kernel24" in proc.stderr


def test_print_lists_cached_entries(kernel24_build):
    kb = kernel24_build("i386", "patched")
    env = {**os.environ}
    proc = subprocess.run(
        [sys.executable, str(TOOL), "--print", "--arch", "i386", "--variant", "patched"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["i386", "patched", str(kb.directory)]


def test_find_kernel_does_not_build(tmp_path, monkeypatch):
    monkeypatch.setenv("PYINSMOD_CACHE", str(tmp_path))
    assert kernel24.find_kernel("i386", "unpatched") is None
    assert not (tmp_path / "kernel24").exists()


def test_arch_lock_serialises_builders(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from insmod_py.kernel24 import cache\n"
            "with cache.arch_lock(Path(sys.argv[1]), 'i386'):\n"
            "    print('held', flush=True); time.sleep(1.0)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert holder.stdout.readline().strip() == "held"
    t0 = time.monotonic()
    with cache.arch_lock(tmp_path, "i386"):
        waited = time.monotonic() - t0
    holder.wait()
    assert waited > 0.5


def test_install_keeps_an_entry_already_in_place(tmp_path):
    final = tmp_path / "i386-patched-0123"
    final.mkdir()
    (final / "build.json").write_text("first")
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "build.json").write_text("second")
    cache.install(staging, final)
    assert (final / "build.json").read_text() == "first"


def test_stale_scratch_trees_are_removed_under_the_lock(tmp_path):
    (tmp_path / ".build-i386-abc" / "linux").mkdir(parents=True)
    (tmp_path / ".build-x86_64-def").mkdir()
    with cache.arch_lock(tmp_path, "i386"):
        cache.remove_stale_builds(tmp_path, "i386")
    assert not (tmp_path / ".build-i386-abc").exists()
    assert (tmp_path / ".build-x86_64-def").exists()  # another arch's builder may be running


def test_prune_removes_only_entries_of_older_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("PYINSMOD_CACHE", str(tmp_path))
    root = kernel24.cache_root()
    sha = kernel24.source_tarball().sha256
    current = cache.entry_dir(
        root, "i386", "patched", cache.key(arches.by_name("i386"), "patched", sha)
    )
    old = root / "x86_64-unpatched-0123456789abcdef"
    foreign = root / "i386-allmod-0123456789abcdef"  # another tool's directory
    for d in (current, old, foreign):
        d.mkdir(parents=True)
        (d / "build.json").write_text("{}")
    assert kernel24.prune() == [old]
    assert current.is_dir() and foreign.is_dir() and not old.exists()


@pytest.mark.parametrize("text", ['{"arch": "i386"}', "{", '["not", "a", "dict"]'])
def test_a_damaged_manifest_is_one_error_not_a_traceback(tmp_path, text):
    from insmod_py.kernel24 import Kernel24Error, KernelBuild
    from insmod_py.kernel24.corpus import MANIFEST as CORPUS_MANIFEST
    from insmod_py.kernel24.corpus import CorpusBuild

    for cls, name, what in ((KernelBuild, "build.json", "kernel24"),
                            (CorpusBuild, CORPUS_MANIFEST, "corpus")):  # fmt: skip
        entry = tmp_path / what
        entry.mkdir()
        (entry / name).write_text(text)
        with pytest.raises(Kernel24Error, match=f"not a {what} cache entry"):
            cls.load(entry)
        (entry / name).unlink()
        with pytest.raises(Kernel24Error, match=f"not a {what} cache entry"):
            cls.load(entry)  # no manifest at all
