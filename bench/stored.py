"""A durable store of the bench logs, built once and copied for each case that changes it (bench.delete,
bench.backup), and a writer thread that measures how long each of its ingest calls waited."""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.abuse import output_options
from bench.generate import cached_jsonl
from log_analytics_engine import LogAnalyticsEngine, LogEntry

BENCH_DIR = Path(__file__).resolve().parent
# Bump when the built store's content would differ (the generator, or how it is ingested).
STORE_VERSION = 1


def store_options(doc: str | None, argv: Sequence[str] | None) -> argparse.Namespace:
    """The options of a bench over a built store: its size, where generated files go, the output."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logs", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, default=BENCH_DIR / ".data", help="generated files (reused)")
    output_options(parser)
    return parser.parse_args(argv)


def progress(name: str, text: str) -> None:
    print(f"[bench.{name} {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def built_store(data_dir: Path, n: int, seed: int = 42) -> Path:
    """A closed data directory holding the `n` bench logs, indexed and checkpointed (made once)."""
    built = data_dir / f"store-n{n}-seed{seed}-v{STORE_VERSION}"
    if (built / "logs.duckdb").exists():
        return built
    partial = built.with_name(built.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    jsonl = cached_jsonl(data_dir, n, seed)
    with LogAnalyticsEngine(partial, alert_interval=None) as engine:
        engine.ingest_logs_from_file(jsonl)
        engine.flush()
    partial.rename(built)
    return built


def fresh_copy(built: Path, where: Path) -> Path:
    """A copy of a built store at `where` (replacing what was there), to change freely."""
    shutil.rmtree(where, ignore_errors=True)
    shutil.copytree(built, where)
    return where


def timed_calls(owner: Any, name: str, spent: dict[str, float], found: dict[str, Any]) -> None:
    """Wrap `owner.name` (on the instance) to add its wall time to `spent[name]` and keep its result."""
    real: Callable[..., Any] = getattr(owner, name)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            found[name] = real(*args, **kwargs)
            return found[name]
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - started

    setattr(owner, name, wrapped)


class Writer:
    """A thread ingesting `batch` logs a call until stopped; each call's wall time, by when it began."""

    def __init__(self, engine: LogAnalyticsEngine, batch: int = 100) -> None:
        self._engine = engine
        self._batch = batch
        self._stop = threading.Event()
        self.calls: list[tuple[float, float]] = []  # (start, seconds)
        self._thread = threading.Thread(target=self._run, name="bench-writer")

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            logs = [
                LogEntry(time.time(), "INFO", f"bench writer w{n}x{i}", source="bench-writer")
                for i in range(self._batch)
            ]
            started = time.perf_counter()
            self._engine.ingest_logs(logs)
            self.calls.append((started, time.perf_counter() - started))
            n += 1

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def longest(self, start: float, end: float) -> float:
        """The longest call that overlapped [start, end] (perf_counter times), in seconds."""
        waits = [s for t, s in self.calls if t <= end and t + s >= start]
        return max(waits, default=0.0)

    def median(self, start: float, end: float) -> float:
        """The median call that began within [start, end], in seconds."""
        waits = [s for t, s in self.calls if start <= t <= end]
        return statistics.median(waits) if waits else 0.0
