"""JSON lines as SQL over a chunk of lines: DuckDB's JSON functions parse, no Python loop per line.

Known fields fill their columns; every other key goes to `metadata` (merged over a `metadata`
object when the line has one), so no field and no line is dropped.
"""

from __future__ import annotations

from log_analytics_engine.storage.schema import sql_level, sql_severity
from log_analytics_engine.timeparse import sql_timestamp_ns

KNOWN_FIELDS = (
    "timestamp",
    "level",
    "message",
    "source",
    "tags",
    "thread_id",
    "request_id",
    "user_id",
    "metadata",
)
_PATHS = "[" + ", ".join(f"'$.{k}'" for k in KNOWN_FIELDS) + "]"
_DROP_KNOWN = "{" + ", ".join(f'"{k}":null' for k in KNOWN_FIELDS) + "}"
# A line is taken as a record when it starts like an object; other non-blank lines are rejected.
# (Anchored RE2 matches cost far less than trimming, which copies every line.)
ACCEPT = r"regexp_matches(line, '^\s*\{')"
REJECT = r"NOT regexp_matches(line, '^\s*(\{|$)')"


def _text(i: int) -> str:
    return f"(j[{i}] ->> '$')"


def select_sql(extra_filter: str = "TRUE") -> str:
    """SELECT producing stored columns from relation `chunk(n, line)`.

    Parameters, in order: first seq (added by the store), ingest time ns, ingest time ns.
    """
    # JSON text of tags and metadata is small, so testing its first byte is cheaper than json_type.
    tags = (
        "CAST(CASE WHEN j[5] IS NULL OR j[5] = 'null' THEN [] "
        "WHEN starts_with(j[5], '[') THEN list_filter(json_extract_string(j[5], '$[*]'), "
        "lambda x: x IS NOT NULL) ELSE [j[5] ->> '$'] END AS VARCHAR[])"
    )
    meta_obj = (
        "CASE WHEN j[9] IS NULL OR j[9] = 'null' THEN NULL "
        "WHEN starts_with(j[9], '{') THEN j[9] ELSE json_object('metadata', j[9]) END"
    )
    # Every other key goes to metadata: a merge patch with nulls deletes the known keys.
    extra = f"nullif(json_merge_patch(line, '{_DROP_KNOWN}'), '{{}}')"
    return f"""
SELECT ? + n AS seq, ts, ? AS ingested_at, level, {sql_severity("level")} AS severity, source, message,
       tags, thread_id, request_id, user_id,
       CASE WHEN ts IS NULL
            THEN json_merge_patch(coalesce(meta, '{{}}'), json_object('timestamp_raw', raw_ts))
            ELSE meta END AS metadata
FROM (
    SELECT n, raw_ts, {sql_level("raw_level")} AS level, source, message, tags,
           thread_id, request_id, user_id,
           CASE WHEN raw_ts IS NULL THEN ? ELSE {sql_timestamp_ns("raw_ts")} END AS ts,
           nullif(CASE WHEN extra IS NULL THEN meta_obj WHEN meta_obj IS NULL THEN extra
                       ELSE json_merge_patch(meta_obj, extra) END, '{{}}') AS meta
    FROM (
        SELECT n, {_text(1)} AS raw_ts, {_text(2)} AS raw_level, coalesce({_text(4)}, '') AS source,
               coalesce({_text(3)}, '') AS message, {tags} AS tags, {_text(6)} AS thread_id,
               {_text(7)} AS request_id, {_text(8)} AS user_id, {meta_obj} AS meta_obj, {extra} AS extra
        FROM (SELECT n, line, json_extract(line, {_PATHS}) AS j FROM chunk WHERE {ACCEPT} AND {extra_filter})
    )
)
"""
