"""The reference: the same work done by DuckDB directly, with no engine in between.

A table of the known columns (event time as TIMESTAMPTZ, level, severity, source, message, tags,
request_id, user_id), filled by DuckDB's own NDJSON reader with explicit columns, and queried in
plain SQL (word search by a regular expression scan of `message`). Unknown fields are not kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

REF_DDL = """
CREATE TABLE logs (
    ts TIMESTAMPTZ, level VARCHAR, severity SMALLINT, source VARCHAR, message VARCHAR,
    tags VARCHAR[], request_id VARCHAR, user_id VARCHAR
)
"""
_SEVERITY = (
    "CAST(CASE level WHEN 'TRACE' THEN 0 WHEN 'DEBUG' THEN 10 WHEN 'INFO' THEN 20 WHEN 'WARN' THEN 30 "
    "WHEN 'ERROR' THEN 40 WHEN 'FATAL' THEN 50 ELSE 20 END AS SMALLINT)"
)
_COLUMNS = (
    "{'timestamp': 'VARCHAR', 'level': 'VARCHAR', 'source': 'VARCHAR', 'message': 'VARCHAR', "
    "'tags': 'VARCHAR[]', 'request_id': 'VARCHAR', 'user_id': 'VARCHAR'}"
)
_SELECT = (
    f'SELECT CAST("timestamp" AS TIMESTAMPTZ), level, {_SEVERITY}, source, message, tags, request_id, user_id'
)
REF_INSERT_FILE = f"INSERT INTO logs {_SELECT} FROM read_ndjson(?, columns={_COLUMNS})"
REF_INSERT_BATCH = f"INSERT INTO logs {_SELECT} FROM batch_in"
REF_INSERT_ROW = (
    f'INSERT INTO logs {_SELECT} FROM (SELECT $1::VARCHAR AS "timestamp", $2::VARCHAR AS level, '
    "$3::VARCHAR AS source, $4::VARCHAR AS message, $5::VARCHAR[] AS tags, $6::VARCHAR AS request_id, "
    "$7::VARCHAR AS user_id)"
)
BATCH_SCHEMA = pa.schema(
    [
        ("timestamp", pa.string()),
        ("level", pa.string()),
        ("source", pa.string()),
        ("message", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("request_id", pa.string()),
        ("user_id", pa.string()),
    ]
)


def connect(db_file: str | Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the reference database, in UTC."""
    con = duckdb.connect(str(db_file), read_only=read_only)
    con.execute("SET TimeZone='UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


def free_bytes(db_file: str | Path) -> int:
    """Bytes of free (allocated but unused) blocks in a closed DuckDB database file."""
    con = duckdb.connect(str(db_file), read_only=True)
    try:
        row = con.execute(
            "SELECT block_size * free_blocks FROM pragma_database_size() "
            "WHERE database_name = current_database()"
        ).fetchone()
    finally:
        con.close()
    return int(row[0]) if row else 0


def create(db_file: str | Path) -> duckdb.DuckDBPyConnection:
    """A new reference database with its empty table."""
    con = connect(db_file)
    con.execute(REF_DDL)
    return con


def ingest_file(con: duckdb.DuckDBPyConnection, jsonl: str | Path) -> int:
    """`INSERT … SELECT … FROM read_ndjson(file, explicit columns)` then CHECKPOINT; returns the row count."""
    con.execute(REF_INSERT_FILE, [str(jsonl)])
    con.execute("CHECKPOINT")
    return count_rows(con)


def append_batch(con: duckdb.DuckDBPyConnection, records: Sequence[dict[str, Any]]) -> None:
    """Insert one batch of generator records through Arrow, as one transaction (durable on return)."""
    batch = pa.Table.from_pylist(list(records), schema=BATCH_SCHEMA)
    con.register("batch_in", batch)
    try:
        con.execute(REF_INSERT_BATCH)
    finally:
        con.unregister("batch_in")


def append_batches(con: duckdb.DuckDBPyConnection, batches: Sequence[Sequence[dict[str, Any]]]) -> int:
    """`append_batch` for each batch in turn; returns how many batches."""
    for batch in batches:
        append_batch(con, batch)
    return len(batches)


def insert_row(con: duckdb.DuckDBPyConnection, record: dict[str, Any]) -> None:
    """Insert one generator record as a transaction of its own (committed on return)."""
    con.execute(REF_INSERT_ROW, [record.get(name) for name in BATCH_SCHEMA.names])


def count_rows(con: duckdb.DuckDBPyConnection) -> int:
    """How many rows the reference table holds."""
    row = con.execute("SELECT count(*) FROM logs").fetchone()
    return int(row[0]) if row else 0


def fetch(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Every row of one reference query, as Python tuples."""
    rows: list[tuple[Any, ...]] = con.execute(sql, list(params)).fetchall()
    return rows
