"""The ``pyinsmod depmod`` command: a module tree -> a ksyms-format symbol file + modules.dep.

Registered by the CLI with :func:`register`; the work is :func:`insmod_py.depmod.scan_tree`.
"""

from __future__ import annotations

import click

from .clibase import Command


def register(cli: click.Group) -> None:
    """Add ``depmod`` to the ``pyinsmod`` command group."""
    cli.add_command(depmod)


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text, 0)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a number (use 0x... for hex)") from None


@click.command(cls=Command)
@click.argument("tree", type=click.Path(exists=True, file_okay=False))
@click.option(
    "-F",
    "--system-map",
    metavar="FILE",
    help="The kernel's exports: its vmlinux (__ksymtab), System.map or a /proc/ksyms dump.",
)
@click.option("-o", "--output", metavar="FILE", help="Symbol file to write (default: stdout).")
@click.option(
    "--deps",
    "deps_path",
    metavar="FILE",
    help="Also write modules.dep to FILE (and, for a 2.4 tree, the modules.*map files beside it).",
)
@click.option(
    "--base", metavar="ADDR", help="First module base (default: the machine's module area)."
)
def depmod(
    tree: str, system_map: str | None, output: str | None, deps_path: str | None, base: str | None
) -> None:
    """Symbols of a module TREE as if every module were loaded: kernel + module exports.

    Writes `addr name [module]` lines (2.4 /proc/ksyms format) that `load
    --ksyms` reads: the kernel's exports from System.map (names with a
    __ksymtab_ entry) and every module's exports at the address our loader
    gives them when each module sits in its own slot of the module area.
    With --deps, a 2.4 tree also gets modutils 2.4's modules.pcimap, usbmap,
    isapnpmap, parportmap, ieee1394map, pnpbiosmap and generic_string.

    \b
    Example:
      pyinsmod depmod -F System.map-6.1.0-50-amd64 /lib/modules/6.1.0-50-amd64 -o syms.txt
      pyinsmod load -n --ksyms syms.txt --base 0xffffffffc0000000 --legacy mod.ko
    """
    import os

    from .depmod import scan_tree
    from .fsutil import atomic_write, atomic_write_all

    result = scan_tree(tree, system_map, base=_int(base))
    text = result.format_symbols()
    if output:
        atomic_write(output, text.encode())
    else:
        click.echo(text, nl=False)
    if deps_path:
        # modules.dep last, as modutils closed it last: its time stands for the whole set
        where = os.path.dirname(deps_path)
        outputs = [(os.path.join(where, n), t.encode()) for n, t in result.format_maps().items()]
        atomic_write_all([*outputs, (deps_path, result.format_deps().encode())])
    for line in result.table_warnings():
        click.echo(f"pyinsmod: WARNING: {line}", err=True)
    for module, names in sorted(result.unresolved.items()):
        for name in names:
            click.echo(f"pyinsmod: WARNING: {module} needs unknown symbol {name}", err=True)
    click.echo(f"pyinsmod: {len(result.modules)} modules, {len(result.symbols)} symbols", err=True)
