"""Alert delivery: fired alerts go through a bounded queue to a worker thread that calls every
notifier (Python hooks, JSON webhooks) outside the engine's locks, so a slow or failing notifier never
slows ingest. Failures are logged and counted; a full queue drops (and counts) the newest alert."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from log_analytics_engine.alerting.rules import Alert

Hook = Callable[["Alert"], None]
log = logging.getLogger(__name__)
MAX_QUEUE = 1_000
# An idle worker ends after this long (a later alert starts a new one), so engines that are dropped
# without close() leave no thread behind for long.
IDLE_SECONDS = 30.0


class DeliveryError(Exception):
    """A notifier gave up on an alert (after its retries)."""


@dataclass
class WebhookNotifier:
    """POST each alert as JSON (`Alert.to_dict()`) to `url`; 5xx answers and connection errors are
    retried `retries` times with exponential backoff; other 4xx answers are not retried."""

    url: str
    timeout: float = 5.0
    retries: int = 3
    backoff: float = 0.5
    headers: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, alert: Alert) -> None:
        body = json.dumps(alert.to_dict()).encode()
        headers = {"Content-Type": "application/json", **self.headers}
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    answer.read()
                return
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or attempt == self.retries:
                    raise DeliveryError(f"webhook {self.url} answered {exc.code}") from exc
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                if attempt == self.retries:
                    raise DeliveryError(f"webhook {self.url} unreachable: {exc}") from exc
            time.sleep(self.backoff * 2**attempt)


class Dispatcher:
    """The bounded queue and its worker; `drain()` waits until every queued alert was delivered."""

    def __init__(self, max_queue: int = MAX_QUEUE) -> None:
        self._queue: queue.Queue[Alert] = queue.Queue(max_queue)
        self._hooks: list[Hook] = []
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self.delivered = 0
        self.failures = 0
        self.dropped = 0

    def add(self, hook: Hook) -> None:
        """Deliver every later alert to `hook` too."""
        with self._lock:
            self._hooks = [*self._hooks, hook]

    def submit(self, alert: Alert) -> None:
        """Queue an alert for delivery; never blocks (a full queue drops it and counts the drop)."""
        if not self._hooks:
            return
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            with self._lock:
                self.dropped += 1
            log.warning("alert notification queue full; dropped an alert of rule %r", alert.rule_name)
            return
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="log-analytics-notify", daemon=True)
                self._worker.start()

    def drain(self) -> None:
        """Wait until every alert queued so far has been handed to every notifier."""
        self._queue.join()

    def _run(self) -> None:
        while True:
            try:
                alert = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._worker = None
                        return
                continue
            try:
                for hook in list(self._hooks):
                    try:
                        hook(alert)
                    except Exception:  # a notifier's failure must not stop the others or the worker
                        with self._lock:
                            self.failures += 1
                        log.exception("alert notifier %r failed", hook)
                with self._lock:
                    self.delivered += 1
            finally:
                self._queue.task_done()
