"""Peer (f): Zippel's own C mini loader from the 2002 seed, as the floor (i386 only).

The C text is taken verbatim from ``shared/seeds/002_*.txt``; only its two
syscalls are replaced by file I/O (``create_module`` reads the base from
``$BASE``, ``init_module`` writes the image to ``$OUT``) and ``/proc/ksyms``
becomes ``$KSYMS``.  Built with gcc into ``bench/out/``.
"""

from __future__ import annotations

import glob
import subprocess
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"

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


def source() -> str:
    """The seed's loader with the three substitutions (each must apply exactly once)."""
    (seed,) = glob.glob(str(SEEDS / "002_*.txt"))
    lines = Path(seed).read_text().splitlines()
    start = lines.index("#include <ctype.h>")
    end = next(i for i in range(start, len(lines)) if lines[i] == "\treturn 0;") + 1
    text = "\n".join(lines[start : end + 1]) + "\n"
    for old, new in PATCHES:
        if text.count(old) != 1:
            raise RuntimeError(f"seed changed: {old!r} not found once")
        text = text.replace(old, new)
    head, _, rest = text.partition("struct symbol {")
    return head + FILE_IO + "\nstruct symbol {" + rest


def build() -> Path:
    """Compile the loader (cached by its source); returns the executable."""
    OUT.mkdir(parents=True, exist_ok=True)
    src = OUT / "zippel_loader.c"
    exe = OUT / "zippel_loader"
    text = source()
    if not (exe.exists() and src.exists() and src.read_text() == text):
        src.write_text(text)
        subprocess.run(["gcc", "-O2", "-w", str(src), "-o", str(exe)], check=True)
    return exe


if __name__ == "__main__":
    print(build())
