"""A general timestamp scanner: one RE2 pattern, run by DuckDB over whole lines, finds the first date and
time anywhere in a line in every layout in common use, and SQL turns the parts it captured into UTC
nanoseconds.

The pattern is built from parts, not a list of known strings: a date in any order (year first,
day or month first with `-`, `/` or `.`, month names in any case, compact digit runs, a missing or
2-digit year), then a time (`:` or `.` separated, or compact, with a fraction after `.`, `,` or `:`,
AM/PM), an optional zone (`Z`, `UTC`, `GMT`, `+hh:mm`, `+hhmm`, `+hh`) and a year written after the
time (`Sun Dec 04 04:47:44 2005`). An epoch number in seconds (10 digits), ms, us or ns at the start
of a line counts too. Ambiguous day/month orders are settled per value: `.` dates are day first,
`/` dates month first (US) unless the first number is over 12; `yy/MM/dd` (log4j's and Spark's
default) when a 2-digit-year slash date starts with a number over 12.

A missing year comes from a reference instant (a file's modification time): the year that does not
put the line more than a day after it. Naive times are read in a zone (UTC unless configured).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from log_analytics_engine.ingest.formats.sqltext import q

MONTH_NAME = "(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
_MON_TAIL = r"(?i:[a-z]{0,6})\.?"
_DAY = r"0?[1-9]|[12]\d|3[01]"
_MONTH = r"0?[1-9]|1[0-2]"
# Each alternative names its own groups (a group name appears once in a pattern).
_DATES = (
    # 2025-07-21, 2025/07/21, 2025.07.21 (then T, spaces, `-` as in 2005-06-03-15.42.50, or a comma)
    rf"\b(?P<ay>\d{{4}})[-/.](?P<am>{_MONTH})[-/.](?P<ad>{_DAY})(?:[Tt]|\s+|-|\s*,\s*)",
    # 21.07.2025, 07/21/2025, 21-07-25, 17/06/09 (order settled in SQL)
    r"\b(?P<bp>\d{1,2})(?P<bs>[-/.])(?P<bq>\d{1,2})[-/.](?P<by>\d{4}|\d{2})(?:[Tt]|\s+|:|\s*,\s*)",
    # 21/Jul/2025:12:00:00 (CLF), 21-Jul-2025 12:00, 21 July 2025 12:00
    rf"\b(?P<cd>{_DAY})[ /-](?P<cmon>{MONTH_NAME}){_MON_TAIL}[ /-](?P<cy>\d{{4}}|\d{{2}})(?:[:T]|\s+)",
    # Jul 21 12:00:00 (syslog), Jul 21, 2025 12:00:00 PM, Dec  4 04:47:44 2005 (year after the time)
    rf"\b(?P<dmon>{MONTH_NAME}){_MON_TAIL}\s{{1,2}}(?P<dd>{_DAY})(?:st|nd|rd|th)?,?\s+(?:(?P<dy>\d{{4}}),?\s+)?",
    # 20250721T120000, 20250721 12:00:00, 20171223-22:15:29:606
    r"\b(?P<ey>(?:19|20)\d\d)(?P<em>0[1-9]|1[0-2])(?P<ed>0[1-9]|[12]\d|3[01])(?:[Tt]|\s+|-)?",
    # 081109 203615 (yyMMdd HHmmss)
    r"\b(?P<fy>\d\d)(?P<fm>0[1-9]|1[0-2])(?P<fd>0[1-9]|[12]\d|3[01])\s+",
    # I0721 12:00:00.123456 (glog/klog: a level letter, then MMdd)
    r"\b[IWEFDV](?P<gm>0[1-9]|1[0-2])(?P<gd>0[1-9]|[12]\d|3[01])\s+",
    # 03-17 16:13:38.811 (logcat), [10.30 16:49:06]: month and day, no year
    r"\b(?P<hp>\d{1,2})(?P<hs>[-/.])(?P<hq>\d{1,2})\s+",
)
_TIME = (
    r"(?:(?P<hh>[01]?\d|2[0-3])[:.](?P<mi>[0-5]\d)(?:[:.](?P<ss>[0-5]\d|60))?"
    r"|(?P<ch>[01]\d|2[0-3])(?P<cm>[0-5]\d)(?P<cs>[0-5]\d))"
    r"(?:[.,](?P<fr>\d{1,9})|:(?P<fr3>\d{3}))?"
    r"(?:\s?(?P<ap>[AaPp][Mm])\b)?"
)
_ZONE = r"(?:\s?(?P<z>[Zz]\b|(?i:utc|gmt)\b|[+-](?:[01]\d|2[0-3]):?[0-5]\d\b|[+-](?:[01]\d|2[0-3])\b))?"
_EPOCH = r"^\s*\[?(?P<ep>\d{10}|\d{13}|\d{16}|\d{19})(?:\.(?P<epf>\d{1,9}))?\b"
PATTERN = (
    f"(?:{_EPOCH}|(?:{'|'.join(f'(?:{d})' for d in _DATES)}){_TIME}{_ZONE}(?:\\s(?P<ty>(?:19|20)\\d\\d)\\b)?)"
)
NAMES = tuple(sorted(re.compile(PATTERN).groupindex, key=re.compile(PATTERN).groupindex.__getitem__))
_MONTHS = "['jan','feb','mar','apr','may','jun','jul','aug','sep','oct','nov','dec']"
# Epoch numbers are believed between 1990 and 2100 (in seconds): other 10-digit runs are ids.
_EPOCH_MIN_S = 631_152_000
_EPOCH_MAX_S = 4_102_444_800
NS_PER_DAY = 86_400 * 10**9
# Years a stored time may have (int64 nanoseconds hold 1678-2262; a year outside is a misread).
MIN_YEAR = 1700
MAX_YEAR = 2200


def scan_sql(expr: str) -> str:
    """SQL giving the scanner's struct of captured parts (every field '' where it did not take part)."""
    names = ", ".join(q(n) for n in NAMES)
    return f"regexp_extract({expr}, {q(PATTERN)}, [{names}])"


def _i(expr: str) -> str:
    return f"TRY_CAST(nullif({expr}, '') AS INTEGER)"


@dataclass(frozen=True)
class Parts:
    """SQL expressions of a time's parts (INTEGER, NULL when absent), in the scope of one row.

    `year` NULL means missing (inferred from the reference); `offset_s` NULL means a naive time;
    `epoch_ns` set means the other parts are ignored."""

    year: str
    month: str
    day: str
    hour: str
    minute: str
    second: str
    frac_ns: str
    offset_s: str
    epoch_ns: str = "NULL"


def _two_digit(year: str) -> str:
    """A year as written: 2-digit years are 1969-2068 (POSIX's pivot)."""
    return (
        f"CASE WHEN {year} IS NULL THEN NULL WHEN {year} < 69 THEN 2000 + {year} "
        f"WHEN {year} < 100 THEN 1900 + {year} ELSE {year} END"
    )


def frac_ns_sql(digits: str) -> str:
    """SQL scaling fraction digit text (1-9 digits, or '') to nanoseconds."""
    return f"coalesce(TRY_CAST(rpad(nullif({digits}, ''), 9, '0') AS BIGINT), 0)"


def offset_sql(zone: str) -> str:
    """SQL giving a zone text's offset east of UTC in seconds (NULL for '', a naive time)."""
    z = f"replace({zone}, ':', '')"
    return (
        f"CASE WHEN {zone} = '' THEN NULL WHEN upper({zone}) IN ('Z', 'UTC', 'GMT') THEN 0 "
        f"ELSE (CASE WHEN starts_with({z}, '-') THEN -1 ELSE 1 END) * "
        f"(TRY_CAST(substr({z}, 2, 2) AS INTEGER) * 3600 "
        f"+ coalesce(TRY_CAST(nullif(substr({z}, 4, 2), '') AS INTEGER), 0) * 60) END"
    )


def scanned_parts(s: str) -> Parts:
    """The Parts of a scanner struct `s` (a column holding `scan_sql`'s result)."""
    p, q, sep, by = _i(f"{s}.bp"), _i(f"{s}.bq"), f"{s}.bs", f"{s}.by"
    b_ymd = f"({sep} = '/' AND length({by}) = 2 AND {p} > 12)"  # yy/MM/dd
    b_day_first = f"(({sep} IN ('.', '-') AND {q} <= 12) OR ({sep} = '/' AND {p} > 12))"
    hp, hq = _i(f"{s}.hp"), _i(f"{s}.hq")
    h_day_first = f"({hp} > 12)"
    name = f"list_position({_MONTHS}, lower(coalesce(nullif({s}.cmon, ''), nullif({s}.dmon, ''))))"
    year = (
        f"coalesce({_i(f'{s}.ay')}, {_i(f'{s}.ey')}, {_two_digit(_i(f'{s}.fy'))}, "
        f"{_two_digit(_i(f'{s}.cy'))}, {_i(f'{s}.dy')}, "
        f"CASE WHEN {p} IS NOT NULL THEN {_two_digit(f'CASE WHEN {b_ymd} THEN {p} ELSE {_i(by)} END')} END, "
        f"{_i(f'{s}.ty')})"
    )
    month = (
        f"coalesce({_i(f'{s}.am')}, {_i(f'{s}.em')}, {_i(f'{s}.fm')}, {_i(f'{s}.gm')}, {name}, "
        f"CASE WHEN {p} IS NOT NULL THEN "
        f"CASE WHEN {b_ymd} THEN {q} WHEN {b_day_first} THEN {q} ELSE {p} END END, "
        f"CASE WHEN {hp} IS NOT NULL THEN CASE WHEN {h_day_first} THEN {hq} ELSE {hp} END END)"
    )
    day = (
        f"coalesce({_i(f'{s}.ad')}, {_i(f'{s}.ed')}, {_i(f'{s}.fd')}, {_i(f'{s}.gd')}, "
        f"{_i(f'{s}.cd')}, {_i(f'{s}.dd')}, CASE WHEN {p} IS NOT NULL THEN "
        f"CASE WHEN {b_ymd} THEN {_i(by)} WHEN {b_day_first} THEN {p} ELSE {q} END END, "
        f"CASE WHEN {hp} IS NOT NULL THEN CASE WHEN {h_day_first} THEN {hp} ELSE {hq} END END)"
    )
    hour12 = f"coalesce({_i(f'{s}.hh')}, {_i(f'{s}.ch')})"
    hour = (
        f"CASE upper({s}.ap) WHEN 'PM' THEN {hour12} % 12 + 12 WHEN 'AM' THEN {hour12} % 12 ELSE {hour12} END"
    )
    epoch = f"TRY_CAST(nullif({s}.ep, '') AS BIGINT)"
    epoch_ns = (
        f"CASE WHEN {s}.ep = '' THEN NULL ELSE "
        f"CASE length({s}.ep) WHEN 10 THEN {epoch} * 1000000000 + {frac_ns_sql(f'{s}.epf')} "
        f"WHEN 13 THEN {epoch} * 1000000 WHEN 16 THEN {epoch} * 1000 ELSE {epoch} END END"
    )
    return Parts(
        year=year,
        month=month,
        day=day,
        hour=hour,
        minute=f"coalesce({_i(f'{s}.mi')}, {_i(f'{s}.cm')})",
        second=f"coalesce({_i(f'{s}.ss')}, {_i(f'{s}.cs')}, 0)",
        frac_ns=f"CASE WHEN {s}.fr3 <> '' THEN {frac_ns_sql(f'{s}.fr3')} ELSE {frac_ns_sql(f'{s}.fr')} END",
        offset_s=offset_sql(f"{s}.z"),
        epoch_ns=epoch_ns,
    )


def named_parts(groups: str, names: Mapping[str, str]) -> Parts:
    """The Parts of a format that captures them itself (`year`, `month`, `day`, `hour`, `minute`,
    `second`, `frac`, `zone` groups of struct `groups`); `names` maps each part to its group or ''."""

    def g(part: str) -> str:
        return f"{groups}.{names[part]}" if names.get(part) else "''"

    month = g("month")
    month_sql = (
        f"coalesce({_i(month)}, list_position({_MONTHS}, lower(left({month}, 3))))"
        if names.get("month")
        else "NULL"
    )
    return Parts(
        year=_two_digit(_i(g("year"))),
        month=month_sql,
        day=_i(g("day")),
        hour=_i(g("hour")),
        minute=_i(g("minute")),
        second=f"coalesce({_i(g('second'))}, 0)",
        frac_ns=frac_ns_sql(g("frac")),
        offset_s=offset_sql(g("zone")),
    )


# The columns `parts_select` adds, and the Parts over them.
_COLUMNS = Parts(
    year="_ty",
    month="_tmo",
    day="_td",
    hour="_th",
    minute="_tmi",
    second="_ts",
    frac_ns="_tf",
    offset_s="_toff",
    epoch_ns="_tep",
)


def parts_select(parts: Parts) -> str:
    """A select list computing `parts` once each as columns (`COLUMN_PARTS` reads them): the
    conversion reads every part several times, and DuckDB would evaluate the expression each time."""
    return ", ".join(
        f"{getattr(parts, f)} AS {getattr(_COLUMNS, f)}"
        for f in ("year", "month", "day", "hour", "minute", "second", "frac_ns", "offset_s", "epoch_ns")
    )


COLUMN_PARTS = _COLUMNS


def fast_ns_sql(text: str) -> str:
    """SQL reading the commonest layouts (ISO/RFC 3339 with `.` or `,` fractions of up to 6 digits,
    Apache's `dd/Mmm/yyyy:hh:mm:ss +zzzz`) by DuckDB's own casts, at a fraction of the scanner's
    cost (and of its SQL: DuckDB spends ~3 ms binding each KB of expression, per chunk); NULL for
    the rest, which the scanner reads. Naive times are UTC here: use it only when that is the zone."""
    iso = (
        f"regexp_matches({text}, '^\\d{{4}}-\\d\\d-\\d\\d[T ]\\d\\d:\\d\\d') "
        f"AND NOT regexp_matches({text}, '[.,]\\d{{7}}')"
    )
    clf = f"regexp_matches({text}, '^\\d\\d/[A-Za-z]{{3}}/\\d{{4}}:')"
    return (
        f"CASE WHEN {iso} THEN try(epoch_ns(try_cast(replace({text}, ',', '.') AS TIMESTAMPTZ))) "
        f"WHEN {clf} THEN try(epoch_ns(try_strptime({text}, '%d/%b/%Y:%H:%M:%S %z'))) END"
    )


def ns_sql(parts: Parts, ref_ns: str, zone: str) -> str:
    """SQL giving BIGINT UTC nanoseconds of `parts` (NULL when they are no valid time).

    `ref_ns` is the reference instant for a missing year (the year that puts the date at most a day
    after it), `zone` the IANA zone of naive times."""
    ref_date = f"CAST(make_timestamp({ref_ns} // 1000) AS DATE)"
    ref_year = f"year({ref_date})"
    year = (
        f"CASE WHEN {parts.year} IS NOT NULL THEN {parts.year} "
        f"WHEN try(make_date({ref_year}, {parts.month}, {parts.day})) > {ref_date} + 1 THEN {ref_year} - 1 "
        f"ELSE {ref_year} END"
    )
    naive = (
        f"epoch_ns(try(make_timestamp({year}, {parts.month}, {parts.day}, {parts.hour}, {parts.minute}, 0)))"
    )
    zoned = (
        f"epoch_ns(try(make_timestamptz({year}, {parts.month}, {parts.day}, {parts.hour}, {parts.minute}, "
        f"0, {zone})))"
    )
    local = f"CASE WHEN {zone} = 'UTC' THEN {naive} ELSE {zoned} END"
    seconds = f"CAST({parts.second} AS BIGINT) * 1000000000 + {parts.frac_ns}"
    civil = (
        f"(CASE WHEN {parts.offset_s} IS NOT NULL "
        f"THEN {naive} - CAST({parts.offset_s} AS BIGINT) * 1000000000 ELSE {local} END + {seconds})"
    )
    epoch = (
        f"CASE WHEN {parts.epoch_ns} BETWEEN {_EPOCH_MIN_S * 10**9} AND {_EPOCH_MAX_S * 10**9} "
        f"THEN {parts.epoch_ns} END"
    )
    return (
        f"CASE WHEN {parts.epoch_ns} IS NOT NULL THEN {epoch} "
        f"WHEN {parts.month} IS NULL OR {parts.day} IS NULL OR {parts.hour} IS NULL "
        f"OR {parts.minute} IS NULL THEN NULL "
        f"WHEN {parts.year} IS NOT NULL AND {parts.year} NOT BETWEEN {MIN_YEAR} AND {MAX_YEAR} THEN NULL "
        f"ELSE {civil} END"
    )
