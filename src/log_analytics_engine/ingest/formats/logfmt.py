"""Go's logfmt (logrus, go-kit, Heroku, Grafana's own logs): `key=value` pairs, values bare or quoted.

The time comes from `time`/`ts`/`t`/`timestamp`, the level from `level`/`lvl`/`severity` (log15's
`eror`/`dbug` too), the source from `logger`/`component`/`caller`/`module`/`source`/`service`; every
other pair is a field (numbers as numbers). The whole line stays the message (so `msg` is searchable
with the rest)."""

from __future__ import annotations

from dataclasses import dataclass

from log_analytics_engine.ingest.formats import timescan
from log_analytics_engine.ingest.formats.base import Columns, Format, q

_PAIR = r'(?:^|\s)([A-Za-z_@][\w.@/-]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)'
_TIME_KEYS = ("time", "ts", "t", "timestamp", "@timestamp")
_LEVEL_KEYS = ("level", "lvl", "severity", "loglevel")
_SOURCE_KEYS = ("logger", "component", "module", "source", "service", "caller")
_NUMBER = r"-?(?:0|[1-9]\d*)(?:\.\d+)?"
# log15's four-letter levels (Grafana's and geth's logs); the model folds the rest (`crit`, `warn`).
_LOG15_LEVELS = {"EROR": "ERROR", "DBUG": "DEBUG"}


@dataclass(frozen=True)
class LogfmtFormat(Format):
    """logfmt: pairs read with `regexp_extract_all`, one list of keys and one of values per line."""

    def columns_sql(self) -> Columns:
        def value(keys: tuple[str, ...]) -> str:
            return f"coalesce({', '.join(f'v[list_position(k, {q(key)})]' for key in keys)})"

        pairs = (
            f"SELECT n, line, regexp_extract_all(first, {q(_PAIR)}, 1) AS k, "
            f"list_transform(regexp_extract_all(first, {q(_PAIR)}, 2), "
            r"""lambda v: CASE WHEN starts_with(v, '"') """
            r"""THEN replace(replace(v[2:-2], '\"', '"'), '\\', '\') ELSE v END) AS v """
            "FROM (SELECT n, line, split_part(line, chr(10), 1) AS first FROM {events})"
        )
        timed = (
            f"SELECT *, CASE WHEN ctx.zone = 'UTC' THEN {timescan.fast_ns_sql('tt')} END AS fast_ts "
            f"FROM (SELECT *, {value(_TIME_KEYS)} AS tt FROM ({pairs})), parse_ctx AS ctx"
        )
        scanned = (
            f"SELECT *, CASE WHEN fast_ts IS NULL THEN {timescan.scan_sql('tt')} END AS s FROM ({timed})"
        )
        inner = f"(SELECT *, {timescan.parts_select(timescan.scanned_parts('s'))} FROM ({scanned}))"
        ts = f"coalesce(fast_ts, {timescan.ns_sql(timescan.COLUMN_PARTS, 'ctx.ref', 'ctx.zone')})"
        consumed = (*_TIME_KEYS, *_LEVEL_KEYS, *_SOURCE_KEYS)
        pair = (
            "to_json(k[i]) || ':' || CASE WHEN regexp_full_match(v[i], "
            f"{q(_NUMBER)}) THEN v[i] ELSE to_json(v[i]) END"
        )
        metadata = (
            "nullif('{' || array_to_string(list_transform(list_filter(range(1, len(k) + 1), "
            f"lambda i: NOT list_contains([{', '.join(q(c) for c in consumed)}], k[i])), "
            f"lambda i: {pair}), ',') || '}}', '{{}}')"
        )
        level = value(_LEVEL_KEYS)
        log15 = " ".join(f"WHEN {q(k)} THEN {q(v)}" for k, v in _LOG15_LEVELS.items())
        return Columns(
            ts=ts,
            level=f"CASE upper({level}) {log15} ELSE {level} END",
            source=f"coalesce({value(_SOURCE_KEYS)}, '')",
            metadata=metadata,
            raw_ts="tt",
            inner=inner,
        )


LOGFMT = LogfmtFormat(
    name="logfmt",
    description="logfmt: key=value pairs (time, level, msg, and any others)",
    example='time=2025-07-21T12:00:00Z level=error msg="charge failed" order=1234 duration_ms=87.5',
    pattern=r'^\s*[A-Za-z_@][\w.@/-]*=(?:"(?:[^"\\]|\\.)*"|[^\s"]*)(?:\s+[A-Za-z_@][\w.@/-]*=(?:"(?:[^"\\]|\\.)*"|[^\s"]*)){2,}\s*$',
    multiline=False,
    specificity=15,
    aliases=("logrus",),
)
FORMATS = (LOGFMT,)
