"""The incremental alert evaluator (alerting/evaluator.py, window.py, matcher.py) against a brute-force
model that recounts every matching log on each evaluation: random rules, random out-of-order event
times (past, present and future), random clock steps and ticks must give identical firings, counts,
sample logs and resolutions. Also the cooldown / resolve timeline on a frozen clock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import T0_S, Clock, entry_at
from log_analytics_engine import Alert, AlertRule, LogAnalyticsEngine, LogEntry
from log_analytics_engine.alerting import window
from log_analytics_engine.query.evaluate import evaluate
from log_analytics_engine.timeparse import seconds_ns

NS = 1_000_000_000
LEVELS = ("INFO", "WARN", "ERROR")
WORDS = ("disk", "timeout", "ok", "Disk full")
RULE_FILTERS = (
    {"conditions": {"level": "ERROR"}},
    {"conditions": {"keyword": "disk"}},
    {"query": "level:WARN OR timeout"},
    {"query": "disk level:ERROR"},
)


@dataclass
class ModelRule:
    """One rule as the brute-force model sees it: every match so far, recounted at each evaluation."""

    rule: AlertRule
    matches: list[tuple[int, int, str]] = field(default_factory=list)  # (ts_ns, seq, message)
    last_fired: float | None = None
    active: list[int] = field(default_factory=list)  # indexes into fired

    def inside(self, now: float) -> list[tuple[int, int, str]]:
        high = seconds_ns(now)
        low = high - seconds_ns(self.rule.time_window)
        return sorted(m for m in self.matches if low < m[0] <= high)


@dataclass
class Model:
    rules: list[ModelRule]
    fired: list[dict[str, object]] = field(default_factory=list)
    seq: int = 0

    def ingest(self, entries: list[LogEntry], now: float) -> None:
        due = []
        for r in self.rules:
            own = [
                (e.timestamp_ns or 0, self.seq + 1 + i, e.message)
                for i, e in enumerate(entries)
                if evaluate(r.rule.filter, e)
            ]
            r.matches.extend(own)
            high = seconds_ns(now)
            low = high - seconds_ns(r.rule.time_window)
            if any(low < t <= high for t, _, _ in own):
                due.append(r)
        self.seq += len(entries)
        for r in due:
            self.evaluate(r, now, may_fire=True)

    def tick(self, now: float) -> None:
        for r in self.rules:
            if r.active:
                self.evaluate(r, now, may_fire=False)

    def evaluate(self, r: ModelRule, now: float, may_fire: bool) -> None:
        inside = r.inside(now)
        if len(inside) < r.rule.threshold:
            for i in r.active:
                self.fired[i]["status"] = "resolved"
                self.fired[i]["resolved_at"] = now
            r.active = []
            return
        if not may_fire or (r.last_fired is not None and now - r.last_fired < r.rule.cooldown):
            return
        r.last_fired = now
        r.active.append(len(self.fired))
        self.fired.append(
            {
                "rule": r.rule.name,
                "at": now,
                "count": len(inside),
                "samples": [m for _, _, m in inside[:5]],
                "status": "firing",
                "resolved_at": None,
            }
        )


def _observed(alert: Alert) -> dict[str, object]:
    return {
        "rule": alert.rule_name,
        "at": alert.triggered_at.timestamp(),
        "count": alert.count,
        "samples": [s.message for s in alert.sample_logs],
        "status": alert.status,
        "resolved_at": None if alert.resolved_at is None else alert.resolved_at.timestamp(),
    }


rules_strategy = st.lists(
    st.tuples(
        st.sampled_from(range(len(RULE_FILTERS))),
        st.integers(1, 4),  # threshold
        st.sampled_from([1, 2.5, 5, 20]),  # time_window
        st.sampled_from([0, 3, 10]),  # cooldown
    ),
    min_size=1,
    max_size=3,
)
log_strategy = st.tuples(
    st.floats(-25, 3, allow_nan=False).map(lambda s: round(s, 3)),  # event time relative to now
    st.sampled_from(LEVELS),
    st.sampled_from(WORDS),
)
steps_strategy = st.lists(
    st.one_of(
        st.tuples(
            st.just("batch"), st.sampled_from([0, 0.25, 1, 3, 7.5]), st.lists(log_strategy, max_size=6)
        ),
        st.tuples(st.just("tick"), st.sampled_from([0, 1, 4, 30]), st.just([])),
    ),
    max_size=25,
)


@pytest.fixture(params=[256, 1], ids=["sparse", "dense"])
def dense_at(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run with the default dense threshold, and with every second dense (edges counted in the store)."""
    saved = window.DENSE_AT
    window.DENSE_AT = request.param
    yield
    window.DENSE_AT = saved


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules=rules_strategy, steps=steps_strategy)
def test_incremental_evaluation_matches_brute_force(dense_at: None, rules: list, steps: list) -> None:
    clock = Clock(T0_S + 0.5)
    made = [
        AlertRule(f"r{i}", threshold=t, time_window=w, cooldown=c, **RULE_FILTERS[f])  # type: ignore[arg-type]
        for i, (f, t, w, c) in enumerate(rules)
    ]
    model = Model([ModelRule(r) for r in made])
    engine = LogAnalyticsEngine(clock=clock, alert_interval=None)
    try:
        for r in made:
            engine.add_alert_rule(AlertRule(**r.to_dict()))
        counter = 0
        for kind, advance, logs in steps:
            clock.advance(advance)
            if kind == "tick":
                engine.evaluate_alerts()
                model.tick(clock.now)
                continue
            entries = []
            for offset, level, word in logs:
                counter += 1
                entries.append(entry_at(clock.now + offset, level, f"m{counter} {word}"))
            if entries:
                engine.ingest_logs(entries)
                model.ingest(entries, clock.now)
        got = [_observed(a) for a in reversed(engine.get_alerts())]
        assert sorted(got, key=repr) == sorted(model.fired, key=repr)
    finally:
        engine.close()


def _engine(clock: Clock, **rule: object) -> LogAnalyticsEngine:
    engine = LogAnalyticsEngine(clock=clock, alert_interval=None)
    engine.add_alert_rule(AlertRule("errors", conditions={"level": "ERROR"}, **rule))  # type: ignore[arg-type]
    return engine


def test_cooldown_and_resolve_timeline(clock: Clock) -> None:
    """Fire at 2 in 10 s; cooldown holds back a second firing; the window drains on a tick and the
    rule resolves (one resolved notice); after the cooldown, new matches fire it again."""
    engine = _engine(clock, threshold=2, time_window=10, cooldown=30)
    notices: list[Alert] = []
    engine.add_alert_notification_hook(notices.append, resolved=True)
    start = clock.now
    engine.ingest_logs([entry_at(clock.now, "ERROR", "a"), entry_at(clock.now, "ERROR", "b")])
    [first] = engine.get_alerts()
    assert (first.status, first.count, first.triggered_at.timestamp()) == ("firing", 2, start)
    clock.advance(5)
    engine.ingest_logs([entry_at(clock.now, "ERROR", "c")])  # 3 in the window, but cooling down
    assert len(engine.get_alerts()) == 1
    clock.advance(5)  # a and b leave the window (at exactly now - 10 they are out): c alone
    engine.evaluate_alerts()
    [resolved] = engine.get_alerts()
    assert resolved.resolved_at is not None
    assert (resolved.status, resolved.resolved_at.timestamp()) == ("resolved", start + 10)
    clock.advance(25)  # 35 s after the firing: the cooldown is over
    engine.ingest_logs([entry_at(clock.now, "ERROR", "d"), entry_at(clock.now - 1, "ERROR", "e")])
    second, again = engine.get_alerts()
    assert (second.status, second.count, again.status) == ("firing", 2, "resolved")
    assert [s.message for s in second.sample_logs] == ["e", "d"]  # oldest first
    engine.flush()
    assert [(n.status, n.triggered_at.timestamp()) for n in notices] == [
        ("firing", start),
        ("resolved", start),
        ("firing", start + 35),
    ]
    engine.close()


def test_unrelated_logs_never_fire_and_old_logs_never_count(clock: Clock) -> None:
    """INFO logs do not fire an ERROR rule whose window holds enough errors from before its cooldown;
    logs older than the window count for nothing; a future log counts once its time comes."""
    engine = _engine(clock, threshold=2, time_window=60, cooldown=0)
    engine.ingest_logs([entry_at(clock.now - 61, "ERROR", "old"), entry_at(clock.now - 60, "ERROR", "edge")])
    engine.ingest_logs([entry_at(clock.now + 5, "ERROR", "future")])
    assert engine.get_alerts() == []  # old + edge are outside (now - 60, now]; future is not yet
    clock.advance(5)
    engine.ingest_logs([entry_at(clock.now, "INFO", "unrelated")])
    assert engine.get_alerts() == []  # only the rule's own new matches evaluate it
    engine.ingest_logs([entry_at(clock.now - 1, "ERROR", "late")])
    [alert] = engine.get_alerts()
    assert alert.count == 2
    assert [s.message for s in alert.sample_logs] == ["late", "future"]
    engine.close()


def test_alerts_and_firing_state_survive_restart(tmp_path: Path, clock: Clock) -> None:
    """A firing stored by one engine is resolved by the next once its window drains, and the cooldown
    of the earlier firing still holds after the restart."""
    rule = {"threshold": 1, "time_window": 30, "cooldown": 100}
    engine = LogAnalyticsEngine(tmp_path, clock=clock, alert_interval=None)
    engine.add_alert_rule(AlertRule("errors", conditions={"level": "ERROR"}, **rule))  # type: ignore[arg-type]
    engine.ingest_logs([entry_at(clock.now, "ERROR", "boom")])
    engine.close()
    clock.advance(10)
    engine = LogAnalyticsEngine(tmp_path, clock=clock, alert_interval=None)
    engine.add_alert_rule(AlertRule("errors", conditions={"level": "ERROR"}, **rule))  # type: ignore[arg-type]
    engine.ingest_logs([entry_at(clock.now, "ERROR", "again")])
    [alert] = engine.get_alerts()  # cooling down: no second firing
    assert alert.status == "firing"
    clock.advance(31)
    engine.evaluate_alerts()
    [alert] = engine.get_alerts()
    assert alert.resolved_at is not None
    assert (alert.status, alert.resolved_at.timestamp()) == ("resolved", clock.now)
    engine.close()
    engine = LogAnalyticsEngine(tmp_path, clock=clock, alert_interval=None)
    [stored] = engine.get_alerts()
    assert stored.to_dict() == alert.to_dict()
    engine.close()


def test_periodic_tick_resolves_without_new_logs() -> None:
    """With a short alert_interval the engine's own tick sends the resolved notice (real clock)."""
    engine = LogAnalyticsEngine(alert_interval=0.05)
    engine.add_alert_rule(AlertRule("errors", conditions={"level": "ERROR"}, threshold=1, time_window=0.3))
    got: list[Alert] = []
    engine.add_alert_notification_hook(got.append, resolved=True)
    engine.ingest_logs([entry_at(time.time(), "ERROR", "x")])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and engine.get_alerts()[0].status != "resolved":
        time.sleep(0.02)
    engine.flush()
    assert [a.status for a in got] == ["firing", "resolved"]
    engine.close()


def test_a_log_stamped_exactly_at_the_clocks_now_counts() -> None:
    """A log whose event time equals the clock's float now (not a multiple of 256 ns) is inside the
    window (now - time_window, now], and inside `_time:5m`; float seconds are converted exactly."""
    now = 1_753_099_200.25  # 2025-07-21T12:00:00.25Z: its ns value is no double
    with LogAnalyticsEngine(clock=lambda: now, alert_interval=None) as engine:
        engine.add_alert_rule(AlertRule("at now", conditions={"level": "ERROR"}, threshold=1, time_window=60))
        engine.ingest_log(LogEntry("2025-07-21T12:00:00.250Z", "ERROR", "exactly now"))
        assert [alert.count for alert in engine.get_alerts()] == [1]
        assert engine.search("_time:5m").total == 1
