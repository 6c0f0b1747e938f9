"""Loki's push API (`POST /loki/api/v1/push`) as stored logs: the JSON body and the protobuf one
(`logproto.PushRequest`, what Promtail and Grafana Alloy send; its snappy compression is undone
before it gets here).

Each entry is one log: its line the message, as sent (a line that is JSON or logfmt stays the
message, not parsed: Loki stores lines as given, and `| json` is a query's business), its
nanosecond timestamp exact. The stream's labels are fields, less the one read as the level (the
first of `level`, `detected_level`, `severity`, `lvl`) and the one read as the source (the first of
`service_name`, `job`, `app`); the whole label set is kept as the field `_stream` in a canonical
form (`{a="b",c="d"}`, sorted). Structured metadata are fields too (the level read from there when
no label gives one); a name that is also a stream label's is kept as `<name>_extracted`, as Loki
names a parsed label that clashes with a stream label.

What is wrong with the envelope (not JSON or protobuf, no `streams` list, a stream that is no
object) refuses the body whole, as Loki does. What is wrong with one entry (a timestamp that is not
an integer of nanoseconds or outside the store's range, an entry that is not `[ts, line, {meta}?]`,
a log over the bounds of one log) or with one stream's labels (not Prometheus label syntax, over
MAX_LABELS_CHARS) rejects that entry or that stream's entries, each rejection worded as Loki's 400
body words it (`entry … with timestamp … ignored, reason: '…' for stream: {…}`), and the rest is
stored. A bad timestamp is a rejection here, not the ingest time: a Loki client always sends one, so
a bad one is the sender's bug, told back to it rather than stored out of its place in time.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

# protobuf ships no type stubs (types-protobuf is no dependency of ours): its objects are Any here
from google.protobuf import (  # type: ignore[import-untyped]
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    timestamp_pb2,
)
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from log_analytics_engine.errors import IngestError
from log_analytics_engine.ingest.report import Decoded, IngestReport, Rejection
from log_analytics_engine.ingest.rows import RowBuilder
from log_analytics_engine.timeparse import format_timestamp, storable

__all__ = (
    "LEVEL_LABELS",
    "MAX_LABELS_CHARS",
    "SOURCE_LABELS",
    "canonical_labels",
    "decode_json",
    "decode_protobuf",
    "parse_labels",
)

# A stream's label string (and a JSON stream's label set, measured as its canonical text). Loki's
# own limits (15 labels, names of 1,024 and values of 2,048 bytes) make ~46 KB at most.
MAX_LABELS_CHARS = 65_536
LEVEL_LABELS = ("level", "detected_level", "severity", "lvl")
SOURCE_LABELS = ("service_name", "job", "app")
_NS_PER_S = 1_000_000_000
_SHOWN_CHARS = 200  # of a label string that could not be read, in a rejection's reason
_NAME_START = frozenset(string.ascii_letters + "_")
_NAME_CHARS = _NAME_START | frozenset(string.digits)
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_ESCAPES.update({"\\": "\\", '"': '"', "'": "'"})
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_OCTAL = frozenset("01234567")
_ENTRY_SHAPE = 'an entry is ["<unix ns>", "<line>"] or ["<unix ns>", "<line>", {structured metadata}]'

# logproto.PushRequest of Loki's pkg/push/push.proto, by its field numbers (the gogoproto options
# there change Go's generated code, not the wire). `parsed` (4) is Loki's query side, not pushed.
_PUSH_PROTO = """
name: "log_analytics_engine/loki/push.proto"
package: "logproto"
dependency: "google/protobuf/timestamp.proto"
syntax: "proto3"
message_type {
  name: "PushRequest"
  field { name: "streams" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: ".logproto.StreamAdapter" }
  field { name: "format" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
}
message_type {
  name: "StreamAdapter"
  field { name: "labels" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "entries" number: 2 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: ".logproto.EntryAdapter" }
  field { name: "hash" number: 3 label: LABEL_OPTIONAL type: TYPE_UINT64 }
}
message_type {
  name: "EntryAdapter"
  field { name: "timestamp" number: 1 label: LABEL_OPTIONAL type: TYPE_MESSAGE
          type_name: ".google.protobuf.Timestamp" }
  field { name: "line" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "structuredMetadata" number: 3 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: ".logproto.LabelPairAdapter" }
}
message_type {
  name: "LabelPairAdapter"
  field { name: "name" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
}
"""


@functools.cache
def push_request_class() -> Any:
    """The `logproto.PushRequest` message class, built by the protobuf runtime from Loki's field
    numbers in a pool of its own (so it meets no other module's messages)."""
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(text_format.Parse(_PUSH_PROTO, descriptor_pb2.FileDescriptorProto()))
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("logproto.PushRequest"))


# -- Prometheus label syntax ------------------------------------------------------------------------


def parse_labels(text: str) -> dict[str, str]:
    """A stream's labels in Prometheus label syntax (`{a="b", c="d"}`) as a dict: names plain or
    quoted, values quoted with `"` or `'` and Go's escapes (`\\"`, `\\\\`, `\\n`, `\\t`, `\\xHH`,
    `\\uHHHH` …) or with backquotes (raw), only `=` between them, a trailing comma allowed. An
    IngestError says where the text stops being that, or that it is over MAX_LABELS_CHARS."""
    if len(text) > MAX_LABELS_CHARS:
        raise IngestError(
            f"label string of {len(text):,} characters is over the bound of {MAX_LABELS_CHARS:,}"
        )
    labels: dict[str, str] = {}
    at = _expect(text, _blank(text, 0), "{", "'{'")
    at = _blank(text, at)
    while text[at : at + 1] != "}":
        if text[at : at + 1] in ("'", '"', "`"):
            name, at = _quoted(text, at)
        else:
            name, at = _plain_name(text, at)
        at = _expect(text, _blank(text, at), "=", "'=' after the label name")
        value, at = _quoted(text, _blank(text, at))
        if name in labels:
            raise IngestError(f"label {name!r} appears twice")
        labels[name] = value
        at = _blank(text, at)
        if text[at : at + 1] == ",":
            at = _blank(text, at + 1)
        elif text[at : at + 1] != "}":
            raise _syntax(text, at, "',' or '}'")
    at = _blank(text, at + 1)
    if at != len(text):
        raise _syntax(text, at, "the end after '}'")
    return labels


def canonical_labels(labels: dict[str, str]) -> str:
    """A label set as one text, sorted by name: `{a="b",c="d"}` (`\\`, `"` and newlines escaped;
    a name that is no plain Prometheus name quoted). `parse_labels` reads it back as it was."""
    members = (f'{_name_text(k)}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return "{" + ",".join(members) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _name_text(name: str) -> str:
    plain = name[:1] in _NAME_START and all(c in _NAME_CHARS for c in name)
    return name if plain else f'"{_escape(name)}"'


def _blank(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def _expect(text: str, at: int, char: str, what: str) -> int:
    if text[at : at + 1] != char:
        raise _syntax(text, at, what)
    return at + 1


def _syntax(text: str, at: int, expected: str) -> IngestError:
    found = repr(text[at : at + 12]) if at < len(text) else "the end"
    return IngestError(f"not Prometheus label syntax: expected {expected} at character {at}, found {found}")


def _plain_name(text: str, at: int) -> tuple[str, int]:
    if text[at : at + 1] not in _NAME_START:
        raise _syntax(text, at, "a label name")
    end = at + 1
    while end < len(text) and text[end] in _NAME_CHARS:
        end += 1
    return text[at:end], end


def _quoted(text: str, at: int) -> tuple[str, int]:
    """The quoted string at `at` (its quote `"`, `'` or a backquote) and the index after it."""
    quote = text[at : at + 1]
    if quote == "`":
        end = text.find("`", at + 1)
        if end < 0:
            raise _syntax(text, len(text), "a closing '`'")
        return text[at + 1 : end], end + 1
    if quote not in ('"', "'"):
        raise _syntax(text, at, "a quoted value")
    pieces: list[str] = []
    raw = bytearray()  # \xHH and octal escapes are bytes (Go's), read as UTF-8 once whole
    i = at + 1
    while True:
        if i >= len(text):
            raise _syntax(text, i, f"a closing {quote}")
        char = text[i]
        if char == quote:
            break
        if char == "\n":
            raise _syntax(text, i, f"a closing {quote} (a newline in a value is written \\n)")
        if char != "\\":
            _flush(raw, pieces)
            pieces.append(char)
            i += 1
            continue
        kind = text[i + 1 : i + 2]
        if kind in _ESCAPES:
            _flush(raw, pieces)
            pieces.append(_ESCAPES[kind])
            i += 2
        elif kind in _HEX_ESCAPES:
            digits = text[i + 2 : i + 2 + _HEX_ESCAPES[kind]]
            if len(digits) != _HEX_ESCAPES[kind] or not all(c in string.hexdigits for c in digits):
                raise _syntax(text, i, f"{_HEX_ESCAPES[kind]} hex digits after \\{kind}")
            number = int(digits, 16)
            if kind == "x":
                raw.append(number)
            elif number > 0x10FFFF or 0xD800 <= number <= 0xDFFF:
                raise _syntax(text, i, "a Unicode code point")
            else:
                _flush(raw, pieces)
                pieces.append(chr(number))
            i += 2 + _HEX_ESCAPES[kind]
        elif kind in _OCTAL:
            digits = text[i + 1 : i + 4]
            if len(digits) != 3 or not _OCTAL.issuperset(digits) or int(digits, 8) > 255:
                raise _syntax(text, i, "3 octal digits of a byte")
            raw.append(int(digits, 8))
            i += 4
        else:
            raise _syntax(text, i, 'a known escape (\\" \\\\ \\n \\t \\r \\xHH \\uHHHH …)')
    _flush(raw, pieces)
    return "".join(pieces), i + 1


def _flush(raw: bytearray, pieces: list[str]) -> None:
    if raw:
        pieces.append(raw.decode("utf-8", "replace"))
        raw.clear()


# -- streams and entries ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stream:
    """What every entry of one stream shares: its canonical label text, source, level and fields."""

    text: str
    source: str
    level: str | None
    fields: dict[str, Any]
    names: frozenset[str]


def _stream(labels: dict[str, str]) -> _Stream:
    text = canonical_labels(labels)
    if len(text) > MAX_LABELS_CHARS:
        raise IngestError(f"label set of {len(text):,} characters is over the bound of {MAX_LABELS_CHARS:,}")
    fields: dict[str, Any] = dict(labels)
    source = next((fields.pop(name) for name in SOURCE_LABELS if name in fields), "")
    level = next((fields.pop(name) for name in LEVEL_LABELS if name in fields), None)
    fields["_stream"] = text
    return _Stream(text, source, level, fields, frozenset(labels))


class _Entries:
    """The entries of a push request as rows, and their rejections worded as Loki's 400 body is."""

    def __init__(self) -> None:
        self.builder = RowBuilder()
        self.position = 0

    @property
    def report(self) -> IngestReport:
        return self.builder.report

    def add(self, stream: _Stream, ns: int, line: str, metadata: Iterable[tuple[str, str]]) -> None:
        position, self.position = self.position, self.position + 1
        if not storable(ns):
            self._reject(
                position, str(ns), stream.text, "timestamp outside 1677-09-21 to 2262-04-11", "bad_timestamp"
            )
            return
        fields, level = stream.fields, stream.level
        for name, value in metadata:
            if fields is stream.fields:
                fields = dict(fields)
            if level is None and name in LEVEL_LABELS:
                level = value
            else:
                fields[f"{name}_extracted" if name in stream.names else name] = value
        if not self.builder.add(position, line, time_ns=ns, level=level, source=stream.source, fields=fields):
            self._name_last(position, format_timestamp(ns), stream.text)

    def reject(self, when: object, stream_text: str, why: str, code: str) -> None:
        """The next entry rejected: `when` its timestamp as sent."""
        position, self.position = self.position, self.position + 1
        self._reject(position, str(when), stream_text, why, code)

    def _reject(self, position: int, when: str, stream_text: str, why: str, code: str) -> None:
        self.report.reject(position, _ignored(position, when, stream_text, why), code)

    def _name_last(self, position: int, when: str, stream_text: str) -> None:
        """The builder's rejection of the entry at `position` (if listed) worded as Loki's."""
        listed = self.report.rejected
        if listed and listed[-1].position == position:
            last = listed[-1]
            listed[-1] = Rejection(position, _ignored(position, when, stream_text, last.reason), last.code)


def _ignored(position: int, when: str, stream_text: str, why: str) -> str:
    return f"entry {position} with timestamp {when} ignored, reason: '{why}' for stream: {stream_text}"


def _shown(labels: str) -> str:
    return labels if len(labels) <= _SHOWN_CHARS else labels[:_SHOWN_CHARS] + "…"


# -- protobuf ---------------------------------------------------------------------------------------


def decode_protobuf(body: bytes) -> Decoded:
    """A `logproto.PushRequest` (uncompressed) as stored logs; an IngestError when it is not one."""
    try:
        request: Any = push_request_class().FromString(body)
    except DecodeError as exc:
        raise IngestError(f"body is not a Loki PushRequest (protobuf, snappy-compressed): {exc}") from exc
    entries = _Entries()
    for item in request.streams:
        try:
            stream = _stream(parse_labels(item.labels))
        except IngestError as exc:
            for entry in item.entries:
                entries.reject(
                    _proto_time(entry.timestamp), _shown(item.labels), f"labels: {exc}", "bad_labels"
                )
            continue
        for entry in item.entries:
            stamp = entry.timestamp
            if not 0 <= stamp.nanos < _NS_PER_S:
                why = f"timestamp nanos {stamp.nanos} outside 0 to 999999999"
                entries.reject(f"{stamp.seconds}s+{stamp.nanos}ns", stream.text, why, "bad_timestamp")
                continue
            metadata = [(pair.name, pair.value) for pair in entry.structuredMetadata]
            entries.add(stream, stamp.seconds * _NS_PER_S + stamp.nanos, entry.line, metadata)
    return entries.builder.finish()


def _proto_time(stamp: Any) -> str:
    ns = stamp.seconds * _NS_PER_S + stamp.nanos
    return format_timestamp(ns) if storable(ns) and 0 <= stamp.nanos < _NS_PER_S else str(ns)


# -- JSON -------------------------------------------------------------------------------------------


def decode_json(body: bytes) -> Decoded:
    """A JSON push body (`{"streams": [{"stream": {labels}, "values": [["<ns>", "<line>",
    {metadata}?], …]}, …]}`) as stored logs; an IngestError when its envelope is not that."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise IngestError(f"Loki push body is not JSON: {exc}") from exc
    streams = doc.get("streams") if isinstance(doc, dict) else None
    if not isinstance(streams, list):
        raise IngestError(
            'a Loki push body is a JSON object {"streams": [...]}; this one has no "streams" list'
        )
    entries = _Entries()
    for s_index, item in enumerate(streams):
        if not isinstance(item, dict) or not isinstance(item.get("values"), list):
            raise IngestError(
                f'stream {s_index} of the body: a stream is {{"stream": {{labels}}, "values": [...]}}, '
                f"got {_kind(item)}{'' if not isinstance(item, dict) else ' without a values list'}"
            )
        values: list[Any] = item["values"]
        try:
            stream = _stream(_json_labels(item.get("stream", {}), "label"))
        except IngestError as exc:
            shown = _shown(orjson.dumps(item.get("stream")).decode())
            for value in values:
                entries.reject(_json_when(value), shown, f"labels: {exc}", "bad_labels")
            continue
        for value in values:
            _json_entry(entries, stream, value)
    return entries.builder.finish()


def _json_entry(entries: _Entries, stream: _Stream, value: Any) -> None:
    if not isinstance(value, list) or not 2 <= len(value) <= 3 or not isinstance(value[1], str):
        entries.reject(_json_when(value), stream.text, _ENTRY_SHAPE, "bad_entry")
        return
    ns = _json_ns(value[0])
    if ns is None:
        why = "timestamp is not an integer of Unix nanoseconds (a string of digits)"
        entries.reject(_json_when(value), stream.text, why, "bad_timestamp")
        return
    try:
        metadata = _json_labels(value[2], "structured metadata") if len(value) == 3 else {}
    except IngestError as exc:
        entries.reject(_json_when(value), stream.text, str(exc), "bad_entry")
        return
    entries.add(stream, ns, value[1], metadata.items())


def _json_ns(raw: Any) -> int | None:
    """Unix nanoseconds sent as a string of digits (or a JSON integer), None otherwise."""
    if type(raw) is int:
        return raw
    if not isinstance(raw, str) or not 0 < len(raw) <= 20:
        return None
    digits = raw[1:] if raw[:1] == "-" else raw
    return int(raw) if digits.isascii() and digits.isdigit() else None


def _json_when(value: Any) -> str:
    raw = value[0] if isinstance(value, list) and value else value
    text = raw if isinstance(raw, str) else orjson.dumps(raw).decode()
    return _shown(text)


def _json_labels(raw: Any, what: str) -> dict[str, str]:
    """A JSON object of labels (or structured metadata) as strings: a number or boolean as its JSON
    text; anything else (null, an object, an array) is an IngestError naming the label."""
    if not isinstance(raw, dict):
        raise IngestError(f"{what}s are a JSON object of names and strings, got {_kind(raw)}")
    out: dict[str, str] = {}
    for name, value in raw.items():
        if isinstance(value, str):
            out[name] = value
        elif isinstance(value, bool | int | float):
            out[name] = orjson.dumps(value).decode()
        else:
            raise IngestError(f"{what} {name!r} is {_kind(value)}, not a string")
    return out


_KINDS: dict[type, str] = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
_KINDS.update({int: "a number", float: "a number", type(None): "null"})


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), type(value).__name__)
