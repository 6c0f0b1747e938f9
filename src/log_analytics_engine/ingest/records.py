"""JSON log lines to stored columns in Python, for small bodies (HTTP requests) where the SQL path's
fixed cost per statement (~60 ms for 1,000 lines) would dominate.

Only plain records take this path: known fields that are strings (numbers for the timestamp and
ids, a list of strings or a string for tags, an object for metadata) and a timestamp the parser
reads. Anything else goes back to the caller for the SQL path of file ingest, so both paths store a
line the same way. Lines that are not JSON objects are rejected with the file path's reasons.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa

from log_analytics_engine import memory
from log_analytics_engine.errors import IngestError
from log_analytics_engine.ingest import arrowjson, bounds
from log_analytics_engine.ingest.batch import Batch, columns_batch, json_text
from log_analytics_engine.ingest.files import FileIngest, json_reason
from log_analytics_engine.ingest.jsonl import ALIASES, KNOWN_FIELDS, LOOKUP_KEYS, level_name
from log_analytics_engine.ingest.pipeline import Pipeline
from log_analytics_engine.ingest.report import IngestReport
from log_analytics_engine.ingest.rows import flatten
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
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # position, reason, code

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
            out.rejected.append((position, json_reason(line), "invalid_json"))
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            out.rejected.append((position, json_reason(line), "invalid_json"))
            continue
        over = bounds.text_reason(line)
        if over is not None:
            out.rejected.append((position, over, "over_bound"))
            continue
        row = _plain(record, now_ns, levels) if type(record) is dict else None
        if row is None:
            out.for_sql.append((position, line))
        else:
            out.add(row)
    return out


def parse_items(items: Sequence[object], now_ns: int) -> Parsed:
    """The items of a JSON array body (parsed once, by the caller) sorted as `parse_lines` sorts
    lines, positions the array's indexes: plain records straight to columns, no text parsed again;
    the other objects written back as lines for the SQL path; anything else rejected."""
    out = Parsed(now_ns)
    levels: dict[object, str] = {}
    for position, item in enumerate(items):
        if type(item) is not dict:
            out.rejected.append((position, f"not a JSON object (found {type(item).__name__})", "not_object"))
            continue
        try:
            line = orjson.dumps(item).decode()
        except orjson.JSONEncodeError:
            out.rejected.append((position, TOO_DEEP, "over_bound"))
            continue
        over = bounds.text_reason(line)
        if over is not None:
            out.rejected.append((position, over, "over_bound"))
            continue
        row = _plain(item, now_ns, levels)
        if row is None:
            out.for_sql.append((position, line))
        else:
            out.add(row)
    return out


def ingest_json_lines(pipeline: Pipeline, lines: Sequence[str]) -> IngestReport:
    """Store JSON lines held in memory: plain records as one Arrow append (no per-statement SQL cost),
    the others through the file path's SQL; rejections by 0-based line."""
    report = store_parsed(pipeline, parse_lines(lines, time.time_ns()))
    report.bytes = sum(len(line) for line in lines)
    memory.release_after(report.bytes)
    return report


def ingest_json_array(pipeline: Pipeline, body: bytes) -> IngestReport:
    """Store a JSON array body of log objects, parsed once; rejections by array index. A body that
    is not valid JSON stores nothing (IngestError naming the byte). Bytes that are not UTF-8 are
    replaced with U+FFFD first, as in a file, rather than refusing the whole array."""
    if not is_utf8(body):
        body = body.decode("utf-8", errors="replace").encode()
    try:
        items = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise IngestError(f"invalid JSON at byte {exc.pos}: {exc.msg}") from exc
    if type(items) is not list:
        raise IngestError(f"a JSON body is an array of log objects, got {type(items).__name__}")
    parsed = parse_items(items, time.time_ns())
    del items
    report = store_parsed(pipeline, parsed)
    report.bytes = len(body)
    memory.release_after(len(body))
    return report


def store_parsed(pipeline: Pipeline, parsed: Parsed) -> IngestReport:
    """Store what `parse_lines` or `parse_items` sorted: the plain records' columns through the
    pipeline's one entry (hooks there), the residue through the file path's SQL."""
    report = IngestReport()
    batch = parsed.batch()
    if batch is not None:
        result = pipeline.ingest(batch.table, batch.bad_timestamps)
        report.accepted += result.write.rows
        report.dropped += result.dropped
        report.no_timestamp += batch.bad_timestamps
    for position, why, code in parsed.rejected:
        report.reject(position, why, code)
    if parsed.for_sql:
        rest = FileIngest(pipeline).json_lines([line for _, line in parsed.for_sql])
        report.accepted += rest.accepted
        report.dropped += rest.dropped
        report.no_timestamp += rest.bad_timestamps
        listed = len(report.rejected)
        report.add(dataclasses.replace(rest, accepted=0, dropped=0, no_timestamp=0, bytes=0))
        report.rejected[listed:] = [
            dataclasses.replace(r, position=parsed.for_sql[r.position][0]) for r in report.rejected[listed:]
        ]
    report.rejected.sort(key=lambda r: r.position)
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


def ingest_ndjson(pipeline: Pipeline, body: bytes) -> IngestReport:
    """Store an NDJSON body like `ingest_json_lines(ndjson_lines(body))` would: in one pass of Arrow
    column operations when every line is a plain record (`arrowjson`), else line by line."""
    report = _store_ndjson(pipeline, body)
    report.bytes = len(body)
    memory.release_after(len(body))  # its lines and columns are freed by now
    return report


def _store_ndjson(pipeline: Pipeline, body: bytes) -> IngestReport:
    # Arrow's reader takes bytes that are not UTF-8 into its strings, which DuckDB then refuses:
    # such a body goes line by line, where they are replaced
    utf8 = is_utf8(body)
    if utf8:
        batch = arrowjson.to_batch(body, time.time_ns())
        if batch is not None:
            result = pipeline.ingest(batch.table, batch.bad_timestamps)
            return IngestReport(accepted=result.write.rows, dropped=result.dropped)
    lines, replaced = ndjson_lines(body, utf8)
    report = store_parsed(pipeline, parse_lines(lines, time.time_ns()))
    report.replaced_utf8_lines = replaced
    return report
