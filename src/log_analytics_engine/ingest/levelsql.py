"""SQL folding raw level text onto the stored levels and severities, for the ingest paths that parse
in DuckDB (JSONL files, text formats): the same mapping as `model.normalize_level`, constants only."""

from __future__ import annotations

from log_analytics_engine.model import DEFAULT_LEVEL, DEFAULT_SEVERITY, LEVEL_ALIASES, SEVERITY


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
