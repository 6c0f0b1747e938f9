"""Issue 16's typed fields, disk and retention measured through the engine itself, beside ClickHouse
(chdb, ClickStack's `otel_logs`, bench/chstore.py) and DuckDB alone, on the same generated logs in one run.

    python -m bench.storage_engine               # 1M logs
    python -m bench.storage_engine --quick       # 100k logs
    python -m bench.storage_engine --rows 300000 --runs 9

1. Typed fields: four engine stores (`LogAnalyticsEngine(path)`): filled by `ingest_logs_from_file`
   and by `ingest_logs` of 10k LogEntry batches, each with promotion on (the default) and off (the
   engine built with `EmbeddedBackend(..., promote_after=None)` in place of its default backend, before
   any ingest); `engine.run` of the numeric and field questions, timed in turns with ClickHouse (Map
   attributes and JSON attributes) and DuckDB alone over a JSON-text `metadata` table.
2. Disk: each store's bytes per log after `flush()` + `close()` (DuckDB file, text index, WAL apart),
   ClickHouse's from system.parts after its merge, the DuckDB table's file.
3. bench.run's query rows (bench/queries.py) on the promoted file store against promotion off.
4. Retention: the logs spread over 7 days, `retention="5d"` opened with a clock so that 2 days go (the
   open's drop), then the clock moved a day at a time and `engine.apply_retention()`; disk before/after.

Progress goes to stderr, the tables to stdout and to the section "Storage through the engine" of
bench/results.md (`--output`, `--no-write`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import duckdb
import orjson

from bench import storage
from bench.abuse import publish, run_line, section_text
from bench.chstore import JSON_TABLE, ChBytes, ClickHouse, on_json_table
from bench.generate import QUERY_TAG, QUERY_WORD, cached_jsonl
from bench.layouts import Binder, JsonText
from bench.measure import dir_bytes, in_turns, median_pair_ms
from bench.queries import language_query_set, language_searches, query_set
from bench.report import fmt_ms
from bench.run import _version
from bench.storage import (
    KEYS,
    REGION_VALUE,
    SLOW_MS,
    Data,
    append_batches,
    connect,
    load_data,
    normalized,
    questions,
)
from bench.stored import timed_calls
from log_analytics_engine import LogAnalyticsEngine
from log_analytics_engine import engine as engine_module
from log_analytics_engine.demodata import DAY, iter_records, to_entry
from log_analytics_engine.storage.base import DAY_NS
from log_analytics_engine.storage.embedded.backend import EmbeddedBackend

SECTION = "## Storage through the engine (`python -m bench.storage_engine`)"
SEED = 42
ENTRY_BATCH = 10_000
SPREAD_DAYS = 7
KEEP = "5d"
DROP_TARGET_MS = 100.0
# bench.storage's question labels, asked of the engine in its language
ENGINE_TEXT = {
    "p99(duration_ms) by source": "* | stats by (source) quantile(0.99, duration_ms)",
    "avg(duration_ms) by source": "* | stats by (source) avg(duration_ms)",
    "sum(duration_ms) by source": "* | stats by (source) sum(duration_ms)",
    f"count duration_ms > {SLOW_MS}": f"duration_ms:>{SLOW_MS} | stats count()",
    f"count region = {REGION_VALUE}": f"region:{REGION_VALUE} | stats count()",
    "top 50 by duration_ms desc": "* | sort by (duration_ms desc) | limit 50",
    "count_uniq(region)": "* | stats count_uniq(region)",
}
# ClickHouse's quantile is an estimate (a sample of 8192 values): its p99 is not compared
NOT_CHECKED_CH = frozenset({"p99(duration_ms) by source"})


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    return storage.parse_args(argv, __doc__, runs=7)


def progress(text: str) -> None:
    storage.progress(text, "storage_engine")


# -- the engine stores -------------------------------------------------------------------------------


@contextlib.contextmanager
def promotion(on: bool) -> Iterator[None]:
    """Engines built inside get a backend with promotion on (the default) or off."""
    if on:
        yield
        return
    with mock.patch.object(
        engine_module, "EmbeddedBackend", functools.partial(EmbeddedBackend, promote_after=None)
    ):
        yield


def open_engine(path: Path, promoted: bool, **kwargs: Any) -> LogAnalyticsEngine:
    with promotion(promoted):
        return LogAnalyticsEngine(path, alert_interval=None, **kwargs)


@dataclass
class StoreResult:
    """One engine store: how it was filled, its times, bytes and answers."""

    name: str
    path: Path
    promoted: bool
    ingest_s: float = 0.0
    flush_s: float = 0.0
    typed: str = ""
    used_blocks: int = 0
    files: dict[str, int] = field(default_factory=dict)
    query_ms: dict[str, float] = field(default_factory=dict)
    answers: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)


def ingest_entries(engine: LogAnalyticsEngine, rows: int) -> None:
    """The bench logs as LogEntry objects, `ENTRY_BATCH` a call (made a batch at a time)."""
    batch = []
    for record in iter_records(rows, SEED):
        batch.append(to_entry(record))
        if len(batch) == ENTRY_BATCH:
            engine.ingest_logs(batch)
            batch = []
    if batch:
        engine.ingest_logs(batch)


def build_store(result: StoreResult, fill: Callable[[LogAnalyticsEngine], object]) -> None:
    """Fill a fresh store, flush, note its promoted keys and used blocks, close, measure its files."""
    progress(f"store {result.name}")
    engine = open_engine(result.path, result.promoted)
    try:
        started = time.perf_counter()
        fill(engine)
        result.ingest_s = time.perf_counter() - started
        started = time.perf_counter()
        engine.flush()
        result.flush_s = time.perf_counter() - started
        result.used_blocks = int(engine.get_stats()["disk_usage"])
        backend = engine._store
        if isinstance(backend, EmbeddedBackend):
            result.typed = ", ".join(f.key for f in backend.store.typed.fields) or "none"
    finally:
        engine.close()
    result.files = store_files(result.path)


def store_files(path: Path) -> dict[str, int]:
    """A closed store's bytes: the DuckDB file, the text index, the WAL directory, the rest."""
    parts = {"duckdb": dir_bytes(path / "logs.duckdb"), "index": dir_bytes(path / "index")}
    parts["wal"] = dir_bytes(path / "wal") if (path / "wal").exists() else 0
    parts["rest"] = dir_bytes(path) - sum(parts.values())
    return parts


def engine_answer(label: str, result: Any) -> list[tuple[Any, ...]]:
    """`engine.run` rows in bench.storage's answer shape."""
    if label.startswith("top 50"):
        return normalized([(row["metadata"].get("duration_ms"),) for row in result.rows])
    return normalized([tuple(row.values()) for row in result.rows])


# -- the references ----------------------------------------------------------------------------------


@dataclass
class Reference:
    """ClickHouse (both tables) and DuckDB alone: bytes, times and answers."""

    version: str = "?"
    map_bytes: ChBytes | None = None
    json_bytes: ChBytes | None = None
    duckdb_bytes: int = 0
    ingest_s: dict[str, float] = field(default_factory=dict)
    query_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    answers: dict[str, dict[str, list[tuple[Any, ...]]]] = field(default_factory=dict)


def build_references(data: Data, tmp: Path, ref: Reference) -> tuple[ClickHouse, duckdb.DuckDBPyConnection]:
    """ClickHouse's otel_logs with Map and with JSON attributes, merged, and DuckDB's JSON-text table."""
    progress("ClickHouse: otel_logs (Map attributes), otel_logs_json (JSON attributes)")
    ch = ClickHouse(tmp / "chdb")
    ref.version = str(ch.query("SELECT version()")[0][0])
    ch.create("otel_logs")
    ref.ingest_s["ClickHouse Map"] = ch.append_arrow(data.batches) + ch.merge()
    ref.map_bytes = ch.bytes()
    ch.create_json()
    ref.ingest_s["ClickHouse JSON"] = ch.append_json(data.batches) + ch.merge(JSON_TABLE)
    ref.json_bytes = ch.bytes(JSON_TABLE)
    progress("DuckDB alone: metadata as JSON text")
    db_file = tmp / "duckdb-json-text.db"
    con = connect(db_file)
    layout = JsonText()
    layout.create(con)
    ref.ingest_s["DuckDB, JSON text"] = append_batches(con, layout, data.batches)
    ref.duckdb_bytes = db_file.stat().st_size
    return ch, con


# -- 1. the questions, in turns ----------------------------------------------------------------------


def fetch_all(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> list[Any]:
    rows: list[Any] = con.execute(sql, params).fetchall()
    return rows


ASKERS = ("ClickHouse Map", "ClickHouse JSON", "DuckDB, JSON text")


def ask_all(
    stores: list[StoreResult],
    engines: list[LogAnalyticsEngine],
    ch: ClickHouse,
    con: duckdb.DuckDBPyConnection,
    ref: Reference,
    runs: int,
) -> None:
    """Every question of every store and reference, timed in turns (bench/measure.in_turns)."""
    layout = JsonText()
    for query in questions():
        if query.label not in ENGINE_TEXT:
            continue
        progress(f"  {query.label}")
        text = ENGINE_TEXT[query.label]
        calls: list[tuple[Callable[[], Any], Callable[[Any], list[tuple[Any, ...]]]]] = []
        for engine in engines:
            calls.append((functools.partial(engine.run, text), functools.partial(engine_answer, query.label)))
        for sql in (query.clickhouse, on_json_table(query.clickhouse)):
            calls.append((functools.partial(ch.query, sql, query.ch_params), normalized))
        bind = Binder()
        sql = query.duckdb(layout.view(bind, KEYS), bind)
        calls.append((functools.partial(fetch_all, con, sql, bind.values), normalized))
        answers = [shape(call()) for call, shape in calls]  # also the warm-up
        medians = in_turns([call for call, _ in calls], runs, warmup=0)
        for store, ms, answer in zip(stores, medians, answers, strict=False):
            store.query_ms[query.label] = ms
            store.answers[query.label] = answer
        for name, ms, answer in zip(ASKERS, medians[len(stores) :], answers[len(stores) :], strict=True):
            ref.query_ms.setdefault(name, {})[query.label] = ms
            ref.answers.setdefault(name, {})[query.label] = answer


def answer_checks(stores: list[StoreResult], ref: Reference) -> list[str]:
    """Where an answer differs from DuckDB's over the JSON text (ClickHouse's p99 is an estimate)."""
    wrong = []
    truth = ref.answers["DuckDB, JSON text"]
    for label, expected in truth.items():
        for store in stores:
            if store.answers.get(label) != expected:
                wrong.append(f"{store.name}: `{ENGINE_TEXT[label]}` differs from DuckDB's answer")
        for name in ASKERS[:2]:
            if label not in NOT_CHECKED_CH and ref.answers[name].get(label) != expected:
                wrong.append(f"{name}: {label} differs from DuckDB's answer")
    return wrong


def ratio(ms: float, reference: float) -> str:
    return f"{ms / reference:.2f}×" if reference > 0 else "—"


def questions_table(stores: list[StoreResult], ref: Reference) -> str:
    names = [s.name for s in stores] + list(ASKERS)
    lines = [
        "| question (engine's query) | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    chm, chj = ref.query_ms["ClickHouse Map"], ref.query_ms["ClickHouse JSON"]
    for label, text in ENGINE_TEXT.items():
        cells = []
        for ms in [s.query_ms[label] for s in stores] + [ref.query_ms[a][label] for a in ASKERS]:
            cells.append(f"{fmt_ms(ms)} ({ratio(ms, chm[label])} Map, {ratio(ms, chj[label])} JSON)")
        lines.append(f"| `{text.replace('|', chr(92) + '|')}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- 2. disk -----------------------------------------------------------------------------------------


def per_log(n: float, rows: int) -> str:
    return f"{n / rows:.1f}"


def disk_table(stores: list[StoreResult], ref: Reference, rows: int) -> str:
    lines = [
        "| store | B/log in all | DuckDB file | text index | WAL dir | other | "
        "`disk_usage()` before close | ingest s (+ flush) | promoted keys |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in stores:
        f = s.files
        lines.append(
            f"| {s.name} | {per_log(sum(f.values()), rows)} | {per_log(f['duckdb'], rows)} | "
            f"{per_log(f['index'], rows)} | {per_log(f['wal'], rows)} | {per_log(f['rest'], rows)} | "
            f"{per_log(s.used_blocks, rows)} | {s.ingest_s:.1f} (+{s.flush_s:.1f}) | {s.typed} |"
        )
    for name, ch in (("ClickHouse Map (system.parts)", ref.map_bytes), ("ClickHouse JSON", ref.json_bytes)):
        if ch is not None:
            body = ch.indices.get("idx_body", 0)
            lines.append(
                f"| {name} | {per_log(ch.total, ch.rows)} | — | Body text index {per_log(body, ch.rows)} "
                f"| — | — | — | {ref.ingest_s[name.split(' (')[0]]:.1f} (with merge) | — |"
            )
    lines.append(
        f"| DuckDB alone, JSON text (file after CHECKPOINT) | {per_log(ref.duckdb_bytes, rows)} | "
        f"{per_log(ref.duckdb_bytes, rows)} | — | — | — | — | {ref.ingest_s['DuckDB, JSON text']:.1f} | — |"
    )
    return "\n".join(lines)


# -- 3. bench.run's rows, promoted against promotion off ----------------------------------------------


def suite_rows(on: LogAnalyticsEngine, off: LogAnalyticsEngine, runs: int) -> list[tuple[str, float, float]]:
    """bench.run's standard, language-search and pipe rows: (label, ms promoted, ms off), timed in
    alternation (measure.median_pair_ms)."""
    asks: list[tuple[str, Callable[[LogAnalyticsEngine], Any]]] = [
        (q.label, q.engine) for q in query_set(QUERY_WORD, QUERY_TAG)
    ]
    asks += [(f"search('{s.text}', limit=50)", s.language) for s in language_searches(QUERY_WORD, QUERY_TAG)]
    asks += [(f"run('{q.label}')", q.engine) for q in language_query_set()]
    out = []
    for label, ask in asks:
        a, b = median_pair_ms(functools.partial(ask, on), functools.partial(ask, off), runs, warmup=1)
        out.append((label, a, b))
    return out


SLOWER = 1.10  # noise on 2 shared cores: a row is flagged past this ratio


def suite_table(rows: list[tuple[str, float, float]]) -> tuple[str, list[str]]:
    lines = ["| bench.run row | promoted | promotion off | promoted ÷ off |", "|---|---|---|---|"]
    slower = []
    for label, on, off in rows:
        mark = " **slower**" if on > off * SLOWER else ""
        if mark:
            slower.append(f"`{label}` {fmt_ms(on)} promoted vs {fmt_ms(off)} off")
        lines.append(
            f"| {label.replace('|', chr(92) + '|')} | {fmt_ms(on)} | {fmt_ms(off)} | {on / off:.2f}×{mark} |"
        )
    return "\n".join(lines), slower


# -- 4. retention --------------------------------------------------------------------------------------


def spread_jsonl(source: Path, rows: int, days: int) -> Path:
    """The bench logs with their timestamps spread evenly over `days` days from DAY (made once)."""
    target = source.with_name(source.stem + f"-{days}days.jsonl")
    if target.exists():
        return target
    start_ms = int(dt.datetime.fromisoformat(f"{DAY}T00:00:00+00:00").timestamp() * 1000)
    step = days * 86_400_000 / max(rows, 1)
    partial = target.with_name(target.name + ".partial")
    with source.open("rb") as lines, partial.open("wb") as out:
        for i, line in enumerate(lines):
            rec = orjson.loads(line)
            at = dt.datetime.fromtimestamp((start_ms + int(i * step)) / 1000, dt.UTC)
            rec["timestamp"] = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            out.write(orjson.dumps(rec) + b"\n")
    partial.replace(target)
    return target


@dataclass
class DropStep:
    """One `apply_retention()` a day further on: logs dropped, its wall time, the text index's and
    the DuckDB table's shares (ms)."""

    logs: int
    wall_ms: float
    index_ms: float
    table_ms: float


@dataclass
class RetentionResult:
    days: list[tuple[str, int]] = field(default_factory=list)
    before: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)
    used_before: int = 0
    used_after: int = 0
    plain_open_s: float = 0.0
    open_s: float = 0.0
    open_drop_s: float = 0.0
    open_dropped: int = 0
    steps: list[DropStep] = field(default_factory=list)
    left: int = 0


def reopened_usage(path: Path) -> tuple[int, float]:
    """The store's `disk_usage()` when reopened (its DuckDB WAL checkpointed by the close before),
    and the seconds the open took."""
    started = time.perf_counter()
    with open_engine(path, True) as engine:
        opened = time.perf_counter() - started
        return int(engine.get_stats()["disk_usage"]), opened


def measure_retention(jsonl: Path, tmp: Path, rows: int) -> RetentionResult:
    """A store of the logs over SPREAD_DAYS days; `retention=KEEP` opened so that 2 days go, then
    one more day at a time."""
    out = RetentionResult()
    path = tmp / "retention"
    progress(f"retention: a store of {rows:,} logs over {SPREAD_DAYS} days")
    with open_engine(path, True) as engine:
        engine.ingest_logs_from_file(spread_jsonl(jsonl, rows, SPREAD_DAYS))
        engine.flush()
        out.days = [
            (dt.datetime.fromtimestamp(d * 86_400, dt.UTC).date().isoformat(), n)
            for d, n in engine._store.days()
        ]
    out.before = store_files(path)
    out.used_before, out.plain_open_s = reopened_usage(path)
    first_day = int(dt.datetime.fromisoformat(f"{DAY}T00:00:00+00:00").timestamp()) // 86_400
    now = [float((first_day + SPREAD_DAYS) * 86_400 + 3_600)]  # day 7, 01:00: days 0 and 1 are past 5d
    progress("retention: open with retention=5d (2 days go), then a day at a time")
    started = time.perf_counter()
    engine = open_engine(path, True, retention=KEEP, clock=lambda: now[0])
    try:
        out.open_s = time.perf_counter() - started
        stats = engine.get_stats()
        out.open_drop_s = float(stats["retention_last_seconds"])
        out.open_dropped = int(stats["retention_dropped_logs"])
        backend = engine._store
        assert isinstance(backend, EmbeddedBackend)
        spent: dict[str, float] = {}
        timed_calls(backend.store.index, "delete_seqs", spent, {})
        timed_calls(backend.store, "_delete_rows", spent, {})
        for _ in range(3):
            now[0] += DAY_NS / 1e9
            spent.clear()
            started = time.perf_counter()
            dropped = engine.apply_retention()
            wall = time.perf_counter() - started
            index, table = (spent.get(name, 0.0) * 1000 for name in ("delete_seqs", "_delete_rows"))
            out.steps.append(DropStep(dropped, wall * 1000, index, table))
        engine.flush()
        out.left = int(engine.get_stats()["total_logs"])
    finally:
        engine.close()
    out.after = store_files(path)
    out.used_after, _ = reopened_usage(path)
    return out


def retention_table(r: RetentionResult) -> tuple[str, list[str]]:
    mb = 1e6
    lines = [
        "| step | logs dropped | time | per day | text index's share | DuckDB table's share |",
        "|---|---|---|---|---|---|",
        f"| open without retention (the same store) | — | {r.plain_open_s * 1000:.0f} ms | — | — | — |",
        f'| open with `retention="{KEEP}"`, 2 days past it | {r.open_dropped:,} | '
        f"open {r.open_s * 1000:.0f} ms, of which the drop {r.open_drop_s * 1000:.0f} ms | "
        f"{r.open_drop_s * 500:.0f} ms | — | — |",
    ]
    missed = []
    for i, step in enumerate(r.steps, 1):
        lines.append(
            f"| clock +{i} day, `apply_retention()` | {step.logs:,} | {step.wall_ms:.0f} ms | "
            f"{step.wall_ms:.0f} ms | {step.index_ms:.0f} ms | {step.table_ms:.0f} ms |"
        )
        if step.wall_ms > DROP_TARGET_MS:
            missed.append(f"retention drop of a day {step.wall_ms:.0f} ms (target ≤ {DROP_TARGET_MS:.0f} ms)")
    if r.open_drop_s * 500 > DROP_TARGET_MS:
        missed.append(
            f"the open's drop {r.open_drop_s * 500:.0f} ms a day (target ≤ {DROP_TARGET_MS:.0f} ms)"
        )
    days = ", ".join(f"{d} {n:,}" for d, n in r.days)
    disk = (
        f"Days stored: {days}. Disk before: files {sum(r.before.values()) / mb:.1f} MB (DuckDB "
        f"{r.before['duckdb'] / mb:.1f}, index {r.before['index'] / mb:.1f}, "
        f"WAL {r.before['wal'] / mb:.1f}), `disk_usage()` on reopening {r.used_before / mb:.1f} MB; "
        f"after 5 days dropped ({r.left:,} logs left): files {sum(r.after.values()) / mb:.1f} MB "
        f"(DuckDB {r.after['duckdb'] / mb:.1f}, index {r.after['index'] / mb:.1f}, "
        f"WAL {r.after['wal'] / mb:.1f}), `disk_usage()` on reopening {r.used_after / mb:.1f} MB."
    )
    return "\n".join(lines) + "\n\n" + disk, missed


# -- the run -----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    started = time.perf_counter()
    loads = [os.getloadavg()]
    progress(f"generating / reading {opts.rows:,} logs")
    data = load_data(opts.rows, opts.data_dir)
    rows = data.rows
    jsonl = cached_jsonl(opts.data_dir, opts.rows, SEED)
    with tempfile.TemporaryDirectory(prefix="bench-storage-engine-") as tmp_name:
        tmp = Path(tmp_name)
        stores = [
            StoreResult("file, promoted", tmp / "file-on", True),
            StoreResult("file, promotion off", tmp / "file-off", False),
            StoreResult("10k batches, promoted", tmp / "batch-on", True),
            StoreResult("10k batches, promotion off", tmp / "batch-off", False),
        ]
        for store in stores:
            if store.name.startswith("file"):
                build_store(store, lambda e: e.ingest_logs_from_file(jsonl))
            else:
                build_store(store, lambda e: ingest_entries(e, opts.rows))
        loads.append(os.getloadavg())
        ref = Reference()
        ch, con = build_references(data, tmp, ref)
        engines = [open_engine(s.path, s.promoted) for s in stores]
        try:
            loads.append(os.getloadavg())
            progress("questions, every store and reference in turns")
            ask_all(stores, engines, ch, con, ref, opts.runs)
            loads.append(os.getloadavg())
            progress("bench.run's rows, promoted vs off")
            suite = suite_rows(engines[0], engines[1], opts.runs)
            loads.append(os.getloadavg())
        finally:
            ch.close()
            con.close()
            for engine in engines:
                engine.close()
        retention = measure_retention(jsonl, tmp, opts.rows)
        loads.append(os.getloadavg())
    ones = [load[0] for load in loads]
    head = run_line(
        started,
        f"{rows:,} bench logs, DuckDB {duckdb.__version__}, ClickHouse {ref.version} "
        f"(chdb {_version('chdb')}), "
        f"medians of {opts.runs} runs after a warm-up, timed in turns; 1-minute load average "
        f"{min(ones):.1f}-{max(ones):.1f} (2 cores shared; `uptime` at the start "
        f"{', '.join(f'{x:.2f}' for x in loads[0])})",
    )
    suite_text, slower = suite_table(suite)
    retention_text, missed = retention_table(retention)
    for label in ("p99(duration_ms) by source", "avg(duration_ms) by source", "sum(duration_ms) by source"):
        ms, chm = stores[0].query_ms[label], ref.query_ms["ClickHouse Map"][label]
        if ms > chm:
            missed.append(f"{label} {fmt_ms(ms)} promoted, {ms / chm:.2f}× ClickHouse Map (target ≤ 1.0×)")
    missed += [f"bench.run row slower promoted: {s}" for s in slower]
    text = "\n\n".join(
        [
            "**1. Typed fields through the engine.** `engine.run` medians in ms, each with its ratio to "
            "ClickHouse's otel_logs with Map attributes and with JSON attributes (the same question in "
            "ClickHouse SQL, bench/storage.py). *promotion off*: the engine built with "
            "`EmbeddedBackend(path, promote_after=None)` in place of its default backend (patched into "
            "engine.py for the constructor) before anything was ingested. DuckDB alone: SQL over a "
            "table whose `metadata` is JSON text (the engine's extraction SQL).",
            questions_table(stores, ref),
            "**2. Disk**, bytes per log after `flush()` + `close()` (the DuckDB file, `index/`, `wal/`); "
            "`disk_usage()` is the store's own figure while open, after `flush()` (DuckDB's used blocks "
            "and its WAL, the text index, our WAL). ClickHouse after OPTIMIZE FINAL, from system.parts "
            "(Body's text index within it).",
            disk_table(stores, ref, rows),
            "**3. bench.run's query rows** (bench/queries.py) on the file store promoted against the file "
            f"store with promotion off, timed in alternation; flagged past {SLOWER:.2f}×.",
            suite_text,
            f"**4. Retention** on {rows:,} logs spread evenly over {SPREAD_DAYS} days (the generator's "
            "logs, timestamps rewritten); the clock is the engine's `clock`.",
            retention_text,
        ]
    )
    wrong = answer_checks(stores, ref)
    checked = (
        "Answers differing from DuckDB's over the JSON text: " + "; ".join(wrong) + "."
        if wrong
        else "Answers: every store's and ClickHouse's (but its estimated p99) equal DuckDB's over the "
        "JSON text."
    )
    publish(opts, section_text(head, text + "\n\n" + checked, missed), SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
