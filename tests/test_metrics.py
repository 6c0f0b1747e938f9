"""Tests for metrics export (metrics.py, stats.py): Prometheus text exposition and the JSON stats."""

from __future__ import annotations

import json
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from log_analytics_engine import LogAnalyticsEngine, LogEntry

T = "2025-07-21T12:00:00Z"
NASTY_SOURCE = 'a"b\\c'
NEWLINE_SOURCE = "line\nbreak"
NASTY_TAG = 'tag "quoted" \\ back'


@pytest.fixture
def metered(engine: LogAnalyticsEngine) -> LogAnalyticsEngine:
    """An engine holding a few logs, including label values that need escaping."""
    engine.ingest_logs(
        [
            LogEntry(T, "ERROR", "Database connection failed", "db", tags=["db", "critical"]),
            LogEntry(T, "warning", "Cache miss", NASTY_SOURCE, tags=[NASTY_TAG]),
            LogEntry(T, "INFO", "cache hit", NEWLINE_SOURCE, tags=["db"]),
            LogEntry("not a time", "INFO", "odd", "db"),
        ]
    )
    return engine


def families(text: str) -> dict[str, object]:
    """Parsed metric families by name (parsing fails on malformed exposition)."""
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(text: str, family: str) -> dict[tuple[tuple[str, str], ...], float]:
    """{sorted label items: value} of one family's samples."""
    for fam in text_string_to_metric_families(text):
        if fam.name == family:
            return {tuple(sorted(s.labels.items())): s.value for s in fam.samples}
    raise AssertionError(f"no family {family}")


def test_original_metric_names(metered: LogAnalyticsEngine) -> None:
    """The original metric names are all present, with the original labels and right values."""
    text = metered.export_metrics_prometheus()
    assert samples(text, "loganalytics_total_logs") == {(): 4.0}
    assert samples(text, "loganalytics_logs_level") == {
        (("level", "ERROR"),): 1.0,
        (("level", "WARN"),): 1.0,
        (("level", "INFO"),): 2.0,
    }
    assert samples(text, "loganalytics_logs_source") == {
        (("source", "db"),): 2.0,
        (("source", NASTY_SOURCE),): 1.0,
        (("source", NEWLINE_SOURCE),): 1.0,
    }
    assert samples(text, "loganalytics_logs_tag") == {
        (("tag", "db"),): 2.0,
        (("tag", "critical"),): 1.0,
        (("tag", NASTY_TAG),): 1.0,
    }
    stats = metered.get_stats()
    assert samples(text, "loganalytics_keywords_total") == {(): float(stats["keywords"])}


def test_label_values_escaped(metered: LogAnalyticsEngine) -> None:
    """Defect 8: quotes, backslashes and newlines in label values are escaped in the text."""
    text = metered.export_metrics_prometheus()
    assert 'loganalytics_logs_source{source="a\\"b\\\\c"} 1.0' in text
    assert 'loganalytics_logs_source{source="line\\nbreak"} 1.0' in text
    assert 'loganalytics_logs_tag{tag="tag \\"quoted\\" \\\\ back"} 1.0' in text
    for line in text.splitlines():
        assert line.startswith(("#", "loganalytics_")), f"broken line: {line!r}"


def test_help_and_type_for_every_family(metered: LogAnalyticsEngine) -> None:
    """Defect 8: every metric family has one HELP and one TYPE line, before its samples."""
    text = metered.export_metrics_prometheus()
    helps = re.findall(r"^# HELP (\S+) ", text, re.MULTILINE)
    types = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE)
    assert len(helps) == len(set(helps))
    assert [name for name, _ in types] == helps
    current = None
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            current = line.split()[2]
        elif not line.startswith("#"):
            name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)  # type: ignore[union-attr]
            assert current is not None, line
            assert name.startswith(current), (line, current)
    for name in (
        "loganalytics_total_logs",
        "loganalytics_logs_level",
        "loganalytics_logs_source",
        "loganalytics_logs_tag",
        "loganalytics_keywords_total",
    ):
        assert name in helps


def test_final_newline(metered: LogAnalyticsEngine) -> None:
    """Defect 8: the exposition ends with a newline."""
    assert metered.export_metrics_prometheus().endswith("\n")


def test_empty_engine_exposition() -> None:
    """An engine with no logs exports valid text with zero totals."""
    with LogAnalyticsEngine() as eng:
        text = eng.export_metrics_prometheus()
        assert text.endswith("\n")
        assert samples(text, "loganalytics_total_logs") == {(): 0.0}
        assert "loganalytics_logs_level" in families(text)


def test_error_and_ingest_counters(metered: LogAnalyticsEngine) -> None:
    """Ingest counts and input errors (here a bad timestamp) are exported under the same prefix."""
    text = metered.export_metrics_prometheus()
    fams = families(text)
    assert all(name.startswith("loganalytics_") for name in fams)
    errors = samples(text, "loganalytics_ingest_errors")
    assert errors[(("reason", "timestamp"),)] == 1.0


def test_prometheus_parses_after_queries_and_alerts(metered: LogAnalyticsEngine) -> None:
    """The exposition still parses once queries and alerts have added their metrics."""
    from log_analytics_engine import AlertRule, AlertSeverity

    metered.add_alert_rule(AlertRule('r"1', "d", {"level": "ERROR"}, AlertSeverity.LOW, 1, 366 * 86_400, 0))
    metered.ingest_log(LogEntry(None, "ERROR", "now"))
    metered.query_logs({"keyword": "cache"})
    metered.count({"level": "ERROR"})
    text = metered.export_metrics_prometheus()
    assert text.endswith("\n")
    assert len(families(text)) >= 5


def test_json_export_keys(metered: LogAnalyticsEngine) -> None:
    """The JSON export (and get_stats) has the original keys with the right values, and is JSON-ready."""
    for data in (metered.export_metrics_json(), metered.get_stats()):
        assert data["total_logs"] == 4
        assert data["levels"] == {"ERROR": 1, "WARN": 1, "INFO": 2}
        assert data["sources"] == {"db": 2, NASTY_SOURCE: 1, NEWLINE_SOURCE: 1}
        assert data["tags"] == {"db": 2, "critical": 1, NASTY_TAG: 1}
        # distinct words: database connection failed cache miss hit odd
        assert data["keywords"] == 7
        assert json.loads(json.dumps(data)) == data
