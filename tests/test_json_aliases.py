"""JSON lines in other loggers' keys (ingest/jsonl.py, records.py, arrowjson.py): ECS, pino, bunyan,
zap, zerolog, logrus, structlog, Serilog compact and Docker lines fill time, level, message and source
from their own keys, the keys used leave metadata, nested objects become dotted metadata keys; the
same by a JSONL file, an NDJSON body and a JSON array body, and lines in the canonical keys are
stored as before."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from log_analytics_engine import LogAnalyticsEngine
from log_analytics_engine.ingest import arrowjson
from log_analytics_engine.model import normalize_level
from log_analytics_engine.server.app import create_app
from log_analytics_engine.server.settings import Settings
from log_analytics_engine.timeparse import TimestampError, parse_timestamp

NS = 1_000_000_000
T = 1_721_563_200  # 2024-07-21T12:00:00Z
MS = 1_000_000

# Per dialect: lines as the logger writes them, and what each must become:
# (time ns, level, message, source, metadata).
DIALECTS: dict[str, list[tuple[str, tuple[int, str, str, str, dict[str, Any]]]]] = {
    "ecs": [
        (
            '{"@timestamp":"2024-07-21T12:00:00.123Z","log.level":"info","message":"GET /api/orders 200",'
            '"ecs.version":"1.6.0","service.name":"orders","http":{"request":{"method":"GET"},'
            '"response":{"status_code":200}},"url":{"path":"/api/orders"},"log":{"logger":"orders.http",'
            '"origin":{"file":{"name":"server.py","line":88},"function":"handle"}},'
            '"process":{"pid":4242,"thread":{"id":140,"name":"MainThread"}}}',
            (
                T * NS + 123 * MS,
                "INFO",
                "GET /api/orders 200",
                "orders.http",
                {
                    "ecs.version": "1.6.0",
                    "service.name": "orders",
                    "http.request.method": "GET",
                    "http.response.status_code": 200,
                    "url.path": "/api/orders",
                    "log.origin.file.name": "server.py",
                    "log.origin.file.line": 88,
                    "log.origin.function": "handle",
                    "process.pid": 4242,
                    "process.thread.id": 140,
                    "process.thread.name": "MainThread",
                },
            ),
        ),
        (
            '{"@timestamp":"2024-07-21T14:00:01.5+02:00","log":{"level":"ERROR","logger":"db"},'
            '"message":"connection refused","error":{"type":"ConnectionError","message":"refused"},'
            '"host":{"name":"web-1"},"tags":["prod"]}',
            (
                (T + 1) * NS + 500 * MS,
                "ERROR",
                "connection refused",
                "db",
                {"error.type": "ConnectionError", "error.message": "refused", "host.name": "web-1"},
            ),
        ),
        (
            '{"@timestamp":"2024-07-21T12:00:02Z","log.level":"warn","message":"slow query",'
            '"event":{"dataset":"db.slow","duration":1500000},"service":{"name":"db","version":"2.1"}}',
            (
                (T + 2) * NS,
                "WARN",
                "slow query",
                "db",
                {"event.dataset": "db.slow", "event.duration": 1500000, "service.version": "2.1"},
            ),
        ),
    ],
    "pino": [
        (
            '{"level":30,"time":1721563200123,"pid":4242,"hostname":"web-1","req":{"id":1,"method":"GET",'
            '"url":"/orders"},"res":{"statusCode":200},"responseTime":12,"msg":"request completed"}',
            (
                T * NS + 123 * MS,
                "INFO",
                "request completed",
                "",
                {
                    "pid": 4242,
                    "hostname": "web-1",
                    "req.id": 1,
                    "req.method": "GET",
                    "req.url": "/orders",
                    "res.statusCode": 200,
                    "responseTime": 12,
                },
            ),
        ),
        (
            '{"level":50,"time":1721563201000,"pid":4242,"hostname":"web-1","name":"shop",'
            '"err":{"type":"Error","message":"card declined","stack":"Error: card declined\\n    at pay"},'
            '"msg":"payment failed"}',
            (
                (T + 1) * NS,
                "ERROR",
                "payment failed",
                "shop",
                {
                    "pid": 4242,
                    "hostname": "web-1",
                    "err.type": "Error",
                    "err.message": "card declined",
                    "err.stack": "Error: card declined\n    at pay",
                },
            ),
        ),
        (
            '{"level":10,"time":1721563202000,"name":"shop","msg":"tick"}',
            ((T + 2) * NS, "TRACE", "tick", "shop", {}),
        ),
        (
            '{"level":60,"time":1721563203000,"name":"shop","msg":"out of memory"}',
            ((T + 3) * NS, "FATAL", "out of memory", "shop", {}),
        ),
        (
            '{"level":35,"time":1721563204000,"name":"shop","msg":"custom level"}',
            ((T + 4) * NS, "35", "custom level", "shop", {}),
        ),
    ],
    "bunyan": [
        (
            '{"name":"myapp","hostname":"banana.local","pid":40161,"level":30,"msg":"hi",'
            '"time":"2024-07-21T12:00:00.851Z","v":0}',
            (
                T * NS + 851 * MS,
                "INFO",
                "hi",
                "myapp",
                {"hostname": "banana.local", "pid": 40161, "v": 0},
            ),
        ),
        (
            '{"name":"myapp","hostname":"banana.local","pid":40161,"level":40,"lang":"fr",'
            '"msg":"au revoir","time":"2024-07-21T12:00:00.853Z","v":0}',
            (
                T * NS + 853 * MS,
                "WARN",
                "au revoir",
                "myapp",
                {"hostname": "banana.local", "pid": 40161, "lang": "fr", "v": 0},
            ),
        ),
        (
            '{"name":"myapp","hostname":"banana.local","pid":40161,"level":20,"msg":"details",'
            '"time":"2024-07-21T12:00:01.000Z","v":0}',
            ((T + 1) * NS, "DEBUG", "details", "myapp", {"hostname": "banana.local", "pid": 40161, "v": 0}),
        ),
    ],
    "zap": [
        (
            '{"level":"info","ts":1721563200.123456,"caller":"server/main.go:42","msg":"server started",'
            '"port":8080}',
            (
                T * NS + 123_456_000,
                "INFO",
                "server started",
                "",
                {"caller": "server/main.go:42", "port": 8080},
            ),
        ),
        (
            '{"level":"error","ts":1721563201.5,"logger":"http","caller":"http/handler.go:77",'
            '"msg":"request failed","error":"context deadline exceeded",'
            '"stacktrace":"main.handler\\n\\t/app/http/handler.go:77"}',
            (
                (T + 1) * NS + 500 * MS,
                "ERROR",
                "request failed",
                "http",
                {
                    "caller": "http/handler.go:77",
                    "error": "context deadline exceeded",
                    "stacktrace": "main.handler\n\t/app/http/handler.go:77",
                },
            ),
        ),
    ],
    "zerolog": [
        (
            '{"level":"debug","time":"2024-07-21T12:00:00Z","message":"cache warmed","entries":1024}',
            (T * NS, "DEBUG", "cache warmed", "", {"entries": 1024}),
        ),
        (
            '{"level":"warn","component":"scheduler","job":"nightly","time":"2024-07-21T14:00:05+02:00",'
            '"message":"job late"}',
            ((T + 5) * NS, "WARN", "job late", "scheduler", {"job": "nightly"}),
        ),
    ],
    "logrus": [
        (
            '{"level":"warning","msg":"The group\'s number increased tremendously!","number":122,'
            '"omg":true,"time":"2024-07-21T14:00:00+02:00"}',
            (
                T * NS,
                "WARN",
                "The group's number increased tremendously!",
                "",
                {"number": 122, "omg": True},
            ),
        ),
        (
            '{"animal":"walrus","level":"fatal","msg":"A group of walrus emerges","size":10,'
            '"time":"2024-07-21T12:00:01Z"}',
            ((T + 1) * NS, "FATAL", "A group of walrus emerges", "", {"animal": "walrus", "size": 10}),
        ),
    ],
    "structlog": [
        (
            '{"event":"user logged in","user":"alice","level":"info","logger":"auth",'
            '"timestamp":"2024-07-21T12:00:00.123456Z"}',
            (T * NS + 123_456_000, "INFO", "user logged in", "auth", {"user": "alice"}),
        ),
        (
            '{"event":"payment failed","amount":12.5,"level":"critical","timestamp":"2024-07-21T12:00:02Z"}',
            ((T + 2) * NS, "FATAL", "payment failed", "", {"amount": 12.5}),
        ),
    ],
    "serilog": [
        (
            '{"@t":"2024-07-21T12:00:00.1234567Z","@mt":"Processed {@Position} in {Elapsed:000} ms.",'
            '"Position":{"Latitude":25,"Longitude":134},"Elapsed":34}',
            (
                T * NS + 123_456_700,
                "INFO",
                "Processed {@Position} in {Elapsed:000} ms.",
                "",
                {"Position.Latitude": 25, "Position.Longitude": 134, "Elapsed": 34},
            ),
        ),
        (
            '{"@t":"2024-07-21T12:00:01.0000000Z","@mt":"Disk {Drive} is full","@m":"Disk \\"C:\\" is full",'
            '"@l":"Error","Drive":"C:","SourceContext":"App.Storage"}',
            (
                (T + 1) * NS,
                "ERROR",
                'Disk "C:" is full',
                "",
                {"@mt": "Disk {Drive} is full", "Drive": "C:", "SourceContext": "App.Storage"},
            ),
        ),
        (
            '{"@t":"2024-07-21T12:00:02Z","@mt":"Retry {Attempt}","@l":"Warning","Attempt":3}',
            ((T + 2) * NS, "WARN", "Retry {Attempt}", "", {"Attempt": 3}),
        ),
    ],
    "docker": [
        (
            '{"log":"GET /health 200\\n","stream":"stdout","time":"2024-07-21T12:00:00.123456789Z"}',
            (T * NS + 123_456_789, "INFO", "GET /health 200", "", {"stream": "stdout"}),
        ),
        (
            '{"log":"Traceback (most recent call last):\\r\\n","stream":"stderr",'
            '"time":"2024-07-21T12:00:00.5Z"}',
            (T * NS + 500 * MS, "INFO", "Traceback (most recent call last):", "", {"stream": "stderr"}),
        ),
    ],
    "others": [
        (
            '{"severity":"ERROR","message":"quota exceeded","time":"2024-07-21T12:00:00Z",'
            '"logging.googleapis.com/trace":"t1"}',
            (T * NS, "ERROR", "quota exceeded", "", {"logging.googleapis.com/trace": "t1"}),
        ),
        (
            '{"levelname":"WARNING","name":"app.worker","message":"retrying",'
            '"datetime":"2024-07-21 12:00:01"}',
            ((T + 1) * NS, "WARN", "retrying", "app.worker", {}),
        ),
        (
            '{"lvl":"eror","t":"2024-07-21T12:00:02Z","msg":"typo level","logger_name":"x"}',
            ((T + 2) * NS, "EROR", "typo level", "x", {}),
        ),
        (
            '{"loglevel":"E","ts":"1721563203","msg":"one letter","component":"c"}',
            ((T + 3) * NS, "ERROR", "one letter", "c", {}),
        ),
        (
            '{"severity_text":"WARN","ts":1721563204000000,"msg":"otel-ish","service.name":"svc"}',
            ((T + 4) * NS, "WARN", "otel-ish", "svc", {}),
        ),
    ],
}


def _lines(dialect: str) -> list[str]:
    return [line for line, _ in DIALECTS[dialect]]


def _expected(dialect: str) -> list[tuple[int, str, str, str, dict[str, Any]]]:
    return [want for _, want in DIALECTS[dialect]]


def _got(engine: LogAnalyticsEngine) -> list[tuple[int | None, str, str, str, dict[str, Any]]]:
    return [
        (log.timestamp_ns, log.level, log.message, log.source, log.metadata)
        for log in engine.query_logs({}, sort_by="seq")
    ]


@pytest.fixture
def engine() -> Iterator[LogAnalyticsEngine]:
    eng = LogAnalyticsEngine(alert_interval=None)
    yield eng
    eng.close()


@pytest.fixture
def client(engine: LogAnalyticsEngine) -> TestClient:
    return TestClient(create_app(engine, Settings()))


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_a_jsonl_file_in_a_loggers_keys_fills_every_column(
    engine: LogAnalyticsEngine, tmp_path: Path, dialect: str
) -> None:
    """A JSONL file of each logger's lines: time (ns), level, message and source from its keys, the
    rest in metadata with nested objects as dotted keys."""
    path = tmp_path / f"{dialect}.jsonl"
    path.write_text("".join(line + "\n" for line in _lines(dialect)))
    report = engine.ingest_logs_from_file(path, "jsonl")
    assert (report["count"], report["rejected"], report["bad_timestamps"]) == (len(DIALECTS[dialect]), 0, 0)
    assert _got(engine) == _expected(dialect)


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_an_ndjson_body_in_a_loggers_keys_fills_every_column(
    engine: LogAnalyticsEngine, client: TestClient, dialect: str
) -> None:
    """`POST /api/v1/logs` with the same lines as NDJSON stores them as the file does."""
    body = "".join(line + "\n" for line in _lines(dialect)).encode()
    answer = client.post("/api/v1/logs", content=body, headers={"Content-Type": "application/x-ndjson"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == len(DIALECTS[dialect])
    assert _got(engine) == _expected(dialect)


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_an_array_body_in_a_loggers_keys_fills_every_column(
    engine: LogAnalyticsEngine, client: TestClient, dialect: str
) -> None:
    """`POST /api/v1/logs` with the same lines as one JSON array stores them as the file does."""
    body = ("[" + ",".join(_lines(dialect)) + "]").encode()
    answer = client.post("/api/v1/logs", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == len(DIALECTS[dialect])
    assert _got(engine) == _expected(dialect)


@pytest.mark.parametrize("dialect", ["bunyan", "zap", "docker"])
def test_flat_bodies_in_a_loggers_keys_take_the_arrow_path(dialect: str) -> None:
    """Bodies of flat lines (numbers for times and levels among them) are read by Arrow whole, the
    aliases picked by column operations, and give the file's columns."""
    plain = [(line, want) for line, want in DIALECTS[dialect] if "\\t" not in line]  # no control characters
    batch = arrowjson.to_batch("".join(line + "\n" for line, _ in plain).encode(), 0)
    assert batch is not None
    rows = batch.table.to_pylist()
    got = [(r["ts"], r["level"], r["message"], r["source"], json.loads(r["metadata"] or "{}")) for r in rows]
    assert got == [want for _, want in plain]


def test_a_query_finds_a_nested_value_by_its_dotted_name(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """`http.request.method:GET` finds the ECS line whose `{"http":{"request":{"method":"GET"}}}` was
    flattened, by a filter and in a pipe (by file and by HTTP alike)."""
    path = tmp_path / "ecs.jsonl"
    path.write_text("".join(line + "\n" for line in _lines("ecs")))
    engine.ingest_logs_from_file(path, "jsonl")
    assert [log.message for log in engine.search("http.request.method:GET").logs] == ["GET /api/orders 200"]
    assert [log.message for log in engine.search("http.response.status_code:>=200").logs] == [
        "GET /api/orders 200"
    ]
    rows = engine.run("* | stats by (service.name) count() as n").rows
    assert sorted((r["service.name"], r["n"]) for r in rows if r["service.name"]) == [("orders", 1)]


def test_canonical_lines_are_stored_as_before_beside_logger_lines(
    engine: LogAnalyticsEngine, tmp_path: Path
) -> None:
    """In a file mixing both, a line with `timestamp`, `level`, `message`, `source` keeps them: `time`,
    `msg`, `lvl`, `logger` beside them are metadata and its nested objects stay nested, as before;
    the logger's line next to it is read by its own keys."""
    canonical = {
        "timestamp": "2025-07-21T12:00:00Z",
        "level": "warn",
        "message": "canonical",
        "source": "api",
        "time": "2024-01-01T00:00:00Z",
        "msg": "other",
        "lvl": "error",
        "logger": "x",
        "nested": {"x": [1, 2]},
    }
    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps(canonical) + "\n" + _lines("pino")[0] + "\n")
    engine.ingest_logs_from_file(path, "jsonl")
    meta = {
        "time": "2024-01-01T00:00:00Z",
        "msg": "other",
        "lvl": "error",
        "logger": "x",
        "nested": {"x": [1, 2]},
    }
    assert _got(engine) == [(1_753_099_200 * NS, "WARN", "canonical", "api", meta), _expected("pino")[0]]


def test_null_is_absent_and_values_of_another_type_are_no_candidates(
    engine: LogAnalyticsEngine, client: TestClient
) -> None:
    """A key holding JSON null counts as absent (the next alias is read; an alias's null stays in
    metadata, a canonical key's is dropped as before); a message or source that is not text, or a time
    that is an object, is not read and stays."""
    lines = [
        {"message": None, "msg": "from msg", "time": None, "ts": T, "logger": None, "name": "app"},
        {"event": {"dataset": "x"}, "log": "docker text", "time": {"nested": 1}, "t": "2024-07-21T12:00:00Z"},
        {"msg": 42, "message": None, "name": 7, "component": "c", "level": None, "lvl": True, "severity": 40},
    ]
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    assert client.post("/api/v1/logs", content=body).json()["accepted"] == 3
    got = _got(engine)
    assert got[0] == (T * NS, "INFO", "from msg", "app", {"time": None, "logger": None})
    assert got[1] == (T * NS, "INFO", "docker text", "", {"event.dataset": "x", "time.nested": 1})
    assert got[2][1:] == ("WARN", "", "c", {"msg": 42, "name": 7, "lvl": True})


def test_an_unreadable_alias_time_is_kept_and_counted(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """The first alias present gives the time even when it cannot be read: the log keeps the ingest
    time, the raw text in `metadata.timestamp_raw`, and is counted in `bad_timestamps`."""
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"time": "yesterday", "ts": T, "msg": "when"}) + "\n")
    report = engine.ingest_logs_from_file(path, "jsonl")
    assert report["bad_timestamps"] == 1
    [log] = engine.query_logs({})
    assert log.metadata == {"ts": T, "timestamp_raw": "yesterday"}


def _ecs_line(i: int, extra: dict[str, Any] | None = None) -> str:
    record: dict[str, Any] = {
        "@timestamp": f"2024-07-21T12:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "log.level": "info",
        "message": f"request {i}",
        "http": {"request": {"method": "GET"}, "response": {"status_code": 200}},
    }
    return json.dumps(record | (extra or {}))


def test_lines_past_the_sample_with_other_nested_shapes_are_flattened_alike(
    engine: LogAnalyticsEngine, tmp_path: Path
) -> None:
    """A chunk's nested objects are flattened by the shapes its first lines show; a later line with
    keys, depths or types those lines did not have (an object where text was, an empty object, a
    key that needs quoting, a dotted key beside the same path) is flattened all the same."""
    odd = {
        1_200: {"http": {"request": {"method": "POST", "headers": {"x-id": "a"}}}},
        1_201: {"http": {"request": "plain text", "response": {}}},
        1_202: {"http": {"request": {"method": {"verb": "GET"}}}},
        1_203: {"http.request.method": "PUT", "http": {"request": {"method": "GET"}}},
        1_204: {"user": {"name": "bob", "roles": ["a", {"b": 1}]}},
        1_205: {"http": {"request": {"method": None}}},
    }
    lines = [_ecs_line(i, odd.get(i)) for i in range(1_210)]
    path = tmp_path / "ecs.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    assert engine.ingest_logs_from_file(path, "jsonl")["count"] == len(lines)
    meta = {log.message: log.metadata for log in engine.query_logs({})}
    assert meta["request 5"] == {"http.request.method": "GET", "http.response.status_code": 200}
    assert meta["request 1200"] == {"http.request.method": "POST", "http.request.headers.x-id": "a"}
    assert meta["request 1201"] == {"http.request": "plain text", "http.response": {}}
    assert meta["request 1202"] == {"http.request.method.verb": "GET"}
    assert meta["request 1203"] == {"http.request.method": "GET"}  # the first in the line wins
    assert meta["request 1204"] == {
        "http.request.method": "GET",
        "http.response.status_code": 200,
        "user.name": "bob",
        "user.roles": ["a", {"b": 1}],
    }
    assert meta["request 1205"] == {"http.request.method": None}


# -- every path stores a line alike, as the spec says -------------------------------------------

SPEC = {
    "timestamp": ("@timestamp", "time", "ts", "t", "@t", "datetime"),
    "message": ("msg", "@m", "@mt", "log", "event"),
    "level": ("log.level", "lvl", "severity", "levelname", "@l", "loglevel", "severity_text"),
    "source": ("logger", "logger_name", "log.logger", "service.name", "name", "component"),
}
KNOWN = {"timestamp", "level", "message", "source", "tags", "thread_id", "request_id", "user_id", "metadata"}
PINO = {"10": "TRACE", "20": "DEBUG", "30": "INFO", "40": "WARN", "50": "ERROR", "60": "FATAL"}
# The aliases (and the parents of the dotted ones) and two other keys.
ALIAS_KEYS = [*(k for keys in SPEC.values() for k in keys), "service", "extra", "req"]

words = st.sampled_from(["a", "b", "log", "level", "name", "x.y", "msg", "ts", "é", "with space"])
leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    # (no whitespace but spaces at an edge: SQL trims spaces, Python all whitespace)
    st.sampled_from(["text", "", "2024-07-21T12:00:00Z", "two\nlines", "E", "30", " Warning "]),
)
nested_values = st.recursive(
    leaf, lambda inner: st.lists(inner, max_size=2) | st.dictionaries(words, inner, max_size=3), max_leaves=6
)
alias_values = st.one_of(
    leaf,
    st.integers(10, 60),
    st.integers(1_700_000_000, 1_800_000_000),
    st.integers(1_700_000_000_000, 1_800_000_000_000),
    st.floats(1.7e9, 1.8e9, allow_nan=False).map(lambda x: round(x, 6)),
    st.sampled_from(["info", "2024-07-21T12:00:00.5+02:00", "1721563200", "yesterday"]),
    nested_values,
)
alias_record = st.dictionaries(st.sampled_from(ALIAS_KEYS), alias_values, max_size=7)


def _flat(obj: dict[str, Any], prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {} if out is None else out
    for key, value in obj.items():
        if isinstance(value, dict) and value:
            _flat(value, f"{prefix}{key}.", out)
        else:
            out.setdefault(prefix + key, value)
    return out


def _oracle(record: dict[str, Any]) -> tuple[int | None, str, str, str, dict[str, Any] | None]:
    """What the spec says a line without canonical keys becomes: (time ns or None for the ingest
    time, level, message, source, metadata)."""
    used: list[str] = []

    def pick(column: str) -> Any:
        for key in SPEC[column]:
            parent, dot, child = key.partition(".")
            values = [record.get(key)] + (
                [record[parent].get(child)] if dot and isinstance(record.get(parent), dict) else []
            )
            for value in values:
                if isinstance(value, str) or (
                    column in ("timestamp", "level") and type(value) in (int, float)
                ):
                    used.append(key)
                    return value.rstrip("\r\n") if key == "log" else value
        return None

    raw_ts, message, level, source = (pick(c) for c in ("timestamp", "message", "level", "source"))
    meta = {k: v for k, v in record.items() if k not in KNOWN}
    if used:
        meta = _flat(meta)
        for key in used:
            meta.pop(key, None)
    ts = None
    if raw_ts is not None:
        try:
            ts = parse_timestamp(raw_ts)
        except TimestampError:
            meta["timestamp_raw"] = raw_ts
    text = "" if level is None else str(level)
    name = PINO.get(text.strip().upper()) or normalize_level(level)
    return ts, name, message or "", source or "", meta or None


def _stored(engine: LogAnalyticsEngine) -> list[tuple[Any, ...]]:
    """Every row's columns sorted, metadata as data and an ingest-time event time as None."""
    rows = engine._store.store.rows(
        "SELECT CASE WHEN ts = ingested_at THEN NULL ELSE ts END, level, source, message, metadata FROM logs"
    )
    out = [
        (ts, level, message, source, None if m is None else json.loads(m))
        for ts, level, source, message, m in rows
    ]
    return sorted(out, key=_order)


def _order(row: tuple[Any, ...]) -> str:
    return json.dumps(row, sort_keys=True, default=str)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(alias_record, min_size=1, max_size=10))
def test_alias_lines_store_as_the_spec_says_by_file_lines_and_body(
    tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    """Random lines in alias keys (nulls, numbers, objects, dotted keys beside nested ones) are stored
    as the spec (`_oracle`) says, and alike by a file (SQL), in-memory lines (Python) and an NDJSON
    body (Arrow when plain)."""
    body = "".join(json.dumps(r) + "\n" for r in records)
    path = tmp_path / "same.jsonl"
    path.write_text(body)
    with LogAnalyticsEngine() as by_file, LogAnalyticsEngine() as by_lines, LogAnalyticsEngine() as by_body:
        assert by_file.ingest_logs_from_file(path, "jsonl")["count"] == len(records)
        assert by_lines.ingest_json_lines(body.splitlines())["count"] == len(records)
        assert by_body.ingest_ndjson(body.encode())["count"] == len(records)
        assert _stored(by_file) == sorted(map(_oracle, records), key=_order)
        assert _stored(by_lines) == _stored(by_file)
        assert _stored(by_body) == _stored(by_file)
