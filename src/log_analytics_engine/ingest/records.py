"""JSON log lines to stored columns in Python, for small bodies (HTTP requests) where the SQL path's
fixed cost per statement (~60 ms for 1,000 lines) would dominate.

Only plain records take this path: known fields that are strings (numbers for the timestamp and
ids, a list of strings or a string for tags, an object for metadata) and a timestamp the parser
reads. Anything else goes back to the caller for the SQL path of file ingest, so both paths store a
line the same way. Lines that are not JSON objects are rejected with the file path's reasons.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa

from log_analytics_engine import memory
from log_analytics_engine.ingest import arrowjson, bounds
from log_analytics_engine.ingest.batch import Batch, columns_batch, json_text
from log_analytics_engine.ingest.files import FileIngest, json_reason
from log_analytics_engine.ingest.jsonl import ALIASES, KNOWN_FIELDS, LOOKUP_KEYS, level_name
from log_analytics_engine.ingest.pipeline import Pipeline
from log_analytics_engine.timeparse import TimestampError, parse_timestamp, storable

_KNOWN = frozenset(KNOWN_FIELDS)
_TEXT_OR_NONE = frozenset({str, type(None)})
_TIME_TYPES = frozenset({str, int, float})
# ts, level, source, message, tags, thread_id, request_id, user_id, metadata JSON
Row = tuple[int, str, str, str, list[str], str | None, str | None, str | None, str | None]


# Plain records become Arrow columns this many at a time: as Python rows they cost ~700 bytes each, as
# columns ~150, and a 16 MiB body's rows, held whole, were ~60 MB at its peak.
ROWS_PER_TABLE = 4_096


@dataclass
class Parsed:
    """The plain records as Arrow tables of stored columns (ingested at `now_ns`), the lines left for
    the SQL path, and the rejected lines (positions 0-based)."""

    now_ns: int
    batches: list[Batch] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)  # the plain records not yet in `batches`
    for_sql: list[tuple[int, str]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        if len(self.rows) >= ROWS_PER_TABLE:
            self._columns()

    def _columns(self) -> None:
        ts, levels, sources, messages, tags, thread_ids, request_ids, user_ids, metadata = (
            list(column) for column in zip(*self.rows, strict=True)
        )
        self.batches.append(
            columns_batch(
                ts, levels, sources, messages, tags, thread_ids, request_ids, user_ids, metadata, self.now_ns
            )
        )
        self.rows.clear()

    def batch(self) -> Batch | None:
        """The Arrow batch of the plain records, or None when there are none."""
        if self.rows:
            self._columns()
        if not self.batches:
            return None
        table = pa.concat_tables([b.table for b in self.batches])
        return Batch(table, sum(b.bad_timestamps for b in self.batches))


# A log nested deeper than bounds.MAX_DEPTH is rejected, by itself, rather than stored where every
# answer holding it would fail (the server's array bodies say so of items orjson cannot write back).
TOO_DEEP = bounds.TOO_DEEP


# Per column, its aliases as (key, parent, child): parent and child split a dotted key ("" if none).
_ALIAS_PATHS = {column: tuple((k, *k.partition(".")[::2]) for k in keys) for column, keys in ALIASES.items()}
_ALIAS_TOP = frozenset(LOOKUP_KEYS)


def _alias(record: dict[str, Any], column: str, used: list[str]) -> Any:
    """The value of the first alias of `column` (jsonl.ALIASES) holding a candidate, as the SQL path
    picks it (a string, or for times and levels a number; a dotted alias is the dotted key, then the
    path through its parent), its key added to `used`; a Docker `log` without the newline that
    ended its line. None when no alias holds one."""
    numbers = column in ("timestamp", "level")
    for key, parent, child in _ALIAS_PATHS[column]:
        value: Any = record.get(key)
        kind = type(value)
        if child and kind is not str and not (numbers and (kind is int or kind is float)):
            holder = record.get(parent)
            value = holder.get(child) if type(holder) is dict else None
            kind = type(value)
        if kind is str:
            used.append(key)
            return value.rstrip("\r\n") if key == "log" else value
        if numbers and (kind is int or kind is float):
            used.append(key)
            return value
    return None


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """Nested objects as dotted keys (arrays are values, an empty object too); where two paths give
    one dotted key, the first wins (as in the SQL path)."""
    out: dict[str, Any] = {}

    def walk(obj: dict[str, Any], prefix: str) -> None:
        for key, value in obj.items():
            name = prefix + key
            if type(value) is dict and value:
                walk(value, name + ".")
            elif name not in out:
                out[name] = value

    walk(record, "")
    return out


def _plain(record: dict[str, Any], now_ns: int, levels: dict[object, str]) -> Row | None:
    """The stored columns of a plain record, or None when it needs the SQL path."""
    get = record.get
    raw_ts, level, message, source = get("timestamp"), get("level"), get("message"), get("source")
    used: list[str] = []  # the alias keys the columns were read from
    missing = raw_ts is None or level is None or message is None or source is None
    if missing and not _ALIAS_TOP.isdisjoint(record):
        raw_ts = _alias(record, "timestamp", used) if raw_ts is None else raw_ts
        level = _alias(record, "level", used) if level is None else level
        message = _alias(record, "message", used) if message is None else message
        source = _alias(record, "source", used) if source is None else source
    thread_id, request_id, user_id = get("thread_id"), get("request_id"), get("user_id")
    if type(level) is int:
        level = str(level)  # a pino/bunyan number reads as its digits do
    for value in (level, message, source, thread_id, request_id, user_id):
        if type(value) not in _TEXT_OR_NONE:
            return None
    tags = get("tags")
    if tags is None:
        tags = []
    elif type(tags) is str:
        tags = [tags]
    elif type(tags) is list:
        for tag in tags:
            if type(tag) is not str:
                return None
    else:
        return None
    meta = get("metadata")
    if meta is not None and type(meta) is not dict:
        return None
    extra = None if record.keys() <= _KNOWN else {k: v for k, v in record.items() if k not in _KNOWN}
    if used and extra:
        # a line in another logger's keys: its nested objects flattened, the alias keys used dropped
        if any(type(v) is dict for v in extra.values()):
            extra = flatten(extra)
        for key in used:
            extra.pop(key, None)
    if meta is not None and extra:
        return None  # merging the two follows JSON merge-patch rules (nulls delete): the SQL path's
    if raw_ts is None:
        ts = now_ns
    elif type(raw_ts) in _TIME_TYPES:
        try:
            ts = parse_timestamp(raw_ts)
        except TimestampError:
            return None  # the SQL path keeps it with the ingest time and `metadata.timestamp_raw`
        if not storable(ts):
            return None
    else:
        return None
    normal = levels.get(level)
    if normal is None:
        normal = levels[level] = level_name(level)
    metadata = meta or extra
    text = json_text(metadata) if metadata else None
    return (ts, normal, source or "", message or "", tags, thread_id, request_id, user_id, text)


def parse_lines(lines: Sequence[str], now_ns: int) -> Parsed:
    """Sort the lines into plain records (as columns), lines for the SQL path, and rejections."""
    out = Parsed(now_ns)
    levels: dict[object, str] = {}
    for position, line in enumerate(lines):
        line = line.rstrip("\r\n")  # error positions count within the line itself
        start = line.lstrip()[:1]
        if not start:
            continue
        if start != "{":
            out.rejected.append((position, json_reason(line)))
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            out.rejected.append((position, json_reason(line)))
            continue
        over = bounds.text_reason(line)
        if over is not None:
            out.rejected.append((position, over))
            continue
        row = _plain(record, now_ns, levels) if type(record) is dict else None
        if row is None:
            out.for_sql.append((position, line))
        else:
            out.add(row)
    return out


def ingest_json_lines(pipeline: Pipeline, lines: Sequence[str]) -> dict[str, Any]:
    """Store JSON lines held in memory: plain records as one Arrow append (no per-statement SQL cost),
    the others, and everything when pre-ingest hooks are set, through the file path; the report of
    a file ingest, lines numbered from 1."""
    report = _store_lines(pipeline, lines)
    memory.release_after(report["bytes"])
    return report


def _store_lines(pipeline: Pipeline, lines: Sequence[str]) -> dict[str, Any]:
    report: dict[str, Any] = {"count": 0, "dropped": 0, "bad_timestamps": 0}
    if pipeline.has_hooks:
        parsed = Parsed(0, for_sql=list(enumerate(lines)))
    else:
        parsed = parse_lines(lines, time.time_ns())
        batch = parsed.batch()
        if batch is not None:
            report["count"] += pipeline.ingest_batch(batch).rows
    rejected = [{"line": p + 1, "reason": why} for p, why in parsed.rejected]
    count = len(rejected)  # the SQL path lists its first FileReport.MAX_REPORTED and counts them all
    if parsed.for_sql:
        rest = FileIngest(pipeline).json_lines([line for _, line in parsed.for_sql])
        report["count"] += rest["count"]
        report["dropped"] += rest["dropped"]
        report["bad_timestamps"] += rest["bad_timestamps"]
        count += rest["rejected"]
        for item in rest["rejected_lines"]:
            rejected.append({"line": parsed.for_sql[item["line"] - 1][0] + 1, "reason": item["reason"]})
    report["rejected_lines"] = sorted(rejected, key=lambda r: r["line"])
    report["rejected"] = count
    report["bytes"] = sum(len(line) for line in lines)
    return report


def ndjson_lines(body: bytes, utf8: bool) -> tuple[list[str], int]:
    """The lines of an NDJSON body (`utf8`: whether it is all valid UTF-8), without a final empty line,
    and how many of them held bytes that are not UTF-8 (replaced with U+FFFD, as a file's are)."""
    if utf8:
        lines, replaced = body.decode("utf-8").split("\n"), 0
    else:
        raw = body.split(b"\n")
        lines = [line.decode("utf-8", errors="replace") for line in raw]
        replaced = sum(1 for line in raw if not is_utf8(line))
    if lines and not lines[-1].strip():
        lines.pop()
    return lines, replaced


def is_utf8(data: bytes) -> bool:
    """True when `data` is valid UTF-8 (isascii first: ~30 GB/s against ~1 GB/s for a decode)."""
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def ingest_ndjson(pipeline: Pipeline, body: bytes) -> dict[str, Any]:
    """Store an NDJSON body like `ingest_json_lines(ndjson_lines(body))` would: in one pass of Arrow
    column operations when every line is a plain record (`arrowjson`), else line by line."""
    report = _store_ndjson(pipeline, body)
    memory.release_after(len(body))  # its lines and columns are freed by now
    return report


def _store_ndjson(pipeline: Pipeline, body: bytes) -> dict[str, Any]:
    # Arrow's reader takes bytes that are not UTF-8 into its strings, which DuckDB then refuses:
    # such a body goes line by line, where they are replaced
    utf8 = is_utf8(body)
    if not pipeline.has_hooks and utf8:
        now = time.time_ns()
        batch = arrowjson.to_batch(body, now)
        if batch is not None:
            count = pipeline.ingest_batch(batch).rows if batch.table.num_rows else 0
            return {
                "count": count,
                "dropped": 0,
                "bad_timestamps": 0,
                "rejected_lines": [],
                "rejected": 0,
                "bytes": len(body),
                "replaced_utf8_lines": 0,
            }
    lines, replaced = ndjson_lines(body, utf8)
    return _store_lines(pipeline, lines) | {"replaced_utf8_lines": replaced}
