"""The ``pyinsmod`` command: a thin shell over the library, as kmod's tools are.

It parses options, calls one library function, and turns a LoadError into one
line on stderr with exit status 1.  Heavy imports happen inside the commands,
so ``pyinsmod --help`` stays fast.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from . import __version__
from .arch import DEFAULT, NAMES, host
from .clibase import Command, Context
from .errors import LoadError

STATE_HELP = (
    "State directory of the simulated kernel and the qemu VMs "
    "(default: $PYINSMOD_STATE, ~/.local/state/pyinsmod)."
)
state_option = click.option("--state", "state_dir", metavar="DIR", default=None, help=STATE_HELP)
arch_option = click.option(
    "--arch",
    type=click.Choice(NAMES),
    default=None,
    help=f"Which kernel (default: the only one with state or a running VM, else {DEFAULT.name}).",
)


class Group(click.Group):
    """A command group whose help uses our formatter (clibase), as every command's does."""

    context_class = Context
    command_class = Command


class DefaultLoadGroup(Group):
    """``pyinsmod MODULE.o ...`` means ``pyinsmod load MODULE.o ...`` (insmod's syntax)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["load", *args]
        return super().parse_args(ctx, args)


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a number (use 0x... for hex)") from None


backend_option = click.option(
    "--backend",
    type=click.Choice(["sim", "syscall", "qemu"]),
    default="sim",
    show_default=True,
    help="Where the module goes: the simulated 2.4 kernel, the real legacy syscalls, or "
    "a real 2.4.37.11 kernel under qemu (booted by the first use; `make kernel24`).",
)
variant_option = click.option(
    "--kernel",
    "variant",
    type=click.Choice(["patched", "unpatched"]),
    default="patched",
    show_default=True,
    help="Kernel (sim, qemu): with Zippel's module_new patch, or vanilla 2.4.",
)
backend_options = [backend_option, variant_option, state_option]
# lsmod, ksyms, dmesg: a kernel that has a module list and a log (not the host's syscalls)
view_options = [
    click.option(
        "--backend",
        type=click.Choice(["sim", "qemu"]),
        default="sim",
        show_default=True,
        help="The simulated 2.4 kernel, or the real one under qemu.",
    ),
    variant_option,
    state_option,
]


def with_backend_options(func: Any) -> Any:
    for option in reversed(backend_options):
        func = option(func)
    return func


def with_view_options(func: Any) -> Any:
    for option in reversed(view_options):
        func = option(func)
    return func


@click.group(cls=DefaultLoadGroup, context_settings={"help_option_names": ["-h", "--help"]})
# the version given: click would otherwise import importlib.metadata to look it up
@click.version_option(__version__, package_name="insmod_py", prog_name="pyinsmod")
def cli() -> None:
    """Load Linux 2.4 modules from userspace, the way Roman Zippel proposed in 2002.

    \b
    pyinsmod hello.o                     link and load into the simulated 2.4 kernel
    pyinsmod load -n --ksyms System.map -m hello.o   dry run: print the load map
    pyinsmod prelink hello.o             embed struct module_new (hello.pre.o)
    pyinsmod lsmod | rmmod hello | ksyms | dmesg
    """


@cli.command()
@click.argument("module")
@click.argument("args", nargs=-1)
@click.option(
    "-n", "--dry-run", "--noload", is_flag=True, help="Link only, load nothing (needs no kernel)."
)
@click.option(
    "--base",
    default="0x12340000",
    show_default=True,
    metavar="ADDR",
    help="Base address for --dry-run and --probe (modutils used 0x12340000).",
)
@click.option(
    "--ksyms",
    "ksyms_path",
    metavar="PATH",
    help="Kernel symbols: /proc/ksyms, /proc/kallsyms, System.map or such a file.",
)
@click.option(
    "-o",
    "--name",
    "mod_name",
    metavar="NAME",
    help="Module name (default: file name up to its first dot).",
)
@click.option("-O", "--blob", "blob_path", metavar="FILE", help="Write the final image to FILE.")
@click.option("--map-file", metavar="FILE", help="Write the load map as JSON to FILE.")
@click.option("-m", "--map", "print_map", is_flag=True, help="Print the load map.")
@click.option(
    "--legacy",
    "header",
    flag_value="legacy",
    help="Build a 2.4 struct module header (modutils' way).",
)
@click.option(
    "--new",
    "header",
    flag_value="new",
    help="Use the object's struct module_new (prelinked objects).",
)
@click.option("--auto", "header", flag_value="auto", default=True, hidden=True)
@click.option(
    "-k", "--autoclean", is_flag=True, help="Mark the module MOD_AUTOCLEAN (reaped by `rmmod -a`)."
)
@click.option(
    "-f",
    "--force",
    is_flag=True,
    help="Load even if kernel_version differs from the kernel's (warns; taints F).",
)
@click.option(
    "-p",
    "--probe",
    is_flag=True,
    help="Check that it would load (version, symbols, parameters); load nothing.",
)
@click.option("-q", "--quiet", is_flag=True, help="No warnings; errors are still one line.")
@click.option("-v", "--verbose", is_flag=True, help="Say what is done: symbol source, base, sizes.")
@click.option(
    "-s",
    "--syslog",
    "use_syslog",
    is_flag=True,
    help="Send messages to syslog instead of stderr (as modutils did for kerneld).",
)
@click.option(
    "-x",
    "--noexport",
    "export_all",
    flag_value=False,
    help="A module without __ksymtab exports nothing.",
)
@click.option(
    "-X",
    "--export",
    "export_all",
    flag_value=True,
    default=True,
    help="A module without __ksymtab exports all its globals (default).",
)
@click.option(
    "-y",
    "--noksymoops",
    "ksymoops",
    flag_value=False,
    help="Do not add ksymoops symbols (__insmod_*) to the module's exports.",
)
@click.option(
    "-Y",
    "--ksymoops",
    "ksymoops",
    flag_value=True,
    default=True,
    help="Add ksymoops symbols: object, mtime, version, section starts (default).",
)
@click.option(
    "-L",
    "--lock",
    is_flag=True,
    help="flock the module file, so simultaneous loads of it wait for each other.",
)
@click.option("--defer-missing", is_flag=True,
              help="Load despite missing symbols; the kernel relocates those sites when a "
              "module exporting them loads (simulated kernel only).")  # fmt: skip
@with_backend_options
def load(
    module: str, args: tuple[str, ...], dry_run: bool, base: str, ksyms_path: str | None,
    mod_name: str | None, blob_path: str | None, map_file: str | None, print_map: bool,
    header: str, autoclean: bool, force: bool, probe: bool, quiet: bool, verbose: bool,
    use_syslog: bool, export_all: bool, ksymoops: bool, lock: bool, defer_missing: bool,
    backend: str, variant: str, state_dir: str | None,
) -> None:  # fmt: skip
    """Link MODULE (an ET_REL object) and load it; ARGS are its parameters (name=value).

    modutils' insmod(8) options.  A prelinked object (see `prelink`) uses its
    own struct module_new header; a plain one gets a 2.4 struct module header
    built here, as modutils did.  Exit status: 0 loaded (or would load), 1 not.

    \b
    Examples:
      pyinsmod hello.o
      pyinsmod params.o i=5 a=9,8 s='"two words"'
      pyinsmod -p -v hello.o                 # would it load? (loads nothing)
      pyinsmod -f old.o                      # despite a kernel_version mismatch
      pyinsmod load --legacy --kernel unpatched hello.o
      pyinsmod load -n --ksyms /proc/ksyms --base 0xc8800000 -O hello.img hello.o
      pyinsmod --defer-missing user.o        # exporter.o may come later
    """
    from .insmod import InsmodOptions, insmod
    from .messages import Reporter

    report = Reporter(verbose=verbose, quiet=quiet, syslog=use_syslog)
    opts = InsmodOptions(
        path=module, args=args, name=mod_name, dry_run=dry_run, base=_int(base),
        ksyms_path=ksyms_path, header=header, autoclean=autoclean, force=force, probe=probe,
        export_all=export_all, ksymoops=ksymoops, lock=lock, defer_missing=defer_missing,
        backend=backend, variant=variant, state_dir=state_dir,
    )  # fmt: skip
    try:
        result = insmod(opts, report)
        if result.linked is not None and not probe:
            _write_outputs(result.linked, blob_path, map_file)
            if print_map:
                click.echo(_format_map(result.linked, result.word_size), nl=False)
    except LoadError as err:
        if not use_syslog:
            raise
        report.error(str(err))  # modutils -s: the error goes to syslog only
        raise click.exceptions.Exit(err.exit_code) from None


def _map_json(linked: Any) -> dict[str, Any]:
    sections = [
        {"index": p.index, "name": p.name, "addr": linked.base + p.offset, "size": p.size}
        for p in linked.layout.pieces
        if p.index >= 0
    ]
    return {
        "base": linked.base,
        "size": linked.size,
        "header": linked.header,
        "sections": sections,
        "symbols": dict(linked.symbols),
    }


def _write_outputs(linked: Any, blob_path: str | None, map_file: str | None) -> None:
    from .fsutil import atomic_write_all

    outputs = []
    if blob_path:
        outputs.append((blob_path, linked.image))
    if map_file:
        import json  # only here: other commands need not pay for its import

        outputs.append((map_file, (json.dumps(_map_json(linked), indent=1) + "\n").encode()))
    atomic_write_all(outputs)


def _format_map(linked: Any, word_size: int) -> str:
    width = word_size * 2
    lines = [f"Sections:{'':14}{'Size':<{width + 2}}{'Address':<{width + 2}}Align"]
    for p in linked.layout.pieces:
        addr = linked.base + p.offset
        align = p.align.bit_length() - 1
        # at least one space after the name: a long one pushes its row right, never into Size
        lines.append(f"{p.name:<22} {p.size:0{width}x}  {addr:0{width}x}  2**{align}")
    lines.append("")
    lines.append("Symbols:")
    for name, value in sorted(linked.symbols.items(), key=lambda kv: (kv[1], kv[0])):
        lines.append(f"{value:0{width}x} {name}")
    return "\n".join(lines) + "\n"


@cli.command()
@click.argument("module")
@click.option("-o", "--output", metavar="OUT", help="Output object (default: MODULE with .pre.o).")
def prelink(module: str, output: str | None) -> None:
    """Embed struct module_new into MODULE: ld -r MODULE kernel_stub/module.o -T lds/modules.lds.

    The result loads with the new loader (its header is ready in .module_initdata)
    and with the old one (a legacy header is still built for it).

    \b
    Example:
      pyinsmod prelink hello.o          # writes hello.pre.o
      pyinsmod hello.pre.o
    """
    from .prelink import default_output
    from .prelink import prelink as run_prelink

    out = output or default_output(module)
    run_prelink(module, out)
    click.echo(out)


@cli.command()
@click.argument("modules", nargs=-1, required=True)
@click.option("-a", "--author", "fields", flag_value="author", multiple=True, help="Author only.")
@click.option(
    "-d",
    "--description",
    "fields",
    flag_value="description",
    multiple=True,
    help="Description only.",
)
@click.option(
    "-l", "--license", "fields", flag_value="license", multiple=True, help="License only."
)
@click.option(
    "-p",
    "--parameters",
    "fields",
    flag_value="parm",
    multiple=True,
    help="Parameters only (parm: NAME TYPE, description).",
)
@click.option(
    "-n", "--filename", "fields", flag_value="filename", multiple=True, help="File name only."
)
@click.option(
    "-F",
    "--field",
    "extra",
    metavar="FIELD",
    multiple=True,
    help="The raw value(s) of any .modinfo key (e.g. kernel_version).",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    metavar="FORMAT",
    help="modutils' query string: %a %d %n %l %{key}, \\n escapes.",
)
def modinfo(
    modules: tuple[str, ...], fields: tuple[str, ...], extra: tuple[str, ...], fmt: str | None
) -> None:
    """Show a module's .modinfo as modutils' modinfo did.

    Author and description are quoted, a missing field is <none>.  Exit
    status 1 if a MODULE cannot be read (the others are still shown).

    \b
    Examples:
      pyinsmod modinfo params.o
      pyinsmod modinfo -p params.o
      pyinsmod modinfo -F kernel_version hello.o
      pyinsmod modinfo -f '%n: %{license}\n' *.o
    """
    from .elf import read_object
    from .modinfo import DEFAULT_FORMAT, field_text, format_query, parameter_lines, read_modinfo

    failed: LoadError | None = None
    for module in modules:
        try:
            info = read_modinfo(read_object(module))
        except LoadError as err:
            if len(modules) == 1:
                raise
            click.echo(f"pyinsmod: {err}", err=True)
            failed = err
            continue
        out: list[str] = []
        if fmt is not None:
            out.append(format_query(info, fmt, module))
        for field in fields:
            out.extend(
                [line + "\n" for line in parameter_lines(info)]
                if field == "parm"
                else [field_text(info, field, module) + "\n"]
            )
        for key in extra:
            out.extend(value + "\n" for value in info.all(key))
        if fmt is None and not fields and not extra:
            out.append(format_query(info, DEFAULT_FORMAT, module))
            out.extend(line + "\n" for line in parameter_lines(info))
        click.echo("".join(out), nl=False)
    if failed is not None:
        raise click.exceptions.Exit(failed.exit_code)


def _arch(arch: str | None, state_dir: str | None, backend: str = "sim") -> str:
    """The --arch given; for the real syscalls this machine's; else the one simulated
    kernel that has state, or i386."""
    if arch is not None:
        return arch
    if backend == "syscall":
        return (host() or DEFAULT).name
    if backend == "qemu":
        from .backends.qemu.vm import running_arches

        found = running_arches(state_dir)
    else:
        from .backends.sim.state import existing_arches

        found = [a for a in existing_arches(state_dir) if a in NAMES]
    return found[0] if len(found) == 1 else DEFAULT.name


@cli.command()
@click.argument("names", nargs=-1)
@click.option(
    "-a", "--all", "reap", is_flag=True, help="Reap unused autoclean modules (delete_module(NULL))."
)
@arch_option
@with_backend_options
def rmmod(
    names: tuple[str, ...], reap: bool, arch: str | None, backend: str, variant: str,
    state_dir: str | None,
) -> None:  # fmt: skip
    """Remove modules (running their cleanup_module); exit status 1 if one cannot go.

    -a reaps autoclean modules (loaded with -k) that nobody used since the
    last reap: 2.4's delete_module(NULL) with its second chance.

    \b
    Examples:
      pyinsmod rmmod hello
      pyinsmod rmmod user exporter
      pyinsmod rmmod -a
    """
    from .backends.factory import open_backend

    if not names and not reap:
        raise click.UsageError("name a module, or use -a to reap autoclean modules")
    arch = _arch(arch, state_dir, backend)
    be = open_backend(backend, arch=arch, variant=variant, state_dir=state_dir)
    if reap:
        be.delete_module(None)
    for name in names:
        try:
            be.delete_module(name)
        except LoadError as err:
            raise err.with_file(name) from None


def _taint_text(flags: int) -> str:
    """2.4's print_tainted(): "Not tainted", or "Tainted: " and one letter per flag."""
    if not flags:
        return "Not tainted"
    from .modstruct import TAINT_FORCED, TAINT_PROPRIETARY

    proprietary = "P" if flags & TAINT_PROPRIETARY else "G"
    return "Tainted: " + proprietary + ("F" if flags & TAINT_FORCED else " ")


def _view_backend(backend: str, arch: str | None, variant: str, state_dir: str | None) -> Any:
    from .backends.factory import open_backend

    return open_backend(
        backend, arch=_arch(arch, state_dir, backend), variant=variant, state_dir=state_dir
    )


@cli.command()
@arch_option
@with_view_options
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Also the char devices each module registered and deferred symbols (sim), or the "
    "VM's status (qemu).",
)
def lsmod(
    arch: str | None, backend: str, variant: str, state_dir: str | None, verbose: bool
) -> None:
    """List loaded modules as 2.4's /proc/modules did: name, size, use count, [referrers].

    The header says whether the kernel is tainted (P: a non-GPL module was
    loaded, F: a module was forced in with -f), as modutils' lsmod did.

    \b
    Examples:
      pyinsmod lsmod
      pyinsmod lsmod -v --arch x86_64
      pyinsmod lsmod --backend qemu --kernel unpatched
    """
    be = _view_backend(backend, arch, variant, state_dir)
    click.echo(f"Module                  Size  Used by    {_taint_text(be.tainted())}")
    listing = be.proc_modules()
    if not verbose:
        click.echo(listing, nl=False)
        return
    if backend == "qemu":
        click.echo(listing, nl=False)
        click.echo(_vm_status_line(be))
        return
    devices: dict[str, list[str]] = {}
    for major, dev, owner in be.chrdevs():
        if owner:
            devices.setdefault(owner, []).append(f"{major} {dev}")
    waiting = be.unresolved()
    for line in listing.splitlines():
        click.echo(line)
        name = line.split(" ", 1)[0]
        for dev in devices.get(name, []):
            click.echo(f"\tchrdev {dev}")
        if name in waiting:
            click.echo(f"\tdeferred: {' '.join(waiting[name])} (provider not loaded)")


@cli.command()
@arch_option
@with_view_options
def ksyms(arch: str | None, backend: str, variant: str, state_dir: str | None) -> None:
    """Print the kernel's /proc/ksyms (module exports first, then the kernel's).

    \b
    Example:
      pyinsmod ksyms | grep exporter
    """
    be = _view_backend(backend, arch, variant, state_dir)
    click.echo(be.proc_ksyms(), nl=False)


@cli.command()
@arch_option
@with_view_options
@click.option("-c", "--clear", is_flag=True, help="Clear the log after printing it.")
def dmesg(arch: str | None, backend: str, variant: str, state_dir: str | None, clear: bool) -> None:
    """Print the kernel's log (printk output, with <N> levels).

    \b
    Example:
      pyinsmod dmesg -c
      pyinsmod dmesg --backend qemu --arch x86_64
    """
    be = _view_backend(backend, arch, variant, state_dir)
    for line in be.dmesg():
        click.echo(line)
    if clear:
        be.clear_dmesg()


def _vm_status_line(be: Any) -> str:
    st = be.status()
    text = f"qemu: {be.vm.label} {st.state}"
    if st.pid is not None:
        text += f" (pid {st.pid}{', ' + st.detail if st.detail else ''})"
    return f"{text}; console log {be.vm.console}"


@cli.group(cls=Group)
def qemu() -> None:
    """The real 2.4 kernels under qemu: one VM per state directory, arch and kernel.

    The first `--backend qemu` command boots a VM in the background; it keeps
    running between commands until `pyinsmod qemu stop`.

    \b
    Examples:
      pyinsmod load --backend qemu --kernel unpatched hello.o
      pyinsmod qemu status
      pyinsmod qemu stop --arch i386 --kernel unpatched
    """


def _qemu_backends(arch: str | None, variant: str | None, state_dir: str | None) -> list[Any]:
    from .backends.qemu import QemuBackend

    return [
        QemuBackend(state_dir=state_dir, arch=a, variant=v)
        for a in ((arch,) if arch else NAMES)
        for v in ((variant,) if variant else ("unpatched", "patched"))
    ]


qemu_selection = [
    click.option("--arch", type=click.Choice(NAMES), default=None, help="Default: every one."),
    click.option(
        "--kernel",
        "variant",
        type=click.Choice(["patched", "unpatched"]),
        default=None,
        help="Default: both.",
    ),
    state_option,
]


def with_qemu_selection(func: Any) -> Any:
    for option in reversed(qemu_selection):
        func = option(func)
    return func


@qemu.command("start")
@click.option("--arch", type=click.Choice(NAMES), default=DEFAULT.name, show_default=True)
@variant_option
@state_option
def qemu_start(arch: str, variant: str, state_dir: str | None) -> None:
    """Boot the VM now (otherwise the first command that needs it does)."""
    from .backends.qemu import QemuBackend

    be = QemuBackend(state_dir=state_dir, arch=arch, variant=variant)
    be.kernel_version()
    click.echo(_vm_status_line(be))


@qemu.command("status")
@with_qemu_selection
def qemu_status(arch: str | None, variant: str | None, state_dir: str | None) -> None:
    """One line per VM: running, stopped or dead (a dead one is cleared by the next use)."""
    for be in _qemu_backends(arch, variant, state_dir):
        click.echo(_vm_status_line(be))


@qemu.command("stop")
@with_qemu_selection
def qemu_stop(arch: str | None, variant: str | None, state_dir: str | None) -> None:
    """Stop VMs (waiting for a command that is using one); their modules are gone."""
    for be in _qemu_backends(arch, variant, state_dir):
        if be.stop():
            click.echo(f"stopped the {be.vm.label}")


def _register_subcommands() -> None:
    """Commands that live in their own modules (kept out of this thin shell)."""
    from .depmod_cmd import register as register_depmod
    from .device_cmd import register as register_devices
    from .modprobe_cmd import register as register_modprobe

    register_depmod(cli)
    register_devices(cli)
    register_modprobe(cli, with_backend_options)


_register_subcommands()


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: run the CLI, turning a LoadError into one line and exit status 1."""
    try:
        # standalone_mode=False: click returns a command's Exit status instead of exiting
        status = cli.main(args=argv, prog_name="pyinsmod", standalone_mode=False)
    except LoadError as err:
        click.echo(f"pyinsmod: {err}", err=True)
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        click.echo("pyinsmod: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        click.echo("pyinsmod: interrupted", err=True)
        sys.exit(130)
    sys.exit(status if isinstance(status, int) else 0)
