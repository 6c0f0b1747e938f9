"""Aggregations in the original shapes: group-by counts, histograms (also over time), top-N.

`aggregate_entries` computes them over a list of LogEntry objects (the original `aggregate_logs`);
a store computes the same shapes over the logs a filter selects.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from log_analytics_engine.errors import QueryError
from log_analytics_engine.model import LogEntry
from log_analytics_engine.query.evaluate import field_value
from log_analytics_engine.timeparse import format_timestamp

TIME_FIELDS = frozenset({"timestamp", "_time", "ts", "ingested_at"})
_UNITS = {
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
}
_INTERVAL = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")


def interval_ns(interval: str | int | float) -> int:
    """A bucket width: seconds as a number, or text like `30s`, `1m`, `1h`, `1d`."""
    if isinstance(interval, int | float) and not isinstance(interval, bool):
        ns = int(interval * 1_000_000_000)
    else:
        match = _INTERVAL.match(str(interval))
        if not match:
            raise QueryError(f"bad interval {interval!r}: use seconds or a number with ms, s, m, h or d")
        ns = int(match.group(1)) * _UNITS[match.group(2)]
    if ns <= 0:
        raise QueryError(f"interval must be positive, got {interval!r}")
    return ns


def _values(entry: LogEntry, field: str) -> Iterable[Any]:
    value = field_value(entry, field)
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return [v for v in value if v is not None]
    return (value,)


def _count(entries: Sequence[LogEntry], field: str) -> Counter[Any]:
    counter: Counter[Any] = Counter()
    for entry in entries:
        for value in _values(entry, field):
            counter[value if isinstance(value, str | int | float | bool) else str(value)] += 1
    return counter


def aggregate_entries(
    entries: Sequence[LogEntry],
    group_by: str | None = None,
    histogram: str | None = None,
    top_n: Mapping[str, int] | None = None,
    interval: str | int | float | None = None,
) -> dict[str, Any]:
    """The original `aggregate_logs` over a list; `histogram` on a time field buckets by `interval`."""
    out: dict[str, Any] = {}
    if group_by:
        out["group_by"] = dict(_count(entries, group_by).most_common())
    if histogram:
        if histogram in TIME_FIELDS:
            step = interval_ns(interval or "1m")
            buckets: Counter[int] = Counter()
            for e in entries:
                t = e.ingested_at_ns if histogram == "ingested_at" else e.timestamp_ns
                if t is not None:
                    buckets[(t // step) * step] += 1
            out["histogram"] = {format_timestamp(b): buckets[b] for b in sorted(buckets)}
        else:
            out["histogram"] = dict(_count(entries, histogram).most_common())
    for field, n in (top_n or {}).items():
        ranked = sorted(_count(entries, field).items(), key=lambda kv: (-kv[1], str(kv[0])))
        out[f"top_{n}_{field}"] = ranked[: int(n)]
    return out
