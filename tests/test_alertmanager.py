"""Alert delivery to a real Alertmanager (Debian's `prometheus-alertmanager`, started here on a loopback
port with a temporary config): a firing shows up as an active alert with the rule's labels and
annotations, a silence suppresses it, and the resolved notice ends it — all checked through
Alertmanager's own v2 API."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import entry_at
from log_analytics_engine import AlertRule, AlertSeverity, LogAnalyticsEngine
from log_analytics_engine.alerting.notify import AlertmanagerNotifier
from log_analytics_engine.alerting.rules import Alert
from services import free_port, wait_ready

CONFIG = """\
route:
  receiver: "nobody"
  group_by: ["alertname"]
  group_wait: 0s
receivers:
  - name: "nobody"
"""


class Alertmanager:
    """A running Alertmanager and a small client for its v2 API."""

    def __init__(self, tmp: Path) -> None:
        binary = shutil.which("prometheus-alertmanager")
        assert binary, "prometheus-alertmanager is not installed (scripts/test.sh installs it)"
        (tmp / "am.yml").write_text(CONFIG)
        self.url = f"http://127.0.0.1:{free_port()}"
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp / 'am.yml'}",
                f"--storage.path={tmp / 'data'}",
                f"--web.listen-address={self.url.removeprefix('http://')}",
                "--cluster.listen-address=",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(tmp / "am.log").open("w"),
        )
        wait_ready(self.url + "/-/ready", self.process, tmp / "am.log", 30)

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=5) as answer:
            return json.loads(answer.read())

    def post(self, path: str, body: object) -> Any:
        request = urllib.request.Request(
            self.url + path, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read() or b"null")

    def alerts(self, name: str) -> list[dict[str, Any]]:
        return [a for a in self.get("/api/v2/alerts") if a["labels"]["alertname"] == name]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    am = Alertmanager(tmp_path)
    yield am
    am.stop()


def _rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1000):03d}Z"


def test_firing_silenced_and_resolved_in_alertmanager(alertmanager: Alertmanager) -> None:
    engine = LogAnalyticsEngine(alert_interval=None)  # the real clock; ticks are run by hand here
    engine.add_alert_rule(
        AlertRule(
            "DiskErrors",
            description="disk trouble",
            query="disk level:ERROR",
            severity=AlertSeverity.CRITICAL,
            threshold=2,
            time_window=1,
            cooldown=60,
            labels={"team": "storage"},
            annotations={"runbook": "https://runbooks.example/disk"},
        )
    )
    engine.add_alertmanager(alertmanager.url, retries=0)
    now = time.time()
    engine.ingest_logs([entry_at(now, "ERROR", "disk full"), entry_at(now, "ERROR", "disk gone")])
    engine.flush()
    [alert] = alertmanager.alerts("DiskErrors")
    assert alert["labels"] == {"alertname": "DiskErrors", "severity": "critical", "team": "storage"}
    assert alert["annotations"] == {
        "summary": "Alert 'DiskErrors' triggered: 2 matches in 1s.",
        "description": "disk trouble",
        "runbook": "https://runbooks.example/disk",
    }
    assert alert["status"]["state"] == "active"
    assert alert["startsAt"].startswith(_rfc3339(engine.get_alerts()[0].triggered_at.timestamp())[:19])

    # a silence on the team label suppresses it; the engine's re-send keeps it alive meanwhile
    alertmanager.post(
        "/api/v2/silences",
        {
            "matchers": [{"name": "team", "value": "storage", "isRegex": False, "isEqual": True}],
            "startsAt": _rfc3339(time.time() - 1),
            "endsAt": _rfc3339(time.time() + 3600),
            "createdBy": "test",
            "comment": "maintenance",
        },
    )
    engine.evaluate_alerts()  # still firing: re-sent
    engine.flush()
    [alert] = alertmanager.alerts("DiskErrors")
    assert alert["status"]["state"] == "suppressed"

    # the window drains: the resolved notice ends the alert in Alertmanager
    time.sleep(1.2)
    engine.evaluate_alerts()
    engine.flush()
    [resolved] = engine.get_alerts()
    assert resolved.status == "resolved"
    assert alertmanager.alerts("DiskErrors") == []
    assert engine.get_stats()["alert_hook_failures"] == 0
    engine.close()


def test_alertmanager_rejection_is_a_counted_failure(alertmanager: Alertmanager) -> None:
    """An alert Alertmanager refuses (a label that is not a valid name slips past a hand-made Alert)
    is a DeliveryError naming the answer; through the engine it would be a counted failure."""
    notifier = AlertmanagerNotifier(alertmanager.url, retries=0)
    bad = Alert("x", "m", AlertSeverity.LOW, time.time(), 1, labels={"bad-label": "v"})
    with pytest.raises(Exception, match="answered 400"):
        notifier(bad)
