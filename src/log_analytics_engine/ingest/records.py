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

from log_analytics_engine.ingest.batch import Batch, columns_batch
from log_analytics_engine.ingest.files import FileIngest
from log_analytics_engine.ingest.jsonl import KNOWN_FIELDS
from log_analytics_engine.ingest.pipeline import Pipeline
from log_analytics_engine.model import normalize_level
from log_analytics_engine.timeparse import TimestampError, parse_timestamp, storable

_KNOWN = frozenset(KNOWN_FIELDS)


@dataclass
class Parsed:
    """The plain records as stored columns, the lines left for the SQL path, and the rejected lines
    (positions 0-based)."""

    ts: list[int | None] = field(default_factory=list)
    levels: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    tags: list[list[str]] = field(default_factory=list)
    thread_ids: list[str | None] = field(default_factory=list)
    request_ids: list[str | None] = field(default_factory=list)
    user_ids: list[str | None] = field(default_factory=list)
    metadata: list[bytes | None] = field(default_factory=list)
    for_sql: list[tuple[int, str]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)

    def batch(self, ingested_at: int) -> Batch:
        """The Arrow batch of the plain records."""
        return columns_batch(
            self.ts,
            self.levels,
            self.sources,
            self.messages,
            self.tags,
            self.thread_ids,
            self.request_ids,
            self.user_ids,
            self.metadata,
            ingested_at,
        )


def _reject_reason(line: str) -> str:
    """Why a line that does not start like an object is not a record."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return f"invalid JSON: {exc}"
    return f"not a JSON object (found {type(value).__name__})"


def _plain(record: dict[str, Any], now_ns: int, out: Parsed, levels: dict[object, str]) -> bool:
    """Append a plain record's columns to `out`; False (nothing appended) when it needs the SQL path."""
    get = record.get
    level, message, source = get("level"), get("message"), get("source")
    thread_id, request_id, user_id = get("thread_id"), get("request_id"), get("user_id")
    for value in (level, message, source, thread_id, request_id, user_id):
        if value is not None and type(value) is not str:
            return False
    tags = get("tags")
    if tags is None:
        tags = []
    elif type(tags) is str:
        tags = [tags]
    elif type(tags) is not list or any(type(t) is not str for t in tags):
        return False
    meta = get("metadata")
    if meta is not None and type(meta) is not dict:
        return False
    known = sum(1 for k in KNOWN_FIELDS if k in record)
    extra = {k: v for k, v in record.items() if k not in _KNOWN} if len(record) > known else None
    if meta is not None and extra:
        return False  # merging the two follows JSON merge-patch rules (nulls delete): the SQL path's
    raw_ts = get("timestamp")
    if raw_ts is None:
        ts = now_ns
    elif type(raw_ts) in (str, int, float):
        try:
            ts = parse_timestamp(raw_ts)
        except TimestampError:
            return False  # the SQL path keeps it with the ingest time and `metadata.timestamp_raw`
        if not storable(ts):
            return False
    else:
        return False
    normal = levels.get(level)
    if normal is None:
        normal = levels[level] = normalize_level(level)
    metadata = meta or extra
    out.ts.append(ts)
    out.levels.append(normal)
    out.sources.append(source or "")
    out.messages.append(message or "")
    out.tags.append(tags)
    out.thread_ids.append(thread_id)
    out.request_ids.append(request_id)
    out.user_ids.append(user_id)
    out.metadata.append(orjson.dumps(metadata, option=orjson.OPT_NON_STR_KEYS) if metadata else None)
    return True


def parse_lines(lines: Sequence[str], now_ns: int) -> Parsed:
    """Sort the lines into plain records (as columns), lines for the SQL path, and rejections."""
    out = Parsed()
    levels: dict[object, str] = {}
    for position, line in enumerate(lines):
        line = line.rstrip("\r\n")  # error positions count within the line itself
        start = line.lstrip()[:1]
        if not start:
            continue
        if start != "{":
            out.rejected.append((position, _reject_reason(line)))
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            out.rejected.append((position, f"invalid JSON: {exc}"))
            continue
        if not (isinstance(record, dict) and _plain(record, now_ns, out, levels)):
            out.for_sql.append((position, line))
    return out


def ingest_json_lines(pipeline: Pipeline, lines: Sequence[str]) -> dict[str, Any]:
    """Store JSON lines held in memory: plain records as one Arrow append (no per-statement SQL cost),
    the others, and everything when pre-ingest hooks are set, through the file path; the report of
    a file ingest, lines numbered from 1."""
    report: dict[str, Any] = {"count": 0, "dropped": 0, "bad_timestamps": 0}
    if pipeline.has_hooks:
        parsed = Parsed(for_sql=list(enumerate(lines)))
    else:
        now = time.time_ns()
        parsed = parse_lines(lines, now)
        if parsed.ts:
            report["count"] += pipeline.ingest_batch(parsed.batch(now)).rows
    rejected = [{"line": p + 1, "reason": why} for p, why in parsed.rejected]
    if parsed.for_sql:
        rest = FileIngest(pipeline).json_lines([line for _, line in parsed.for_sql])
        report["count"] += rest["count"]
        report["dropped"] += rest["dropped"]
        report["bad_timestamps"] += rest["bad_timestamps"]
        for item in rest["rejected_lines"]:
            rejected.append({"line": parsed.for_sql[item["line"] - 1][0] + 1, "reason": item["reason"]})
    report["rejected_lines"] = sorted(rejected, key=lambda r: r["line"])
    report["rejected"] = len(rejected)
    report["bytes"] = sum(len(line) for line in lines)
    return report
