"""Alert delivery: a worker thread with a bounded queue, Python hooks and a retrying JSON webhook."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from conftest import Clock, entry_at
from log_analytics_engine import Alert, AlertRule, LogAnalyticsEngine
from log_analytics_engine.alerting.notify import DeliveryError, Dispatcher, WebhookNotifier


class Receiver:
    """A webhook receiver on a loopback port that fails the first `failures` requests with 503."""

    def __init__(self, failures: int = 0, status: int = 503) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        self.failures = failures
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
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


def test_slow_hook_does_not_hold_up_ingest(clock: Clock) -> None:
    """Ingest returns while a hook is still blocked; the hook completes later on its own thread."""
    release = threading.Event()
    done = threading.Event()

    def slow(alert: Alert) -> None:
        release.wait(30)
        done.set()

    engine = LogAnalyticsEngine(clock=clock)
    engine.add_alert_rule(_rule())
    engine.add_alert_notification_hook(slow)
    engine.ingest_logs([entry_at(clock.now, "ERROR", "a")])
    engine.ingest_logs([entry_at(clock.now, "ERROR", "b")])  # would deadlock if hooks ran inline
    assert not done.is_set()
    assert engine.count() == 2
    release.set()
    engine.flush()
    assert done.is_set()


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
