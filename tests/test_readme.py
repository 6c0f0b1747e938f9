"""The library usage of the original README (spec/original-README.md), run as written.

Each test holds one README code block verbatim (between `# --- README ---` and `# --- end ---`),
followed by assertions on what it produced. Setup the README leaves implicit (log1/log2, a
logs.jsonl file, data for the queries to find) comes before the block. Where the README's own
expectation is not kept (an original defect), a comment says so.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from log_analytics_engine import LogAnalyticsEngine, LogEntry


def test_basic_usage() -> None:
    """Getting Started / Basic Usage: create an engine and ingest one log."""
    # --- README ---
    from log_analytics_engine import LogAnalyticsEngine, LogEntry

    # Initialize the engine
    engine = LogAnalyticsEngine()

    # Ingest a single log
    log = LogEntry(
        timestamp="2025-07-21T12:00:00Z",
        level="ERROR",
        message="Database connection failed",
        source="db",
        tags=["db", "critical"],
    )
    engine.ingest_log(log)
    # --- end ---
    [stored] = engine.query_logs({})
    assert stored.to_dict() == log.to_dict()
    assert stored.timestamp == "2025-07-21T12:00:00Z"
    assert stored.severity_score == 40
    assert engine.get_stats()["tags"] == {"db": 1, "critical": 1}
    engine.close()


def test_advanced_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    """Advanced Configuration: an alert rule plus a notification hook; 3 errors in 2 minutes fire it."""
    # --- README ---
    from log_analytics_engine import AlertRule, AlertSeverity, LogAnalyticsEngine

    # Initialize with alert rule
    engine = LogAnalyticsEngine()

    # Define and add an alert rule
    rule = AlertRule(
        name="High Error Rate",
        description="Trigger if 3+ ERROR logs in 2 minutes",
        conditions={"level": "ERROR"},
        severity=AlertSeverity.HIGH,
        threshold=3,
        time_window=120,  # seconds
        cooldown=60,
    )
    engine.add_alert_rule(rule)

    # Add external notification hook
    def notify(alert):  # type: ignore[no-untyped-def]
        print(f"External notification: {alert.message}")

    engine.add_alert_notification_hook(notify)
    # --- end ---
    now = dt.datetime.now(dt.UTC)
    engine.ingest_logs([LogEntry(now - dt.timedelta(seconds=s), "ERROR", f"boom {s}") for s in (30, 20)])
    assert engine.get_alerts() == []
    engine.ingest_log(LogEntry(now, "ERROR", "boom 0"))
    [alert] = engine.get_alerts()
    assert alert.rule_name == "High Error Rate"
    assert alert.count == 3
    assert alert.severity is AlertSeverity.HIGH
    expected = "External notification: Alert 'High Error Rate' triggered: 3 matches in 120s."
    out = ""
    deadline = time.monotonic() + 10  # hooks may run on a worker thread
    while expected not in out and time.monotonic() < deadline:
        time.sleep(0.01)
        out += capsys.readouterr().out
    engine.close()
    out += capsys.readouterr().out
    assert out.count(expected) == 1


@pytest.fixture
def engine_with_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LogAnalyticsEngine]:
    """The README's `engine` with a spread of logs for the use-case blocks; cwd is a temp dir."""
    monkeypatch.chdir(tmp_path)
    engine = LogAnalyticsEngine()
    engine.ingest_logs(
        [
            LogEntry("2025-07-21T10:59:59Z", "ERROR", "too early", "db", tags=["db"]),
            LogEntry(
                "2025-07-21T11:00:00Z", "ERROR", "Database connection failed", "db", tags=["db", "critical"]
            ),
            LogEntry("2025-07-21T11:30:00Z", "WARN", "Cache miss for user 42", "cache", tags=["api"]),
            LogEntry("2025-07-21T11:45:00Z", "ERROR", "Upstream cache timeout", "api", tags=["api"]),
            LogEntry("2025-07-21T11:50:00Z", "INFO", "cached response served", "api", tags=["api"]),
            LogEntry("2025-07-21T12:00:00Z", "error", "Payment declined", "billing", tags=["payments"]),
            LogEntry("2025-07-21T12:00:00.500Z", "ERROR", "late by half a second", "db", tags=["db"]),
        ]
    )
    yield engine
    engine.close()


def test_batch_and_file_ingestion(
    engine_with_logs: LogAnalyticsEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    """Use case 1, Log Ingestion: ingest_logs and ingest_logs_from_file('logs.jsonl', 'jsonl')."""
    engine = engine_with_logs
    log1 = LogEntry("2025-07-21T12:01:00Z", "INFO", "batch one", "api")
    log2 = LogEntry("2025-07-21T12:02:00Z", "INFO", "batch two", "api")
    Path("logs.jsonl").write_text(
        "".join(
            json.dumps({"timestamp": f"2025-07-21T12:0{i}:30Z", "level": "INFO", "message": f"from file {i}"})
            + "\n"
            for i in range(4)
        )
    )
    # --- README ---
    # Batch ingestion
    engine.ingest_logs([log1, log2])

    # File ingestion (JSONL or text)
    metrics = engine.ingest_logs_from_file("logs.jsonl", file_type="jsonl")
    print(metrics)  # {'file': ..., 'count': ..., 'duration_sec': ..., 'logs_per_sec': ...}
    # --- end ---
    assert {"file", "count", "duration_sec", "logs_per_sec"} <= set(metrics)
    assert metrics["file"] == "logs.jsonl"
    assert metrics["count"] == 4
    assert "'count': 4" in capsys.readouterr().out
    assert engine.count() == 7 + 2 + 4
    assert engine.count({"keyword": "batch"}) == 2
    assert engine.count({"keyword": "file"}) == 4


def test_querying(engine_with_logs: LogAnalyticsEngine) -> None:
    """Use case 2, Querying Logs: each README query, with the logs each should return."""
    engine = engine_with_logs
    # --- README ---
    # Query by time range and level
    results = engine.query_logs(
        {"start_time": "2025-07-21T11:00:00Z", "end_time": "2025-07-21T12:00:00Z", "level": "ERROR"}
    )
    # --- end ---
    # both bounds inclusive; 12:00:00.500Z is after 12:00:00Z (the original compared strings: defect 2)
    assert [r.message for r in results] == [
        "Database connection failed",
        "Upstream cache timeout",
        "Payment declined",
    ]

    # --- README ---
    # Query by keyword
    results = engine.query_logs({"keyword": "cache"})
    # --- end ---
    # whole word, any case: "cached" is not "cache"
    assert [r.message for r in results] == ["Cache miss for user 42", "Upstream cache timeout"]

    # --- README ---
    # Query by tags or source
    results = engine.query_logs({"tags": ["api"], "min_severity": 30})
    # --- end ---
    # only logs tagged api (the original's content-equality made tag queries return others: defect 1)
    assert [r.message for r in results] == ["Cache miss for user 42", "Upstream cache timeout"]

    # --- README ---
    # Advanced: sorting and pagination
    results = engine.query_logs({"level": "ERROR"}, sort_by="timestamp", sort_desc=True, page=0, page_size=50)
    # --- end ---
    assert [r.timestamp for r in results] == [
        "2025-07-21T12:00:00.500Z",
        "2025-07-21T12:00:00Z",
        "2025-07-21T11:45:00Z",
        "2025-07-21T11:00:00Z",
        "2025-07-21T10:59:59Z",
    ]


def test_aggregation(engine_with_logs: LogAnalyticsEngine, capsys: pytest.CaptureFixture[str]) -> None:
    """Use case 3, Aggregation: aggregate_logs over the previous query's results."""
    engine = engine_with_logs
    results = engine.query_logs({"level": "ERROR"}, sort_by="timestamp", sort_desc=True, page=0, page_size=50)
    # --- README ---
    agg = engine.aggregate_logs(results, group_by="source", histogram="level", top_n={"tags": 5})
    print(agg)
    # --- end ---
    assert agg == {
        "group_by": {"db": 3, "api": 1, "billing": 1},
        "histogram": {"ERROR": 5},
        "top_5_tags": [("db", 3), ("api", 1), ("critical", 1), ("payments", 1)],
    }
    assert "top_5_tags" in capsys.readouterr().out
    # the same shapes computed in the store
    assert (
        engine.aggregate({"level": "ERROR"}, group_by="source", histogram="level", top_n={"tags": 5}) == agg
    )


def test_alerting_and_notification(
    engine_with_logs: LogAnalyticsEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    """Use case 4, Alerting & Notification: list alerts, persist them, load them back."""
    from log_analytics_engine import AlertRule, AlertSeverity

    engine = engine_with_logs
    engine.add_alert_rule(
        AlertRule("Any Error", "one error", {"level": "ERROR"}, AlertSeverity.MEDIUM, 1, 300, 600)
    )
    engine.ingest_log(LogEntry(None, "ERROR", "fresh failure", "db"))
    # --- README ---
    # Retrieve triggered alerts
    alerts = engine.get_alerts()
    for alert in alerts:
        print(alert)

    # Persist and reload alerts
    engine.persist_alerts_to_file("alerts.jsonl")
    engine.load_alerts_from_file("alerts.jsonl")
    # --- end ---
    assert len(alerts) == 1
    assert "Alert 'Any Error' triggered: 1 matches in 300s." in capsys.readouterr().out
    # reloading the same file adds nothing (the original replaced the list; now it appends, de-duplicated)
    assert [a.to_dict() for a in engine.get_alerts()] == [a.to_dict() for a in alerts]
    saved = json.loads(Path("alerts.jsonl").read_text().splitlines()[0])
    assert saved["severity"] == "medium"  # the original wrote "AlertSeverity.MEDIUM" (defect 9)
    assert saved["sample_logs"][0]["message"] == "fresh failure"


def test_metrics_and_dashboard(
    engine_with_logs: LogAnalyticsEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    """Use case 5, Metrics & Dashboard Integration: stats, Prometheus text and JSON metrics."""
    engine = engine_with_logs
    # --- README ---
    # Get summary stats
    stats = engine.get_stats()
    print(stats)

    # Export metrics for Prometheus
    prom_metrics = engine.export_metrics_prometheus()
    print(prom_metrics)

    # Export metrics as JSON for dashboards
    json_metrics = engine.export_metrics_json()
    print(json_metrics)
    # --- end ---
    assert stats["total_logs"] == 7
    assert stats["levels"] == {"ERROR": 5, "WARN": 1, "INFO": 1}
    assert stats["sources"] == {"db": 3, "api": 2, "cache": 1, "billing": 1}
    assert stats["tags"] == {"api": 3, "db": 3, "critical": 1, "payments": 1}
    assert isinstance(stats["keywords"], int)
    assert stats["keywords"] > 10
    assert json_metrics["total_logs"] == 7
    assert "loganalytics_total_logs 7.0" in prom_metrics
    names = {f.name for f in text_string_to_metric_families(prom_metrics)}
    assert {"loganalytics_total_logs", "loganalytics_logs_level", "loganalytics_logs_source"} <= names
    assert "loganalytics_total_logs" in capsys.readouterr().out


def test_custom_pre_ingest_hook(engine_with_logs: LogAnalyticsEngine) -> None:
    """Extending the Engine / Custom Pre-Ingest Hook: every later log gets metadata env=production."""
    engine = engine_with_logs

    # --- README ---
    def enrich_log(log: LogEntry):  # type: ignore[no-untyped-def]
        log.metadata["env"] = "production"
        return log

    engine.add_pre_ingest_hook(enrich_log)
    # --- end ---
    engine.ingest_logs([LogEntry("2025-07-21T12:05:00Z", "INFO", "after hook", "api")])
    [after] = engine.query_logs({"keyword": "after"})
    assert after.metadata == {"env": "production"}
    assert engine.count({"metadata.env": "production"}) == 1
    assert engine.count() == 8


def test_api_reference_logentry_members() -> None:
    """API Reference / LogEntry: the listed fields, properties and matches_filter exist and work."""
    log = LogEntry("2025-07-21T12:00:00Z", "ERROR", "m", "s", tags=["t"], metadata={"k": 1})
    for name in (
        "timestamp",
        "level",
        "message",
        "source",
        "tags",
        "metadata",
        "severity_score",
        "age_seconds",
    ):
        assert hasattr(log, name), name
    assert log.age_seconds > 0
    assert log.matches_filter({"level": "ERROR", "tags": ["t"]})


def test_api_reference_alert_members() -> None:
    """API Reference / AlertRule and Alert: the listed attributes exist."""
    from log_analytics_engine import Alert, AlertRule, AlertSeverity

    rule = AlertRule("n", "d", {"level": "ERROR"}, AlertSeverity.LOW)
    for name in (
        "name",
        "description",
        "conditions",
        "severity",
        "threshold",
        "time_window",
        "cooldown",
        "enabled",
    ):
        assert hasattr(rule, name), name
    assert (rule.threshold, rule.time_window, rule.cooldown, rule.enabled) == (1, 300, 600, True)
    alert = Alert("n", "m", AlertSeverity.LOW, 1.0, 1, [], {})
    for name in ("rule_name", "message", "severity", "triggered_at", "count", "sample_logs", "metadata"):
        assert hasattr(alert, name), name
