"""What an acknowledgement costs: an append to the write-ahead log (storage/wal.py) against the DuckDB
insert and commit that acknowledges a write today, the same batches in the same process, for one log
per call (the original API's `ingest_log`) and 1,000 per call; in the OS (what survives SIGKILL) and
with fsync (what survives a power loss, writers alone and eight sharing fsyncs); the replay of what
was appended; and, for scale, what building one log's Arrow batch costs before any store sees it.

    python -m bench.wal [--calls 5000]

The section "Write-ahead log" of bench/results.md is replaced with the table (`--output`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pyarrow as pa

from bench.abuse import output_options, publish, run_line, section_text
from log_analytics_engine.ingest.batch import to_batch
from log_analytics_engine.model import STORED_SCHEMA, LogEntry
from log_analytics_engine.storage.embedded.store import EmbeddedStore
from log_analytics_engine.storage.embedded.wal import WriteAheadLog

SECTION = "## Write-ahead log (`python -m bench.wal`)"
WRITERS = 8


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=5000, help="one-log calls per case")
    parser.add_argument("--batches", type=int, default=200, help="1,000-log calls per case")
    output_options(parser)
    return parser.parse_args(argv)


def progress(text: str) -> None:
    print(f"[bench.wal {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def batches(count: int, rows: int) -> list[pa.RecordBatch]:
    """`count` batches of `rows` logs each, as the store appends them (STORED_SCHEMA, seq from 1)."""
    out = []
    seq = 1
    for i in range(count):
        entries = [
            LogEntry(
                timestamp=1_753_099_200 + i + j / 1000,
                level="ERROR" if j % 7 == 0 else "INFO",
                message=f"request {i}-{j} took {j % 500} ms from 10.0.{j % 256}.{i % 256}",
                source=("api", "db", "web")[j % 3],
                metadata={"region": "eu", "duration_ms": j % 500},
            )
            for j in range(rows)
        ]
        table = to_batch(entries, time.time_ns()).table
        table = table.add_column(0, "seq", pa.array(range(seq, seq + rows), pa.int64())).select(
            STORED_SCHEMA.names
        )
        out.append(table.to_batches()[0])
        seq += rows
    return out


def per_call(run: Callable[[], None], calls: int) -> float:
    """µs per call of `run`, done `calls` times."""
    started = time.perf_counter()
    for _ in range(calls):
        run()
    return (time.perf_counter() - started) / calls * 1e6


def wal_case(tmp: Path, data: list[pa.RecordBatch], fsync: bool) -> float:
    log = WriteAheadLog(tmp, fsync=fsync)
    frames = iter(data)

    def one() -> None:
        b = next(frames)
        log.sync(log.append(b.column(0)[0].as_py(), b))

    try:
        return per_call(one, len(data))
    finally:
        log.close()


def wal_shared(tmp: Path, data: list[pa.RecordBatch]) -> float:
    """µs per call with WRITERS threads appending at once in fsync mode (they share fsyncs)."""
    log = WriteAheadLog(tmp, fsync=True)
    lock = threading.Lock()
    frames = iter(data)

    def writer() -> None:
        while True:
            with lock:
                b = next(frames, None)
                if b is None:
                    return
                position = log.append(b.column(0)[0].as_py(), b)
            log.sync(position)

    started = time.perf_counter()
    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    log.close()
    return elapsed / len(data) * 1e6


def duckdb_case(tmp: Path, data: list[pa.RecordBatch]) -> float:
    """µs per call of today's acknowledgement: one DuckDB insert and commit (the store's append)."""
    store = EmbeddedStore(tmp)
    tables = iter(pa.Table.from_batches([b]).drop_columns(["seq"]) for b in data)
    try:
        return per_call(lambda: store.append(next(tables)), len(data))
    finally:
        store.close()


def replay_case(tmp: Path, data: list[pa.RecordBatch]) -> float:
    """µs per log to reopen the log (checking every frame) and read its batches back."""
    log = WriteAheadLog(tmp)
    for b in data:
        log.append(b.column(0)[0].as_py(), b)
    log.close()
    started = time.perf_counter()
    rows = sum(f.batch.num_rows for f in WriteAheadLog(tmp).replay())
    return (time.perf_counter() - started) / rows * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    started = time.perf_counter()
    progress(f"building {opts.calls:,} one-log and {opts.batches:,} 1,000-log batches")
    shapes = {"1 log per call": batches(opts.calls, 1), "1,000 logs per call": batches(opts.batches, 1000)}
    rows = []
    for name, data in shapes.items():
        size = data[0].num_rows
        with tempfile.TemporaryDirectory(prefix="bench-wal-") as tmp:
            root = Path(tmp)
            progress(f"{name}: DuckDB insert + commit")
            reference = duckdb_case(root / "duckdb", data)
            progress(f"{name}: WAL in the OS, fsync, {WRITERS} writers sharing fsyncs, replay")
            os_us = wal_case(root / "os", data, fsync=False)
            fsync_us = wal_case(root / "fsync", data, fsync=True)
            shared_us = wal_shared(root / "shared", data)
            replay_us = replay_case(root / "replay", data)
        for label, us in (
            ("WAL append, in the OS (survives SIGKILL)", os_us),
            ("WAL append + fsync, one writer (survives power loss)", fsync_us),
            (f"WAL append + shared fsync, {WRITERS} writers", shared_us),
        ):
            rows.append(
                f"| {name} | {label} | {us:,.1f} µs ({size * 1e6 / us:,.0f} logs/s) | "
                f"{reference:,.1f} µs ({size * 1e6 / reference:,.0f} logs/s) | {reference / us:,.1f}× |"
            )
        rows.append(f"| {name} | replay at open (check + read back) | {replay_us:,.2f} µs per log | — | — |")
    entries = [
        LogEntry(timestamp=1_753_099_200 + i, level="INFO", message=f"request {i}", source="api")
        for i in range(opts.calls)
    ]
    build = iter(entries)
    convert_us = per_call(lambda: to_batch([next(build)], time.time_ns()), len(entries))
    rows.append(
        f"| 1 log per call | for scale: one LogEntry to its Arrow batch (`to_batch`, before any store) | "
        f"{convert_us:,.1f} µs | — | — |"
    )
    table = (
        "| calls | case | per call | reference: DuckDB insert + commit (acknowledging today) | ratio |\n"
        "|---|---|---|---|---|\n" + "\n".join(rows)
    )
    text = section_text(run_line(started, "one process, the data directory on the local disk"), table, [])
    publish(opts, text, SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
