"""Run the benchmark suite and print one markdown table (also written to bench/results.md).

    python -m bench.run [--sizes 100000,1000000] [--quick] [--seed 42]

Every phase runs in a freshly spawned child process; progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import http, phases
from bench.generate import QUERY_TAG, QUERY_WORD, cached_jsonl
from bench.measure import in_child
from bench.phases import QuerySettings
from bench.report import errors, failed_parts, fmt_size, render_table

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_SIZES = (100_000, 1_000_000)
QUICK_SIZES = (10_000,)
BATCH = 1_000
MAX_BATCH_LOGS = 200_000


@dataclass(frozen=True)
class Options:
    """What to run."""

    sizes: tuple[int, ...]
    seed: int
    data_dir: Path
    output: Path
    settings: QuerySettings
    max_batch_logs: int


def parse_args(argv: Sequence[str] | None) -> Options:
    """Options from the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description="Log analytics engine benchmarks."
    )
    parser.add_argument("--sizes", help="comma-separated log counts (default 100000,1000000)")
    parser.add_argument("--quick", action="store_true", help="10k logs only (a smoke run, ~40 s)")
    parser.add_argument("--seed", type=int, default=42, help="generator seed (default 42)")
    parser.add_argument("--runs", type=int, default=15, help="timed runs per query (median; default 15)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per query first (default 2)")
    parser.add_argument("--repeat", type=int, default=50, help="rounds of the query set for the RSS check")
    parser.add_argument("--batch-logs", type=int, default=MAX_BATCH_LOGS, help="cap on logs for batch ingest")
    parser.add_argument("--data-dir", type=Path, default=BENCH_DIR / ".data", help="generated files (reused)")
    parser.add_argument(
        "--output", type=Path, default=BENCH_DIR / "results.md", help="where to write the table"
    )
    args = parser.parse_args(argv)
    if args.sizes:
        sizes = tuple(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip())
    else:
        sizes = QUICK_SIZES if args.quick else DEFAULT_SIZES
    return Options(
        sizes=sizes,
        seed=args.seed,
        data_dir=args.data_dir,
        output=args.output,
        settings=QuerySettings(runs=args.runs, warmup=args.warmup, repeat=args.repeat),
        max_batch_logs=args.batch_logs,
    )


def progress(message: str) -> None:
    """A progress line on stderr (stdout carries only the table)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _phase(name: str, fn: Any, *args: Any) -> dict[str, Any]:
    """Run one phase in a child process, logging its name, duration and any error."""
    progress(f"  {name} ...")
    started = time.perf_counter()
    result = in_child(fn, *args)
    language = result.get("language")
    failed = failed_parts(result)
    if "error" in result:
        progress(f"  {name} FAILED: {result['error']}\n{result.get('traceback', '')}")
    elif failed:
        for part, sub in failed.items():
            what = "language rows" if part == "language" else part
            detail = sub.get("traceback", sub.get("output", ""))
            progress(f"  {name}: {what} FAILED: {sub['error']}\n{detail}")
    else:
        part = f" (query-language rows {language['elapsed_s']:.1f} s)" if isinstance(language, dict) else ""
        progress(f"  {name} done in {time.perf_counter() - started:.1f} s{part}")
    return result


def bench_size(n: int, opts: Options) -> dict[str, Any]:
    """Every phase for one size, each in its own child process, in a fresh temporary directory."""
    progress(f"size {fmt_size(n)}: data file")
    jsonl = str(cached_jsonl(opts.data_dir, n, opts.seed))
    batch_n = min(n, opts.max_batch_logs)
    with tempfile.TemporaryDirectory(prefix=f"bench-{n}-") as tmp:
        work = Path(tmp)
        store, ref_db = str(work / "engine"), str(work / "reference.duckdb")
        file_engine = _phase("engine file ingest", phases.engine_file_ingest, jsonl, store)
        file_ref = _phase("reference file ingest", phases.reference_file_ingest, jsonl, ref_db)
        batch_engine = _phase(
            "engine batch ingest", phases.engine_batch_ingest, batch_n, opts.seed, str(work / "batch"), BATCH
        )
        batch_rules = _phase(
            "engine batch ingest, 10 alert rules",
            phases.engine_batch_ingest,
            batch_n,
            opts.seed,
            str(work / "batch-rules"),
            BATCH,
            True,
        )
        batch_ref = _phase(
            "reference batch ingest",
            phases.reference_batch_ingest,
            batch_n,
            opts.seed,
            str(work / "batch-ref.duckdb"),
            BATCH,
        )
        http_server = _phase(
            "HTTP server: ingest, search under ingest, tail",
            http.http_server,
            batch_n,
            opts.seed,
            str(work / "http"),
            BATCH,
        )
        http_ref = _phase(
            "HTTP reference: ingest_ndjson in-process",
            http.http_reference_ingest,
            batch_n,
            opts.seed,
            str(work / "http-ref"),
            BATCH,
        )
        args = (QUERY_WORD, QUERY_TAG, opts.settings)
        query_engine = _phase("engine queries", phases.engine_queries, store, *args)
        query_ref = _phase("reference queries", phases.reference_queries, ref_db, *args)
    return {
        "n": n,
        "batch_n": batch_n,
        "file": {"engine": file_engine, "ref": file_ref},
        "batch": {"engine": batch_engine, "ref": batch_ref, "rules": batch_rules},
        "queries": {"engine": query_engine, "ref": query_ref},
        "http": {"engine": http_server, "ref": http_ref},
    }


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True, cwd=BENCH_DIR
        )
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return out.stdout.strip()


def header(opts: Options, elapsed: float) -> str:
    """What was run, where and with which versions."""
    versions = ", ".join(
        f"{p} {_version(p)}" for p in ("log-analytics-engine", "duckdb", "tantivy", "pyarrow")
    )
    settings = opts.settings
    return (
        f"Benchmark of {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {_commit()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {versions}; seed {opts.seed}; "
        f"queries: median of {settings.runs} runs after {settings.warmup} warm-ups; "
        f"RSS check: {settings.repeat} rounds of the query set; suite took {elapsed:.0f} s.\n"
        f"Ratio = engine ÷ DuckDB reference: above 1 is better for rates, below 1 is better for "
        f"times, memory and bytes."
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run every size, print the table and write it to the output file; 1 when a phase failed."""
    opts = parse_args(argv)
    started = time.perf_counter()
    results = [bench_size(n, opts) for n in opts.sizes]
    table = render_table(results, QUERY_WORD, QUERY_TAG)
    failures = errors(results)
    text = header(opts, time.perf_counter() - started) + "\n\n" + table + "\n"
    if failures:
        text += "\nErrors:\n" + "".join(f"- {line}\n" for line in failures)
    print(text)
    opts.output.write_text(text, encoding="utf-8")
    progress(f"written to {opts.output}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
