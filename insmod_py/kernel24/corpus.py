"""The 2.4 module corpus: the allmod kernel and every module it builds, cached.

Two flavours per architecture: ``plain`` (CONFIG_MODVERSIONS off) and ``modversions``
(on: every exported name carries ``_R<crc>``, computed by modutils' genksyms, which the
build compiles from ``$GENKSYMS_TARBALL`` or the workspace's shared copy).  Each flavour
is one cold build of a fresh tree: bzImage must build, ``make -k modules`` keeps going
past modules that do not compile, and the entry records which failed and why.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..arch import Machine, by_name
from ..toolchain import REPO_ROOT
from . import cache
from .build import Log, Tree, configure, write_wrappers
from .source import VERSION, Kernel24Error, Source, download, extract, locate, sha256_of

FLAVOURS = ("plain", "modversions")
MANIFEST = "corpus.json"
BUILD_VERSION = "1"
GENKSYMS_NAME = "modutils-2.4-genksyms.tar.xz"
SHARED_GENKSYMS = REPO_ROOT.parent / "shared" / "linux24" / GENKSYMS_NAME


def allmod_config_path(machine: Machine) -> Path:
    return cache.CONFIG_DIR / f"{machine.name}-allmod.config"


def flavour_config(machine: Machine, flavour: str) -> str:
    """The committed allmod config, with CONFIG_MODVERSIONS as ``flavour`` wants it."""
    text = allmod_config_path(machine).read_text()
    off, on = "# CONFIG_MODVERSIONS is not set", "CONFIG_MODVERSIONS=y"
    if off not in text:
        raise Kernel24Error("no CONFIG_MODVERSIONS line", file=str(allmod_config_path(machine)))
    return text.replace(off, on) if flavour == "modversions" else text


def locate_genksyms() -> Path | None:
    """``$GENKSYMS_TARBALL`` (must exist), else the shared copy when present, else None."""
    env = os.environ.get("GENKSYMS_TARBALL")
    if env:
        if not Path(env).is_file():
            raise Kernel24Error("no such file (unset GENKSYMS_TARBALL or fix it)", file=env)
        return Path(env)
    return SHARED_GENKSYMS if SHARED_GENKSYMS.is_file() else None


def _need_genksyms() -> Path:
    found = locate_genksyms()
    if found is None:
        raise Kernel24Error(
            f"a CONFIG_MODVERSIONS build needs genksyms: set GENKSYMS_TARBALL to "
            f"{GENKSYMS_NAME} (modutils 2.4's genksyms sources, as make HOSTCC=gcc ... "
            f"genksyms builds them)"
        )
    return found


@dataclass(frozen=True)
class CorpusBuild:
    """One cached allmod build: kernel files, the installed module tree, its failures."""

    arch: str
    flavour: str
    directory: Path
    bzimage: Path
    system_map: Path
    vmlinux: Path
    config: Path
    modules: Path  # lib/modules/<version>/ as modules_install left it (kernel/...)
    module_files: tuple[Path, ...]
    failures: dict[str, str]  # object that did not build -> first compiler error
    key: str
    build_seconds: float

    @classmethod
    def load(cls, directory: Path) -> CorpusBuild:
        modules = directory / "modules"
        with cache.manifest_of(directory, MANIFEST, "corpus") as m:
            return cls(
                arch=m["arch"],
                flavour=m["flavour"],
                directory=directory,
                bzimage=directory / "bzImage",
                system_map=directory / "System.map",
                vmlinux=directory / "vmlinux",
                config=directory / "config",
                modules=modules,
                module_files=tuple(modules / rel for rel in m["modules"]),
                failures=dict(m["failures"]),
                key=m["key"],
                build_seconds=float(m["build_seconds"]),
            )


def corpus_key(machine: Machine, flavour: str, source_sha256: str, genksyms: str) -> str:
    h = hashlib.sha256()
    for label, data in (
        ("build", BUILD_VERSION),
        ("source", source_sha256),
        ("arch", machine.name),
        ("flavour", flavour),
        ("config", flavour_config(machine, flavour)),
        ("patches", "".join((cache.PATCH_DIR / p).read_text() for p in machine.kernel24.patches)),
        ("cflags", " ".join(machine.kernel24.cflags + machine.kernel24.asflags)),
        ("compiler", cache.compiler_identity()),
        ("genksyms", genksyms),
    ):
        h.update(f"{label}\0{len(data)}\0{data}".encode())
    return h.hexdigest()[:16]


def _entry(root: Path, arch: str, flavour: str, key: str) -> Path:
    return root / f"{arch}-allmod-{flavour}-{key}"


def _key_for(machine: Machine, flavour: str, src: Source) -> str:
    genksyms = sha256_of(_need_genksyms()) if flavour == "modversions" else ""
    return corpus_key(machine, flavour, src.sha256, genksyms)


def find_corpus(arch: str, flavour: str, *, source: Path | None = None) -> CorpusBuild | None:
    """The cached build for the source at hand, or None; never builds."""
    machine = _machine(arch, flavour)
    root = cache.cache_root()
    src = locate(source, root / "src")
    if src is None:
        return None
    if flavour == "modversions" and locate_genksyms() is None:
        return None
    entry = _entry(root, arch, flavour, _key_for(machine, flavour, src))
    return CorpusBuild.load(entry) if (entry / MANIFEST).is_file() else None


def _machine(arch: str, flavour: str) -> Machine:
    try:
        machine = by_name(arch)
    except ValueError as exc:
        raise Kernel24Error(str(exc)) from None
    if flavour not in FLAVOURS:
        raise Kernel24Error(f"unknown corpus flavour {flavour!r} (one of: {', '.join(FLAVOURS)})")
    if not allmod_config_path(machine).is_file():
        raise Kernel24Error(f"no allmod config for {arch} yet (generate one: allmod.py)")
    return machine


def _stderr(line: str) -> None:
    print(f"corpus24: {line}", file=sys.stderr, flush=True)


def build_corpus(
    arch: str, flavour: str, *, source: Path | None = None, log: Log = _stderr
) -> CorpusBuild:
    """The cached build, built first if missing."""
    machine = _machine(arch, flavour)
    root = cache.cache_root()
    src = locate(source, root / "src") or download(root / "src", log)
    key = _key_for(machine, flavour, src)
    final = _entry(root, arch, flavour, key)
    with cache.arch_lock(root, f"{arch}-allmod-{flavour}"):
        if not (final / MANIFEST).is_file():
            _build(machine, flavour, src, key, final, log)
    return CorpusBuild.load(final)


def build_genksyms(tarball: Path, dest: Path) -> Path:
    """Compile modutils' genksyms from its sources; returns the program's path."""
    dest.mkdir()
    subprocess.run(["tar", "-xJf", str(tarball), "-C", str(dest)], check=True)
    (src,) = [p for p in dest.iterdir() if p.is_dir()]
    proc = subprocess.run(
        ["make", "HOSTCC=gcc", "HOSTCFLAGS=-O2 -w -fcommon", "ARCH=i386", "AR=ar", "genksyms"],
        cwd=src,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["make failed"])[-1]
        raise Kernel24Error(f"genksyms does not build: {last}", file=str(tarball))
    return src / "genksyms"


# "make[3]: *** [.../Rules.make:60: foo.o] Error 1": the object make gave up on
_FAILED_TARGET = re.compile(r"^make\[\d+\]: \*\*\* \[[^\]]*?:\d+: ([^\]\s]+\.o)\] Error")
# "foo.c:12:3: error: ..." (or in a header the source includes); the assembler's
# "foo.c:12: Error: ..." (inline asm of the wrong word size, e.g. i386's pushfl on x86_64)
_CC_ERROR = re.compile(r"^(\S+?\.[chS]):(\d+)(?::\d+)?: (?:fatal )?(?:error|Error): (.*)$")


def failures_from_log(out: str) -> dict[str, str]:
    """Objects ``make -k`` gave up on -> the compiler error printed before it (the first
    of the last file that had errors: an error of a compile make did not stop on, such
    as a host tool's, is superseded).  With two jobs, two compilers' messages can
    interleave; rare races can then name the other compile's error.
    """
    failed: dict[str, str] = {}
    pending: str | None = None
    for line in out.splitlines():
        m = _CC_ERROR.match(line)
        if m:  # a compile's first error, unless a later compile's errors follow
            if pending is None or not pending.startswith(f"{Path(m.group(1)).name}: "):
                pending = f"{Path(m.group(1)).name}: {m.group(3).strip()}"
            continue
        m = _FAILED_TARGET.match(line)
        if m:
            failed.setdefault(m.group(1), pending or "(no compiler error in the log)")
            pending = None
    return failed


def _build(machine: Machine, flavour: str, src: Source, key: str, final: Path, log: Log) -> None:
    root = final.parent
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".corpus-{machine.name}-", dir=root) as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.monotonic()
        make_vars: list[str] = []
        if flavour == "modversions":
            make_vars.append(f"GENKSYMS={build_genksyms(_need_genksyms(), tmp / 'genksyms')}")
        wrappers = tmp / "cc"
        write_wrappers(machine, wrappers)
        tree = Tree(machine, extract(src, tmp / "linux"), wrappers, make_vars)
        for name in machine.kernel24.patches:
            tree.patch(cache.PATCH_DIR / name)
        config = tmp / "allmod.config"
        config.write_text(flavour_config(machine, flavour))
        log(f"{machine.name} {flavour}: configuring (make oldconfig dep)")
        configure(tree, config)
        log(f"{machine.name} {flavour}: make bzImage")
        tree.make(f"bzImage-{flavour}", "bzImage")
        log(f"{machine.name} {flavour}: make -k modules")
        out = tree.make(f"modules-{flavour}", "modules", keep_going=True)
        failures = failures_from_log(out)
        inst = tmp / "inst"
        tree.make(
            f"modules_install-{flavour}",
            "modules_install",
            f"INSTALL_MOD_PATH={inst}",
            "DEPMOD=true",
            parallel=False,
            keep_going=True,
        )
        staging = tmp / "entry"
        staging.mkdir()
        for name, dest in ((machine.kernel24.bzimage, "bzImage"), ("System.map", "System.map"),
                           ("vmlinux", "vmlinux"), (".config", "config")):  # fmt: skip
            shutil.copy2(tree.root / name, staging / dest)
        installed = inst / "lib" / "modules" / VERSION
        shutil.copytree(installed / "kernel", staging / "modules" / "kernel", symlinks=False)
        modules = sorted(
            str(p.relative_to(staging / "modules")) for p in (staging / "modules").rglob("*.o")
        )
        shutil.copy2(tree.logs / f"modules-{flavour}.log", staging / "modules.log")
        seconds = time.monotonic() - t0
        manifest = {
            "version": VERSION,
            "arch": machine.name,
            "flavour": flavour,
            "key": key,
            "source_sha256": src.sha256,
            "modules": modules,
            "failures": failures,
            "failure_reasons": Counter(failures.values()).most_common(),
            "build_seconds": round(seconds, 1),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        cache.install(staging, final)
        log(
            f"{machine.name} {flavour}: {len(modules)} modules, {len(failures)} objects "
            f"failed, in {seconds:.0f} s -> {final}"
        )


def generate_config(arch: str = "i386", *, source: Path | None = None, log: Log = _stderr) -> Path:
    """Rewrite ``configs/<arch>-allmod.config`` with allmod.py's Configure driver."""
    from .allmod import generate

    machine = by_name(arch)
    root = cache.cache_root()
    src = locate(source, root / "src") or download(root / "src", log)
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".allmod-", dir=root) as tmp:
        tree = extract(src, Path(tmp) / "linux")
        for name in machine.kernel24.patches:
            Tree(machine, tree, Path(tmp)).patch(cache.PATCH_DIR / name)
        text = generate(tree, arch, cache.config_path(machine).read_text())
    out = allmod_config_path(machine)
    out.write_text(text)
    log(f"{arch}: wrote {out} ({text.count('=m')} modular options)")
    return out
