"""The ClickHouse reference of bench/storage.py: chdb (embedded ClickHouse) with the bench logs in
ClickStack's `otel_logs` layout, its ingest, the same questions in ClickHouse SQL, and its bytes.

The table is ClickStack's (the OpenTelemetry exporter's schema): MergeTree ORDER BY (ServiceName,
TimestampTime, Timestamp), a day partition, ZSTD(1) and LowCardinality columns, every field outside the
OpenTelemetry ones in `LogAttributes Map(LowCardinality(String), String)` (region, duration_ms,
request_id, user_id, and tags as JSON text when there are any, as a collector parsing JSON logs puts
them), bloom filters on the attribute keys and values, and a full-text index on Body
(`text(tokenizer = splitByNonAlpha)`; ClickStack's older schema has `tokenbf_v1(32768, 3, 0)`, whose
bytes are measured too). A second table keeps the attributes as ClickHouse's JSON type instead, whose
paths are typed subcolumns (duration_ms an Int64): ClickHouse at its best on these questions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
from chdb import session

_COLUMNS = """
  Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
  TimestampTime DateTime DEFAULT toDateTime(Timestamp),
  TraceId String CODEC(ZSTD(1)),
  SpanId String CODEC(ZSTD(1)),
  TraceFlags UInt8,
  SeverityText LowCardinality(String) CODEC(ZSTD(1)),
  SeverityNumber UInt8,
  ServiceName LowCardinality(String) CODEC(ZSTD(1)),
  Body String CODEC(ZSTD(1)),
  ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
  ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
  ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
  ScopeName String CODEC(ZSTD(1)),
  ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
  ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
  LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
  INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
  INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
  INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
  INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
  INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
  {body_index}
"""
_ENGINE = """ENGINE = MergeTree
PARTITION BY toDate(TimestampTime)
PRIMARY KEY (ServiceName, TimestampTime)
ORDER BY (ServiceName, TimestampTime, Timestamp)
SETTINGS index_granularity = 8192"""
TEXT_INDEX = "INDEX idx_body Body TYPE text(tokenizer = splitByNonAlpha)"
TOKENBF_INDEX = "INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8"
# OpenTelemetry severity numbers of the stored levels (INFO 9, WARN 13, ...).
_SEVERITY = (
    "multiIf(level = 'TRACE', 1, level = 'DEBUG', 5, level = 'INFO', 9, level = 'WARN', 13, "
    "level = 'ERROR', 17, level = 'FATAL', 21, 9)"
)
_ATTRIBUTES = (
    "mapFilter((k, v) -> v != '', map('region', {region}, 'duration_ms', {duration}, "
    "'request_id', ifNull(request_id, ''), 'user_id', ifNull(user_id, ''), "
    "'tags', if(empty(tags), '', toJSONString(tags))))"
)
_INSERT = (
    "INSERT INTO {table} (Timestamp, SeverityText, SeverityNumber, ServiceName, Body, LogAttributes) "
    "SELECT {ts}, level, " + _SEVERITY + ", source, message, " + _ATTRIBUTES + " FROM {source}"
)
_FILE_SCHEMA = (
    "timestamp String, level String, source String, message String, tags Array(String), "
    "request_id Nullable(String), user_id Nullable(String), region String, duration_ms Nullable(Int64)"
)
DURATION = "toFloat64OrNull(LogAttributes['duration_ms'])"
REGION = "LogAttributes['region']"
# The same attributes as ClickHouse's JSON type (typed subcolumns per path, as ClickStack's JSON schema
# keeps them): the metadata object itself, with request_id, user_id and tags merged in.
JSON_TABLE = "otel_logs_json"
JSON_ATTRIBUTES = (
    "JSONMergePatch(ifNull(metadata, '{}'), toJSONString(mapFilter((k, v) -> v != '', "
    "map('request_id', ifNull(request_id, ''), 'user_id', ifNull(user_id, ''), "
    "'tags', if(empty(tags), '', toJSONString(tags))))))"
)
_JSON_READS = {
    DURATION: "LogAttributes.duration_ms::Nullable(Float64)",
    REGION: "LogAttributes.region::Nullable(String)",
    "otel_logs": JSON_TABLE,
}


def on_json_table(sql: str) -> str:
    """A query of otel_logs (Map attributes) as the same query of the JSON-attributes table."""
    for before, after in _JSON_READS.items():
        sql = sql.replace(before, after)
    return sql


@dataclass
class ChBytes:
    """What a table holds on disk after its parts are merged (system.parts, .columns, skip indices)."""

    rows: int
    total: int
    columns: dict[str, int] = field(default_factory=dict)
    indices: dict[str, int] = field(default_factory=dict)


class ClickHouse:
    """A chdb session in `path` holding `otel_logs`."""

    def __init__(self, path: Path) -> None:
        self.session = session.Session(str(path))

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[list[Any]]:
        """Rows of a query, as lists of Python values."""
        result = self.session.query(sql, "JSONCompact", params=params or {})
        data = result.data() if hasattr(result, "data") else str(result)
        if not data.strip():
            return []
        rows: list[list[Any]] = orjson.loads(data)["data"]
        return rows

    def create(self, table: str = "otel_logs", body_index: str = TEXT_INDEX) -> None:
        self.session.query(f"CREATE TABLE {table} ({_COLUMNS.format(body_index=body_index)}) {_ENGINE}")

    def create_json(self) -> None:
        """otel_logs with `LogAttributes JSON` (no bloom filters on it: mapKeys/mapValues take a Map)."""
        columns = _COLUMNS.format(body_index=TEXT_INDEX).replace(
            "LogAttributes Map(LowCardinality(String), String)", "LogAttributes JSON"
        )
        kept = [line for line in columns.split("\n") if "idx_log_attr" not in line]
        self.session.query(f"CREATE TABLE {JSON_TABLE} ({chr(10).join(kept)}) {_ENGINE}")

    def append_json(self, batches: Sequence[pa.Table]) -> float:
        """The batches into the JSON-attributes table; seconds taken."""
        sql = (
            f"INSERT INTO {JSON_TABLE} (Timestamp, SeverityText, SeverityNumber, ServiceName, Body, "
            f"LogAttributes) SELECT fromUnixTimestamp64Nano(ts), level, {_SEVERITY}, source, message, "
            f"{JSON_ATTRIBUTES} FROM Python(batch)"
        )
        started = time.perf_counter()
        for batch in batches:  # noqa: B007 (read by name by the query)
            self.session.query(sql)
        return time.perf_counter() - started

    def append_arrow(self, batches: Sequence[pa.Table], table: str = "otel_logs") -> float:
        """INSERT each batch (the engine's stored columns, `metadata` JSON text) through chdb's Python
        table function, which finds the batch by its variable's name; seconds taken."""
        sql = _INSERT.format(
            table=table,
            ts="fromUnixTimestamp64Nano(ts)",
            source="Python(batch)",
            region="JSONExtractString(ifNull(metadata, '{}'), 'region')",
            duration="JSONExtractRaw(ifNull(metadata, '{}'), 'duration_ms')",
        )
        started = time.perf_counter()
        for batch in batches:  # noqa: B007 (read by name by the query)
            self.session.query(sql)
        return time.perf_counter() - started

    def append_file(self, jsonl: Path, table: str) -> float:
        """INSERT … SELECT FROM file(JSONEachRow, explicit columns); seconds taken."""
        started = time.perf_counter()
        self.session.query(
            _INSERT.format(
                table=table,
                ts="parseDateTime64BestEffort(timestamp, 9)",
                source="file({path:String}, 'JSONEachRow', {schema:String})",
                region="region",
                duration="ifNull(toString(duration_ms), '')",
            ),
            params={"path": str(jsonl), "schema": _FILE_SCHEMA},
        )
        return time.perf_counter() - started

    def merge(self, table: str = "otel_logs") -> float:
        """OPTIMIZE … FINAL (every part merged into one per partition); seconds taken."""
        started = time.perf_counter()
        self.session.query(f"OPTIMIZE TABLE {table} FINAL")
        return time.perf_counter() - started

    def drop(self, table: str) -> None:
        self.session.query(f"DROP TABLE IF EXISTS {table}")

    def bytes(self, table: str = "otel_logs") -> ChBytes:
        """The table's active parts: bytes on disk, per column (compressed) and per skip index."""
        params = {"t": table}
        rows, total = self.query(
            "SELECT sum(rows), sum(bytes_on_disk) FROM system.parts WHERE table = {t:String} AND active",
            params,
        )[0]
        columns = self.query(
            "SELECT name, data_compressed_bytes FROM system.columns WHERE table = {t:String}", params
        )
        indices = self.query(
            "SELECT name, data_compressed_bytes FROM system.data_skipping_indices WHERE table = {t:String}",
            params,
        )
        return ChBytes(
            int(rows),
            int(total),
            {str(n): int(b) for n, b in columns},
            {str(n): int(b) for n, b in indices},
        )

    def close(self) -> None:
        self.session.close()
