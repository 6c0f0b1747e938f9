"""Alert fields as either engine writes them: firing times and sample logs.

Ours (`Alert.to_dict`) writes RFC 3339 UTC text and sample logs as `LogEntry.to_dict()` dicts. The
original engine persisted `json.dumps(alert.__dict__, default=str)`: the time as `str(datetime)`
(`2025-07-21 12:00:05.123456+00:00`) and each sample as its dataclass repr
(`LogEntry(timestamp='…', level='ERROR', …, parsed_time=datetime.datetime(…))`). Both read back
here; a repr is read with `ast` (literals only, nothing is evaluated).
"""

from __future__ import annotations

import ast
import datetime as dt
from collections.abc import Mapping
from typing import Any

from log_analytics_engine.model import LogEntry
from log_analytics_engine.timeparse import TimestampError, datetime_of, format_timestamp, parse_timestamp

# LogEntry's constructor fields, in the original dataclass's positional order
_ENTRY_FIELDS: tuple[str, ...] = ("timestamp", "level", "message", "source", "thread_id", "request_id")
_ENTRY_FIELDS += ("user_id", "tags", "metadata")


def alert_time(value: object) -> dt.datetime:
    """A firing or resolve time as a UTC datetime: a datetime (naive = UTC), epoch seconds, or text
    (RFC 3339, or the original's `str(datetime)`)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, int | float):
        try:
            return dt.datetime.fromtimestamp(value, dt.UTC)
        except (OverflowError, OSError) as exc:
            raise ValueError(f"time {value!r} is out of range") from exc
    try:
        return datetime_of(parse_timestamp(value))
    except TimestampError as exc:
        raise ValueError(str(exc)) from exc


def time_text(when: dt.datetime) -> str:
    """A datetime as the RFC 3339 UTC text `to_dict` writes (`alert_time` reads it back exactly)."""
    return format_timestamp(parse_timestamp(when))


def sample_entry(value: object) -> LogEntry:
    """A sample log from a LogEntry, its `to_dict()` form, or the original's repr text."""
    if isinstance(value, LogEntry):
        return value
    if isinstance(value, Mapping):
        return _from_fields(dict(value))
    if isinstance(value, str):
        return _from_fields(_repr_fields(value))
    raise ValueError(f"not a sample log: {value!r}")


def _from_fields(fields: dict[str, Any]) -> LogEntry:
    unknown = set(fields) - set(_ENTRY_FIELDS)
    if unknown:
        raise ValueError(f"sample log has unknown field(s) {', '.join(sorted(unknown))}")
    missing = [name for name in ("timestamp", "level", "message") if name not in fields]
    if missing:  # a missing time would become "now"
        raise ValueError(f"sample log lacks {', '.join(missing)}")
    metadata = fields.get("metadata")
    entry = LogEntry(**fields)
    if isinstance(metadata, Mapping):  # as written: `timestamp_raw` included
        entry.metadata = dict(metadata)
    return entry


def _repr_fields(text: str) -> dict[str, Any]:
    """The constructor fields of a dataclass repr `LogEntry(...)`; `parsed_time` is left out (the
    timestamp text is the event time; the original put "now" there for text it could not parse)."""
    try:
        call = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"sample log is not a LogEntry repr: {text[:80]!r}") from exc
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "LogEntry"):
        raise ValueError(f"sample log is not a LogEntry repr: {text[:80]!r}")
    named = [*zip(_ENTRY_FIELDS, call.args, strict=False), *((k.arg, k.value) for k in call.keywords)]
    return {name: _literal(node, text) for name, node in named if name in _ENTRY_FIELDS}


def _literal(node: ast.expr, text: str) -> Any:
    """A literal's value; a dict's entries one by one; anything else (an object's repr) as its text."""
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        if isinstance(node, ast.Dict):
            return {
                _literal(k, text) if k is not None else "**": _literal(v, text)
                for k, v in zip(node.keys, node.values, strict=True)
            }
        return ast.get_source_segment(text, node)
