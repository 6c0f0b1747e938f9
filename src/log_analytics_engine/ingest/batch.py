"""Turn `LogEntry` objects into one Arrow table of the stored columns (no per-row inserts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import pyarrow as pa

from log_analytics_engine.model import STORED_SCHEMA, LogEntry, severity_of

_SCHEMA = pa.schema([f for f in STORED_SCHEMA if f.name != "seq"])


@dataclass(frozen=True)
class Batch:
    """The Arrow table to append and how many entries had an unparseable timestamp."""

    table: pa.Table
    bad_timestamps: int


def _metadata_json(meta: dict[str, object]) -> str | None:
    if not meta:
        return None
    return orjson.dumps(meta, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def to_batch(entries: Sequence[LogEntry], ingested_at: int) -> Batch:
    """Columns for the entries; a missing event time becomes the ingest time (its raw text is in metadata)."""
    ts: list[int] = []
    bad = 0
    for e in entries:
        t = e.timestamp_ns
        if t is None:
            bad += 1
            t = ingested_at
        ts.append(t)
    levels = [e.level for e in entries]
    columns = [
        pa.array(ts, pa.int64()),
        pa.array([ingested_at] * len(entries), pa.int64()),
        pa.array(levels, pa.string()),
        pa.array([severity_of(lv) for lv in levels], pa.int16()),
        pa.array([e.source for e in entries], pa.string()),
        pa.array([e.message for e in entries], pa.string()),
        pa.array([e.tags for e in entries], pa.list_(pa.string())),
        pa.array([e.thread_id for e in entries], pa.string()),
        pa.array([e.request_id for e in entries], pa.string()),
        pa.array([e.user_id for e in entries], pa.string()),
        pa.array([_metadata_json(e.metadata) for e in entries], pa.string()),
    ]
    return Batch(pa.Table.from_arrays(columns, schema=_SCHEMA), bad)
