"""Tests for log_analytics_engine.timeparse: scalar parsing, formatting and the DuckDB SQL equivalent."""

from __future__ import annotations

import calendar
import datetime
import re
import time
from collections.abc import Iterator

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from log_analytics_engine.timeparse import (
    TimestampError,
    format_timestamp,
    now_ns,
    parse_timestamp,
    sql_timestamp_ns,
)

NS = 1_000_000_000
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z in ns, computed independently of the module.
MIN_NS = calendar.timegm((1, 1, 1, 0, 0, 0)) * NS
END_NS = (calendar.timegm((9999, 12, 31, 0, 0, 0)) + 86_400) * NS


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, ns: int = 0) -> int:
    """Expected nanoseconds for a UTC civil time (independent of the module under test)."""
    return calendar.timegm((y, mo, d, h, mi, s)) * NS + ns


T0 = utc(2025, 7, 21, 12)  # 2025-07-21T12:00:00Z == 1753099200 s


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection in UTC."""
    c = duckdb.connect()
    c.execute("SET TimeZone='UTC'")
    yield c
    c.close()


def sql_eval(con: duckdb.DuckDBPyConnection, values: list[str]) -> dict[str, int | None]:
    """Evaluate sql_timestamp_ns over ``values`` (as a table column) in one query."""
    rows = con.execute(
        f"SELECT v, {sql_timestamp_ns('v')} FROM (SELECT unnest(?::VARCHAR[]) AS v)", [values]
    ).fetchall()
    return {v: r for v, r in rows}


def parse_or_none(value: str) -> int | None:
    try:
        return parse_timestamp(value)
    except TimestampError:
        return None


# --- scalar parser: accepted forms ---------------------------------------------------------------------

ISO_CASES = [
    ("2025-07-21T12:00:00Z", T0),
    ("2025-07-21t12:00:00z", T0),
    ("2025-07-21 12:00:00Z", T0),
    ("2025-07-21T12:00:00", T0),
    ("2025-07-21 12:00:00", T0),
    ("2025-07-21T12:00Z", T0),
    ("2025-07-21T12:00", T0),
    ("2025-07-21", utc(2025, 7, 21)),
    ("  2025-07-21T12:00:00Z\n", T0),
    ("2025-07-21T12:00:00.5Z", T0 + 500_000_000),
    ("2025-07-21T12:00:00.123Z", T0 + 123_000_000),
    ("2025-07-21T12:00:00.140891Z", T0 + 140_891_000),
    ("2025-07-21T12:00:00.1234567Z", T0 + 123_456_700),
    ("2025-07-21T12:00:00.12345678Z", T0 + 123_456_780),
    ("2025-07-21T12:00:00.123456789Z", T0 + 123_456_789),
    ("2025-07-21T12:00:00.000000001Z", T0 + 1),
    ("2025-07-21T12:00:00.999999999Z", T0 + 999_999_999),
    ("2025-07-21 12:00:00,123", T0 + 123_000_000),
    ("2025-07-21T12:00:00,123456789Z", T0 + 123_456_789),
    ("2025-07-21T12:00:00+02:00", T0 - 2 * 3600 * NS),
    ("2025-07-21T12:00:00+0200", T0 - 2 * 3600 * NS),
    ("2025-07-21T12:00:00+02", T0 - 2 * 3600 * NS),
    ("2025-07-21T12:00:00-07:00", T0 + 7 * 3600 * NS),
    ("2025-07-21T12:00:00+05:30", T0 - (5 * 3600 + 1800) * NS),
    ("2025-07-21T12:00:00-00:00", T0),
    ("2025-07-21T12:00:00.123456789-09:45", T0 + (9 * 3600 + 45 * 60) * NS + 123_456_789),
    ("2025-07-21T12:00+01:00", T0 - 3600 * NS),
    ("2025-07-21T00:30:00+01:00", utc(2025, 7, 20, 23, 30)),
    ("1969-12-31T23:59:59.999999999Z", -1),
    ("1970-01-01T00:00:00Z", 0),
    ("0001-01-01T00:00:00Z", MIN_NS),
    ("9999-12-31T23:59:59.999999999Z", END_NS - 1),
    ("2024-02-29T00:00:00Z", utc(2024, 2, 29)),
]


@pytest.mark.parametrize(("text", "expected"), ISO_CASES)
def test_iso_forms(text: str, expected: int) -> None:
    """RFC 3339 / ISO 8601 variants parse to exact UTC nanoseconds."""
    assert parse_timestamp(text) == expected


EPOCH_CASES: list[tuple[str | int | float, int]] = [
    (1753099200, T0),
    (1753099200123, T0 + 123_000_000),
    (1753099200123456, T0 + 123_456_000),
    (1753099200123456789, T0 + 123_456_789),
    (0, 0),
    (-1, -NS),
    (99_999_999_999, 99_999_999_999 * NS),
    (100_000_000_000, 100_000_000_000 * 1_000_000),
    (1753099200.5, T0 + 500_000_000),
    (1753099200.123, T0 + 123_000_000),
    (1753099200123.0, T0 + 123_000_000),
    (1.7530992e9, T0),
    (-1.5, -1_500_000_000),
    ("1753099200", T0),
    ("1753099200.5", T0 + 500_000_000),
    ("1753099200.123456789", T0 + 123_456_789),
    ("1753099200.1234567891", T0 + 123_456_789),
    ("1753099200123", T0 + 123_000_000),
    ("1753099200123.456789", T0 + 123_456_789),
    ("1753099200123456", T0 + 123_456_000),
    ("1753099200123456.789", T0 + 123_456_789),
    ("1753099200123456789", T0 + 123_456_789),
    ("1753099200123456789.9", T0 + 123_456_789),
    ("+1753099200", T0),
    ("-1.5", -1_500_000_000),
    ("-0.5", -500_000_000),
    ("0001753099200", T0),
    ("1.7530992e9", T0),
    ("1.7530992E+12", T0),
    (" 1753099200 ", T0),
]


@pytest.mark.parametrize(("value", "expected"), EPOCH_CASES)
def test_epoch_numbers(value: str | int | float, expected: int) -> None:
    """Epoch ints, floats and numeric strings use the magnitude rule and keep string fractions exact."""
    assert parse_timestamp(value) == expected


OTHER_CASES: list[tuple[str | datetime.datetime, int]] = [
    ("10/Oct/2000:13:55:36 -0700", utc(2000, 10, 10, 20, 55, 36)),
    ("[10/Oct/2000:13:55:36 -0700]", utc(2000, 10, 10, 20, 55, 36)),
    ("01/Jan/2025:00:00:00 +0530", utc(2024, 12, 31, 18, 30)),
    ("21/Jul/2025:12:00:00 +0000", T0),
    (datetime.datetime(2025, 7, 21, 12, tzinfo=datetime.UTC), T0),
    (datetime.datetime(2025, 7, 21, 14, tzinfo=datetime.timezone(datetime.timedelta(hours=2))), T0),
    (datetime.datetime(2025, 7, 21, 12, 0, 0, 123456), T0 + 123_456_000),
    (datetime.datetime(1960, 1, 1, tzinfo=datetime.UTC), utc(1960, 1, 1)),
]


@pytest.mark.parametrize(("value", "expected"), OTHER_CASES)
def test_clf_and_datetime(value: str | datetime.datetime, expected: int) -> None:
    """Apache CLF text and aware / naive datetimes convert to UTC nanoseconds."""
    assert parse_timestamp(value) == expected


def test_date_object_is_midnight_utc() -> None:
    """A datetime.date means midnight UTC of that day."""
    assert parse_timestamp(datetime.date(2025, 7, 21)) == utc(2025, 7, 21)  # type: ignore[arg-type]


def test_fraction_orders_after_whole_second() -> None:
    """A fractional second sorts after the whole second (the old implementation got this wrong)."""
    base = parse_timestamp("2025-07-21T12:00:00Z")
    assert parse_timestamp("2025-07-21T12:00:00.500Z") > base
    assert parse_timestamp("2025-07-21T12:00:00.000000001Z") > base
    assert parse_timestamp("2025-07-21 12:00:00,001") > base
    assert parse_timestamp("2025-07-21T12:00:00.5Z") < parse_timestamp("2025-07-21T12:00:01Z")


def test_offsets_denote_the_same_instant() -> None:
    """The same instant written with different offsets parses to the same value."""
    forms = [
        "2025-07-21T12:00:00Z",
        "2025-07-21T14:00:00+02:00",
        "2025-07-21T14:00:00+0200",
        "2025-07-21T14:00:00+02",
        "2025-07-21T05:00:00-07:00",
        "2025-07-22T01:45:00+13:45",
        "21/Jul/2025:05:00:00 -0700",
    ]
    assert {parse_timestamp(f) for f in forms} == {T0}


# --- syslog ----------------------------------------------------------------------------------------------

SYSLOG_CASES = [
    # (text, now, expected)
    ("Oct 11 22:14:15", utc(2025, 12, 1), utc(2025, 10, 11, 22, 14, 15)),
    ("Oct  1 22:14:15", utc(2025, 12, 1), utc(2025, 10, 1, 22, 14, 15)),
    ("Oct 11 22:14:15.123", utc(2025, 12, 1), utc(2025, 10, 11, 22, 14, 15, 123_000_000)),
    ("Oct 11 22:14:15", utc(2025, 7, 21), utc(2024, 10, 11, 22, 14, 15)),
    # Just after New Year: December lines belong to the previous year.
    ("Dec 31 23:59:59", utc(2026, 1, 1, 0, 5), utc(2025, 12, 31, 23, 59, 59)),
    ("Jan  1 00:04:00", utc(2026, 1, 1, 0, 5), utc(2026, 1, 1, 0, 4)),
    # Up to one day ahead of now is tolerated (clock skew); further ahead means last year.
    ("Jan  1 23:00:00", utc(2026, 1, 1, 0, 5), utc(2026, 1, 1, 23)),
    ("Jan  2 00:06:00", utc(2026, 1, 1, 0, 5), utc(2025, 1, 2, 0, 6)),
    ("Dec 31 23:59:59", utc(2025, 12, 31, 23, 30), utc(2025, 12, 31, 23, 59, 59)),
    # Feb 29 goes back to the latest leap year.
    ("Feb 29 12:00:00", utc(2025, 7, 1), utc(2024, 2, 29, 12)),
]


@pytest.mark.parametrize(("text", "now", "expected"), SYSLOG_CASES)
def test_syslog_year_inference(text: str, now: int, expected: int) -> None:
    """Syslog timestamps take now's year, or the previous year if that is over a day in the future."""
    assert parse_timestamp(text, now_ns=now) == expected


def test_syslog_defaults_to_current_time() -> None:
    """Without now_ns a syslog timestamp is at most one day ahead of the current time."""
    ns = parse_timestamp("Jan  1 00:00:00")
    assert now_ns() - 366 * 86_400 * NS <= ns <= time.time_ns() + 86_400 * NS


# --- bad input -------------------------------------------------------------------------------------------

BAD_VALUES: list[object] = [
    "",
    "   ",
    "garbage",
    "2025-13-01",
    "2025-02-30T00:00:00Z",
    "2025-00-10",
    "10000-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "2025-07-21T24:00:00Z",
    "2025-07-21T12:60:00Z",
    "2025-07-21T12:00:60Z",
    "2025-07-21T12:00:00+24:00",
    "2025-07-21T12:00:00+02:60",
    "2025-07-21T12:00:00.1234567890Z",
    "2025-07-21T12:00:00.Z",
    "2025-07-21T12:00:00.12345678xZ",
    "2025-07-21T12:00:00ZZ",
    "2025-07-21T12:00:00 Z",
    "2025-07-21T12",
    "2025-7-21",
    "20250721T120000Z",
    "2025-07-21T12:00:00.١Z",
    "١٧٥٣٠٩٩٢٠٠",
    "1_753_099_200",
    "1753099200.",
    ".5",
    "1e999",
    "nan",
    "inf",
    "32/Oct/2000:13:55:36 -0700",
    "10/Foo/2000:13:55:36 -0700",
    "[10/Oct/2000:13:55:36 -0700",
    "10/Oct/2000:13:55:36 -2400",
    "Foo 11 22:14:15",
    "Oct 32 22:14:15",
    True,
    False,
    None,
    float("nan"),
    float("inf"),
    10**30,
    -(10**30),
    1e30,
    b"2025-07-21",
]


@pytest.mark.parametrize("value", BAD_VALUES)
def test_bad_input_raises_naming_value(value: object) -> None:
    """Anything that is not a timestamp raises TimestampError naming the value."""
    with pytest.raises(TimestampError) as info:
        parse_timestamp(value)  # type: ignore[arg-type]
    assert str(info.value).startswith(f"cannot parse timestamp {value!r}: ")
    assert isinstance(info.value, ValueError)


def test_error_message_truncates_huge_values() -> None:
    """The error message stays short for very long input."""
    with pytest.raises(TimestampError, match="cannot parse timestamp 'xxxx") as info:
        parse_timestamp("x" * 10_000)
    assert len(str(info.value)) < 200


# --- format ----------------------------------------------------------------------------------------------

FORMAT_CASES = [
    (T0, "2025-07-21T12:00:00Z"),
    (T0 + 500_000_000, "2025-07-21T12:00:00.500Z"),
    (T0 + 123_456_000, "2025-07-21T12:00:00.123456Z"),
    (T0 + 1, "2025-07-21T12:00:00.000000001Z"),
    (T0 + 123_456_780, "2025-07-21T12:00:00.123456780Z"),
    (0, "1970-01-01T00:00:00Z"),
    (-1, "1969-12-31T23:59:59.999999999Z"),
    (MIN_NS, "0001-01-01T00:00:00Z"),
    (END_NS - 1, "9999-12-31T23:59:59.999999999Z"),
]


@pytest.mark.parametrize(("ns", "expected"), FORMAT_CASES)
def test_format_timestamp(ns: int, expected: str) -> None:
    """format_timestamp writes RFC 3339 UTC with the shortest exact 3/6/9-digit fraction."""
    assert format_timestamp(ns) == expected


@pytest.mark.parametrize("ns", [MIN_NS - 1, END_NS, 10**30])
def test_format_out_of_range_raises(ns: int) -> None:
    """format_timestamp rejects instants outside years 1-9999."""
    with pytest.raises(ValueError, match="outside"):
        format_timestamp(ns)


FORMAT_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.(\d{3}|\d{6}|\d{9}))?Z")


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=MIN_NS, max_value=END_NS - 1))
def test_format_parse_round_trip(ns: int) -> None:
    """parse_timestamp(format_timestamp(n)) == n over the whole supported range."""
    text = format_timestamp(ns)
    assert FORMAT_RE.fullmatch(text)
    assert parse_timestamp(text) == ns


# --- SQL -------------------------------------------------------------------------------------------------

SQL_VALUE_CASES = [text for text, _ in ISO_CASES if 1700 < int(text.strip()[:4]) < 2200] + [
    "1753099200",
    "1753099200.5",
    "1753099200.1234567891",
    "1753099200123",
    "1753099200123.456789",
    "1753099200123456",
    "1753099200123456.789",
    "1753099200123456789",
    "1753099200123456789.9",
    "-1.5",
    "-0.5",
    "0",
    "-1",
    "0001753099200",
    "9223372035",
    "9223372035.999999999",
    "-9223372035.999999999",
    "9223372036854775807",
    "-9223372036854775808",
    "10/Oct/2000:13:55:36 -0700",
    "[10/Oct/2000:13:55:36 -0700]",
    " [10/Oct/2000:13:55:36 -0700] ",
    "\t1753099200.5\r\n",
    "2261-12-31T23:59:59.999999999-23:59",
    "1678-01-01T00:00:00+23:59",
]

SQL_NULL_CASES = [
    "Oct 11 22:14:15",
    "1.7530992e9",
    "+1753099200",
    "9999-12-31T23:59:59Z",
    "1600-01-01T00:00:00Z",
    "2262-01-01T00:00:00Z",
    "9223372036854775808",
    "-9223372036854775809",
    "99999999999",
    "99999999999999",
    "99999999999999999",
    "10/Oct/1600:13:55:36 -0700",
    "\x0b2025-07-21T12:00:00Z",
    *(v for v in BAD_VALUES if isinstance(v, str)),
]


def test_sql_matches_scalar_on_examples(con: duckdb.DuckDBPyConnection) -> None:
    """The SQL expression equals parse_timestamp on every supported example form."""
    got = sql_eval(con, SQL_VALUE_CASES)
    for text in SQL_VALUE_CASES:
        assert got[text] is not None, text
        assert got[text] == parse_timestamp(text), text


def test_sql_null_for_unsupported(con: duckdb.DuckDBPyConnection) -> None:
    """The SQL expression is NULL for syslog, exponents, BIGINT overflow and invalid strings."""
    got = sql_eval(con, SQL_NULL_CASES)
    for text in SQL_NULL_CASES:
        assert got[text] is None, text


def test_sql_null_input_and_column_type(con: duckdb.DuckDBPyConnection) -> None:
    """NULL input gives NULL, and the result type is BIGINT."""
    row = con.execute(
        f"SELECT {sql_timestamp_ns('v')}, typeof({sql_timestamp_ns('v')}) FROM (SELECT NULL::VARCHAR AS v)"
    ).fetchone()
    assert row == (None, "BIGINT")


@st.composite
def rendered_timestamps(draw: st.DrawFn) -> tuple[str, int]:
    """A random instant rendered in one supported text form, with its exact expected ns."""
    kind = draw(st.sampled_from(["iso", "iso", "iso", "epoch", "clf"]))
    if kind == "epoch":
        # |t| >= 1e8 s keeps every unit's magnitude unambiguous.
        secs = draw(st.integers(100_000_000, 9_000_000_000) | st.integers(-9_000_000_000, -100_000_000))
        ns = secs * NS + draw(st.integers(0, NS - 1)) * (1 if secs > 0 else -1)
        sign, mag = ("-" if ns < 0 else ""), abs(ns)
        unit_ns, width = draw(st.sampled_from([(NS, 9), (1_000_000, 6), (1_000, 3), (1, 0)]))
        whole, rest = divmod(mag, unit_ns)
        k = draw(st.integers(0, width))
        text = f"{sign}{whole}"
        frac_ns = 0
        if k:
            digits = f"{rest:0{width}d}"[:k]
            text += "." + digits
            frac_ns = int(digits) * 10 ** (width - k) * (unit_ns // 10**width)
        return text, (-1 if sign else 1) * (whole * unit_ns + frac_ns)
    y = draw(st.integers(1700, 2250))
    mo = draw(st.integers(1, 12))
    d = draw(st.integers(1, calendar.monthrange(y, mo)[1]))
    h, mi, s = draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 59))
    off_min = draw(st.integers(-(23 * 60 + 59), 23 * 60 + 59))
    osign, oabs = ("-" if off_min < 0 else "+"), abs(off_min)
    if kind == "clf":
        offset = f"{osign}{oabs // 60:02d}{oabs % 60:02d}"
        text = f"{d:02d}/{MONTHS[mo - 1]}/{y:04d}:{h:02d}:{mi:02d}:{s:02d} {offset}"
        if draw(st.booleans()):
            text = f"[{text}]"
        return text, utc(y, mo, d, h, mi, s) - off_min * 60 * NS
    precision = draw(st.sampled_from(["date", "minutes", "seconds", "fraction", "fraction"]))
    if precision == "date":
        return f"{y:04d}-{mo:02d}-{d:02d}", utc(y, mo, d)
    sep = draw(st.sampled_from("Tt "))
    text = f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}"
    frac_ns = 0
    if precision == "minutes":
        s = 0
    else:
        text += f":{s:02d}"
        if precision == "fraction":
            k = draw(st.integers(1, 9))
            digits = "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=k, max_size=k)))
            text += draw(st.sampled_from(".,")) + digits
            frac_ns = int(digits) * 10 ** (9 - k)
    style = draw(st.sampled_from(["none", "Z", "z", "hh:mm", "hhmm", "hh"]))
    if style == "hh":  # whole hours only
        oabs -= oabs % 60
        off_min = -oabs if osign == "-" else oabs
    if style in ("none", "Z", "z"):
        off_min = 0
        text += "" if style == "none" else style
    elif style == "hh:mm":
        text += f"{osign}{oabs // 60:02d}:{oabs % 60:02d}"
    elif style == "hhmm":
        text += f"{osign}{oabs // 60:02d}{oabs % 60:02d}"
    else:
        text += f"{osign}{oabs // 60:02d}"
    return text, utc(y, mo, d, h, mi, s, frac_ns) - off_min * 60 * NS


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rendered_timestamps(), min_size=1, max_size=60))
def test_sql_equals_scalar_for_rendered_timestamps(
    con: duckdb.DuckDBPyConnection, cases: list[tuple[str, int]]
) -> None:
    """For random instants in every SQL-supported form, SQL == parse_timestamp == the exact expected ns."""
    got = sql_eval(con, [text for text, _ in cases])
    for text, expected in cases:
        assert parse_timestamp(text) == expected, text
        assert got[text] == expected, text


GARBAGE_ALPHABET = "0123456789-:.,TtZz+ /[]JanOctDec\t"


@st.composite
def mutated_timestamps(draw: st.DrawFn) -> str:
    """A valid rendered timestamp with one character replaced, inserted or deleted."""
    text, _ = draw(rendered_timestamps())
    i = draw(st.integers(0, len(text)))
    ch = draw(st.sampled_from(GARBAGE_ALPHABET) | st.characters())
    op = draw(st.sampled_from(["replace", "insert", "delete"]))
    if op == "insert":
        return text[:i] + ch + text[i:]
    if op == "delete":
        return text[:i] + text[i + 1 :]
    return text[:i] + ch + text[i + 1 :]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.text(max_size=40) | st.text(alphabet=GARBAGE_ALPHABET, max_size=40) | mutated_timestamps(),
        min_size=1,
        max_size=60,
    )
)
def test_sql_never_raises_and_never_disagrees(con: duckdb.DuckDBPyConnection, values: list[str]) -> None:
    """For arbitrary strings the SQL never raises, and a non-NULL result equals parse_timestamp."""
    got = sql_eval(con, values)
    for text in values:
        if got[text] is not None:
            assert got[text] == parse_or_none(text), text
