"""The HTTP server's phases: `serve` in its own process, driven by httpx clients from the phase's child.

`http_server` starts `python -m log_analytics_engine.cli serve` on a free loopback port, measures
NDJSON ingest over two connections, search latency while a paced ingest runs, and live-tail delivery
latency, then stops the server with SIGTERM and waits for it. `http_reference_ingest` stores the same
NDJSON bodies through `ingest_ndjson` in-process (no HTTP), the reference for the ingest rate.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.generate import iter_records
from bench.measure import timed
from bench.phases import _guard
from log_analytics_engine import LogAnalyticsEngine

LOGS_PATH = "/api/v1/logs"
SEARCH_PATH = "/api/v1/search"
TAIL_PATH = "/api/v1/tail"
INGEST_CONNECTIONS = 2
NDJSON = {"Content-Type": "application/x-ndjson"}
PACED_RATE = 50_000  # logs/s posted while searches are timed (one batch per batch / PACED_RATE seconds)
PACED_WARMUP_S = 0.5  # ingest runs this long before the first timed search
SEARCH_QUERY = "level:ERROR"
SEARCH_LIMIT = 50
SEARCH_REQUESTS = 200
SEARCH_WARMUP = 5
TAIL_PROBES = 20
TAIL_JITTER_S = 0.25  # a random pause before each probe, so probes do not lock onto the server's poll
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
INDEX_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 60.0
TAIL_TIMEOUT_S = 10.0  # a probe not delivered within this is a failure


def ndjson_lines(n: int, seed: int) -> list[str]:
    """The generated logs as JSON lines (the same for the server and the in-process reference)."""
    return [json.dumps(record) for record in iter_records(n, seed)]


def _bodies(lines: list[str], batch: int) -> list[bytes]:
    return [("\n".join(lines[i : i + batch]) + "\n").encode() for i in range(0, len(lines), batch)]


def http_reference_ingest(n: int, seed: int, data_dir: str, batch: int) -> dict[str, Any]:
    """The same NDJSON bodies through `ingest_ndjson` in-process, one call per body, into a fresh store."""
    bodies = _bodies(ndjson_lines(n, seed), batch)
    engine = LogAnalyticsEngine(path=data_dir)
    try:
        count, ingest_s = timed(lambda: sum(engine.ingest_ndjson(body)["count"] for body in bodies))
    finally:
        engine.close()
    return {"count": count, "ingest_s": ingest_s}


@dataclass
class _Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _log_tail(log: Path, chars: int = 2000) -> str:
    try:
        return log.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return ""


@contextmanager
def _serve(
    data_dir: Path, log: Path, stopped: dict[str, Any], flags: Sequence[str] = ()
) -> Iterator[_Server]:
    """`serve --data data_dir [flags]` on a free port until `/healthz` answers 200; on exit SIGTERM
    and wait; the start and stop times and the exit status go to `stopped`."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOG_ANALYTICS_")}
    command = [sys.executable, "-m", "log_analytics_engine.cli", "serve", "--data", str(data_dir)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port), *flags], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    server = _Server(f"http://127.0.0.1:{port}", process, log)
    try:
        _, stopped["start_s"] = timed(lambda: _wait_healthy(server))
        yield server
    finally:
        started = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        try:
            stopped["returncode"] = process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            stopped["returncode"] = process.wait()
            stopped["error"] = f"server still running {STOP_TIMEOUT_S:.0f} s after SIGTERM: killed"
        stopped["stop_s"] = time.perf_counter() - started
        if stopped["returncode"] not in (0, -signal.SIGTERM):
            stopped.setdefault("error", f"server exit status {stopped['returncode']}")
        if "error" in stopped:
            stopped["output"] = _log_tail(log)


def _wait_healthy(server: _Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(base_url=server.url, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"server exited with {server.process.returncode}: {_log_tail(server.log)}")
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise RuntimeError(f"server not healthy after {START_TIMEOUT_S:.0f} s: {_log_tail(server.log)}")


def _client(url: str) -> httpx.Client:
    """A client whose connection is open already (so connecting is not timed)."""
    client = httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S)
    client.get("/healthz").raise_for_status()
    return client


def _post(client: httpx.Client, body: bytes | str) -> tuple[int, int]:
    """POST one NDJSON body: the logs accepted and rejected (an error status raises)."""
    return _answer(client.post(LOGS_PATH, content=body, headers=NDJSON))


def _answer(response: httpx.Response) -> tuple[int, int]:
    response.raise_for_status()
    answer = response.json()
    return int(answer["accepted"]), len(answer["rejected"])


def _native_ingest(
    url: str,
    bodies: list[bytes],
    path: str = LOGS_PATH,
    headers: dict[str, str] = NDJSON,
    answer: Callable[[httpx.Response], tuple[int, int]] = _answer,
) -> dict[str, Any]:
    """Every body posted once (to `path`, read by `answer`: other protocols too), INGEST_CONNECTIONS
    threads each with its own client and share of the prebuilt requests; logs acknowledged over the
    wall time, then the server's count of stored logs."""
    clients = [_client(url) for _ in range(INGEST_CONNECTIONS)]
    shares = [bodies[i :: len(clients)] for i in range(len(clients))]
    requests = [
        [c.build_request("POST", path, content=body, headers=headers) for body in share]
        for c, share in zip(clients, shares, strict=True)
    ]
    totals = [(0, 0)] * len(clients)
    failures: list[BaseException] = []
    start = threading.Barrier(len(clients) + 1)

    def post_share(slot: int) -> None:
        start.wait()
        try:
            answers = [answer(clients[slot].send(request)) for request in requests[slot]]
            totals[slot] = (sum(a for a, _ in answers), sum(r for _, r in answers))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=post_share, args=(i,)) for i in range(len(clients))]
    try:
        for t in threads:
            t.start()
        start.wait()
        started = time.perf_counter()
        for t in threads:
            t.join()
        ingest_s = time.perf_counter() - started
        if failures:
            raise failures[0]
        every = clients[0].get("/api/v1/search", params={"q": "*", "limit": 1})  # an exact total
        stored = every.raise_for_status().json()["total"]
    finally:
        for c in clients:
            c.close()
    return {
        "count": sum(a for a, _ in totals),
        "rejected": sum(r for _, r in totals),
        "requests": len(bodies),
        "ingest_s": ingest_s,
        "stored": stored,
    }


class _PacedIngest(threading.Thread):
    """Posts the bodies (cycled) on its own connection on a fixed schedule of `rate` logs/s, at once
    when behind it (so it catches up, or runs flat out when it cannot keep up), until `stop`."""

    def __init__(self, url: str, bodies: list[bytes], batch: int, rate: float) -> None:
        super().__init__()
        self.url, self.bodies, self.interval = url, bodies, batch / rate
        self.stopping = threading.Event()
        self.accepted = self.requests = self.behind = 0
        self.seconds = 0.0
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.url, timeout=REQUEST_TIMEOUT_S) as client:
                client.get("/healthz").raise_for_status()
                started = time.perf_counter()
                while not self.stopping.is_set():
                    wait = started + self.requests * self.interval - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                    else:
                        self.behind += 1
                    self.accepted += _post(client, self.bodies[self.requests % len(self.bodies)])[0]
                    self.requests += 1
                self.seconds = time.perf_counter() - started
        except BaseException as exc:
            self.failure = exc

    def stop(self) -> dict[str, Any]:
        """Stop after the request in flight; the rate achieved (an ingest failure raises)."""
        self.stopping.set()
        self.join()
        if self.failure is not None:
            raise self.failure
        return {
            "ingest_rate": self.accepted / self.seconds,
            "ingest_requests": self.requests,
            "behind_schedule": self.behind,
        }


def _index_lag(client: httpx.Client) -> int:
    return int(client.get("/api/v1/stats").raise_for_status().json()["index_lag"])


def _wait_indexed(client: httpx.Client, limit_s: float = INDEX_TIMEOUT_S) -> float:
    """Seconds until the server's text index has caught up with every stored log (a RuntimeError
    past `limit_s`)."""
    started = time.perf_counter()
    while _index_lag(client) > 0:
        if time.perf_counter() - started > limit_s:
            raise RuntimeError(f"index still behind after {limit_s:.0f} s")
        time.sleep(0.05)
    return time.perf_counter() - started


def _search_times(
    client: httpx.Client, requests: int, query: str = SEARCH_QUERY, warmup: int = SEARCH_WARMUP
) -> list[float]:
    """Seconds per `GET /api/v1/search?q=query` (full answer read, a full page), after `warmup`
    untimed ones."""
    params: dict[str, str | int] = {"q": query, "limit": SEARCH_LIMIT}
    times = []
    for i in range(warmup + requests):
        started = time.perf_counter()
        response = client.get(SEARCH_PATH, params=params)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        if len(response.json()["logs"]) != SEARCH_LIMIT:
            raise RuntimeError(f"search answered {len(response.json()['logs'])} logs, not {SEARCH_LIMIT}")
        if i >= warmup:
            times.append(elapsed)
    return times


def _percentiles_ms(times: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return {"p50_ms": statistics.median(times) * 1000, "p99_ms": cuts[98] * 1000, "requests": len(times)}


def _paced_ingest_process(
    url: str, bodies: list[bytes], batch: int, ready: Any, stop: Any, results: Any
) -> None:
    """The paced ingest of `_search_under_ingest`, run in a process of its own: INGEST_CONNECTIONS
    `_PacedIngest` threads sharing PACED_RATE; their summed figures (or the failure) go to `results`."""
    try:
        share = PACED_RATE / INGEST_CONNECTIONS
        rotated = [bodies[i:] + bodies[:i] for i in range(INGEST_CONNECTIONS)]
        ingests = [_PacedIngest(url, share_bodies, batch, share) for share_bodies in rotated]
        for ingest in ingests:
            ingest.start()
        ready.set()
        stop.wait()
        stopped = [ingest.stop() for ingest in ingests]
        results.put({key: sum(s[key] for s in stopped) for key in stopped[0]})
    except BaseException as exc:
        results.put({"error": repr(exc)})
        ready.set()


@contextmanager
def paced_ingest(url: str, bodies: list[bytes], batch: int) -> Iterator[dict[str, Any]]:
    """For the `with` block, INGEST_CONNECTIONS connections post `batch`-log bodies paced at PACED_RATE
    logs/s in all (`_PacedIngest`), from a child process: as threads of this one, their HTTP client work
    would hold the GIL of whatever this process measures. The block starts once they run; the dict
    yielded gets their summed figures (`ingest_rate`, …) when it ends (an ingest failure raises)."""
    spawn = multiprocessing.get_context("spawn")
    ready, stop, results = spawn.Event(), spawn.Event(), spawn.Queue()
    child = spawn.Process(target=_paced_ingest_process, args=(url, bodies, batch, ready, stop, results))
    child.start()
    figures: dict[str, Any] = {}
    try:
        if not ready.wait(START_TIMEOUT_S):
            raise RuntimeError(f"paced ingest not started after {START_TIMEOUT_S:.0f} s")
        yield figures
    finally:
        stop.set()
        paced = results.get(timeout=REQUEST_TIMEOUT_S)
        child.join(STOP_TIMEOUT_S)
    if "error" in paced:
        raise RuntimeError(f"paced ingest failed: {paced['error']}")
    figures.update(paced)


def _search_under_ingest(url: str, bodies: list[bytes], batch: int) -> dict[str, Any]:
    """Search latency on the idle, fully indexed server; then again during a `paced_ingest`, whose
    achieved rate is kept; the text index's lag behind the stored logs when the searches end."""
    with closing(_client(url)) as searcher:
        index_s = _wait_indexed(searcher)
        idle = _percentiles_ms(_search_times(searcher, SEARCH_REQUESTS))
        with paced_ingest(url, bodies, batch) as paced:
            time.sleep(PACED_WARMUP_S)
            busy = _percentiles_ms(_search_times(searcher, SEARCH_REQUESTS))
            lag = _index_lag(searcher)
    return {**busy, **paced, "idle": idle, "index_catch_up_s": index_s, "index_lag_after": lag}


def _arrival(lines: Iterator[str], message: str) -> float:
    """Read SSE lines until the `data:` line of the log with `message`; the time it was read."""
    for line in lines:
        if line.startswith("data:") and json.loads(line.removeprefix("data:"))["message"] == message:
            return time.perf_counter()
    raise RuntimeError("tail stream ended")


def _tail(url: str, seed: int) -> dict[str, Any]:
    """TAIL_PROBES times: POST one log with a word no other log has, then read the open tail stream of
    that word until the log's `data:` line arrives; seconds from the POST's answer to that line."""
    word = f"tailprobe{uuid.uuid4().hex[:12]}"
    pause = random.Random(seed)
    delays: list[float] = []
    timeout = httpx.Timeout(REQUEST_TIMEOUT_S, read=TAIL_TIMEOUT_S)
    with (
        closing(_client(url)) as poster,
        httpx.Client(base_url=url, timeout=timeout) as reader,
        reader.stream("GET", TAIL_PATH, params={"q": word}) as stream,
    ):
        stream.raise_for_status()
        lines = stream.iter_lines()
        first = next(lines)
        if first != ": tailing":
            raise RuntimeError(f"tail stream began with {first!r}")
        for i in range(TAIL_PROBES):
            time.sleep(pause.uniform(0, TAIL_JITTER_S))
            message = f"tail {word} probe {i}"
            log = {"level": "INFO", "source": "bench", "message": message}
            accepted, _ = _post(poster, json.dumps(log) + "\n")
            returned = time.perf_counter()
            if accepted != 1:
                raise RuntimeError(f"tail probe {i} not accepted")
            try:
                delays.append(_arrival(lines, message) - returned)
            except httpx.ReadTimeout as exc:
                raise RuntimeError(f"tail probe {i} not delivered within {TAIL_TIMEOUT_S:.0f} s") from exc
    return {"median_ms": statistics.median(delays) * 1000, "max_ms": max(delays) * 1000}


def http_server(n: int, seed: int, work_dir: str, batch: int) -> dict[str, Any]:
    """The server in its own process on a fresh store: native NDJSON ingest of n logs, search latency
    idle and under a paced ingest, live-tail latency; each measure kept even when another fails."""
    bodies = _bodies(ndjson_lines(n, seed), batch)
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    stopped: dict[str, Any] = {}
    with _serve(work / "store", work / "server.log", stopped) as server:
        ingest = _guard(lambda: _native_ingest(server.url, bodies))
        search = _guard(lambda: _search_under_ingest(server.url, bodies, batch))
        tail = _guard(lambda: _tail(server.url, seed))
    return {"ingest": ingest, "search": search, "tail": tail, "server": stopped}
