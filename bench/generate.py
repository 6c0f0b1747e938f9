"""Write generated logs to a JSONL file: `python -m bench.generate OUT N [--seed SEED]`.

The generator itself lives in the package (`log_analytics_engine.demodata`), shared with
`log-analytics demo`; this module re-exports what the benchmark uses.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from log_analytics_engine.demodata import (
    QUERY_TAG,
    QUERY_WORD,
    cached_jsonl,
    iter_records,
    make_entries,
    write_jsonl,
)

__all__ = ["QUERY_TAG", "QUERY_WORD", "cached_jsonl", "iter_records", "make_entries", "write_jsonl"]


def main(argv: Sequence[str] | None = None) -> None:
    """CLI: write N logs to OUT."""
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="JSONL file to write")
    parser.add_argument("n", type=int, help="number of logs")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    path = write_jsonl(args.out, args.n, args.seed)
    size = path.stat().st_size
    elapsed = time.perf_counter() - started
    print(
        f"{args.n} logs, {size / 1e6:.1f} MB ({size / max(args.n, 1):.0f} B/log) -> {path} in {elapsed:.1f} s"
    )


if __name__ == "__main__":
    main()
