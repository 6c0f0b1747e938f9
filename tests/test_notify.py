"""Alert delivery: Python hooks inline before the firing call returns (outside every lock), and a
worker thread with a bounded queue for the retrying JSON webhook."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from conftest import Clock, entry_at
from log_analytics_engine import Alert, AlertRule, LogAnalyticsEngine
from log_analytics_engine.alerting.notify import DeliveryError, Dispatcher, WebhookNotifier
from log_analytics_engine.alerting.worker import SerialWorker
from log_analytics_engine.storage.embedded.store import EmbeddedStore
from log_analytics_engine.timeparse import format_timestamp


class Receiver:
    """A webhook receiver on a loopback port that fails the first `failures` requests with 503."""

    def __init__(self, failures: int = 0, status: int = 503, gate: threading.Event | None = None) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        self.failures = failures
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if gate is not None:  # answer only once the test opens the gate
                    gate.wait(30)
                receiver.attempts += 1
                if receiver.attempts <= receiver.failures:
                    self.send_response(receiver.status)
                else:
                    receiver.bodies.append(json.loads(body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver that fails twice before accepting."""
    r = Receiver(failures=2)
    yield r
    r.close()


def _rule() -> AlertRule:
    return AlertRule("errors", conditions={"level": "ERROR"}, threshold=1, cooldown=0, labels={"team": "db"})


def test_webhook_gets_the_alert_after_retries(receiver: Receiver, clock: Clock) -> None:
    """A webhook answering 503 twice gets the alert on the third try, as the alert's JSON."""
    engine = LogAnalyticsEngine(clock=clock)
    engine.add_alert_rule(_rule())
    engine.add_alert_webhook(receiver.url, retries=3, backoff=0.01)
    engine.ingest_logs([entry_at(clock.now, "ERROR", "disk full")])
    engine.flush()
    assert receiver.attempts == 3
    [body] = receiver.bodies
    assert body == engine.get_alerts()[0].to_dict()
    assert body["metadata"]["labels"] == {"team": "db"}
    assert engine.get_stats()["alert_hook_failures"] == 0


def test_webhook_that_keeps_failing_is_counted_not_fatal(clock: Clock) -> None:
    """A webhook that never succeeds costs a counted failure; ingest and other notifiers go on."""
    dead = Receiver(failures=100)
    try:
        engine = LogAnalyticsEngine(clock=clock)
        engine.add_alert_rule(_rule())
        engine.add_alert_webhook(dead.url, retries=1, backoff=0.01)
        got: list[Alert] = []
        engine.add_alert_notification_hook(got.append)
        assert engine.ingest_logs([entry_at(clock.now, "ERROR", "x")]) == 1
        engine.flush()
        assert dead.attempts == 2  # the first try and one retry
        assert len(got) == 1
        assert engine.get_stats()["alert_hook_failures"] == 1
    finally:
        dead.close()


def test_client_errors_are_not_retried() -> None:
    """A 4xx answer (other than a server error) is final: one attempt, a DeliveryError naming it."""
    bad = Receiver(failures=100, status=400)
    try:
        alert = Alert("r", "m", _rule().severity, 1.0, 1)
        with pytest.raises(DeliveryError, match="answered 400"):
            WebhookNotifier(bad.url, retries=3, backoff=0.01)(alert)
        assert bad.attempts == 1
    finally:
        bad.close()


def _ndjson(*lines: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


INGEST_PATHS = ["ingest_log", "ingest_logs", "jsonl file", "text file", "ingest_json_lines", "ingest_ndjson"]


def _ingest_two_errors(engine: LogAnalyticsEngine, path: str, clock: Clock, tmp: Path) -> None:
    """Ingest two ERROR logs ("a" then "b", at the clock's now) by one of the ingest paths."""
    when = format_timestamp(round(clock.now * 1e9))
    records = [{"timestamp": when, "level": "ERROR", "message": m} for m in ("a", "b")]
    if path == "ingest_log":
        engine.ingest_log(entry_at(clock.now, "INFO", "first, no match"))
        for m in ("a", "b"):
            engine.ingest_log(entry_at(clock.now, "ERROR", m))
    elif path == "ingest_logs":
        engine.ingest_logs([entry_at(clock.now, "ERROR", m) for m in ("a", "b")])
    elif path == "jsonl file":
        (tmp / "logs.jsonl").write_bytes(_ndjson(*records))
        engine.ingest_logs_from_file(tmp / "logs.jsonl")
    elif path == "text file":
        (tmp / "app.log").write_text(f"{when} ERROR a\n{when} ERROR b\n")
        engine.ingest_logs_from_file(tmp / "app.log", file_type="text")
    elif path == "ingest_json_lines":
        engine.ingest_json_lines([json.dumps(r) for r in records])
    else:
        engine.ingest_ndjson(_ndjson(*records))


@pytest.mark.parametrize("path", INGEST_PATHS)
def test_hooks_have_run_when_the_ingest_call_returns(path: str, clock: Clock, tmp_path: Path) -> None:
    """By the time the ingest call that fired an alert returns (any ingest path), every hook has been
    called with the complete alert: its sample logs fetched and the alert listed in get_alerts()."""
    engine = LogAnalyticsEngine(tmp_path / "data", clock=clock)
    engine.add_alert_rule(AlertRule("errors", conditions={"level": "ERROR"}, threshold=2, cooldown=0))
    got: list[tuple[Alert, list[str], list[str]]] = []

    def hook(alert: Alert) -> None:  # what the hook sees at the moment it is called
        listed = [a.rule_name for a in engine.get_alerts()]
        got.append((alert, [s.message for s in alert.sample_logs], listed))

    engine.add_alert_notification_hook(hook)
    try:
        _ingest_two_errors(engine, path, clock, tmp_path)
        [(alert, samples, listed)] = got
        assert [m.split()[-1] for m in samples] == ["a", "b"]  # a text line is its whole message
        assert listed == ["errors"]
        assert alert.to_dict() == engine.get_alerts()[0].to_dict()
        assert engine.get_stats()["alert_notifications_delivered"] == 1
    finally:
        engine.close()


def _within(seconds: float, work: Callable[[], object]) -> bool:
    """Run `work` on a thread; True when it finished within `seconds` (it is left running if not)."""
    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(seconds)
    return not worker.is_alive()


@pytest.mark.parametrize("firing_path", ["ingest_logs", "ingest_ndjson"])
def test_slow_hook_slows_only_its_caller(clock: Clock, firing_path: str) -> None:
    """While a hook blocks the ingest call that fired it (a Python batch, or an NDJSON body written by
    a group commit), other threads ingest (Python batches and NDJSON bodies), query, count and list
    alerts unhindered; the blocked call returns once the hook is done."""
    release, entered = threading.Event(), threading.Event()
    order: list[str] = []

    def slow(alert: Alert) -> None:
        entered.set()
        release.wait(30)
        order.append("hook done")

    engine = LogAnalyticsEngine(clock=clock)
    engine.add_alert_rule(_rule())
    engine.add_alert_notification_hook(slow)

    def firing_ingest() -> None:
        if firing_path == "ingest_logs":
            engine.ingest_logs([entry_at(clock.now, "ERROR", "a")])
        else:
            when = format_timestamp(round(clock.now * 1e9))
            engine.ingest_ndjson(_ndjson({"timestamp": when, "level": "ERROR", "message": "a"}))
        order.append("ingest returned")

    caller = threading.Thread(target=firing_ingest, daemon=True)
    caller.start()
    try:
        assert entered.wait(10)

        def others() -> None:
            engine.ingest_logs([entry_at(clock.now, "INFO", f"info {i}") for i in range(50)])
            when = format_timestamp(round(clock.now * 1e9))
            engine.ingest_ndjson(_ndjson({"timestamp": when, "level": "INFO", "message": "over http"}))
            assert engine.count() == 52
            assert len(engine.query_logs({"level": "INFO"})) == 51
            assert [a.rule_name for a in engine.get_alerts()] == ["errors"]

        assert _within(20, others)
        assert caller.is_alive()  # still inside its hook
        assert order == []
    finally:
        release.set()
        caller.join(20)
    assert order == ["hook done", "ingest returned"]
    engine.close()


def test_hook_may_use_the_engine(clock: Clock) -> None:
    """A hook runs outside every engine lock: it can query, list alerts and ingest from inside."""
    engine = LogAnalyticsEngine(clock=clock)
    engine.add_alert_rule(_rule())
    seen: list[object] = []

    def hook(alert: Alert) -> None:
        seen.append(engine.count({"level": "ERROR"}))
        seen.append(len(engine.get_alerts()))
        engine.ingest_log(entry_at(clock.now, "INFO", f"noted {alert.rule_name}"))

    engine.add_alert_notification_hook(hook)
    assert _within(20, lambda: engine.ingest_logs([entry_at(clock.now, "ERROR", "a")]))
    assert seen == [1, 1]
    assert [log.message for log in engine.query_logs({"level": "INFO"})] == ["noted errors"]
    engine.close()


def test_resolved_notice_reaches_hooks_before_the_tick_returns(clock: Clock) -> None:
    """A hook asking for resolved notices has one by the time evaluate_alerts() (a tick) returns."""
    engine = LogAnalyticsEngine(clock=clock, alert_interval=None)
    engine.add_alert_rule(
        AlertRule("errors", conditions={"level": "ERROR"}, threshold=1, time_window=10, cooldown=0)
    )
    got: list[tuple[str, list[str]]] = []
    engine.add_alert_notification_hook(
        lambda a: got.append((a.status, [s.message for s in a.sample_logs])), resolved=True
    )
    engine.ingest_logs([entry_at(clock.now, "ERROR", "a")])
    assert got == [("firing", ["a"])]
    clock.advance(11)
    engine.evaluate_alerts()
    assert got == [("firing", ["a"]), ("resolved", ["a"])]
    engine.close()


def test_slow_webhook_stays_off_the_ingest_path(clock: Clock) -> None:
    """A webhook that has not answered yet does not hold up ingest: it is delivered on the worker."""
    gate = threading.Event()
    hook = Receiver(gate=gate)
    try:
        engine = LogAnalyticsEngine(clock=clock)
        engine.add_alert_rule(_rule())
        engine.add_alert_webhook(hook.url, retries=0, timeout=30)
        got: list[Alert] = []
        engine.add_alert_notification_hook(got.append)
        assert _within(10, lambda: engine.ingest_logs([entry_at(clock.now, "ERROR", "a")]))
        assert len(got) == 1  # the Python hook ran inline
        assert hook.bodies == []  # the webhook is still waiting on its receiver
        gate.set()
        engine.flush()
        assert [b["rule_name"] for b in hook.bodies] == ["errors"]
        engine.close()
    finally:
        gate.set()
        hook.close()


def test_full_queue_drops_and_counts() -> None:
    """With the queue full, a new alert is dropped and counted instead of blocking the caller."""
    dispatcher = Dispatcher(max_queue=1)
    started, release = threading.Event(), threading.Event()

    def blocking(alert: Alert) -> None:
        started.set()
        release.wait(30)

    dispatcher.add(blocking)
    alert = Alert("r", "m", _rule().severity, 1.0, 1)
    dispatcher.submit(alert)
    assert started.wait(10)  # the worker holds the first alert
    dispatcher.submit(alert)  # fills the queue of one
    dispatcher.submit(alert)  # no room: dropped at once
    assert dispatcher.dropped == 1
    release.set()
    dispatcher.drain()
    assert dispatcher.delivered == 2


def test_a_write_sharing_a_commit_returns_after_the_hooks_its_logs_fired(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent NDJSON bodies sharing an applier commit: the caller whose logs fired the alert returns
    only after the (slow) hook ran, on its own thread; the others do not wait for that hook."""
    gate, real_apply = threading.Event(), EmbeddedStore._apply_pending

    def held_apply(store: EmbeddedStore, chunks: Any) -> Any:  # the three bodies queue meanwhile
        gate.wait(10)
        return real_apply(store, chunks)

    monkeypatch.setattr(EmbeddedStore, "_apply_pending", held_apply)
    engine = LogAnalyticsEngine(clock=clock, alert_interval=None)
    engine.add_alert_rule(AlertRule("c errors", conditions={"source": "c"}, threshold=1))
    called = threading.Event()
    hook_threads: list[str] = []

    def slow_hook(alert: Alert) -> None:
        hook_threads.append(threading.current_thread().name)
        threading.Event().wait(0.5)
        called.set()

    engine.add_alert_notification_hook(slow_hook)
    when = format_timestamp(round(clock.now * 1e9))
    seen_on_return: dict[str, bool] = {}

    def ingest(source: str) -> None:
        engine.ingest_ndjson(_ndjson({"timestamp": when, "level": "ERROR", "message": "x", "source": source}))
        seen_on_return[source] = called.is_set()

    threads = {s: threading.Thread(target=ingest, args=(s,), name=f"ingest-{s}") for s in "abc"}
    try:
        for source in "abc":
            threads[source].start()
            threading.Event().wait(0.1)
        commits = engine._store.wal_state["apply_commits"]
        gate.set()
        for thread in threads.values():
            thread.join(10)
        assert seen_on_return == {"a": False, "b": False, "c": True}
        assert hook_threads == ["ingest-c"]
        assert engine.count() == 3
        # a's commit was taken (and held) alone; b and c queued behind it and shared the next
        assert engine._store.wal_state["apply_commits"] - commits == 2
    finally:
        gate.set()
        engine.close()


def test_stats_and_metrics_answer_while_the_alert_recorder_is_busy(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In an alert storm the recorder's queue never empties: get_stats() and the Prometheus text do
    not wait for it (a scrape answers during the incident). Here the recorder is stuck until the
    test lets it go, so a call that waited for it would never return."""
    engine = LogAnalyticsEngine(clock=clock, alert_interval=None)
    engine.add_alert_rule(AlertRule("storm", conditions={"level": "ERROR"}, threshold=1, cooldown=0))
    real, release = engine._alerting._record_job, threading.Event()

    def stuck_record(job: Any) -> None:
        release.wait(60)
        real(job)

    monkeypatch.setattr(engine._alerting, "_record_job", stuck_record)
    try:
        for i in range(5):
            engine.ingest_logs([entry_at(clock.now, "ERROR", f"down {i}")])
            clock.advance(0.001)
        answers: list[object] = []
        assert _within(30, lambda: answers.append(engine.get_stats()["alert_alerts"]))
        assert _within(30, lambda: answers.append(engine.export_metrics_prometheus()))
        assert "loganalytics_alerts_fired" in str(answers[1])
    finally:
        release.set()
        engine.close()
    assert len(engine.get_alerts()) == answers[0]  # every firing was counted at once, stored later


def test_a_worker_join_waits_for_what_was_queued_before_it_only() -> None:
    """`SerialWorker.join` returns once the items put before it are handled, though an item put after
    it is still being handled (a storm's steady stream never starves `get_alerts()`)."""
    gates = {1: threading.Event(), 2: threading.Event()}
    worker: SerialWorker[int] = SerialWorker("test-worker", lambda item: gates[item].wait(60), 10)
    counts, waiting = worker._counts, threading.Event()
    real_wait_for = counts.wait_for

    def wait_for(predicate: Callable[[], bool]) -> bool:  # join has taken its count: say so
        waiting.set()
        return real_wait_for(predicate)

    counts.wait_for = wait_for  # type: ignore[method-assign]
    worker.put(1)
    joined = threading.Event()
    threading.Thread(target=lambda: (worker.join(), joined.set()), daemon=True).start()
    assert waiting.wait(30)
    worker.put(2)  # after the join began
    assert not joined.is_set()  # item 1 is not handled yet
    gates[1].set()
    assert joined.wait(30)  # item 2 is still held
    assert not gates[2].is_set()
    gates[2].set()
    worker.join()
