"""`log-analytics demo`: replay a generated day of logs (with an incident) through the engine, with an
alert rule watching it, then show what the engine answers and how fast."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from log_analytics_engine.alerting.rules import AlertRule, AlertSeverity
from log_analytics_engine.demodata import make_entries
from log_analytics_engine.engine import LogAnalyticsEngine
from log_analytics_engine.model import LogEntry
from log_analytics_engine.query.results import QueryResult, SearchResult

BATCH = 1_000
DEMO_RULE = AlertRule(
    name="payments errors",
    description="20+ ERROR logs from payments within 5 minutes",
    conditions={"level": "ERROR", "source": "payments"},
    severity=AlertSeverity.HIGH,
    threshold=20,
    time_window=300,
    cooldown=900,
)


def _timed(label: str, fn: object, table: Table) -> object:
    started = time.perf_counter()
    result = fn()  # type: ignore[operator]
    table.add_row(label, f"{(time.perf_counter() - started) * 1000:.1f} ms", _summary(result))
    return result


def _summary(result: object) -> str:
    if isinstance(result, SearchResult):
        return f"{result.total:,} match; page of {len(result.logs)}"
    if isinstance(result, QueryResult):
        return ", ".join(" ".join(str(v) for v in row.values()) for row in result.rows[:3])
    if isinstance(result, list):
        return f"{len(result)} logs" + (f", newest: {result[0].message[:60]!r}" if result else "")
    if isinstance(result, dict):
        first: object = next(iter(result.values()), {})
        items = list(first.items())[:3] if isinstance(first, dict) else list(first)[:3]  # type: ignore[call-overload]
        return ", ".join(f"{k}={v}" for k, v in items)
    return f"{result:,}" if isinstance(result, int) else str(result)


def run_demo(data: Path, n: int, console: Console) -> None:
    """Ingest `n` generated logs into `data` in replay order, then print queries, alerts and stats."""
    entries = make_entries(n, seed=7)
    replay = [0.0]  # the alert clock follows the replayed event time
    with LogAnalyticsEngine(path=data, clock=lambda: replay[0]) as engine:
        engine.add_alert_rule(DEMO_RULE)
        engine.add_alert_notification_hook(lambda a: console.print(f"[bold red]ALERT[/bold red] {a}"))
        started = time.perf_counter()
        for i in range(0, len(entries), BATCH):
            batch = entries[i : i + BATCH]
            replay[0] = (batch[-1].timestamp_ns or 0) / 1e9
            engine.ingest_logs(batch)
        elapsed = time.perf_counter() - started
        console.print(
            f"ingested {len(entries):,} logs in {elapsed:.2f} s ({len(entries) / elapsed:,.0f} logs/s)"
        )
        engine.flush()

        table = Table(title=f"queries on {data}")
        for column in ("question", "time", "answer"):
            table.add_column(column)

        def newest(filters: dict[str, str]) -> list[LogEntry]:
            return engine.query_logs(filters, sort_desc=True, page=0, page_size=50)

        errors = {"level": "ERROR"}
        incident = {"start_time": "2025-07-21T14:00:00Z", "end_time": "2025-07-21T14:30:00Z", **errors}
        _timed("count ERROR", lambda: engine.count(errors), table)
        _timed("newest 50 ERROR", lambda: newest(errors), table)
        _timed("word 'timeout', newest 50", lambda: newest({"keyword": "timeout"}), table)
        _timed("ERRORs during the incident", lambda: engine.count(incident), table)
        _timed("top sources of ERRORs", lambda: engine.aggregate(errors, top_n={"source": 5}), table)
        _timed("search 'level:ERROR timeout'", lambda: engine.search("level:ERROR timeout", limit=50), table)
        _timed("run 'error | top 3 by (source)'", lambda: engine.run("error | top 3 by (source)"), table)
        hourly = _timed(
            "ERRORs per hour", lambda: engine.aggregate(errors, histogram="timestamp", interval="1h"), table
        )
        console.print(table)
        console.print("ERRORs per hour:")
        buckets = hourly["histogram"] if isinstance(hourly, dict) else {}
        peak = max(buckets.values(), default=1)
        for bucket, count in buckets.items():
            console.print(f"  {bucket[11:16]} {'#' * max(1, count * 50 // peak)} {count}")
        console.print(
            f"alerts fired: {len(engine.get_alerts())}; data kept in {data} (delete it to start over)"
        )
