"""The original `aggregate_logs` shapes (group-by counts, histograms, top-N) computed by DuckDB over
the logs a filter selects; `query/aggregate.py` computes the same shapes over a list."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from log_analytics_engine import jsontext
from log_analytics_engine.model import FIELD_COLUMNS
from log_analytics_engine.query.aggregate import TIME_FIELDS, interval_ns
from log_analytics_engine.query.ast import Node
from log_analytics_engine.storage.embedded.planner import Planner
from log_analytics_engine.storage.embedded.sql import metadata_path
from log_analytics_engine.timeparse import format_timestamp

# Fields grouped as their own scalar column (time fields bucket, tags unnest, the rest is metadata).
_PLAIN_COLUMNS = {
    name: column
    for name, column in FIELD_COLUMNS.items()
    if column not in ("ts", "ingested_at", "tags", "seq")
}


def _group_sql(field: str, flt_sql: str) -> tuple[str, list[object]]:
    """SELECT key, count(*) for one field: list fields count each element, NULL keys are skipped."""
    if field == "tags":
        return (
            f"SELECT t AS k, count(*) FROM (SELECT unnest(tags) AS t FROM logs WHERE {flt_sql}) GROUP BY k",
            [],
        )
    if field in _PLAIN_COLUMNS:
        col = _PLAIN_COLUMNS[field]
        return f"SELECT {col} AS k, count(*) FROM logs WHERE {flt_sql} AND {col} IS NOT NULL GROUP BY k", []
    key = field[len("metadata.") :] if field.startswith("metadata.") else field
    # JSON text, decoded in Python, so numbers and booleans keep their type as in `aggregate_logs`.
    expr = "json_extract(metadata, ?)"
    return (
        f"SELECT {expr} AS k, count(*) FROM logs WHERE {flt_sql} AND {expr} IS NOT NULL "
        "AND k <> 'null' GROUP BY k",
        [metadata_path(key), metadata_path(key)],
    )


def _json_key(text: str) -> Any:
    value = jsontext.loads(text)
    return value if isinstance(value, str | int | float | bool) else str(value)


class StoreAggregator:
    """Aggregations over the logs a filter node selects, computed by DuckDB."""

    def __init__(self, planner: Planner) -> None:
        self.planner = planner

    def counts(self, node: Node, field: str) -> dict[Any, int]:
        """{value: count} for a field, in descending count order."""
        flt = self.planner.where(node)
        sql, extra = _group_sql(field, flt.sql)
        # metadata parameters come before the filter's in the text when present
        params = [extra[0], *flt.params, extra[1]] if extra else list(flt.params)
        rows = self.planner.store.rows(sql + " ORDER BY 2 DESC, 1", params)
        if extra:
            return {_json_key(k): int(c) for k, c in rows}
        return {k: int(c) for k, c in rows}

    def time_histogram(self, node: Node, field: str, interval: str | int | float) -> dict[str, int]:
        """{bucket start (RFC 3339): count}, buckets aligned to UTC, in time order, empty ones omitted."""
        step = interval_ns(interval)
        col = "ingested_at" if field == "ingested_at" else "ts"
        flt = self.planner.where(node)
        rows = self.planner.store.rows(
            f"SELECT ({col} // ?) * ? AS b, count(*) FROM logs WHERE {flt.sql} GROUP BY b ORDER BY b",
            [step, step, *flt.params],
        )
        return {format_timestamp(int(b)): int(c) for b, c in rows}

    def aggregate(
        self,
        node: Node,
        group_by: str | None = None,
        histogram: str | None = None,
        top_n: Mapping[str, int] | None = None,
        interval: str | int | float | None = None,
    ) -> dict[str, Any]:
        """The original `aggregate_logs` result shape, computed in SQL."""
        out: dict[str, Any] = {}
        if group_by:
            out["group_by"] = self.counts(node, group_by)
        if histogram:
            if histogram in TIME_FIELDS:
                out["histogram"] = self.time_histogram(node, histogram, interval or "1m")
            else:
                out["histogram"] = self.counts(node, histogram)
        for field, n in (top_n or {}).items():
            out[f"top_{n}_{field}"] = list(self.counts(node, field).items())[: int(n)]
        return out
