"""How fast the text index takes documents, alone and beside busy Python threads, and how far it falls
behind a sustained ingest: the GIL convoy of issue 15 (an in-process tantivy writer beside a busy
thread took 275 s for 100k documents it indexes in 0.45 s alone).

    python -m bench.indexlag [--sizes 100000,1000000] [--budget 60] [--ingest-seconds 30]

Indexing: N generated logs are stored on a disk engine whose indexer never runs on its own, then one
catch-up (`Indexer.catch_up_now`, what `flush` runs) indexes them, at most `--budget` seconds, with
nothing beside it, beside a thread doing pure-Python work, and beside one parsing NDJSON bodies with
orjson (an HTTP ingest's work). Sustained: two threads call `ingest_logs` with 1,000-log batches for
`--ingest-seconds` on a disk engine; the index lag (rows stored but not indexed, which every text
search scans) is sampled every 0.2 s and a text search is timed every second. Each case runs in a
fresh process. The section "Text index lag" of bench/results.md is replaced (`--output`).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import psutil

from bench.abuse import output_options, publish, run_line, section_text
from bench.measure import MB, in_child, peak_rss_mb
from bench.run import BENCH_DIR
from log_analytics_engine import LogAnalyticsEngine
from log_analytics_engine.demodata import cached_jsonl, iter_records, make_entries

SECTION = "## Text index lag (`python -m bench.indexlag`)"
BATCH = 1_000
WRITERS = 2


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000", help="logs to index, comma-separated")
    parser.add_argument("--budget", type=float, default=60.0, help="most seconds one indexing case runs")
    parser.add_argument("--ingest-seconds", type=float, default=30.0, help="length of the sustained ingest")
    parser.add_argument("--data-dir", type=Path, default=BENCH_DIR / ".data", help="generated files (reused)")
    output_options(parser)
    return parser.parse_args(argv)


def progress(text: str) -> None:
    print(f"[bench.indexlag {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def pure_python(stop: threading.Event) -> int:
    """Work that holds the GIL between its bytecodes only: the worst neighbour for a thread that
    gives the GIL up and takes it back on every call."""
    rounds = 0
    while not stop.is_set():
        sum(i * i for i in range(1_000))
        rounds += 1
    return rounds


def ndjson_parsing(stop: threading.Event) -> int:
    """An HTTP ingest's Python work: split a 1,000-line NDJSON body, parse each line with orjson,
    pick its fields."""
    body = b"\n".join(orjson.dumps(r) for r in iter_records(BATCH))
    rounds = 0
    while not stop.is_set():
        for line in body.split(b"\n"):
            record = orjson.loads(line)
            record.get("message"), record.get("level"), record.get("timestamp")
        rounds += 1
    return rounds


NEIGHBOURS: dict[str, Callable[[threading.Event], int] | None] = {
    "alone": None,
    "beside a pure-Python thread": pure_python,
    "beside an orjson NDJSON-parsing thread": ndjson_parsing,
}


def index_case(jsonl: str, neighbour: str, budget: float) -> dict[str, Any]:
    """Store the file's logs, then index as many as `budget` seconds allow with `neighbour` running."""
    with tempfile.TemporaryDirectory(prefix="bench-indexlag-") as tmp:
        engine = LogAnalyticsEngine(Path(tmp) / "data", index_interval=3600, alert_interval=None)
        try:
            engine.ingest_logs_from_file(jsonl)
            stop = threading.Event()
            rounds: list[int] = []
            work = NEIGHBOURS[neighbour]
            beside = None
            if work is not None:
                beside = threading.Thread(target=lambda: rounds.append(work(stop)), daemon=True)
                beside.start()
                time.sleep(0.2)
            cpu = _cpu_seconds()
            started = time.perf_counter()
            rows = engine._store.store._indexer.catch_up_now(deadline=time.monotonic() + budget)
            seconds = time.perf_counter() - started
            main_cpu, writer_cpu = (after - before for after, before in zip(_cpu_seconds(), cpu, strict=True))
            stop.set()
            if beside is not None:
                beside.join()
            return {
                "rows": rows,
                "seconds": seconds,
                "neighbour_rounds_per_s": rounds[0] / (seconds + 0.2) if rounds else None,
                "main_cpu": main_cpu,
                "writer_cpu": writer_cpu,
            }
        finally:
            engine.close()


def _cpu_seconds() -> tuple[float, float]:
    """CPU seconds used so far by this process and by its children (a writer process)."""
    me = psutil.Process()
    own = me.cpu_times()
    children = 0.0
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = child.cpu_times()
            children += times.user + times.system
    return own.user + own.system, children


def _process_rss_mb() -> tuple[float, float]:
    """This process's RSS and that of its children (an index writer process), in MiB."""
    me = psutil.Process()
    children = sum(c.memory_info().rss for c in me.children(recursive=True))
    return me.memory_info().rss / MB, children / MB


def ingest_case(seconds: float) -> dict[str, Any]:
    """WRITERS threads ingesting BATCH-log calls for `seconds`; the lag and a text search sampled."""
    entries = make_entries(100_000)
    batches = [entries[i : i + BATCH] for i in range(0, len(entries), BATCH)]
    with tempfile.TemporaryDirectory(prefix="bench-indexlag-") as tmp:
        engine = LogAnalyticsEngine(Path(tmp) / "data", alert_interval=None)
        stop = threading.Event()
        stored = [0] * WRITERS
        lags: list[int] = []
        searches: list[float] = []
        rss: list[tuple[float, float]] = []

        def writer(slot: int) -> None:
            i = slot
            while not stop.is_set():
                stored[slot] += engine.ingest_logs(batches[i % len(batches)])
                i += WRITERS

        def sampler() -> None:
            tick = 0
            while not stop.wait(0.2):
                lags.append(int(engine.index_status()["lag"]))
                tick += 1
                if tick % 5 == 0:
                    started = time.perf_counter()
                    engine.search("timeout", limit=10)
                    searches.append((time.perf_counter() - started) * 1000)
                    rss.append(_process_rss_mb())

        try:
            threads = [threading.Thread(target=writer, args=(s,)) for s in range(WRITERS)]
            threads.append(threading.Thread(target=sampler))
            started = time.perf_counter()
            for t in threads:
                t.start()
            time.sleep(seconds)
            stop.set()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - started
            at_end = int(engine.index_status()["lag"])
            drained = time.perf_counter()
            while engine.index_status()["lag"] > 0 and time.perf_counter() - drained < 120:
                time.sleep(0.05)
            status = engine.index_status()
            return {
                "rows": sum(stored),
                "seconds": elapsed,
                "lag_p50": statistics.median(lags) if lags else 0,
                "lag_p95": sorted(lags)[int(len(lags) * 0.95)] if lags else 0,
                "lag_max": max(lags, default=0),
                "lag_at_end": at_end,
                "drain_seconds": time.perf_counter() - drained,
                "search_p50_ms": statistics.median(searches) if searches else 0.0,
                "search_max_ms": max(searches, default=0.0),
                "lag_waits": status["lag_waits"],
                "lag_wait_seconds": status["lag_wait_seconds"],
                "peak_rss_mb": peak_rss_mb(),
                "child_rss_mb": max((c for _, c in rss), default=0.0),
            }
        finally:
            engine.close()


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    started = time.perf_counter()
    rows = []
    for n in (int(s) for s in opts.sizes.split(",")):
        progress(f"{n:,} logs: generating (cached)")
        jsonl = str(cached_jsonl(opts.data_dir, n))
        for neighbour in NEIGHBOURS:
            progress(f"{n:,} logs: indexing {neighbour} (at most {opts.budget:.0f} s)")
            got = in_child(index_case, jsonl, neighbour, opts.budget)
            if "error" in got:
                rows.append(f"| index {n:,} logs {neighbour} | failed: {got['error']} | |")
                continue
            done = "all" if got["rows"] >= n else f"{got['rows']:,} of {n:,}"
            beside = got["neighbour_rounds_per_s"]
            per_100k = 100_000 / max(got["rows"], 1)
            cpu = (  # beside a neighbour, the engine's process CPU is mostly the neighbour's
                f"; CPU per 100k logs: engine process {got['main_cpu'] * per_100k:.2f} s, "
                f"writer process {got['writer_cpu'] * per_100k:.2f} s"
                if beside is None
                else ""
            )
            rows.append(
                f"| index {n:,} logs {neighbour} | {got['rows'] / got['seconds']:,.0f} rows/s "
                f"({done} in {got['seconds']:.2f} s){cpu} | "
                + ("" if beside is None else f"neighbour: {beside:,.0f} rounds/s")
                + " |"
            )
    progress(f"sustained ingest: {WRITERS} threads x {BATCH:,}-log batches for {opts.ingest_seconds:.0f} s")
    got = in_child(ingest_case, opts.ingest_seconds)
    if "error" in got:
        rows.append(f"| sustained ingest | failed: {got['error']} | |")
    else:
        rows.append(
            f"| sustained ingest, {WRITERS} threads x {BATCH:,}-log `ingest_logs` "
            f"for {got['seconds']:.0f} s | "
            f"{got['rows'] / got['seconds']:,.0f} logs/s stored; index lag p50 {got['lag_p50']:,.0f}, "
            f"p95 {got['lag_p95']:,}, max {got['lag_max']:,} rows, {got['lag_at_end']:,} at the end, "
            f"indexed {got['drain_seconds']:.1f} s after | text search p50 {got['search_p50_ms']:.1f} ms, "
            f"max {got['search_max_ms']:.0f} ms; writes held back {got['lag_waits']} times "
            f"({got['lag_wait_seconds']:.1f} s); peak RSS {got['peak_rss_mb']:.0f} MiB "
            f"+ writer process {got['child_rss_mb']:.0f} MiB |"
        )
    table = "| case | index rate / lag | beside |\n|---|---|---|\n" + "\n".join(rows)
    head = run_line(started, "one process per case, the data directory on the local disk")
    text = section_text(head, table, [])
    publish(opts, text, SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
