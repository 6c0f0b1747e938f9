"""The DuckDB table of record and the SQL pieces shared by every write path."""

from __future__ import annotations

from log_analytics_engine.model import DEFAULT_LEVEL, DEFAULT_SEVERITY, LEVEL_ALIASES, SEVERITY

LOGS_DDL = """
CREATE TABLE IF NOT EXISTS logs (
    seq BIGINT NOT NULL,
    ts BIGINT,
    ingested_at BIGINT NOT NULL,
    level VARCHAR NOT NULL,
    severity SMALLINT NOT NULL,
    source VARCHAR NOT NULL,
    message VARCHAR NOT NULL,
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


def sql_level(expr: str) -> str:
    """SQL normalising a raw level like `model.normalize_level` (constants only, no input).

    `expr` should be a column (it is referenced more than once).
    """
    folded = f"upper(trim(CAST({expr} AS VARCHAR)))"
    aliases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in LEVEL_ALIASES.items())
    return f"coalesce(CASE {folded} {aliases} WHEN '' THEN NULL ELSE {folded} END, '{DEFAULT_LEVEL}')"


def sql_severity(level_expr: str) -> str:
    """SQL giving the severity of an already normalised level."""
    cases = " ".join(f"WHEN '{k}' THEN {v}" for k, v in SEVERITY.items())
    return f"CAST(CASE {level_expr} {cases} ELSE {DEFAULT_SEVERITY} END AS SMALLINT)"
