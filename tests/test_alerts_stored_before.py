"""Alerts a data directory holds from the previous version (float clock times with digits below a
microsecond, dict samples) resolve and stay resolved, and a body that no longer reads never keeps the
store shut."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import duckdb
import pytest

from conftest import Clock
from log_analytics_engine import AlertRule, LogAnalyticsEngine, LogEntry

FIRED_AT = 1_753_099_200.1234567  # what time.time() gave: sub-microsecond digits


def _store_old_alert(data_dir: Path, body: dict[str, object]) -> None:
    with LogAnalyticsEngine(data_dir, alert_interval=None):
        pass  # creates the tables
    with duckdb.connect(str(data_dir / "logs.duckdb")) as db:
        db.execute("INSERT INTO alerts VALUES (1, ?, ?, ?)", ["db errors", FIRED_AT, json.dumps(body)])


def _old_body() -> dict[str, object]:
    return {
        "rule_name": "db errors",
        "message": "Alert 'db errors' triggered: 2 matches in 60s.",
        "severity": "high",
        "triggered_at": FIRED_AT,
        "count": 2,
        "sample_logs": [LogEntry("2025-07-21T11:59:59Z", "ERROR", "db down").to_dict()],
        "metadata": {},
        "status": "firing",
    }


def test_a_firing_alert_of_the_previous_version_resolves_for_good(data_dir: Path) -> None:
    """Resolving an alert stored with a float time below the microsecond updates its row, so a reopened
    engine lists it resolved and does not resolve (and notify) it again."""
    _store_old_alert(data_dir, _old_body())
    clock = Clock(FIRED_AT + 3600)
    with LogAnalyticsEngine(data_dir, clock=clock, alert_interval=None) as engine:
        engine.add_alert_rule(AlertRule("db errors", query="level:ERROR", threshold=2, time_window=60))
        engine.evaluate_alerts()
        assert [a.status for a in engine.get_alerts()] == ["resolved"]
    notices: list[str] = []
    with LogAnalyticsEngine(data_dir, clock=clock, alert_interval=None) as engine:
        engine.add_alert_notification_hook(lambda a: notices.append(a.status), resolved=True)
        engine.evaluate_alerts()
        assert [a.status for a in engine.get_alerts()] == ["resolved"]
    assert notices == []


def test_a_stored_alert_that_no_longer_reads_is_logged_and_skipped(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An unreadable stored alert body (a sample without a timestamp) is counted and logged; the engine
    opens and lists the others."""
    body = _old_body() | {"sample_logs": [{"message": "x", "level": "ERROR"}]}
    _store_old_alert(data_dir, body)
    with caplog.at_level(logging.ERROR), LogAnalyticsEngine(data_dir, alert_interval=None) as engine:
        assert engine.get_alerts() == []
        assert engine.get_stats()["alert_unreadable_alerts"] == 1
        assert engine.count() == 0
    assert "a stored alert cannot be read" in caplog.text
