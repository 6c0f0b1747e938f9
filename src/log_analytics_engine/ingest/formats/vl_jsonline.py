"""VictoriaLogs' JSON stream API (`/insert/jsonline`): one JSON object per line, read with the HTTP
parameters VictoriaLogs takes (`_msg_field`, `_time_field`, `_stream_fields`, `ignore_fields`,
`extra_fields`), so that its users switch by URL.

As VictoriaLogs does: nested objects read as dotted names, an empty text is no value (its key is
dropped); the first non-empty of the message fields
(default `_msg`) is the message and the first non-empty of the time fields (default `_time`) the
time, `"0"` (or 0) meaning the time of ingest; an ignored field (a name, or a prefix ending with `*`)
is dropped, an extra field (`name=value`) set on every line; the stream fields' values make the
field `_stream`, `{a="x",b="y"}` with the names sorted. A line without a message keeps its JSON as
the message (VictoriaLogs stores a placeholder text instead).

Our columns besides: the level from `level` (else `log.level`, `severity`, `lvl`, `loglevel`,
`detected_level`); the source from the stream fields (the first of SOURCE_KEYS among them, else
the first stream field), or, without stream fields, from the first of SOURCE_KEYS the line holds.
The keys the columns took leave the fields (the stream keeps its own copy in `_stream`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from log_analytics_engine.ingest.formats import jsondoc
from log_analytics_engine.ingest.report import Decoded
from log_analytics_engine.ingest.rows import RowBuilder

LEVEL_KEYS = ("level", "log.level", "severity", "lvl", "loglevel", "detected_level")
SOURCE_KEYS = (
    "service.name",
    "service_name",
    "app",
    "app_name",
    "application",
    "job",
    "container_name",
    "host",
    "hostname",
)
STREAM_FIELD = "_stream"
# A time field holding this is "now" (VictoriaLogs' convention for shippers without clocks).
NOW = frozenset({"0", 0})


@dataclass(frozen=True)
class Params:
    """The HTTP parameters of a request: the message and time fields (first non-empty wins), the
    stream fields, the ignored fields (names, or prefixes ending with `*`) and the extra fields."""

    msg_fields: tuple[str, ...] = ("_msg",)
    time_fields: tuple[str, ...] = ("_time",)
    stream_fields: tuple[str, ...] = ()
    ignore_fields: tuple[str, ...] = ()
    extra_fields: tuple[tuple[str, str], ...] = ()


def decode(body: bytes, params: Params = Params(), now_ns: int | None = None) -> Decoded:
    """The logs of a jsonline body; a blank line is skipped, a line that is not a JSON object
    rejected by itself (its 0-based line number the position)."""
    builder = RowBuilder(now_ns)
    ignored = frozenset(name for name in params.ignore_fields if not name.endswith("*"))
    prefixes = tuple(name[:-1] for name in params.ignore_fields if name.endswith("*"))
    for position, line in enumerate(body.split(b"\n")):
        if not line or line.isspace():
            continue
        record = _record(builder, position, line)
        if record is None:
            continue
        fields, line = record
        if ignored or prefixes:
            fields = {
                k: v for k, v in fields.items() if v != "" and k not in ignored and not k.startswith(prefixes)
            }
        elif "" in fields.values():
            fields = {k: v for k, v in fields.items() if v != ""}
        for name, value in params.extra_fields:
            fields[name] = value
        time_raw = _pop_nonempty(fields, params.time_fields, jsondoc.TIME_TYPES)
        if time_raw in NOW:
            time_raw = None
        message = _pop_nonempty(fields, params.msg_fields)
        if message is None:
            message = line.decode("utf-8").strip()
        elif type(message) is not str:
            message = orjson.dumps(message).decode()
        level = jsondoc.take(fields, LEVEL_KEYS, jsondoc.LEVEL_TYPES)
        source = _stream(fields, params.stream_fields)
        builder.add(position, message, time_raw=time_raw, level=level, source=source, fields=fields)
    return builder.finish()


def _record(builder: RowBuilder, position: int, line: bytes) -> tuple[dict[str, Any], bytes] | None:
    """The line's fields, dotted, and the line (its bytes that are not UTF-8 replaced); None when it
    is rejected."""
    try:
        parsed, line = jsondoc.loads(line)
    except orjson.JSONDecodeError as exc:
        builder.report.reject(position, f"invalid JSON ({exc})", "invalid_json")
        return None
    if type(parsed) is not dict:
        builder.report.reject(position, f"not a JSON object (found {type(parsed).__name__})", "not_object")
        return None
    return jsondoc.dotted(parsed, line), line


def _pop_nonempty(fields: dict[str, Any], keys: Sequence[str], types: frozenset[type] | None = None) -> Any:
    """The value of the first of `keys` that is not empty (null, "", [] or {}) and of one of `types`
    (any when None), taken out."""
    for key in keys:
        value = fields.get(key)
        if value is None or value == "" or value == [] or value == {}:
            continue
        if types is None or type(value) in types:
            del fields[key]
            return value
    return None


def _stream(fields: dict[str, Any], names: Sequence[str]) -> str:
    """Set `_stream` from the stream fields the record holds; the source: the first of SOURCE_KEYS
    among them, else the first of them, else (none there) the first of SOURCE_KEYS the record holds
    as text. The source's key leaves the fields."""
    present = {}
    for name in names:
        value = fields.get(name)
        if value is not None and value != "":
            present[name] = value if type(value) is str else orjson.dumps(value).decode()
    if names:
        fields[STREAM_FIELD] = (
            "{" + ",".join(f"{k}={orjson.dumps(present[k]).decode()}" for k in sorted(present)) + "}"
        )
    if present:
        key = next((k for k in SOURCE_KEYS if k in present), next(iter(present)))
        del fields[key]
        return present[key]
    for key in SOURCE_KEYS:
        value = fields.get(key)
        if type(value) is str and value:
            del fields[key]
            return value
    return ""
