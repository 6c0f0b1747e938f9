"""Alert delivery, two ways.

Python hooks (`add_alert_notification_hook`) are called by `HookRunner` on the thread of the call
that fired or resolved the alert (an ingest call, or an evaluation tick), before that call returns
and once it holds no engine lock: the original's users read their hook's effects right after
`ingest_log`, and a slow hook slows only its own caller. JSON webhooks and Alertmanager go through
a bounded queue to a worker thread (`Dispatcher`), so network delays never slow ingest; a full
queue drops (and counts) the newest notice. Notifiers with `refresh = True` (Alertmanager) also get
the periodic re-sends of alerts still firing, which keep them active there. Either way a failing
notifier is logged and counted and never fails the call."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from log_analytics_engine.alerting.records import time_text
from log_analytics_engine.alerting.worker import SerialWorker

if TYPE_CHECKING:
    from log_analytics_engine.alerting.rules import Alert

Hook = Callable[["Alert"], None]
log = logging.getLogger(__name__)
MAX_QUEUE = 1_000


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
    refresh = False

    def __call__(self, alert: Alert) -> None:
        post_json(self.url, alert.to_dict(), self)

    def __str__(self) -> str:
        return f"webhook {self.url}"


def post_json(url: str, payload: object, how: WebhookNotifier | AlertmanagerNotifier) -> None:
    """POST `payload` as JSON with `how`'s timeout, headers and retries; DeliveryError when it gives up."""
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", **how.headers}
    for attempt in range(how.retries + 1):
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=how.timeout) as answer:
                answer.read()
            return
        except urllib.error.HTTPError as exc:
            if exc.code < 500 or attempt == how.retries:
                detail = exc.read()[:500].decode(errors="replace")
                raise DeliveryError(f"{how} answered {exc.code}: {detail}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            if attempt == how.retries:
                raise DeliveryError(f"{how} unreachable: {exc}") from exc
        time.sleep(how.backoff * 2**attempt)


@dataclass
class AlertmanagerNotifier:
    """Send alerts to an Alertmanager's v2 API (`POST {url}/api/v2/alerts`): labels `alertname`,
    `severity` and the rule's labels; annotations `summary`, `description` and the rule's; `startsAt`
    the firing time, `endsAt` the resolve time once resolved. Alerts still firing are re-sent on every
    evaluation tick, so Alertmanager keeps them active until the resolved notice arrives."""

    url: str
    timeout: float = 5.0
    retries: int = 3
    backoff: float = 0.5
    headers: Mapping[str, str] = field(default_factory=dict)
    generator_url: str | None = None
    refresh = True

    def __call__(self, alert: Alert) -> None:
        post_json(self.url.rstrip("/") + "/api/v2/alerts", [self.payload(alert)], self)

    def payload(self, alert: Alert) -> dict[str, object]:
        """The postableAlert for one alert."""
        labels = {"alertname": alert.rule_name, "severity": alert.severity.value, **alert.labels}
        description = str(alert.metadata.get("description") or "")
        annotations = {"summary": alert.message, **({"description": description} if description else {})}
        annotations.update(alert.annotations)
        out: dict[str, object] = {
            "labels": labels,
            "annotations": annotations,
            "startsAt": time_text(alert.triggered_at),
        }
        if alert.resolved_at is not None:
            out["endsAt"] = time_text(alert.resolved_at)
        if self.generator_url:
            out["generatorURL"] = self.generator_url
        return out

    def __str__(self) -> str:
        return f"Alertmanager {self.url}"


class HookRunner:
    """Python notification hooks, called in the caller's thread, in registration order."""

    def __init__(self) -> None:
        self._hooks: list[tuple[Hook, bool]] = []  # (hook, wants resolved notices)
        self._lock = threading.Lock()
        self.delivered = 0
        self.failures = 0

    def add(self, hook: Hook, resolved: bool) -> None:
        """Call `hook` for every later firing, and for resolved notices when `resolved`."""
        with self._lock:
            self._hooks = [*self._hooks, (hook, resolved)]

    def __bool__(self) -> bool:
        return bool(self._hooks)

    def wants(self, alert: Alert) -> bool:
        """True when some hook is to be called for this notice."""
        return any(alert.status == "firing" or resolved for _, resolved in self._hooks)

    def call(self, alert: Alert) -> None:
        """Call every hook that wants the notice; one that raises is logged and counted."""
        for hook, wants_resolved in self._hooks:
            if alert.status != "firing" and not wants_resolved:
                continue
            try:
                hook(alert)
            except Exception:  # a user's hook must not fail the ingest that fired the alert
                with self._lock:
                    self.failures += 1
                log.exception("alert notification hook %r failed", hook)
        with self._lock:
            self.delivered += 1


class Dispatcher:
    """Notifiers and the bounded queue feeding them; `drain()` waits until every queued notice was
    handed to every notifier."""

    def __init__(self, max_queue: int = MAX_QUEUE) -> None:
        self._worker: SerialWorker[tuple[Alert, bool]] = SerialWorker(
            "log-analytics-notify", self._deliver, max_queue
        )
        self._hooks: list[tuple[Hook, bool]] = []  # (notifier, wants resolved notices)
        self._lock = threading.Lock()
        self.delivered = 0
        self.failures = 0
        self.dropped = 0

    def add(self, hook: Hook, resolved: bool = True) -> None:
        """Deliver every later firing to `hook` too, and the resolved notices when `resolved`."""
        with self._lock:
            self._hooks = [*self._hooks, (hook, resolved)]

    def submit(self, alert: Alert, refresh: bool = False) -> None:
        """Queue an alert (a firing or resolved notice, or with `refresh` a re-send of one still firing,
        for the notifiers that want those); never blocks: a full queue drops it and counts the drop."""
        hooks = self._hooks
        if not hooks or (refresh and not any(getattr(h, "refresh", False) for h, _ in hooks)):
            return
        if not self._worker.put((alert, refresh), wait=False):
            with self._lock:
                self.dropped += 1
            log.warning("alert notification queue full; dropped an alert of rule %r", alert.rule_name)

    def drain(self) -> None:
        """Wait until every alert queued so far has been handed to every notifier."""
        self._worker.join()

    def _deliver(self, item: tuple[Alert, bool]) -> None:
        alert, refresh = item
        for hook, wants_resolved in list(self._hooks):
            if refresh and not getattr(hook, "refresh", False):
                continue
            if alert.status != "firing" and not wants_resolved:
                continue
            try:
                hook(alert)
            except Exception:  # a notifier's failure must not stop the others or the worker
                with self._lock:
                    self.failures += 1
                log.exception("alert notifier %r failed", hook)
        with self._lock:
            self.delivered += 1
