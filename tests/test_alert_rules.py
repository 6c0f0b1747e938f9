"""Alert rules written in the query language, with labels, loaded from YAML, enabled and disabled."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Clock, entry_at
from log_analytics_engine import AlertRule, AlertSeverity, ConfigError, LogAnalyticsEngine

RULES_YAML = """
rules:
  - name: db errors
    query: 'level:ERROR source:db'
    severity: high
    threshold: 2
    time_window: 60
    cooldown: 300
    labels: {team: storage}
    annotations: {runbook: https://example.org/runbooks/db}
  - name: refused
    conditions: {keyword: refused}
    severity: low
"""


def test_query_rule_fires_only_on_its_own_matches(clock: Clock) -> None:
    """A `query=` rule counts only logs its query text selects; labels travel with the alert."""
    engine = LogAnalyticsEngine(clock=clock)
    engine.add_alert_rule(
        AlertRule(
            "db errors", query="level:ERROR source:db", threshold=2, time_window=60, labels={"team": "db"}
        )
    )
    engine.ingest_logs([entry_at(clock.now - 5, "ERROR", "x", source="api") for _ in range(5)])
    assert engine.get_alerts() == []
    engine.ingest_logs([entry_at(clock.now - 5, "ERROR", "disk full", source="db")])
    assert engine.get_alerts() == []
    engine.ingest_logs([entry_at(clock.now - 1, "error", "disk full again", source="db")])
    [alert] = engine.get_alerts()
    assert alert.count == 2
    assert alert.metadata["query"] == "level:ERROR source:db"
    assert alert.metadata["labels"] == {"team": "db"}
    assert [s.message for s in alert.sample_logs] == ["disk full", "disk full again"]


def test_query_and_conditions_combine(clock: Clock) -> None:
    """A rule with both `conditions` and `query` needs a log to satisfy both."""
    engine = LogAnalyticsEngine(clock=clock)
    engine.add_alert_rule(AlertRule("both", conditions={"level": "ERROR"}, query="timeout", threshold=1))
    engine.ingest_logs([entry_at(clock.now, "INFO", "timeout"), entry_at(clock.now, "ERROR", "other")])
    assert engine.get_alerts() == []
    engine.ingest_logs([entry_at(clock.now, "ERROR", "timeout talking to db")])
    assert len(engine.get_alerts()) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"query": "level:ERROR ("}, r"rule 'r': query: expected"),
        ({"query": "_time:5m error"}, "relative time"),
        ({"threshold": 0}, "threshold must be at least 1"),
        ({"threshold": "3"}, "threshold must be a finite number"),
        ({"severity": "urgent"}, "unknown severity"),
    ],
)
def test_bad_rules_name_the_rule_and_field(kwargs: dict[str, object], message: str) -> None:
    """An invalid rule is a ConfigError naming the rule and what is wrong."""
    with pytest.raises(ConfigError, match=message):
        AlertRule("r", **kwargs)  # type: ignore[arg-type]


def test_rules_file_loads_and_fires(tmp_path: Path, clock: Clock) -> None:
    """Rules load from YAML with every field; the engine evaluates them like rules added in Python."""
    path = tmp_path / "rules.yaml"
    path.write_text(RULES_YAML)
    engine = LogAnalyticsEngine(clock=clock)
    rules = engine.load_alert_rules(path)
    assert [r.name for r in engine.get_alert_rules()] == ["db errors", "refused"]
    db = rules[0]
    assert (db.severity, db.threshold, db.time_window, db.cooldown) == (AlertSeverity.HIGH, 2, 60, 300)
    assert db.annotations == {"runbook": "https://example.org/runbooks/db"}
    assert rules[1].to_dict()["conditions"] == {"keyword": "refused"}
    engine.ingest_logs([entry_at(clock.now, "INFO", "connection refused")])
    assert [a.rule_name for a in engine.get_alerts()] == ["refused"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [{name: a, query: x, colour: red}]", r"rule 1 \(a\): unknown field\(s\) colour"),
        ("rules: [{name: a, query: x}, {name: a, query: y}]", r"rule 2 \(a\): field name: another rule"),
        ("rules: [{query: x}]", "rule 1: field name: required"),
        ("rules: [{name: a}]", r"rule 1 \(a\): field query: a rule needs"),
        ("rules: [{name: a, query: x, labels: [1]}]", r"rule 1 \(a\): field labels: expected a mapping"),
        ("rules: [{name: a, conditions: {colour: red}}]", r"rule 1 \(a\): unknown filter key 'colour'"),
        ("rules: [{name: a, query: x, threshold: 0}]", r"rule 1 \(a\): rule 'a': threshold"),
        ("rules: {name: a}", "expected a mapping with a `rules:` list"),
        ("rules: [a, b", "not valid YAML"),
    ],
)
def test_rules_file_errors_name_rule_and_field(tmp_path: Path, text: str, message: str) -> None:
    """A bad rules file is refused whole, with the file, the rule and the field in the message."""
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    engine = LogAnalyticsEngine()
    with pytest.raises(ConfigError, match=message) as info:
        engine.load_alert_rules(path)
    assert str(path) in str(info.value)
    assert engine.get_alert_rules() == []


def test_disable_and_enable(clock: Clock) -> None:
    """A disabled rule never fires; enabled again, its window is read from the stored logs, so the
    logs that arrived meanwhile count (the window is the data's, not the rule's history), and the
    old logs outside it do not."""
    engine = LogAnalyticsEngine(clock=clock)
    engine.add_alert_rule(
        AlertRule("e", conditions={"level": "ERROR"}, threshold=3, cooldown=0, time_window=60)
    )
    engine.disable_alert_rule("e")
    engine.ingest_logs([entry_at(clock.now - 90, "ERROR", "old")])
    engine.ingest_logs([entry_at(clock.now, "ERROR", "a"), entry_at(clock.now, "ERROR", "b")])
    engine.ingest_logs([entry_at(clock.now, "ERROR", "c")])
    assert engine.get_alerts() == []
    engine.enable_alert_rule("e")
    engine.ingest_logs([entry_at(clock.now, "INFO", "unrelated")])
    assert engine.get_alerts() == []  # only the rule's own new matches fire it
    engine.ingest_logs([entry_at(clock.now, "ERROR", "d")])
    [alert] = engine.get_alerts()
    assert alert.count == 4
    assert [s.message for s in alert.sample_logs] == ["a", "b", "c", "d"]
    with pytest.raises(ConfigError, match="no alert rule named 'nope'; rules: e"):
        engine.disable_alert_rule("nope")


def test_missing_rules_file_is_a_config_error(tmp_path: Path) -> None:
    """A rules file that cannot be read is named in the error."""
    with pytest.raises(ConfigError, match="cannot read rules file"):
        LogAnalyticsEngine().load_alert_rules(tmp_path / "absent.yaml")


def test_alerting_metrics_are_exported(clock: Clock) -> None:
    """Hook failures and rule evaluation time and count appear in the Prometheus text."""
    engine = LogAnalyticsEngine(clock=clock)
    engine.add_alert_rule(AlertRule("e", conditions={"level": "ERROR"}, threshold=1))

    def broken(alert: object) -> None:
        raise RuntimeError("notifier down")

    engine.add_alert_notification_hook(broken)
    engine.ingest_logs([entry_at(clock.now, "ERROR", "a")])
    engine.ingest_logs([entry_at(clock.now, "INFO", "b")])
    engine.flush()  # notifications are delivered by a worker thread
    text = engine.export_metrics_prometheus()
    assert "loganalytics_alert_hook_failures_total 1.0" in text
    assert "loganalytics_alert_evaluations_total 2.0" in text
    assert 'loganalytics_alerts_fired_total{rule="e",severity="medium"} 1.0' in text
    seconds = [
        line for line in text.splitlines() if line.startswith("loganalytics_alert_evaluation_seconds_total")
    ]
    assert float(seconds[0].split()[1]) > 0
    assert "loganalytics_alerts_firing 1.0" in text
    assert "loganalytics_alerts_resolved_total 0.0" in text
    clock.advance(301)  # the window drains
    engine.evaluate_alerts()
    text = engine.export_metrics_prometheus()
    assert "loganalytics_alerts_firing 0.0" in text
    assert "loganalytics_alerts_resolved_total 1.0" in text
    assert "loganalytics_alert_notifications_dropped_total 0.0" in text
