"""A full disk under `log-analytics serve` (issue 11, item 11): each write refused is a JSON 507 with
`Retry-After` and one log line (it was a text/plain 500 with a 60-line traceback per request), nothing
acknowledged is lost, ingest works again once space is back without a restart, and SIGTERM while the
disk is full ends the process within 10 s (it used to hang until SIGKILL)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import services
from services import fill_disk, free_port, wait_ready

CLI = [sys.executable, "-m", "log_analytics_engine.cli"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 32 MiB tmpfs for the data directory."""
    with services.small_disk(tmp_path / "disk", "32m") as mount:
        yield mount


def _batch(tag: str, n: int = 2_000) -> bytes:
    line = {"level": "info", "source": "disk", "message": f"{tag} " + "x" * 200}
    return b"".join(json.dumps({**line, "request_id": f"{tag}-{i}"}).encode() + b"\n" for i in range(n))


def _serve(data: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [*CLI, "serve", "--data", str(data), "--port", str(port)],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    wait_ready(url + "/healthz", process, log)
    return process, url


def test_a_full_disk_answers_507_then_heals_and_sigterm_ends_promptly(
    small_disk: Path, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    process, url = _serve(small_disk / "data", log)
    try:
        acknowledged = 0
        for i in range(3):
            answer = httpx.post(url + "/api/v1/logs", content=_batch(f"before{i}"), timeout=30)
            assert answer.status_code == 200
            acknowledged += answer.json()["accepted"]
        ballast = fill_disk(small_disk)
        refused = None
        for i in range(50):  # the last free blocks go first
            answer = httpx.post(url + "/api/v1/logs", content=_batch(f"full{i}"), timeout=30)
            if answer.status_code != 200:
                refused = answer
                break
            acknowledged += answer.json()["accepted"]
        assert refused is not None, "the disk never filled"
        assert refused.status_code == 507
        assert refused.headers["content-type"] == "application/json"
        assert refused.headers["retry-after"] == "30"
        assert "is full; nothing of this write was stored" in refused.json()["detail"]
        for _ in range(3):
            assert httpx.post(url + "/api/v1/logs", content=_batch("again"), timeout=30).status_code == 507
        text = log.read_text()
        assert "Traceback" not in text
        assert text.count("answered 507") == 4  # one line per refused request
        assert httpx.get(url + "/readyz", timeout=30).status_code == 200  # reads still work

        ballast.unlink()
        answer = httpx.post(url + "/api/v1/logs", content=_batch("after"), timeout=30)
        assert answer.status_code == 200  # no restart needed
        acknowledged += answer.json()["accepted"]
        found = httpx.get(url + "/api/v1/search", params={"q": "*", "limit": 1}, timeout=30).json()
        assert found["total"] == acknowledged

        ballast = fill_disk(small_disk)
        assert httpx.post(url + "/api/v1/logs", content=_batch("full again"), timeout=30).status_code == 507
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(10)  # raises TimeoutExpired past 10 s
        assert time.monotonic() - started < 10
        ballast.unlink()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    process, url = _serve(small_disk / "data", tmp_path / "again.log")
    try:
        found = httpx.get(url + "/api/v1/search", params={"q": "*", "limit": 1}, timeout=30).json()
        assert found["total"] == acknowledged  # nothing acknowledged was lost
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
