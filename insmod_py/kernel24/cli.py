"""``tools/kernel24``: build (or, with ``--print``, only show) the cached 2.4 kernels."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import ARCHES, VARIANTS, Kernel24Error, build_kernel, find_kernel, prune


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kernel24",
        description="Build and cache the real Linux 2.4.37.11 kernel (default: every "
        "architecture and variant) and print each cache entry.",
    )
    parser.add_argument("--arch", choices=ARCHES, action="append", help="default: all")
    parser.add_argument("--variant", choices=VARIANTS, action="append", help="default: both")
    parser.add_argument("--source", type=Path, metavar="TARBALL", help="linux-2.4.37.11.tar.xz")
    parser.add_argument(
        "--print",
        action="store_true",
        help="build nothing: print the cached entries (exit 1 if one is missing)",
    )
    parser.add_argument(
        "--prune",
        action="store_true",
        help="only remove cache entries of older keys (changed patches, config, compiler...)",
    )
    args = parser.parse_args(argv)
    status = 0
    try:
        if args.prune:
            for entry in prune(source=args.source):
                print(f"removed {entry}")
            return 0
        for arch in args.arch or ARCHES:
            for variant in args.variant or VARIANTS:
                if args.print:
                    kb = find_kernel(arch, variant, source=args.source)
                    if kb is None:
                        print(
                            f"kernel24: {arch} {variant}: not built; run: make kernel24",
                            file=sys.stderr,
                        )
                        status = 1
                        continue
                else:
                    kb = build_kernel(arch, variant, source=args.source)
                print(f"{arch} {variant} {kb.directory}")
    except Kernel24Error as exc:
        print(f"kernel24: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return status
