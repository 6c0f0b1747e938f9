"""`/metrics` as a real Prometheus sees it (Debian's `prometheus` package: `promtool` and the server):
the exposition passes `promtool check metrics` (lint warnings allowed, parse errors not), a Prometheus
started here on a loopback port scrapes `log-analytics serve` (`up` is 1 and `loganalytics_total_logs`
holds the ingested count), and with API keys configured a job with a `query` key as bearer token
scrapes while a job without one gets 401 and `up` 0."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from log_analytics_engine.server.settings import hash_key
from services import free_port, wait_ready
from test_server_process import Server

LOGS = 3
ONE_LOG = b'{"message":"x","level":"error"}\n'


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: `apt-get install prometheus` provides prometheus and promtool")
    return path


def _ingest(server: Server, count: int, key: str | None = None) -> None:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    for _ in range(count):
        answer = httpx.post(server.url + "/api/v1/logs", content=ONE_LOG, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] == 1


def _job(name: str, target: str, bearer: str | None = None) -> dict[str, Any]:
    job: dict[str, Any] = {
        "job_name": name,
        "metrics_path": "/metrics",
        "static_configs": [{"targets": [target]}],
    }
    if bearer is not None:
        job["authorization"] = {"type": "Bearer", "credentials": bearer}
    return job


class Prometheus:
    """A running Prometheus scraping every second, and a small client for its HTTP API."""

    def __init__(self, tmp: Path, jobs: list[dict[str, Any]]) -> None:
        binary = _binary("prometheus")
        tmp.mkdir(parents=True, exist_ok=True)
        config = tmp / "prometheus.yml"
        # JSON is YAML: no need for a YAML writer.
        config.write_text(json.dumps({"global": {"scrape_interval": "1s"}, "scrape_configs": jobs}))
        self.log = tmp / "prometheus.log"
        self.url = f"http://127.0.0.1:{free_port()}"
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address={self.url.removeprefix('http://')}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
        )
        wait_ready(self.url + "/-/ready", self.process, self.log, 30)

    def get(self, path: str, **params: str) -> Any:
        url = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        with urllib.request.urlopen(url, timeout=5) as answer:
            body = json.loads(answer.read())
        assert body["status"] == "success", body
        return body["data"]

    def value(self, expr: str) -> float | None:
        """The value of a single-series instant query; None while it has no sample."""
        result = self.get("/api/v1/query", query=expr)["result"]
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, expr: str, expected: float, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        seen = self.value(expr)
        while seen != expected:
            if time.monotonic() > deadline:
                targets = json.dumps(self.get("/api/v1/targets")["activeTargets"], indent=1)
                pytest.fail(f"{expr} is {seen}, expected {expected}; targets: {targets}")
            time.sleep(0.2)
            seen = self.value(expr)

    def last_error(self, job: str) -> str:
        [target] = [t for t in self.get("/api/v1/targets")["activeTargets"] if t["labels"]["job"] == job]
        error: str = target["lastError"]
        return error

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "data")
    yield running
    if running.process.poll() is None:
        running.stop()


@pytest.fixture
def keys() -> dict[str, str]:
    return {"shipper": secrets.token_urlsafe(24), "prometheus": secrets.token_urlsafe(24)}


@pytest.fixture
def keyed_server(tmp_path: Path, keys: dict[str, str]) -> Iterator[Server]:
    config = tmp_path / "server.toml"
    config.write_text(
        f'[[api_keys]]\nname = "shipper"\nsha256 = "{hash_key(keys["shipper"])}"\nscopes = ["ingest"]\n\n'
        f'[[api_keys]]\nname = "prometheus"\nsha256 = "{hash_key(keys["prometheus"])}"\nscopes = ["query"]\n'
    )
    running = Server(tmp_path / "data", "--config", str(config))
    yield running
    if running.process.poll() is None:
        running.stop()


def test_metrics_pass_promtool_check(server: Server) -> None:
    promtool = _binary("promtool")
    _ingest(server, LOGS)
    answer = httpx.get(server.url + "/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=answer.content, capture_output=True, timeout=30
    )
    output = (checked.stdout + checked.stderr).decode(errors="replace")
    # 0: clean; 3: lint warnings only (e.g. naming advice); 1: the exposition does not parse.
    assert checked.returncode in (0, 3), f"promtool check metrics exited {checked.returncode}:\n{output}"
    print(f"promtool check metrics exited {checked.returncode}:\n{output}")


def test_prometheus_scrapes_the_server(server: Server, tmp_path: Path) -> None:
    _ingest(server, LOGS)
    target = server.url.removeprefix("http://")
    prometheus = Prometheus(tmp_path / "prometheus", [_job("loganalytics", target)])
    try:
        prometheus.wait_for('up{job="loganalytics"}', 1)
        assert prometheus.value('loganalytics_total_logs{job="loganalytics"}') == LOGS
        assert prometheus.value('loganalytics_ingested_logs_total{job="loganalytics",path="http"}') == LOGS
    finally:
        prometheus.stop()


def test_prometheus_scrapes_with_a_bearer_key(
    keyed_server: Server, keys: dict[str, str], tmp_path: Path
) -> None:
    _ingest(keyed_server, LOGS, keys["shipper"])
    assert httpx.get(keyed_server.url + "/metrics").status_code == 401
    target = keyed_server.url.removeprefix("http://")
    jobs = [_job("with-key", target, keys["prometheus"]), _job("without-key", target)]
    prometheus = Prometheus(tmp_path / "prometheus", jobs)
    try:
        prometheus.wait_for('up{job="with-key"}', 1)
        assert prometheus.value('loganalytics_total_logs{job="with-key"}') == LOGS
        prometheus.wait_for('up{job="without-key"}', 0)
        assert "401" in prometheus.last_error("without-key")
        assert prometheus.value('loganalytics_total_logs{job="without-key"}') is None
    finally:
        prometheus.stop()
