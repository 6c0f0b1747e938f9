"""Where a CLI command does its work: the embedded store in a data directory, or a running server.

Both answer the same calls with plain data (dicts as the HTTP API returns them), so each command is
written once. `Remote` speaks the `/api/v1` API with httpx and turns its error answers into
`LogAnalyticsError`s carrying the server's message.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx

from log_analytics_engine.alerting.rulefile import rule_from_dict
from log_analytics_engine.engine import LogAnalyticsEngine
from log_analytics_engine.errors import ConfigError, LogAnalyticsError
from log_analytics_engine.ingest.files import detect_type, read_chunks

Progress = Callable[[int, int], None]  # (bytes read, logs stored) so far
REMOTE_BATCH = 5_000  # lines per ingest request
TAIL_POLL_SECONDS = 0.2


class Backend(Protocol):
    """What the commands need from a store."""

    where: str

    def ingest(self, path: Path, file_type: str, progress: Progress) -> dict[str, Any]: ...
    def search(self, query: str, limit: int) -> dict[str, Any]: ...
    def run(self, query: str) -> dict[str, Any]: ...
    def tail(self, query: str, ready: Callable[[], None]) -> Iterator[dict[str, Any]]: ...
    def stats(self) -> dict[str, Any]: ...
    def metrics(self) -> str: ...
    def rules(self) -> list[dict[str, Any]]: ...
    def put_rule(self, rule: dict[str, Any]) -> dict[str, Any]: ...
    def delete_rule(self, name: str) -> None: ...
    def alerts(self, rule: str | None, limit: int) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...


class Embedded:
    """The embedded store in a data directory (owned by this process while the command runs)."""

    def __init__(self, data: Path) -> None:
        self.engine = LogAnalyticsEngine(path=data)
        self.where = f"the store in {data}"

    def ingest(self, path: Path, file_type: str, progress: Progress) -> dict[str, Any]:
        if str(path) == "-":
            with tempfile.NamedTemporaryFile("wb", suffix=".log") as spool:
                spool.write(sys.stdin.buffer.read())
                spool.flush()
                return self.engine.ingest_logs_from_file(spool.name, file_type, progress=progress)
        return self.engine.ingest_logs_from_file(path, file_type, progress=progress)

    def search(self, query: str, limit: int) -> dict[str, Any]:
        result = self.engine.search(query, limit=limit)
        return {"total": result.total, "logs": [log.to_dict() for log in result.logs]}

    def run(self, query: str) -> dict[str, Any]:
        result = self.engine.run(query)
        return {"columns": result.columns, "rows": result.rows, "warnings": result.warnings}

    def tail(self, query: str, ready: Callable[[], None]) -> Iterator[dict[str, Any]]:
        _, position = self.engine.tail(query)
        ready()
        while True:
            logs, position = self.engine.tail(query, position)
            yield from (log.to_dict() for log in logs)
            if not logs:
                time.sleep(TAIL_POLL_SECONDS)

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

    def close(self) -> None:
        self.engine.close()


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
        return answer.json() if answer.content and method != "DELETE" else None

    def ingest(self, path: Path, file_type: str, progress: Progress) -> dict[str, Any]:
        if str(path) != "-" and (path.is_dir() or detect_type(path) != "jsonl" or file_type == "text"):
            raise LogAnalyticsError(
                "a server takes JSON logs (one object per line); ingest text files into a data directory "
                "(--data), or ship them with a syslog/JSON shipper"
            )
        report: dict[str, Any] = {"file": str(path), "count": 0, "rejected": 0, "rejected_lines": []}
        sent_bytes = 0
        started = time.perf_counter()
        for first_line, lines, nbytes in _line_batches(path):
            answer = self._call("POST", "/api/v1/logs", content="\n".join(lines).encode(), headers=_NDJSON)
            report["count"] += answer["accepted"]
            report["rejected"] += len(answer["rejected"])
            report["rejected_lines"] += [
                {"line": first_line + r["index"], "reason": r["reason"]} for r in answer["rejected"]
            ]
            sent_bytes += nbytes
            progress(sent_bytes, report["count"])
        elapsed = time.perf_counter() - started
        report.update(
            duration_sec=elapsed,
            logs_per_sec=report["count"] / elapsed if elapsed else 0.0,
            mb_per_sec=sent_bytes / 1e6 / elapsed if elapsed else 0.0,
            bad_timestamps=0,
        )
        return report

    def search(self, query: str, limit: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/api/v1/search", params={"q": query, "limit": limit})
        return result

    def run(self, query: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/api/v1/query", params={"q": query})
        return result

    def tail(self, query: str, ready: Callable[[], None]) -> Iterator[dict[str, Any]]:
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

    def close(self) -> None:
        self.client.close()


_NDJSON = {"Content-Type": "application/x-ndjson"}


def _line_batches(path: Path) -> Iterator[tuple[int, list[str], int]]:
    """(number of the first line, lines, bytes) of REMOTE_BATCH lines at a time, from a file or stdin."""
    if str(path) == "-":
        batch: list[str] = []
        first, size = 1, 0
        for number, line in enumerate(sys.stdin, start=1):
            batch.append(line.rstrip("\n"))
            size += len(line)
            if len(batch) == REMOTE_BATCH:
                yield first, batch, size
                batch, first, size = [], number + 1, 0
        if batch:
            yield first, batch, size
        return
    for chunk in read_chunks(path, rows=REMOTE_BATCH):
        yield chunk.first_line, [line.rstrip("\r\n") for line in chunk.lines.to_pylist()], chunk.nbytes
