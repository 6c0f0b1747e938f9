"""The `log-analytics` command line on an embedded store."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from log_analytics_engine import AlertRule, AlertSeverity, LogAnalyticsEngine, LogEntry
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


def test_keygen_names_with_quotes_print_valid_toml() -> None:
    """A key name holding quotes, backslashes or non-ASCII text still prints config that loads."""
    name = 'a"b\\c ünï'
    result = runner.invoke(app, ["keygen", "--name", name])
    assert result.exit_code == 0, result.output
    assert tomllib.loads(result.output.split("\n\n", 1)[1])["api_keys"][0]["name"] == name


def test_damaged_gzip_exits_2_naming_file_and_offset(tmp_path: Path) -> None:
    """`ingest` of a truncated .gz stores the whole lines before the cut, then says which file is
    damaged at which byte, with exit status 2."""
    body = b"".join(
        json.dumps({"message": f"gz {i} {i * 7919 % 10007}"}).encode() + b"\n" for i in range(5000)
    )
    whole = gzip.compress(body)
    cut = whole[: len(whole) // 2]
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(cut)
    result = runner.invoke(app, ["ingest", str(path), "--data", str(tmp_path / "d")])
    assert result.exit_code == 2, result.output
    assert f"error: {path}: damaged gzip at byte {len(cut):,}: truncated" in result.output
    stored = int(re.search(r"stored ([\d,]+) logs", result.output).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert 0 < stored < 5000
    with LogAnalyticsEngine(tmp_path / "d") as engine:
        assert engine.count() == stored


def test_binary_file_is_refused_and_skipped_in_a_directory(tmp_path: Path) -> None:
    """`ingest` refuses a binary file with its reason (exit 2); in a directory it is skipped and listed
    while the logs beside it are stored."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_text('{"message": "kept"}\n')
    (logs / "prog").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(64))
    data = str(tmp_path / "d")
    single = runner.invoke(app, ["ingest", str(logs / "prog"), "--data", data])
    assert single.exit_code == 2
    assert f"{logs / 'prog'} is not a log: an ELF executable" in single.output
    whole = runner.invoke(app, ["ingest", str(logs), "--data", data])
    assert whole.exit_code == 0, whole.output
    assert "stored 1 logs" in whole.output
    assert f"skipped {logs / 'prog'}: not a log: an ELF executable" in " ".join(whole.output.split())


def test_stdin_with_dead_letter_on_a_data_directory(tmp_path: Path) -> None:
    """`ingest -` stores standard input in a data directory, and --dead-letter gets its rejected lines."""
    dead = tmp_path / "dead.txt"
    result = runner.invoke(
        app,
        ["ingest", "-", "--data", str(tmp_path / "d"), "--dead-letter", str(dead)],
        input='{"message": "from stdin"}\nnot json\n',
    )
    assert result.exit_code == 0, result.output
    assert "stored 1 logs" in result.output
    assert "line 2" in result.output
    assert dead.read_text() == "not json\n"


@pytest.mark.parametrize("command", [["query", "*"], ["stats"], ["alerts"], ["tail"]])
def test_read_commands_refuse_a_missing_data_directory(tmp_path: Path, command: list[str]) -> None:
    """A read command on a data directory that does not exist is exit status 2 naming it, and makes
    no empty store there (run as a process with a timeout: `tail` used to follow it forever)."""
    missing = tmp_path / "nowhere"
    cli = [sys.executable, "-m", "log_analytics_engine.cli", *command, "--data", str(missing)]
    result = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"no data directory {missing}: it does not exist" in result.stderr
    assert not missing.exists()


def test_limit_applies_to_pipe_queries(tmp_path: Path) -> None:
    """`--limit N` shows N rows of a pipe query too (and says on stderr that it cut the result)."""
    data = tmp_path / "d"
    with LogAnalyticsEngine(data) as engine:
        engine.ingest_logs(LogEntry(f"2025-07-21T12:00:{i:02d}Z", "INFO", f"n{i}") for i in range(12))
    result = runner.invoke(
        app, ["query", "* | sort by (_time desc)", "--data", str(data), "--limit", "5", "--ndjson"]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [row["message"] for row in rows] == ["n11", "n10", "n9", "n8", "n7"]
    assert "the first 5 rows shown (--limit 5)" in result.output
    table = runner.invoke(app, ["query", "* | sort by (_time desc)", "--data", str(data), "--limit", "3"])
    assert sum(" n1" in line for line in table.output.splitlines()) == 2  # n11, n10
    assert " n9 " in table.output
    assert " n8 " not in table.output


def test_tables_never_break_a_timestamp(tmp_path: Path) -> None:
    """Printed to a pipe (80 columns), log and pipe-query tables keep every timestamp on one line."""
    data = tmp_path / "d"
    times = [f"2025-07-21T12:00:{i:02d}.{i:03d}Z" for i in range(1, 4)]
    with LogAnalyticsEngine(data) as engine:
        engine.ingest_logs(
            LogEntry(t, "ERROR", "a long message " * 12, "a-rather-long-source-name", request_id="r" * 30)
            for t in times
        )
    for query in ["*", "* | fields _time, level, source, message, request_id"]:
        result = runner.invoke(app, ["query", query, "--data", str(data)])
        assert result.exit_code == 0, result.output
        for t in times:
            assert t in result.output, f"{t} broken across lines in:\n{result.output}"


def test_alert_times_print_as_rfc3339(tmp_path: Path) -> None:
    """The `alerts` table shows when each alert fired as RFC 3339 UTC text, not epoch seconds."""
    data = tmp_path / "d"
    fired_at = 1_753_099_200.25  # 2025-07-21T12:00:00.250Z
    with LogAnalyticsEngine(data, clock=lambda: fired_at) as engine:
        engine.add_alert_rule(AlertRule("db down", "", {"level": "ERROR"}, AlertSeverity.HIGH, 1, 300, 600))
        engine.ingest_log(LogEntry("2025-07-21T12:00:00.100Z", "ERROR", "db down"))
        engine.flush()
        assert engine.get_alerts()
    result = runner.invoke(app, ["alerts", "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert "2025-07-21T12:00:00.250Z" in result.output
    assert "1753099200" not in result.output


def test_report_lines_are_not_folded_when_piped(tmp_path: Path) -> None:
    """Output that is not a terminal keeps each report line whole (no fold at 80 columns)."""
    result = runner.invoke(
        app, ["ingest", str(_write_logs(tmp_path / "a.jsonl")), "--data", str(tmp_path / "d")]
    )
    assert result.exit_code == 0, result.output
    [summary] = [line for line in result.output.splitlines() if line.startswith("stored ")]
    assert "rejected 1, bad timestamps 0" in summary
    assert len(summary) > 80
