"""The ``pyinsmod modprobe`` command (see :mod:`insmod_py.modprobe` for the work)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from .clibase import Command

DEFAULT_RELEASE = "2.4.37.11"  # the simulated kernel's, and the real one qemu runs


def register(cli: click.Group, with_backend_options: object) -> None:
    cli.add_command(with_backend_options(modprobe))  # type: ignore[operator]


def _default_dir(backend: str) -> str:
    env = os.environ.get("PYINSMOD_MODULES")
    if env:
        return env
    release = os.uname().release if backend == "syscall" else DEFAULT_RELEASE
    return f"/lib/modules/{release}"


@click.command(cls=Command)
@click.argument("name", required=False)
@click.argument("args", nargs=-1)
@click.option("-r", "--remove", is_flag=True, help="Remove NAME, then its unused dependencies.")
@click.option(
    "-l", "--list", "listing", is_flag=True, help="List the tree's modules (NAME: a pattern)."
)
@click.option(
    "-t", "--type", "kind", metavar="DIR", help="Only modules under a DIR directory (e.g. net)."
)
@click.option("-n", "--dry-run", is_flag=True, help="Print the insmod/rmmod steps; load nothing.")
@click.option("-v", "--verbose", is_flag=True, help="Say each step.")
@click.option("-q", "--quiet", is_flag=True, help="No warnings.")
@click.option("-k", "--autoclean", is_flag=True, help="Load with MOD_AUTOCLEAN (rmmod -a reaps).")
@click.option("-C", "--config", metavar="FILE", help="modules.conf (default: DIR/modules.conf).")
@click.option("--dir", "tree", metavar="DIR",
              help="Module tree with modules.dep (default: $PYINSMOD_MODULES, else "
              "/lib/modules/RELEASE).")  # fmt: skip
@click.option("--legacy", "header", flag_value="legacy", help="Force a 2.4 struct module header.")
@click.option("--new", "header", flag_value="new", help="Use each object's struct module_new.")
def modprobe(
    name: str | None, args: tuple[str, ...], remove: bool, listing: bool, kind: str | None,
    dry_run: bool, verbose: bool, quiet: bool, autoclean: bool, config: str | None,
    tree: str | None, header: str | None, backend: str, variant: str, state_dir: str | None,
) -> None:  # fmt: skip
    """Load NAME after the modules it depends on (modules.dep), as modutils' modprobe.

    ARGS are NAME's parameters, after the `options` modules.conf gives for it.
    Aliases (`alias NAME MODULE`, `alias NAME off`) and `options` lines are read
    from modules.conf; other directives are reported and ignored.  Everything
    happens in this one process.  Write modules.dep first with `pyinsmod depmod`.

    \b
    Examples:
      pyinsmod depmod -F vmlinux --deps DIR/modules.dep DIR -o DIR/symbols.txt
      pyinsmod modprobe --dir DIR vfat          # fat, then vfat
      pyinsmod modprobe --dir DIR -r vfat       # vfat, then fat if unused
      pyinsmod modprobe --dir DIR -l -t fs 'v*'
    """
    from .insmod import InsmodOptions
    from .messages import Reporter
    from .modconf import ModulesConf, read_conf, read_dep
    from .modprobe import Modprobe

    if not listing and not name:
        raise click.UsageError("name a module (or use -l)")
    if (listing and remove) or (args and (listing or remove)):
        raise click.UsageError("-l, -r and module arguments do not mix")
    root = Path(tree or _default_dir(backend))
    report = Reporter(verbose=verbose, quiet=quiet)
    conf_path = Path(config) if config else root / "modules.conf"
    conf = read_conf(conf_path) if config or conf_path.is_file() else ModulesConf()
    for ignored in conf.ignored:
        report.warn(f"{ignored}: directive not supported; ignored")
    dep = read_dep(root / "modules.dep")

    def open_backend():  # type: ignore[no-untyped-def]
        from .backends.factory import open_backend as open_named

        return open_named(backend, arch=_arch_of(dep), variant=variant, state_dir=state_dir)

    base = InsmodOptions(
        path="", header=header or "auto", autoclean=autoclean, backend=backend,
        variant=variant, state_dir=state_dir,
    )  # fmt: skip
    run = Modprobe(dep, conf, base, report, echo=click.echo, open_backend=open_backend)
    if listing:
        for path in run.listing(name, kind):
            click.echo(str(path))
    elif remove:
        run.remove(name or "", dry_run=dry_run)
    else:
        run.load(name or "", args, dry_run=dry_run)


def _arch_of(dep: dict) -> str:  # type: ignore[type-arg]
    """The machine of the tree's modules (the first one says it)."""
    from .elf import read_object

    for entry in dep.values():
        return read_object(str(entry.path)).machine_name
    from .arch import DEFAULT

    return DEFAULT.name
