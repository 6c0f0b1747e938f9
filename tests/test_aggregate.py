"""Tests for aggregation: `aggregate` (in the store) and `aggregate_logs` (over a list) agree, in the
original shapes: group_by counts, histograms (also over time), top-N."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conftest import generate_logs
from log_analytics_engine import LogAnalyticsEngine, LogEntry, QueryError


@pytest.fixture(scope="module")
def generated() -> Iterator[tuple[LogAnalyticsEngine, list[LogEntry]]]:
    """1500 generated logs, the first half indexed."""
    logs = generate_logs(1500, seed=3)
    eng = LogAnalyticsEngine(index_interval=3600)
    eng.ingest_logs(logs[:750])
    eng.flush()
    eng.ingest_logs(logs[750:])
    yield eng, logs
    eng.close()


FILTERS: list[dict[str, Any]] = [
    {},
    {"level": ["ERROR", "warning"]},
    {"keyword": "cache"},
    {"tags": ["eu", "payments"], "min_severity": 20},
    {"start_time": "2025-07-21T13:00:00Z"},
    {"source": "db", "keyword": "connection"},
]


@pytest.mark.parametrize("flt", FILTERS, ids=[str(f) for f in FILTERS])
@pytest.mark.parametrize(
    "field", ["level", "source", "tags", "severity", "user_id", "thread_id", "request_id", "metadata.region"]
)
def test_store_and_list_agree(
    generated: tuple[LogAnalyticsEngine, list[LogEntry]], flt: dict[str, Any], field: str
) -> None:
    """`aggregate(f, ...)` equals `aggregate_logs(query_logs(f), ...)` for group_by, histogram, top_n."""
    eng, _ = generated
    logs = eng.query_logs(flt)
    kwargs: dict[str, Any] = {"group_by": field, "histogram": field, "top_n": {field: 3}}
    in_store = eng.aggregate(flt, **kwargs)
    over_list = eng.aggregate_logs(logs, **kwargs)
    assert in_store == over_list
    assert set(in_store) == {"group_by", "histogram", f"top_3_{field}"}
    assert sum(in_store["group_by"].values()) == sum(
        len(v) if isinstance(v, list) else 1
        for v in (log.tags if field == "tags" else _value(log, field) for log in logs)
        if v is not None
    )


def _value(log: LogEntry, field: str) -> Any:
    if field.startswith("metadata."):
        return log.metadata.get(field.split(".", 1)[1])
    if field == "severity":
        return log.severity_score
    return getattr(log, field)


def test_numeric_metadata_groups_agree(generated: tuple[LogAnalyticsEngine, list[LogEntry]]) -> None:
    """Grouping by a numeric metadata field gives the same keys in the store as over a list."""
    eng, _ = generated
    in_store = eng.aggregate({}, group_by="metadata.duration_ms")
    over_list = eng.aggregate_logs(eng.query_logs({}), group_by="metadata.duration_ms")
    assert in_store == over_list


def test_list_aggregation_of_the_ingested_objects(
    generated: tuple[LogAnalyticsEngine, list[LogEntry]],
) -> None:
    """Aggregating the generated objects themselves equals aggregating everything in the store."""
    eng, logs = generated
    kwargs: dict[str, Any] = {"group_by": "source", "histogram": "level", "top_n": {"tags": 5, "user_id": 2}}
    assert eng.aggregate_logs(logs, **kwargs) == eng.aggregate({}, **kwargs)


@pytest.mark.parametrize("interval", ["1m", "30s", "1h", 60, 90.0, "5m"])
def test_time_histogram_store_and_list_agree(
    generated: tuple[LogAnalyticsEngine, list[LogEntry]], interval: str | float
) -> None:
    """Time histograms agree between store and list for several intervals."""
    eng, _ = generated
    for flt in ({}, {"keyword": "timeout"}, {"level": "INFO"}):
        in_store = eng.aggregate(flt, histogram="timestamp", interval=interval)
        over_list = eng.aggregate_logs(eng.query_logs(flt), histogram="timestamp", interval=interval)
        assert in_store == over_list
        assert list(in_store["histogram"]) == sorted(in_store["histogram"])
        assert sum(in_store["histogram"].values()) == eng.count(flt)


MINUTE_LOGS = [
    ("2025-07-21T12:00:00Z", "ERROR", "db"),
    ("2025-07-21T12:00:30.500Z", "INFO", "db"),
    ("2025-07-21T12:00:59.999999999Z", "ERROR", "api"),
    ("2025-07-21T14:01:00+02:00", "warning", "api"),
    ("2025-07-21 12:01:59", "INFO", "api"),
    ("2025-07-21T12:03:00.001Z", "critical", "web"),
]


@pytest.fixture
def minutes(engine: LogAnalyticsEngine) -> LogAnalyticsEngine:
    """Six logs spread over 12:00-12:03 UTC, with offsets and naive times."""
    engine.ingest_logs(
        [
            LogEntry(
                ts,
                lv,
                f"event {i}",
                src,
                tags=["t1", "t2"] if i % 2 else ["t1"],
                user_id=None if i % 3 else "u",
            )
            for i, (ts, lv, src) in enumerate(MINUTE_LOGS)
        ]
    )
    return engine


def test_time_histogram_minutes(minutes: LogAnalyticsEngine) -> None:
    """interval '1m' buckets by UTC minute start, in time order, omitting empty minutes."""
    want = {"2025-07-21T12:00:00Z": 3, "2025-07-21T12:01:00Z": 2, "2025-07-21T12:03:00Z": 1}
    agg = minutes.aggregate(histogram="timestamp", interval="1m")
    assert agg == {"histogram": want}
    assert list(agg["histogram"]) == list(want)
    assert minutes.aggregate_logs(minutes.query_logs({}), histogram="timestamp", interval="1m") == agg


def test_time_histogram_seconds_and_hours(minutes: LogAnalyticsEngine) -> None:
    """Buckets of 30 s and 1 h are aligned to UTC boundaries too."""
    assert minutes.aggregate(histogram="timestamp", interval="30s")["histogram"] == {
        "2025-07-21T12:00:00Z": 1,
        "2025-07-21T12:00:30Z": 2,
        "2025-07-21T12:01:00Z": 1,
        "2025-07-21T12:01:30Z": 1,
        "2025-07-21T12:03:00Z": 1,
    }
    assert minutes.aggregate(histogram="timestamp", interval="1h")["histogram"] == {"2025-07-21T12:00:00Z": 6}


def test_histogram_on_level(minutes: LogAnalyticsEngine) -> None:
    """A histogram on level counts each (folded) level."""
    want = {"ERROR": 2, "INFO": 2, "WARN": 1, "FATAL": 1}
    assert minutes.aggregate(histogram="level") == {"histogram": want}
    assert minutes.aggregate_logs(minutes.query_logs({}), histogram="level") == {"histogram": want}


def test_group_by_with_filter(minutes: LogAnalyticsEngine) -> None:
    """group_by counts only the logs the filters select."""
    assert minutes.aggregate({"min_severity": 40}, group_by="source") == {
        "group_by": {"db": 1, "api": 1, "web": 1}
    }


def test_top_n_shape_and_order(minutes: LogAnalyticsEngine) -> None:
    """top_n gives `top_{n}_{field}`: (value, count) pairs, most frequent first, at most n."""
    agg = minutes.aggregate(top_n={"source": 2, "level": 1})
    assert agg == {"top_2_source": [("api", 3), ("db", 2)], "top_1_level": [("ERROR", 2)]}
    assert minutes.aggregate_logs(minutes.query_logs({}), top_n={"source": 2, "level": 1}) == agg


def test_tags_counted_per_element(minutes: LogAnalyticsEngine) -> None:
    """Each tag of a log is counted once (list fields count every element)."""
    want = {"t1": 6, "t2": 3}
    assert minutes.aggregate(group_by="tags")["group_by"] == want
    assert minutes.aggregate_logs(minutes.query_logs({}), group_by="tags")["group_by"] == want


def test_none_values_skipped(minutes: LogAnalyticsEngine) -> None:
    """Logs whose field is None do not appear as a group."""
    assert minutes.aggregate(group_by="user_id")["group_by"] == {"u": 2}
    assert minutes.aggregate_logs(minutes.query_logs({}), group_by="user_id")["group_by"] == {"u": 2}
    assert minutes.aggregate(group_by="metadata.nothing")["group_by"] == {}


def test_aggregate_logs_readme_shape(engine: LogAnalyticsEngine) -> None:
    """The README call shape: group_by source, histogram level, top_n tags, over a query result."""
    engine.ingest_logs(
        [
            LogEntry("2025-07-21T11:30:00Z", "ERROR", "a", "db", tags=["db", "critical"]),
            LogEntry("2025-07-21T11:31:00Z", "ERROR", "b", "api", tags=["api"]),
            LogEntry("2025-07-21T11:32:00Z", "INFO", "c", "api", tags=["api"]),
        ]
    )
    results = engine.query_logs({"start_time": "2025-07-21T11:00:00Z"})
    agg = engine.aggregate_logs(results, group_by="source", histogram="level", top_n={"tags": 5})
    assert agg == {
        "group_by": {"api": 2, "db": 1},
        "histogram": {"ERROR": 2, "INFO": 1},
        "top_5_tags": [("api", 2), ("critical", 1), ("db", 1)],
    }


def test_empty_inputs(engine: LogAnalyticsEngine) -> None:
    """Aggregating nothing gives empty shapes, and no arguments give an empty dict."""
    assert engine.aggregate(group_by="level", histogram="timestamp", top_n={"tags": 3}) == {
        "group_by": {},
        "histogram": {},
        "top_3_tags": [],
    }
    assert engine.aggregate_logs([], group_by="level") == {"group_by": {}}
    assert engine.aggregate_logs([]) == {}


def test_bad_interval_is_query_error(minutes: LogAnalyticsEngine) -> None:
    """An interval that is not a positive duration is a QueryError."""
    for bad in ("soon", "0m", -5):
        with pytest.raises(QueryError):
            minutes.aggregate(histogram="timestamp", interval=bad)
        with pytest.raises(QueryError):
            minutes.aggregate_logs(minutes.query_logs({}), histogram="timestamp", interval=bad)
