"""VictoriaLogs' JSON stream API (`POST /insert/jsonline`): every parameter as a query arg and as a
`VL-*` header, the defaults, bad lines, gzip and the body bounds, the metrics, and VictoriaLogs' own
curl example against a `log-analytics serve` process."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from log_analytics_engine import LogAnalyticsEngine
from log_analytics_engine.ingest.formats import vl_jsonline
from log_analytics_engine.server.app import create_app
from log_analytics_engine.server.settings import Settings
from services import free_port, wait_ready

CLI = [sys.executable, "-m", "log_analytics_engine.cli"]
NOW = 1_796_000_000 * 10**9
README = Path(__file__).resolve().parent.parent / "README.md"


def _lines(*records: object) -> bytes:
    return b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in records)


@pytest.fixture
def client(engine: LogAnalyticsEngine) -> TestClient:
    return TestClient(create_app(engine, Settings()))


def _rows(body: bytes, params: vl_jsonline.Params | None = None) -> list[dict[str, Any]]:
    decoded = vl_jsonline.decode(body, params or vl_jsonline.Params(), now_ns=NOW)
    rows = decoded.table.to_pylist()
    for row in rows:
        row["metadata"] = orjson.loads(row["metadata"]) if row["metadata"] else {}
    return rows


def test_defaults_are_victorialogs_msg_and_time() -> None:
    """Without parameters `_msg` is the message and `_time` the time (`"0"` the time of ingest, as an
    absent one); nested objects are dotted fields; the level from `level`; no stream."""
    body = _lines(
        {"_msg": "hello", "_time": "2025-07-21T12:00:00Z", "level": "warn", "http": {"code": 500}},
        {"_msg": "now", "_time": "0"},
        {"message": "no _msg here"},
    )
    first, second, third = _rows(body)
    assert (first["ts"], first["message"], first["level"]) == (1_753_099_200 * 10**9, "hello", "WARN")
    assert first["metadata"] == {"http.code": 500}
    assert (second["ts"], second["message"], second["metadata"]) == (NOW, "now", {})
    assert third["message"] == '{"message":"no _msg here"}'  # no message field: the line is the message
    assert third["metadata"] == {"message": "no _msg here"}


@pytest.mark.parametrize("as_header", [False, True])
def test_every_parameter_as_query_arg_and_header(
    client: TestClient, engine: LogAnalyticsEngine, as_header: bool
) -> None:
    """_msg_field and _time_field (lists: the first non-empty wins), _stream_fields (the `_stream`
    field, names sorted; the source from them), ignore_fields (a name and a prefix*), extra_fields."""
    given = {
        "_msg_field": "msg,log.message",
        "_time_field": "ts,date",
        "_stream_fields": "host,app",
        "ignore_fields": "secret,debug.*",
        "extra_fields": "env=prod,team=pay",
    }
    names = {
        "_msg_field": "VL-Msg-Field",
        "_time_field": "VL-Time-Field",
        "_stream_fields": "VL-Stream-Fields",
        "ignore_fields": "VL-Ignore-Fields",
        "extra_fields": "VL-Extra-Fields",
    }
    body = _lines(
        {
            "msg": "",
            "log": {"message": "from log.message", "level": "error"},
            "ts": "",
            "date": "2025-07-21T12:00:01Z",
            "host": "h1",
            "app": "web",
            "secret": "x",
            "debug": {"a": 1, "b": 2},
            "env": "dev",
            "kept": True,
        }
    )
    if as_header:
        answer = client.post(
            "/insert/jsonline", content=body, headers={names[k]: v for k, v in given.items()}
        )
    else:
        answer = client.post("/insert/jsonline", content=body, params=given)
    assert answer.status_code == 200
    assert answer.json()["accepted"] == 1
    [log] = engine.search("*").logs
    assert log.message == "from log.message"
    assert log.timestamp == "2025-07-21T12:00:01Z"
    assert (log.level, log.source) == ("ERROR", "web")  # `app` is a source key: host stays a field
    assert log.metadata == {
        "host": "h1",
        "env": "prod",
        "team": "pay",
        "kept": True,
        "_stream": '{app="web",host="h1"}',
    }


def test_a_query_arg_wins_over_its_header(client: TestClient, engine: LogAnalyticsEngine) -> None:
    """As in VictoriaLogs, `_msg_field=b` beats `VL-Msg-Field: a`."""
    body = _lines({"a": "from a", "b": "from b"})
    client.post("/insert/jsonline", content=body, params={"_msg_field": "b"}, headers={"VL-Msg-Field": "a"})
    assert [log.message for log in engine.search("*").logs] == ["from b"]


def test_source_without_stream_fields_and_stream_values() -> None:
    """No stream fields: the source is the first source key the line holds; stream values that are
    not text are written as JSON inside `_stream`, quotes escaped."""
    [plain] = _rows(_lines({"_msg": "m", "job": "cron", "hostname": "h"}))
    assert (plain["source"], plain["metadata"]) == ("cron", {"hostname": "h"})
    params = vl_jsonline.Params(stream_fields=("port", "name"))
    [row] = _rows(_lines({"_msg": "m", "port": 8080, "name": 'a "b"'}), params)
    assert row["source"] == "8080"  # no source key among them: the first stream field
    assert row["metadata"] == {"name": 'a "b"', "_stream": '{name="a \\"b\\"",port="8080"}'}


def test_bad_lines_are_rejected_by_number_and_the_rest_stored(
    client: TestClient, engine: LogAnalyticsEngine
) -> None:
    """Invalid JSON and lines that are no object are rejected with their 0-based line and reason;
    blank lines skipped; every line rejected is a 400; bytes that are not UTF-8 are replaced."""
    body = _lines({"_msg": "one"}, b"{not json", b"", b"[1, 2]", b'{"_msg": "caf\xe9"}', {"_msg": "two"})
    answer = client.post("/insert/jsonline", content=body)
    assert answer.status_code == 200
    got = answer.json()
    assert (got["accepted"], got["rejected_count"]) == (3, 2)
    assert [(r["index"], r["reason"].split(" (")[0]) for r in got["rejected"]] == [
        (1, "invalid JSON"),
        (3, "not a JSON object"),
    ]
    assert sorted(log.message for log in engine.search("*").logs) == ["caf\ufffd", "one", "two"]
    assert client.post("/insert/jsonline", content=b"nope\n").status_code == 400


def _metric(engine: LogAnalyticsEngine, prefix: str) -> dict[str, float]:
    out = {}
    for line in engine.export_metrics_prometheus().splitlines():
        if line.startswith(prefix):
            out[line.rsplit(" ", 1)[0]] = float(line.rsplit(" ", 1)[1])
    return out


def test_gzip_bounds_and_metrics(engine: LogAnalyticsEngine) -> None:
    """A gzip body is read; a damaged one is a 400 and an oversize one a 413, nothing stored; logs,
    bytes and rejections by reason are counted under `jsonline` in /metrics; a bad extra field is
    a 400 naming it."""
    client = TestClient(create_app(engine, Settings(max_body_bytes=2_048)))
    body = _lines({"_msg": "zipped"}, b"[]")
    answer = client.post(
        "/insert/jsonline", content=gzip.compress(body), headers={"Content-Encoding": "gzip"}
    )
    assert answer.json()["accepted"] == 1
    damaged = client.post("/insert/jsonline", content=b"\x1f\x8b bad", headers={"Content-Encoding": "gzip"})
    assert damaged.status_code == 400
    assert "gzip" in damaged.json()["detail"]
    assert client.post("/insert/jsonline", content=b'{"_msg":"x"}\n' * 500).status_code == 413
    bad = client.post("/insert/jsonline", content=body, params={"extra_fields": "novalue"})
    assert bad.status_code == 400
    assert "novalue" in bad.json()["detail"]
    assert engine.count() == 1
    assert _metric(engine, 'loganalytics_protocol_rejected_total{protocol="jsonline"') == {
        'loganalytics_protocol_rejected_total{protocol="jsonline",reason="bad_compression"}': 1.0,
        'loganalytics_protocol_rejected_total{protocol="jsonline",reason="bad_parameter"}': 1.0,
        'loganalytics_protocol_rejected_total{protocol="jsonline",reason="not_object"}': 1.0,
        'loganalytics_protocol_rejected_total{protocol="jsonline",reason="too_large"}': 1.0,
    }
    assert _metric(engine, 'loganalytics_ingested_logs_total{path="jsonline"}') == {
        'loganalytics_ingested_logs_total{path="jsonline"}': 1.0
    }
    assert _metric(engine, 'loganalytics_protocol_bytes_total{protocol="jsonline"}') == {
        'loganalytics_protocol_bytes_total{protocol="jsonline"}': float(len(body))
    }


def test_ready_probe_needs_no_key(client: TestClient) -> None:
    """`GET /insert/ready` answers as VictoriaLogs' does."""
    assert client.get("/insert/ready").json() == {"status": "ok"}


def test_victorialogs_curl_example_against_the_server(tmp_path: Path) -> None:
    """The README's copy of VictoriaLogs' own example, run with curl against `serve`: three logs,
    messages from log.message, levels from log.level, streams from `stream`, the time of ingest."""
    section = README.read_text(encoding="utf-8").split("### VictoriaLogs jsonline", 1)[1]
    section = section.split("\n## ", 1)[0].split("\n### ", 1)[0]
    [example] = [block.split("```", 1)[0] for block in section.split("```bash\n")[1:]]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOG_ANALYTICS_")}
    server = subprocess.Popen(
        [*CLI, "serve", "--data", str(tmp_path / "data"), "--port", str(port)],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        wait_ready(url + "/healthz", server, log)
        command = example.replace("http://localhost:8080", url)
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60, check=True)
        assert orjson.loads(done.stdout)["accepted"] == 3
        logs = httpx.get(url + "/api/v1/search", params={"q": "*"}).json()["logs"]
        got = sorted(
            (entry["message"], entry["level"], entry["source"], entry["metadata"]["_stream"])
            for entry in logs
        )
        assert got == [
            ("hello world", "INFO", "stream1", '{stream="stream1"}'),
            ("hello world", "INFO", "stream2", '{stream="stream2"}'),
            ("oh no!", "ERROR", "stream1", '{stream="stream1"}'),
        ]
    finally:
        server.terminate()
        server.wait(30)
