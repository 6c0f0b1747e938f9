"""The standard queries, each asked of the engine and, as SQL, of the DuckDB reference table.

Every query also has a comparable form of its answer (timestamps of a page, a count, group
counts...), so the suite can check that engine and reference agree on the same data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from log_analytics_engine import LogAnalyticsEngine

RANGE_START = "2025-07-21T08:00:00Z"
RANGE_END = "2025-07-21T12:00:00Z"
PAGE = 50
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICRO = dt.timedelta(microseconds=1)

EngineCall = Callable[[LogAnalyticsEngine], Any]
Normalize = Callable[[Any], Any]


@dataclass(frozen=True)
class BenchQuery:
    """One question: how the engine is asked, the reference SQL, and how to compare their answers."""

    label: str
    engine: EngineCall
    sql: str
    params: tuple[Any, ...]
    engine_answer: Normalize
    ref_answer: Normalize


def to_ns(value: dt.datetime) -> int:
    """A timezone-aware datetime as integer nanoseconds since the epoch (exact at µs precision)."""
    return (value - _EPOCH) // _MICRO * 1000


def _page_times(entries: Sequence[Any]) -> list[int]:
    return sorted(e.timestamp_ns for e in entries)


def _ref_page_times(rows: Sequence[tuple[Any, ...]]) -> list[int]:
    return sorted(to_ns(r[0]) for r in rows)


def _page_severities(entries: Sequence[Any]) -> list[int]:
    return sorted(e.severity_score for e in entries)


def _ref_page_severities(rows: Sequence[tuple[Any, ...]]) -> list[int]:
    return sorted(int(r[2]) for r in rows)


def _same(value: Any) -> Any:
    return value


def _ref_count(rows: Sequence[tuple[Any, ...]]) -> int:
    return int(rows[0][0])


def _ref_groups(rows: Sequence[tuple[Any, ...]]) -> dict[str, int]:
    return {str(k): int(c) for k, c in rows}


def _groups(result: dict[str, Any]) -> dict[str, int]:
    return {str(k): int(c) for k, c in result["group_by"].items()}


def _top_counts(key: str) -> Normalize:
    def answer(result: dict[str, Any]) -> list[int]:
        return sorted(int(c) for _, c in result[key])

    return answer


def _ref_top_counts(rows: Sequence[tuple[Any, ...]]) -> list[int]:
    return sorted(int(c) for _, c in rows)


def _histogram(result: dict[str, Any]) -> list[tuple[int, int]]:
    return [(to_ns(dt.datetime.fromisoformat(k)), int(c)) for k, c in result["histogram"].items()]


def _ref_histogram(rows: Sequence[tuple[Any, ...]]) -> list[tuple[int, int]]:
    return [(to_ns(b), int(c)) for b, c in rows]


def _newest(filters: dict[str, Any]) -> EngineCall:
    def call(engine: LogAnalyticsEngine) -> Any:
        return engine.query_logs(filters, sort_by="timestamp", sort_desc=True, page=0, page_size=PAGE)

    return call


def _count(filters: dict[str, Any]) -> EngineCall:
    def call(engine: LogAnalyticsEngine) -> Any:
        return engine.count(filters)

    return call


def _filtered_pair(
    name: str, filters: dict[str, Any], where: str, params: tuple[Any, ...]
) -> list[BenchQuery]:
    """`name` newest 50 and `name` count, for the engine filters and the equivalent SQL WHERE."""
    page_sql = f"SELECT * FROM logs WHERE {where} ORDER BY ts DESC LIMIT {PAGE}"
    count_sql = f"SELECT count(*) FROM logs WHERE {where}"
    return [
        BenchQuery(
            f"{name}, newest {PAGE}", _newest(filters), page_sql, params, _page_times, _ref_page_times
        ),
        BenchQuery(f"{name}, count", _count(filters), count_sql, params, _same, _ref_count),
    ]


def word_pattern(word: str) -> str:
    """The reference's whole-word, case-insensitive regular expression for `word`."""
    if not word.isalnum():
        raise ValueError(f"benchmark word must be letters and digits only, got {word!r}")
    return rf"(?i)\b{word}\b"


def query_set(word: str, tag: str) -> list[BenchQuery]:
    """The standard queries of the suite, in table order."""
    pattern = word_pattern(word)
    word_sql = "regexp_matches(message, ?)"
    range_filters = {"start_time": RANGE_START, "end_time": RANGE_END, "level": "ERROR", "keyword": word}
    range_sql = f"ts >= CAST(? AS TIMESTAMPTZ) AND ts <= CAST(? AS TIMESTAMPTZ) AND level = ? AND {word_sql}"
    return [
        *_filtered_pair("level=ERROR", {"level": "ERROR"}, "level = ?", ("ERROR",)),
        *_filtered_pair(f"word `{word}`", {"keyword": word}, word_sql, (pattern,)),
        *_filtered_pair(f"tag `{tag}`", {"tags": tag}, "list_contains(tags, ?)", (tag,)),
        *_filtered_pair(
            f"4 h range + ERROR + `{word}`",
            range_filters,
            range_sql,
            (RANGE_START, RANGE_END, "ERROR", pattern),
        ),
        BenchQuery(
            f"all logs by severity desc, page of {PAGE}",
            lambda e: e.query_logs(None, sort_by="severity", sort_desc=True, page=0, page_size=PAGE),
            f"SELECT * FROM logs ORDER BY severity DESC LIMIT {PAGE}",
            (),
            _page_severities,
            _ref_page_severities,
        ),
        BenchQuery(
            "group by source",
            lambda e: e.aggregate(None, group_by="source"),
            "SELECT source, count(*) FROM logs GROUP BY source ORDER BY 2 DESC",
            (),
            _groups,
            _ref_groups,
        ),
        BenchQuery(
            "top-10 sources of ERROR",
            lambda e: e.aggregate({"level": "ERROR"}, top_n={"source": 10}),
            "SELECT source, count(*) FROM logs WHERE level = ? GROUP BY source ORDER BY 2 DESC LIMIT 10",
            ("ERROR",),
            _top_counts("top_10_source"),
            _ref_top_counts,
        ),
        BenchQuery(
            "per-minute histogram, 24 h",
            lambda e: e.aggregate(None, histogram="timestamp", interval="1m"),
            "SELECT time_bucket(INTERVAL '1 minute', ts) AS b, count(*) FROM logs GROUP BY b ORDER BY b",
            (),
            _histogram,
            _ref_histogram,
        ),
    ]
