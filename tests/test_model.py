"""Tests for log_analytics_engine.model: LogEntry, level folding, severity, identity and time handling."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from log_analytics_engine import LogAnalyticsEngine, LogEntry
from log_analytics_engine.model import normalize_level, severity_of

T = "2025-07-21T12:00:00Z"


def test_fields_and_defaults() -> None:
    """A LogEntry keeps its documented fields; optional ones default to empty/None."""
    log = LogEntry(T, "ERROR", "Database connection failed")
    assert log.timestamp == T
    assert log.level == "ERROR"
    assert log.message == "Database connection failed"
    assert log.source == ""
    assert log.tags == []
    assert log.metadata == {}
    assert log.thread_id is None
    assert log.request_id is None
    assert log.user_id is None


def test_all_constructor_arguments() -> None:
    """Every argument of the original constructor is accepted, positionally in the original order too."""
    log = LogEntry(T, "INFO", "hi", "api", "t1", "r1", "u1", ["a", "b"], {"k": "v"})
    assert (log.source, log.thread_id, log.request_id, log.user_id) == ("api", "t1", "r1", "u1")
    assert log.tags == ["a", "b"]
    assert log.metadata == {"k": "v"}


def test_default_collections_are_not_shared() -> None:
    """Mutating one entry's default tags or metadata does not change another entry."""
    a = LogEntry(T, "INFO", "a")
    b = LogEntry(T, "INFO", "b")
    a.tags.append("x")
    a.metadata["k"] = 1
    assert b.tags == []
    assert b.metadata == {}


def test_caller_collections_are_copied() -> None:
    """The entry copies the tags list and metadata dict it is given."""
    tags, meta = ["a"], {"k": 1}
    log = LogEntry(T, "INFO", "a", tags=tags, metadata=meta)
    tags.append("b")
    meta["j"] = 2
    assert log.tags == ["a"]
    assert log.metadata == {"k": 1}


@pytest.mark.parametrize(
    ("level", "normal", "score"),
    [
        ("TRACE", "TRACE", 0),
        ("DEBUG", "DEBUG", 10),
        ("INFO", "INFO", 20),
        ("WARN", "WARN", 30),
        ("WARNING", "WARN", 30),
        ("warning", "WARN", 30),
        ("Warn", "WARN", 30),
        ("ERROR", "ERROR", 40),
        ("error", "ERROR", 40),
        ("FATAL", "FATAL", 50),
        ("CRITICAL", "FATAL", 50),
        ("critical", "FATAL", 50),
        ("NOTICE", "NOTICE", 20),
        ("custom", "CUSTOM", 20),
    ],
)
def test_level_folding_and_severity(level: str, normal: str, score: int) -> None:
    """Levels are upper-cased, WARNING folds to WARN, CRITICAL to FATAL; severity is the original map."""
    log = LogEntry(T, level, "m")
    assert log.level == normal
    assert log.severity_score == score
    assert normalize_level(level) == normal
    assert severity_of(normal) == score


def test_missing_level_is_info() -> None:
    """An empty or None level becomes INFO."""
    assert LogEntry(T, "", "m").level == "INFO"
    assert LogEntry(T, None, "m").level == "INFO"  # type: ignore[arg-type]


def test_level_setter_folds() -> None:
    """Assigning a level (as a hook might) folds it too."""
    log = LogEntry(T, "INFO", "m")
    log.level = "warning"
    assert log.level == "WARN"
    assert log.severity_score == 30


def test_aliases_are_one_level_in_the_store(engine: LogAnalyticsEngine) -> None:
    """WARN/WARNING and CRITICAL/FATAL are stored, counted and queried as one level each."""
    engine.ingest_logs(
        [
            LogEntry(T, "WARN", "a"),
            LogEntry(T, "WARNING", "b"),
            LogEntry(T, "warning", "c"),
            LogEntry(T, "CRITICAL", "d"),
            LogEntry(T, "fatal", "e"),
        ]
    )
    assert engine.get_stats()["levels"] == {"WARN": 3, "FATAL": 2}
    for spelling in ("WARN", "warning", "Warning"):
        assert engine.count({"level": spelling}) == 3
    for spelling in ("CRITICAL", "fatal"):
        assert engine.count({"level": spelling}) == 2
    assert {log.level for log in engine.query_logs({})} == {"WARN", "FATAL"}


def test_entries_are_distinct_by_identity() -> None:
    """Two entries with identical content are different objects: neither equal nor collapsed in a set."""
    a = LogEntry(T, "ERROR", "same", "db")
    b = LogEntry(T, "ERROR", "same", "db")
    assert a != b
    assert a == a
    assert len({a, b}) == 2


def test_identical_content_logs_are_all_stored(engine: LogAnalyticsEngine) -> None:
    """Two logs with the same time, level, message and source are both stored and both returned."""
    assert engine.ingest_logs([LogEntry(T, "ERROR", "same", "db"), LogEntry(T, "ERROR", "same", "db")]) == 2
    engine.ingest_log(LogEntry(T, "ERROR", "same", "db"))
    assert engine.count() == 3
    assert len(engine.query_logs({"keyword": "same"})) == 3
    assert engine.get_stats()["total_logs"] == 3
    assert engine.get_stats()["levels"] == {"ERROR": 3}


def test_tag_query_returns_only_matching_logs(engine: LogAnalyticsEngine) -> None:
    """Defect 1: logs differing only in tags are all kept and a tag query returns only its tenant's."""
    logs = [LogEntry(T, "INFO", "request served", "api", tags=[f"tenant-{i % 10}"]) for i in range(100)]
    engine.ingest_logs(logs)
    assert engine.get_stats()["total_logs"] == 100
    assert engine.get_stats()["tags"] == {f"tenant-{i}": 10 for i in range(10)}
    found = engine.query_logs({"tags": ["tenant-3"]})
    assert len(found) == 10
    assert all(log.tags == ["tenant-3"] for log in found)
    engine.flush()
    assert len(engine.query_logs({"tags": ["tenant-3"]})) == 10
    assert engine.count({"tags": "tenant-3"}) == 10


def test_to_dict_round_trip() -> None:
    """`LogEntry(**entry.to_dict())` rebuilds an entry with the same dict form."""
    log = LogEntry("2025-07-21T12:00:00.123456Z", "warning", "m", "api", "t", "r", "u", ["x"], {"k": [1, 2]})
    data = log.to_dict()
    assert data == {
        "timestamp": "2025-07-21T12:00:00.123456Z",
        "level": "WARN",
        "message": "m",
        "source": "api",
        "thread_id": "t",
        "request_id": "r",
        "user_id": "u",
        "tags": ["x"],
        "metadata": {"k": [1, 2]},
    }
    assert LogEntry(**data).to_dict() == data


def test_to_dict_survives_the_store(engine: LogAnalyticsEngine) -> None:
    """A stored and queried entry has the same dict form as the entry ingested."""
    log = LogEntry("2025-07-21T12:00:00.5Z", "critical", "m ü", "db", "t", "r", "u", ["a", "b"], {"n": 1.5})
    engine.ingest_log(log)
    [back] = engine.query_logs({})
    assert back.to_dict() == log.to_dict()
    assert back is not log


@pytest.mark.parametrize(
    "value",
    [
        "2025-07-21T12:00:00",
        "2025-07-21 12:00:00",
        "2025-07-21T12:00:00Z",
        "2025-07-21T14:00:00+02:00",
        "2025-07-21T07:00:00-05:00",
        dt.datetime(2025, 7, 21, 12, 0, 0),
        dt.datetime(2025, 7, 21, 12, 0, 0, tzinfo=dt.UTC),
        1753099200,
        1753099200000,
        "1753099200",
    ],
)
def test_times_are_utc(value: object) -> None:
    """Naive times are UTC and offsets are applied: every spelling gives 2025-07-21T12:00:00Z."""
    log = LogEntry(value, "INFO", "m")  # type: ignore[arg-type]
    assert log.timestamp == "2025-07-21T12:00:00Z"
    assert log.timestamp_ns == 1753099200 * 10**9


def test_naive_time_age_seconds() -> None:
    """`age_seconds` works for a naive time (the original crashed) and counts from the UTC instant."""
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(tzinfo=None)
    age = LogEntry(past.isoformat(), "INFO", "m").age_seconds
    assert 3000 < age < 4000


def test_future_time_has_negative_age() -> None:
    """A future event time gives a negative age."""
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert LogEntry(future, "INFO", "m").age_seconds < -3000


def test_fraction_sorts_after_whole_second(engine: LogAnalyticsEngine) -> None:
    """Defect 2: `12:00:00.500Z` sorts after `12:00:00Z` (and an offset time sorts by its instant)."""
    engine.ingest_logs(
        [
            LogEntry("2025-07-21T12:00:00.500Z", "INFO", "half"),
            LogEntry("2025-07-21T12:00:00Z", "INFO", "whole"),
            LogEntry("2025-07-21T13:00:00.250+01:00", "INFO", "quarter"),
            LogEntry("2025-07-21 12:00:01", "INFO", "naive"),
        ]
    )
    assert [log.message for log in engine.query_logs({})] == ["whole", "quarter", "half", "naive"]
    desc = engine.query_logs({}, sort_by="timestamp", sort_desc=True)
    assert [log.message for log in desc] == ["naive", "half", "quarter", "whole"]


def test_missing_timestamp_is_now() -> None:
    """A None or empty timestamp means "now" (the original's default), not an error."""
    before = time.time_ns()
    log = LogEntry(None, "INFO", "m")
    after = time.time_ns()
    assert log.timestamp_ns is not None
    assert before <= log.timestamp_ns <= after
    assert "timestamp_raw" not in log.metadata


def test_unparseable_timestamp_is_kept_and_counted(engine: LogAnalyticsEngine) -> None:
    """Defect 3: a bad timestamp keeps its raw text in metadata, gets the ingest time and is counted."""
    log = LogEntry("yesterday-ish", "ERROR", "odd time", metadata={"k": "v"})
    assert log.metadata == {"k": "v", "timestamp_raw": "yesterday-ish"}
    assert log.timestamp_ns is None
    before = time.time_ns()
    engine.ingest_logs([log, LogEntry(T, "INFO", "fine")])
    after = time.time_ns()
    [stored] = engine.query_logs({"keyword": "odd"})
    assert stored.metadata == {"k": "v", "timestamp_raw": "yesterday-ish"}
    assert stored.timestamp_ns is not None
    assert before <= stored.timestamp_ns <= after
    assert engine.count({"metadata.timestamp_raw": "yesterday-ish"}) == 1
    assert engine.get_stats()["ingest_errors"] == {"timestamp": 1}
    assert engine.get_stats()["total_logs"] == 2


def test_fixing_the_timestamp_clears_raw() -> None:
    """Assigning a good timestamp after a bad one removes `timestamp_raw`."""
    log = LogEntry("bad", "INFO", "m")
    log.timestamp = T
    assert log.timestamp == T
    assert "timestamp_raw" not in log.metadata


def test_matches_filter() -> None:
    """`matches_filter` applies the same filter dict meaning as `query_logs`."""
    log = LogEntry(T, "warning", "Cache miss for user", "cache", tags=["api"], metadata={"region": "eu"})
    assert log.matches_filter({"level": "WARN", "keyword": "CACHE", "tags": ["api", "db"]})
    assert log.matches_filter({"start_time": "2025-07-21T11:00:00Z", "metadata.region": "eu"})
    assert log.matches_filter({"min_severity": 30, "max_severity": 30})
    assert not log.matches_filter({"keyword": "cached"})
    assert not log.matches_filter({"end_time": "2025-07-21T11:59:59Z"})
    assert not log.matches_filter({"source": "db"})
    assert log.matches_filter({})


def test_parsed_time_is_the_event_time_as_an_aware_datetime(engine: LogAnalyticsEngine) -> None:
    """`parsed_time` (the original's field) is the event time as a UTC datetime, before and after
    the store; an offset is converted, a naive time is UTC, and microseconds are kept."""
    log = LogEntry("2025-07-21T14:00:00.123456+02:00", "INFO", "m")
    assert log.parsed_time == dt.datetime(2025, 7, 21, 12, 0, 0, 123456, tzinfo=dt.UTC)
    assert log.parsed_time is not None
    assert log.parsed_time.tzinfo is dt.UTC
    assert LogEntry("2025-07-21 12:00:00", "INFO", "m").parsed_time == dt.datetime(
        2025, 7, 21, 12, tzinfo=dt.UTC
    )
    engine.ingest_log(log)
    [stored] = engine.query_logs({})
    assert stored.parsed_time == log.parsed_time


def test_parsed_time_argument_and_setter_set_the_event_time() -> None:
    """`LogEntry(..., parsed_time=...)` and assigning `parsed_time` set the event time (naive = UTC);
    an unparseable timestamp has no parsed_time until it is given one, and keeps its raw text."""
    when = dt.datetime(2025, 7, 21, 12, 30, tzinfo=dt.UTC)
    log = LogEntry("not a time", "INFO", "m", parsed_time=when)
    assert (log.parsed_time, log.timestamp) == (when, "2025-07-21T12:30:00Z")
    assert log.metadata == {"timestamp_raw": "not a time"}
    unparsed = LogEntry("not a time", "INFO", "m")
    assert unparsed.parsed_time is None
    unparsed.parsed_time = dt.datetime(2025, 7, 21, 13, 0)
    assert unparsed.timestamp == "2025-07-21T13:00:00Z"
