"""`serve --demo`: a generated day of logs from several services (with an incident), shifted so the
day ends now, and the example alert rule, so a fresh server has something to show at once."""

from __future__ import annotations

import time

from log_analytics_engine.demo import BATCH, DEMO_RULE
from log_analytics_engine.demodata import make_entries
from log_analytics_engine.engine import LogAnalyticsEngine


def load_demo(engine: LogAnalyticsEngine, n: int = 100_000) -> int:
    """Add the demo rule, and the demo logs unless the store already holds logs; returns logs added."""
    engine.add_alert_rule(DEMO_RULE)
    if engine.count() > 0:
        return 0
    entries = make_entries(n, seed=7)
    last = max(e.timestamp_ns or 0 for e in entries)
    shift = time.time_ns() - last
    for entry in entries:
        entry.timestamp = (entry.timestamp_ns or last) + shift
    for i in range(0, len(entries), BATCH):
        engine.ingest_logs(entries[i : i + BATCH])
    return len(entries)
