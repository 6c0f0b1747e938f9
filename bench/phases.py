"""The measured phases. Each runs in its own spawned child process (see `measure.in_child`) and
returns a plain dict, so peak RSS is the phase's own and nothing is shared between phases."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench import reference
from bench.generate import iter_records, make_entries
from bench.measure import current_rss_mb, dir_bytes, median_ms, median_pair_ms, peak_rss_mb, timed
from bench.queries import (
    PARSE_QUERY,
    PARSE_RUNS,
    BenchQuery,
    dict_answer,
    language_query_set,
    language_searches,
    query_set,
    search_answer,
)
from log_analytics_engine import AlertRule, LogAnalyticsEngine
from log_analytics_engine.query.parser import parse

# The background indexer waits this long between rounds: in effect it never runs by itself, so
# `flush()` after the file ingest measures the whole index catch-up.
NO_BACKGROUND_INDEX = 1e9


@dataclass(frozen=True)
class QuerySettings:
    """How often queries run: `warmup` untimed, `runs` timed (median), `repeat` rounds for the RSS check."""

    runs: int = 15
    warmup: int = 2
    repeat: int = 50


def engine_file_ingest(jsonl: str, data_dir: str) -> dict[str, Any]:
    """File ingest into a fresh store, then index catch-up (`flush`), then `close`; times, RSS, disk."""
    engine = LogAnalyticsEngine(path=data_dir, index_interval=NO_BACKGROUND_INDEX)
    report, ingest_s = timed(lambda: engine.ingest_logs_from_file(jsonl, file_type="jsonl"))
    rss_ingest = peak_rss_mb()
    _, flush_s = timed(engine.flush)
    rss_flush = peak_rss_mb()
    _, close_s = timed(engine.close)
    count = int(report["count"])
    return {
        "count": count,
        "bytes": int(report["bytes"]),
        "rejected": int(report["rejected"]),
        "bad_timestamps": int(report["bad_timestamps"]),
        "ingest_s": ingest_s,
        "flush_s": flush_s,
        "close_s": close_s,
        "peak_rss_ingest_mb": rss_ingest,
        "peak_rss_flush_mb": rss_flush,
        **_store_space(Path(data_dir)),
    }


def _store_space(data_dir: Path) -> dict[str, int]:
    """Bytes of the closed store: in all, in its DuckDB files, and free blocks inside those files."""
    databases = [p for p in data_dir.rglob("*.duckdb") if p.is_file()]
    return {
        "disk_bytes": dir_bytes(data_dir),
        "duckdb_bytes": sum(dir_bytes(p) for p in databases),
        "duckdb_free_bytes": sum(reference.free_bytes(p) for p in databases),
    }


def reference_file_ingest(jsonl: str, db_file: str) -> dict[str, Any]:
    """DuckDB alone: `INSERT … read_ndjson` + CHECKPOINT into a fresh database; time, RSS, disk."""
    con = reference.create(db_file)
    count, ingest_s = timed(lambda: reference.ingest_file(con, jsonl))
    rss = peak_rss_mb()
    con.close()
    return {
        "count": count,
        "bytes": Path(jsonl).stat().st_size,
        "ingest_s": ingest_s,
        "peak_rss_ingest_mb": rss,
        "disk_bytes": sum(dir_bytes(p) for p in Path(db_file).parent.glob(Path(db_file).name + "*")),
        "duckdb_free_bytes": reference.free_bytes(db_file),
    }


# Ten alert rules of the kinds users write: levels, sources, words, phrases, tags, metadata, query text.
ALERT_RULES = (
    {"level": "ERROR"},
    {"level": "FATAL"},
    {"level": "ERROR", "source": "payments"},
    {"keyword": "timeout"},
    {"keyword": "connection refused"},
    {"tags": ["canary"], "min_severity": 30},
    {"source": ["db", "cache"], "level": ["WARN", "ERROR"]},
    {"metadata.region": "eu-west-1", "level": "ERROR"},
    "declined level:ERROR",
    "source:checkout duration_ms:>2000",
)


def _alert_rules() -> list[AlertRule]:
    rules = []
    for i, spec in enumerate(ALERT_RULES):
        query = spec if isinstance(spec, str) else None
        conditions = spec if isinstance(spec, dict) else {}
        rules.append(
            AlertRule(
                f"rule {i}", conditions=conditions, query=query, threshold=50, time_window=300, cooldown=600
            )
        )
    return rules


def engine_batch_ingest(n: int, seed: int, data_dir: str, batch: int, rules: bool = False) -> dict[str, Any]:
    """`ingest_logs` of prebuilt LogEntry batches into a fresh store (background indexer on: the default),
    with the ten ALERT_RULES evaluated on every batch when `rules` (the clock follows the replayed logs)."""
    entries = make_entries(n, seed)
    batches = [entries[i : i + batch] for i in range(0, len(entries), batch)]
    replay = [0.0]
    engine = LogAnalyticsEngine(path=data_dir, clock=lambda: replay[0])
    if rules:
        for rule in _alert_rules():
            engine.add_alert_rule(rule)

    def ingest_all() -> int:
        stored = 0
        for b in batches:
            replay[0] = (b[-1].timestamp_ns or 0) / 1e9
            stored += engine.ingest_logs(b)
        engine.get_alerts(limit=1)  # waits for the alerts fired to be stored: part of the time
        return stored

    try:
        stored, ingest_s = timed(ingest_all)
        status = engine.get_stats()
    finally:
        engine.close()
    return {
        "count": stored,
        "ingest_s": ingest_s,
        "evaluations": status["alert_evaluations"],
        "evaluation_s": status["alert_evaluation_seconds"],
        "alerts": status["alert_alerts"],
    }


def reference_batch_ingest(n: int, seed: int, db_file: str, batch: int) -> dict[str, Any]:
    """DuckDB alone: each prebuilt batch of records to Arrow and `INSERT … SELECT` from it."""
    records = list(iter_records(n, seed))
    batches = [records[i : i + batch] for i in range(0, len(records), batch)]
    con = reference.create(db_file)
    try:
        _, ingest_s = timed(lambda: reference.append_batches(con, batches))
        count = reference.count_rows(con)
    finally:
        con.close()
    return {"count": count, "ingest_s": ingest_s}


def _time_queries(
    queries: Sequence[BenchQuery],
    ask: Callable[[BenchQuery], Any],
    answer_of: Callable[[BenchQuery, Any], Any],
    settings: QuerySettings,
) -> dict[str, Any]:
    """Median ms and comparable answer per query, by label."""
    results: dict[str, Any] = {}
    for q in queries:
        ms = median_ms(partial(ask, q), settings.runs, settings.warmup)
        results[q.label] = {"ms": ms, "answer": answer_of(q, ask(q))}
    return results


def _run_query_set(
    queries: list[BenchQuery],
    ask: Callable[[BenchQuery], Any],
    answer_of: Callable[[BenchQuery, Any], Any],
    settings: QuerySettings,
) -> dict[str, Any]:
    """Median ms and comparable answer per query, then RSS before/after `repeat` rounds of the whole set."""
    results = _time_queries(queries, ask, answer_of, settings)
    rss_before = current_rss_mb()
    for _ in range(settings.repeat):
        for q in queries:
            ask(q)
    return {"queries": results, "rss_before_mb": rss_before, "rss_after_mb": current_rss_mb()}


def _guard(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`fn()`, or `{"error": ...}` when it raises, so the rest of the phase's figures are kept."""
    try:
        return fn()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}


def _elapsed(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`fn()`'s dict with the seconds it took as `elapsed_s`."""
    out, seconds = timed(fn)
    return {**out, "elapsed_s": seconds}


def _engine_language(
    engine: LogAnalyticsEngine, word: str, tag: str, settings: QuerySettings
) -> dict[str, Any]:
    """The query language: each standard filtered question through `search` timed in alternation with
    its dict-filter path, the pipe queries through `run`, and `parse` of a ~200-character query."""
    searches: dict[str, Any] = {}
    for s in language_searches(word, tag):
        language_ms, dict_ms = median_pair_ms(
            partial(s.language, engine), partial(s.dict_path, engine), settings.runs, settings.warmup
        )
        searches[s.label] = {
            "ms": language_ms,
            "dict_ms": dict_ms,
            "answer": search_answer(s.language(engine)),
            "dict_answer": dict_answer(s.dict_path(engine)),
        }
    runs = _time_queries(
        language_query_set(), lambda q: q.engine(engine), lambda q, raw: q.engine_answer(raw), settings
    )
    parse_us = median_ms(partial(parse, PARSE_QUERY), PARSE_RUNS, settings.warmup) * 1000
    return {"searches": searches, "runs": runs, "parse_us": parse_us}


def engine_queries(data_dir: str, word: str, tag: str, settings: QuerySettings) -> dict[str, Any]:
    """Reopen the store, time each standard query, then RSS before/after many rounds of them all; then
    the query-language rows (after the RSS check, so that check stays the standard set's alone)."""
    engine, open_s = timed(lambda: LogAnalyticsEngine(path=data_dir))
    try:
        out = _run_query_set(
            query_set(word, tag),
            lambda q: q.engine(engine),
            lambda q, raw: q.engine_answer(raw),
            settings,
        )
        language = _guard(lambda: _elapsed(lambda: _engine_language(engine, word, tag, settings)))
    finally:
        engine.close()
    return {"open_s": open_s, **out, "language": language}


def reference_queries(db_file: str, word: str, tag: str, settings: QuerySettings) -> dict[str, Any]:
    """The same questions of the reference table in SQL, with the same timing and RSS measurements."""
    con, open_s = timed(lambda: reference.connect(db_file, read_only=True))
    try:
        out = _run_query_set(
            query_set(word, tag),
            lambda q: reference.fetch(con, q.sql, q.params),
            lambda q, raw: q.ref_answer(raw),
            settings,
        )
        language = _guard(
            lambda: _elapsed(
                lambda: {
                    "runs": _time_queries(
                        language_query_set(),
                        lambda q: reference.fetch(con, q.sql, q.params),
                        lambda q, raw: q.ref_answer(raw),
                        settings,
                    )
                }
            )
        )
    finally:
        con.close()
    return {"open_s": open_s, **out, "language": language}
