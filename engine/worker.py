"""`python -m engine.worker`: a GPU worker of the fleet (engine/fleet/worker.py; README "Running on several GPUs")."""

from __future__ import annotations

import sys

from .fleet.worker import Worker, WorkerSettings, main

__all__ = ["Worker", "WorkerSettings", "main"]

if __name__ == "__main__":
    sys.exit(main())
