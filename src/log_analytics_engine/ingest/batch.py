"""Turn `LogEntry` objects into one Arrow table of the stored columns (no per-row inserts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from log_analytics_engine.errors import IngestError
from log_analytics_engine.ingest import bounds
from log_analytics_engine.ingest.bounds import TOO_DEEP
from log_analytics_engine.model import DEFAULT_SEVERITY, INGEST_SCHEMA, SEVERITY, LogEntry
from log_analytics_engine.timeparse import storable

_SCHEMA = INGEST_SCHEMA
# C-level attribute reads, one pass per column (3x faster than a Python call per entry). The
# private names are LogEntry's slots behind its time and level properties.
_COLUMN_GETTERS = tuple(
    attrgetter(name)
    for name in (
        "_timestamp_ns",
        "_level",
        "source",
        "message",
        "tags",
        "thread_id",
        "request_id",
        "user_id",
        "metadata",
    )
)


@dataclass(frozen=True)
class Batch:
    """The Arrow table to append and how many entries had an unparseable timestamp."""

    table: pa.Table
    bad_timestamps: int


def json_text(value: dict[str, Any]) -> str:
    """`value` as JSON text. As text, not orjson's bytes: each of those holds a 4 KB buffer whatever
    its length (100,000 of them took 393 MB, their text 13 MB), and a batch holds one per log."""
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def _metadata_json(meta: dict[str, Any], position: int) -> str | None:
    """The metadata of the batch's entry at `position` as JSON text, within the bounds of one log
    (bounds.py) or an IngestError naming the entry and the bound: nothing of the batch is stored."""
    if not meta:
        return None
    try:
        text = json_text(meta)
    except (TypeError, orjson.JSONEncodeError) as exc:  # orjson stops at 254 levels
        raise IngestError(
            f"log {position} of the batch: its metadata cannot be stored ({exc}): {TOO_DEEP}"
        ) from exc
    over = bounds.text_reason(f'{{"metadata":{text}}}')
    if over is not None:
        raise IngestError(f"log {position} of the batch: {over} (nor anything of the batch)")
    return text


def to_batch(entries: Sequence[LogEntry], ingested_at: int) -> Batch:
    """Columns for the entries; a missing event time becomes the ingest time (its raw text is in metadata)."""
    if not entries:
        return Batch(_SCHEMA.empty_table(), 0)
    ts, levels, sources, messages, tags, thread_ids, request_ids, user_ids, metas = (
        list(map(get, entries)) for get in _COLUMN_GETTERS
    )
    metadata = [_metadata_json(m, i) for i, m in enumerate(metas)]
    return columns_batch(
        ts, levels, sources, messages, tags, thread_ids, request_ids, user_ids, metadata, ingested_at
    )


def stored_row(entry: LogEntry, ingested_at: int) -> tuple[tuple[Any, ...], bool]:
    """One entry's stored columns without `seq` (INGEST_SCHEMA's order), as `to_batch` makes them,
    and whether its event time was missing or unstorable (it then has the ingest time)."""
    ts = entry._timestamp_ns
    bad = ts is None or not storable(ts)
    level = entry._level
    return (
        ingested_at if bad else ts,
        ingested_at,
        level,
        SEVERITY.get(level, DEFAULT_SEVERITY),
        entry.source,
        entry.message,
        list(entry.tags),
        entry.thread_id,
        entry.request_id,
        entry.user_id,
        _metadata_json(entry.metadata, 0),
    ), bad


def columns_batch(
    ts: list[int | None],
    levels: list[str],
    sources: list[str],
    messages: list[str],
    tags: list[list[str]],
    thread_ids: list[str | None],
    request_ids: list[str | None],
    user_ids: list[str | None],
    metadata: list[str | None],
    ingested_at: int,
) -> Batch:
    """The Arrow table of stored columns from per-column lists (levels normalised, metadata as JSON)."""
    n = len(ts)
    try:
        times = pa.array(ts, pa.int64())
    except OverflowError:  # a year the int64 ns cannot hold: stored with the ingest time, counted
        ts = [t if t is None or storable(t) else None for t in ts]
        times = pa.array(ts, pa.int64())
    bad = ts.count(None)
    if bad:
        times = pc.fill_null(times, ingested_at)
    severity = SEVERITY.get
    columns = [
        times,
        pa.array(np.full(n, ingested_at, dtype=np.int64)),
        pa.array(levels, pa.string()),
        pa.array([severity(lv, DEFAULT_SEVERITY) for lv in levels], pa.int16()),
        pa.array(sources, pa.string()),
        pa.array(messages, pa.string()),
        pa.array(tags, pa.list_(pa.string())),
        pa.array(thread_ids, pa.string()),
        pa.array(request_ids, pa.string()),
        pa.array(user_ids, pa.string()),
        pa.array(metadata, pa.string()),
    ]
    return Batch(pa.Table.from_arrays(columns, schema=_SCHEMA), bad)
