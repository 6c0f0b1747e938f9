"""Where a CLI command does its work: the embedded store in a data directory, or a running server.

Both answer the same calls with plain data (dicts as the HTTP API returns them), so each command is
written once. `Remote` speaks the `/api/v1` API with httpx and turns its error answers into
`LogAnalyticsError`s carrying the server's message.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol

import httpx

from log_analytics_engine.alerting.rulefile import rule_from_dict
from log_analytics_engine.engine import LogAnalyticsEngine
from log_analytics_engine.errors import (
    ConfigError,
    DamagedGzipError,
    DamagedStoreError,
    IngestError,
    LogAnalyticsError,
    StorageError,
)
from log_analytics_engine.ingest.files import (
    CHUNK_BYTES,
    Chunk,
    detect_type,
    head_of,
    not_a_log,
    not_a_log_error,
    read_chunks,
    stream_chunks,
)
from log_analytics_engine.ingest.formats import JSON_NAMES, events, timescan
from log_analytics_engine.query import regex

Progress = Callable[[int, int], None]  # (bytes read, logs stored) so far
Notice = Callable[[str], None]
REMOTE_BATCH = 5_000  # lines per ingest request
TAIL_POLL_SECONDS = 0.2
# tail --data opens the directory for each poll (~30 ms) and releases it in between, so other
# commands can write to it; a command that finds it taken retries for this long first.
EMBEDDED_TAIL_POLL_SECONDS = 1.0
BUSY_RETRY_SECONDS = 2.0
BUSY_NOTICE_SECONDS = 10.0


class Backend(Protocol):
    """What the commands need from a store."""

    where: str

    def ingest(
        self, path: Path, file_type: str, progress: Progress, dead_letter: Path | None = None
    ) -> dict[str, Any]: ...
    def search(self, query: str, limit: int) -> dict[str, Any]: ...
    def run(self, query: str) -> dict[str, Any]: ...
    def tail(self, query: str, ready: Callable[[], None], notice: Notice) -> Iterator[dict[str, Any]]: ...
    def stats(self) -> dict[str, Any]: ...
    def metrics(self) -> str: ...
    def rules(self) -> list[dict[str, Any]]: ...
    def put_rule(self, rule: dict[str, Any]) -> dict[str, Any]: ...
    def delete_rule(self, name: str) -> None: ...
    def alerts(self, rule: str | None, limit: int) -> list[dict[str, Any]]: ...
    def count(self, query: str, start: str | None, end: str | None) -> int: ...
    def delete(self, query: str, start: str | None, end: str | None, everything: bool) -> int: ...
    def backup(self, dest: Path) -> dict[str, Any]: ...
    def close(self) -> None: ...


class Embedded:
    """The embedded store in a data directory (owned by this process while the command runs).

    `create=False` (the read commands) refuses a directory that does not exist instead of making an
    empty store there. A directory another engine owns is retried for BUSY_RETRY_SECONDS (a `tail
    --data` holds it only for moments) before the owner's error is raised. `recover` opens one short
    of committed logs (see `LogAnalyticsEngine`); only the first open takes it, not tail's polls.
    """

    def __init__(
        self,
        data: Path,
        create: bool = True,
        recover: bool = False,
        timezone: str = "UTC",
        format_file: Path | None = None,
    ) -> None:
        if not create and not data.is_dir():
            raise LogAnalyticsError(
                f"no data directory {data}: it does not exist (ingest into it first, give --data "
                "DIR of an existing store, or --url of a server)"
            )
        self.data = data
        self.engine = _open_engine(data, BUSY_RETRY_SECONDS, recover, timezone, format_file)
        self.where = f"the store in {data}"

    def ingest(
        self, path: Path, file_type: str, progress: Progress, dead_letter: Path | None = None
    ) -> dict[str, Any]:
        source: Path | IO[bytes] = sys.stdin.buffer if str(path) == "-" else path
        return self.engine.ingest_logs_from_file(
            source, file_type, dead_letter=dead_letter, progress=progress
        )

    def search(self, query: str, limit: int) -> dict[str, Any]:
        result = self.engine.search(query, limit=limit)
        return {"total": result.total, "logs": [log.to_dict() for log in result.logs]}

    def run(self, query: str) -> dict[str, Any]:
        result = self.engine.run(query)
        return {"columns": result.columns, "rows": result.rows, "warnings": result.warnings}

    def tail(self, query: str, ready: Callable[[], None], notice: Notice) -> Iterator[dict[str, Any]]:
        """New logs, by opening the directory every EMBEDDED_TAIL_POLL_SECONDS and releasing it in
        between: other commands (`ingest --data`) write to it meanwhile. While another process keeps
        it open (a server, a streaming `ingest -`) nothing can be read: say so, and keep waiting."""
        _, position = self.engine.tail(query)
        self.engine.close()
        ready()
        busy_since: float | None = None
        while True:
            time.sleep(EMBEDDED_TAIL_POLL_SECONDS)
            try:
                engine = _open_engine(self.data, 0.0)
            except StorageError as exc:
                busy_since = time.monotonic() if busy_since is None else busy_since
                if time.monotonic() - busy_since >= BUSY_NOTICE_SECONDS:
                    notice(
                        f"waiting: {exc}. tail --data reads the directory between other processes' "
                        "runs; to follow logs while one keeps it open, run `log-analytics serve --data "
                        f"{self.data}` and tail with --url"
                    )
                    busy_since = float("inf")  # said once per wait
                continue
            busy_since = None
            try:
                while True:
                    logs, position = engine.tail(query, position)
                    if not logs:
                        break
                    yield from (log.to_dict() for log in logs)
            finally:
                engine.close()

    def stats(self) -> dict[str, Any]:
        return self.engine.get_stats()

    def metrics(self) -> str:
        return self.engine.export_metrics_prometheus()

    def rules(self) -> list[dict[str, Any]]:
        return [rule.to_dict() for rule in self.engine.get_alert_rules()]

    def put_rule(self, rule: dict[str, Any]) -> dict[str, Any]:
        made = rule_from_dict(rule, "rule")
        self.engine.add_alert_rule(made)  # kept in the data directory
        return made.to_dict()

    def delete_rule(self, name: str) -> None:
        if not any(rule.name == name for rule in self.engine.get_alert_rules()):
            raise ConfigError(f"no alert rule named {name!r}")
        self.engine.remove_alert_rule(name)

    def alerts(self, rule: str | None, limit: int) -> list[dict[str, Any]]:
        return [a.to_dict() for a in self.engine.get_alerts(rule=rule, limit=limit)]

    def count(self, query: str, start: str | None, end: str | None) -> int:
        return self.engine.search(query, start=start, end=end, limit=1).total

    def delete(self, query: str, start: str | None, end: str | None, everything: bool) -> int:
        return self.engine.delete(query, start=start, end=end, all=everything)

    def backup(self, dest: Path) -> dict[str, Any]:
        return self.engine.backup(dest)

    def close(self) -> None:
        self.engine.close()  # a no-op when already closed


def _open_engine(
    data: Path,
    retry_seconds: float,
    recover: bool = False,
    timezone: str = "UTC",
    format_file: Path | None = None,
) -> LogAnalyticsEngine:
    """The engine on `data`; StorageError (directory owned by another engine) retried for a while,
    but not a damaged store (waiting does not mend it)."""
    deadline = time.monotonic() + retry_seconds
    while True:
        try:
            return LogAnalyticsEngine(path=data, recover=recover, timezone=timezone, format_file=format_file)
        except DamagedStoreError:
            raise
        except StorageError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)


class Remote:
    """A running server's HTTP API."""

    def __init__(self, url: str, api_key: str | None, timeout: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)
        self.where = f"the server at {url}"

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            answer = self.client.request(method, path, **kw)
        except httpx.TransportError as exc:
            raise LogAnalyticsError(f"cannot reach {self.where}: {exc}") from exc
        if answer.status_code >= 400:
            try:
                detail = answer.json().get("detail", answer.text)
            except ValueError:
                detail = answer.text
            raise LogAnalyticsError(f"{self.where} answered {answer.status_code}: {detail}")
        return answer.json() if answer.content else None

    def ingest(
        self, path: Path, file_type: str, progress: Progress, dead_letter: Path | None = None
    ) -> dict[str, Any]:
        if dead_letter is not None:
            raise LogAnalyticsError("--dead-letter works with --data; a server answers rejected lines")
        text = file_type not in ("auto", *JSON_NAMES)
        if str(path) != "-":
            if not path.exists():
                raise IngestError(f"no such file: {path}")
            if path.is_dir():
                raise LogAnalyticsError("--url takes one file or - (stdin); ingest a directory with --data")
            head = head_of(path)
            reason = not_a_log(path, head)
            if reason is not None:
                raise not_a_log_error(path, reason)
            text = text or (file_type == "auto" and detect_type(path, head) != "jsonl")
        if text:
            return self._ingest_text(path, "text" if file_type == "auto" else file_type, progress)
        report = _new_report(path)
        sent_bytes = 0
        started = time.perf_counter()
        try:
            for first_line, lines, nbytes in _line_batches(path):
                answer = self._call(
                    "POST", "/api/v1/logs", content="\n".join(lines).encode(), headers=_NDJSON
                )
                report["count"] += answer["accepted"]
                report["rejected"] += answer["rejected_count"]  # `rejected` lists the first 1,000
                report["rejected_lines"] += [
                    {"line": first_line + r["index"], "reason": r["reason"]} for r in answer["rejected"]
                ]
                sent_bytes += nbytes
                progress(sent_bytes, report["count"])
        except DamagedGzipError as exc:  # the lines before it were sent
            _damaged(report, path, exc)
        return _timed(report, started, sent_bytes, bad_timestamps=0)

    def _ingest_text(self, path: Path, file_type: str, progress: Progress) -> dict[str, Any]:
        """Send text lines as they are (the server reads their format), REMOTE_TEXT_BATCH lines a
        request, each cut before a line with a time so a multi-line event stays in one request."""
        report = _new_report(path) | {"no_timestamp": 0, "bad_timestamps": 0, "formats": {}}
        sent_bytes = 0
        started = time.perf_counter()
        try:
            for lines, nbytes in _text_batches(path):
                answer = self._call(
                    "POST",
                    "/api/v1/logs",
                    params={"format": file_type},
                    content="\n".join(lines).encode(),
                    headers=_TEXT,
                )
                report["count"] += answer["accepted"]
                report["no_timestamp"] += answer.get("no_timestamp", 0)
                for name, n in answer.get("formats", {}).items():
                    report["formats"][name] = report["formats"].get(name, 0) + n
                sent_bytes += nbytes
                progress(sent_bytes, report["count"])
        except DamagedGzipError as exc:  # the lines before it were sent
            _damaged(report, path, exc)
        formats = report["formats"]
        return _timed(
            report, started, sent_bytes, format=max(formats, key=formats.get) if formats else "text"
        )

    def search(self, query: str, limit: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/api/v1/search", params={"q": query, "limit": limit})
        return result

    def run(self, query: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/api/v1/query", params={"q": query})
        return result

    def tail(self, query: str, ready: Callable[[], None], notice: Notice) -> Iterator[dict[str, Any]]:
        try:
            with self.client.stream("GET", "/api/v1/tail", params={"q": query}, timeout=None) as stream:
                if stream.status_code >= 400:
                    stream.read()
                    raise LogAnalyticsError(f"{self.where} answered {stream.status_code}: {stream.text}")
                for line in stream.iter_lines():
                    if line.startswith("data: "):
                        yield json.loads(line.removeprefix("data: "))
                    elif line == ": tailing":  # the server sends this once it follows new logs
                        ready()
        except httpx.TransportError as exc:
            raise LogAnalyticsError(f"lost {self.where}: {exc}") from exc

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/api/v1/stats")
        return result

    def metrics(self) -> str:
        try:
            answer = self.client.get("/metrics")
        except httpx.TransportError as exc:
            raise LogAnalyticsError(f"cannot reach {self.where}: {exc}") from exc
        if answer.status_code >= 400:
            raise LogAnalyticsError(f"{self.where} answered {answer.status_code}: {answer.text}")
        return answer.text

    def rules(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/api/v1/rules")
        return result

    def put_rule(self, rule: dict[str, Any]) -> dict[str, Any]:
        body = {k: v for k, v in rule.items() if k != "name"}
        result: dict[str, Any] = self._call("PUT", f"/api/v1/rules/{rule['name']}", json=body)
        return result

    def delete_rule(self, name: str) -> None:
        self._call("DELETE", f"/api/v1/rules/{name}")

    def alerts(self, rule: str | None, limit: int) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit, **({"rule": rule} if rule else {})}
        result: list[dict[str, Any]] = self._call("GET", "/api/v1/alerts", params=params)
        return result

    def count(self, query: str, start: str | None, end: str | None) -> int:
        params = _bounded({"q": query, "limit": 1}, start, end)
        return int(self._call("GET", "/api/v1/search", params=params)["total"])

    def delete(self, query: str, start: str | None, end: str | None, everything: bool) -> int:
        params = _bounded({"q": query, "all": "true" if everything else "false"}, start, end)
        return int(self._call("DELETE", "/api/v1/logs", params=params)["deleted"])

    def backup(self, dest: Path) -> dict[str, Any]:
        """A backup into `dest` on the server's machine (as the server resolves it)."""
        body = {"dest": str(dest)}
        result: dict[str, Any] = self._call("POST", "/api/v1/admin/backup", json=body, timeout=None)
        return result

    def close(self) -> None:
        self.client.close()


def _bounded(params: dict[str, Any], start: str | None, end: str | None) -> dict[str, Any]:
    """Query parameters with the time bounds given."""
    return {**params, **({"start": start} if start else {}), **({"end": end} if end else {})}


_NDJSON = {"Content-Type": "application/x-ndjson"}
_TEXT = {"Content-Type": "text/plain; charset=utf-8"}
REMOTE_TEXT_BATCH = 20_000  # text lines per ingest request (a request's events are parsed together)
# ... and bytes read for one request, well within the server's default body limit (16 MiB): 20,000
# lines of 1 KB made a 413 that stopped the ingest. A request adds the lines held from the one before.
REMOTE_TEXT_BYTES = 4 << 20
# How far back a batch's end is moved to the last line that opens an event.
TEXT_CUT_LOOKBACK = 1_000


def _new_report(path: Path) -> dict[str, Any]:
    """An ingest report of a file sent to a server, before anything was sent."""
    return {
        "file": str(path),
        "count": 0,
        "rejected": 0,
        "rejected_lines": [],
        "damaged": 0,
        "damaged_files": [],
        "skipped": 0,
        "skipped_files": [],
    }


def _damaged(report: dict[str, Any], path: Path, exc: DamagedGzipError) -> None:
    report["damaged"] += 1
    report["damaged_files"].append({"file": str(path), "offset": exc.offset, "reason": exc.reason})


def _timed(report: dict[str, Any], started: float, sent_bytes: int, **extra: Any) -> dict[str, Any]:
    """The report with its rates since `started`, and `extra`."""
    elapsed = time.perf_counter() - started
    report.update(
        duration_sec=elapsed,
        logs_per_sec=report["count"] / elapsed if elapsed else 0.0,
        mb_per_sec=sent_bytes / 1e6 / elapsed if elapsed else 0.0,
        **extra,
    )
    return report


def _text_batches(path: Path) -> Iterator[tuple[list[str], int]]:
    """(lines, bytes) of about REMOTE_TEXT_BATCH text lines (or REMOTE_TEXT_BYTES) at a time; each
    batch ends before the last line among its last TEXT_CUT_LOOKBACK that opens an event (a line
    with a time or a leading level word that is no continuation, as the server's parser tells
    them), which starts the next batch instead; lines none of which opens one wait for more."""
    held: list[str] = []
    for _, lines, _ in _line_batches(path, REMOTE_TEXT_BATCH, REMOTE_TEXT_BYTES):
        lines = held + lines
        cut = next(
            (
                i
                for i in range(len(lines) - 1, max(len(lines) - TEXT_CUT_LOOKBACK, 0), -1)
                if _opens(lines[i])
            ),
            None,
        )
        if cut is None:  # one event so far: sent whole once it is as long as the server makes one
            big = len(lines) >= TEXT_CUT_LOOKBACK or _size(lines) >= REMOTE_TEXT_BYTES
            cut = len(lines) if big else 0
        held, batch = lines[cut:], lines[:cut]
        if batch:
            yield batch, _size(batch)
    if held:
        yield held, _size(held)


def _size(lines: list[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def _opens(line: str) -> bool:
    """Whether the server's parser opens an event at `line` whatever its format: not a continuation
    (a `Caused by:` line holding a time continues its event: a cut there split it in two), and with
    a time or a leading level word."""
    if regex.compiled(events.CONTINUATION).search(line):
        return False
    return bool(
        regex.compiled(timescan.PATTERN).search(line) or regex.compiled(events.LEVEL_FIRST).search(line)
    )


def _line_batches(
    path: Path, rows: int = REMOTE_BATCH, max_bytes: int = CHUNK_BYTES
) -> Iterator[tuple[int, list[str], int]]:
    """(number of the first line, lines, bytes) of up to `rows` lines (and `max_bytes`, unless one
    line is longer) at a time, from a file, or from stdin as its lines arrive (a pause in the input
    sends what came)."""
    if str(path) == "-":
        chunks: Iterator[Chunk] = stream_chunks(sys.stdin.buffer)
    else:
        chunks = read_chunks(path, rows=rows, max_bytes=max_bytes)
    for chunk in chunks:
        lines = [line.rstrip("\r\n") for line in chunk.lines.to_pylist()]
        if len(lines) <= rows:
            yield chunk.first_line, lines, chunk.nbytes
            continue
        for start in range(0, len(lines), rows):  # a large burst on stdin
            batch = lines[start : start + rows]
            yield chunk.first_line + start, batch, sum(len(line) + 1 for line in batch)
