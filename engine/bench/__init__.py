"""The benchmark: `python -m engine.bench` (see __main__.py); results are recorded in bench/RESULTS.md."""
