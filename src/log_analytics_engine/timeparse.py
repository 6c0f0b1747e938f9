"""Timestamp parsing and formatting: log timestamp text, epoch numbers and datetimes to integer UTC
nanoseconds, RFC 3339 output, and an equivalent vectorised DuckDB SQL expression."""

from __future__ import annotations

import datetime
import re
import time

__all__ = (
    "TimestampError",
    "datetime_of",
    "format_timestamp",
    "now_ns",
    "parse_timestamp",
    "sql_timestamp_ns",
)

_NS_PER_S = 1_000_000_000
_NS_PER_DAY = 86_400 * _NS_PER_S
_EPOCH_ORDINAL = 719_163  # datetime.date(1970, 1, 1).toordinal()
# Accepted range of results: [0001-01-01T00:00:00Z, 10000-01-01T00:00:00Z).
_MIN_NS = (1 - _EPOCH_ORDINAL) * _NS_PER_DAY
_MAX_NS = (datetime.date.max.toordinal() + 1 - _EPOCH_ORDINAL) * _NS_PER_DAY
# Multiplier that pads a fraction of n digits (index n) to nanoseconds.
_FRAC_SCALE = (0, 100_000_000, 10_000_000, 1_000_000, 100_000, 10_000, 1_000, 100, 10, 1)
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MAX_ERROR_VALUE_CHARS = 120
_EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_fromisoformat = datetime.datetime.fromisoformat
# Characters at indexes 4, 7, 10, 13, 16 and 19 of the canonical forms without / with a fraction.
_FAST_SHAPES = ("--T::Z", "--T::.")

# RFC 3339 / ISO 8601 extended: date, optional time (minutes, seconds, 1-9 fraction digits) and offset.
_ISO_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]{1,9}))?)?"
    r"(?:([Zz])|([+-])([0-9]{2})(?::?([0-9]{2}))?)?)?"
)
# Decimal epoch number, optionally signed, with optional fraction and exponent.
_NUMBER_RE = re.compile(r"([+-]?)([0-9]{1,40})(?:\.([0-9]{1,40}))?(?:[eE]([+-]?[0-9]{1,2}))?")
# Apache / NCSA common log format, optionally inside [brackets].
_CLF_RE = re.compile(
    r"(\[)?([0-9]{2})/([A-Za-z]{3})/([0-9]{4}):([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r" ([+-])([0-9]{2})([0-9]{2})(?(1)\])"
)
# BSD syslog (RFC 3164) timestamp without a year.
_SYSLOG_RE = re.compile(
    r"([A-Za-z]{3}) {1,2}([0-9]{1,2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})(?:[.,]([0-9]{1,9}))?"
)


class TimestampError(ValueError):
    """A value could not be interpreted as a timestamp."""

    def __init__(self, value: object, reason: str) -> None:
        text = repr(value)
        if len(text) > _MAX_ERROR_VALUE_CHARS:
            text = text[: _MAX_ERROR_VALUE_CHARS - 3] + "..."
        super().__init__(f"cannot parse timestamp {text}: {reason}")
        self.value = value
        self.reason = reason


def now_ns() -> int:
    """Return the current wall-clock time in nanoseconds since the Unix epoch."""
    return time.time_ns()


def seconds_ns(seconds: float) -> int:
    """Clock seconds (a float, as `time.time()` or an injected clock gives) as integer nanoseconds.

    `round(seconds * 1e9)` is off by up to 128 ns at today's epochs (doubles near 1.7e18 are 256 apart),
    so a log stamped exactly "now" could land after now; the whole seconds and the fraction are
    converted apart instead, which is exact to the fraction the float holds."""
    whole = int(seconds // 1)
    return whole * _NS_PER_S + round((seconds - whole) * _NS_PER_S)


def parse_timestamp(value: str | int | float | datetime.datetime, *, now_ns: int | None = None) -> int:
    """Parse a timestamp into integer nanoseconds since the Unix epoch (UTC).

    Accepted inputs:

    * RFC 3339 / ISO 8601 text: ``2025-07-21T12:00:00.123456789Z``; ``T``, ``t`` or a space between date
      and time; seconds optional; 1-9 fraction digits after ``.`` or ``,`` (kept exactly); offset ``Z``,
      ``z``, ``+HH:MM``, ``+HHMM`` or ``+HH``; no offset means UTC; date only means midnight UTC.
    * Epoch numbers (``int``, ``float`` or numeric text, optionally with a fraction or exponent). The
      magnitude of the integer part picks the unit: below 1e11 seconds, below 1e14 milliseconds, below
      1e17 microseconds, otherwise nanoseconds. Text is converted exactly; digits finer than a nanosecond
      are truncated toward zero. A float is converted via its shortest ``repr``.
    * Apache / CLF: ``10/Oct/2000:13:55:36 -0700``, optionally in ``[...]``.
    * BSD syslog: ``Oct 11 22:14:15`` (optional fraction). The year is the UTC year of ``now_ns``
      (default: the current time), or an earlier year if that would put the time more than one day after
      ``now_ns``.
    * ``datetime.datetime`` (aware: converted to UTC; naive: taken as UTC) and ``datetime.date``
      (midnight UTC).

    Surrounding whitespace in text is ignored. Results are limited to years 1-9999.

    Raises:
        TimestampError: the value is not a timestamp in one of the forms above (including ``bool``,
            empty text and out-of-range fields).
    """
    if type(value) is str:
        # Fast path: canonical "YYYY-MM-DDTHH:MM:SS[.fffffffff]Z". fromisoformat validates the date, the time
        # and up to 6 fraction digits; later fraction digits are checked here.
        s = value
        n = len(s)
        if 20 <= n <= 30 and n != 21 and s[-1] == "Z" and s[4:20:3] in _FAST_SHAPES:
            try:
                delta = _fromisoformat(s) - _EPOCH_UTC
            except ValueError:
                pass
            else:
                ns = (delta.days * 86_400 + delta.seconds) * _NS_PER_S + delta.microseconds * 1_000
                if n <= 27:
                    return ns
                extra = s[26:-1]
                if extra.isdigit() and extra.isascii():
                    return ns + int(extra) * _FRAC_SCALE[n - 21]
        return _parse_text(value, value.strip(), now_ns)
    if isinstance(value, bool):
        raise TimestampError(value, "a bool is not a timestamp")
    if isinstance(value, int):
        ns = value * _epoch_unit_ns(abs(value))
        return _check_range(value, ns)
    if isinstance(value, float):
        text = repr(value)
        m = _NUMBER_RE.fullmatch(text)
        if m is None:
            raise TimestampError(value, "not a finite number")
        return _parse_number(value, m)
    if isinstance(value, str):
        return _parse_text(value, str(value).strip(), now_ns)
    if isinstance(value, datetime.datetime):
        return _check_range(value, _datetime_ns(value))
    if isinstance(value, datetime.date):
        return (value.toordinal() - _EPOCH_ORDINAL) * _NS_PER_DAY
    raise TimestampError(value, f"unsupported type {type(value).__name__}")


def datetime_of(ns: int) -> datetime.datetime:
    """Nanoseconds since the epoch as a timezone-aware UTC datetime (truncated to microseconds, the
    finest a datetime holds)."""
    return _EPOCH_UTC + datetime.timedelta(microseconds=ns // 1_000)


def format_timestamp(ns: int) -> str:
    """Format nanoseconds since the epoch as RFC 3339 UTC text, e.g. ``2025-07-21T12:00:00.500Z``.

    A non-zero fraction uses the fewest of 3, 6 or 9 digits that represent it exactly, so
    ``parse_timestamp(format_timestamp(ns)) == ns``.

    Raises:
        ValueError: ``ns`` is outside years 1-9999.
    """
    secs, frac = divmod(ns, _NS_PER_S)
    days, sod = divmod(secs, 86_400)
    ordinal = days + _EPOCH_ORDINAL
    if not 1 <= ordinal <= datetime.date.max.toordinal():
        raise ValueError(f"timestamp {ns} ns is outside years 1-9999")
    d = datetime.date.fromordinal(ordinal)
    hh, rem = divmod(sod, 3_600)
    mm, ss = divmod(rem, 60)
    if frac == 0:
        tail = ""
    elif frac % 1_000_000 == 0:
        tail = f".{frac // 1_000_000:03d}"
    elif frac % 1_000 == 0:
        tail = f".{frac // 1_000:06d}"
    else:
        tail = f".{frac:09d}"
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{hh:02d}:{mm:02d}:{ss:02d}{tail}Z"


# --- SQL ---------------------------------------------------------------------------------------------------

_SQL_HH = "([01][0-9]|2[0-3])"
_SQL_MS = "[0-5][0-9]"
_SQL_DATE = "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_SQL_OFFSET = f"([Zz]|[+-]{_SQL_HH}(:?{_SQL_MS})?)?"
# Canonical form: DuckDB's TIMESTAMPTZ cast is exact for it as is (day-of-month is checked by the cast).
_SQL_HOT_RE = f"{_SQL_DATE}T{_SQL_HH}:{_SQL_MS}:{_SQL_MS}(\\.[0-9]{{1,6}})?(Z|[+-]{_SQL_HH}(:?{_SQL_MS})?)?"
# Other ISO forms with at most 6 fraction digits: exact after upper-casing and ',' -> '.'.
_SQL_ISO_RE = f"{_SQL_DATE}([Tt ]{_SQL_HH}:{_SQL_MS}(:{_SQL_MS}([.,][0-9]{{1,6}})?)?{_SQL_OFFSET})?"
# ISO with 7-9 fraction digits: the cast truncates to microseconds; digits 7-9 start at character 27.
_SQL_ISO_NS_RE = f"{_SQL_DATE}[Tt ]{_SQL_HH}:{_SQL_MS}:{_SQL_MS}[.,][0-9]{{7,9}}{_SQL_OFFSET}"
_SQL_INT_RE = "-?[0-9]{1,19}"
_SQL_DECIMAL_RE = "-?[0-9]{1,19}\\.[0-9]{1,40}"
_SQL_CLF_BODY = (
    "[0-9]{2}/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/(1[7-9][0-9]{2}|2[01][0-9]{2}|22[0-5][0-9]):"
    f"{_SQL_HH}:{_SQL_MS}:{_SQL_MS} [+-]{_SQL_HH}{_SQL_MS}"
)
_SQL_CLF_RE = f"\\[{_SQL_CLF_BODY}\\]|{_SQL_CLF_BODY}"
# Epoch units in magnitude order: (ns per unit, largest integer part whose ns value (plus any fraction)
# still fits in BIGINT, exclusive magnitude limit of the unit). Between the two bounds the SQL gives NULL.
_SQL_UNITS = (
    (1_000_000_000, 9_223_372_035, 100_000_000_000),
    (1_000_000, 9_223_372_036_853, 100_000_000_000_000),
    (1_000, 9_223_372_036_854_774, 100_000_000_000_000_000),
)


def _sql_epoch(v: str, frac: str | None = None, sign: str = "1") -> str:
    """SQL scaling the BIGINT integer part ``v`` of an epoch number to nanoseconds.

    ``frac`` is the fraction's digit text (truncated to the unit) and ``sign`` is -1 or 1 for it.
    """
    parts = []
    for unit, safe, limit in _SQL_UNITS:
        ns = f"{v} * {unit}"
        if frac is not None:
            width = len(str(unit)) - 1
            ns += f" + {sign} * CAST(rpad(left({frac}, {width}), {width}, '0') AS BIGINT)"
        parts.append(
            f" WHEN {v} BETWEEN -{safe} AND {safe} THEN {ns} WHEN {v} > -{limit} AND {v} < {limit} THEN NULL"
        )
    return "CASE" + "".join(parts) + f" ELSE {v} END"


def _sql_core(s: str, trim_fallback: bool) -> str:
    """SQL CASE converting the VARCHAR expression ``s`` (no surrounding whitespace handling unless asked)."""
    in_range = f"{s} >= '1678' AND {s} < '2262'"
    iso_cast = f"epoch_ns(try_cast(replace(upper({s}), ',', '.') AS TIMESTAMPTZ))"
    sub_us = f"CAST(rpad(regexp_extract({s}, '^.{{26}}([0-9]+)', 1), 3, '0') AS BIGINT)"
    int_part = f"try_cast(split_part({s}, '.', 1) AS BIGINT)"
    decimal_sign = f"(CASE WHEN starts_with({s}, '-') THEN -1 ELSE 1 END)"
    decimal_ns = _sql_epoch(int_part, f"split_part({s}, '.', 2)", decimal_sign)
    clf_ns = f"epoch_ns(try_strptime(trim({s}, '[]'), '%d/%b/%Y:%H:%M:%S %z'))"
    # The commonest shape (`2025-07-21T12:00:00[.fff[fff]]Z`) is recognised by fixed positions, which
    # costs a fraction of a regex match; everything else takes the validated branches below.
    canonical = (
        f"length({s}) IN (20, 24, 27) AND {s} LIKE '____-__-__T__:__:__%Z'"
        f" AND (length({s}) = 20 OR substr({s}, 20, 1) = '.')"
        f" AND substr({s}, 12, 2) < '24' AND substr({s}, 18, 2) < '60'"
    )
    sql = (
        "CASE"
        f" WHEN {canonical} THEN CASE WHEN {in_range} THEN epoch_ns(try_cast({s} AS TIMESTAMPTZ)) END"
        f" WHEN regexp_full_match({s}, '{_SQL_HOT_RE}') THEN"
        f" CASE WHEN {in_range} THEN epoch_ns(try_cast({s} AS TIMESTAMPTZ)) END"
        f" WHEN regexp_full_match({s}, '{_SQL_INT_RE}') THEN {_sql_epoch(f'try_cast({s} AS BIGINT)', None)}"
        f" WHEN regexp_full_match({s}, '{_SQL_ISO_RE}') THEN CASE WHEN {in_range} THEN {iso_cast} END"
        f" WHEN regexp_full_match({s}, '{_SQL_ISO_NS_RE}') THEN"
        f" CASE WHEN {in_range} THEN {iso_cast} + {sub_us} END"
        f" WHEN regexp_full_match({s}, '{_SQL_DECIMAL_RE}') THEN {decimal_ns}"
        f" WHEN regexp_full_match({s}, '{_SQL_CLF_RE}') THEN {clf_ns}"
    )
    if trim_fallback:
        trimmed = f"trim({s}, ' ' || chr(9) || chr(10) || chr(13))"
        sql += f" WHEN regexp_matches({s}, '^[ \\t\\n\\r]|[ \\t\\n\\r]$') THEN {_sql_core(trimmed, False)}"
    return sql + " END"


def sql_timestamp_ns(expr: str) -> str:
    """Return DuckDB SQL that converts the VARCHAR expression ``expr`` to BIGINT UTC nanoseconds.

    ``expr`` (e.g. a column name) is inserted verbatim and referenced several times, so it should be cheap
    and deterministic. The connection must run with ``SET TimeZone='UTC'``.

    The result covers the ISO / RFC 3339 forms (any offset, ``.`` or ``,`` fractions kept exactly to
    9 digits), plain numeric epoch strings (same magnitude rule; no ``+`` sign or exponent) and Apache CLF,
    optionally surrounded by spaces, tabs, CRs or LFs. Wherever it is not NULL it equals
    ``parse_timestamp`` of the same string. It is NULL for NULL input, for every other string (syslog,
    exponents, garbage), and for instants BIGINT nanoseconds cannot hold (outside roughly years
    1678-2261); callers may fall back to ``parse_timestamp`` for NULL rows. It never raises.
    """
    return f"({_sql_core(f'({expr})', True)})"


# --- helpers -----------------------------------------------------------------------------------------------


def _epoch_unit_ns(magnitude: int) -> int:
    """Nanoseconds per unit for an epoch number whose integer part has absolute value ``magnitude``."""
    if magnitude < 100_000_000_000:
        return _NS_PER_S
    if magnitude < 100_000_000_000_000:
        return 1_000_000
    if magnitude < 100_000_000_000_000_000:
        return 1_000
    return 1


# What the store's int64 nanoseconds hold: 1677-09-21 to 2262-04-11.
STORABLE_MIN_NS = -(2**63)
STORABLE_MAX_NS = 2**63 - 1


def storable(ns: int) -> bool:
    """True when an instant fits the store's int64 nanoseconds (parse_timestamp accepts years 1-9999;
    outside 1677-2262 a log keeps its ingest time instead, counted as a bad timestamp)."""
    return STORABLE_MIN_NS <= ns <= STORABLE_MAX_NS


def _check_range(value: object, ns: int) -> int:
    if not _MIN_NS <= ns < _MAX_NS:
        raise TimestampError(value, "out of range (years 1-9999)")
    return ns


def _datetime_ns(dt: datetime.datetime) -> int:
    offset = dt.utcoffset()
    secs = (dt.toordinal() - _EPOCH_ORDINAL) * 86_400 + dt.hour * 3_600 + dt.minute * 60 + dt.second
    ns = secs * _NS_PER_S + dt.microsecond * 1_000
    if offset is not None:
        ns -= (offset.days * 86_400 + offset.seconds) * _NS_PER_S + offset.microseconds * 1_000
    return ns


def _parse_text(value: object, s: str, now: int | None) -> int:
    if not s:
        raise TimestampError(value, "empty string")
    m = _ISO_RE.fullmatch(s)
    if m is not None:
        return _parse_iso(value, m)
    m = _NUMBER_RE.fullmatch(s)
    if m is not None:
        return _parse_number(value, m)
    m = _CLF_RE.fullmatch(s)
    if m is not None:
        return _parse_clf(value, m)
    m = _SYSLOG_RE.fullmatch(s)
    if m is not None:
        return _parse_syslog(value, m, now)
    raise TimestampError(value, "unrecognised timestamp format")


def _civil_ns(value: object, y: int, mo: int, d: int, h: int, mi: int, sec: int) -> int:
    try:
        dt = datetime.datetime(y, mo, d, h, mi, sec)
    except ValueError as exc:
        raise TimestampError(value, str(exc)) from None
    return ((dt.toordinal() - _EPOCH_ORDINAL) * 86_400 + h * 3_600 + mi * 60 + sec) * _NS_PER_S


def _offset_ns(value: object, sign: str, hh: str, mm: str | None) -> int:
    oh = int(hh)
    om = int(mm) if mm else 0
    if oh > 23 or om > 59:
        raise TimestampError(value, "UTC offset out of range")
    ns = (oh * 3_600 + om * 60) * _NS_PER_S
    return -ns if sign == "-" else ns


def _frac_ns(digits: str | None) -> int:
    return int(digits) * _FRAC_SCALE[len(digits)] if digits else 0


def _parse_iso(value: object, m: re.Match[str]) -> int:
    y, mo, d, h, mi, sec, frac, _z, sign, oh, om = m.groups()
    ns = _civil_ns(value, int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(sec or 0))
    ns += _frac_ns(frac)
    if sign:
        ns -= _offset_ns(value, sign, oh, om)
    return _check_range(value, ns)


def _parse_number(value: object, m: re.Match[str]) -> int:
    sign, int_digits, frac_digits, exp_text = m.groups()
    frac_digits = frac_digits or ""
    mantissa = int(int_digits + frac_digits)
    scale = len(frac_digits) - (int(exp_text) if exp_text else 0)  # value = mantissa / 10**scale
    if scale >= 0:
        magnitude = mantissa // 10**scale
        ns = mantissa * _epoch_unit_ns(magnitude) // 10**scale
    else:
        magnitude = mantissa * 10**-scale
        ns = magnitude * _epoch_unit_ns(magnitude)
    return _check_range(value, -ns if sign == "-" else ns)


def _month(value: object, name: str) -> int:
    try:
        return _MONTH_NAMES.index(name.lower()) + 1
    except ValueError:
        raise TimestampError(value, f"unknown month {name!r}") from None


def _parse_clf(value: object, m: re.Match[str]) -> int:
    _bracket, d, mon, y, h, mi, sec, sign, oh, om = m.groups()
    month = _month(value, mon)
    ns = _civil_ns(value, int(y), month, int(d), int(h), int(mi), int(sec))
    return _check_range(value, ns - _offset_ns(value, sign, oh, om))


def _parse_syslog(value: object, m: re.Match[str], now: int | None) -> int:
    mon, d, h, mi, sec, frac = m.groups()
    month = _month(value, mon)
    ref = time.time_ns() if now is None else now
    year = datetime.date.fromordinal(
        max(1, min(ref // _NS_PER_DAY + _EPOCH_ORDINAL, datetime.date.max.toordinal()))
    ).year
    limit = ref + _NS_PER_DAY
    last_error = "invalid date"
    # The most recent year (at most 8 back, enough to reach a leap year for Feb 29) not after now + 1 day.
    for candidate in range(year, max(0, year - 9), -1):
        try:
            ns = _civil_ns(value, candidate, month, int(d), int(h), int(mi), int(sec)) + _frac_ns(frac)
        except TimestampError as exc:
            last_error = exc.reason
            continue
        if ns <= limit:
            return ns
        last_error = "time is in the future for every candidate year"
    raise TimestampError(value, last_error)
