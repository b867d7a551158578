"""Peer (e): time angr's CLE loading an object, run inside the throwaway venv.

Usage: ``cle_probe.py RUNS OBJECT``; prints a JSON list of seconds per load.
"""

import json
import sys
import time

import cle

runs, path = int(sys.argv[1]), sys.argv[2]
times = []
for _ in range(runs):
    start = time.perf_counter()
    cle.Loader(path, auto_load_libs=False, perform_relocations=True)
    times.append(time.perf_counter() - start)
print(json.dumps(times))
