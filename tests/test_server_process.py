"""The server as users run it: `log-analytics serve` in its own process on a loopback port, driven by
httpx and by curl (ingest -> search -> live tail -> metrics), killed with SIGKILL in the middle of
ingest and restarted (every acknowledged log is there), and stopped gracefully with SIGTERM."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from services import free_port, wait_ready

CLI = [sys.executable, "-m", "log_analytics_engine.cli"]


class Server:
    """`log-analytics serve` in a child process."""

    def __init__(self, data: Path, *extra: str, log_dir: Path | None = None) -> None:
        """Start it on `data`; its output goes to a file in `log_dir` (default: beside `data`)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (log_dir or data.parent) / f"server-{self.port}.log"
        command = [*CLI, "serve", "--data", str(data)]
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port), *extra],
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        wait_ready(self.url + "/healthz", self.process, self.log)

    def stop(self) -> None:
        """SIGTERM: uvicorn finishes the requests in flight, the engine closes, then the process
        ends by the signal (uvicorn re-raises it)."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)
        assert "stopped; the store is closed and flushed" in self.log.read_text()


@pytest.fixture
def server(data_dir: Path) -> Iterator[Server]:
    running = Server(data_dir)
    yield running
    if running.process.poll() is None:
        running.stop()


def _tail(query: str, *where: str) -> subprocess.Popen[str]:
    """`log-analytics tail QUERY --ndjson` on `where` (--url … or --data …), its output piped."""
    return subprocess.Popen(
        [*CLI, "tail", query, *where, "--ndjson"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _ndjson(records: list[dict[str, object]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def test_ingest_search_tail_metrics_end_to_end(server: Server) -> None:
    answer = httpx.post(
        server.url + "/api/v1/logs", content=_ndjson([{"message": "boot ok", "level": "info"}])
    )
    assert answer.json()["accepted"] == 1
    curl = subprocess.run(
        [
            "curl",
            "-sS",
            "--fail-with-body",
            "-X",
            "POST",
            "--data-binary",
            '[{"message": "disk full", "level": "error"}]',
            server.url + "/api/v1/logs",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(curl.stdout)["accepted"] == 1
    found = httpx.get(server.url + "/api/v1/search", params={"q": "level:ERROR disk"}).json()
    assert [log["message"] for log in found["logs"]] == ["disk full"]

    tail = subprocess.Popen(
        ["curl", "-sN", server.url + "/api/v1/tail?q=level:ERROR"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert tail.stdout is not None
        assert _line_within(tail.stdout, 30).strip() == ": tailing"
        httpx.post(server.url + "/api/v1/logs", content=_ndjson([{"message": "live one", "level": "error"}]))
        line = ""
        while not line.startswith("data: "):
            line = _line_within(tail.stdout, 30)
        assert json.loads(line.removeprefix("data: "))["message"] == "live one"
    finally:
        tail.kill()
        tail.wait()

    metrics = subprocess.run(
        ["curl", "-sS", server.url + "/metrics"], capture_output=True, text=True, check=True
    )
    assert "loganalytics_total_logs 3.0" in metrics.stdout
    assert 'loganalytics_ingested_logs_total{path="http"} 3.0' in metrics.stdout


def test_kill_9_during_ingest_loses_nothing_acknowledged(data_dir: Path) -> None:
    server = Server(data_dir)
    acknowledged: list[int] = []
    stop = threading.Event()

    def ingest() -> None:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for batch in range(10_000):
                if stop.is_set():
                    return
                records = [{"message": f"m {batch} {i}", "batch": batch} for i in range(200)]
                try:
                    answer = client.post("/api/v1/logs", content=_ndjson(records))
                except httpx.TransportError:
                    return
                if answer.status_code == 200:
                    acknowledged.append(batch)

    thread = threading.Thread(target=ingest)
    thread.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(10)
    stop.set()
    thread.join(30)
    assert len(acknowledged) >= 20

    again = Server(data_dir)
    try:
        query = httpx.get(
            again.url + "/api/v1/query", params={"q": "* | stats by (batch) count() as n"}
        ).json()
        stored = {int(row["batch"]): row["n"] for row in query["rows"]}
        for batch in acknowledged:
            assert stored.get(batch) == 200, f"acknowledged batch {batch} has {stored.get(batch)} logs"
    finally:
        again.stop()


def test_graceful_stop_and_restart_keep_everything(data_dir: Path) -> None:
    server = Server(data_dir)
    httpx.post(server.url + "/api/v1/logs", content=_ndjson([{"message": f"n{i}"} for i in range(500)]))
    server.stop()
    again = Server(data_dir)
    try:
        assert httpx.get(again.url + "/api/v1/search", params={"q": "*", "limit": 1}).json()["total"] == 500
        owned = subprocess.run(
            [*CLI, "stats", "--data", str(data_dir)],
            capture_output=True,
            text=True,
        )
        assert owned.returncode == 2
        assert f"is in use by another engine (pid {again.process.pid})" in owned.stderr
    finally:
        again.stop()


def test_refuses_public_bind_without_keys(data_dir: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "log_analytics_engine.cli",
        "serve",
        "--data",
        str(data_dir),
        "--host",
        "0.0.0.0",
    ]
    refused = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "refusing to listen on 0.0.0.0 without API keys" in refused.stderr


def _line_within(stream: IO[str], seconds: float) -> str:
    """The next line of a child's pipe, failing the test (not hanging it) after `seconds`."""
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(seconds)
    assert got, f"no line within {seconds} s"
    return got[0]


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True, timeout=120)


def test_cli_against_the_server_with_an_api_key(tmp_path: Path, data_dir: Path) -> None:
    """Every CLI command with --url and --api-key: ingest (file and stdin), query, tail, stats, rules,
    alerts; a missing key is a clear error."""
    key = "admin-key-for-tests"
    config = tmp_path / "server.toml"
    digest = hashlib.sha256(key.encode()).hexdigest()
    config.write_text(f'[[api_keys]]\nname = "ops"\nsha256 = "{digest}"\nscopes = ["admin"]\n')
    server = Server(data_dir, "--config", str(config))
    remote = ["--url", server.url, "--api-key", key]
    try:
        logs = tmp_path / "logs.jsonl"
        logs.write_text(
            '{"message": "db timeout", "level": "error", "source": "db"}\nnot json\n{"message": "fine"}\n'
        )
        ingested = _cli("ingest", str(logs), *remote)
        assert ingested.returncode == 0, ingested.stderr
        assert "stored 2 logs" in ingested.stdout
        assert "line 2" in ingested.stdout
        piped = _cli("ingest", "-", *remote, stdin='{"message": "from stdin", "level": "warn"}\n')
        assert "stored 1 logs" in piped.stdout, piped.stderr
        found = _cli("query", "level:ERROR OR level:WARN", *remote, "--ndjson")
        assert [json.loads(line)["message"] for line in found.stdout.splitlines()] == [
            "from stdin",
            "db timeout",
        ]
        stats = json.loads(_cli("stats", *remote).stdout)
        assert stats["total_logs"] == 3

        added = _cli("rules", "add", "db errors", "--query", "level:ERROR", "--threshold", "1", *remote)
        assert added.returncode == 0, added.stderr
        [listed] = json.loads(_cli("rules", "list", *remote, "--json").stdout)
        assert (listed["name"], listed["query"], listed["threshold"]) == ("db errors", "level:ERROR", 1)
        httpx.post(
            server.url + "/api/v1/logs",
            content=b'{"message": "db down", "level": "error"}\n',
            headers={"X-API-Key": key},
        )
        fired = json.loads(_cli("alerts", *remote, "--json").stdout)
        assert [a["rule_name"] for a in fired] == ["db errors"]
        assert _cli("rules", "rm", "db errors", *remote).returncode == 0
        assert json.loads(_cli("rules", "list", *remote, "--json").stdout) == []

        follow = _tail("level:ERROR", *remote)
        try:
            assert follow.stdout is not None
            assert follow.stderr is not None
            assert "following 'level:ERROR'" in _line_within(follow.stderr, 60)  # connected
            httpx.post(
                server.url + "/api/v1/logs",
                content=b'{"message": "tailed", "level": "error"}\n',
                headers={"X-API-Key": key},
            )
            assert json.loads(_line_within(follow.stdout, 30))["message"] == "tailed"
        finally:
            follow.kill()
            follow.wait()

        refused = _cli("query", "*", "--url", server.url)
        assert refused.returncode == 2
        assert "answered 401: an API key is required" in refused.stderr
    finally:
        server.stop()


def _wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll `condition` until it holds, failing the test (not hanging it) after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.1)


def test_ingest_stdin_streams_to_the_server(server: Server) -> None:
    """`ingest - --url` sends lines as they arrive on an open stdin (as `tail -f app.log |` feeds it),
    not at its end; closing stdin ends it with the report of everything sent."""
    feeder = subprocess.Popen(
        [*CLI, "ingest", "-", "--url", server.url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert feeder.stdin is not None

    def total() -> int:
        found = httpx.get(server.url + "/api/v1/search", params={"q": "streamed", "limit": 1}).json()
        return int(found["total"])

    try:
        feeder.stdin.write(_ndjson([{"message": f"streamed {i}"} for i in range(3)]))
        feeder.stdin.flush()
        _wait_for(lambda: total() == 3, 60, "the first lines reach the server while stdin is open")
        assert feeder.poll() is None
        feeder.stdin.write(_ndjson([{"message": "streamed late"}]) + b"not json\n")
        feeder.stdin.flush()
        _wait_for(lambda: total() == 4, 60, "a later line reaches the server")
        out, err = feeder.communicate(timeout=60)  # closes stdin: the end of the input
    finally:
        if feeder.poll() is None:
            feeder.kill()
            feeder.wait()
    assert feeder.returncode == 0, err
    assert b"stored 4 logs from -" in out
    assert b"line 5" in out


def test_tail_follows_a_data_directory(tmp_path: Path, data_dir: Path) -> None:
    """`tail --data DIR` shows logs another command stores in DIR meanwhile (it holds the directory
    only while it looks, so that `ingest --data DIR` succeeds)."""
    first = tmp_path / "first.jsonl"
    first.write_text('{"message": "before", "level": "error"}\n')
    assert _cli("ingest", str(first), "--data", str(data_dir)).returncode == 0
    follow = _tail("level:ERROR", "--data", str(data_dir))
    try:
        assert follow.stdout is not None
        assert follow.stderr is not None
        assert "following 'level:ERROR'" in _line_within(follow.stderr, 60)
        later = tmp_path / "later.jsonl"
        later.write_text('{"message": "quiet", "level": "info"}\n{"message": "after", "level": "error"}\n')
        for _ in range(3):  # each run meets the tail's polls at a different moment
            ingested = _cli("ingest", str(later), "--data", str(data_dir))
            assert ingested.returncode == 0, ingested.stderr
        for _ in range(3):
            assert json.loads(_line_within(follow.stdout, 30))["message"] == "after"
    finally:
        follow.kill()
        follow.wait()


def test_serve_on_a_port_in_use_exits_saying_so(data_dir: Path) -> None:
    """`serve` on a port another socket holds exits with status 2 naming the address, and never
    claims to be serving."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = _cli("serve", "--data", str(data_dir), "--port", str(port))
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}: the address is already in use" in result.stderr
    assert "serving on" not in result.stdout


def test_damaged_gzip_to_a_server_sends_the_lines_before_it(tmp_path: Path, server: Server) -> None:
    """`ingest FILE.gz --url` of a truncated file sends its whole lines before the cut, then names the
    file and the byte offset, with exit status 2."""
    body = _ndjson([{"message": f"remote {i} {i * 7919 % 10007}"} for i in range(20_000)])
    cut = gzip.compress(body)[:60_000]
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(cut)
    kept = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(cut).count(b"\n")  # zlib's own reading
    assert 0 < kept < 20_000
    result = _cli("ingest", str(path), "--url", server.url)
    assert result.returncode == 2, result.stderr
    assert f"error: {path}: damaged gzip at byte {len(cut):,}: truncated" in result.stderr
    found = httpx.get(server.url + "/api/v1/search", params={"q": "remote", "limit": 1}).json()
    assert found["total"] == kept
