"""Benchmark suite of the log analytics engine: a log generator and `python -m bench.run` (see README.md)."""
