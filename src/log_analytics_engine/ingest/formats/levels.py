"""Levels as SQL: a level word found in free text, syslog PRI severities, HTTP statuses and numeric
levels (pino/bunyan, OTel), each folded onto the stored levels by `storage.schema.sql_level`."""

from __future__ import annotations

from log_analytics_engine.ingest.formats.sqltext import q

# Level words read in free text: spelled out (one-letter levels are read only where a format puts
# them) and never ordinary words in capitals (LOG, ALL, CONFIG and FAIL are levels only in a level field).
WORDS = (
    "TRACE",
    "DEBUG",
    "INFO",
    "INFORMATION",
    "NOTICE",
    "WARN",
    "WARNING",
    "ERROR",
    "ERR",
    "SEVERE",
    "CRIT",
    "CRITICAL",
    "FATAL",
    "ALERT",
    "EMERG",
    "EMERGENCY",
    "PANIC",
    "FINE",
    "FINER",
    "FINEST",
    "VERBOSE",
)
_ALT = "|".join(sorted(WORDS, key=len, reverse=True))
# Where a level word is unmistakable, in any case: right after the time, bracketed, or `level=`.
_LEAD = rf"(?i)^[\s\[\]\(\)<>,:|*-]*({_ALT})\b"
_MARKED = rf"(?i)(?:\[|<|\(|\blevel=|\blvl=|\bseverity=|\bpriority=)\s*\"?({_ALT})\b"
_UPPER = rf"\b({_ALT})\b"
_CAPITALISED = r"\b(Error|Warning|Fatal|Critical|Severe|Panic|Emergency|Alert|Notice)\b:"


def in_text_sql(rest: str, line: str) -> str:
    """SQL finding a level word for a line (`rest` is the text after its time, '' when the line has
    none): right after the time in any case, else bracketed or after `level=` in any case, else an
    upper-case level word, else a capitalised one followed by `:` (`Error: …`); NULL when none."""
    return (
        f"coalesce(nullif(regexp_extract({rest}, {q(_LEAD)}, 1), ''), "
        f"nullif(regexp_extract({line}, {q(_MARKED)}, 1), ''), "
        f"nullif(regexp_extract({line}, {q(_UPPER)}, 1), ''), "
        f"nullif(regexp_extract({line}, {q(_CAPITALISED)}, 1), ''))"
    )


# Syslog severities 0-7 (RFC 5424 table 2): emerg, alert, crit, err, warning, notice, info, debug.
SYSLOG_LEVELS = ("FATAL", "FATAL", "FATAL", "ERROR", "WARN", "NOTICE", "INFO", "DEBUG")


def syslog_severity_sql(number: str) -> str:
    """SQL giving the level of a syslog severity number 0-7 (text or INTEGER); NULL for others."""
    cases = " ".join(f"WHEN {i} THEN '{level}'" for i, level in enumerate(SYSLOG_LEVELS))
    return f"CASE TRY_CAST(nullif(CAST({number} AS VARCHAR), '') AS INTEGER) {cases} END"


def pri_sql(pri: str) -> str:
    """SQL giving the level of a syslog PRI value (facility * 8 + severity), as text; NULL when ''."""
    return syslog_severity_sql(f"TRY_CAST(nullif({pri}, '') AS INTEGER) % 8")


def http_status_sql(status: str) -> str:
    """SQL giving an access log line's level from its HTTP status: 5xx ERROR, 4xx WARN, else INFO."""
    return (
        f"CASE left({status}, 1) WHEN '5' THEN 'ERROR' WHEN '4' THEN 'WARN' WHEN '' THEN NULL ELSE 'INFO' END"
    )


def numeric_sql(number: str) -> str:
    """SQL giving the level of a pino/bunyan number (10 trace … 60 fatal); NULL for other text."""
    n = f"TRY_CAST({number} AS INTEGER)"
    return (
        f"CASE WHEN {n} IS NULL THEN NULL WHEN {n} >= 60 THEN 'FATAL' WHEN {n} >= 50 THEN 'ERROR' "
        f"WHEN {n} >= 40 THEN 'WARN' WHEN {n} >= 30 THEN 'INFO' WHEN {n} >= 20 THEN 'DEBUG' ELSE 'TRACE' END"
    )
