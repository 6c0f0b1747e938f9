"""Incremental rule evaluation: each committed write is matched once against every rule in one SQL
pass over just that write's rows; per-rule windows are kept as 1-second buckets of event time.

Cost is O(batch + window seconds), never a rescan of the window. A rule fires only when its own
matches in this write bring its window count to the threshold, so unrelated logs never fire it.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from log_analytics_engine.alerting.notify import Dispatcher
from log_analytics_engine.alerting.rules import Alert, AlertRule
from log_analytics_engine.errors import ConfigError
from log_analytics_engine.query.ast import has_text
from log_analytics_engine.query.sql import TOKENS_SQL, compile_where
from log_analytics_engine.storage.embedded import EmbeddedStore, WriteResult

AlertHook = Callable[[Alert], None]
log = logging.getLogger(__name__)
_NS = 1_000_000_000
MAX_SAMPLES = 5


@dataclass
class _Window:
    buckets: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, second: int, count: int) -> None:
        self.buckets[second] += count

    def count(self, now_s: int, window: int) -> int:
        low = now_s - window
        for stale in [s for s in self.buckets if s <= low]:
            del self.buckets[stale]
        return sum(c for s, c in self.buckets.items() if s <= now_s)


class AlertEvaluator:
    """Rules, their windows and the alerts they fired."""

    def __init__(self, store: EmbeddedStore, clock: Callable[[], float], max_alerts: int = 10_000) -> None:
        self._store = store
        self._clock = clock
        self._rules: dict[str, AlertRule] = {}
        self._windows: dict[str, _Window] = {}
        self.dispatcher = Dispatcher()
        self._alerts: list[Alert] = []
        self._max_alerts = max_alerts
        self._lock = threading.Lock()
        self.evaluations = 0
        self.evaluation_seconds = 0.0
        self.fired_total: dict[tuple[str, str], int] = defaultdict(int)

    # -- rules and hooks ------------------------------------------------------------------------

    def add_rule(self, rule: AlertRule) -> None:
        """Add a rule; a rule with the same name is replaced."""
        if not isinstance(rule, AlertRule):
            raise ConfigError(f"expected an AlertRule, got {type(rule).__name__}")
        with self._lock:
            self._rules[rule.name] = rule
            self._windows[rule.name] = _Window()

    def remove_rule(self, name: str) -> None:
        """Remove a rule by name (no error when absent)."""
        with self._lock:
            self._rules.pop(name, None)
            self._windows.pop(name, None)

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Turn a rule on or off; ConfigError naming the rules when there is no such rule."""
        with self._lock:
            rule = self._rules.get(name)
            if rule is None:
                known = ", ".join(sorted(self._rules)) or "none"
                raise ConfigError(f"no alert rule named {name!r}; rules: {known}")
            rule.enabled = enabled
            if not enabled:
                self._windows[name] = _Window()

    def rules(self) -> list[AlertRule]:
        """The current rules."""
        with self._lock:
            return list(self._rules.values())

    def add_hook(self, hook: AlertHook) -> None:
        """Call `hook(alert)` for every fired alert, on the notification worker, outside every lock."""
        self.dispatcher.add(hook)

    # -- evaluation -----------------------------------------------------------------------------

    def on_write(self, write: WriteResult) -> None:
        """Match one committed write's rows against every enabled rule; fire what reaches its threshold."""
        rules = [r for r in self.rules() if r.enabled]
        if not rules:
            return
        started = time.perf_counter()
        try:
            self._evaluate(rules, write)
        finally:
            with self._lock:
                self.evaluations += 1
                self.evaluation_seconds += time.perf_counter() - started

    def _evaluate(self, rules: list[AlertRule], write: WriteResult) -> None:
        # the batch's messages are tokenized once for every rule's words (see compile_where)
        text = any(has_text(rule.filter) for rule in rules)
        parts, params = [], []
        for rule in rules:
            flt = compile_where(rule.filter, tokens="_tokens" if text else None)
            parts.append(f"count(*) FILTER (WHERE {flt.sql})")
            params.extend(flt.params)
        tokens = f", {TOKENS_SQL} AS _tokens" if text else ""
        rows = self._store.rows(
            f"SELECT ts // {_NS} AS s, {', '.join(parts)} "
            f"FROM (SELECT *{tokens} FROM logs WHERE seq BETWEEN ? AND ?) GROUP BY s",
            [*params, write.first_seq, write.last_seq],
        )
        now = self._clock()
        now_s = int(now // 1)
        fired: list[tuple[AlertRule, int]] = []
        with self._lock:
            for i, rule in enumerate(rules):
                window = self._windows.get(rule.name)
                if window is None:
                    continue
                matched = False
                for row in rows:
                    if row[i + 1]:
                        window.add(int(row[0]), int(row[i + 1]))
                        matched = matched or now_s - rule.time_window < int(row[0]) <= now_s
                if not matched:
                    continue
                count = window.count(now_s, rule.time_window)
                if rule.should_trigger(count, now):
                    rule.last_triggered = now
                    fired.append((rule, count))
        for rule, count in fired:
            self._fire(rule, count, now)

    def _fire(self, rule: AlertRule, count: int, now: float) -> None:
        low_ns = int((int(now // 1) - rule.time_window + 1) * _NS)
        high_ns = int((int(now // 1) + 1) * _NS) - 1
        flt = compile_where(rule.filter)
        samples = self._store.entries(
            f"SELECT * FROM logs WHERE {flt.sql} AND ts >= ? AND ts <= ? ORDER BY ts, seq LIMIT ?",
            [*flt.params, low_ns, high_ns, MAX_SAMPLES],
        )
        alert = Alert(
            rule_name=rule.name,
            message=f"Alert '{rule.name}' triggered: {count} matches in {rule.time_window}s.",
            severity=rule.severity,
            triggered_at=now,
            count=count,
            sample_logs=[s.to_dict() for s in samples],
            metadata={
                "description": rule.description,
                "conditions": dict(rule.conditions),
                "threshold": rule.threshold,
                "time_window": rule.time_window,
                "cooldown": rule.cooldown,
                **({"query": rule.query} if rule.query else {}),
                **({"labels": dict(rule.labels)} if rule.labels else {}),
                **({"annotations": dict(rule.annotations)} if rule.annotations else {}),
            },
        )
        self.record(alert, persist=True)
        self.dispatcher.submit(alert)

    # -- fired alerts ---------------------------------------------------------------------------

    def record(self, alert: Alert, persist: bool) -> bool:
        """Keep a fired or loaded alert unless an identical one is known; True when it was new."""
        with self._lock:
            if any(a.key() == alert.key() for a in self._alerts):
                return False
            # kept in firing-time order, so loaded alerts take their own place in it
            bisect.insort(self._alerts, alert, key=lambda a: a.triggered_at)
            del self._alerts[: max(0, len(self._alerts) - self._max_alerts)]
            self.fired_total[(alert.rule_name, alert.severity.value)] += 1
        if persist:
            self._store.write_alert(alert.rule_name, alert.triggered_at, alert.to_dict())
        return True

    def load_stored(self) -> None:
        """Read the alerts the store kept from earlier runs."""
        rows = self._store.rows(
            "SELECT body FROM (SELECT * FROM alerts ORDER BY triggered_at DESC, id DESC LIMIT ?) "
            "ORDER BY triggered_at, id",
            [self._max_alerts],
        )
        with self._lock:
            self._alerts = [Alert.from_dict(orjson.loads(r[0])) for r in rows]

    def alerts(
        self, since: float | None = None, rule: str | None = None, limit: int | None = None
    ) -> list[Alert]:
        """Fired alerts, newest first, optionally since a time, for one rule, and bounded."""
        with self._lock:
            chosen = [
                a
                for a in reversed(self._alerts)
                if (since is None or a.triggered_at >= since) and (rule is None or a.rule_name == rule)
            ]
        return chosen if limit is None else chosen[:limit]

    def status(self) -> dict[str, Any]:
        """Counts for stats and metrics."""
        with self._lock:
            return {
                "rules": len(self._rules),
                "alerts": len(self._alerts),
                "hook_failures": self.dispatcher.failures,
                "notifications_delivered": self.dispatcher.delivered,
                "notifications_dropped": self.dispatcher.dropped,
                "evaluations": self.evaluations,
                "evaluation_seconds": self.evaluation_seconds,
            }
