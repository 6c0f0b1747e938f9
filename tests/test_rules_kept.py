"""Alert rules added through the library, the HTTP API or the CLI survive a restart of a durable engine;
a rules file's rules are read from it again at every start and win over kept rules of their names."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import T0_S, Clock, entry_at
from log_analytics_engine import AlertRule, AlertSeverity, LogAnalyticsEngine
from log_analytics_engine.cli.app import app as cli
from log_analytics_engine.errors import ConfigError
from log_analytics_engine.server.app import create_app


def _engine(path: Path, clock: Clock) -> LogAnalyticsEngine:
    return LogAnalyticsEngine(path, clock=clock, alert_interval=None)


def _rules(engine: LogAnalyticsEngine) -> dict[str, dict[str, object]]:
    return {rule.name: rule.to_dict() for rule in engine.get_alert_rules()}


def test_rules_added_changed_and_removed_are_kept_across_a_restart(data_dir: Path, clock: Clock) -> None:
    """Added rules come back with every setting, a disabled one stays disabled, a removed one stays gone."""
    with _engine(data_dir, clock) as engine:
        engine.add_alert_rule(
            AlertRule(
                "db errors",
                query="level:ERROR source:db",
                severity=AlertSeverity.HIGH,
                threshold=2,
                time_window=60,
                cooldown=5,
                labels={"team": "storage"},
                annotations={"runbook": "https://example.org/db"},
            )
        )
        engine.add_alert_rule(AlertRule("paused", "", {"level": "WARN", "keywords": ["cache"]}, threshold=3))
        engine.add_alert_rule(AlertRule("gone", conditions={"source": "x"}))
        engine.disable_alert_rule("paused")
        engine.remove_alert_rule("gone")
        before = _rules(engine)
    with _engine(data_dir, clock) as engine:
        assert _rules(engine) == before
        assert set(before) == {"db errors", "paused"}
        assert before["paused"]["enabled"] is False


def test_a_kept_rule_fires_after_the_restart(data_dir: Path, clock: Clock) -> None:
    """A reopened engine evaluates its kept rules on new logs, not just lists them."""
    with _engine(data_dir, clock) as engine:
        engine.add_alert_rule(
            AlertRule("db errors", query="level:ERROR source:db", threshold=2, time_window=60)
        )
    with _engine(data_dir, clock) as engine:
        engine.ingest_logs([entry_at(T0_S - 1, "ERROR", "down", source="db") for _ in range(2)])
        assert [alert.rule_name for alert in engine.get_alerts()] == ["db errors"]


def test_a_rules_file_wins_for_its_names_and_is_not_kept(
    data_dir: Path, clock: Clock, tmp_path: Path
) -> None:
    """Loading a rules file replaces the kept rule of the same name; its rules are read again, not kept."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: shared\n    query: 'level:ERROR'\n    threshold: 7\n")
    with _engine(data_dir, clock) as engine:
        engine.add_alert_rule(AlertRule("shared", query="level:WARN", threshold=1))
        engine.add_alert_rule(AlertRule("mine", query="source:api"))
        engine.load_alert_rules(rules)
        assert _rules(engine)["shared"]["threshold"] == 7
        engine.disable_alert_rule("shared")  # a change to a file's rule lasts until the file is read again
    with _engine(data_dir, clock) as engine:
        assert set(_rules(engine)) == {"mine"}
        engine.load_alert_rules(rules)
        assert _rules(engine)["shared"] == {**_rules(engine)["shared"], "threshold": 7, "enabled": True}


def test_rules_put_over_http_are_kept(data_dir: Path, clock: Clock) -> None:
    """`PUT /api/v1/rules/{name}` survives the server's engine being closed and opened again; DELETE too."""
    with _engine(data_dir, clock) as engine:
        client = TestClient(create_app(engine))
        body = {"query": "level:ERROR", "threshold": 4, "labels": {"team": "web"}}
        assert client.put("/api/v1/rules/web errors", json=body).status_code == 200
        assert client.put("/api/v1/rules/temp", json={"query": "x"}).status_code == 200
        assert client.delete("/api/v1/rules/temp").status_code == 204
    with _engine(data_dir, clock) as engine:
        listed = TestClient(create_app(engine)).get("/api/v1/rules").json()
        assert [(rule["name"], rule["threshold"], rule["labels"]) for rule in listed] == [
            ("web errors", 4, {"team": "web"})
        ]


def test_rules_added_by_the_cli_are_listed_by_a_later_cli_run(data_dir: Path) -> None:
    """`rules add --data DIR` then `rules list --data DIR` (two processes' worth of opens) shows the rule."""
    runner = CliRunner()
    added = runner.invoke(
        cli, ["rules", "add", "slow", "--query", "slow", "--threshold", "3", "--data", str(data_dir)]
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(cli, ["rules", "list", "--json", "--data", str(data_dir)])
    assert listed.exit_code == 0, listed.output
    assert '"name": "slow"' in listed.output
    assert '"threshold": 3' in listed.output


def test_a_stored_rule_that_no_longer_loads_is_logged_not_fatal(
    data_dir: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """A kept rule whose query no longer parses leaves the engine opening, the rule logged and counted."""
    with _engine(data_dir, clock) as engine:
        engine.add_alert_rule(AlertRule("good", query="level:ERROR"))
    with duckdb.connect(str(data_dir / "logs.duckdb")) as db:
        db.execute("""INSERT INTO alert_rules VALUES ('bad', '{"name": "bad", "query": "(("}')""")
    with caplog.at_level(logging.ERROR), _engine(data_dir, clock) as engine:
        assert set(_rules(engine)) == {"good"}
        assert engine.get_stats()["alert_unreadable_rules"] == 1
    assert "stored alert rule 'bad'" in caplog.text


def test_a_rule_of_no_conditions_and_no_query_is_kept_too(data_dir: Path, clock: Clock) -> None:
    """A rule that counts every log (neither conditions nor a query) comes back after a restart."""
    with _engine(data_dir, clock) as engine:
        engine.add_alert_rule(AlertRule("volume", threshold=1000))
    with _engine(data_dir, clock) as engine:
        assert [rule.name for rule in engine.get_alert_rules()] == ["volume"]
        assert engine.get_stats()["alert_unreadable_rules"] == 0


def test_adding_something_that_is_no_rule_is_a_config_error(data_dir: Path, clock: Clock) -> None:
    """`add_alert_rule` of a dict is a ConfigError naming the type, and nothing is kept."""
    with (
        _engine(data_dir, clock) as engine,
        pytest.raises(ConfigError, match="expected an AlertRule, got dict"),
    ):
        engine.add_alert_rule({"name": "x"})  # type: ignore[arg-type]
    with _engine(data_dir, clock) as engine:
        assert engine.get_alert_rules() == []
