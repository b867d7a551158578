"""Peer (f): Zippel's own C mini loader from his November 2002 LKML post, as the floor.

The post is not part of this repository (it is his code, not ours): ``$ZIPPEL_SEED``
names a text file holding it, and without one peer (f) is reported as not run.
The C text is taken verbatim from that file; only its two syscalls are replaced
by file I/O (``create_module`` reads the base from ``$BASE``, ``init_module``
writes the image to ``$OUT``) and ``/proc/ksyms`` becomes ``$KSYMS``.  Built
with gcc into ``bench/out/``.  It handles i386 (SHT_REL) only.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"

FILE_IO = """
static unsigned long fake_create_module(const char *name, unsigned long size)
{
	(void)name; (void)size;
	return strtoul(getenv("BASE"), NULL, 0);
}

static long fake_init_module(const char *name, const char *image, unsigned long size)
{
	FILE *f = fopen(getenv("OUT"), "wb");
	(void)name;
	if (!f || fwrite(image, 1, size, f) != size || fclose(f))
		exit(1);
	return 0;
}
"""

PATCHES = [
    ('open("/proc/ksyms", O_RDONLY)', 'open(getenv("KSYMS"), O_RDONLY)'),
    ("syscall(SYS_create_module, mod_name, mod_size)", "fake_create_module(mod_name, mod_size)"),
    ("syscall(SYS_init_module, mod_name, mod2)", "fake_init_module(mod_name, mod2, mod_size)"),
]


def seed_path() -> Path | None:
    """The text of Zippel's post, if ``$ZIPPEL_SEED`` names a readable file."""
    seed = os.environ.get("ZIPPEL_SEED", "")
    return Path(seed) if seed and os.path.isfile(seed) else None


def source(seed: Path) -> str:
    """The post's loader with the three substitutions (each must apply exactly once)."""
    lines = seed.read_text().splitlines()
    start = lines.index("#include <ctype.h>")
    end = next(i for i in range(start, len(lines)) if lines[i] == "\treturn 0;") + 1
    text = "\n".join(lines[start : end + 1]) + "\n"
    for old, new in PATCHES:
        if text.count(old) != 1:
            raise RuntimeError(f"seed changed: {old!r} not found once")
        text = text.replace(old, new)
    head, _, rest = text.partition("struct symbol {")
    return head + FILE_IO + "\nstruct symbol {" + rest


def build(seed: Path) -> Path:
    """Compile the loader (cached by its source); returns the executable."""
    OUT.mkdir(parents=True, exist_ok=True)
    src = OUT / "zippel_loader.c"
    exe = OUT / "zippel_loader"
    text = source(seed)
    if not (exe.exists() and src.exists() and src.read_text() == text):
        src.write_text(text)
        subprocess.run(["gcc", "-O2", "-w", str(src), "-o", str(exe)], check=True)
    return exe


if __name__ == "__main__":
    found = seed_path()
    if found is None:
        raise SystemExit("cloader: set ZIPPEL_SEED to a file holding Zippel's post")
    print(build(found))
