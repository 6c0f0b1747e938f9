"""The text path before issue 12 (one SQL SELECT for every text line: a leading ISO/syslog time or a
bracketed Apache time, a level word, a source), kept as the reference `bench/formats.py` measures the
format registry against."""

from __future__ import annotations

from log_analytics_engine.ingest.levelsql import sql_level, sql_severity
from log_analytics_engine.timeparse import sql_timestamp_ns

_ISO = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
_SYSLOG = r"[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}(?:\.\d{1,9})?"
_APACHE = r"\d{2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}"
_LEVELS = "TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRITICAL|CRIT|FATAL|SEVERE|ALERT|EMERG"
_BLANK = "' \t\r\n'"
ACCEPT = f"length(rtrim(line, {_BLANK})) > 0"


def _q(pattern: str) -> str:
    """A regex as a SQL string literal (patterns are constants of this module, never input)."""
    return "'" + pattern.replace("'", "''") + "'"


_LEAD_TS = f"^\\s*\\[?({_ISO}|{_SYSLOG})\\]?\\s*"
_LEAD_LEVEL = f"(?i)^[\\[(]?({_LEVELS})[\\])]?:?\\s"
_LEAD_LEVEL_STRIP = f"(?i)^[\\[(]?({_LEVELS})[\\])]?:?\\s+"
_ANY_LEVEL = f"\\b({_LEVELS})\\b"
_APACHE_ANY = f"\\[({_APACHE})\\]"
_IS_SYSLOG = f"^\\s*{_SYSLOG}"
_SRC_BRACKET = r"^\[([^\]\s]{1,64})\]"
_SRC_COLON = r"^([\w./-]{1,64})(?:\[\d+\])?:\s"
_SRC_SYSLOG = r"^\S+\s+([\w./-]{1,64})(?:\[\d+\])?:\s"
_STATUS = r'" (\d)\d\d '


def select_sql() -> str:
    """SELECT producing stored columns from relation `chunk(n, line)`; parameters as in `jsonl.select_sql`."""
    level = sql_level("nullif(coalesce(nullif(lead_level, ''), nullif(any_level, ''), status_level), '')")
    return f"""
SELECT ? + n, ts, ?, level, {sql_severity("level")}, source, line, [], NULL, NULL, NULL,
       CASE WHEN ts IS NULL AND raw_ts IS NOT NULL THEN json_object('timestamp_raw', raw_ts) END
FROM (
    SELECT n, line, raw_ts,
           CASE WHEN raw_ts IS NULL THEN ? ELSE {sql_timestamp_ns("raw_ts")} END AS ts,
           {level} AS level,
           coalesce(nullif(regexp_extract(rest2, {_q(_SRC_BRACKET)}, 1), ''),
                    nullif(regexp_extract(rest2, {_q(_SRC_COLON)}, 1), ''),
                    CASE WHEN is_syslog THEN nullif(regexp_extract(rest2, {_q(_SRC_SYSLOG)}, 1), '') END,
                    '') AS source
    FROM (
        SELECT *, regexp_replace(rest, {_q(_LEAD_LEVEL_STRIP)}, '') AS rest2
        FROM (
            SELECT n, line, rest, is_syslog,
                   coalesce(nullif(lead, ''), nullif(regexp_extract(line, {_q(_APACHE_ANY)}, 1), ''))
                       AS raw_ts,
                   regexp_extract(rest, {_q(_LEAD_LEVEL)}, 1) AS lead_level,
                   regexp_extract(line, {_q(_ANY_LEVEL)}, 1) AS any_level,
                   CASE regexp_extract(line, {_q(_STATUS)}, 1)
                        WHEN '5' THEN 'ERROR' WHEN '4' THEN 'WARN' WHEN '' THEN NULL ELSE 'INFO' END
                       AS status_level
            FROM (
                SELECT n, line, regexp_extract(line, {_q(_LEAD_TS)}, 1) AS lead,
                       regexp_replace(line, {_q(_LEAD_TS)}, '') AS rest,
                       regexp_matches(line, {_q(_IS_SYSLOG)}) AS is_syslog
                FROM (SELECT n, rtrim(line, {_BLANK}) AS line FROM chunk WHERE {ACCEPT})
            )
        )
    )
)
"""
