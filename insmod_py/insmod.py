"""insmod as one library call: modutils 2.4's options on top of the loader.

:func:`insmod` does what modutils' ``insmod_main`` did, in its order: lock the
file (``-L``), read the object and its ``.modinfo``, check the parameters,
choose the symbol source, compare ``kernel_version`` with that source's
kernel version (``-f`` turns a mismatch into a warning), then probe (``-p``),
link at a fixed base (``-n``) or load, and finally record the taint flags
(2.4.10+'s /proc/sys/kernel/tainted).  Messages go through a
:class:`~insmod_py.messages.Reporter`; failures are LoadErrors.  The CLI only
turns options into an :class:`InsmodOptions`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .elf import ElfObject, read_object
from .errors import KernelError, LoadError, UsageError
from .ksymoops import ObjectTag, tag_object
from .ksyms import SymbolTable, load_symbols, version_rule
from .loader import DEFAULT_DRY_RUN_BASE, LinkedModule, link, module_name_from_path
from .loader import load as load_module
from .messages import Reporter
from .modinfo import ModInfo, compiled_for, read_modinfo
from .modstruct import TAINT_FORCED, TAINT_PROPRIETARY

if TYPE_CHECKING:
    from .backends.base import Backend
    from .params import Assignment

TAINT_URL = "http://www.tux.org/lkml/#export-tainted"

# A release written into a symbol file: "# UTS_RELEASE 2.4.20" or "# Linux version 2.4.20 ..."
_RELEASE_HINT = re.compile(
    r"^#\s*(?:UTS_RELEASE\s*[=:]?\s*\"?(?P<uts>[^\"\s]+)\"?|Linux version (?P<banner>\S+))",
    re.MULTILINE,
)


@dataclass(frozen=True)
class InsmodOptions:
    """Everything ``pyinsmod load`` accepts, with modutils' defaults."""

    path: str
    args: tuple[str, ...] = ()
    name: str | None = None  # -o
    dry_run: bool = False  # -n
    base: int = DEFAULT_DRY_RUN_BASE  # --base, for -n
    ksyms_path: str | None = None  # --ksyms
    header: str = "auto"  # --legacy / --new
    autoclean: bool = False  # -k
    force: bool = False  # -f
    probe: bool = False  # -p
    export_all: bool = True  # -X (default) / -x
    lock: bool = False  # -L
    ksymoops: bool = True  # -Y (default, as modutils' flag_ksymoops) / -y
    defer_missing: bool = False  # --defer-missing
    backend: str = "sim"
    variant: str = "patched"
    state_dir: str | None = None


@dataclass(frozen=True)
class InsmodResult:
    linked: LinkedModule | None  # None when a simultaneous -L load had already done it
    loaded: bool  # the module is now in the kernel (False for -n and -p)
    taint: int  # the taint flags this load set (0 for -n and -p)
    word_size: int  # of the object (for printing addresses)


@contextlib.contextmanager
def module_lock(path: str, enabled: bool, report: Reporter) -> Iterator[None]:
    """``-L``: flock(LOCK_EX) on the module file, as modutils did, for the whole load."""
    if not enabled:
        yield
        return
    import fcntl  # only -L needs it

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise LoadError(exc.strerror or str(exc), file=path) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            report.info(f"{path}: another insmod holds the lock; waiting")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def symbol_file_release(path: str) -> str | None:
    """The kernel release a symbol file names in a comment, if it does."""
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None  # load_symbols has already reported an unreadable file
    m = _search_release(text)
    return (m.group("uts") or m.group("banner")) if m else None


def _search_release(text: str) -> re.Match[str] | None:
    """``_RELEASE_HINT.search(text)``, tried only where a line starts with "#".

    The regex engine tries every position; a System.map has megabytes and no
    comment at all, and ``str.find`` skips to the "#"s at C speed.
    """
    pos = text.find("#")
    while pos >= 0:
        if pos == 0 or text[pos - 1] == "\n":  # where ^ matches (re.MULTILINE)
            m = _RELEASE_HINT.match(text, pos)
            if m is not None:
                return m
        pos = text.find("#", pos + 1)
    return None


def license_taint(info: ModInfo) -> tuple[int, str]:
    """(flags, reason) as modutils' check_tainted_module worded it; (0, "") for GPL."""
    if info.license is None:
        return TAINT_PROPRIETARY, "no license"
    if not info.gpl_compatible:
        return TAINT_PROPRIETARY, f"non-GPL license - {info.license}"
    return 0, ""


def check_version(
    obj: ElfObject,
    info: ModInfo,
    release: str | None,
    source: str,
    table: SymbolTable | None,
    force: bool,
    report: Reporter,
) -> int:
    """modutils' version check; returns TAINT_FORCED when -f overrode a mismatch.

    A module that names no kernel version is refused before anything else, with
    modutils' message; ``-f`` does not help (modutils refused it before looking at -f).
    """
    found = compiled_for(obj, info)
    if found is None:
        raise LoadError(
            "couldn't find the kernel version the module was compiled for "
            "(no kernel_version in .modinfo)",
            file=obj.path,
        )
    wanted = found[0]
    if release is None:
        report.info(f"{source} names no kernel version: version of {obj.path} not checked")
        return 0
    # modutils compared versions only when one side lacks symbol checksums
    if info.get("using_checksums") and table is not None and table.using_versions:
        report.info("module and kernel use symbol checksums: version string not compared")
        return 0
    if wanted == release:
        report.info(f"{obj.path} was compiled for kernel version {wanted}, as this kernel")
        return 0
    text = (
        f"kernel-module version mismatch: {obj.path} was compiled for kernel version "
        f"{wanted} while this kernel is version {release}"
    )
    if not force:
        raise LoadError(text)
    report.warn(text)
    return TAINT_FORCED


def _fake_traps(arch: str, names: list[str]) -> dict[str, int]:
    """Trap addresses for -n/-p with --defer-missing: where the simulated kernel puts them."""
    from .backends.sim import traps

    return {n: traps.address(arch, i) for i, n in enumerate(names)}


def insmod(
    opts: InsmodOptions, report: Reporter | None = None, backend: Backend | None = None
) -> InsmodResult:
    """Probe, dry-run or load one module as ``insmod`` would; raise LoadError on failure.

    ``backend``: an open kernel to use instead of opening ``opts.backend`` (modprobe
    loads several modules into one).
    """
    report = report or Reporter()
    if opts.defer_missing and opts.backend != "sim" and not opts.dry_run:
        raise UsageError(
            "--defer-missing needs the simulated kernel (--backend sim): a real 2.4 kernel "
            "cannot apply relocations later"
        )
    with module_lock(opts.path, opts.lock, report):
        return _insmod_locked(opts, report, backend)


def _insmod_locked(opts: InsmodOptions, report: Reporter, opened: Backend | None) -> InsmodResult:
    """modutils' sequence: read, parse parameters, find the kernel's symbols, check
    the version, then link only (-n, -p) or load."""
    obj = read_object(opts.path)
    report.info(f"Using {opts.path} ({obj.machine_name}, {len(obj.sections)} sections)")
    name = opts.name or module_name_from_path(opts.path)
    info = read_modinfo(obj)
    arg_string, params = _parameters(obj, info, opts, report)
    kernel = _kernel_side(obj, opts, report, opened)
    taint = check_version(
        obj, info, kernel.release, kernel.source, kernel.table, opts.force, report
    )
    if kernel.table is not None:
        rule = version_rule(info.get("using_checksums"), kernel.table)
        report.info(f"symbol versions: {rule.describe()}")
    if report.verbose:
        from .resolve import unreferenced_undefined

        for unused in unreferenced_undefined(obj):
            report.info(f"{unused} is undefined, but no relocation uses it: not needed")
    if opts.probe or opts.dry_run:
        return _link_only(obj, info, opts, kernel, name, arg_string, params, report)
    return _load(obj, info, opts, kernel, name, arg_string, params, taint, report)


def _parameters(
    obj: ElfObject, info: ModInfo, opts: InsmodOptions, report: Reporter
) -> tuple[str, list[Assignment]]:
    """The ``symbol=value`` arguments as Zippel's argument string and MODULE_PARM values."""
    arg_string, params = "", []
    if opts.args or info.parameters:  # the parameter parser is imported only when used
        from .params import split_arguments

        try:
            reads_args = bool(obj.symbol_columns.indexes_named({"__module_args"}))
            arg_string, params = split_arguments(
                opts.args, info.parameters, obj.word_size, raw_ok=reads_args
            )
        except LoadError as err:
            raise err.with_file(opts.path) from None
    if params:
        report.info("parameters: " + ", ".join(p.name for p in params))
    return arg_string, params


@dataclass
class _KernelSide:
    """Where the symbols come from: a symbol file, the backend, or nothing (-n alone)."""

    backend: Backend | None
    table: SymbolTable | None
    release: str | None
    source: str


def _kernel_side(
    obj: ElfObject, opts: InsmodOptions, report: Reporter, opened: Backend | None = None
) -> _KernelSide:
    """Open the backend (unless -n; ``opened`` if given) and read the kernel's symbols
    and release."""
    kernel = _KernelSide(None, None, None, "no symbol source")
    if opts.ksyms_path:
        kernel.table = load_symbols(opts.ksyms_path)
        kernel.release = symbol_file_release(opts.ksyms_path)
        kernel.source = opts.ksyms_path
        report.info(f"kernel symbols from {kernel.source} ({len(kernel.table)} symbols)")
    if not opts.dry_run:
        if opened is None:
            from .backends.factory import open_backend

            opened = open_backend(
                opts.backend, arch=obj.machine_name, variant=opts.variant,
                state_dir=opts.state_dir,
            )  # fmt: skip
        kernel.backend = backend = opened
        if kernel.table is None:
            kernel.table = backend.kernel_symbols()
            version_of = getattr(backend, "kernel_version", None)
            kernel.release = version_of() if version_of is not None else os.uname().release
            kernel.source = f"the {opts.backend} kernel"
            report.info(
                f"kernel symbols from {kernel.source} {kernel.release} "
                f"({len(kernel.table)} symbols)"
            )
    if kernel.table is None:
        report.info("no kernel symbols (-n without --ksyms): only self-contained modules link")
    return kernel


def _ksymoops_tag(obj: ElfObject, info: ModInfo, opts: InsmodOptions) -> ObjectTag | None:
    """What the ksymoops object symbol records (-Y, the default), or None for -y."""
    if not opts.ksymoops:
        return None
    found = compiled_for(obj, info)
    return tag_object(opts.path, found[1] if found is not None else -1)


def _link_only(
    obj: ElfObject,
    info: ModInfo,
    opts: InsmodOptions,
    kernel: _KernelSide,
    name: str,
    arg_string: str,
    params: list[Assignment],
    report: Reporter,
) -> InsmodResult:
    """-n and -p: link at ``opts.base`` and load nothing (-p also checks the name)."""
    defer = (lambda names: _fake_traps(obj.machine_name, names)) if opts.defer_missing else None
    backend = kernel.backend
    if opts.probe and backend is not None and name in {m.name for m in backend.modules()}:
        raise LoadError(f"a module named {name} already exists", file=opts.path)
    linked = link(
        obj, kernel.table or SymbolTable(), lambda size: opts.base, name=name, args=arg_string,
        header=opts.header, autoclean=opts.autoclean, params=params, gpl_ok=info.gpl_compatible,
        export_all=opts.export_all, defer=defer, ksymoops=_ksymoops_tag(obj, info, opts),
    )  # fmt: skip
    _describe(linked, report)
    if opts.probe:
        report.info(f"{opts.path}: probe: {name} would load")
    return InsmodResult(linked, False, 0, obj.word_size)


def _load(
    obj: ElfObject,
    info: ModInfo,
    opts: InsmodOptions,
    kernel: _KernelSide,
    name: str,
    arg_string: str,
    params: list[Assignment],
    taint: int,
    report: Reporter,
) -> InsmodResult:
    """create_module, init_module, and the taint flags the load earned."""
    backend = kernel.backend
    assert backend is not None
    flags, reason = license_taint(info)
    taint |= flags

    def record_taint() -> None:
        # modutils warned and wrote /proc/sys/kernel/tainted once the symbols resolved,
        # before create_module: a module that then fails to load has tainted the kernel
        if flags:
            report.warn(f"loading {opts.path} will taint the kernel: {reason}")
            report.info(f"  See {TAINT_URL} for information about tainted modules")
        if taint and hasattr(backend, "add_taint"):
            backend.add_taint(taint)

    try:
        linked = load_module(
            obj, backend, name=name, args=arg_string, header=opts.header, symbols=kernel.table,
            autoclean=opts.autoclean, params=params, gpl_ok=info.gpl_compatible,
            export_all=opts.export_all, defer_missing=opts.defer_missing,
            on_link=lambda lm: _describe(lm, report), before_create=record_taint,
            ksymoops=_ksymoops_tag(obj, info, opts),
        )  # fmt: skip
    except KernelError as err:
        if opts.lock and err.call == "create_module" and err.errno == errno.EEXIST:
            # modutils with -L: another insmod of the same module just did the work
            report.info(f"{name} already exists: assuming a simultaneous load did it")
            return InsmodResult(None, False, 0, obj.word_size)
        if err.call == "create_module" and err.errno == errno.EEXIST:
            raise LoadError(f"a module named {name} already exists", file=opts.path) from None
        raise
    report.info(f"{name} loaded at {linked.base:#x}, {linked.size} bytes")
    return InsmodResult(linked, True, taint, obj.word_size)


def _describe(linked: LinkedModule, report: Reporter) -> None:
    """The -v account of a linked image."""
    if not report.verbose:
        return
    report.info(
        f"{linked.name}: {linked.header} header, base {linked.base:#x}, size {linked.size} "
        f"bytes in {sum(1 for p in linked.layout.pieces if p.size)} pieces"
    )
    if linked.deps:
        report.info(f"{linked.name}: uses symbols of {', '.join(linked.deps)}")
    if linked.exported:
        report.info(f"{linked.name}: exports all {len(linked.exported)} globals (no __ksymtab)")
    if linked.deferred is not None:
        names = ", ".join(linked.deferred.names)
        report.info(
            f"{linked.name}: {len(linked.deferred.sites)} relocations deferred until a module "
            f"exports {names}"
        )
