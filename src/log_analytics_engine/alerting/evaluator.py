"""Incremental rule evaluation.

Each committed write is matched once against every rule (alerting/matcher.py: vectorised, no
per-log Python loop on the bulk path) and each rule's matching event times go into its window
(alerting/window.py), which counts `(now - time_window, now]` exactly with `now` from the clock. A
rule is evaluated after a write that brought it matches inside its window — it fires when its count
reaches the threshold outside its cooldown, so unrelated logs never fire it — and on every tick
(`tick()`, run periodically by `ticker()`), where a firing rule whose window dropped back under the
threshold sends a resolved notice. A new rule's window is seeded from the stored logs.

Evaluation runs on the ingest thread, right after the write commits (a worker thread was tried:
with the GIL shared, ingest with ten rules got slower, 0.55-0.64x of no rules against 0.68-0.89x).
A firing is counted and listed at once; fetching its sample logs, storing it and queueing its notice
for webhooks and Alertmanager happen on a recorder thread (DuckDB work, off the GIL), which
`alerts()`, `status()` and `drain()` wait for, so they always show complete alerts. Python hooks
get the complete alert too: the write's follow-up (run by the ingest call once it holds no lock,
see ingest/pipeline.py) waits for the recorder to finish the write's firings, then calls them; a
tick calls them the same way at its end. Only a write that fired or resolved something, with a
hook registered, waits.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from log_analytics_engine.alerting.matcher import BatchMatcher
from log_analytics_engine.alerting.notify import Dispatcher, HookRunner
from log_analytics_engine.alerting.records import alert_time
from log_analytics_engine.alerting.rules import FIRING, RESOLVED, Alert, AlertRule
from log_analytics_engine.alerting.window import EventWindow
from log_analytics_engine.alerting.worker import SerialWorker
from log_analytics_engine.errors import ConfigError
from log_analytics_engine.periodic import Periodic
from log_analytics_engine.query.ast import TimeRange, conjoin
from log_analytics_engine.storage.base import Store
from log_analytics_engine.timeparse import seconds_ns as to_ns  # clock seconds -> event-time ns

AlertHook = Callable[[Alert], None]
log = logging.getLogger(__name__)
# An applied commit this large is matched by one DuckDB statement over its seq range (DuckDB runs
# without the GIL, beside the ingest threads) rather than in Python over its Arrow columns.
SQL_MATCH_ROWS = 2_048
MAX_SAMPLES = 5
MAX_PENDING = 1_000


@dataclass(frozen=True)
class _Fired:
    alert: Alert
    rule: AlertRule
    seqs: list[int] | None  # of the sample logs, when the window knows them
    low: int
    high: int
    last_seq: int  # the logs stored when it fired (later ones are no samples of it)
    done: threading.Event = field(default_factory=threading.Event, compare=False)

    @property
    def notice(self) -> Alert:
        return self.alert


@dataclass(frozen=True)
class _Resolved:
    alerts: list[Alert]
    done: threading.Event = field(default_factory=threading.Event, compare=False)

    @property
    def notice(self) -> Alert:
        return self.alerts[-1]  # one resolved notice for the rule


@dataclass
class _RuleState:
    rule: AlertRule
    window: EventWindow = field(default_factory=EventWindow)
    seeded_through: int = 0  # writes up to this seq are in the window already
    active: list[Alert] = field(default_factory=list)  # fired and not resolved yet


@dataclass(frozen=True)
class RuleState:
    """A rule as it stands: `state` is ok, firing or disabled; `current` the matching logs with event
    times in its window now (None when disabled: a disabled rule keeps no window); `last_fired` and
    `firing_since` epoch seconds or None."""

    name: str
    enabled: bool
    state: str
    current: int | None
    threshold: int
    time_window: float
    last_fired: float | None
    firing_since: float | None


class AlertEvaluator:
    """Rules, their windows and the alerts they fired."""

    def __init__(self, store: Store, clock: Callable[[], float], max_alerts: int = 10_000) -> None:
        self._store = store
        self._clock = clock
        self._states: dict[str, _RuleState] = {}
        self._matcher = BatchMatcher(store)
        # firings get their samples, storage and notice here, off the ingest path; it waits when full
        self._recorder: SerialWorker[_Fired | _Resolved] = SerialWorker(
            "log-analytics-alert-store", self._complete, MAX_PENDING
        )
        self.dispatcher = Dispatcher()
        self.hooks = HookRunner()
        self._alerts: list[Alert] = []
        self._max_alerts = max_alerts
        self._lock = threading.Lock()
        self.evaluations = 0
        self.evaluation_seconds = 0.0
        self.fired_total: dict[tuple[str, str], int] = defaultdict(int)
        self.resolved_total = 0
        self.unreadable_alerts = 0  # stored alert bodies that no longer read (logged at open)

    # -- rules and hooks ------------------------------------------------------------------------

    def add_rule(self, rule: AlertRule) -> None:
        """Add a rule, its window seeded from the stored logs; a rule with the same name is replaced."""
        if not isinstance(rule, AlertRule):
            raise ConfigError(f"expected an AlertRule, got {type(rule).__name__}")
        with self._lock:
            old = self._states.get(rule.name)
            state = _RuleState(rule, seeded_through=self._store.last_seq)
            if old is not None:
                state.active = old.active
            else:  # alerts of an earlier run that never resolved resolve when this window drains
                state.active = [a for a in self._alerts if a.rule_name == rule.name and a.status == FIRING]
            mine = [a.triggered_at for a in self._alerts if a.rule_name == rule.name]
            if rule.last_triggered is None and mine:
                rule.last_triggered = max(mine).timestamp()  # the cooldown outlives a restart
            self._states[rule.name] = state
        if rule.enabled:
            self._seed(state)

    def _seed(self, state: _RuleState) -> None:
        """Put the stored matches inside the rule's window (up to `seeded_through`) into it."""
        rule = state.rule
        low = to_ns(self._clock()) - to_ns(rule.time_window)
        found = self._store.matches(rule.filter, low, state.seeded_through)
        with self._lock:
            state.window.add(found.ts, found.seqs)

    def reseed(self) -> None:
        """Read every enabled rule's window afresh from the stored logs (after a delete, so its
        counts drop the deleted logs; the alerts fired stay, as history). Writes evaluated
        meanwhile count once: those up to the new `seeded_through` only through the read."""
        with self._lock:
            states = [s for s in self._states.values() if s.rule.enabled]
            for state in states:
                state.window = EventWindow()
                state.seeded_through = self._store.last_seq
        for state in states:
            self._seed(state)

    def remove_rule(self, name: str) -> None:
        """Remove a rule by name (no error when absent)."""
        with self._lock:
            self._states.pop(name, None)

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Turn a rule on or off; ConfigError naming the rules when there is no such rule."""
        with self._lock:
            state = self._states.get(name)
            if state is None:
                known = ", ".join(sorted(self._states)) or "none"
                raise ConfigError(f"no alert rule named {name!r}; rules: {known}")
            was = state.rule.enabled
            state.rule.enabled = enabled
            if enabled and not was:
                state.window = EventWindow()
                state.seeded_through = self._store.last_seq
        if enabled and not was:
            self._seed(state)

    def rules(self) -> list[AlertRule]:
        """The current rules."""
        with self._lock:
            return [s.rule for s in self._states.values()]

    def add_hook(self, hook: AlertHook, resolved: bool = True) -> None:
        """Call `hook(alert)` for every fired alert (and resolved notice, when `resolved`) on the
        thread whose call fired it, before that call returns, outside every lock."""
        self.hooks.add(hook, resolved)

    def add_notifier(self, notifier: AlertHook) -> None:
        """Hand every fired and resolved alert to `notifier` (a webhook, Alertmanager) on the
        notification worker."""
        self.dispatcher.add(notifier, True)

    # -- evaluation -----------------------------------------------------------------------------

    def on_applied(
        self,
        table: pa.Table | None,
        spans: Sequence[tuple[int, int, float]],
    ) -> list[Callable[[], None] | None]:
        """Evaluate the writes of one stored commit, in seq order, each at the time it was
        acknowledged and as if it were alone: the rules are matched once over the commit's rows
        (`table`; None: read back by SQL), then each write's matches join the windows and its rules
        are evaluated. Returns each write's follow-up (the hooks to call, or None)."""
        first, last = spans[0][0], spans[-1][1]
        with self._lock:
            states = [s for s in self._states.values() if s.rule.enabled and last > s.seeded_through]
        out: list[Callable[[], None] | None] = [None] * len(spans)
        if not states:
            return out
        started = time.perf_counter()
        try:
            # a large commit is matched by one DuckDB scan (it is stored), off the GIL
            small = table is not None and table.num_rows < SQL_MATCH_ROWS
            rows = table.drop_columns(["seq"]) if small and table is not None else None
            matches = self._matcher.match([s.rule for s in states], first, last, rows)
            lasts = np.fromiter((b for _, b, _ in spans), np.int64, len(spans))
            by_span: dict[int, list[tuple[_RuleState, np.ndarray, np.ndarray]]] = defaultdict(list)
            for state, (times, seqs) in zip(states, matches, strict=True):
                if not len(seqs):
                    continue
                owners = np.searchsorted(lasts, seqs)  # the write holding each match
                cuts = np.flatnonzero(np.diff(owners)) + 1
                for part in np.split(np.arange(len(seqs)), cuts):
                    span = int(owners[part[0]])
                    if spans[span][1] > state.seeded_through:
                        by_span[span].append((state, times[part], seqs[part]))
            for span in sorted(by_span):
                _, through, now = spans[span]
                out[span] = self._hook_calls(self._evaluate_matches(by_span[span], now, through))
        finally:
            with self._lock:
                self.evaluations += 1
                self.evaluation_seconds += time.perf_counter() - started
        return out

    def tick(self) -> None:
        """Evaluate every firing rule at the clock's now: a drained window resolves (the hooks are
        called before this returns), and the alerts still firing are re-sent to the notifiers that
        keep them alive (Alertmanager)."""
        self._store.wait_evaluated()  # the writes acknowledged so far are in the windows first
        now = self._clock()
        with self._lock:
            states = [s for s in self._states.values() if s.active]
        jobs = [job for state in states for job in self._evaluate(state, now, may_fire=False)]
        with self._lock:
            firing = [a for s in self._states.values() for a in s.active[-1:]]
        for alert in firing:
            self.dispatcher.submit(alert, refresh=True)
        calls = self._hook_calls(jobs)
        if calls is not None:
            calls()

    def _hook_calls(self, jobs: list[_Fired | _Resolved]) -> Callable[[], None] | None:
        """What calls the hooks for these firings and resolutions once the recorder has completed
        them (sample logs fetched, stored); None when no hook wants any of them."""
        wanted = [job for job in jobs if self.hooks.wants(job.notice)]
        if not wanted:
            return None

        def call_hooks() -> None:
            for job in wanted:
                job.done.wait()
                self.hooks.call(job.notice)

        return call_hooks

    def _evaluate_matches(
        self, matches: list[tuple[_RuleState, np.ndarray, np.ndarray]], now: float, through: int
    ) -> list[_Fired | _Resolved]:
        """One write's matches (per rule: event times, seqs) into the windows, then its rules
        evaluated at `now` over the logs up to seq `through`; returns what that fired or resolved."""
        high = to_ns(now)
        due = []
        with self._lock:
            for state, times, seqs in matches:
                # logs already older than the window never count (the clock does not go back), nor
                # those a (re)seed read in since this write was matched
                recent = (times > high - to_ns(state.rule.time_window)) & (seqs > state.seeded_through)
                if not recent.any():
                    continue
                state.window.add(times[recent], seqs[recent])
                if times[recent].min() <= high:  # one of its own matches is inside the window
                    due.append(state)
        jobs: list[_Fired | _Resolved] = []
        for state in due:
            jobs.extend(self._evaluate(state, now, may_fire=True, last_seq=through))
        return jobs

    def _evaluate(
        self, state: _RuleState, now: float, may_fire: bool, last_seq: int = 0
    ) -> list[_Fired | _Resolved]:
        """Fire or resolve the rule as its window says; returns what that queued for the recorder."""
        rule = state.rule
        high = to_ns(now)
        low = high - to_ns(rule.time_window)
        with self._lock:
            can_fire = may_fire and rule.should_trigger(rule.threshold, now)  # enabled, out of cooldown
            least, most = state.window.bounds(low, high)
        if most < rule.threshold:
            count = most
        elif least >= rule.threshold and not can_fire:
            return []  # still over the threshold, and nothing to fire
        else:
            count = self._count(state, low, high, last_seq)
        if count < rule.threshold:
            resolved = self._resolve(state, now) if state.active else None
            return [] if resolved is None else [resolved]
        if not can_fire:
            return []
        with self._lock:
            if not rule.should_trigger(count, now):  # another write fired it meanwhile
                return []
            rule.last_triggered = now
        return [self._fire(state, count, now, (low, high, last_seq))]

    def _count(self, state: _RuleState, low: int, high: int, through: int = 0) -> int:
        """The rule's matches in (low, high]: the window's own count, the edges read by SQL over the
        logs stored so far (up to seq `through` when given: a write is evaluated as if alone). The
        read does not wait for writes being applied (this may run under the lock, and on the
        applier's thread)."""

        def edge_count(lo: int, hi: int) -> int:
            return self._store.count_applied(state.rule.filter, lo, hi, through)

        with self._lock:
            return state.window.count(low, high, edge_count)

    def _fire(self, state: _RuleState, count: int, now: float, span: tuple[int, int, int]) -> _Fired:
        """Record the firing now; its sample logs, storage and notice follow on the recorder thread."""
        rule = state.rule
        with self._lock:
            seqs = state.window.oldest(span[0], span[1], MAX_SAMPLES)
        alert = Alert(
            rule_name=rule.name,
            message=f"Alert '{rule.name}' triggered: {count} matches in {rule.time_window}s.",
            severity=rule.severity,
            triggered_at=alert_time(now),
            count=count,
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
            labels=dict(rule.labels),
            annotations=dict(rule.annotations),
            query=rule.query,
            window=float(rule.time_window),
        )
        with self._lock:
            state.active.append(alert)
            self.fired_total[(rule.name, rule.severity.value)] += 1
        self.record(alert, persist=False)
        job = _Fired(alert, rule, seqs, *span)
        self._recorder.put(job)
        return job

    def _resolve(self, state: _RuleState, now: float) -> _Resolved | None:
        """Mark the rule's firing alerts resolved; storing them and the notice follow on the recorder."""
        with self._lock:
            active, state.active = state.active, []
            resolved = [dataclasses.replace(a, status=RESOLVED, resolved_at=alert_time(now)) for a in active]
            for alert in resolved:
                index = self._index(alert)
                if index is not None:
                    self._alerts[index] = alert
            self.resolved_total += len(resolved)
        if not resolved:
            return None
        job = _Resolved(resolved)
        self._recorder.put(job)
        return job

    def _complete(self, job: _Fired | _Resolved) -> None:
        """On the recorder thread: fetch a firing's sample logs, store it, queue the notice; or store
        resolved alerts and queue one resolved notice. Then the job is done (for the hooks)."""
        try:
            # the applier may wait for this thread (a full queue): it must not wait for the applier;
            # a job's rows are applied already (it was evaluated after its commit)
            with self._store.applied_reads():
                self._record_job(job)
        finally:
            job.done.set()

    def _record_job(self, job: _Fired | _Resolved) -> None:
        if isinstance(job, _Resolved):
            for alert in job.alerts:
                self._store.update_alert(alert.rule_name, alert.triggered_at.timestamp(), alert.to_dict())
            self.dispatcher.submit(job.alerts[-1])
            return
        if job.seqs is not None:
            samples = self._store.fetch(job.seqs)  # already in (time, seq) order
        else:
            window = conjoin([job.rule.filter, TimeRange(end=job.high)])
            # a dense window (the case here) may hold millions: the store picks the oldest few
            found = self._store.matches(window, job.low, job.last_seq, MAX_SAMPLES)
            samples = self._store.fetch(found.seqs.tolist())
        # in place: a resolved copy made meanwhile shares this list
        job.alert.sample_logs[:] = samples
        self._store.write_alert(job.alert.rule_name, job.alert.triggered_at.timestamp(), job.alert.to_dict())
        self.dispatcher.submit(job.alert)

    def drain(self) -> None:
        """Wait until every firing and resolution so far is stored and handed to the notifiers' queue."""
        self._recorder.join()

    def _index(self, alert: Alert) -> int | None:
        """Where a kept alert with this one's key is (the caller holds the lock)."""
        at = bisect.bisect_left(self._alerts, alert.triggered_at, key=lambda a: a.triggered_at)
        while at < len(self._alerts) and self._alerts[at].triggered_at == alert.triggered_at:
            if self._alerts[at].key() == alert.key():
                return at
            at += 1
        return None

    # -- fired alerts ---------------------------------------------------------------------------

    def record(self, alert: Alert, persist: bool) -> bool:
        """Keep a fired or loaded alert unless an identical one is known; True when it was new."""
        with self._lock:
            if self._index(alert) is not None:
                return False
            # kept in firing-time order, so loaded alerts take their own place in it
            bisect.insort(self._alerts, alert, key=lambda a: a.triggered_at)
            del self._alerts[: max(0, len(self._alerts) - self._max_alerts)]
        if persist:
            self._store.write_alert(alert.rule_name, alert.triggered_at.timestamp(), alert.to_dict())
        return True

    def load_stored(self) -> None:
        """Read the alerts the store kept from earlier runs."""
        alerts = []
        for body in self._store.alert_bodies(self._max_alerts):
            try:
                alerts.append(Alert.from_dict(orjson.loads(body)))
            except (ValueError, TypeError, KeyError) as exc:  # one bad body must not keep the store shut
                self.unreadable_alerts += 1
                log.error("a stored alert cannot be read (%s); it stays stored but is not listed", exc)
        with self._lock:
            self._alerts = alerts

    def alerts(
        self, since: float | dt.datetime | None = None, rule: str | None = None, limit: int | None = None
    ) -> list[Alert]:
        """Fired alerts, newest first, optionally since a time (epoch seconds or a datetime), for one
        rule, and bounded."""
        self.drain()
        # as epoch seconds: any number compares (a bound past year 9999 selects nothing)
        low = alert_time(since).timestamp() if isinstance(since, dt.datetime) else since
        with self._lock:
            chosen = [
                a
                for a in reversed(self._alerts)
                if (low is None or a.triggered_at.timestamp() >= low)
                and (rule is None or a.rule_name == rule)
            ]
        return chosen if limit is None else chosen[:limit]

    def states(self) -> list[RuleState]:
        """Every rule's state now (counting each enabled rule's window: an edge query at most)."""
        now = self._clock()
        with self._lock:
            states = list(self._states.values())
        out = []
        for state in states:
            rule = state.rule
            enabled = rule.enabled  # read once: a switch meanwhile shows next time
            current = None
            if enabled:
                high = to_ns(now)
                current = self._count(state, high - to_ns(rule.time_window), high)
            with self._lock:
                since = min((a.triggered_at.timestamp() for a in state.active), default=None)
            kind = "disabled" if not enabled else "firing" if since is not None else "ok"
            out.append(
                RuleState(
                    rule.name,
                    enabled,
                    kind,
                    current,
                    int(rule.threshold),
                    rule.time_window,
                    rule.last_triggered,
                    since,
                )
            )
        return out

    def status(self) -> dict[str, Any]:
        """Counts for stats and metrics, as they stand: never waits for the recorder (in an alert storm
        its queue never empties, and a scrape must answer then most of all)."""
        with self._lock:
            return {
                "rules": len(self._states),
                "firing": sum(len(s.active) for s in self._states.values()),
                "resolved": self.resolved_total,
                "alerts": len(self._alerts),
                "hook_failures": self.dispatcher.failures + self.hooks.failures,
                "notifications_delivered": self.dispatcher.delivered + self.hooks.delivered,
                "notifications_dropped": self.dispatcher.dropped,
                "evaluations": self.evaluations,
                "evaluation_seconds": self.evaluation_seconds,
                "store_errors": self._recorder.errors,
                "unreadable_alerts": self.unreadable_alerts,
            }


def _tick_failed(evaluator: AlertEvaluator, exc: Exception) -> None:
    log.error("alert evaluation tick failed", exc_info=exc)  # the next tick tries again


def ticker(evaluator: AlertEvaluator, interval: float) -> Periodic[AlertEvaluator]:
    """A thread calling `evaluator.tick()` every `interval` seconds (Periodic: start, stop)."""
    return Periodic(evaluator, AlertEvaluator.tick, interval, "log-analytics-alert-tick", _tick_failed)
