"""`serve --demo`: a generated day of logs from several services whose incident is happening now, and
the example alert rule, which has fired by the time the server is ready — something to show at once."""

from __future__ import annotations

import time
from dataclasses import dataclass

from log_analytics_engine.alerting.rules import Alert
from log_analytics_engine.demo import BATCH, DEMO_RULE
from log_analytics_engine.demodata import DAY_MS, INCIDENT_MS, make_entries
from log_analytics_engine.engine import LogAnalyticsEngine
from log_analytics_engine.model import LogEntry

DAY_NS = DAY_MS * 1_000_000


@dataclass(frozen=True)
class DemoLoad:
    """What `load_demo` did: logs added (0 when the store already held logs) and the alerts they fired."""

    logs: int
    alerts: list[Alert]


def load_demo(engine: LogAnalyticsEngine, n: int = 100_000, now_ns: int | None = None) -> DemoLoad:
    """Add the demo rule, and the demo logs unless the store already holds logs.

    The generated day is rotated so that it ends as its incident does, at `now_ns` (default: now): the
    logs after the incident move to the day before, so the last 24 hours hold one whole day of logs and
    the incident is their last half hour. With the default 100,000 logs the rule's five-minute window
    holds ~56 payments errors (threshold 20), so it fires during the load."""
    engine.add_alert_rule(DEMO_RULE)
    if engine.count() > 0:
        return DemoLoad(0, [])
    entries = make_entries(n, seed=7)
    now = time.time_ns() if now_ns is None else now_ns
    _rotated(entries, now)
    entries.sort(key=lambda e: e.timestamp_ns or 0)
    for i in range(0, len(entries), BATCH):
        engine.ingest_logs(entries[i : i + BATCH])
    return DemoLoad(len(entries), engine.get_alerts(rule=DEMO_RULE.name))


def _rotated(entries: list[LogEntry], now: int) -> None:
    """Re-stamp `entries` (one generated day) in place so the incident ends at `now`."""
    first = min(e.timestamp_ns or 0 for e in entries)
    day_start = first - first % DAY_NS
    incident_end = day_start + INCIDENT_MS[1] * 1_000_000
    for entry in entries:
        t = entry.timestamp_ns or day_start
        if t >= incident_end:
            t -= DAY_NS
        entry.timestamp = t - incident_end + now
