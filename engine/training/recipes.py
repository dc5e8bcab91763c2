"""The command line of the tiny-shapes kit's language models' training scripts (captioner.py, translator.py):
`--out`, `--threads` and one option per field of the script's Recipe; the figures at the end (size, time)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def run_recipe(
    argv: list[str] | None, *, prog: str, description: str | None, out: Path, recipe: type, build: Callable, what: str
) -> int:
    """Parse the options, train with `build(out, recipe, log)` (one torch thread by default: reproducible bytes)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--out", type=Path, default=out, help=f"folder of the {what} (default {out})")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 = reproducible bytes)")
    defaults: Any = recipe()
    for name, value in vars(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    import torch

    from engine.models import quiet_libraries

    quiet_libraries()
    torch.set_num_threads(args.threads)
    chosen = recipe(**{name: getattr(args, name) for name in vars(defaults)})
    started = time.perf_counter()
    build(args.out, chosen, log=lambda line: print(line, file=sys.stderr, flush=True))
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{what} in {args.out}: {total / 1e6:.2f} MB, trained in {time.perf_counter() - started:.0f} s")
    return 0
