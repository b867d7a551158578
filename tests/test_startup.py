"""Start-up cost of the ``pyinsmod`` process: what is (not) imported, and that the
shortcuts taken for it (insmod_py.entry, insmod_py.clibase) change no output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from insmod_py.cli import cli
from insmod_py.clibase import HelpFormatter, terminal_columns


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter has imported after running ``code``."""
    report = "mods = sorted(sys.modules)\nimport json\nprint(json.dumps(mods), file=sys.stderr)"
    proc = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\n{report}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return set(json.loads(proc.stderr.splitlines()[-1]))


def _cli_modules_after(args: list[str]) -> set[str]:
    main = f"from insmod_py.cli import main\ntry:\n    main({args!r})\nexcept SystemExit:\n    pass"
    return _modules_after(main)


def test_importing_the_cli_imports_no_command_work() -> None:
    mods = _modules_after("import insmod_py.cli")
    assert "click" in mods
    for heavy in ("json", "shutil", "difflib", "fcntl", "importlib.metadata", "insmod_py.loader"):
        assert heavy not in mods, heavy


def test_help_and_version_import_neither_shutil_nor_metadata() -> None:
    for args in (["--help"], ["load", "--help"], ["--version"], ["load"]):
        mods = _cli_modules_after(args)
        assert "click.formatting" in mods
        assert "shutil" not in mods, args
        assert "importlib.metadata" not in mods, args


def test_library_import_leaves_the_gc_alone() -> None:
    code = "import gc\nimport insmod_py.cli, insmod_py.entry\nassert gc.isenabled()\n"
    code += "assert gc.get_freeze_count() == 0"
    _modules_after(code)


@pytest.mark.parametrize("columns", [None, "", "0", "-3", "abc", "30", "60", "79", "100", "300"])
def test_terminal_columns_is_shutils(monkeypatch: pytest.MonkeyPatch, columns: str | None) -> None:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert terminal_columns() == shutil.get_terminal_size().columns
    for max_width in (None, 0, 60, 120):
        ours = HelpFormatter(max_width=max_width).width
        assert ours == click.HelpFormatter(max_width=max_width).width


def test_forced_width_and_explicit_width_are_clicks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(click.formatting, "FORCED_WIDTH", 57)
    assert HelpFormatter().width == click.HelpFormatter().width == 57
    monkeypatch.setattr(click.formatting, "FORCED_WIDTH", None)
    assert HelpFormatter(width=66).width == 66


def test_every_command_formats_with_our_formatter() -> None:
    commands = [cli, *cli.commands.values()]
    for command in commands:
        ctx = command.make_context(command.name or "pyinsmod", ["--help"], resilient_parsing=True)
        assert isinstance(ctx.make_formatter(), HelpFormatter), command.name


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return {**env, **extra}


# main() with click's own help formatter (which measures the terminal with shutil)
_CLICK_FORMATTER = """
import sys, click
from insmod_py import clibase
clibase.Context.formatter_class = click.HelpFormatter
from insmod_py.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("columns", [None, "50", "72", "120"])
@pytest.mark.parametrize("args", [["--help"], ["load", "--help"], ["depmod", "--help"], ["load"]])
def test_process_help_is_clicks(args: list[str], columns: str | None) -> None:
    """``python -m insmod_py`` (insmod_py.entry) prints what click's formatter prints."""
    env = _env() if columns is None else _env(COLUMNS=columns)
    ours, clicks = (
        subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
        for command in (
            [sys.executable, "-m", "insmod_py", *args],
            [sys.executable, "-c", _CLICK_FORMATTER, *args],
        )
    )
    assert (ours.returncode, ours.stdout, ours.stderr) == (
        clicks.returncode,
        clicks.stdout,
        clicks.stderr,
    )
    assert "Usage: pyinsmod" in ours.stdout + ours.stderr


def test_version_is_the_packages() -> None:
    from insmod_py import __version__

    result = CliRunner().invoke(cli, ["--version"], prog_name="pyinsmod")
    assert result.output == f"pyinsmod, version {__version__}\n"


# Runs insmod_py.entry.run(), then reports the GC's state and how many objects it froze.
_PROBE = """
import gc, sys
if sys.argv[1] == "nogc":
    gc.disable()
sys.argv[1:2] = []
from insmod_py.entry import run
try:
    run()
finally:
    sys.stderr.write(f"[gc={gc.isenabled()} frozen={gc.get_freeze_count() > 1000}]\\n")
"""


def _probe(tmp_path: Path, *args: str, gc: str = "gc") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PROBE, gc, *args],
        capture_output=True,
        text=True,
        env=_env(PYINSMOD_STATE=str(tmp_path / "state")),
        timeout=60,
    )


def test_entry_freezes_the_imports_and_keeps_the_callers_gc_setting(tmp_path: Path) -> None:
    from insmod_py import __version__

    proc = _probe(tmp_path, "--version")
    assert proc.returncode == 0
    assert proc.stdout == f"pyinsmod, version {__version__}\n"
    assert proc.stderr == "[gc=True frozen=True]\n"
    proc = _probe(tmp_path, "load", "-n", str(tmp_path / "missing.o"), gc="nogc")
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[-1] == "[gc=False frozen=True]"  # the caller's disabled GC stays disabled
    assert lines[0].startswith("pyinsmod: ") and "missing.o" in lines[0]
    proc = _probe(tmp_path, "load", "--no-such-option")
    assert proc.returncode == 2


def test_entry_closes_the_kernel_state_at_exit(tmp_path: Path) -> None:
    proc = _probe(tmp_path, "lsmod", "--arch", "i386")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Module ")
    # the sqlite connection was closed: its WAL checkpointed and removed
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["kernel-i386.sqlite3"]


def test_a_dry_run_imports_what_it_uses(built: Path, tmp_path: Path) -> None:
    obj = built / "i386" / "examples" / "hello.o"
    ksyms = tmp_path / "ksyms"
    ksyms.write_text("c0100000 printk\n")
    image = tmp_path / "img"
    args = ["load", "-n", "--ksyms", str(ksyms), "-O", str(image), str(obj)]
    mods = _cli_modules_after(args)
    assert image.stat().st_size > 0
    assert "insmod_py.loader" in mods
    assert "json" not in mods  # only --map-file needs it
    assert "fcntl" not in mods  # only -L needs it
    mods = _cli_modules_after([*args[:-1], "--map-file", str(tmp_path / "map"), str(obj)])
    assert "json" in mods
    assert json.loads((tmp_path / "map").read_text())["base"] == 0x12340000


_RELEASE_TEXTS = [
    "",
    "#",
    "# UTS_RELEASE 2.4.20\n",
    'c0100000 T printk\n# UTS_RELEASE = "2.4.9"\n',
    "x # UTS_RELEASE 1\n#Linux version 2.4.1-ac (gcc)\n",
    "a#UTS_RELEASE 1\n",
    "#\nUTS_RELEASE 3\n",
    "#\n\n#  \tLinux version 5\n",
    "## UTS_RELEASE 4\n# UTS_RELEASE: 2.4.18\n",
    "c0100000 T x\n" * 1000 + "# Linux version 2.4.20-1 (gcc)\n",
    "# no release here\n#UTS_RELEASE\n# Linux version\n",
]


def test_release_search_is_the_regexs() -> None:
    import random

    from insmod_py.insmod import _RELEASE_HINT, _search_release

    rng = random.Random(9)
    pieces = ["#", "\n", " ", "\t", '"', "=", ":", "UTS_RELEASE", "Linux version ", "2.4", "x"]
    texts = _RELEASE_TEXTS + ["".join(rng.choices(pieces, k=30)) for _ in range(3000)]
    for text in texts:
        ours, regex = _search_release(text), _RELEASE_HINT.search(text)
        assert (ours and (ours.span(), ours.groupdict())) == (
            regex and (regex.span(), regex.groupdict())
        ), text


def test_symbol_file_release_reads_comments(tmp_path: Path) -> None:
    from insmod_py.insmod import symbol_file_release

    path = tmp_path / "System.map"
    path.write_bytes(b"c0100000 T printk\r\n# Linux version 2.4.20\xff (gcc)\r\n")
    assert symbol_file_release(str(path)) == "2.4.20\ufffd"
    path.write_bytes(b"c0100000 T printk\n")
    assert symbol_file_release(str(path)) is None
    assert symbol_file_release(str(tmp_path / "missing")) is None
