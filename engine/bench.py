"""`python -m engine.bench ...`: the benchmark (bench/, `python -m bench`) under the engine's name.

`--family F` runs parts 1-3 for a family on CPU (a reduced-width real architecture) or, with `--device cuda`, the
full-size random-weight architectures at 1024² (bench/families.py). Run it from the repository root: the benchmark
is a folder beside engine/, not part of the installed engine (so it is run by name, not imported here).
"""

from __future__ import annotations

import runpy

if __name__ == "__main__":
    runpy.run_module("bench", run_name="__main__", alter_sys=True)
