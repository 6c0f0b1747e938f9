"""Tests for the query-language parser and printer: every syntax form to its exact AST, precedence and
flattening, syntax errors with their exact position / found / expected, and the round trip
`parse(to_text(q)) == q` over random canonical trees."""

from __future__ import annotations

import pickle
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from log_analytics_engine.errors import QueryError, QuerySyntaxError
from log_analytics_engine.model import normalize_level, tokenize
from log_analytics_engine.query.ast import (
    And,
    Compare,
    Exists,
    FieldEq,
    FieldIn,
    Fields,
    Limit,
    MatchAll,
    Node,
    Not,
    Offset,
    Or,
    Phrase,
    Pipe,
    Prefix,
    Query,
    Regex,
    RelativeTime,
    Sort,
    StatFunc,
    Stats,
    TimeBucket,
    TimeRange,
    Top,
    Uniq,
    Word,
)
from log_analytics_engine.query.parser import parse, parse_filter
from log_analytics_engine.query.printer import to_text

NS = 1_000_000_000
MINUTE = 60 * NS
T11 = 1_753_095_600 * NS  # 2025-07-21T11:00:00Z
T12 = 1_753_099_200 * NS  # 2025-07-21T12:00:00Z
W = Word

# -- every filter form --------------------------------------------------------------------------------

FILTER_CASES: list[tuple[str, Node]] = [
    ("", MatchAll()),
    ("   ", MatchAll()),
    ("*", MatchAll()),
    ("error", W("error")),
    ("Error", W("error")),
    ("db-1", Phrase(("db", "1"))),
    ('"connection refused"', Phrase(("connection", "refused"))),
    ("'connection refused'", Phrase(("connection", "refused"))),
    ('"Timeout"', W("timeout")),
    (r'"say \"hi\""', Phrase(("say", "hi"))),
    (r"'it\'s'", Phrase(("it", "s"))),
    ('"and"', W("and")),
    ("err*", Prefix("message", "err")),
    ("ERR*", Prefix("message", "err")),
    ('"Err"*', Prefix("message", "err")),
    ("and*", Prefix("message", "and")),
    ("blk_*", Prefix("message", "blk_")),
    ("req-12*", Prefix("message", "req-12")),
    ("DB-*", Prefix("message", "db-")),
    ("-req-12*", Not(Prefix("message", "req-12"))),
    ("message:_x-1*", Prefix("message", "_x-1")),
    ('~"time(d )?out"', Regex("message", "time(d )?out")),
    (r'~"\d+ms"', Regex("message", r"\d+ms")),
    (r'~"a\\b"', Regex("message", r"a\b")),
    ("~timeout", Regex("message", "timeout")),
    ("level:ERROR", FieldEq("level", "ERROR")),
    ("level:error", FieldEq("level", "ERROR")),
    ("level:warning", FieldEq("level", "WARN")),
    ('level:"critical"', FieldEq("level", "FATAL")),
    ("level: warn", FieldEq("level", "WARN")),
    ("level:in(error, warning, fatal)", FieldIn("level", ("ERROR", "WARN", "FATAL"))),
    ("level:err*", Prefix("level", "ERR")),
    ("source:db", FieldEq("source", "db")),
    ("tags:payments", FieldEq("tags", "payments")),
    ("user_id:42", FieldEq("user_id", 42)),
    ('user_id:"42"', FieldEq("user_id", "42")),
    ("x:-5", FieldEq("x", -5)),
    ("x:1.5", FieldEq("x", 1.5)),
    ("x:1e3", FieldEq("x", 1000.0)),
    ("x:1e999", FieldEq("x", "1e999")),
    ("x:1_000", FieldEq("x", "1_000")),
    ("x:a:b", FieldEq("x", "a:b")),
    ('x:"a b"', FieldEq("x", "a b")),
    ('x:""', Not(Exists("x"))),
    ('x:in("", a)', Or((Not(Exists("x")), FieldIn("x", ("a",))))),
    ("tags:''", Not(Exists("tags"))),
    ('message:""', Not(Exists("message"))),
    ('level:""', Not(Exists("level"))),
    ("x:in", FieldEq("x", "in")),
    ("metadata.region:eu", FieldEq("metadata.region", "eu")),
    ("region:eu", FieldEq("region", "eu")),
    ("not:5", FieldEq("not", 5)),
    ('x:in(a, "b c", 3, 2.5)', FieldIn("x", ("a", "b c", 3, 2.5))),
    ("x:IN()", FieldIn("x", ())),
    ("severity:>=40", Compare("severity", ">=", 40.0)),
    ("severity:>40", Compare("severity", ">", 40.0)),
    ("severity:>=WARN", Compare("severity", ">=", 30.0)),
    ("severity:<warning", Compare("severity", "<", 30.0)),
    ("severity:ERROR", FieldEq("severity", 40)),
    ('severity:"critical"', FieldEq("severity", 50)),
    ("severity:in(trace, 10, Info)", FieldIn("severity", (0, 10, 20))),
    ("severity:40", FieldEq("severity", 40)),
    ("duration_ms:<500", Compare("duration_ms", "<", 500.0)),
    ("duration_ms:<= -1.5e3", Compare("duration_ms", "<=", -1500.0)),
    ("field:*", Exists("field")),
    ("tags:*", Exists("tags")),
    ('x:~"^a.*z$"', Regex("x", "^a.*z$")),
    ("source:db*", Prefix("source", "db")),
    ('source:"db 1"*', Prefix("source", "db 1")),
    ("message:error", W("error")),
    ('msg:"a b"', Phrase(("a", "b"))),
    ("_msg:Err*", Prefix("message", "err")),
    ('message:~"x+"', Regex("message", "x+")),
    ("message:*", Exists("message")),
    ("message:42", W("42")),
    ('message:in(a, "b c")', Or((W("a"), Phrase(("b", "c"))))),
    ("message:in(a)", W("a")),
    ("_time:15m", RelativeTime(15 * MINUTE)),
    ("_time:90s", RelativeTime(90 * NS)),
    ("_time:1h", RelativeTime(60 * MINUTE)),
    ("_time:2d", RelativeTime(2 * 86_400 * NS)),
    ("_time:1w", RelativeTime(7 * 86_400 * NS)),
    ("timestamp:5m", RelativeTime(5 * MINUTE)),
    ("_time:*", Exists("_time")),
    ("_time:[2025-07-21T11:00:00Z, 2025-07-21T12:00:00Z)", TimeRange(T11, T12, include_end=False)),
    ("_time:[2025-07-21T11:00:00Z, 2025-07-21T12:00:00Z]", TimeRange(T11, T12)),
    ("_time:(2025-07-21T11:00:00Z,2025-07-21T12:00:00Z]", TimeRange(T11, T12, include_start=False)),
    (
        '_time:( "2025-07-21T11:00:00Z" , 2025-07-21T14:00:00+02:00 )',
        TimeRange(T11, T12, include_end=False, include_start=False),
    ),
    ("_time:>2025-07-21T11:00Z", TimeRange(start=T11, include_start=False)),
    ("_time:>=2025-07-21T11:00:00.000Z", TimeRange(start=T11)),
    ("_time:<2025-07-21T12:00:00Z", TimeRange(end=T12, include_end=False)),
    ('_time:<="2025-07-21 12:00:00"', TimeRange(end=T12)),
    ("timestamp:>=2025-07-21T11:00:00Z", TimeRange(start=T11)),
]

PRECEDENCE_CASES: list[tuple[str, Node]] = [
    ("a b c", And((W("a"), W("b"), W("c")))),
    ("a AND b and c", And((W("a"), W("b"), W("c")))),
    ("a OR b or c", Or((W("a"), W("b"), W("c")))),
    ("a b OR c", Or((And((W("a"), W("b"))), W("c")))),
    ("a OR b c", Or((W("a"), And((W("b"), W("c")))))),
    ("a (b OR c)", And((W("a"), Or((W("b"), W("c")))))),
    ("(a b) c", And((W("a"), W("b"), W("c")))),
    ("a OR (b OR c)", Or((W("a"), W("b"), W("c")))),
    ("((a))", W("a")),
    ("NOT a b", And((Not(W("a")), W("b")))),
    ("not a or b", Or((Not(W("a")), W("b")))),
    ("NOT (a OR b)", Not(Or((W("a"), W("b"))))),
    ("-a !b", And((Not(W("a")), Not(W("b"))))),
    ("--a", Not(Not(W("a")))),
    ("NOT NOT a", Not(Not(W("a")))),
    ("-level:error", Not(FieldEq("level", "ERROR"))),
    ('-"a b"', Not(Phrase(("a", "b")))),
    ("-(a b)", Not(And((W("a"), W("b"))))),
    ("-*", Not(MatchAll())),
    ("a *", And((W("a"), MatchAll()))),
    ("x:in(a) message:in(b, c) OR d", Or((And((FieldIn("x", ("a",)), Or((W("b"), W("c"))))), W("d")))),
    ("message:in(a, b) OR c", Or((W("a"), W("b"), W("c")))),
    ("a(b)", And((W("a"), W("b")))),
]

QUERY_CASES: list[tuple[str, Query]] = [
    ("error | limit 5", Query(W("error"), (Limit(5),))),
    ("| limit 5", Query(MatchAll(), (Limit(5),))),
    ("* | offset 100", Query(MatchAll(), (Offset(100),))),
    ("a OR b | limit 1", Query(Or((W("a"), W("b"))), (Limit(1),))),
    ("| sort by (_time desc)", Query(MatchAll(), (Sort((("_time", True),)),))),
    ("| sort by (a desc, b asc, c)", Query(MatchAll(), (Sort((("a", True), ("b", False), ("c", False))),))),
    ("| SORT BY timestamp DESC", Query(MatchAll(), (Sort((("_time", True),)),))),
    ("| sort by x", Query(MatchAll(), (Sort((("x", False),)),))),
    ("| fields _time, level, message", Query(MatchAll(), (Fields(("_time", "level", "message")),))),
    ("| fields msg", Query(MatchAll(), (Fields(("message",)),))),
    ("| stats count()", Query(MatchAll(), (Stats((), (StatFunc("count"),)),))),
    (
        "| stats by (source) count() as n, count_uniq(user_id), sum(x), avg(x), min(x), max(x), "
        "quantile(0.99, x)",
        Query(
            MatchAll(),
            (
                Stats(
                    ("source",),
                    (
                        StatFunc("count", (), "n"),
                        StatFunc("count_uniq", ("user_id",)),
                        StatFunc("sum", ("x",)),
                        StatFunc("avg", ("x",)),
                        StatFunc("min", ("x",)),
                        StatFunc("max", ("x",)),
                        StatFunc("quantile", (0.99, "x")),
                    ),
                ),
            ),
        ),
    ),
    (
        "| stats by (_time:1m, level) count()",
        Query(MatchAll(), (Stats((TimeBucket(MINUTE), "level"), (StatFunc("count"),)),)),
    ),
    (
        "| STATS BY source COUNT() AS N, Quantile(1, x)",
        Query(
            MatchAll(), (Stats(("source",), (StatFunc("count", (), "N"), StatFunc("quantile", (1.0, "x")))),)
        ),
    ),
    (
        "| stats by (timestamp:2h) sum(x)",
        Query(MatchAll(), (Stats((TimeBucket(120 * MINUTE),), (StatFunc("sum", ("x",)),)),)),
    ),
    ("| top 5 by (source)", Query(MatchAll(), (Top(5, ("source",)),))),
    ("| top by (source, level)", Query(MatchAll(), (Top(10, ("source", "level")),))),
    ("| top 3 by source", Query(MatchAll(), (Top(3, ("source",)),))),
    ("| uniq by (user_id)", Query(MatchAll(), (Uniq(("user_id",)),))),
    (
        "level:error | sort by (_time desc) | limit 50 | offset 100 | fields _time, level",
        Query(
            FieldEq("level", "ERROR"),
            (Sort((("_time", True),)), Limit(50), Offset(100), Fields(("_time", "level"))),
        ),
    ),
]


@pytest.mark.parametrize(("text", "expected"), FILTER_CASES + PRECEDENCE_CASES)
def test_filter_forms(text: str, expected: Node) -> None:
    """Each filter form parses to exactly this AST, alone and as a pipe-less query."""
    assert parse_filter(text) == expected
    assert parse(text) == Query(expected)


@pytest.mark.parametrize(("text", "expected"), QUERY_CASES)
def test_query_forms(text: str, expected: Query) -> None:
    """Each pipe form parses to exactly this Query."""
    assert parse(text) == expected


@pytest.mark.parametrize(
    "text", [t for t, _ in FILTER_CASES + PRECEDENCE_CASES] + [t for t, _ in QUERY_CASES]
)
def test_printed_table_reparses_and_is_stable(text: str) -> None:
    """Printing a parsed query gives text that parses to the same query and prints the same again."""
    query = parse(text)
    printed = to_text(query)
    assert parse(printed) == query
    assert repr(parse(printed)) == repr(query)
    assert to_text(parse(printed)) == printed


@pytest.mark.parametrize(
    ("item", "text"),
    [
        (MatchAll(), "*"),
        (W("and"), '"and"'),
        (W("in"), '"in"'),
        (Phrase(("db", "1")), '"db 1"'),
        (Prefix("message", "err"), "err*"),
        (Prefix("source", "a b"), 'source:"a b"*'),
        (Regex("message", r"\d+"), r'~"\d+"'),
        (Regex("x", 'a"b\\'), r'x:~"a\"b\\"'),
        (FieldEq("user_id", "42"), 'user_id:"42"'),
        (FieldEq("user_id", 42), "user_id:42"),
        (FieldEq("x", 5.0), "x:5.0"),
        (FieldEq("x", "not"), 'x:"not"'),
        (FieldEq("x", ""), 'x:""'),
        (FieldEq("x", "it's"), 'x:"it\'s"'),
        (FieldIn("level", ("ERROR", "WARN")), "level:in(ERROR, WARN)"),
        (Compare("severity", ">=", 40.0), "severity:>=40"),
        (Compare("x", "<", 0.5), "x:<0.5"),
        (RelativeTime(15 * MINUTE), "_time:15m"),
        (RelativeTime(90 * NS), "_time:90s"),
        (RelativeTime(14 * 86_400 * NS), "_time:2w"),
        (TimeRange(T11, T12, include_end=False), "_time:[2025-07-21T11:00:00Z, 2025-07-21T12:00:00Z)"),
        (TimeRange(start=T11 + NS // 2, include_start=False), "_time:>2025-07-21T11:00:00.500Z"),
        (TimeRange(end=T12), "_time:<=2025-07-21T12:00:00Z"),
        (Or((And((W("a"), W("b"))), W("c"))), "a b OR c"),
        (And((Or((W("a"), W("b"))), Not(W("c")))), "(a OR b) -c"),
        (Not(Or((W("a"), W("b")))), "-(a OR b)"),
        (Query(MatchAll(), (Limit(5),)), "* | limit 5"),
        (
            Query(W("a"), (Stats((TimeBucket(60 * MINUTE), "level"), (StatFunc("count", (), "n"),)),)),
            "a | stats by (_time:1h, level) count() as n",
        ),
        (
            Query(W("a"), (Sort((("x", True), ("y", False))), Top(10, ("s",)))),
            "a | sort by (x desc, y) | top 10 by (s)",
        ),
    ],
)
def test_printer_canonical_text(item: Node | Query, text: str) -> None:
    """The printer's canonical text: quotes only where needed, numbers typed, largest time unit, minimal
    parentheses."""
    assert to_text(item) == text


def test_printer_refuses_what_text_cannot_say() -> None:
    """A relative time or bucket that is not a whole number of seconds has no query text."""
    with pytest.raises(ValueError, match="whole number of seconds"):
        to_text(RelativeTime(1_500))
    with pytest.raises(ValueError, match="whole number of seconds"):
        to_text(Query(MatchAll(), (Stats((TimeBucket(NS // 2),), (StatFunc("count"),)),)))


# -- errors -------------------------------------------------------------------------------------------

PIPES_EXPECTED = "a pipe (fields, limit, offset, sort, stats, top, uniq)"
TIME_EXPECTED = "a relative time like 15m, a range like [T1, T2) or a comparison like >T"
SEVERITY_EXPECTED = "a number or a level name (TRACE, DEBUG, INFO, NOTICE, WARN, ERROR, FATAL) for severity"

ERROR_CASES: list[tuple[str, int, str, str]] = [
    # text, position, found, expected
    ("(error timeout", 14, "end of query", "')'"),
    ("level:error (a OR (b c)", 23, "end of query", "')'"),
    ("(a | limit 5)", 3, "|", "')'"),
    ("a )", 2, ")", "'|' or end of query"),
    ("()", 1, ")", "a term"),
    ("a AND", 5, "end of query", "a term"),
    ("a OR OR b", 5, "OR", "a term"),
    ("NOT", 3, "end of query", "a term"),
    ("AND a", 0, "AND", "a term"),
    ("---", 2, "-", "a word with letters or digits"),
    ('""', 0, '""', "a word with letters or digits"),
    ("message:--", 8, "--", "a word with letters or digits"),
    ("_-*", 0, "_-", "a prefix of letters, digits, '_' and '-'"),
    ('"abc', 0, '"abc', "closing '\"'"),
    ("x:'abc", 2, "'abc", 'closing "\'"'),
    (r'a "b\"', 2, r'"b\"', "closing '\"'"),
    ("a |", 3, "end of query", PIPES_EXPECTED),
    ("a | limit 5 |", 13, "end of query", PIPES_EXPECTED),
    ("a | foo", 4, "foo", PIPES_EXPECTED),
    ("a | limit x", 10, "x", "a non-negative integer"),
    ("a | limit 5 6", 12, "6", "'|' or end of query"),
    ("a | offset", 10, "end of query", "a non-negative integer"),
    ("a | sort (x)", 9, "(", "'by'"),
    ("a | sort by (x desc", 19, "end of query", "',' or ')'"),
    ("a | fields", 10, "end of query", "a field name"),
    ("a | top x by (s)", 8, "x", "a count or 'by'"),
    ("a | uniq by ()", 13, ")", "a field name"),
    ("a | stats", 9, "end of query", "a stats function (avg, count, count_uniq, max, min, quantile, sum)"),
    (
        "a | stats median(x)",
        10,
        "median",
        "a stats function (avg, count, count_uniq, max, min, quantile, sum)",
    ),
    ("a | stats count(x)", 16, "x", "')'"),
    ("a | stats sum()", 14, ")", "a field name"),
    ("a | stats quantile(1.5, x)", 19, "1.5", "a quantile level between 0 and 1"),
    ("a | stats by (source:1m) count()", 14, "source", "'_time' before a bucket step"),
    ("a | stats by (_time:1w) count()", 20, "1w", "a bucket step like 1m"),
    ("a | stats count() as", 20, "end of query", "a column name"),
    ("_time:>2025-13-01T00:00:00Z", 7, "2025-13-01T00:00:00Z", "an RFC 3339 timestamp"),
    ('_time:<"yesterday"', 7, '"yesterday"', "an RFC 3339 timestamp"),
    ("_time:>", 7, "end of query", "an RFC 3339 timestamp"),
    ("_time:[2025-07-21T11:00:00Z 2025-07-21T12:00:00Z)", 28, "2025-07-21T12:00:00Z", "','"),
    ("_time:[2025-07-21T11:00:00Z, 2025-07-21T12:00:00Z", 49, "end of query", "']' or ')'"),
    ("_time:15x", 6, "15x", TIME_EXPECTED),
    ("_time:0m", 6, "0m", TIME_EXPECTED),
    ("_time:in(a)", 6, "in", TIME_EXPECTED),
    ('x:~"(a"', 3, '"(a"', "a valid regular expression (missing ))"),
    ('~"a)"', 1, '"a)"', "a valid regular expression (unexpected ))"),
    ('~"(?<=a)b"', 1, '"(?<=a)b"', "a regular expression without look-around (RE2)"),
    ('~"a(?!b)"', 1, '"a(?!b)"', "a regular expression without look-around (RE2)"),
    (r'~"(a)\1"', 1, r'"(a)\1"', "a regular expression without backreferences (RE2)"),
    ('~"(?P<x>a)(?P=x)"', 1, '"(?P<x>a)(?P=x)"', "a regular expression without backreferences (RE2)"),
    ("x:", 2, "end of query", "a value"),
    ("x:)", 2, ")", "a value"),
    ("x:in(a b)", 7, "b", "',' or ')'"),
    ("x:in(a,", 7, "end of query", "a value"),
    ("message:in()", 11, ")", "a value"),
    ("severity:>abc", 10, "abc", SEVERITY_EXPECTED),
    ("severity:>=1e999", 11, "1e999", SEVERITY_EXPECTED),
    ("severity:BOGUS", 9, "BOGUS", SEVERITY_EXPECTED),
    ("severity:in(ERROR, loud)", 19, "loud", SEVERITY_EXPECTED),
    ("x:>abc", 3, "abc", "a number"),
    ("1a:b", 0, "1a", "a field name"),
    ("(" * 101 + "a" + ")" * 101, 100, "(", "at most 100 nested groups or negations"),
]


@pytest.mark.parametrize(("text", "position", "found", "expected"), ERROR_CASES)
def test_syntax_errors(text: str, position: int, found: str, expected: str) -> None:
    """A bad query raises QuerySyntaxError at the offending token, saying what it found and expected."""
    with pytest.raises(QuerySyntaxError) as info:
        parse(text)
    err = info.value
    assert (err.position, err.found, err.expected) == (position, found, expected)
    assert str(err) == f"expected {expected} at {position}, found {found}"


def test_regex_classes_and_escapes_are_not_look_around() -> None:
    """Look-around and backreference checks skip character classes and escaped parentheses."""
    assert parse_filter(r'~"[(?=]x"') == Regex("message", "[(?=]x")
    assert parse_filter(r'~"\(?=x"') == Regex("message", r"\(?=x")
    assert parse_filter(r'~"[]1]\\\\1"') == Regex("message", r"[]1]\\1")


def test_parse_filter_refuses_pipes() -> None:
    """parse_filter takes a filter only: a pipe is a syntax error at the `|`."""
    with pytest.raises(QuerySyntaxError) as info:
        parse_filter("error | limit 5")
    assert (info.value.position, info.value.found, info.value.expected) == (6, "|", "end of filter")


def test_syntax_error_is_a_query_error() -> None:
    """QuerySyntaxError is a QueryError (HTTP 400), keeps its parts, and survives pickling."""
    err = QuerySyntaxError("')'", 23, "end of query")
    assert isinstance(err, QueryError)
    assert err.status == 400
    assert str(err) == "expected ')' at 23, found end of query"
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.expected, copy.position, copy.found, str(copy)) == ("')'", 23, "end of query", str(err))


def test_long_found_text_is_shortened() -> None:
    """A huge offending token is cut to 40 characters in the error."""
    with pytest.raises(QuerySyntaxError) as info:
        parse('"' + "x" * 500)
    assert info.value.found == '"' + "x" * 36 + "..."


# -- round trip over random canonical trees --------------------------------------------------------

MIN_TS = -62_135_596_800 * NS  # 0001-01-01T00:00:00Z
MAX_TS = 253_402_300_800 * NS - 1  # the last ns of 9999
RESERVED = {"_time", "timestamp", "msg", "_msg", "message", "level"}

tokens = st.one_of(
    st.sampled_from(["and", "or", "not", "in", "error", "42", "15m"]),
    st.text(st.characters(categories=("L", "N")), min_size=1, max_size=6).map(str.lower),
).filter(lambda t: tokenize(t) == [t])
field_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,6}", fullmatch=True).filter(
    lambda f: f not in RESERVED
)
pipe_fields = st.one_of(st.sampled_from(["_time", "message", "level", "by", "desc", "as"]), field_names)
texts = st.text(max_size=8)
finite = st.floats(allow_nan=False, allow_infinity=False)
# `field:""` parses to "empty or absent" (NOT field:*), so the parser makes no FieldEq of ""
scalars = st.one_of(st.integers(-(10**20), 10**20), finite, texts.filter(bool))
levels = texts.map(normalize_level).filter(lambda v: normalize_level(v) == v)
patterns = st.one_of(
    st.sampled_from([r"time(d )?out", r"^\d+ms$", r"(?i)err", r"[\]\\]", "a|b"]), texts.map(re.escape)
)
timestamps = st.integers(MIN_TS, MAX_TS)
ops = st.sampled_from([">", ">=", "<", "<="])


def _time_range(start: int | None, end: int | None, include_start: bool, include_end: bool) -> TimeRange:
    """A TimeRange in the canonical form the parser makes (unused flags at their defaults)."""
    return TimeRange(
        start,
        end,
        include_end=include_end if end is not None else True,
        include_start=include_start if start is not None else True,
    )


time_ranges = st.builds(
    _time_range,
    st.one_of(st.none(), timestamps),
    timestamps,
    st.booleans(),
    st.booleans(),
) | st.builds(_time_range, timestamps, st.none(), st.booleans(), st.booleans())
# durations up to what int64 nanoseconds hold (longer ones are syntax errors: test_long_durations)
durations = st.builds(
    lambda n, unit: RelativeTime(n * unit),
    st.integers(1, 10**6),
    st.sampled_from([NS, MINUTE, 60 * MINUTE, 86_400 * NS, 7 * 86_400 * NS]),
).filter(lambda r: r.ns <= 2**63 - 1)

leaves: st.SearchStrategy[Node] = st.one_of(
    st.just(MatchAll()),
    tokens.map(Word),
    st.lists(tokens, min_size=2, max_size=3).map(lambda ts: Phrase(tuple(ts))),
    tokens.map(lambda t: Prefix("message", t)),
    st.from_regex(r"[a-z0-9_-]{0,3}[a-z0-9][a-z0-9_-]{0,3}", fullmatch=True).map(
        lambda p: Prefix("message", p)
    ),
    st.builds(Prefix, field_names, texts),
    texts.map(str.upper).filter(lambda p: p.upper() == p).map(lambda p: Prefix("level", p)),
    st.builds(Regex, field_names | st.just("message") | st.just("level"), patterns),
    st.builds(Exists, field_names | st.sampled_from(["message", "level", "_time"])),
    st.builds(FieldEq, field_names, scalars),
    levels.map(lambda v: FieldEq("level", v)),
    st.builds(FieldIn, field_names, st.lists(scalars, max_size=3).map(tuple)),
    st.lists(levels, min_size=1, max_size=3).map(lambda vs: FieldIn("level", tuple(vs))),
    st.builds(Compare, field_names | st.just("level"), ops, finite),
    time_ranges,
    durations,
)


def _groups(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    """Not, And and Or over children, never an And directly in an And nor an Or in an Or."""
    return st.one_of(
        children.map(Not),
        st.lists(children.filter(lambda c: not isinstance(c, And)), min_size=2, max_size=3).map(
            lambda items: And(tuple(items))
        ),
        st.lists(children.filter(lambda c: not isinstance(c, Or)), min_size=2, max_size=3).map(
            lambda items: Or(tuple(items))
        ),
    )


filters = st.recursive(leaves, _groups, max_leaves=8)
steps = st.builds(
    lambda n, unit: TimeBucket(n * unit),
    st.integers(1, 1000),
    st.sampled_from([NS, MINUTE, 60 * MINUTE, 86_400 * NS]),
)
field_tuples = st.lists(pipe_fields, min_size=1, max_size=3).map(tuple)
stat_funcs = st.one_of(
    st.builds(lambda alias: StatFunc("count", (), alias), st.none() | field_names),
    st.builds(
        lambda name, field, alias: StatFunc(name, (field,), alias),
        st.sampled_from(["count_uniq", "sum", "avg", "min", "max"]),
        pipe_fields,
        st.none() | field_names,
    ),
    st.builds(
        lambda p, field, alias: StatFunc("quantile", (p, field), alias),
        st.floats(0.0, 1.0).filter(lambda p: str(p)[0] != "-"),
        pipe_fields,
        st.none() | field_names,
    ),
)
pipes: st.SearchStrategy[Pipe] = st.one_of(
    st.lists(st.tuples(pipe_fields, st.booleans()), min_size=1, max_size=3).map(
        lambda keys: Sort(tuple(keys))
    ),
    st.integers(0, 10**6).map(Limit),
    st.integers(0, 10**6).map(Offset),
    field_tuples.map(Fields),
    st.builds(
        Stats,
        st.lists(pipe_fields | steps, max_size=3).map(tuple),
        st.lists(stat_funcs, min_size=1, max_size=3).map(tuple),
    ),
    st.builds(Top, st.integers(0, 1000), field_tuples),
    field_tuples.map(Uniq),
)
queries = st.builds(Query, filters, st.lists(pipes, max_size=3).map(tuple))


@settings(max_examples=150, deadline=None)
@given(queries)
def test_round_trip_query(query: Query) -> None:
    """parse(to_text(q)) == q for random canonical queries, value types included (int stays int)."""
    text = to_text(query)
    parsed = parse(text)
    assert parsed == query, text
    assert repr(parsed) == repr(query), text


@settings(max_examples=100, deadline=None)
@given(filters)
def test_round_trip_filter(node: Node) -> None:
    """parse_filter(to_text(n)) == n for random canonical filter trees."""
    assert parse_filter(to_text(node)) == node


@pytest.mark.parametrize(
    ("text", "position"),
    [("_time:106752d", 6), ("_time:15251w", 6), ("* | stats by (_time:999999999999d) count()", 20)],
)
def test_long_durations(text: str, position: int) -> None:
    """A duration beyond what int64 nanoseconds hold (~292 years) is a syntax error at its position."""
    with pytest.raises(QuerySyntaxError) as info:
        parse(text)
    assert info.value.position == position
    assert "of at most 106751d" in str(info.value)
    assert parse("_time:106751d").filter == RelativeTime(106751 * 86_400 * NS)
