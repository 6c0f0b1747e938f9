"""The original engine's own tests (tests/unit_test.py, integration_test.py, performance_test.py of
DavidOgalo/Backend-Infrastructure-Toolkit, components/log-analytics/log-analytics-engine), done again
through our public API, and the alerts file its `persist_alerts_to_file` wrote.

Its tests used the wall clock with logs stamped 2025-07-21T12:00:00Z, so its alert tests passed only
on that day (defect 11); here the engine's clock is frozen just after that time. Where they read
internals (`engine.all_logs`, `engine.level_index`), the public equivalent is used (README,
"What the original's tests read that is internal").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

from conftest import T0_S, Clock
from log_analytics_engine import Alert, AlertRule, AlertSeverity, LogAnalyticsEngine, LogEntry

# a moment after the logs' 12:00:00Z, inside the rules' default 300 s window
JUST_AFTER_S = T0_S + 2


@pytest.fixture
def engine() -> Iterator[LogAnalyticsEngine]:
    """A fresh in-memory engine on a clock frozen at 2025-07-21T12:00:02Z (the original's setUp)."""
    eng = LogAnalyticsEngine(clock=Clock(JUST_AFTER_S))
    yield eng
    eng.close()


# -- unit_test.py ---------------------------------------------------------------------------------


def test_ingest_log(engine: LogAnalyticsEngine) -> None:
    """One ingested INFO log is the one stored log and the first INFO log (all_logs, level_index)."""
    log = LogEntry(timestamp="2025-07-21T12:00:00Z", level="INFO", message="Test log", source="test")
    engine.ingest_log(log)
    assert engine.count() == 1  # len(engine.all_logs)
    assert engine.get_stats()["total_logs"] == 1
    assert engine.query_logs({"level": "INFO"})[0].message == "Test log"  # level_index["INFO"][0]


def test_query_logs(engine: LogAnalyticsEngine) -> None:
    """A level query over a batch returns only the log of that level."""
    log1 = LogEntry(timestamp="2025-07-21T12:00:00Z", level="ERROR", message="Error log", source="api")
    log2 = LogEntry(timestamp="2025-07-21T12:01:00Z", level="INFO", message="Info log", source="api")
    engine.ingest_logs([log1, log2])
    results = engine.query_logs({"level": "ERROR"})
    assert len(results) == 1
    assert results[0].level == "ERROR"


def test_alert_rule(engine: LogAnalyticsEngine) -> None:
    """A threshold-1 ERROR rule has fired by the time ingest_log of one ERROR log returns."""
    rule = AlertRule(
        name="TestAlert",
        description="Test",
        conditions={"level": "ERROR"},
        severity=AlertSeverity.HIGH,
        threshold=1,
    )
    engine.add_alert_rule(rule)
    log = LogEntry(timestamp="2025-07-21T12:00:00Z", level="ERROR", message="Error log", source="api")
    engine.ingest_log(log)
    alerts = engine.get_alerts()
    assert any(a.rule_name == "TestAlert" for a in alerts)
    [alert] = alerts
    assert [s.message for s in alert.sample_logs] == ["Error log"]
    assert alert.triggered_at == dt.datetime.fromtimestamp(JUST_AFTER_S, dt.UTC)


# -- integration_test.py --------------------------------------------------------------------------


def test_batch_file_ingestion_and_metrics(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """A JSONL file of two logs reports count 2 and stores both."""
    logs = [
        {"timestamp": "2025-07-21T12:00:00Z", "level": "INFO", "message": "Log1", "source": "api"},
        {"timestamp": "2025-07-21T12:01:00Z", "level": "ERROR", "message": "Log2", "source": "db"},
    ]
    file_path = tmp_path / "test_logs.jsonl"
    file_path.write_text("".join(json.dumps(log) + "\n" for log in logs), encoding="utf-8")
    metrics = engine.ingest_logs_from_file(str(file_path), file_type="jsonl")
    assert metrics["count"] == 2
    assert [log.message for log in engine.query_logs({})] == ["Log1", "Log2"]


def test_alert_notification_hook(engine: LogAnalyticsEngine) -> None:
    """A notification hook has been called with the alert by the time ingest_log returns."""
    notifications: list[str] = []

    def notify(alert: Alert) -> None:
        notifications.append(alert.message)

    engine.add_alert_notification_hook(notify)
    rule = AlertRule(
        name="IntegrationAlert",
        description="Test",
        conditions={"level": "ERROR"},
        severity=AlertSeverity.HIGH,
        threshold=1,
    )
    engine.add_alert_rule(rule)
    log = LogEntry(timestamp="2025-07-21T12:00:00Z", level="ERROR", message="Error log", source="api")
    engine.ingest_log(log)
    assert any("IntegrationAlert" in msg for msg in notifications)
    assert notifications == ["Alert 'IntegrationAlert' triggered: 1 matches in 300s."]


# -- performance_test.py --------------------------------------------------------------------------


def test_high_throughput_ingestion(engine: LogAnalyticsEngine) -> None:
    """A batch of 1,000 logs is stored whole (the original also asserted it took under 2 s; timings
    belong in bench/, so the duration is only reported here)."""
    logs = [
        LogEntry(timestamp="2025-07-21T12:00:00Z", level="INFO", message=f"Log {i}", source="perf")
        for i in range(1000)
    ]
    start = time.perf_counter()
    assert engine.ingest_logs(logs) == 1000
    print(f"ingested 1,000 logs in {time.perf_counter() - start:.3f} s")
    assert engine.count() == 1000  # len(engine.all_logs)
    assert len({log.message for log in engine.query_logs({"source": "perf"})}) == 1000


# -- the alerts file the original wrote -----------------------------------------------------------

# The original persisted `json.dumps(alert.__dict__, default=str)`: its Alert held an AlertSeverity
# enum, a datetime and LogEntry dataclasses, so str() wrote them. These stand-ins have the same
# names and fields, so `str()` gives the same text.
OriginalSeverity = Enum("AlertSeverity", {"LOW": "low", "MEDIUM": "medium", "HIGH": "high"})  # type: ignore[misc]


@dataclasses.dataclass
class OriginalLogEntry:
    """The original's LogEntry fields, in order, so the dataclass repr reads as the original's did."""

    __qualname__ = "LogEntry"
    timestamp: str
    level: str
    message: str
    source: str = ""
    thread_id: str | None = None
    request_id: str | None = None
    user_id: str | None = None
    tags: list[str] = dataclasses.field(default_factory=list)
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    parsed_time: dt.datetime | None = None


def _original_line(**alert: Any) -> str:
    return json.dumps(alert, default=str) + "\n"


def test_load_an_alerts_file_the_original_wrote(tmp_path: Path, engine: LogAnalyticsEngine) -> None:
    """Lines as the original wrote them (severity `AlertSeverity.HIGH`, `str(datetime)` times, sample
    logs as repr text, objects in metadata) load as complete alerts, samples as LogEntry objects."""
    fired = dt.datetime(2025, 7, 21, 12, 0, 5, 123456, tzinfo=dt.UTC)
    utc = dt.UTC
    samples = [
        OriginalLogEntry(
            "2025-07-21T12:00:00Z",
            "ERROR",
            "Database 'main' said: \"refused\"\nretrying",
            "db",
            request_id="r-1",
            tags=["db", "critical"],
            metadata={"attempt": 2, "at": fired, "nested": {"ok": True}},
            parsed_time=dt.datetime(2025, 7, 21, 12, 0, tzinfo=utc),
        ),
        OriginalLogEntry(
            "2025-07-21 12:00:01", "ERROR", "naive time", parsed_time=dt.datetime(2025, 7, 21, 12, 0, 1)
        ),
    ]
    path = tmp_path / "alerts.jsonl"
    path.write_text(
        _original_line(
            rule_name="High Error Rate",
            message="Alert 'High Error Rate' triggered: 2 matches in 120s.",
            severity=OriginalSeverity.HIGH,
            triggered_at=fired,
            count=2,
            sample_logs=samples,
            metadata={},
        )
        + _original_line(
            rule_name="Quiet",
            message="Alert 'Quiet' triggered: 1 matches in 300s.",
            severity=OriginalSeverity.LOW,
            triggered_at=fired.replace(microsecond=0, minute=30),
            count=1,
            sample_logs=[],
            metadata={},
        )
    )
    line = json.loads(path.read_text().splitlines()[0])
    assert line["severity"] == "AlertSeverity.HIGH"  # the stand-ins write what the original wrote
    assert line["triggered_at"] == "2025-07-21 12:00:05.123456+00:00"
    assert line["sample_logs"][0].startswith("LogEntry(timestamp='2025-07-21T12:00:00Z', level='ERROR'")

    assert engine.load_alerts_from_file(path) == 2
    quiet, high = engine.get_alerts()
    assert (quiet.rule_name, quiet.severity, quiet.sample_logs) == ("Quiet", AlertSeverity.LOW, [])
    assert quiet.triggered_at == dt.datetime(2025, 7, 21, 12, 30, 5, tzinfo=dt.UTC)
    assert high.severity is AlertSeverity.HIGH
    assert high.triggered_at == fired
    assert high.count == 2
    first, second = high.sample_logs
    assert isinstance(first, LogEntry)
    assert (first.level, first.source, first.request_id, first.tags) == (
        "ERROR",
        "db",
        "r-1",
        ["db", "critical"],
    )
    assert first.message == "Database 'main' said: \"refused\"\nretrying"
    assert first.parsed_time == dt.datetime(2025, 7, 21, 12, 0, tzinfo=dt.UTC)
    # an object in metadata was written as its repr: kept as that text
    assert first.metadata == {"attempt": 2, "at": repr(fired), "nested": {"ok": True}}
    assert second.parsed_time == dt.datetime(2025, 7, 21, 12, 0, 1, tzinfo=dt.UTC)  # naive = UTC
    assert engine.load_alerts_from_file(path) == 0  # known already

    # written again by us, the file round-trips without loss
    ours = tmp_path / "ours.jsonl"
    assert engine.persist_alerts_to_file(ours) == 2
    with LogAnalyticsEngine() as fresh:
        assert fresh.load_alerts_from_file(ours) == 2
        assert [a.to_dict() for a in fresh.get_alerts()] == [a.to_dict() for a in engine.get_alerts()]


def test_original_alert_line_builds_an_alert_directly() -> None:
    """`Alert(**line)` of an original line (as its own loader did) gives a complete Alert."""
    sample = OriginalLogEntry(
        "2025-07-21T12:00:00Z", "WARN", "w", parsed_time=dt.datetime(2025, 7, 21, 12, 0)
    )
    data = json.loads(
        _original_line(
            rule_name="r",
            message="m",
            severity=OriginalSeverity.MEDIUM,
            triggered_at=dt.datetime(2025, 7, 21, 12, 0, 9, tzinfo=dt.UTC),
            count=1,
            sample_logs=[sample],
            metadata={"k": "v"},
        )
    )
    alert = Alert(**data)
    assert alert.severity is AlertSeverity.MEDIUM
    assert alert.triggered_at == dt.datetime(2025, 7, 21, 12, 0, 9, tzinfo=dt.UTC)
    assert [(s.level, s.message) for s in alert.sample_logs] == [("WARN", "w")]


@pytest.mark.parametrize(
    "sample",
    [
        "LogEntry(...)",  # the placeholder is no log
        "os.system('x')",  # not a LogEntry call: never evaluated
        "LogEntry(timestamp='2025-07-21T12:00:00Z', level='INFO')",  # no message
        "LogEntry(timestamp=",  # cut short
    ],
)
def test_unreadable_original_sample_names_the_line(tmp_path: Path, sample: str) -> None:
    """A sample that is not a LogEntry repr is an IngestError naming the file's line."""
    from log_analytics_engine import IngestError

    path = tmp_path / "bad.jsonl"
    line = {"rule_name": "r", "message": "m", "severity": "AlertSeverity.LOW", "count": 1}
    path.write_text(
        "\n" + json.dumps({**line, "triggered_at": "2025-07-21 12:00:00+00:00", "sample_logs": [sample]})
    )
    with LogAnalyticsEngine() as eng, pytest.raises(IngestError, match=r"bad.jsonl:2: not an alert record"):
        eng.load_alerts_from_file(path)
