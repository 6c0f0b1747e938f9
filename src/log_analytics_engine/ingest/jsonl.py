"""JSON lines as SQL over a chunk of lines: DuckDB's JSON functions parse, no Python loop per line.

Known fields fill their columns; every other key goes to `metadata` (merged over a `metadata`
object when the line has one), so no field and no line is dropped.
"""

from __future__ import annotations

import re

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
_DROP_KNOWN = "{" + ", ".join(f'"{k}":null' for k in KNOWN_FIELDS) + "}"
# Extra keys worth extracting by name: identifier-like, so they can be written into the SQL text
# safely (any other key still reaches metadata, through the merge-patch path).
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
MAX_EXTRA_KEYS = 32
SAMPLE_LINES = 1_000
# A line is taken as a record when it starts like an object; other non-blank lines are rejected.
# (Anchored RE2 matches cost far less than trimming, which copies every line.)
ACCEPT = r"regexp_matches(line, '^\s*\{')"
REJECT = r"NOT regexp_matches(line, '^\s*(\{|$)')"
# The keys of the first lines of a chunk, to guess which extra keys its lines carry.
SAMPLE_KEYS_SQL = f"""
SELECT DISTINCT unnest(json_keys(line)) FROM (SELECT line FROM chunk WHERE {ACCEPT} LIMIT {SAMPLE_LINES})
WHERE json_valid(line)
"""


def extra_keys(sampled: list[str]) -> tuple[str, ...]:
    """The sampled keys that are not known fields and are plain enough to extract by name."""
    known = set(KNOWN_FIELDS)
    keys = sorted(k for k in sampled if k not in known and _PLAIN_KEY.fullmatch(k))
    return tuple(keys[:MAX_EXTRA_KEYS])


def _struct(extras: tuple[str, ...]) -> str:
    """The json_transform type: known fields as text (tags, metadata and extras as JSON)."""
    fields = [f'"{k}":"{"JSON" if k in ("tags", "metadata") else "VARCHAR"}"' for k in KNOWN_FIELDS]
    fields += [f'"{k}":"JSON"' for k in extras]
    return "{" + ", ".join(fields) + "}"


def select_sql(extra_filter: str = "TRUE", extras: tuple[str, ...] = ()) -> str:
    """SELECT producing stored columns from relation `chunk(n, line)`.

    Each line is parsed once into a struct of the known fields plus `extras` (from `extra_keys`).
    When the line has no other keys (its key count equals the fields found), metadata is built from
    the extras; otherwise a merge patch removes the known keys from the whole line (slower, exact).
    Parameters, in order: first seq (added by the store), ingest time ns, ingest time ns.
    """
    for key in extras:
        if not _PLAIN_KEY.fullmatch(key):
            raise ValueError(f"extra key {key!r} is not plain enough to name in SQL")
    # JSON text of tags and metadata is small, so testing its first byte is cheaper than json_type.
    tags = (
        "CAST(CASE WHEN f.tags IS NULL OR f.tags = 'null' THEN [] "
        "WHEN starts_with(f.tags, '[') THEN list_filter(json_extract_string(f.tags, '$[*]'), "
        "lambda x: x IS NOT NULL) ELSE [f.tags ->> '$'] END AS VARCHAR[])"
    )
    meta_obj = (
        "CASE WHEN f.metadata IS NULL OR f.metadata = 'null' THEN NULL "
        "WHEN starts_with(f.metadata, '{') THEN f.metadata ELSE json_object('metadata', f.metadata) END"
    )
    found = " + ".join(f'(f."{k}" IS NOT NULL)::INTEGER' for k in (*KNOWN_FIELDS, *extras))
    # An object of the extras the line has (a key it lacks is SQL NULL, which concat_ws skips; a JSON
    # null it has is the text `null` and is kept). Plain keys need no escaping inside the quotes.
    pairs = ", ".join(f"""CASE WHEN f."{k}" IS NOT NULL THEN '"{k}":' || f."{k}" END""" for k in extras)
    from_extras = f"'{{' || concat_ws(',', {pairs}) || '}}'" if extras else "'{}'"
    # Every other key goes to metadata: a merge patch with nulls deletes the known keys.
    extra = (
        f"nullif(CASE WHEN len(json_keys(line)) = {found} THEN {from_extras} "
        f"ELSE json_merge_patch(line, '{_DROP_KNOWN}') END, '{{}}')"
    )
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
        SELECT n, f.timestamp AS raw_ts, f.level AS raw_level, coalesce(f.source, '') AS source,
               coalesce(f.message, '') AS message, {tags} AS tags, f.thread_id AS thread_id,
               f.request_id AS request_id, f.user_id AS user_id, {meta_obj} AS meta_obj, {extra} AS extra
        FROM (
            SELECT n, line, json_transform(line, '{_struct(extras)}') AS f
            FROM chunk WHERE {ACCEPT} AND {extra_filter}
        )
    )
)
"""
