"""What a log format is: a name, how to tell its lines (an RE2 pattern anchored at the line's start),
and SQL that turns one event (its first line and any continuation lines) into the stored columns.

Most formats are declarative (`RegexFormat`): named groups of one pattern, with reserved names for
the time (`time`, scanned by `timescan`, or its parts `year` … `zone`), the level (`level`, a syslog
`pri`, an HTTP `status`), and `body` (the text after the header, where a level word may be found);
the groups listed in `source` fill the source column, and every other group is a field of the log's
metadata (numbers for the groups in `numeric`). Formats that are not one pattern (logfmt, journal
export) implement `columns_sql` themselves.

Every format is pure: SQL over relation `events(n, line)` (plus `ctx(now, ref, zone)`), no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from log_analytics_engine.ingest.formats import levels, timescan
from log_analytics_engine.ingest.formats.sqltext import q

__all__ = (
    "NIL",
    "RESERVED",
    "TIME_PARTS",
    "Columns",
    "Format",
    "RegexFormat",
    "check_field",
    "check_name",
    "group_names",
    "metadata_sql",
    "q",
)

TIME_PARTS = ("year", "month", "day", "hour", "minute", "second", "frac", "zone")
RESERVED = frozenset({"time", *TIME_PARTS, "level", "pri", "body", "thread"})
# A number JSON can hold exactly enough to be stored as one (else the field is stored as a string).
_JSON_NUMBER = r"-?(?:0|[1-9]\d{0,17})(?:\.\d{1,17})?(?:[eE][+-]?\d{1,2})?"
# A field group that matched nothing, or matched the nil value of syslog and access logs.
NIL = ("", "-")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,63}")


@dataclass(frozen=True)
class Columns:
    """SQL expressions of one event's stored columns, over a row holding `line` (the event text)."""

    ts: str  # BIGINT ns or NULL (no time: the caller counts it and fills one in)
    level: str  # raw level text, folded by `sql_level` (NULL: INFO)
    source: str
    metadata: str  # JSON object text or NULL
    message: str = "line"
    thread: str = "NULL"
    raw_ts: str = "NULL"  # the time text a format found but could not read, kept in metadata
    inner: str = "{events}"  # the relation (or subquery) the expressions read; {events} is the events


@dataclass(frozen=True)
class Format:
    """A log format: its name, what it looks like, and whether continuation lines join its events."""

    name: str
    description: str
    example: str
    pattern: str  # RE2, matched from the line's start by detection and by per-line assignment
    multiline: bool = True
    specificity: int = 0  # ties of detection go to the higher
    aliases: tuple[str, ...] = ()

    def columns_sql(self) -> Columns:
        raise NotImplementedError


def metadata_sql(pairs: Mapping[str, str], numeric: frozenset[str] = frozenset()) -> str:
    """SQL building a JSON object from field name -> text expression, leaving out nil values;
    fields in `numeric` are written as numbers when they are JSON numbers of at most 18 digits (a
    user's `%{WORD:n:int}` may capture any word), as strings otherwise."""
    parts = []
    nil = ", ".join(q(v) for v in NIL)
    for name, expr in pairs.items():
        value = (
            f"CASE WHEN regexp_full_match({expr}, {q(_JSON_NUMBER)}) THEN {expr} ELSE to_json({expr}) END"
            if name in numeric
            else f"to_json({expr})"
        )
        parts.append(f"""CASE WHEN {expr} NOT IN ({nil}) THEN {q(f'"{name}":')} || {value} END""")
    if not parts:
        return "NULL"
    return f"nullif('{{' || concat_ws(',', {', '.join(parts)}) || '}}', '{{}}')"


def group_names(pattern: str) -> tuple[str, ...]:
    """The named groups of `pattern` in group order; ValueError when a group is unnamed (DuckDB names
    groups by position, so every capturing group must carry a name)."""
    compiled = re.compile(pattern)
    if compiled.groups != len(compiled.groupindex):
        raise ValueError("every capturing group must be named, (?P<name>...), or non-capturing, (?:...)")
    return tuple(sorted(compiled.groupindex, key=compiled.groupindex.__getitem__))


@dataclass(frozen=True)
class RegexFormat(Format):
    """A format that is one pattern with named groups (see the module docstring)."""

    source: tuple[str, ...] = ()
    numeric: frozenset[str] = frozenset()
    time_layout: str | None = None  # a strptime layout for the `time` group; else the scanner reads it
    level_map: Mapping[str, str] = field(default_factory=dict)  # format-specific level words
    # groups that are another spelling of a field (alternatives of the pattern): {"pid2": "pid"};
    # the later one wins where both matched (Spring Boot's `[app] [thread]` after a `[thread]`)
    merge: Mapping[str, str] = field(default_factory=dict)
    # SQL giving the same struct of groups as the pattern from `line`, by string functions, for the
    # lines the pattern matches (RE2 pays per captured group: 11 of them cost an access log line ~3 µs,
    # splitting it at its quotes ~0.1 µs); tests check it against the pattern
    split_sql: str | None = None

    def names(self) -> tuple[str, ...]:
        return group_names(self.pattern)

    def columns_sql(self) -> Columns:
        names = self.names()
        g = "g"

        def group(name: str) -> str:
            """A group's text, with the groups merged into it (the first non-empty from the last)."""
            others = [
                f"nullif({g}.{o}, '')" for o, target in reversed(list(self.merge.items())) if target == name
            ]
            return f"coalesce({', '.join(others)}, {g}.{name})" if others else f"{g}.{name}"

        groups = (
            self.split_sql or f"regexp_extract(line, {q(self.pattern)}, [{', '.join(q(n) for n in names)}])"
        )
        extract = f"SELECT n, line, {groups} AS g"
        inner = f"({extract} FROM {{events}})"
        if "time" in names and not self.time_layout:
            # the common layouts cheaply; the scanner (~20x dearer) for the rest
            inner = (
                f"(SELECT *, CASE WHEN fast_ts IS NULL THEN {timescan.scan_sql(f'{g}.time')} END AS s FROM "
                f"(SELECT *, CASE WHEN ctx.zone = 'UTC' THEN {timescan.fast_ns_sql(f'{g}.time')} END "
                "AS fast_ts "
                f"FROM {inner}, parse_ctx AS ctx))"
            )
        if "day" in names and "time" not in names:
            parts = timescan.named_parts(g, {p: p for p in TIME_PARTS if p in names})
            inner = f"(SELECT *, {timescan.parts_select(parts)} FROM {inner})"
        elif "time" in names and not self.time_layout:
            inner = f"(SELECT *, {timescan.parts_select(timescan.scanned_parts('s'))} FROM {inner})"
        if "time" in names and self.time_layout:
            parsed = f"try_strptime({g}.time, {q(self.time_layout)})"
            ts = (
                f"CASE WHEN ctx.zone = 'UTC' OR {'true' if '%z' in self.time_layout.lower() else 'false'} "
                f"THEN epoch_ns({parsed}) ELSE epoch_ns(timezone(ctx.zone, CAST({parsed} AS TIMESTAMP))) END"
            )
        elif "time" in names:
            ts = f"coalesce(fast_ts, {timescan.ns_sql(timescan.COLUMN_PARTS, 'ctx.ref', 'ctx.zone')})"
        elif "day" in names:
            ts = timescan.ns_sql(timescan.COLUMN_PARTS, "ctx.ref", "ctx.zone")
        else:
            ts = "NULL"
        level_terms = []
        if "level" in names:
            word = f"{g}.level"
            if self.level_map:
                cases = " ".join(f"WHEN {q(k)} THEN {q(v)}" for k, v in self.level_map.items())
                word = f"CASE upper({g}.level) {cases} ELSE {g}.level END"
            level_terms.append(f"nullif({word}, '')")
        if "pri" in names:
            level_terms.append(levels.pri_sql(f"{g}.pri"))
        if "status" in names:
            level_terms.append(levels.http_status_sql(f"{g}.status"))
        if "body" in names:
            level_terms.append(levels.in_text_sql(f"{g}.body", f"{g}.body"))
        level = f"coalesce({', '.join(level_terms)})" if level_terms else "NULL"
        sources = [f"nullif(nullif({group(s)}, ''), '-')" for s in self.source if s in names]
        source = f"coalesce({', '.join(sources)}, '')" if sources else "''"
        skip = {*RESERVED, *self.source, *self.merge}
        fields = {n: group(n) for n in names if n not in skip}
        raw = f"CASE WHEN {g}.time NOT IN ('', '-') THEN {g}.time END" if "time" in names else "NULL"
        thread = f"nullif(nullif(trim({group('thread')}), ''), '-')" if "thread" in names else "NULL"
        metadata = metadata_sql(fields, self.numeric)
        return Columns(
            ts=ts, level=level, source=source, metadata=metadata, thread=thread, raw_ts=raw, inner=inner
        )


def check_name(name: str) -> None:
    """ValueError unless `name` is a format name (lower-case letters, digits, `_`; `-` allowed inside)."""
    if not _NAME.fullmatch(name.replace("-", "_")):
        raise ValueError(f"format name {name!r} must be lower-case letters, digits, '-' or '_' (at most 64)")


def check_field(name: str) -> None:
    if not _FIELD_NAME.fullmatch(name):
        raise ValueError(f"field name {name!r} must be letters, digits, '_' or '.' (at most 64)")
