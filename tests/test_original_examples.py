"""The original engine's examples (examples/*.py of DavidOgalo/Backend-Infrastructure-Toolkit,
components/log-analytics/log-analytics-engine), done again through our public API.

The examples stamp their logs with `datetime.now()` and pick levels, sources and messages at random;
here the data comes from a seeded generator around a frozen "now" that is also the engine's clock,
and every expected figure is computed from the generated data, not written in. The examples'
whole-second `%Y-%m-%dT%H:%M:%SZ` timestamps are kept.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Iterator

import pytest

from conftest import T0_S, Clock
from log_analytics_engine import AlertRule, AlertSeverity, LogAnalyticsEngine, LogEntry
from log_analytics_engine.model import tokenize

NOW = dt.datetime.fromtimestamp(T0_S, dt.UTC)
LEVELS = ["INFO", "DEBUG", "WARN", "ERROR"]
SOURCES = ["auth", "api", "db", "worker"]
TAG_CHOICES = ["auth", "api", "db", "worker", "cache"]
MESSAGES = [
    "User login successful",
    "User login failed",
    "Database connection error",
    "API request timeout",
    "Worker started",
    "Worker stopped",
    "Cache miss",
    "Cache hit",
    "Permission denied",
    "Resource not found",
]


def stamp(when: dt.datetime) -> str:
    """The examples' timestamp text (whole seconds, Z)."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def random_log(rnd: random.Random, ago_seconds: float = 0, **fixed: object) -> LogEntry:
    """A log as the examples' random_log() makes one, `ago_seconds` before NOW."""
    fields: dict[str, object] = {
        "level": rnd.choice(LEVELS),
        "message": rnd.choice(MESSAGES),
        "source": rnd.choice(SOURCES),
        "tags": [rnd.choice(TAG_CHOICES)],
    }
    fields.update(fixed)
    return LogEntry(timestamp=stamp(NOW - dt.timedelta(seconds=ago_seconds)), **fields)  # type: ignore[arg-type]


@pytest.fixture
def engine() -> Iterator[LogAnalyticsEngine]:
    """An in-memory engine whose clock is frozen at NOW."""
    eng = LogAnalyticsEngine(clock=Clock(T0_S))
    yield eng
    eng.close()


def _alert_lines(engine: LogAnalyticsEngine) -> list[str]:
    """The line the alerting examples print per alert."""
    return [
        f"[{a.triggered_at}] {a.severity.value.upper()} {a.rule_name}: {a.message}"
        for a in engine.get_alerts()
    ]


def test_basic_usage(engine: LogAnalyticsEngine, capsys: pytest.CaptureFixture[str]) -> None:
    """basic_usage.py: one ERROR log ingested is what an ERROR query returns, and it prints."""
    log = LogEntry(
        timestamp="2025-07-21T12:00:00Z",
        level="ERROR",
        message="Database connection failed",
        source="db",
        tags=["db", "critical"],
    )
    engine.ingest_log(log)
    results = engine.query_logs({"level": "ERROR"})
    print("Queried logs:", results)
    assert [r.to_dict() for r in results] == [log.to_dict()]
    assert (
        "Queried logs: [LogEntry(timestamp='2025-07-21T12:00:00Z', level='ERROR'" in capsys.readouterr().out
    )


def test_ingest_and_query(engine: LogAnalyticsEngine) -> None:
    """ingest_and_query.py: 100 logs over the last 10 minutes; ERROR logs of the last 5 minutes by a
    time range, 'cache' logs by keyword, and the stats, each as the data says."""
    rnd = random.Random(7)
    logs = [random_log(rnd, rnd.randint(0, 600)) for _ in range(100)]
    for log in logs:
        engine.ingest_log(log)
    start, end = stamp(NOW - dt.timedelta(minutes=5)), stamp(NOW)
    error_logs = engine.query_logs({"start_time": start, "end_time": end, "level": "ERROR"})
    expected = [g for g in logs if g.level == "ERROR" and start <= g.timestamp <= end]
    assert 0 < len(expected) < len([g for g in logs if g.level == "ERROR"])  # the range matters
    # oldest first; logs of the same second in ingest order
    assert [r.to_dict() for r in error_logs] == [
        g.to_dict() for g in sorted(expected, key=lambda g: g.timestamp)
    ]
    cache_logs = engine.query_logs({"keyword": "cache"})
    assert len(cache_logs) == sum("cache" in tokenize(g.message) for g in logs)
    assert {r.message for r in cache_logs} <= {"Cache miss", "Cache hit"}
    stats = engine.get_stats()
    assert stats["total_logs"] == 100
    assert stats["levels"] == dict(Counter(g.level for g in logs))


def test_alerting_demo(engine: LogAnalyticsEngine, capsys: pytest.CaptureFixture[str]) -> None:
    """alerting_demo.py: five ERROR logs one by one fire the 3-in-120 s rule once (at the third;
    the 60 s cooldown holds back the rest), and the alert line prints."""
    rnd = random.Random(3)
    engine.add_alert_rule(
        AlertRule(
            name="High Error Rate",
            description="Trigger if 3+ ERROR logs in 2 minutes",
            conditions={"level": "ERROR"},
            severity=AlertSeverity.HIGH,
            threshold=3,
            time_window=120,
            cooldown=60,
        )
    )
    fired_after = []
    for _ in range(5):
        engine.ingest_log(random_log(rnd, level="ERROR", tags=[rnd.choice(["api", "db", "worker"])]))
        fired_after.append(len(engine.get_alerts()))
    assert fired_after == [0, 0, 1, 1, 1]
    [alert] = engine.get_alerts()
    assert alert.count == 3
    assert len(alert.sample_logs) == 3
    print(f"\nTriggered alerts: {len(engine.get_alerts())}")
    for line in _alert_lines(engine):
        print(line)
    out = capsys.readouterr().out
    assert "Triggered alerts: 1" in out
    assert (
        "[2025-07-21 12:00:00+00:00] HIGH High Error Rate: "
        "Alert 'High Error Rate' triggered: 3 matches in 120s." in out
    )


def test_custom_alerts(engine: LogAnalyticsEngine, capsys: pytest.CaptureFixture[str]) -> None:
    """custom_alerts.py: two ERROR logs from db with 'timeout' fire the rule on level, source and
    keywords together; logs missing one of them do not count."""
    engine.add_alert_rule(
        AlertRule(
            name="DB Timeout Spike",
            description="Trigger if 2+ ERROR logs from db with 'timeout' in 1 minute",
            conditions={"level": "ERROR", "source": "db", "keywords": ["timeout"]},
            severity=AlertSeverity.CRITICAL,
            threshold=2,
            time_window=60,
            cooldown=30,
        )
    )
    near_misses = [
        LogEntry(stamp(NOW), "WARN", "DB timeout warning", source="db"),
        LogEntry(stamp(NOW), "ERROR", "API timeout", source="api"),
        LogEntry(stamp(NOW), "ERROR", "DB refused", source="db"),
    ]
    logs = [
        LogEntry(timestamp=stamp(NOW), level="ERROR", message="DB timeout error", source="db"),
        LogEntry(timestamp=stamp(NOW), level="ERROR", message="DB timeout again", source="db"),
    ]
    for log in [*near_misses, *logs]:
        engine.ingest_log(log)
    [alert] = engine.get_alerts()
    assert (alert.count, alert.severity) == (2, AlertSeverity.CRITICAL)
    assert [s.message for s in alert.sample_logs] == ["DB timeout error", "DB timeout again"]
    print(f"Triggered alerts: {len(engine.get_alerts())}")
    for line in _alert_lines(engine):
        print(line)
    assert "CRITICAL DB Timeout Spike: Alert 'DB Timeout Spike' triggered: 2 matches in 60s." in (
        capsys.readouterr().out
    )


def test_dashboard_metrics(engine: LogAnalyticsEngine) -> None:
    """dashboard_metrics.py: after 200 logs the stats give the total, counts by level and source,
    and the number of distinct words, as the data has them."""
    rnd = random.Random(11)
    logs = [random_log(rnd) for _ in range(200)]
    for log in logs:
        engine.ingest_log(log)
    stats = engine.get_stats()
    assert stats["total_logs"] == 200
    assert stats["levels"] == dict(Counter(g.level for g in logs))
    assert stats["sources"] == dict(Counter(g.source for g in logs))
    assert stats["keywords"] == len({w for g in logs for w in tokenize(g.message)})
    assert stats["tags"] == dict(Counter(t for g in logs for t in g.tags))


def test_multi_tenant_demo(engine: LogAnalyticsEngine) -> None:
    """multi_tenant_demo.py: a tag query returns exactly one tenant's logs (the original returned
    logs of every tenant: defect 1)."""
    rnd = random.Random(5)
    tenants = ["tenantA", "tenantB", "tenantC"]
    logs = []
    for _ in range(100):
        log = LogEntry(
            timestamp=stamp(NOW),
            level=rnd.choice(["INFO", "ERROR"]),
            message=rnd.choice(["Login", "Logout", "DB error", "API timeout"]),
            source=rnd.choice(["api", "db"]),
            tags=[rnd.choice(tenants)],
        )
        logs.append(log)
        engine.ingest_log(log)
    tenant_logs = engine.query_logs({"tags": ["tenantB"]})
    expected = sum(g.tags == ["tenantB"] for g in logs)
    assert 0 < expected < 100
    assert len(tenant_logs) == expected
    assert all(g.tags == ["tenantB"] for g in tenant_logs)


def test_retention_archival(engine: LogAnalyticsEngine) -> None:
    """retention_archival.py: of 48 hourly logs, a [now-24h, now] range holds 25 (both bounds
    inclusive) and an `end_time` alone selects the 24 at or before the cutoff (the original ignored
    a one-sided bound and returned all 48: defect 2)."""
    for i in range(48):
        engine.ingest_log(
            LogEntry(
                timestamp=stamp(NOW - dt.timedelta(hours=i)),
                level="INFO",
                message=f"Hourly log {i}",
                source="worker",
            )
        )
    cutoff = stamp(NOW - dt.timedelta(hours=24))
    recent_logs = engine.query_logs({"start_time": cutoff, "end_time": stamp(NOW)})
    assert sorted(int(g.message.split()[-1]) for g in recent_logs) == list(range(25))
    old_logs = engine.query_logs({"end_time": cutoff})
    assert sorted(int(g.message.split()[-1]) for g in old_logs) == list(range(24, 48))


def test_streaming_ingest(engine: LogAnalyticsEngine, capsys: pytest.CaptureFixture[str]) -> None:
    """streaming_ingest.py: logs ingested one at a time as they arrive are each stored and printed,
    and the final stats count them (the example loops until Ctrl+C every 0.5 s; here 30 arrivals,
    one second of event time apart, without sleeping)."""
    rnd = random.Random(13)
    arrived = []
    for i in range(30):
        log = random_log(rnd, ago_seconds=30 - i)
        engine.ingest_log(log)
        arrived.append(log)
        print(f"Ingested: [{log.timestamp}] {log.level} {log.source}: {log.message}")
        assert engine.count() == i + 1  # searchable as soon as ingest_log returns
    print("Final stats:", engine.get_stats())
    out = capsys.readouterr().out
    assert out.count("Ingested: [") == 30
    assert "Final stats: {'total_logs': 30" in out
    assert [g.message for g in engine.query_logs({})] == [g.message for g in arrived]
