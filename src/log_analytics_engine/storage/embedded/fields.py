"""Field discovery (the Kibana field sidebar): which fields the matching logs have, how often, and
their most frequent values, computed in SQL over the newest matching logs."""

from __future__ import annotations

from typing import Any

from log_analytics_engine import jsontext
from log_analytics_engine.query.ast import Node
from log_analytics_engine.query.printer import field_text
from log_analytics_engine.query.results import FieldsResult, FieldSummary
from log_analytics_engine.storage.embedded.planner import Planner
from log_analytics_engine.storage.embedded.sql import metadata_field

SAMPLE_LOGS = 10_000
TOP_VALUES = 5
MAX_METADATA_KEYS = 200
# Stored columns shown as fields, with the SQL that reads them as text per log ('' and NULL = absent).
_COLUMNS = {
    "level": "level",
    "source": "nullif(source, '')",
    "tags": "unnest(CASE WHEN len(tags) = 0 THEN [NULL] ELSE tags END)",
    "request_id": "request_id",
    "user_id": "user_id",
    "thread_id": "thread_id",
}


def discover(planner: Planner, node: Node) -> FieldsResult:
    """Summaries of every column and metadata key present in the newest matching logs."""
    where = planner.where(node)
    sample = f"(SELECT * FROM logs WHERE {where.sql} ORDER BY ts DESC, seq DESC LIMIT {SAMPLE_LOGS})"
    params = list(where.params)
    store = planner.store
    row = store.row(f"SELECT count(*) FROM {sample}", params)
    sampled = int(row[0]) if row else 0
    found: list[FieldSummary] = []
    for name, expr in _COLUMNS.items():
        values = store.rows(
            f"SELECT v, count(*) FROM (SELECT {expr} AS v, seq FROM {sample}) WHERE v IS NOT NULL "
            "GROUP BY v ORDER BY 2 DESC, 1",
            params,
        )
        present = store.row(
            f"SELECT count(DISTINCT seq) FROM (SELECT {expr} AS v, seq FROM {sample}) WHERE v IS NOT NULL",
            params,
        )
        count = int(present[0]) if present else 0
        if count:
            found.append(FieldSummary(name, count, [(v, int(c)) for v, c in values[:TOP_VALUES]]))
    keys = store.rows(
        f"SELECT k, count(*) FROM (SELECT unnest(json_keys(metadata)) AS k FROM {sample} "
        f"WHERE metadata IS NOT NULL) GROUP BY k ORDER BY 2 DESC, 1 LIMIT {MAX_METADATA_KEYS}",
        params,
    )
    if keys:
        # json_each, not `metadata ->> k`: a key is any text, and as a JSON path `a.b` or `$` mean more.
        # Values are grouped as JSON text and decoded, so numbers stay numbers (42 and "42" differ).
        value = "CASE json_type(e.value) WHEN 'NULL' THEN NULL ELSE CAST(e.value AS VARCHAR) END"
        tops = store.rows(
            f"SELECT k, v, n FROM (SELECT k, v, count(*) AS n, row_number() OVER "
            f"(PARTITION BY k ORDER BY count(*) DESC, v) AS r FROM (SELECT e.key AS k, {value} AS v "
            f"FROM (SELECT metadata FROM {sample} WHERE metadata IS NOT NULL) s, json_each(s.metadata) e) "
            f"WHERE v IS NOT NULL GROUP BY k, v) WHERE r <= {TOP_VALUES} ORDER BY k, n DESC, v",
            params,
        )
        by_key: dict[str, list[tuple[Any, int]]] = {}
        for key, value, n in tops:
            by_key.setdefault(key, []).append((jsontext.loads(value), int(n)))
        found.extend(
            FieldSummary(str(k), int(n), by_key.get(k, []), field_text(metadata_field(str(k))))
            for k, n in keys
        )
    found.sort(key=lambda f: f.name)
    return FieldsResult(sampled, found)
