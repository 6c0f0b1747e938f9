"""OTLP logs (`ExportLogsServiceRequest`: OpenTelemetry's SDK exporters, the Collector's `otlphttp`
exporter) as stored logs, from binary protobuf or from OTLP/JSON (proto3's JSON mapping, trace and
span ids as hex), and the messages OTLP/HTTP answers with.

Each log record is one log. Resource, scope and record attributes are fields under their OTLP
names (`host.name`, `http.request.method`: a kvlist value flattened with dots, an array a list,
bytes as base64), a record's own overriding its scope's, a scope's its resource's; the resource's
`service.name` is the source (not kept twice); the scope's name and version are `scope.name` and
`scope.version`. The level is `severityText`, else `severityNumber`'s range (1-4 TRACE, 5-8 DEBUG,
9-12 INFO, 13-16 WARN, 17-20 ERROR, 21-24 FATAL). A string body is the message; a structured one
(kvlist, array) is the message as JSON text, and a kvlist's members are fields too (flattened, a
record attribute of the same name winning), so `user:bob` finds `{"user": "bob"}` sent as a body.
The time is `timeUnixNano`, else `observedTimeUnixNano`, else the ingest time (counted as
no_timestamp). `trace_id` and `span_id` as lowercase hex, `flags`, `event_name` and
`dropped_attributes_count` are kept when set.

A body that is not such a request (not protobuf, not JSON, an id that is no hex, JSON nested past
MAX_JSON_DEPTH) is refused whole; a record over the bounds of one log is rejected by itself, named
by its place (`resourceLogs[0].scopeLogs[1].logRecords[2]`), the rest stored.
"""

from __future__ import annotations

import base64
import functools
from typing import Any

import orjson

# protobuf ships no type stubs (types-protobuf is no dependency of ours): its objects are Any here
from google.protobuf import (  # type: ignore[import-untyped]
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    json_format,
    message_factory,
    text_format,
)
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from log_analytics_engine.errors import IngestError
from log_analytics_engine.ingest import bounds
from log_analytics_engine.ingest.report import Decoded, Rejection
from log_analytics_engine.ingest.rows import RowBuilder

__all__ = (
    "MAX_JSON_DEPTH",
    "SEVERITY_LEVELS",
    "decode_json",
    "decode_protobuf",
    "export_answer",
    "status_answer",
    "status_class",
)

# Nesting of an OTLP/JSON body: the envelope takes 9 levels and each level of a kvlist value 4
# (`{"kvlistValue": {"values": [{"value": …`), so 200 holds ~45 levels of attribute values, about
# what the protobuf runtime reads of a binary body (100 nested messages, 3 per kvlist level).
# protobuf's JSON parser recurses in Python: deeper bodies would meet Python's recursion limit.
MAX_JSON_DEPTH = 200
# severityNumber -> level, by the ranges of OTLP's SeverityNumber (0 is unspecified).
_RANGES = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SEVERITY_LEVELS: tuple[str | None, ...] = (None, *(level for level in _RANGES for _ in range(4)))

# google.rpc.Status, the body of OTLP/HTTP's 4xx and 5xx answers (googleapis' status.proto, by its
# field numbers), in a pool of its own: googleapis-common-protos is no dependency of ours.
_STATUS_PROTO = """
name: "log_analytics_engine/otlp/status.proto"
package: "google.rpc"
dependency: "google/protobuf/any.proto"
syntax: "proto3"
message_type {
  name: "Status"
  field { name: "code" number: 1 label: LABEL_OPTIONAL type: TYPE_INT32 }
  field { name: "message" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "details" number: 3 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: ".google.protobuf.Any" }
}
"""
_RECORDS_PATH = ("resourceLogs", "scopeLogs", "logRecords")


@functools.cache
def status_class() -> Any:
    """The `google.rpc.Status` message class."""
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(any_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(text_format.Parse(_STATUS_PROTO, descriptor_pb2.FileDescriptorProto()))
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("google.rpc.Status"))


# -- requests ---------------------------------------------------------------------------------------


def decode_protobuf(body: bytes) -> Decoded:
    """A binary `ExportLogsServiceRequest` as stored logs; an IngestError when it is not one."""
    request = ExportLogsServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise IngestError(
            f"body is not an OTLP ExportLogsServiceRequest (protobuf): {exc} (cut short, not protobuf, "
            "or values nested past the protobuf runtime's 100 messages, ~31 levels of kvlist)"
        ) from exc
    return _records(request)


def decode_json(body: bytes) -> Decoded:
    """An OTLP/JSON `ExportLogsServiceRequest` as stored logs (keys in lowerCamelCase, 64-bit numbers
    as strings or numbers, enums as numbers, `traceId`/`spanId` as hex; unknown keys ignored, as
    the spec asks); an IngestError when it is not one."""
    depth, _ = bounds.measure(body)
    if depth > MAX_JSON_DEPTH:
        raise IngestError(f"OTLP/JSON body nested {depth} levels deep, over the bound of {MAX_JSON_DEPTH}")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise IngestError(f"body is not JSON (OTLP/JSON): {exc}") from exc
    if not isinstance(doc, dict):
        raise IngestError('an OTLP/JSON body is an object {"resourceLogs": [...]}')
    _ids_as_base64(doc)
    try:
        request = json_format.ParseDict(doc, ExportLogsServiceRequest(), ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise IngestError(f"body is not an OTLP ExportLogsServiceRequest (JSON): {exc}") from exc
    return _records(request)


def _ids_as_base64(doc: dict[str, Any]) -> None:
    """OTLP/JSON's hex `traceId` and `spanId` rewritten as base64, as protobuf's JSON parser reads
    bytes; an IngestError naming the record whose id is no hex."""
    for r, resource in _members(doc, "resourceLogs"):
        for s, scope in _members(resource, "scopeLogs"):
            for i, record in _members(scope, "logRecords"):
                for key in ("traceId", "spanId"):
                    value = record.get(key)
                    if not isinstance(value, str):
                        continue
                    try:
                        record[key] = base64.b64encode(bytes.fromhex(value)).decode()
                    except ValueError as exc:
                        where = f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}].{key}"
                        raise IngestError(f"{where} is not hex: {value[:64]!r}") from exc


def _members(parent: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    items = parent.get(key)
    if not isinstance(items, list):
        return []
    return [(i, item) for i, item in enumerate(items) if isinstance(item, dict)]


def _records(request: Any) -> Decoded:
    """Every log record of the request, in order, as rows."""
    builder = RowBuilder()
    add = builder.add
    position = 0
    for r, resource_logs in enumerate(request.resource_logs):
        shared_resource = _attributes(resource_logs.resource.attributes, {})
        service = shared_resource.pop("service.name", "")
        source = service if isinstance(service, str) else _json(service)
        for s, scope_logs in enumerate(resource_logs.scope_logs):
            scope = scope_logs.scope
            shared = dict(shared_resource)
            if scope.name:
                shared["scope.name"] = scope.name
            if scope.version:
                shared["scope.version"] = scope.version
            _attributes(scope.attributes, shared)
            for i, record in enumerate(scope_logs.log_records):
                fields = dict(shared)
                message = _body(record.body, fields)
                _attributes(record.attributes, fields)
                trace_id, span_id = record.trace_id, record.span_id
                if trace_id and trace_id.count(0) != len(trace_id):
                    fields["trace_id"] = trace_id.hex()
                if span_id and span_id.count(0) != len(span_id):
                    fields["span_id"] = span_id.hex()
                if record.flags:
                    fields["flags"] = record.flags
                if record.event_name:
                    fields["event_name"] = record.event_name
                if record.dropped_attributes_count:
                    fields["dropped_attributes_count"] = record.dropped_attributes_count
                level = record.severity_text or _severity(record.severity_number)
                when = record.time_unix_nano or record.observed_time_unix_nano or None
                if not add(position, message, time_ns=when, level=level, source=source, fields=fields):
                    _name_last(builder, position, f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]")
                position += 1
    return builder.finish()


def _severity(number: int) -> str | None:
    return SEVERITY_LEVELS[number] if 0 < number < len(SEVERITY_LEVELS) else None


def _name_last(builder: RowBuilder, position: int, where: str) -> None:
    """The builder's rejection of the record at `position` (if listed) named by its place."""
    listed = builder.report.rejected
    if listed and listed[-1].position == position:
        last = listed[-1]
        listed[-1] = Rejection(position, f"log record {position} ({where}): {last.reason}", last.code)


def _attributes(pairs: Any, into: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Key-value pairs into `into` under their keys, a kvlist value's members flattened with dots."""
    for pair in pairs:
        value = pair.value
        text = value.string_value
        if text:  # most values are strings: read first, they need no WhichOneof (~1/3 of this loop)
            into[prefix + pair.key] = text
            continue
        kind = value.WhichOneof("value")
        if kind == "kvlist_value" and value.kvlist_value.values:
            _attributes(value.kvlist_value.values, into, f"{prefix}{pair.key}.")
        else:
            into[prefix + pair.key] = _value(value, kind)
    return into


def _value(value: Any, kind: str | None) -> Any:
    """An AnyValue as JSON's kind of value: a kvlist an object, bytes base64 text, unset None."""
    if kind is None:
        return None
    if kind == "array_value":
        return [
            item.string_value or _value(item, item.WhichOneof("value")) for item in value.array_value.values
        ]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value, kv.value.WhichOneof("value")) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)


def _body(body: Any, fields: dict[str, Any]) -> str:
    """The message of a record's body; a kvlist body's members also go into `fields`."""
    text: str = body.string_value
    if text:
        return text
    kind = body.WhichOneof("value")
    if kind is None or kind == "string_value":
        return ""
    if kind == "kvlist_value":
        _attributes(body.kvlist_value.values, fields)
    value = _value(body, kind)
    return value if isinstance(value, str) else _json(value)


def _json(value: Any) -> str:
    """A value of `_value` as JSON text (its kinds are JSON's)."""
    return orjson.dumps(value).decode()


# -- answers ----------------------------------------------------------------------------------------


def export_answer(rejected: int, error_message: str, binary: bool) -> bytes:
    """An `ExportLogsServiceResponse`: `partial_success` set when records were rejected."""
    response = ExportLogsServiceResponse()
    if rejected or error_message:
        response.partial_success.rejected_log_records = rejected
        response.partial_success.error_message = error_message
    out: bytes = (
        response.SerializeToString() if binary else json_format.MessageToJson(response, indent=None).encode()
    )
    return out


def status_answer(code: int, message: str, binary: bool) -> bytes:
    """A `google.rpc.Status` of gRPC code `code`, binary or as JSON."""
    if binary:
        out: bytes = status_class()(code=code, message=message).SerializeToString()
        return out
    return orjson.dumps({"code": code, "message": message})
