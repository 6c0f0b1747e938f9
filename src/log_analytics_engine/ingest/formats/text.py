"""Any other text: the time is the first one the scanner finds anywhere in the line, the level a
level word (right after the time, bracketed, `level=`, in capitals, or `Error:`), the source a
`[name]` or `name:` / `name[pid]:` after them. The whole event is the message."""

from __future__ import annotations

from dataclasses import dataclass

from log_analytics_engine.ingest.formats import levels, timescan
from log_analytics_engine.ingest.formats.base import Columns, Format, q

_WORDS = "|".join(sorted(levels.WORDS, key=len, reverse=True))
_LEAD_LEVEL = rf"(?i)^[\s\[\]\(\)<>,:|*-]*(?:{_WORDS})\b[\]\)>:]*\s*"
# `[name]` (not `[12345]`, a pid) or `name:` / `name[pid]:`, without Monolog's `.LEVEL` (`app.ERROR:`)
_SOURCE = (
    rf"^[\s\]\)>,:|-]*(?:\[(\d*[^\]\s\d][^\]\s]*)\]|([A-Za-z][\w./-]*?)(?:\.(?:{_WORDS}))?(?:\[\d+\])?:\s)"
)


@dataclass(frozen=True)
class TextFormat(Format):
    """The fallback: never fails, reads what it can."""

    def columns_sql(self) -> Columns:
        inner = (
            f"(SELECT *, {timescan.parts_select(timescan.scanned_parts('s'))} FROM "
            "(SELECT n, line, first, s, "
            "CASE WHEN m = '' THEN first ELSE substr(first, strpos(first, m) + length(m)) END AS rest "
            f"FROM (SELECT n, line, first, {timescan.scan_sql('first')} AS s, "
            f"regexp_extract(first, {q(timescan.PATTERN)}) AS m "
            "FROM (SELECT n, line, split_part(line, chr(10), 1) AS first FROM {events}))))"
        )
        after_level = f"regexp_replace(rest, {q(_LEAD_LEVEL)}, '')"
        source = (
            f"coalesce(nullif(regexp_extract({after_level}, {q(_SOURCE)}, 1), ''), "
            f"nullif(regexp_extract({after_level}, {q(_SOURCE)}, 2), ''), '')"
        )
        return Columns(
            ts=timescan.ns_sql(timescan.COLUMN_PARTS, "ctx.ref", "ctx.zone"),
            level=levels.in_text_sql("rest", "first"),
            source=source,
            metadata="NULL",
            inner=inner,
        )


TEXT = TextFormat(
    name="text",
    description="any other text: a time anywhere in the line, a level word, a [source] or source:",
    example="worker-3 | 21.07.2025 12:00:00 [WARN] queue: 1,204 jobs waiting",
    pattern="",
    specificity=-1,
)
