"""The benchmark: `python -m bench` from the repository root (see __main__.py); results are recorded in
bench/RESULTS.md."""
