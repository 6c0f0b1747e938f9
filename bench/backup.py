"""Backup of a store of 1M bench logs while a writer thread ingests 100 logs a call: `engine.backup`
(the text index copied at a committed state, then the database by `ATTACH` + `COPY FROM DATABASE` in
one transaction), against the alternative of a CHECKPOINT and a copy of the files under a pause of
every write; then opening the copy, with its index and with the index left to be rebuilt.

    python -m bench.backup [--logs 1000000] [--data-dir bench/.data]

The section "Backup" of bench/results.md is replaced with the table (`--output`, `--no-write`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.abuse import publish, run_line, section_text
from bench.measure import dir_bytes
from bench.stored import Writer, built_store, fresh_copy, progress, store_options, timed_calls
from log_analytics_engine import LogAnalyticsEngine
from log_analytics_engine.storage.embedded import store as store_module
from log_analytics_engine.storage.embedded.backup import copy_index
from log_analytics_engine.storage.embedded.store import DB_FILE, INDEX_DIR

SECTION = "## Backup (`python -m bench.backup`)"


def paused_file_copy(engine: LogAnalyticsEngine, dest: Path) -> float:
    """The alternative: every write held (the write lock, the alerts' lock, no index commit) while
    DuckDB checkpoints and its file and the index's are copied; returns how long writes were held."""
    store = engine._store.store
    dest.mkdir()
    started = time.perf_counter()
    with contextlib.ExitStack() as held:
        held.enter_context(store._admin_lock)
        held.enter_context(store._indexer.paused())
        held.enter_context(store._write_lock)
        held.enter_context(store._meta_lock)
        store.cursor().execute("CHECKPOINT").fetchall()
        assert store.path is not None
        shutil.copyfile(store.path / DB_FILE, dest / DB_FILE)
        copy_index(store.path / INDEX_DIR, dest / INDEX_DIR)
    return time.perf_counter() - started


def opened(dest: Path) -> tuple[float, int, str, float]:
    """Open a copy: the seconds to open, its logs, its index state at open, and the seconds its
    index took to be complete (`flush`)."""
    started = time.perf_counter()
    with LogAnalyticsEngine(dest, alert_interval=None) as copy:
        open_seconds = time.perf_counter() - started
        logs = copy.count()
        state = copy.index_status()["state"]
        started = time.perf_counter()
        copy.flush()
        return open_seconds, logs, state, time.perf_counter() - started


def run(built: Path, tmp: Path) -> dict[str, Any]:
    engine = LogAnalyticsEngine(fresh_copy(built, tmp / "store"), alert_interval=None)
    spent: dict[str, float] = {}
    timed_calls(store_module, "copy_index", spent, {})
    timed_calls(store_module, "copy_database", spent, {})
    try:
        with Writer(engine) as writer:
            time.sleep(1.0)
            started = time.perf_counter()
            report = engine.backup(tmp / "copy")
            ended = time.perf_counter()
            time.sleep(1.0)
            paused = time.perf_counter()
            held = paused_file_copy(engine, tmp / "files")
            resumed = time.perf_counter()
            time.sleep(0.5)
    finally:
        engine.close()
    out: dict[str, Any] = {
        "backup": {
            **report,
            "wall": ended - started,
            "stall": writer.longest(started, ended),
            "calm": writer.median(started - 1.0, started),
            "during": writer.median(started, ended),
            "index_seconds": spent.get("copy_index", 0.0),
            "database_seconds": spent.get("copy_database", 0.0),
        },
        "files": {
            "wall": resumed - paused,
            "held": held,
            "stall": writer.longest(paused, resumed),
            "bytes": dir_bytes(tmp / "files"),
        },
    }
    out["open"] = opened(tmp / "copy")
    shutil.rmtree(tmp / "copy" / INDEX_DIR)
    out["rebuild"] = opened(tmp / "copy")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    opts = store_options(__doc__, argv)
    started = time.perf_counter()
    progress("backup", f"building (or reusing) a store of {opts.logs:,} logs in {opts.data_dir}")
    built = built_store(opts.data_dir, opts.logs)
    with tempfile.TemporaryDirectory(prefix="bench-backup-") as tmp:
        progress("backup", "backing up while a writer ingests")
        out = run(built, Path(tmp))
    b, f = out["backup"], out["files"]
    o_open, o_logs, o_state, o_flush = out["open"]
    r_open, r_logs, r_state, r_flush = out["rebuild"]
    rows = [
        f"| `engine.backup`: index copied, then `ATTACH` + `COPY FROM DATABASE` (one transaction) | "
        f"{b['wall']:.2f} s (index {b['index_seconds']:.2f} s, database {b['database_seconds']:.2f} s) | "
        f"{b['bytes'] / 1e6:,.1f} MB ({b['bytes'] / b['rows']:.0f} B/log, "
        f"{b['rows']:,} logs) | none: longest writer call {b['stall'] * 1000:,.0f} ms (median "
        f"{b['during'] * 1000:,.1f} ms during, {b['calm'] * 1000:,.1f} ms before) |",
        f"| alternative: CHECKPOINT + copy of the files, every write held | {f['wall']:.2f} s | "
        f"{f['bytes'] / 1e6:,.1f} MB | {f['held']:.2f} s held: longest writer call "
        f"{f['stall'] * 1000:,.0f} ms |",
        f"| opening the copy (restore) | {o_open:.2f} s | {o_logs:,} logs, index `{o_state}` at open | "
        f"index complete after {o_flush:.2f} s more |",
        f"| opening the copy without its index (left to be rebuilt) | {r_open:.2f} s | {r_logs:,} logs, "
        f"index `{r_state}` at open | index complete after {r_flush:.2f} s (text searches scan meanwhile) |",
    ]
    table = "| case | seconds | bytes | writers held |\n|---|---|---|---|\n" + "\n".join(rows)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    head = run_line(
        started, f"{opts.logs:,} bench logs, a writer of 100 logs a call throughout, load average {load}"
    )
    publish(opts, section_text(head, table, []), SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
