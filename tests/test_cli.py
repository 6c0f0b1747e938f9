"""The `log-analytics` command line on an embedded store."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tomllib
from pathlib import Path

from typer.testing import CliRunner

from log_analytics_engine import LogAnalyticsEngine
from log_analytics_engine.cli.app import app

runner = CliRunner()


def _write_logs(path: Path) -> Path:
    lines = [
        {"timestamp": "2025-07-21T12:00:00Z", "level": "ERROR", "message": "db timeout", "source": "db"},
        {"timestamp": "2025-07-21T12:00:01Z", "level": "INFO", "message": "all good", "source": "api"},
        {"timestamp": "2025-07-21T12:00:02Z", "level": "warning", "message": "slow timeout", "source": "api"},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n")
    return path


def test_ingest_reports_counts_and_rejected_lines(tmp_path: Path) -> None:
    """`ingest` stores the good lines and names the rejected line with its number."""
    result = runner.invoke(
        app, ["ingest", str(_write_logs(tmp_path / "a.jsonl")), "--data", str(tmp_path / "d")]
    )
    assert result.exit_code == 0, result.output
    assert "stored 3 logs" in result.output
    assert "line 4" in result.output
    with LogAnalyticsEngine(tmp_path / "d") as engine:
        assert engine.count() == 3


def test_query_filters_and_prints_ndjson(tmp_path: Path) -> None:
    """`query --ndjson` prints the matching logs, newest first, one JSON object per line."""
    data = str(tmp_path / "d")
    runner.invoke(app, ["ingest", str(_write_logs(tmp_path / "a.jsonl")), "--data", data])
    result = runner.invoke(app, ["query", "--data", data, "--keyword", "timeout", "--ndjson"])
    assert result.exit_code == 0, result.output
    logs = [json.loads(line) for line in result.output.splitlines()]
    assert [log["message"] for log in logs] == ["slow timeout", "db timeout"]
    assert logs[0]["level"] == "WARN"


def test_query_table_shows_total(tmp_path: Path) -> None:
    """`query` without --json prints a table titled with the shown and total counts."""
    data = str(tmp_path / "d")
    runner.invoke(app, ["ingest", str(_write_logs(tmp_path / "a.jsonl")), "--data", data])
    result = runner.invoke(
        app, ["query", "--data", data, "--level", "ERROR", "--level", "WARN", "--limit", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "1 of 2 matching logs" in result.output


def test_stats_json_and_prometheus(tmp_path: Path) -> None:
    """`stats` prints the engine's stats as JSON, or the Prometheus text with --prometheus."""
    data = str(tmp_path / "d")
    runner.invoke(app, ["ingest", str(_write_logs(tmp_path / "a.jsonl")), "--data", data])
    stats = json.loads(runner.invoke(app, ["stats", "--data", data]).output)
    assert stats["total_logs"] == 3
    assert stats["levels"] == {"ERROR": 1, "INFO": 1, "WARN": 1}
    prom = runner.invoke(app, ["stats", "--data", data, "--prometheus"]).output
    assert "loganalytics_total_logs 3.0" in prom


def test_busy_directory_is_a_clear_error(tmp_path: Path) -> None:
    """A data directory owned by another engine gives exit status 2 and says who owns it."""
    data = tmp_path / "d"
    with LogAnalyticsEngine(data):
        result = runner.invoke(app, ["stats", "--data", str(data)])
    assert result.exit_code == 2
    assert "in use by another engine" in result.output


def test_bad_query_value_is_a_clear_error(tmp_path: Path) -> None:
    """An unparseable --since is reported as an error naming the filter, exit status 2."""
    (tmp_path / "d").mkdir()
    result = runner.invoke(app, ["query", "--data", str(tmp_path / "d"), "--since", "yesterday-ish"])
    assert result.exit_code == 2
    assert "start_time" in result.output


def test_demo_replays_and_fires_the_example_alert(tmp_path: Path) -> None:
    """`demo` ingests generated logs with the example rule, which fires during the incident."""
    result = runner.invoke(app, ["demo", "--data", str(tmp_path / "demo"), "--logs", "100000"])
    assert result.exit_code == 0, result.output
    assert "ingested 100,000 logs" in result.output
    assert "ALERT" in result.output
    with LogAnalyticsEngine(tmp_path / "demo") as engine:
        assert engine.count() == 100_000
        assert engine.get_alerts(rule="payments errors")


def test_query_language_json_csv_and_pipes(tmp_path: Path) -> None:
    """A positional query (ANDed with the options), --json as one document, --csv, and a pipe query
    printed as its table."""
    data = str(tmp_path / "d")
    runner.invoke(app, ["ingest", str(_write_logs(tmp_path / "a.jsonl")), "--data", data])
    doc = json.loads(
        runner.invoke(app, ["query", "timeout", "--data", data, "--source", "api", "--json"]).output
    )
    assert doc["total"] == 1
    assert [log["message"] for log in doc["logs"]] == ["slow timeout"]
    out = runner.invoke(app, ["query", "level:ERROR OR level:WARN", "--data", data, "--csv"]).output
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["message"] for r in rows] == ["slow timeout", "db timeout"]
    assert rows[0]["tags"] == "[]"
    table = runner.invoke(app, ["query", "* | stats by (source) count() as n", "--data", data])
    assert table.exit_code == 0, table.output
    [api_row] = [line for line in table.output.splitlines() if " api " in line]
    assert api_row.split()[-2:] == ["2", "│"]
    bad = runner.invoke(app, ["query", "level:(", "--data", data])
    assert bad.exit_code == 2
    assert "expected a value at 6" in bad.output
    mixed = runner.invoke(app, ["query", "* | limit 1", "--data", data, "--level", "ERROR"])
    assert mixed.exit_code == 2
    assert "cannot be combined with a query that has pipes" in mixed.output


def test_rules_need_a_server(tmp_path: Path) -> None:
    """`rules` on a data directory says that rules live in a server, exit status 2."""
    result = runner.invoke(app, ["rules", "list", "--data", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert "alert rules live in a running server" in result.output


def test_keygen_prints_a_key_and_its_hash() -> None:
    """`keygen` prints a key and config lines holding its SHA-256; an unknown scope is exit status 2."""
    result = runner.invoke(app, ["keygen", "--name", "ci", "--scopes", "ingest,query"])
    assert result.exit_code == 0, result.output
    key = result.output.splitlines()[0].removeprefix("key: ")
    config = tomllib.loads(result.output.split("\n\n", 1)[1])
    [entry] = config["api_keys"]
    assert entry == {
        "name": "ci",
        "sha256": hashlib.sha256(key.encode()).hexdigest(),
        "scopes": ["ingest", "query"],
    }
    assert runner.invoke(app, ["keygen", "--scopes", "root"]).exit_code == 2
