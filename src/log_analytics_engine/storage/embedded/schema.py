"""The DuckDB tables of the embedded store: the logs of record, fired alerts, kept alert rules and the
store's marks."""

from __future__ import annotations

from log_analytics_engine.model import STORED_SCHEMA

# `message` in zstd: on the 1M bench logs 22.0 B/log against 35.3 with DuckDB's own choice
# (dictionary + FSST), a word scan of it no slower (321 against 357 ms), a page of 50 by seq 1.37
# against 1.10 ms (bench.storage). Stores made before keep the compression they were made with.
LOGS_DDL = """
CREATE TABLE IF NOT EXISTS logs (
    seq BIGINT NOT NULL,
    ts BIGINT,
    ingested_at BIGINT NOT NULL,
    level VARCHAR NOT NULL,
    severity SMALLINT NOT NULL,
    source VARCHAR NOT NULL,
    message VARCHAR USING COMPRESSION zstd NOT NULL,
    tags VARCHAR[] NOT NULL,
    thread_id VARCHAR,
    request_id VARCHAR,
    user_id VARCHAR,
    metadata VARCHAR
)
"""
ALERTS_DDL = """
CREATE TABLE IF NOT EXISTS alerts (
    id BIGINT NOT NULL,
    rule_name VARCHAR NOT NULL,
    triggered_at DOUBLE NOT NULL,
    body JSON NOT NULL
)
"""
# Alert rules added through the library, the HTTP API or the CLI (a rules file's rules are not kept here:
# the file is read again at every start); `body` is the rule in the rules-file schema.
RULES_DDL = """
CREATE TABLE IF NOT EXISTS alert_rules (
    name VARCHAR PRIMARY KEY,
    body JSON NOT NULL
)
"""
# At most one row, written by deletes: the highest seq ever stored (deleting the newest logs must not
# let an open replay them from the write-ahead log, nor give their seqs out again) and how many logs
# were deleted in all.
MARKS_DDL = """
CREATE TABLE IF NOT EXISTS store_marks (
    high_seq BIGINT NOT NULL,
    deleted_logs BIGINT NOT NULL
)
"""
# The stored columns, in order, as a SELECT list: what `SELECT *` was before promoted metadata keys
# (typed.py) added columns of their own after them.
STORED_COLUMNS = ", ".join(STORED_SCHEMA.names)
