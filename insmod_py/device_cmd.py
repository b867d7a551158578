"""``pyinsmod cat | write | ioctl | tick | devices``: use a loaded driver in the simulated kernel.

Each command is one process of the simulated 2.4 kernel: it opens the device
(calling the module's ``open``), does its reads/writes/ioctl, and closes it
(``release``), as ``cat``, ``echo >`` and a small ioctl tool would on a real
2.4 system.  The module's printk lines go to ``pyinsmod dmesg``; a crash in
module code is one ``pyinsmod: DEVICE: Oops: ... <symbol+0xoff>`` line.
The work is :mod:`insmod_py.simkernel`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from .clibase import Command
from .errors import LoadError, UsageError

if TYPE_CHECKING:
    from .simkernel import SimKernel

DEVICE_HELP = "DEVICE: MAJOR:MINOR, NAME[:MINOR] (as /proc/devices or a misc device), /proc/PATH."


def register(cli: click.Group) -> None:
    """Add the device commands to the ``pyinsmod`` command group."""
    for cmd in (cat, write, ioctl, tick, devices):
        cli.add_command(cmd)


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a number (use 0x... for hex)") from None


def _kernel(arch: str | None, state_dir: str | None) -> SimKernel:
    from .cli import _arch
    from .simkernel import SimKernel

    k = SimKernel(state_dir, arch=_arch(arch, state_dir))
    k.comm = click.get_current_context().info_name or "pyinsmod"  # "cat", "write", ...
    return k


def _common(func: Callable) -> Callable:
    """--state and --arch, as the other commands on the simulated kernel have them."""
    from .cli import arch_option, state_option

    return arch_option(state_option(func))


def _named(device: str, err: LoadError) -> LoadError:
    return err.with_file(device)


@click.command(cls=Command)
@click.argument("device")
@click.option("-n", "--count", metavar="N", type=int, default=1 << 20, help="Read at most N bytes.")
@_common
def cat(device: str, count: int, arch: str | None, state_dir: str | None) -> None:
    """Read DEVICE until a read returns 0, and print what came.

    \b
    Examples:
      pyinsmod cat scull
      pyinsmod cat /proc/procfile
      pyinsmod cat 254:1
    """
    with _kernel(arch, state_dir) as k:
        try:
            data = k.cat(device, limit=count)
        except LoadError as err:
            raise _named(device, err) from None
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


@click.command(cls=Command)
@click.argument("device")
@click.argument("data", required=False)
@click.option("-a", "--append", is_flag=True, help="Open with O_APPEND.")
@click.option("-v", "--verbose", is_flag=True, help="Say how many bytes the driver took.")
@_common
def write(
    device: str, data: str | None, append: bool, verbose: bool, arch: str | None,
    state_dir: str | None,
) -> None:  # fmt: skip
    """Write DATA (or standard input) to DEVICE, as `echo -n DATA > DEVICE`.

    \b
    Examples:
      pyinsmod write scull 'hello, world'
      printf 'V' | pyinsmod write watchdog
    """
    raw = sys.stdin.buffer.read() if data is None else data.encode("utf-8", "surrogateescape")
    with _kernel(arch, state_dir) as k:
        try:
            n = k.write(device, raw, "a" if append else "w")
        except LoadError as err:
            raise _named(device, err) from None
    if verbose:
        click.echo(f"{device}: wrote {n} of {len(raw)} bytes")


@click.command(cls=Command)
@click.argument("device")
@click.argument("cmd")
@click.argument("arg", required=False)
@click.option(
    "--int", "int_in", metavar="VALUE", default=None,
    help="Pass a pointer to an int holding VALUE; print the int afterwards.",
)  # fmt: skip
@click.option(
    "--buf", "buf_size", metavar="SIZE", type=int, default=None,
    help="Pass a pointer to SIZE zero bytes; print them afterwards (hex).",
)  # fmt: skip
@_common
def ioctl(
    device: str, cmd: str, arg: str | None, int_in: str | None, buf_size: int | None,
    arch: str | None, state_dir: str | None,
) -> None:  # fmt: skip
    """Call DEVICE's ioctl with command CMD and argument ARG (an integer, default 0).

    Prints what the ioctl returned, and with --int/--buf the argument after the call.

    \b
    Examples:
      pyinsmod ioctl scull 0x6b04                     # SCULL_IOCQQUANTUM
      pyinsmod ioctl scull 0x80046b01 --int 0         # SCULL_IOCGSIZE
      pyinsmod ioctl watchdog 0xc0045706 --int 5      # WDIOC_SETTIMEOUT
      pyinsmod ioctl watchdog 0x80285700 --buf 40     # WDIOC_GETSUPPORT
    """
    import struct

    given = [x is not None for x in (arg, int_in, buf_size)]
    if sum(given) > 1:
        raise UsageError("give ARG, --int or --buf, not several")
    argument: int | bytes = _int(arg) if arg is not None else 0
    if int_in is not None:
        argument = struct.pack("<i", _int(int_in))
    elif buf_size is not None:
        if not 0 < buf_size <= 1 << 16:
            raise UsageError("--buf SIZE must be between 1 and 65536")
        argument = bytes(buf_size)
    with _kernel(arch, state_dir) as k:
        try:
            res = k.ioctl(device, _int(cmd), argument)
        except LoadError as err:
            raise _named(device, err) from None
    click.echo(f"ret {res.ret}")
    if int_in is not None:
        click.echo(f"int {res.int()}")
    elif buf_size is not None:
        click.echo(f"buf {res.data.hex()}")


@click.command(cls=Command)
@click.argument("ticks", required=False, default="1")
@click.option("-s", "--seconds", metavar="S", type=float, default=None, help="Advance S * HZ.")
@click.option("-v", "--verbose", is_flag=True, help="Name each timer function that ran.")
@_common
def tick(
    ticks: str, seconds: float | None, verbose: bool, arch: str | None, state_dir: str | None
) -> None:
    """Advance the simulated clock (jiffies, HZ=100) by TICKS; due timers run.

    \b
    Examples:
      pyinsmod tick 100
      pyinsmod tick -s 61 -v
    """
    from .simkernel import HZ

    n = round(seconds * HZ) if seconds is not None else _int(ticks)
    with _kernel(arch, state_dir) as k:
        fired = k.tick(n)
        if verbose:
            for fn in fired:
                click.echo(f"timer {fn}")
            click.echo(f"jiffies {k.jiffies}")


@click.command(cls=Command)
@_common
def devices(arch: str | None, state_dir: str | None) -> None:
    """List character devices (/proc/devices), misc devices and modules' /proc files.

    \b
    Example:
      pyinsmod devices
    """
    with _kernel(arch, state_dir) as k:
        click.echo("Character devices:")
        for major, name, _ in k.backend.chrdevs():
            click.echo(f"{major:3d} {name}")
        click.echo("Misc devices:")
        for name, minor in sorted(k.misc_devices().items(), key=lambda x: x[1]):
            click.echo(f"{minor:3d} {name}")
        click.echo("/proc files:")
        for path in k.proc_entries():
            click.echo(f"/proc/{path}")
