"""The ``pyinsmod`` command: a thin shell over the library, as kmod's tools are.

It parses options, calls one library function, and turns a LoadError into one
line on stderr with exit status 1.  Heavy imports happen inside the commands,
so ``pyinsmod --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

from .errors import LoadError

STATE_HELP = "Simulated kernel state directory (default: $PYINSMOD_STATE, ~/.local/state/pyinsmod)."


class DefaultLoadGroup(click.Group):
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


def _machine_of(path: str) -> str:
    """The arch of an object, for opening the matching simulated kernel."""
    from .elf import read_object

    return read_object(path).machine_name


backend_options = [
    click.option(
        "--backend",
        type=click.Choice(["sim", "syscall"]),
        default="sim",
        show_default=True,
        help="Where the module goes: the simulated 2.4 kernel or the real legacy syscalls.",
    ),
    click.option(
        "--kernel",
        "variant",
        type=click.Choice(["patched", "unpatched"]),
        default="patched",
        show_default=True,
        help="Simulated kernel: with Zippel's module_new patch, or vanilla 2.4.",
    ),
    click.option("--state", "state_dir", metavar="DIR", default=None, help=STATE_HELP),
]


def with_backend_options(func: Any) -> Any:
    for option in reversed(backend_options):
        func = option(func)
    return func


@click.group(cls=DefaultLoadGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="insmod_py", prog_name="pyinsmod")
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
@click.option("-n", "--dry-run", is_flag=True, help="Link only, load nothing (needs no kernel).")
@click.option(
    "--base",
    default="0x12340000",
    show_default=True,
    metavar="ADDR",
    help="Base address for --dry-run (modutils used 0x12340000).",
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
@with_backend_options
def load(
    module: str, args: tuple[str, ...], dry_run: bool, base: str, ksyms_path: str | None,
    mod_name: str | None, blob_path: str | None, map_file: str | None, print_map: bool,
    header: str, autoclean: bool, backend: str, variant: str, state_dir: str | None,
) -> None:  # fmt: skip
    """Link MODULE (an ET_REL object) and load it, with ARGS as its argument string.

    A prelinked object (see `prelink`) uses its own struct module_new header;
    a plain one gets a 2.4 struct module header built here, as modutils did.

    \b
    Examples:
      pyinsmod hello.o
      pyinsmod load --legacy --kernel unpatched hello.o
      pyinsmod load -n --ksyms /proc/ksyms --base 0xc8800000 -O hello.img hello.o
    """
    from .elf import read_object
    from .ksyms import load_symbols
    from .loader import link, module_name_from_path
    from .loader import load as load_module
    from .modinfo import read_modinfo
    from .params import split_arguments

    obj = read_object(module)
    name = mod_name or module_name_from_path(module)
    info = read_modinfo(obj)
    try:
        arg_string, params = split_arguments(args, info.parameters, obj.word_size)
    except LoadError as err:
        raise err.with_file(module) from None
    symbols = load_symbols(ksyms_path) if ksyms_path else None
    if dry_run:
        from .ksyms import SymbolTable

        fixed = _int(base)
        linked = link(
            obj, symbols or SymbolTable(), lambda size: fixed, name=name, args=arg_string,
            header=header, autoclean=autoclean, params=params, gpl_ok=info.gpl_compatible,
        )  # fmt: skip
    else:
        from .backends.factory import open_backend

        be = open_backend(backend, arch=obj.machine_name, variant=variant, state_dir=state_dir)
        linked = load_module(
            obj, be, name=name, args=arg_string, header=header, symbols=symbols,
            autoclean=autoclean, params=params,
        )  # fmt: skip
    _write_outputs(linked, blob_path, map_file)
    if print_map:
        click.echo(_format_map(linked, obj.word_size), nl=False)


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
        "symbols": linked.symbols,
    }


def _write_outputs(linked: Any, blob_path: str | None, map_file: str | None) -> None:
    from .fsutil import atomic_write_all

    outputs = []
    if blob_path:
        outputs.append((blob_path, linked.image))
    if map_file:
        outputs.append((map_file, (json.dumps(_map_json(linked), indent=1) + "\n").encode()))
    atomic_write_all(outputs)


def _format_map(linked: Any, word_size: int) -> str:
    width = word_size * 2
    lines = [f"Sections:{'':14}{'Size':<{width + 2}}{'Address':<{width + 2}}Align"]
    for p in linked.layout.pieces:
        addr = linked.base + p.offset
        align = p.align.bit_length() - 1
        lines.append(f"{p.name:<23}{p.size:0{width}x}  {addr:0{width}x}  2**{align}")
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
@click.argument("module")
@click.option("-a", "--author", "fields", flag_value="author", multiple=True, help="Author only.")
@click.option("-d", "--description", "fields", flag_value="description", multiple=True,
              help="Description only.")  # fmt: skip
@click.option(
    "-l", "--license", "fields", flag_value="license", multiple=True, help="License only."
)
@click.option("-p", "--parameters", "fields", flag_value="parm", multiple=True,
              help="Parameters only.")  # fmt: skip
@click.option("-n", "--filename", "fields", flag_value="filename", multiple=True,
              help="File name only.")  # fmt: skip
@click.option("-F", "--field", "extra", metavar="FIELD", multiple=True, help="Any .modinfo key.")
def modinfo(module: str, fields: tuple[str, ...], extra: tuple[str, ...]) -> None:
    """Show a module's .modinfo: author, description, license, parameters with types.

    \b
    Examples:
      pyinsmod modinfo params.o
      pyinsmod modinfo -p params.o
      pyinsmod modinfo -F kernel_version hello.o
    """
    from .elf import read_object
    from .modinfo import read_modinfo
    from .params import parse_type

    obj = read_object(module)
    info = read_modinfo(obj)
    wanted = list(fields) + list(extra)
    show_all = not wanted
    selected = wanted or ["filename", "description", "author", "license", "parm"]
    for field in selected:
        if field == "filename":
            click.echo(f"filename:    {module}" if show_all else module)
        elif field == "parm":
            descriptions = info.parameter_descriptions
            for var, spec in info.parameters.items():
                try:
                    kind = parse_type(var, spec, obj.word_size).describe()
                except LoadError:
                    kind = f"invalid type {spec!r}"
                desc = f', description "{descriptions[var]}"' if var in descriptions else ""
                click.echo(
                    f"parm:        {var} {kind}{desc}" if show_all else f"{var} {kind}{desc}"
                )
        else:
            for value in info.all(field) or ([] if not show_all else ["<none>"]):
                text = f'"{value}"' if show_all and value != "<none>" else value
                click.echo(f"{field + ':':<13}{text}" if show_all else text)


@cli.command()
@click.argument("names", nargs=-1)
@click.option(
    "-a", "--all", "reap", is_flag=True, help="Reap unused autoclean modules (delete_module(NULL))."
)
@click.option("--arch", type=click.Choice(["i386", "x86_64"]), default="i386", show_default=True)
@with_backend_options
def rmmod(
    names: tuple[str, ...], reap: bool, arch: str, backend: str, variant: str, state_dir: str | None
) -> None:
    """Remove modules (running their cleanup_module).

    \b
    Example:
      pyinsmod rmmod hello
      pyinsmod rmmod -a
    """
    from .backends.factory import open_backend

    if not names and not reap:
        raise click.UsageError("name a module, or use -a to reap autoclean modules")
    be = open_backend(backend, arch=arch, variant=variant, state_dir=state_dir)
    if reap:
        be.delete_module(None)
    for name in names:
        try:
            be.delete_module(name)
        except LoadError as err:
            raise err.with_file(name) from None


@cli.command()
@click.option("--arch", type=click.Choice(["i386", "x86_64"]), default="i386", show_default=True)
@click.option("--state", "state_dir", metavar="DIR", default=None, help=STATE_HELP)
def lsmod(arch: str, state_dir: str | None) -> None:
    """List loaded modules as 2.4's /proc/modules did: name, size, use count, [referrers]."""
    from .backends.sim import SimBackend

    be = SimBackend(state_dir=state_dir, arch=arch)
    click.echo("Module                  Size  Used by")
    click.echo(be.proc_modules(), nl=False)


@cli.command()
@click.option("--arch", type=click.Choice(["i386", "x86_64"]), default="i386", show_default=True)
@click.option("--state", "state_dir", metavar="DIR", default=None, help=STATE_HELP)
def ksyms(arch: str, state_dir: str | None) -> None:
    """Print the simulated kernel's /proc/ksyms (kernel and module exports)."""
    from .backends.sim import SimBackend

    click.echo(SimBackend(state_dir=state_dir, arch=arch).proc_ksyms(), nl=False)


@cli.command()
@click.option("--arch", type=click.Choice(["i386", "x86_64"]), default="i386", show_default=True)
@click.option("--state", "state_dir", metavar="DIR", default=None, help=STATE_HELP)
@click.option("-c", "--clear", is_flag=True, help="Clear the log after printing it.")
def dmesg(arch: str, state_dir: str | None, clear: bool) -> None:
    """Print the simulated kernel's log (printk output, with <N> levels)."""
    from .backends.sim import SimBackend

    be = SimBackend(state_dir=state_dir, arch=arch)
    for line in be.dmesg():
        click.echo(line)
    if clear:
        be.clear_dmesg()


def _register_subcommands() -> None:
    """Commands that live in their own modules (kept out of this thin shell)."""
    from .depmod_cmd import register as register_depmod

    register_depmod(cli)


_register_subcommands()


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: run the CLI, turning a LoadError into one line and exit status 1."""
    try:
        cli.main(args=argv, prog_name="pyinsmod", standalone_mode=False)
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
    sys.exit(0)
