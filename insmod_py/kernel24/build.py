"""Build 2.4.37.11 in a scratch tree and keep what pyinsmod needs of it.

One tree serves both variants: the stock ("unpatched") kernel is built first, then
Zippel's change is applied to kernel/module.c and make rebuilds only what depends on
it.  The scratch tree lives next to the cache entries (same file system, so finished
entries are renamed into place) and is removed afterwards.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..arch import Machine
from . import cache
from .source import VERSION, Kernel24Error, Source, extract

Log = Callable[[str], None]

# The directories of include/ a module build needs (the rest are other architectures).
_INCLUDE_DIRS = ("linux", "asm-generic", "net", "scsi", "video", "math-emu", "pcmcia")
INCLUDE_PLACEHOLDER = "@INCLUDE@"
MANIFEST = "build.json"
# Tools reached through CROSS_COMPILE=<wrappers>/: the host's own binutils, unchanged.
_PLAIN_TOOLS = ("ld", "ar", "nm", "objcopy", "objdump", "strip")
_OLDCONFIG_ANSWERS = "\n" * 4000  # `yes ""`: every question (there should be none) gets its default


class Tree:
    """A configured 2.4 source tree and the make command for it."""

    def __init__(
        self, machine: Machine, root: Path, wrappers: Path, make_vars: Sequence[str] = ()
    ) -> None:
        self.machine = machine
        self.make_vars = tuple(make_vars)  # e.g. GENKSYMS=<path> for a MODVERSIONS build
        self.root = root
        self.wrappers = wrappers
        self.jobs = (os.cpu_count() or 1) + 1
        self.logs = root.parent / "logs"
        self.logs.mkdir(exist_ok=True)

    def make(
        self,
        step: str,
        *targets: str,
        parallel: bool = True,
        stdin: str = "",
        keep_going: bool = False,
    ) -> str:
        """Run make; its output goes to logs/<step>.log; a failure names the log.

        ``keep_going``: ``make -k``, and a failure is the caller's to read from the output.
        """
        cmd = ["make", f"ARCH={self.machine.name}", f"CROSS_COMPILE={self.wrappers}/"]
        cmd += self.make_vars
        if keep_going:
            cmd.append("-k")
        if parallel:
            cmd.append(f"-j{self.jobs}")
        cmd += targets
        proc = subprocess.run(
            cmd,
            cwd=self.root,
            input=stdin,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
        out = proc.stdout + proc.stderr
        log_file = self.logs / f"{step}.log"
        log_file.write_text(out)
        if proc.returncode != 0 and not keep_going:
            # the scratch tree goes away: keep the log beside the cache entries
            kept = self.root.parent.parent / f"failed-{self.machine.name}-{step}.log"
            shutil.copyfile(log_file, kept)
            errors = [ln for ln in out.splitlines() if "error" in ln.lower() or "***" in ln]
            first = (errors or out.strip().splitlines() or ["no output"])[0].strip()
            raise Kernel24Error(
                f"make {targets[0]} failed for {self.machine.name}: {first} (log: {kept})"
            )
        return out

    def patch(self, patch_file: Path) -> None:
        proc = subprocess.run(
            ["patch", "-p1", "-s", "--no-backup-if-mismatch", "-i", str(patch_file)],
            cwd=self.root,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            first = ((proc.stdout + proc.stderr).strip().splitlines() or ["patch failed"])[0]
            raise Kernel24Error(
                f"does not apply to the {VERSION} source: {first}", file=str(patch_file)
            )


def write_wrappers(machine: Machine, directory: Path) -> None:
    """The CROSS_COMPILE prefix: gcc and as with the machine's flags, binutils unchanged."""
    directory.mkdir()
    scripts = {
        "gcc": ("gcc", machine.kernel24.cflags),
        "as": ("as", machine.kernel24.asflags),
        **{tool: (tool, ()) for tool in _PLAIN_TOOLS},
    }
    for name, (tool, flags) in scripts.items():
        path = directory / name
        path.write_text(f'#!/bin/sh\nexec {shlex.join([tool, *flags])} "$@"\n')
        path.chmod(0o755)


def _options(config_text: str) -> set[str]:
    """A .config's settings, comments (but "is not set") and blank lines dropped."""
    return {
        ln.strip()
        for ln in config_text.splitlines()
        if ln.startswith("CONFIG_") or ln.endswith(" is not set")
    }


def configure(tree: Tree, config: Path | None = None) -> None:
    """Our config, then ``oldconfig`` (no questions: the config is complete) and ``dep``.

    ``config``: another complete config than the machine's minimal one.
    """
    ours = config or cache.config_path(tree.machine)
    shutil.copyfile(ours, tree.root / ".config")
    tree.make("oldconfig", "oldconfig", parallel=False, stdin=_OLDCONFIG_ANSWERS)
    changed = _options(ours.read_text()) ^ _options((tree.root / ".config").read_text())
    if changed:
        raise Kernel24Error(
            f"oldconfig changed {len(changed)} settings (e.g. {sorted(changed)[0]}); "
            f"make the config complete for this source",
            file=str(ours),
        )
    tree.make("dep", "dep", parallel=False)
    tree.make("split-include", "include/config/MARKER", parallel=False)
    settle_headers(tree)


def settle_headers(tree: Tree) -> None:
    """Give every header under include/ one mtime, not older than its config files.

    include/config/*.h (one file per CONFIG_ option) are written after the headers were
    unpacked, and .hdepend makes each header that tests an option depend on them with a
    ``touch`` rule.  In a parallel build those touches run while objects that include the
    headers compile, so the next make (the patched kernel's) would rebuild a tenth of
    the kernel; with every header settled first, only kernel/module.c is rebuilt.
    """
    now = time.time()
    for path in (tree.root / "include").rglob("*"):
        if path.is_file() and not path.is_symlink():
            os.utime(path, (now, now))


def compile_and_install(tree: Tree, step: str, modules_dir: Path) -> str:
    """bzImage, then the modules, installed under ``modules_dir``; returns the modules log."""
    tree.make(f"bzImage-{step}", "bzImage")
    out = tree.make(f"modules-{step}", "modules")
    tree.make(
        f"modules_install-{step}",
        "modules_install",
        f"INSTALL_MOD_PATH={modules_dir}",
        "DEPMOD=true",  # modern depmod cannot read 2.4 modules; we need none
        parallel=False,
    )
    return out


def module_cflags(tree: Tree, modules_log: str) -> list[str]:
    """The flags a module of this kernel was compiled with, as make ran gcc for one.

    Read from the build itself (the first plain module compile in the log), with the
    tree's include directory replaced by a placeholder, and the wrapper's own flags
    first as the wrapper passes them.
    """
    gcc = f"{tree.wrappers}/gcc"
    for line in modules_log.splitlines():
        if not line.startswith(gcc + " ") or " -DMODULE" not in line or " -c " not in line:
            continue
        if "-DEXPORT_SYMTAB" in line or not line.rstrip().endswith(".c"):
            continue
        args = shlex.split(line)[1:-1]  # no gcc, no source file
        out, skip = [], False
        for arg in args:
            if skip:
                skip = False
            elif arg == "-o":
                skip = True
            elif arg == "-c" or arg.startswith("-DKBUILD_BASENAME="):
                continue
            else:
                out.append(arg.replace(str(tree.root / "include"), INCLUDE_PLACEHOLDER))
        return [*tree.machine.kernel24.cflags, *out]
    raise Kernel24Error(f"no module compile line in the {tree.machine.name} modules build")


def _copy_includes(tree: Tree, dest: Path) -> None:
    src = tree.root / "include"
    for name in _INCLUDE_DIRS:
        if (src / name).is_dir():
            shutil.copytree(src / name, dest / name, symlinks=False)
    # asm -> asm-<arch>: resolved, so the entry stands alone
    shutil.copytree(src / f"asm-{tree.machine.name}", dest / "asm", symlinks=False)


def _collect_modules(installed: Path, dest: Path) -> list[str]:
    dest.mkdir()
    names = []
    for path in sorted(installed.rglob("*.o")):
        if (dest / path.name).exists():
            raise Kernel24Error(f"two kernel modules named {path.name}")
        shutil.copy2(path, dest / path.name)
        names.append(path.name)
    return names


def collect(
    tree: Tree,
    staging: Path,
    variant: str,
    key: str,
    source: Source,
    cflags: Sequence[str],
    modules_dir: Path,
    seconds: float,
) -> None:
    """Copy what an entry keeps out of the built tree into ``staging``."""
    staging.mkdir()
    r = tree.root
    shutil.copy2(r / tree.machine.kernel24.bzimage, staging / "bzImage")
    shutil.copy2(r / "System.map", staging / "System.map")
    shutil.copy2(r / "vmlinux", staging / "vmlinux")
    shutil.copy2(r / ".config", staging / "config")
    (staging / "source" / "kernel").mkdir(parents=True)
    shutil.copy2(r / "kernel" / "module.c", staging / "source" / "kernel" / "module.c")
    _copy_includes(tree, staging / "include")
    installed = modules_dir / "lib" / "modules" / VERSION / "kernel"
    modules = _collect_modules(installed, staging / "modules")
    manifest = {
        "version": VERSION,
        "arch": tree.machine.name,
        "variant": variant,
        "key": key,
        "source_sha256": source.sha256,
        "patches": list(cache.variant_patches(tree.machine, variant)),
        "cflags": list(cflags),
        "compiler": cache.compiler_identity(),
        "modules": modules,
        "build_seconds": round(seconds, 1),
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")


def build_variants(
    machine: Machine,
    variants: Sequence[str],
    source: Source,
    root: Path,
    log: Log,
) -> dict[str, Path]:
    """Build ``variants`` (in VARIANTS order) in one scratch tree; return installed entries."""
    order = [v for v in cache.VARIANTS if v in variants]
    installed: dict[str, Path] = {}
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".build-{machine.name}-", dir=root) as tmp_name:
        tmp = Path(tmp_name)
        wrappers = tmp / "cc"
        write_wrappers(machine, wrappers)
        t0 = time.monotonic()
        tree = Tree(machine, extract(source, tmp / "linux"), wrappers)
        log(f"{machine.name}: unpacked {source.path.name} in {time.monotonic() - t0:.1f} s")
        first = order[0]
        for name in cache.variant_patches(machine, first):
            tree.patch(cache.PATCH_DIR / name)
        configure(tree)
        cflags: list[str] = []
        for variant in order:
            step_t0 = time.monotonic()
            if variant != first:  # the patched kernel, incrementally, in the same tree
                tree.patch(cache.PATCH_DIR / cache.ZIPPEL_PATCH)
                (tree.root / "kernel" / "module.c").touch()
            modules_dir = tmp / f"modules-{variant}"
            modules_log = compile_and_install(tree, variant, modules_dir)
            if not cflags:
                cflags = module_cflags(tree, modules_log)
            seconds = time.monotonic() - (t0 if variant == first else step_t0)
            key = cache.key(machine, variant, source.sha256)
            staging = tmp / f"entry-{variant}"
            collect(tree, staging, variant, key, source, cflags, modules_dir, seconds)
            if installed:
                cache.share_identical_files(next(iter(installed.values())), staging)
            final = cache.entry_dir(root, machine.name, variant, key)
            cache.install(staging, final)
            installed[variant] = final
            how = "cold" if variant == first else "incremental"
            log(f"{machine.name} {variant}: built in {seconds:.1f} s ({how}) -> {final}")
    return installed
