"""Generate a big kernel-module-like object for the benchmark, when no real corpus is at hand.

The C source is a mix shaped like a driver: many small functions that call
external (kernel) functions, take the address of strings and of global data,
and tables of function pointers; gcc turns that into the relocation mix of a
real module (i386: R_386_PC32 and R_386_32; x86_64 with ``-mcmodel=kernel``:
PLT32, PC32, 32S and 64).  Objects are cached in ``bench/out/gen/`` by their
parameters, since gcc needs a few seconds for the biggest one.

Usage: ``genobj.py ARCH RELOCS [OUT]`` prints the path of the object.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out" / "gen"
# The kernel module flags of mk/modules.mk, minus the include path.
CFLAGS = [
    "-O2", "-fno-pic", "-fno-pie", "-ffreestanding", "-fno-common", "-nostdinc",
    "-fno-strict-aliasing", "-fno-stack-protector", "-fcf-protection=none",
    "-fno-asynchronous-unwind-tables", "-w",
]  # fmt: skip
ARCH_CFLAGS = {
    "i386": ["-m32", "-march=i686", "-mpreferred-stack-boundary=2"],
    "x86_64": ["-m64", "-mcmodel=kernel", "-mno-red-zone", "-mno-sse", "-mno-mmx"],
}
EXTERNS = 1500  # distinct kernel functions called (amdgpu calls ~2000)
RELOCS_PER_FUNCTION = 12  # measured: each generated function yields about this many


def source(functions: int) -> str:
    """C text with ``functions`` functions plus data and pointer tables."""
    out = [f"extern int kfn{e}(int, const void *);" for e in range(EXTERNS)]
    out.append("extern int jiffies_k; extern char kbuf[];")
    out.append(f"int gdata[{max(functions // 8, 1)}];")
    out.append("static int state[64];")
    for i in range(functions):
        a, b, c = i % EXTERNS, (i * 7 + 3) % EXTERNS, (i * 13 + 5) % EXTERNS
        out.append(
            f"int f{i}(int x) {{\n"
            f'  x += kfn{a}(x, "msg {i} %d\\n");\n'
            f"  x += kfn{b}(gdata[{i // 8}] + jiffies_k, &state[{i % 64}]);\n"
            f"  if (x > {i}) x += kfn{c}(x, kbuf + {i % 256});\n"
            f"  x += kfn{(a + 11) % EXTERNS}(x, 0);\n"
            f"  return x + state[{(i * 5) % 64}];\n}}"
        )
    names = ", ".join(f"f{i}" for i in range(functions))
    out.append(f"int (*const ops[])(int) = {{{names}}};")
    out.append("int init_module(void) { return ops[0](1); }")
    out.append("void cleanup_module(void) { }")
    modinfo = '__attribute__((section(".modinfo")))'
    out.append(f'const char __module_license[] {modinfo} = "license=GPL";')
    # as every 2.4 module has (<linux/module.h>): modutils refuses a module without one
    out.append(f'const char __module_kernel_version[] {modinfo} = "kernel_version=2.4.37.11";')
    return "\n".join(out) + "\n"


def build(arch: str, relocs: int) -> Path:
    """Compile (or reuse) an object with about ``relocs`` relocations; returns its path."""
    functions = max(relocs // RELOCS_PER_FUNCTION, 1)
    text = source(functions)
    key = hashlib.sha256((arch + " ".join(CFLAGS) + text).encode()).hexdigest()[:12]
    obj = OUT / f"gen-{arch}-{relocs}-{key}.o"
    if obj.exists():
        return obj
    OUT.mkdir(parents=True, exist_ok=True)
    src = obj.with_suffix(".c")
    src.write_text(text)
    tmp = obj.with_suffix(".o.tmp")
    cmd = ["gcc", *CFLAGS, *ARCH_CFLAGS[arch], "-c", str(src), "-o", str(tmp)]
    subprocess.run(cmd, check=True)
    tmp.rename(obj)
    return obj


if __name__ == "__main__":
    print(build(sys.argv[1], int(sys.argv[2])))
