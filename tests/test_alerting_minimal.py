"""Tests for alerting with the original rule shape (alerting/rules.py, evaluator.py): window,
threshold, cooldown, rule filters, hooks, stored alerts and the alert file round trip."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import T0_S, Clock, entry_at
from log_analytics_engine import (
    Alert,
    AlertRule,
    AlertSeverity,
    ConfigError,
    LogAnalyticsEngine,
    LogEntry,
)


def error_rule(**kw: object) -> AlertRule:
    """The README's rule: 3+ ERROR logs in 2 minutes, 60 s cooldown (overridable)."""
    args: dict[str, object] = {
        "name": "High Error Rate",
        "description": "Trigger if 3+ ERROR logs in 2 minutes",
        "conditions": {"level": "ERROR"},
        "severity": AlertSeverity.HIGH,
        "threshold": 3,
        "time_window": 120,
        "cooldown": 60,
    }
    args.update(kw)
    return AlertRule(**args)  # type: ignore[arg-type]


@pytest.fixture
def alerting(clock: Clock) -> Iterator[LogAnalyticsEngine]:
    """An in-memory engine on the test clock with the README's error rule."""
    eng = LogAnalyticsEngine(clock=clock)
    eng.add_alert_rule(error_rule())
    yield eng
    eng.close()


def errors(clock: Clock, *ago: float, message: str = "db failure") -> list[LogEntry]:
    """ERROR logs whose event times are the given seconds before the clock's now."""
    return [entry_at(clock.now - a, "ERROR", f"{message} {i}") for i, a in enumerate(ago)]


def test_fires_at_threshold_within_window(clock: Clock) -> None:
    """The rule fires once the window holds `threshold` matching logs; the alert has the original shape."""
    t = [float(T0_S)]
    eng = LogAnalyticsEngine(clock=lambda: t[0])
    got: list[Alert] = []
    eng.add_alert_rule(error_rule())
    eng.add_alert_notification_hook(got.append)
    try:
        eng.ingest_logs([entry_at(t[0] - 100, "ERROR", "first"), entry_at(t[0] - 50, "ERROR", "second")])
        assert eng.get_alerts() == []
        eng.ingest_log(entry_at(t[0], "ERROR", "third"))
        [alert] = eng.get_alerts()
        assert alert.rule_name == "High Error Rate"
        assert alert.message == "Alert 'High Error Rate' triggered: 3 matches in 120s."
        assert alert.severity is AlertSeverity.HIGH
        assert alert.triggered_at == dt.datetime.fromtimestamp(t[0], dt.UTC)
        assert alert.triggered_at.tzinfo is dt.UTC
        assert alert.count == 3
        assert [s.message for s in alert.sample_logs] == ["first", "second", "third"]
        assert all(isinstance(s, LogEntry) for s in alert.sample_logs)
        assert [s.parsed_time for s in alert.sample_logs] == [
            dt.datetime.fromtimestamp(t[0] - ago, dt.UTC) for ago in (100, 50, 0)
        ]
        assert got == [alert]  # the hook was called, with this very alert, before ingest returned
        assert "High Error Rate" in str(alert)
    finally:
        eng.close()


def test_at_most_five_samples_oldest_first(alerting: LogAnalyticsEngine, clock: Clock) -> None:
    """An alert carries up to 5 sample logs, oldest first."""
    alerting.ingest_logs(errors(clock, 9, 8, 7, 6, 5, 4, 3, 2))
    [alert] = alerting.get_alerts()
    assert alert.count == 8
    assert [s.message for s in alert.sample_logs] == [f"db failure {i}" for i in range(5)]


def test_fewer_than_threshold_never_fires(alerting: LogAnalyticsEngine, clock: Clock) -> None:
    """Two errors in the window do not fire a threshold-3 rule, however they arrive."""
    alerting.ingest_logs(errors(clock, 10))
    alerting.ingest_logs(errors(clock, 5))
    assert alerting.get_alerts() == []


def test_logs_outside_window_do_not_count(alerting: LogAnalyticsEngine, clock: Clock) -> None:
    """Logs older than the window (or in the future) do not count toward the threshold."""
    alerting.ingest_logs(errors(clock, 500, 300, 121))
    alerting.ingest_logs([entry_at(clock.now + 30, "ERROR", "future")])
    alerting.ingest_logs(errors(clock, 1, 0))
    assert alerting.get_alerts() == []
    alerting.ingest_logs(errors(clock, 119))
    assert [a.count for a in alerting.get_alerts()] == [3]


def test_out_of_order_logs_count(alerting: LogAnalyticsEngine, clock: Clock) -> None:
    """Defect 4: late (out-of-order) logs inside the window still count."""
    alerting.ingest_logs(errors(clock, 0))
    alerting.ingest_logs(errors(clock, 90))
    alerting.ingest_logs(errors(clock, 30))
    assert [a.count for a in alerting.get_alerts()] == [3]


def test_window_slides_with_the_clock(alerting: LogAnalyticsEngine, clock: Clock) -> None:
    """As the clock moves on, old matches leave the window."""
    alerting.ingest_logs(errors(clock, 10, 5))
    clock.advance(200)
    alerting.ingest_logs(errors(clock, 0))
    assert alerting.get_alerts() == []


def test_cooldown_suppresses(alerting: LogAnalyticsEngine, clock: Clock) -> None:
    """After firing, the rule stays quiet during its cooldown and fires again after it."""
    alerting.ingest_logs(errors(clock, 3, 2, 1))
    assert len(alerting.get_alerts()) == 1
    clock.advance(30)
    alerting.ingest_logs(errors(clock, 2, 1, 0))
    assert len(alerting.get_alerts()) == 1
    clock.advance(31)  # 61 s after the first firing, cooldown 60
    alerting.ingest_logs(errors(clock, 0))
    alerts = alerting.get_alerts()
    assert len(alerts) == 2
    assert alerts[0].triggered_at.timestamp() == clock.now  # newest first
    assert alerts[0].count == 7


def test_unrelated_logs_never_fire(alerting: LogAnalyticsEngine, clock: Clock) -> None:
    """Defect 4: after the cooldown, logs that do not match the rule do not re-fire it."""
    alerting.ingest_logs(errors(clock, 3, 2, 1))
    clock.advance(70)  # cooldown over; the three errors are still inside the 120 s window
    alerting.ingest_logs([entry_at(clock.now, "INFO", f"fine {i}") for i in range(20)])
    alerting.ingest_logs([entry_at(clock.now, "WARN", "meh")])
    assert len(alerting.get_alerts()) == 1
    alerting.ingest_logs(errors(clock, 0))
    assert [a.count for a in alerting.get_alerts()] == [4, 3]


def test_only_non_matching_logs(alerting: LogAnalyticsEngine, clock: Clock) -> None:
    """A stream of logs the rule does not match never fires it."""
    alerting.ingest_logs([entry_at(clock.now - i, "INFO", "ok") for i in range(50)])
    assert alerting.get_alerts() == []


@pytest.mark.parametrize("threshold", [0, -1])
def test_threshold_below_one_rejected(threshold: int) -> None:
    """Defect 4: a threshold below 1 (which fired on zero matches) is a ConfigError."""
    with pytest.raises(ConfigError, match="threshold"):
        error_rule(threshold=threshold)


def test_other_bad_rules_rejected() -> None:
    """A non-positive window, negative cooldown, empty name or unknown condition key is rejected."""
    from log_analytics_engine import LogAnalyticsError

    with pytest.raises(ConfigError):
        error_rule(time_window=0)
    with pytest.raises(ConfigError):
        error_rule(cooldown=-1)
    with pytest.raises(ConfigError):
        error_rule(name="")
    with pytest.raises(LogAnalyticsError):
        error_rule(conditions={"levle": "ERROR"})


def test_severity_as_text() -> None:
    """A severity given as its text value becomes the enum."""
    assert error_rule(severity="critical").severity is AlertSeverity.CRITICAL


@pytest.mark.parametrize("spelling", ["ERROR", "error", "Error"])
def test_rule_level_case_insensitive(clock: Clock, spelling: str) -> None:
    """Defect 4: a rule's level matches in any case, like the query level."""
    with LogAnalyticsEngine(clock=clock) as eng:
        eng.add_alert_rule(error_rule(conditions={"level": spelling}, threshold=2))
        eng.ingest_logs([entry_at(clock.now, "error", "a"), entry_at(clock.now, "ERROR", "b")])
        assert len(eng.get_alerts()) == 1


def test_rule_level_alias(clock: Clock) -> None:
    """A rule on level 'warning' matches WARN logs."""
    with LogAnalyticsEngine(clock=clock) as eng:
        eng.add_alert_rule(error_rule(conditions={"level": "warning"}, threshold=2))
        eng.ingest_logs([entry_at(clock.now, "WARN", "a"), entry_at(clock.now, "Warning", "b")])
        assert len(eng.get_alerts()) == 1


def test_rule_keyword(clock: Clock) -> None:
    """Defect 4: a rule's keyword is honoured (whole word, any case)."""
    with LogAnalyticsEngine(clock=clock) as eng:
        eng.add_alert_rule(error_rule(name="timeouts", conditions={"keyword": "timeout"}, threshold=2))
        eng.ingest_logs(
            [
                entry_at(clock.now, "INFO", "request timeouts rising"),
                entry_at(clock.now, "INFO", "no match here"),
                entry_at(clock.now, "ERROR", "TIMEOUTS again"),
            ]
        )
        assert eng.get_alerts() == []
        eng.ingest_logs(
            [entry_at(clock.now, "INFO", "upstream Timeout"), entry_at(clock.now, "INFO", "timeout!")]
        )
        [alert] = eng.get_alerts()
        assert alert.count == 2
        assert sorted(s.message for s in alert.sample_logs) == ["timeout!", "upstream Timeout"]


def test_rule_keywords_any(clock: Clock) -> None:
    """A rule's keywords match a log holding any of them, as the original's rules did."""
    with LogAnalyticsEngine(clock=clock) as eng:
        eng.add_alert_rule(
            error_rule(name="db or timeouts", conditions={"keywords": ["db", "timeout"]}, threshold=3)
        )
        eng.ingest_logs(
            [entry_at(clock.now, "INFO", "db slow"), entry_at(clock.now, "INFO", "nothing to see")]
        )
        eng.ingest_logs([entry_at(clock.now, "INFO", "timeout on api")])
        assert eng.get_alerts() == []
        eng.ingest_logs([entry_at(clock.now, "INFO", "db timeout")])
        [alert] = eng.get_alerts()
        assert alert.count == 3
        assert [s.message for s in alert.sample_logs] == ["db slow", "timeout on api", "db timeout"]


def test_rule_keywords_all(clock: Clock) -> None:
    """A rule's keywords_all must all be present."""
    with LogAnalyticsEngine(clock=clock) as eng:
        eng.add_alert_rule(
            error_rule(name="db timeouts", conditions={"keywords_all": ["db", "timeout"]}, threshold=2)
        )
        eng.ingest_logs(
            [entry_at(clock.now, "INFO", "db slow"), entry_at(clock.now, "INFO", "timeout on api")]
        )
        assert eng.get_alerts() == []
        eng.ingest_logs(
            [entry_at(clock.now, "INFO", "db timeout"), entry_at(clock.now, "INFO", "timeout db x")]
        )
        assert [a.count for a in eng.get_alerts()] == [2]


def test_rule_with_several_conditions(clock: Clock) -> None:
    """All of a rule's conditions must hold (level, source, tags, min_severity)."""
    with LogAnalyticsEngine(clock=clock) as eng:
        rule = error_rule(conditions={"source": "db", "tags": ["prod"], "min_severity": 40}, threshold=2)
        eng.add_alert_rule(rule)
        eng.ingest_logs(
            [
                entry_at(clock.now, "ERROR", "x", source="db", tags=["dev"]),
                entry_at(clock.now, "ERROR", "x", source="api", tags=["prod"]),
                entry_at(clock.now, "INFO", "x", source="db", tags=["prod"]),
                entry_at(clock.now, "FATAL", "x", source="db", tags=["prod"]),
            ]
        )
        assert eng.get_alerts() == []
        eng.ingest_log(entry_at(clock.now, "ERROR", "x", source="db", tags=["prod", "eu"]))
        assert len(eng.get_alerts()) == 1


def test_disabled_and_removed_rules_do_not_fire(clock: Clock) -> None:
    """A disabled rule never fires; a removed rule stops firing."""
    with LogAnalyticsEngine(clock=clock) as eng:
        eng.add_alert_rule(error_rule(name="off", enabled=False, threshold=1))
        eng.add_alert_rule(error_rule(name="gone", threshold=1, cooldown=0))
        eng.ingest_logs(errors(clock, 0))
        assert [a.rule_name for a in eng.get_alerts()] == ["gone"]
        eng.remove_alert_rule("gone")
        clock.advance(1)
        eng.ingest_logs(errors(clock, 0))
        assert [a.rule_name for a in eng.get_alerts()] == ["gone"]


def test_raising_hook_does_not_break_ingest(
    alerting: LogAnalyticsEngine, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """A hook that raises does not break ingest; later hooks still run (before the ingest returns);
    the failure is logged and counted."""
    got: list[Alert] = []

    def broken(alert: Alert) -> None:
        raise RuntimeError("notifier down")

    alerting.add_alert_notification_hook(broken)
    alerting.add_alert_notification_hook(got.append)
    assert alerting.ingest_logs(errors(clock, 2, 1, 0)) == 3
    assert alerting.count() == 3
    assert len(alerting.get_alerts()) == 1
    assert len(got) == 1
    assert alerting.get_stats()["alert_hook_failures"] == 1
    assert "notifier down" in caplog.text
    alerting.ingest_logs(errors(clock, 0))
    assert alerting.count() == 4


def test_should_trigger() -> None:
    """`should_trigger(count, now)`: threshold reached and cooldown over since `last_triggered`."""
    rule = error_rule()
    assert not rule.should_trigger(2, 1000.0)
    assert rule.should_trigger(3, 1000.0)
    rule.last_triggered = 1000.0
    assert not rule.should_trigger(10, 1059.0)
    assert rule.should_trigger(3, 1060.0)
    rule.enabled = False
    assert not rule.should_trigger(10, 5000.0)


def test_get_alerts_filters(clock: Clock) -> None:
    """get_alerts is newest first and filters by since, rule and limit."""
    with LogAnalyticsEngine(clock=clock) as eng:
        eng.add_alert_rule(error_rule(name="a", threshold=1, cooldown=0))
        eng.add_alert_rule(error_rule(name="b", conditions={"level": "WARN"}, threshold=1, cooldown=0))
        for _ in range(3):
            clock.advance(10)
            eng.ingest_logs([entry_at(clock.now, "ERROR", "e"), entry_at(clock.now, "WARN", "w")])
        alerts = eng.get_alerts()
        assert len(alerts) == 6
        assert [a.triggered_at for a in alerts] == sorted((a.triggered_at for a in alerts), reverse=True)
        assert [a.rule_name for a in eng.get_alerts(rule="a")] == ["a"] * 3
        assert len(eng.get_alerts(since=T0_S + 20)) == 4
        assert len(eng.get_alerts(limit=2)) == 2
        assert eng.get_alerts(limit=1)[0].triggered_at.timestamp() == T0_S + 30
        assert len(eng.get_alerts(since=dt.datetime.fromtimestamp(T0_S + 20, dt.UTC))) == 4
        assert eng.get_alerts(since=1e30) == []  # a bound past any datetime selects nothing
        assert len(eng.get_alerts(since=-1e30)) == 6
        assert eng.get_stats()["alert_alerts"] == 6


def test_alerts_survive_reopen(tmp_path: Path, clock: Clock) -> None:
    """Fired alerts are stored in a durable engine and come back after reopen."""
    with LogAnalyticsEngine(tmp_path / "d", clock=clock) as eng:
        eng.add_alert_rule(error_rule())
        eng.ingest_logs(errors(clock, 2, 1, 0))
        fired = [a.to_dict() for a in eng.get_alerts()]
    with LogAnalyticsEngine(tmp_path / "d", clock=clock) as eng:
        assert [a.to_dict() for a in eng.get_alerts()] == fired
        assert len(fired) == 1


def _fire_two(eng: LogAnalyticsEngine, clock: Clock) -> None:
    eng.add_alert_rule(error_rule())
    eng.add_alert_rule(
        error_rule(name="Warn Storm", conditions={"level": "WARN"}, severity=AlertSeverity.LOW)
    )
    eng.ingest_logs(errors(clock, 2, 1, 0))
    clock.advance(5)
    eng.ingest_logs(
        [entry_at(clock.now - i, "WARN", f"w{i}", tags=["x"], metadata={"n": i}) for i in range(3)]
    )


def test_persist_load_round_trip(tmp_path: Path, clock: Clock) -> None:
    """Defect 9: persist then load gives back equal alerts (severity enum, times and sample logs)."""
    path = tmp_path / "alerts.jsonl"
    with LogAnalyticsEngine(clock=clock) as eng:
        _fire_two(eng, clock)
        original = [a.to_dict() for a in eng.get_alerts()]
        assert eng.persist_alerts_to_file(path) == 2
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert {line["severity"] for line in lines} == {"high", "low"}
    assert all(isinstance(s, dict) for line in lines for s in line["sample_logs"])
    with LogAnalyticsEngine(clock=clock) as fresh:
        assert fresh.load_alerts_from_file(path) == 2
        loaded = fresh.get_alerts()
        assert [a.to_dict() for a in loaded] == original
        assert {a.severity for a in loaded} == {AlertSeverity.HIGH, AlertSeverity.LOW}
        assert loaded[0].sample_logs[0].metadata in ({"n": 0}, {"n": 1}, {"n": 2})
        assert fresh.load_alerts_from_file(path) == 0  # de-duplicated
        assert len(fresh.get_alerts()) == 2


def test_load_appends(tmp_path: Path, clock: Clock) -> None:
    """Loading alerts adds them to the alerts already kept instead of replacing them."""
    path = tmp_path / "alerts.jsonl"
    with LogAnalyticsEngine(clock=clock) as eng:
        _fire_two(eng, clock)
        eng.persist_alerts_to_file(path)
    later = Clock(T0_S + 3600)
    with LogAnalyticsEngine(clock=later) as other:
        other.add_alert_rule(error_rule(name="Other"))
        other.ingest_logs(errors(later, 2, 1, 0))
        assert other.load_alerts_from_file(path) == 2
        names = [a.rule_name for a in other.get_alerts()]
        assert sorted(names) == ["High Error Rate", "Other", "Warn Storm"]
        assert names[0] == "Other"  # newest first, loaded ones by their own time


def test_alert_dict_round_trip() -> None:
    """`Alert.from_dict(alert.to_dict())` is an equal alert, every field included; times are text."""
    sample = LogEntry("2025-07-21T12:00:00.5Z", "ERROR", "x", "db", tags=["a"], metadata={"k": [1]})
    alert = Alert("r", "m", AlertSeverity.MEDIUM, 12.5, 4, [sample], {"k": 1})
    assert alert.triggered_at == dt.datetime(1970, 1, 1, 0, 0, 12, 500_000, tzinfo=dt.UTC)
    data = alert.to_dict()
    assert data["triggered_at"] == "1970-01-01T00:00:12.500Z"
    assert data["sample_logs"] == [sample.to_dict()]
    back = Alert.from_dict(json.loads(json.dumps(data)))
    assert back.to_dict() == data
    assert back.severity is AlertSeverity.MEDIUM
    assert back.sample_logs[0].parsed_time == sample.parsed_time
    full = Alert(
        "r",
        "m",
        AlertSeverity.CRITICAL,
        dt.datetime(2025, 7, 21, 12, 0, 0, 123_456, tzinfo=dt.UTC),
        4,
        [LogEntry("not a time", "INFO", "unparsed time", metadata={"n": 1})],
        {"k": [1, {"deep": None}]},
        status="resolved",
        labels={"team": "db"},
        annotations={"runbook": "https://x"},
        query="level:ERROR",
        window=30.0,
        resolved_at=dt.datetime(2025, 7, 21, 13, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    )
    back = Alert.from_dict(json.loads(json.dumps(full.to_dict())))
    assert back.to_dict() == full.to_dict()
    assert (back.status, back.labels, back.window, back.triggered_at, back.resolved_at) == (
        "resolved",
        {"team": "db"},
        30.0,
        full.triggered_at,
        dt.datetime(2025, 7, 21, 11, 0, tzinfo=dt.UTC),
    )


def test_stored_alert_of_an_earlier_version_still_loads() -> None:
    """A stored alert body of the float-time, dict-sample form (the previous format) reads back."""
    old = {
        "rule_name": "r",
        "message": "m",
        "severity": "high",
        "triggered_at": 1753099200.25,
        "count": 1,
        "sample_logs": [LogEntry("2025-07-21T12:00:00Z", "ERROR", "x").to_dict()],
        "resolved_at": 1753099260.0,
    }
    alert = Alert.from_dict(old)
    assert alert.triggered_at == dt.datetime(2025, 7, 21, 12, 0, 0, 250_000, tzinfo=dt.UTC)
    assert alert.resolved_at == dt.datetime(2025, 7, 21, 12, 1, tzinfo=dt.UTC)
    assert [s.message for s in alert.sample_logs] == ["x"]


def test_resolved_alerts_persist_and_load_losslessly(tmp_path: Path, clock: Clock) -> None:
    """A fired-then-resolved alert with labels and a query goes through the alerts file unchanged."""
    path = tmp_path / "alerts.jsonl"
    with LogAnalyticsEngine(clock=clock, alert_interval=None) as eng:
        eng.add_alert_rule(
            AlertRule("q", query="level:ERROR db", threshold=1, time_window=5, labels={"team": "db"})
        )
        eng.ingest_logs([entry_at(clock.now, "ERROR", "db down")])
        clock.advance(6)
        eng.evaluate_alerts()
        [alert] = eng.get_alerts()
        assert (alert.status, alert.query, alert.window, alert.labels) == (
            "resolved",
            "level:ERROR db",
            5.0,
            {"team": "db"},
        )
        eng.persist_alerts_to_file(path)
    with LogAnalyticsEngine(clock=clock) as fresh:
        assert fresh.load_alerts_from_file(path) == 1
        assert [a.to_dict() for a in fresh.get_alerts()] == [alert.to_dict()]
