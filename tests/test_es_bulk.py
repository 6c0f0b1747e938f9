"""Elasticsearch `_bulk` and the node API shippers call: the official `elasticsearch` client and
`opensearch-py` against a `log-analytics serve` process (10k documents each, API keys the ways the
ES client sends them), the decoder's mapping and per-item errors, Arrow's path against the
per-document one, whole-request failures in ES's shape with X-Elastic-Product, and their metrics."""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import elasticsearch
import httpx
import opensearchpy
import orjson
import pytest
from elasticsearch import helpers as es_helpers
from fastapi.testclient import TestClient
from opensearchpy import helpers as os_helpers

from log_analytics_engine import LogAnalyticsEngine, LogEntry
from log_analytics_engine.ingest.formats import es_bulk
from log_analytics_engine.server.app import create_app
from log_analytics_engine.server.settings import ApiKey, Settings, hash_key
from services import free_port, wait_ready

CLI = [sys.executable, "-m", "log_analytics_engine.cli"]
NDJSON = {"Content-Type": "application/x-ndjson"}
KEY = "es-secret-key"
README = Path(__file__).resolve().parent.parent / "README.md"


def _body(*lines: object) -> bytes:
    """NDJSON of the given lines: dicts and lists as JSON, bytes as they are."""
    return b"".join((line if isinstance(line, bytes) else orjson.dumps(line)) + b"\n" for line in lines)


def _decode(body: bytes, arrow: bool = True, **kwargs: Any) -> es_bulk.Bulk:
    """The decoder on `body`, Arrow's path allowed or not."""
    if arrow:
        return es_bulk.decode(body, now_ns=1, **kwargs)
    saved = es_bulk._columns
    es_bulk._columns = lambda *args: None  # type: ignore[assignment]
    try:
        return es_bulk.decode(body, now_ns=1, **kwargs)
    finally:
        es_bulk._columns = saved  # type: ignore[assignment]


def _rows(bulk: es_bulk.Bulk) -> list[dict[str, Any]]:
    rows = bulk.decoded.table.to_pylist()
    for row in rows:
        row["metadata"] = json.loads(row["metadata"]) if row["metadata"] else {}
    return rows


class Served:
    """`log-analytics serve` in a child process, optionally with one API key (ingest + query)."""

    def __init__(self, data: Path, key: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data.parent / f"serve-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOG_ANALYTICS_")}
        if key is not None:
            env["LOG_ANALYTICS_API_KEYS"] = f"shipper:ingest+query:{hash_key(key)}"
        self.process = subprocess.Popen(
            [*CLI, "serve", "--data", str(data), "--port", str(self.port)],
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            env=env,
        )
        wait_ready(self.url + "/healthz", self.process, self.log)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = Served(tmp_path_factory.mktemp("es") / "data")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = Served(tmp_path_factory.mktemp("es-keyed") / "data", key=KEY)
    yield server
    server.stop()


@pytest.fixture
def client(engine: LogAnalyticsEngine) -> TestClient:
    return TestClient(create_app(engine, Settings()))


def _search(url: str, query: str, key: str | None = None, limit: int = 10) -> dict[str, Any]:
    headers = {"X-API-Key": key} if key else {}
    answer = httpx.get(f"{url}/api/v1/search", params={"q": query, "limit": limit}, headers=headers)
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


# -- the real clients ---------------------------------------------------------------------------


def test_elasticsearch_client_bulk_of_10k_nested_documents(served: Served) -> None:
    """The official client: info() works, helpers.bulk (PUT /_bulk, compatible-with=9, gzip) stores
    10,000 nested ECS documents, counted from the items; time, level, source, message, `_index` and
    the nested fields as dotted names are searchable."""
    es = elasticsearch.Elasticsearch(served.url, http_compress=True)
    assert es.info()["version"]["number"].startswith("8.")
    assert es.ping()
    actions = (
        {
            "_index": "checkout-logs",
            "_source": {
                "@timestamp": f"2025-07-21T10:{i // 600 % 60:02d}:{i // 10 % 60:02d}.{i % 10}00Z",
                "message": f"payment {i} declined" if i % 10 == 0 else f"payment {i} accepted",
                "log": {"level": "warn" if i % 10 == 0 else "info"},
                "service": {"name": "checkout"},
                "host": {"name": "web-1"},
                "http": {"response": {"status_code": 402 if i % 10 == 0 else 200}},
                "order.id": i,
            },
        }
        for i in range(10_000)
    )
    assert es_helpers.bulk(es, actions, chunk_size=1_000) == (10_000, [])
    assert _search(served.url, "_index:checkout-logs", limit=1)["total"] == 10_000
    declined = _search(served.url, "_index:checkout-logs level:WARN declined", limit=1000)
    assert declined["total"] == 1_000
    [log] = _search(served.url, "_index:checkout-logs order.id:4230")["logs"]
    assert log["timestamp"] == "2025-07-21T10:07:03Z"
    assert (log["level"], log["source"], log["message"]) == ("WARN", "checkout", "payment 4230 declined")
    assert log["metadata"] == {
        "host.name": "web-1",
        "http.response.status_code": 402,
        "order.id": 4230,
        "_index": "checkout-logs",
    }
    assert _search(served.url, "http.response.status_code:402 _index:checkout-logs")["total"] == 1_000


def test_opensearch_client_bulk_of_10k_flat_documents(served: Served) -> None:
    """opensearch-py's helpers.bulk (POST /_bulk, application/json): 10,000 dotted documents (Arrow's
    path) stored with their columns and fields, the `_id`s given kept."""
    client = opensearchpy.OpenSearch(served.url)
    actions = (
        {
            "_index": "os-logs",
            "_id": f"doc-{i}",
            "_source": {
                "@timestamp": f"2025-07-21T11:00:{i % 60:02d}.{i % 1000:03d}Z",
                "message": f"job {i} done",
                "level": "error" if i % 100 == 0 else "debug",
                "host.name": f"worker-{i % 4}",
                "duration_ms": i,
            },
        }
        for i in range(10_000)
    )
    assert os_helpers.bulk(client, actions, chunk_size=1_000) == (10_000, [])
    assert _search(served.url, "_index:os-logs", limit=1)["total"] == 10_000
    assert _search(served.url, "_index:os-logs level:ERROR", limit=1)["total"] == 100
    [log] = _search(served.url, "_index:os-logs duration_ms:777")["logs"]
    assert (log["level"], log["source"], log["message"]) == ("DEBUG", "worker-1", "job 777 done")
    assert log["timestamp"] == "2025-07-21T11:00:57.777Z"
    assert log["metadata"] == {"duration_ms": 777, "_index": "os-logs", "_id": "doc-777"}


def test_api_keys_the_ways_the_es_client_sends_them(keyed: Served) -> None:
    """With a key configured, the ES client's api_key (the raw key and an (id, key) pair) and
    basic_auth with the key as password all store; a wrong key is a 401 the client reports, its
    answer carrying X-Elastic-Product."""
    for auth in ({"api_key": KEY}, {"api_key": ("shipper", KEY)}, {"basic_auth": ("any", KEY)}):
        es = elasticsearch.Elasticsearch(keyed.url, **auth)  # type: ignore[arg-type]
        assert es.info()["tagline"] == "You Know, for Search"
        kind = next(iter(auth))
        assert es_helpers.bulk(es, ({"_index": f"auth-{kind}", "message": f"m{i}"} for i in range(10))) == (
            10,
            [],
        )
    assert _search(keyed.url, "_index:auth-api_key", KEY)["total"] == 20
    assert _search(keyed.url, "_index:auth-basic_auth", KEY)["total"] == 10
    wrong = elasticsearch.Elasticsearch(keyed.url, api_key="not-the-key")
    with pytest.raises(elasticsearch.AuthenticationException) as raised:
        es_helpers.bulk(wrong, [{"_index": "x", "message": "m"}])
    assert raised.value.meta.status == 401
    assert raised.value.meta.headers["x-elastic-product"] == "Elasticsearch"
    answer = httpx.get(keyed.url + "/")
    assert answer.status_code == 401
    assert answer.headers["x-elastic-product"] == "Elasticsearch"
    assert answer.json()["error"]["type"] == "security_exception"


def test_readme_client_snippet_runs(served: Served) -> None:
    """The README's Python client snippet (its `py` block) stores what it says against the server."""
    section = README.read_text(encoding="utf-8").split("### Elasticsearch _bulk", 1)[1].split("\n### ", 1)[0]
    [snippet] = [b for b in section.split("```py\n")[1:]]
    code = snippet.split("```", 1)[0].replace("http://localhost:8080", served.url)
    code = code.replace(', api_key="KEY"', "")
    exec(compile(code, str(README), "exec"), {})  # our own README
    assert _search(served.url, "_index:readme-app declined")["total"] == 3


# -- the decoder --------------------------------------------------------------------------------


def test_mapping_of_nested_and_dotted_documents() -> None:
    """Time, message, level, source (first of the source fields), tags; nested and dotted keys both
    dotted; ECS's trace.id / span.id as trace_id / span_id; `_index` (the action's, else the URL's)
    and `_id` kept; the keys the columns took leave the fields."""
    body = _body(
        {"index": {"_index": "app"}},
        {
            "@timestamp": "2025-07-21T12:00:00.5Z",
            "message": "nested",
            "log": {"level": "warning", "logger": "pay"},
            "service": {"name": "checkout"},
            "host": {"name": "web-1"},
            "trace": {"id": "t1"},
            "span.id": "s1",
            "tags": ["a", "b"],
        },
        {"create": {"_id": "x-1"}},
        {"timestamp": 1753099200, "message": "dotted", "level": "ERROR", "host.name": "web-2", "n": 2},
    )
    for arrow in (True, False):
        bulk = _decode(body, arrow, index="default-index")
        assert bulk.actions == ["index", "create"]
        assert bulk.errors == {}
        first, second = _rows(bulk)
        assert (first["ts"], first["level"], first["source"], first["message"]) == (
            1_753_099_200_500_000_000,
            "WARN",
            "checkout",
            "nested",
        )
        assert first["tags"] == ["a", "b"]
        assert first["metadata"] == {
            "log.logger": "pay",
            "host.name": "web-1",
            "trace_id": "t1",
            "span_id": "s1",
            "_index": "app",
        }
        assert (second["ts"], second["level"], second["source"]) == (1_753_099_200 * 10**9, "ERROR", "web-2")
        assert second["metadata"] == {"n": 2, "_index": "default-index", "_id": "x-1"}


def test_source_fields_are_configurable() -> None:
    """The source is the first present of the configured fields (rsyslog's `fromhost` here)."""
    body = _body({"index": {}}, {"message": "m", "fromhost": "gw", "service.name": "svc"})
    [row] = _rows(_decode(body, sources=es_bulk.source_fields("fromhost, service.name")))
    assert (row["source"], row["metadata"]) == ("gw", {"service.name": "svc"})


def test_a_document_without_a_message_keeps_its_json_as_the_message() -> None:
    """No text `message` (nor Fluent Bit's `log`): the document's JSON line is the message, its
    fields kept too, so no word of it is lost; `log` is the message when it is text."""
    flat = _body({"index": {}}, {"event.code": 7, "level": 30}, {"index": {}}, {"log": "a line", "x": 1})
    nested = flat.replace(b'"event.code":7', b'"event":{"code":7}')
    for body in (flat, nested):  # Arrow's path, the per-document one
        for arrow in (True, False):
            first, second = _rows(_decode(body, arrow))
            assert first["message"] == body.split(b"\n")[1].decode()
            assert (first["level"], first["metadata"]) == ("INFO", {"event.code": 7})
            assert (second["message"], second["metadata"]) == ("a line", {"x": 1})


def test_bad_items_are_answered_one_by_one_and_the_rest_stored() -> None:
    """update, delete and unknown actions, a broken action line, a document that is no object or no
    JSON, and a last action whose document is missing (a truncated body): each an item error with
    status 400 and a reason code, every other item stored in order."""
    body = _body(
        {"index": {"_index": "a"}},
        {"message": "one"},
        {"update": {"_id": "1"}},
        {"doc": {"message": "changed"}},
        {"delete": {"_id": "2"}},
        b'{"index": {"_index": ',
        {"message": "lost with its broken action"},
        {"index": {}},
        ["not", "an", "object"],
        {"index": {}},
        b'{"message": "cut',
        {"upsert": {}},
        {"message": "unknown action"},
        {"create": {"_index": "b"}},
        {"message": "two"},
        {"index": {"_index": "c"}},
    )
    for arrow in (True, False):
        bulk = _decode(body, arrow)
        assert bulk.actions == [
            "index",
            "update",
            "delete",
            "index",
            "index",
            "index",
            "upsert",
            "create",
            "index",
        ]
        codes = {position: error.code for position, error in bulk.errors.items()}
        assert codes == {
            1: "unsupported_action",
            2: "unsupported_action",
            3: "bad_action",
            4: "not_object",
            5: "invalid_json",
            6: "unknown_action",
            8: "missing_document",
        }
        assert {error.status for error in bulk.errors.values()} == {400}
        assert [row["message"] for row in _rows(bulk)] == ["one", "two"]
        assert bulk.decoded.report.rejected_by == {
            "unsupported_action": 2,
            "bad_action": 1,
            "not_object": 1,
            "invalid_json": 1,
            "unknown_action": 1,
            "missing_document": 1,
        }


def test_arrows_path_and_the_per_document_path_store_the_same_rows() -> None:
    """Bodies Arrow reads (flat documents of text, numbers, booleans, tags; some without a time, a
    message or a source; `_id`s given; keys first seen late) decode to the same rows and report by
    either path."""
    docs = []
    for i in range(1_500):  # more than arrowjson's sample: the rest is read against its keys
        doc: dict[str, Any] = {"message": f"m{i}", "n": i, "ok": i % 2 == 0, "ratio": i + 0.5}
        if i % 3:
            doc["@timestamp"] = f"2025-07-21T12:{i % 60:02d}:00.{i % 1000:03d}+02:00"
        if i % 5:
            doc["log.level"] = ("info", "warn", "error")[i % 3]
        if i % 7:
            doc["service.name"] = f"svc-{i % 3}"
        if i % 11 == 0:
            doc["tags"] = ["x", f"t{i % 2}"]
        if i % 13 == 0:
            del doc["message"]
        if i in (100, 1_200):  # keys the first lines (and the first 1,000) do not show
            doc[f"late_{i}"] = "x"
        docs.append(doc)
    pairs: list[object] = []
    for i, doc in enumerate(docs):
        pairs += [{"create": {"_index": "logs", "_id": f"i{i}"}} if i % 4 == 0 else {"index": {}}, doc]
    late = {f"late_{i}" for i in (100, 1_200)}
    plain = [{k: v for k, v in p.items() if k not in late} for p in pairs]  # type: ignore[attr-defined]
    # Arrow's path: the first lines' keys; then, a key past them, arrowjson's sample (1,000 lines);
    # a key past the sample too sends the body the per-document way
    for lines, by_arrow in ((plain, True), (pairs[:2_000], True), (pairs, False)):
        body = _body(*lines)
        read: list[bool] = []
        columns = es_bulk._columns

        def spy(*args: Any, columns: Any = columns, read: list[bool] = read) -> Any:
            table = columns(*args)
            read.append(table is not None)
            return table

        es_bulk._columns = spy  # type: ignore[assignment]
        try:
            arrow = es_bulk.decode(body, "u", now_ns=1)
        finally:
            es_bulk._columns = columns  # type: ignore[assignment]
        python = _decode(body, False, index="u")
        assert read == [by_arrow]
        assert _rows(arrow) == _rows(python)
    assert arrow.decoded.report.no_timestamp == python.decoded.report.no_timestamp == 500
    assert (arrow.ids, arrow.indexes) == (python.ids, python.indexes)


def test_rsyslog_omelasticsearch_payload(client: TestClient, engine: LogAnalyticsEngine) -> None:
    """What rsyslog's omelasticsearch sends: batches of NDJSON with `"_type":"events"` in the action,
    Content-Type application/json, documents of its default template (message, fromhost, priority,
    timereported): stored, the time from timereported."""
    docs = [
        {
            "message": f" sshd[42]: session {i} opened",
            "fromhost": "gw",
            "facility": "auth",
            "priority": "info",
            "timereported": "2025-07-21T12:00:00.123456+00:00",
            "timegenerated": "2025-07-21T12:00:01.000001+00:00",
        }
        for i in range(256)
    ]
    body = _body(
        *(line for doc in docs for line in ({"index": {"_index": "system", "_type": "events"}}, doc))
    )
    answer = client.post("/_bulk", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 200
    assert answer.json()["errors"] is False
    assert {item["index"]["status"] for item in answer.json()["items"]} == {201}
    [log] = engine.search("session 17").logs
    assert log.timestamp == "2025-07-21T12:00:00.123456Z"
    assert log.metadata["_index"] == "system"
    assert log.metadata["fromhost"] == "gw"
    assert engine.count() == 256


# -- the HTTP edge ------------------------------------------------------------------------------


def test_bulk_answer_lists_every_item_with_its_status(client: TestClient, engine: LogAnalyticsEngine) -> None:
    """`{"took", "errors", "items"}`: an item per action in order, 201 created or the error (type and
    reason); `errors` true when any failed; the good items stored; X-Elastic-Product on it."""
    body = _body({"index": {"_index": "a", "_id": "k"}}, {"message": "kept"}, {"delete": {"_id": "k"}})
    answer = client.post("/logs/_bulk", content=body, headers=NDJSON)
    assert answer.status_code == 200
    assert answer.headers["x-elastic-product"] == "Elasticsearch"
    got = answer.json()
    assert got["errors"] is True
    assert isinstance(got["took"], int)
    [created, refused] = got["items"]
    assert created == {
        "index": {"_index": "a", "_id": "k", "_version": 1, "result": "created", "status": 201}
    }
    assert refused["delete"]["status"] == 400
    assert refused["delete"]["error"]["type"] == "illegal_argument_exception"
    assert refused["delete"]["_index"] == "logs"
    assert engine.count() == 1
    ok = client.put("/_bulk", content=_body({"create": {}}, {"message": "x"}), headers=NDJSON).json()
    assert ok["errors"] is False
    assert ok["items"][0]["create"]["_id"]  # an id is made up for a document sent without one


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-ndjson",
        "application/json; charset=UTF-8",
        "application/vnd.elasticsearch+x-ndjson; compatible-with=8",
        "application/vnd.elasticsearch+json;compatible-with=9",
    ],
)
def test_content_types_elasticsearch_clients_send(client: TestClient, content_type: str) -> None:
    """Each content type the ES and OpenSearch clients and the shippers send is read."""
    body = _body({"index": {}}, {"message": "m"})
    answer = client.post("/_bulk", content=body, headers={"Content-Type": content_type})
    assert answer.status_code == 200
    assert answer.json()["items"][0]["index"]["status"] == 201


def _rejected(engine: LogAnalyticsEngine) -> dict[str, float]:
    """loganalytics_protocol_rejected of es_bulk, by reason, from /metrics' text."""
    out = {}
    for line in engine.export_metrics_prometheus().splitlines():
        if line.startswith('loganalytics_protocol_rejected_total{protocol="es_bulk"'):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            out[reason] = float(line.rsplit(" ", 1)[1])
    return out


def test_whole_request_failures_in_es_shape_and_counted(engine: LogAnalyticsEngine) -> None:
    """A wrong content type (415), a bad gzip body, an empty body (400), an oversize body (413):
    ES-shaped errors with X-Elastic-Product, nothing stored, each counted in /metrics by reason;
    a good gzip body is read."""
    client = TestClient(create_app(engine, Settings(max_body_bytes=4_096)))
    good = _body({"index": {}}, {"message": "zipped"})
    answer = client.post(
        "/_bulk", content=gzip.compress(good), headers={**NDJSON, "Content-Encoding": "gzip"}
    )
    assert answer.json()["errors"] is False
    cases = [
        (415, "media_type_header_exception", {"Content-Type": "text/plain"}, good),
        (400, "illegal_argument_exception", {**NDJSON, "Content-Encoding": "gzip"}, b"\x1f\x8b not gzip"),
        (400, "illegal_argument_exception", NDJSON, b"\n\n"),
        (413, "content_too_long_exception", NDJSON, _body(*([{"index": {}}, {"message": "x" * 100}] * 40))),
        (400, "illegal_argument_exception", {"Content-Type": "application/vnd.elasticsearch+json"}, good),
    ]
    for status, kind, headers, body in cases:
        answer = client.post("/_bulk", content=body, headers=headers)
        assert answer.status_code == status, (status, answer.text)
        assert answer.headers["x-elastic-product"] == "Elasticsearch"
        error = answer.json()
        assert error["status"] == status
        assert error["error"]["type"] == kind
        assert error["error"]["root_cause"][0]["reason"] == error["error"]["reason"]
    assert engine.count() == 1
    assert _rejected(engine) == {"bad_content_type": 2, "bad_compression": 1, "bad_body": 1, "too_large": 1}
    metrics = engine.export_metrics_prometheus()
    assert 'loganalytics_ingested_logs_total{path="es_bulk"} 1.0' in metrics
    assert 'loganalytics_protocol_bytes_total{protocol="es_bulk"}' in metrics


def test_item_errors_are_counted_by_reason(client: TestClient, engine: LogAnalyticsEngine) -> None:
    """Per-item rejections, a truncated last pair among them, reach /metrics under es_bulk with
    their reason codes; the good item is stored."""
    body = _body({"index": {}}, [1], {"delete": {}}, {"nope": {}}, {"x": 1}, {"index": {}}, {"message": "ok"})
    answer = client.post("/_bulk", content=body + b'{"index":{}}\n{"message": "cut sh', headers=NDJSON)
    assert [next(iter(item.values()))["status"] for item in answer.json()["items"]] == [400] * 3 + [201, 400]
    assert engine.count() == 1
    assert _rejected(engine) == {
        "not_object": 1,
        "unsupported_action": 1,
        "unknown_action": 1,
        "invalid_json": 1,
    }


def test_errors_carry_the_product_header_401_403_429(engine: LogAnalyticsEngine) -> None:
    """Without a key 401, with a key lacking the ingest scope 403, past the pending limit 429: each
    in ES's shape with X-Elastic-Product (and the 429 with Retry-After)."""
    keys = (
        ApiKey("in", hash_key("k-in"), frozenset({"ingest"})),
        ApiKey("q", hash_key("k-q"), frozenset({"query"})),
    )
    client = TestClient(create_app(engine, Settings(api_keys=keys)))
    body = _body({"index": {}}, {"message": "m"})
    for headers, status, kind in (
        ({}, 401, "security_exception"),
        ({"Authorization": "ApiKey " + base64.b64encode(b"q:k-q").decode()}, 403, "security_exception"),
    ):
        answer = client.post("/_bulk", content=body, headers={**NDJSON, **headers})
        assert answer.status_code == status
        assert answer.headers["x-elastic-product"] == "Elasticsearch"
        assert answer.json()["error"]["type"] == kind
    assert client.post("/_bulk", content=body, headers={**NDJSON, "X-API-Key": "k-in"}).status_code == 200

    release, entered = threading.Event(), threading.Event()

    def slow(entry: LogEntry) -> LogEntry:
        entered.set()
        release.wait(10)
        return entry

    engine.add_pre_ingest_hook(slow)
    busy = TestClient(create_app(engine, Settings(max_pending_ingest=1)))
    first: list[int] = []
    worker = threading.Thread(
        target=lambda: first.append(busy.post("/_bulk", content=body, headers=NDJSON).status_code)
    )
    worker.start()
    assert entered.wait(10)
    answer = busy.post("/_bulk", content=body, headers=NDJSON)
    release.set()
    worker.join(10)
    assert (answer.status_code, first) == (429, [200])
    assert answer.headers["x-elastic-product"] == "Elasticsearch"
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["error"]["type"] == "es_rejected_execution_exception"


def test_node_and_start_up_calls(client: TestClient) -> None:
    """GET / and HEAD / answer as an ES 8 node; _license (active basic), _xpack, _nodes, cluster
    health; a template, ILM policy or data stream is 404 until PUT, then 200 (acknowledged, not
    applied); all of it under /es too, each answer with X-Elastic-Product."""
    node = client.get("/").json()
    assert node["version"]["number"].startswith("8.")
    assert node["version"]["build_flavor"] == "default"
    assert node["tagline"] == "You Know, for Search"
    assert {"name", "cluster_name", "cluster_uuid"} <= node.keys()
    assert {"lucene_version", "minimum_wire_compatibility_version"} <= node["version"].keys()
    assert client.head("/").status_code == 200
    license_ = client.get("/_license", params={"human": "false"}).json()["license"]
    assert (license_["status"], license_["type"]) == ("active", "basic")
    assert client.get("/_xpack").json()["license"]["status"] == "active"
    assert client.get("/_nodes/http").json()["nodes"] == {}
    assert client.get("/_cluster/health").json()["status"] == "green"
    for base in ("", "/es"):
        for path in ("/_index_template/fb", "/_template/ls", "/_ilm/policy/fb", "/_data_stream/fb-8"):
            url = f"{base}{path}{base.replace('/', '-')}"
            assert client.head(url).status_code == 404
            missing = client.get(url)
            assert (missing.status_code, missing.json()["status"]) == (404, 404)
            assert client.put(url, json={"index_patterns": ["x-*"]}).json() == {"acknowledged": True}
            assert client.head(url).status_code == 200
            assert client.get(url).status_code == 200
            assert client.get(url).headers["x-elastic-product"] == "Elasticsearch"
    assert client.get("/es").json() == client.get("/es/").json() == node
    assert client.head("/es/").headers["x-elastic-product"] == "Elasticsearch"
    answer = client.post("/es/app/_bulk", content=_body({"index": {}}, {"message": "m"}), headers=NDJSON)
    assert answer.json()["items"][0]["index"]["_index"] == "app"
    answer = client.post("/es/_bulk", content=_body({"index": {}}, {"message": "m"}), headers=NDJSON)
    assert answer.json()["items"][0]["index"]["_index"] == ""  # the prefix, not an index "es"


def test_the_prefix_is_a_setting(engine: LogAnalyticsEngine) -> None:
    """`es_prefix` moves the API's second copy (VictoriaLogs' path here); empty, there is none."""
    body = _body({"index": {}}, {"message": "m"})
    moved = TestClient(create_app(engine, Settings(es_prefix="/insert/elasticsearch")))
    answer = moved.post("/insert/elasticsearch/_bulk", content=body, headers=NDJSON)
    assert answer.json()["items"][0]["index"]["_index"] == ""
    assert moved.get("/insert/elasticsearch/").json()["tagline"] == "You Know, for Search"
    assert moved.get("/es/_license").status_code == 404
    bare = TestClient(create_app(engine, Settings(es_prefix="")))
    assert bare.post("/_bulk", content=body, headers=NDJSON).status_code == 200
    assert bare.get("/es/_license").status_code == 404
    assert bare.get("/es").status_code == 404
