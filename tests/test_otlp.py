"""OTLP/HTTP logs (`POST /v1/logs`) on a served process: the OpenTelemetry SDK's exporter (protobuf,
gzip, a bearer key) emitting Python `logging` records with a resource, attributes, exception info and
the active span's trace context; OTLP/JSON written per the spec; partial success; bad input
answered with a google.rpc.Status and counted in /metrics."""

from __future__ import annotations

import base64
import gzip
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from log_analytics_engine.timeparse import format_timestamp, parse_timestamp
from test_loki_push import (
    MAX_BODY,
    READER,
    README,
    SHIPPER,
    SHIPPER_KEY,
    post_refused,
    readme_snippet,
    rejected,
    search,
    served,
)
from test_server_process import Server

PATH = "/v1/logs"
PROTOBUF = {**SHIPPER, "Content-Type": "application/x-protobuf"}
JSON = {**SHIPPER, "Content-Type": "application/json"}
T0_NS = 1_753_099_200 * 10**9  # 2025-07-21T12:00:00Z


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`serve` with an ingest key and a query key, and a 1 MiB body limit."""
    yield from served(tmp_path_factory.mktemp("otlp") / "data")


def _stored(server: Server, query: str) -> list[dict[str, Any]]:
    return [
        {key: log[key] for key in ("timestamp", "level", "source", "message", "metadata")}
        for log in search(server, query)
    ]


@pytest.mark.filterwarnings("ignore:`LoggingHandler` in `opentelemetry-sdk` is deprecated")
def test_the_sdk_exporter_stores_logging_records_with_their_context(server: Server) -> None:
    """Python `logging` through the SDK's LoggingHandler, BatchLogRecordProcessor and OTLPLogExporter
    (protobuf, gzip, `Authorization: Bearer`): `service.name` the source and no field, the other
    resource attributes, the scope (the logger's name), the record's attributes and exception info as
    fields; the level from severityText; the time and the span's trace context exact."""
    resource = Resource.create(
        {"service.name": "checkout-svc", "host.name": "web-1", "deployment.environment": "ci"}
    )
    provider = LoggerProvider(resource=resource)
    exporter = OTLPLogExporter(
        endpoint=server.url + PATH,
        headers={"Authorization": f"Bearer {SHIPPER_KEY}"},
        compression=Compression.Gzip,
    )
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    sent = InMemoryLogRecordExporter()  # what the SDK made of each record, to compare exactly
    provider.add_log_record_processor(SimpleLogRecordProcessor(sent))
    logger = logging.getLogger("tests.otlp.checkout")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    logger.addHandler(handler)
    tracer = TracerProvider().get_tracer("tests.otlp")
    try:
        with tracer.start_as_current_span("charge"):
            logger.warning(
                "card declined for %s",
                "order-7",
                extra={"order_id": "order-7", "amount": 12.5, "attempt": 2, "retry": True},
            )
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            logger.exception("charge failed")
        logger.debug("plain")
        assert provider.force_flush(10_000)
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
    records = [readable.log_record for readable in sent.get_finished_logs()]
    assert len(records) == 3

    logs = _stored(server, "source:checkout-svc")
    assert [(log["timestamp"], log["level"], log["message"]) for log in logs] == [
        (format_timestamp(record.timestamp), level, message)
        for record, level, message in zip(
            records,
            ("WARN", "ERROR", "DEBUG"),
            ("card declined for order-7", "charge failed", "plain"),
            strict=True,
        )
    ]
    warning, failure, plain = (log["metadata"] for log in logs)
    for fields in (warning, failure, plain):
        assert "service.name" not in fields
        assert fields["host.name"] == "web-1"
        assert fields["deployment.environment"] == "ci"
        assert fields["telemetry.sdk.language"] == "python"
        assert fields["scope.name"] == "tests.otlp.checkout"
        assert (
            fields["code.function.name"] == "test_the_sdk_exporter_stores_logging_records_with_their_context"
        )
    assert {k: warning[k] for k in ("order_id", "amount", "attempt", "retry")} == {
        "order_id": "order-7",
        "amount": 12.5,
        "attempt": 2,
        "retry": True,
    }
    assert warning["trace_id"] == f"{records[0].trace_id:032x}"
    assert warning["span_id"] == f"{records[0].span_id:016x}"
    assert warning["flags"] == int(records[0].trace_flags)
    assert (failure["exception.type"], failure["exception.message"]) == (
        "ZeroDivisionError",
        "division by zero",
    )
    assert failure["exception.stacktrace"].startswith("Traceback (most recent call last):")
    assert "trace_id" not in failure
    assert "trace_id" not in plain


@pytest.mark.filterwarnings("ignore:`LoggingHandler` in `opentelemetry-sdk` is deprecated")
def test_the_readme_snippet_runs_as_written(server: Server) -> None:
    """The README's OpenTelemetry SDK snippet, pointed at the server with its key, stores its log as
    its comment says."""
    code = readme_snippet("### OpenTelemetry (OTLP/HTTP)", server.url, SHIPPER_KEY)
    logger = logging.getLogger("checkout")
    try:
        exec(compile(code, str(README), "exec"), {})  # our own README
    finally:
        for handler in logger.handlers[:]:
            logger.removeHandler(handler)
    [log] = search(server, "source:checkout")
    assert (log["level"], log["message"]) == ("WARN", "card declined")
    assert log["metadata"]["order_id"] == "o-7"
    assert log["metadata"]["scope.name"] == "checkout"
    assert log["metadata"]["telemetry.sdk.language"] == "python"
    assert "code.function.name" in log["metadata"]


def _json_request() -> dict[str, Any]:
    """An OTLP/JSON request as the spec writes one: lowerCamelCase keys, 64-bit numbers as strings
    (or numbers), enums as integers, ids as hex (any case), an unknown key the receiver must ignore."""
    value = {
        "kvlistValue": {
            "values": [
                {"key": "method", "value": {"stringValue": "GET"}},
                {"key": "status", "value": {"intValue": "503"}},
            ]
        }
    }
    attributes = [
        {"key": "http.request", "value": value},
        {"key": "ok", "value": {"boolValue": False}},
        {"key": "ratio", "value": {"doubleValue": 0.25}},
        {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": 2}]}}},
        {"key": "raw", "value": {"bytesValue": base64.b64encode(b"\x00\xff").decode()}},
    ]
    records = [
        {
            "timeUnixNano": str(T0_NS + 1),
            "severityNumber": 17,
            "body": {"stringValue": "upstream failed"},
            "attributes": attributes,
            "traceId": "5B8EFFF798038103D269B633813FC60C",
            "spanId": "eee19b7ec3c1b174",
            "flags": 1,
            "eventName": "http.failure",
            "aNewFieldOfLaterOtlp": {"x": 1},
        },
        {
            "observedTimeUnixNano": T0_NS + 2,
            "severityNumber": 10,
            "severityText": "",
            "body": {"kvlistValue": {"values": [{"key": "user", "value": {"stringValue": "bob"}}]}},
        },
        {"severityNumber": 22, "body": {"arrayValue": {"values": [{"intValue": "1"}, {"boolValue": True}]}}},
    ]
    scope = {"scope": {"name": "collector/filelog", "version": "0.99.0"}, "logRecords": records}
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]}
    return {"resourceLogs": [{"resource": resource, "scopeLogs": [scope]}]}


def test_otlp_json_is_read_per_the_spec(server: Server) -> None:
    """OTLP/JSON: every AnyValue kind (kvlist flattened, array, bytes as base64), hex ids lower-cased,
    severityNumber's range as the level, a kvlist body as JSON text and fields, an array body as
    JSON text, observedTimeUnixNano when timeUnixNano is absent and the ingest time when both are;
    answered with `{}` as application/json."""
    started = time.time_ns()
    answer = httpx.post(server.url + PATH, content=orjson.dumps(_json_request()), headers=JSON)
    assert (answer.status_code, answer.headers["content-type"], answer.json()) == (
        200,
        "application/json",
        {},
    )
    first, second, third = _stored(server, "source:json-svc scope.name:collector/filelog")
    scope = {"scope.name": "collector/filelog", "scope.version": "0.99.0"}
    assert first == {
        "timestamp": "2025-07-21T12:00:00.000000001Z",
        "level": "ERROR",
        "source": "json-svc",
        "message": "upstream failed",
        "metadata": {
            **scope,
            "http.request.method": "GET",
            "http.request.status": 503,
            "ok": False,
            "ratio": 0.25,
            "tags": ["a", 2],
            "raw": "AP8=",
            "trace_id": "5b8efff798038103d269b633813fc60c",
            "span_id": "eee19b7ec3c1b174",
            "flags": 1,
            "event_name": "http.failure",
        },
    }
    assert second == {
        "timestamp": "2025-07-21T12:00:00.000000002Z",
        "level": "INFO",
        "source": "json-svc",
        "message": '{"user":"bob"}',
        "metadata": {**scope, "user": "bob"},
    }
    assert (third["level"], third["message"], third["metadata"]) == ("FATAL", "[1,true]", scope)
    assert started <= parse_timestamp(third["timestamp"]) <= time.time_ns()  # the ingest time


def _partial_request(service: str) -> ExportLogsServiceRequest:
    """Three records of `service`, the second with 1,001 attributes (over the bound of one log)."""
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.add(key="service.name").value.string_value = service
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.log_records.add(time_unix_nano=T0_NS, severity_text="info").body.string_value = "kept one"
    heavy = scope_logs.log_records.add(time_unix_nano=T0_NS + 1)
    for i in range(1_001):
        heavy.attributes.add(key=f"k{i}").value.int_value = i
    scope_logs.log_records.add(time_unix_nano=T0_NS + 2).body.string_value = "kept two"
    return request


PARTIAL_MESSAGE = (
    "1 of 3 log records rejected: log record 1 (resourceLogs[0].scopeLogs[0].logRecords[1]): 1,001 keys, "
    "over the bound of 1,000 keys a log (counted at every level); nothing of it is stored"
)


def test_partial_success_names_the_records_not_stored(server: Server) -> None:
    """A record over the bound of one log is rejected by itself: 200 with partial_success counting it
    and naming its place (protobuf, and JSON for a JSON request), the others stored, it counted."""
    before = rejected(server, "otlp", "over_bound")
    request = _partial_request("partial-proto")
    answer = httpx.post(server.url + PATH, content=request.SerializeToString(), headers=PROTOBUF)
    assert (answer.status_code, answer.headers["content-type"]) == (200, "application/x-protobuf")
    partial = ExportLogsServiceResponse.FromString(answer.content).partial_success
    assert (partial.rejected_log_records, partial.error_message) == (1, PARTIAL_MESSAGE)
    assert [log["message"] for log in search(server, "source:partial-proto")] == ["kept one", "kept two"]

    body = json_format.MessageToJson(_partial_request("partial-json"))
    answer = httpx.post(server.url + PATH, content=body, headers=JSON)
    assert (answer.status_code, answer.headers["content-type"]) == (200, "application/json")
    assert answer.json() == {"partialSuccess": {"rejectedLogRecords": "1", "errorMessage": PARTIAL_MESSAGE}}
    assert [log["message"] for log in search(server, "source:partial-json")] == ["kept one", "kept two"]
    assert rejected(server, "otlp", "over_bound") == before + 2


def _garbage() -> bytes:
    return b"\xff\xff\xff\xff\x0fnot protobuf"


def _deep_json() -> bytes:
    value = '{"stringValue": "x"}'
    for _ in range(60):
        value = '{"kvlistValue": {"values": [{"key": "k", "value": ' + value + "}]}}"
    record = '{"attributes": [{"key": "deep", "value": ' + value + "}]}"
    return ('{"resourceLogs": [{"scopeLogs": [{"logRecords": [' + record + "]}]}]}").encode()


BAD_BODIES = [
    pytest.param(
        _garbage(),
        PROTOBUF,
        400,
        "body is not an OTLP ExportLogsServiceRequest (protobuf)",
        "bad_body",
        id="garbage-protobuf",
    ),
    pytest.param(b"{not json", JSON, 400, "body is not JSON (OTLP/JSON)", "bad_body", id="not-json"),
    pytest.param(
        b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "xyz"}]}]}]}',
        JSON,
        400,
        "resourceLogs[0].scopeLogs[0].logRecords[0].traceId is not hex: 'xyz'",
        "bad_body",
        id="id-not-hex",
    ),
    pytest.param(
        b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": "soon"}]}]}]}',
        JSON,
        400,
        "body is not an OTLP ExportLogsServiceRequest (JSON)",
        "bad_body",
        id="json-wrong-type",
    ),
    pytest.param(
        _deep_json(), JSON, 400, "levels deep, over the bound of 200", "bad_body", id="json-too-deep"
    ),
    pytest.param(
        b"\x1f\x8b\x08\x00junk",
        {**PROTOBUF, "Content-Encoding": "gzip"},
        400,
        "not valid gzip",
        "bad_compression",
        id="bad-gzip",
    ),
    pytest.param(
        b"\0" * (MAX_BODY + 1), PROTOBUF, 413, "over the limit of 1048576", "too_large", id="oversize"
    ),
    pytest.param(
        gzip.compress(b"\0" * (MAX_BODY + 1)),
        {**PROTOBUF, "Content-Encoding": "gzip"},
        413,
        "decompressed body is over the limit of 1048576 bytes",
        "too_large",
        id="oversize-after-gzip",
    ),
    pytest.param(
        b"hi",
        {**SHIPPER, "Content-Type": "text/plain"},
        415,
        "Content-Type 'text/plain' is not OTLP/HTTP",
        "content_type",
        id="wrong-content-type",
    ),
]


@pytest.mark.parametrize(("body", "headers", "status", "says", "reason"), BAD_BODIES)
def test_bad_bodies_answer_a_status_and_are_counted(
    server: Server, body: bytes, headers: dict[str, str], status: int, says: str, reason: str
) -> None:
    """A body that is no export request: its 4xx with a google.rpc.Status in the request's encoding
    (JSON for a content type that is neither), saying why; one rejection counted; nothing stored."""
    answer = post_refused(server, "otlp", reason, PATH, body, headers)
    assert answer.status_code == status
    if headers["Content-Type"] == "application/x-protobuf":
        assert answer.headers["content-type"] == "application/x-protobuf"
        message = status_pb2.Status.FromString(answer.content).message
    else:
        assert answer.headers["content-type"] == "application/json"
        message = answer.json()["message"]
    assert says in message


def test_keys_are_required_with_their_scope(server: Server) -> None:
    """With API keys configured an export needs a key with the ingest scope: 401 without one, 403 with
    a query key."""
    kind = {"Content-Type": "application/x-protobuf"}
    assert httpx.post(server.url + PATH, content=b"", headers=kind).status_code == 401
    assert httpx.post(server.url + PATH, content=b"", headers={**kind, **READER}).status_code == 403
    assert httpx.post(server.url + PATH, content=b"", headers=PROTOBUF).status_code == 200
