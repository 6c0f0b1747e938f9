"""Tests for the built-in text formats (ingest/formats/): each format's sample file read as a person
reads it, detection (per file and for a concatenation), the timestamp scanner on random layouts in
random text, multi-line events, bad input, lines without a time, time zones and level severities.

Each `tests/data/formats/<format>.log` was written by hand; beside it `<format>.expected.jsonl` holds
one object per stored log, in file order: its time (RFC 3339; null for the ingest time, given to
lines before any time), level, source, thread_id (where set), metadata and message (a multi-line
event's lines joined by newlines). The files' modification time is fixed (`REF_NS`), so the years
that lines leave out are stable.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from conftest import NS, T0_NS
from log_analytics_engine import LogAnalyticsEngine, LogEntry
from log_analytics_engine.ingest import files
from log_analytics_engine.ingest.formats import detect, events, registry, timescan
from log_analytics_engine.model import LEVEL_ALIASES, SEVERITY, normalize_level
from log_analytics_engine.timeparse import format_timestamp, parse_timestamp

DATA = Path(__file__).parent / "data" / "formats"
REF_NS = T0_NS  # every sample file's modification time: 2025-07-21T12:00:00Z
FORMAT_NAMES = [f.name for f in registry()]
# Events of each sample file with no time of their own (the ingest time or the time before them).
NO_TIMESTAMP = {
    "syslog-rfc5424": 1,  # `<14>1 - host9 …`: RFC 5424's nil time
    "syslog-iso": 1,  # journalctl's `-- Boot … --`
    "python-basic": 12,  # basicConfig writes no time at all
    "logfmt": 1,  # a line without `time=`
    "logcat": 3,  # `--------- beginning of main` and the like
    "logcat-brief": 15,  # brief writes no time at all
    "apple-unified": 6,  # `log show`'s header and summary lines
    "text": 4,  # a header line, java.util.logging's level line, a line of words, Go's `panic:`
}


@dataclasses.dataclass
class Ingested:
    """One ingest call: its report, the logs it stored (file order) and when it ran."""

    report: dict[str, Any]
    logs: list[LogEntry]
    started_ns: int
    ended_ns: int

    def rows(self) -> list[dict[str, Any]]:
        """The logs in the expected files' shape (a time inside the call is the ingest time: null)."""
        out = []
        for log in self.logs:
            ts = log.timestamp_ns
            assert ts is not None
            row: dict[str, Any] = {
                "timestamp": None if self.started_ns <= ts <= self.ended_ns else format_timestamp(ts),
                "level": log.level,
                "source": log.source,
            }
            if log.thread_id is not None:
                row["thread_id"] = log.thread_id
            row["metadata"] = log.metadata
            row["message"] = log.message
            out.append(row)
        return out


def ingest(engine: LogAnalyticsEngine, path: Path, file_type: str = "text", **kwargs: Any) -> Ingested:
    """Ingest `path` (its mtime set to REF_NS) and return what this call stored."""
    os.utime(path, ns=(REF_NS, REF_NS))
    before = engine.count()
    started = time.time_ns()
    report = engine.ingest_logs_from_file(path, file_type=file_type, **kwargs)
    ended = time.time_ns()
    logs = engine.query_logs({}, sort_by="seq")[before:]
    assert len(logs) == report["count"]
    return Ingested(report, logs, started, ended)


def expected(name: str) -> list[dict[str, Any]]:
    """The expected logs of a sample file, times in the stored spelling."""
    rows = [json.loads(line) for line in (DATA / f"{name}.expected.jsonl").read_text("utf-8").splitlines()]
    for row in rows:
        if row["timestamp"] is not None:
            row["timestamp"] = format_timestamp(parse_timestamp(row["timestamp"]))
    return rows


def write(path: Path, lines: list[str] | bytes) -> Path:
    path.write_bytes(lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode())
    return path


# -- (a) every format's sample file ---------------------------------------------------------------


def test_every_builtin_format_has_a_sample_file() -> None:
    """A format added to the registry without a sample file (and its expectations) fails here."""
    assert sorted(p.name.removesuffix(".log") for p in DATA.glob("*.log")) == sorted(FORMAT_NAMES)
    for name in FORMAT_NAMES:
        lines = (DATA / f"{name}.log").read_text("utf-8").splitlines()
        assert 15 <= len([line for line in lines if line.strip()]) <= 200, name


@pytest.mark.parametrize("forced", [False, True], ids=["detected", "forced"])
@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_sample_file_gives_the_expected_logs(engine: LogAnalyticsEngine, name: str, forced: bool) -> None:
    """Detected or forced, each sample file is stored as expected: time, level, source, thread,
    fields and message of every event, the format named in the report, untimed events counted."""
    got = ingest(engine, DATA / f"{name}.log", name if forced else "text")
    assert got.rows() == expected(name)
    report = got.report
    assert report["format"] == name
    counts = (report["no_timestamp"], report["bad_timestamps"], report["rejected"])
    assert counts == (NO_TIMESTAMP.get(name, 0), 0, 0)


# -- (b) detection ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_detection_ranks_the_files_format_first(name: str) -> None:
    """Sampling a sample file puts its own format first (none for plain text: the fallback reads it)."""
    lines = pa.array((DATA / f"{name}.log").read_text("utf-8").splitlines(), pa.string())
    with duckdb.connect() as cur:
        chosen = detect.candidates(cur, lines, registry().detectable)
    if name == "text":
        assert chosen == []
    else:
        assert chosen[0].name == name


def test_a_concatenation_reads_each_line_by_its_own_format(
    engine: LogAnalyticsEngine, tmp_path: Path
) -> None:
    """Three files of different formats in one: every line is read as in its own file."""
    names = ["syslog-rfc3164", "access-combined", "log4j"]
    mixed = tmp_path / "mixed.log"
    mixed.write_bytes(b"".join((DATA / f"{n}.log").read_bytes() for n in names))
    got = ingest(engine, mixed)
    assert got.rows() == [row for n in names for row in expected(n)]
    assert got.report["formats"] == {n: len(expected(n)) for n in names}


def test_continuation_lines_do_not_outvote_a_formats_records(
    engine: LogAnalyticsEngine, tmp_path: Path
) -> None:
    """A log4j file whose records are outnumbered 1,000:1 by a stack trace is still read as log4j
    (continuation lines open no event, so detection does not count them)."""
    lines = ["2025-07-21 12:00:00,000 ERROR [main] com.example.Deep - stack overflow"]
    lines += [
        "java.lang.StackOverflowError",
        *(f"\tat com.example.Deep.recurse(Deep.java:{i})" for i in range(900)),
    ]
    lines += ["2025-07-21 12:00:01,000 INFO  [main] com.example.Deep - recovered"]
    got = ingest(engine, write(tmp_path / "deep.log", lines))
    assert got.report["formats"] == {"log4j": 2}
    read = [(log.source, log.thread_id, log.level) for log in got.logs]
    assert read == [("com.example.Deep", "main", "ERROR"), ("com.example.Deep", "main", "INFO")]
    assert got.logs[0].message == "\n".join(lines[:-1])


# -- (c) the timestamp scanner: a time in any common layout, anywhere in a line -----------------------

_UTC = "'UTC'"
_SCAN_SQL = (
    f"SELECT {timescan.ns_sql(timescan.COLUMN_PARTS, str(REF_NS), _UTC)} FROM "
    f"(SELECT i, {timescan.parts_select(timescan.scanned_parts('s'))} FROM "
    f"(SELECT i, {timescan.scan_sql('line')} AS s FROM scan_lines)) ORDER BY i"
)
_EPOCH = dt.datetime(1970, 1, 1)
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Any instant 1990-2060 (2-digit years read 1969-2068); layouts without a year: the 300 days before the
# file's time, up to a day after it (the year inferred is then the right one).
_ANY = st.integers(631_152_000 * NS, 2_871_763_199 * NS)
_RECENT = st.integers(REF_NS - 300 * 86_400 * NS, REF_NS + 20 * 3_600 * NS)
_EPOCH_RANGE = st.integers(1_000_000_000 * NS, 2_871_763_199 * NS)  # 10-digit seconds


@dataclasses.dataclass(frozen=True)
class Civil:
    """An instant as a clock at some offset shows it (the offset in minutes east of UTC)."""

    when: dt.datetime  # naive, at the offset
    frac_ns: int
    offset_min: int

    @staticmethod
    def of(ns: int, offset_min: int = 0) -> Civil:
        secs, frac = divmod(ns, NS)
        return Civil(_EPOCH + dt.timedelta(seconds=secs, minutes=offset_min), frac, offset_min)

    def ns(self, digits: int) -> int:
        """The instant shown with `digits` fraction digits (the rest cut off)."""
        frac = int(f"{self.frac_ns:09d}"[:digits].ljust(9, "0")) if digits else 0
        local = int((self.when - _EPOCH).total_seconds())
        return (local - self.offset_min * 60) * NS + frac

    def frac(self, sep: str, digits: int) -> str:
        return f"{sep}{self.frac_ns:09d}"[: digits + 1] if digits else ""

    def month_name(self, style: int) -> str:
        full = _MONTHS[self.when.month - 1]
        name = full if style >= 3 else full[:3]
        return (name, name.lower(), name.upper())[style % 3]

    def hms(self) -> str:
        return self.when.strftime("%H:%M:%S")

    def ampm(self) -> str:
        hour = self.when.hour % 12 or 12
        return f"{hour:02d}:{self.when.strftime('%M:%S')}" + (" AM" if self.when.hour < 12 else " PM")


def _zone(offset_min: int, style: int) -> str:
    """An offset as `Z`, `+hh:mm`, `+hhmm`, ` +hh:mm` or ` UTC` (the styles that can write it)."""
    if offset_min == 0 and style % 3 == 0:
        return ("Z", "z", " UTC", " GMT")[style // 3 % 4]
    sign = "+" if offset_min >= 0 else "-"
    hh, mm = divmod(abs(offset_min), 60)
    return (f"{sign}{hh:02d}:{mm:02d}", f"{sign}{hh:02d}{mm:02d}", f" {sign}{hh:02d}:{mm:02d}")[style % 3]


@st.composite
def rendered_times(draw: st.DrawFn) -> tuple[str, int, bool]:
    """(text, the instant it shows, whether it must open the line): one of many layouts."""
    layout = draw(st.integers(0, 19))
    digits = draw(st.integers(0, 9))
    if layout in (14, 15, 16):  # no year: read against the file's time
        c = Civil.of(draw(_RECENT))
    elif layout in (17, 18):
        c = Civil.of(draw(_EPOCH_RANGE))
    elif layout == 0:
        offset = draw(st.sampled_from([0, 0, 60, 120, -300, 330, 345, -570, 840, -720]))
        c = Civil.of(draw(_ANY), offset)
    else:
        c = Civil.of(draw(_ANY))
    w, frac = c.when, c.frac
    y, mo, d, yy = w.strftime("%Y"), w.strftime("%m"), w.strftime("%d"), w.strftime("%y")
    mon = c.month_name(draw(st.integers(0, 5)))
    if layout == 0:  # ISO / RFC 3339 and relatives
        sep = draw(st.sampled_from(["T", "t", " "]))
        text = f"{y}-{mo}-{d}{sep}{c.hms()}{frac(draw(st.sampled_from('.,')), digits)}"
        return text + _zone(c.offset_min, draw(st.integers(0, 11))), c.ns(digits), False
    if layout == 1:  # year first with / or .
        s = draw(st.sampled_from("/."))
        return f"{y}{s}{mo}{s}{d} {c.hms()}{frac('.', digits)}", c.ns(digits), False
    if layout == 2:  # day first with . or - (European), 4- or 2-digit year
        s = draw(st.sampled_from(".-"))
        return (
            f"{d}{s}{mo}{s}{draw(st.sampled_from([y, yy]))} {c.hms()}{frac(',', digits)}",
            c.ns(digits),
            False,
        )
    if layout == 3:  # US month first
        return f"{mo}/{d}/{draw(st.sampled_from([y, yy]))} {c.hms()}", c.ns(0), False
    if layout == 4:  # US with AM/PM
        return f"{mo}/{d}/{y} {c.ampm()}", c.ns(0), False
    if layout == 5:  # yy/MM/dd (log4j's and Spark's default), read so when the year is over 12
        assume(int(yy) > 12)
        return f"{yy}/{mo}/{d} {c.hms()}", c.ns(0), False
    if layout == 6:  # day first with / when the day is over 12
        assume(w.day > 12)
        return f"{d}/{mo}/{y} {c.hms()}", c.ns(0), False
    if layout == 7:  # CLF
        return f"[{d}/{mon[:3].title()}/{y}:{c.hms()} +0000]", c.ns(0), False
    if layout == 8:  # day, month name, year
        s = draw(st.sampled_from([" ", "-"]))
        return (
            f"{d}{s}{mon}{s}{draw(st.sampled_from([y, yy]))} {c.hms()}{frac('.', digits)}",
            c.ns(digits),
            False,
        )
    if layout == 9:  # month name, day, year (java.util.logging writes it with AM/PM)
        if draw(st.booleans()):
            return f"{mon} {w.day}, {y} {c.ampm()}", c.ns(0), False
        return f"{mon} {d} {y} {c.hms()}", c.ns(0), False
    if layout == 10:  # ctime: `Sun Dec 04 04:47:44 2005`, Apache's with microseconds
        day = _DAYS[w.weekday()]
        return (
            f"{day} {mon[:3].title()} {d} {c.hms()}{frac('.', min(digits, 6))} {y}",
            c.ns(min(digits, 6)),
            False,
        )
    if layout == 11:  # compact
        return f"{y}{mo}{d}{draw(st.sampled_from(['T', ' ']))}{w.strftime('%H%M%S')}", c.ns(0), False
    if layout == 12:  # 20171223-22:15:29:606
        return f"{y}{mo}{d}-{c.hms()}:{c.frac_ns // 1_000_000:03d}", c.ns(3), False
    if layout == 13:  # HDFS yyMMdd HHmmss
        return f"{yy}{mo}{d} {w.strftime('%H%M%S')}", c.ns(0), False
    if layout == 14:  # syslog, no year
        return f"{mon[:3].title()} {w.day:>2} {c.hms()}{frac('.', digits)}", c.ns(digits), False
    if layout == 15:  # glog, no year
        return f"{draw(st.sampled_from('IWEF'))}{mo}{d} {c.hms()}{frac('.', 6)}", c.ns(6), False
    if layout == 16:  # logcat, no year
        return f"{mo}-{d} {c.hms()}{frac('.', 3)}", c.ns(3), False
    if layout == 17:  # epoch seconds, with a fraction or not, at the line's start
        return f"{c.ns(0) // NS}{frac('.', digits)}", c.ns(digits), True
    if layout == 18:  # epoch milliseconds at the line's start
        return f"{c.ns(3) // 1_000_000}", c.ns(3), True
    # DB2's 2005-06-03-15.42.50.123456, and ISO with AM/PM
    if draw(st.booleans()):
        return f"{y}-{mo}-{d}-{w.strftime('%H.%M.%S')}{frac('.', digits)}", c.ns(digits), False
    return f"{y}-{mo}-{d} {c.ampm()}", c.ns(0), False


# Surrounding text: no digits (so nothing in it looks like a time), any letters, spaces and
# punctuation; before the time it ends in a separator, after it a space leads.
_WORDY = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéü []()<>|=_*#@!?;:'\"/-"),
    max_size=40,
)


_AMPM = re.compile(r"\s*[AaPp][Mm](?![A-Za-z0-9_])")


@pytest.fixture(scope="module")
def scan_db() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as db:
        yield db


@st.composite
def timed_lines(draw: st.DrawFn) -> tuple[str, int]:
    """A line holding a time (and the instant) after and before any text without digits."""
    text, instant, at_start = draw(rendered_times())
    before, joint, after = draw(_WORDY), draw(st.sampled_from(" [(<|=\t")), draw(_WORDY)
    assume(not _AMPM.match(after))  # `… 12:00:00 pm …` would be another time
    return ("" if at_start else before + joint) + text + " " + after, instant


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.lists(timed_lines(), min_size=1, max_size=20))
def test_a_time_anywhere_in_a_line_is_found(
    scan_db: duckdb.DuckDBPyConnection, cases: list[tuple[str, int]]
) -> None:
    """A time in any of ~30 layouts, after any text without digits, is read to the exact instant."""
    lines = [line for line, _ in cases]
    scan_db.register("scan_lines", pa.table({"i": range(len(lines)), "line": lines}))
    try:
        found = [ns for (ns,) in scan_db.execute(_SCAN_SQL).fetchall()]
    finally:
        scan_db.unregister("scan_lines")
    for (line, instant), ns in zip(cases, found, strict=True):
        if ns != instant:
            note(f"{line!r}: expected {format_timestamp(instant)}, read {ns}")
    assert found == [instant for _, instant in cases]


# -- (d) multi-line events ---------------------------------------------------------------------------


_JAVA_TRACE = [
    "2025-07-21 12:00:05,001 ERROR [worker-1] com.example.Job - job 7 failed",
    "java.lang.IllegalStateException: no input",
    "\tat com.example.Job.run(Job.java:12)",
    "Caused by: java.io.FileNotFoundException: /data/in.csv",
    "\tat java.base/java.io.FileInputStream.open0(Native Method)",
    "\t... 3 more",
    "2025-07-21 12:00:06,000 INFO  [worker-1] com.example.Job - job 8 started",
]
_PYTHON_TRACE = [
    "2025-07-21 12:00:05,001 - app.db - ERROR - query failed",
    "Traceback (most recent call last):",
    '  File "/srv/app/db.py", line 9, in fetch',
    "    return cur.execute(sql)",
    "sqlite3.OperationalError: database is locked",
    "2025-07-21 12:00:06,000 - app.db - INFO - retrying",
]


@pytest.mark.parametrize(
    ("lines", "source"), [(_JAVA_TRACE, "com.example.Job"), (_PYTHON_TRACE, "app.db")], ids=["java", "python"]
)
def test_a_trace_is_one_event_with_its_record(
    engine: LogAnalyticsEngine, tmp_path: Path, lines: list[str], source: str
) -> None:
    """A Java trace (the exception line, `\\tat …`, `Caused by:`, `... N more`) or a Python traceback
    (its last line unindented) joins the record before it, at its time; the next record opens one."""
    got = ingest(engine, write(tmp_path / "app.log", lines))
    assert [(log.message, log.timestamp, log.level, log.source) for log in got.logs] == [
        ("\n".join(lines[:-1]), "2025-07-21T12:00:05.001Z", "ERROR", source),
        (lines[-1], "2025-07-21T12:00:06Z", "INFO", source),
    ]
    assert got.report["no_timestamp"] == 0


def test_a_huge_trace_is_cut_at_the_bound(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """A trace longer than MAX_EVENT_LINES is stored in pieces of at most that many lines, in order,
    every line kept, each piece at the record's time."""
    bound = events.MAX_EVENT_LINES
    lines = [
        "2025-07-21 12:00:00,000 ERROR [main] com.example.Deep - stack overflow",
        "java.lang.StackOverflowError",
    ]
    lines += [f"\tat com.example.Deep.recurse(Deep.java:{i})" for i in range(2 * bound + 300)]
    lines += ["2025-07-21 12:00:01,000 INFO  [main] com.example.Deep - recovered"]
    got = ingest(engine, write(tmp_path / "deep.log", lines))
    pieces = [log.message.split("\n") for log in got.logs]
    assert [len(p) for p in pieces] == [bound, bound, len(lines) - 1 - 2 * bound, 1]
    assert [line for p in pieces for line in p] == lines
    assert [log.timestamp for log in got.logs] == ["2025-07-21T12:00:00Z"] * 3 + ["2025-07-21T12:00:01Z"]
    assert (got.logs[0].level, got.logs[0].source) == ("ERROR", "com.example.Deep")


def test_an_event_cut_by_a_chunk_boundary_stays_one(
    engine: LogAnalyticsEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read 5 lines a chunk, the log4j sample (traces of 9 and 8 lines) is stored exactly as whole."""
    monkeypatch.setattr(files, "CHUNK_ROWS", 5)
    # read_chunks' default was bound when it was defined
    monkeypatch.setattr(files.read_chunks, "__defaults__", (5, files.CHUNK_BYTES))
    chunks: list[int] = []
    got = ingest(engine, DATA / "log4j.log", progress=lambda _bytes, logs: chunks.append(logs))
    assert len(chunks) >= 5
    assert got.rows() == expected("log4j")


# -- (e) bad input ---------------------------------------------------------------------------------


def test_bad_lines_are_reported_and_the_rest_kept(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """Binary junk (NUL, control and invalid bytes) between lines, a 1 MB line, Latin-1 bytes and
    CRLF endings: every line is stored, the undecodable ones counted, the good ones read as ever."""
    good = [f"Jul 21 10:{i // 60:02d}:{i % 60:02d} web03 app[7]: line {i}".encode() for i in range(200)]
    junk = b"\x89PNG\x01\x02\xfe\xff junk \x00\x00 nul"  # past the first 4 KB: not taken for a binary file
    latin1 = b"Jul 21 10:59:00 web03 app[7]: caf\xe9 cr\xe8me"
    huge = b"Jul 21 10:59:01 web03 app[7]: " + b"x" * (1 << 20)
    data = b"\n".join(good[:150]) + b"\n" + b"\n".join([junk, latin1, huge]) + b"\n"
    data += b"\r\n".join(good[150:]) + b"\r\n"
    got = ingest(engine, write(tmp_path / "bad.log", data))
    report = got.report
    assert (report["count"], report["rejected"], report["replaced_utf8_lines"]) == (203, 0, 2)
    assert report["no_timestamp"] == 1  # the junk line: it takes the time before it
    by_message = {log.message: log for log in got.logs}
    for i, line in enumerate(good):
        log = by_message[line.decode()]  # no `\r` left
        assert (log.timestamp, log.source, log.metadata) == (
            f"2025-07-21T10:{i // 60:02d}:{i % 60:02d}Z",
            "app",
            {"host": "web03", "pid": 7},
        )
    assert got.logs[150].message == junk.decode("utf-8", "replace")
    assert got.logs[150].timestamp == "2025-07-21T10:02:29Z"
    assert (got.logs[151].message, got.logs[151].timestamp) == (
        "Jul 21 10:59:00 web03 app[7]: caf\ufffd cr\ufffdme",
        "2025-07-21T10:59:00Z",
    )
    assert got.logs[152].message == huge.decode()


def test_a_file_of_blank_lines_stores_nothing(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """Blank and whitespace-only lines are no logs, and no sample for detection to fail on."""
    got = ingest(engine, write(tmp_path / "blank.log", b"\n \n\t\r\n\n"))
    assert (got.report["count"], got.report["rejected"]) == (0, 0)


def test_a_quoted_user_is_no_access_line(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """A line with a quote before its request is read as text (its time found), not split into
    nonsense fields; a byte count run into a word is kept as text."""
    lines = [
        '10.0.0.1 - "-" [21/Jul/2025:12:00:00 +0000] "GET / HTTP/1.1" 200 5',
        '10.0.0.1 - - [21/Jul/2025:12:00:01 +0000] "GET / HTTP/1.1" 200 5120ms',
        '10.0.0.1 - - [21/Jul/2025:12:00:02 +0000] "GET /ok HTTP/1.1" 200 10',
    ]
    got = ingest(engine, write(tmp_path / "access.log", lines))
    assert [(log.message, log.timestamp) for log in got.logs] == [
        (line, f"2025-07-21T12:00:0{i}Z") for i, line in enumerate(lines)
    ]
    assert got.report["formats"] == {"text": 1, "access-common": 2}
    assert [log.metadata.get("bytes") for log in got.logs] == [None, "5120ms", 10]


# -- (f) lines without a time -------------------------------------------------------------------------


def test_lines_without_a_time(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """Lines before any time get the ingest time; later untimed lines the time before them, so time
    order is file order; all are counted."""
    lines = [
        "starting nightly batch",
        "config loaded from /etc/batch.conf",
        "[2025-07-21 12:00:00] worker started",
        "progress report follows",
        "[2025-07-21 12:00:05] worker failed",
        "done",
    ]
    got = ingest(engine, write(tmp_path / "batch.log", lines))
    assert [row["timestamp"] for row in got.rows()] == [
        None,
        None,
        "2025-07-21T12:00:00Z",
        "2025-07-21T12:00:00Z",
        "2025-07-21T12:00:05Z",
        "2025-07-21T12:00:05Z",
    ]
    assert got.report["no_timestamp"] == 4
    assert [log.message for log in engine.query_logs({}, sort_by="timestamp")][:4] == lines[2:]


# -- (g) time zones ---------------------------------------------------------------------------------


def test_naive_times_are_read_in_the_configured_zone(tmp_path: Path) -> None:
    """With timezone=Europe/Berlin naive times are Berlin's (CEST in July, CET in January), in every
    way a format reads them; times with an offset or an epoch are what they say."""
    lines = {
        "2025-07-21 12:00:00,123 ERROR [main] a.B - scanned": "2025-07-21T10:00:00.123Z",
        "2025-01-15 12:00:00,000 INFO  [main] a.B - winter": "2025-01-15T11:00:00Z",
        "Jul 21 12:00:01 web01 app: no year": "2025-07-21T10:00:01Z",
        "I0721 12:00:02.000000       1 main.go:1] glog parts": "2025-07-21T10:00:02Z",
        "2025/07/21 12:00:03 [error] 1#1: nginx": "2025-07-21T10:00:03Z",
        "2025-07-21 12:00:04 - app - WARNING - python": "2025-07-21T10:00:04Z",
        "2025-07-21T12:00:05Z web01 app: an offset": "2025-07-21T12:00:05Z",
        '10.0.0.1 - - [21/Jul/2025:12:00:06 +0000] "GET / HTTP/1.1" 200 1': "2025-07-21T12:00:06Z",
        "1753099207.000    12 10.0.0.7 TCP_MISS/200 1 GET http://a/ - HIER_NONE/- -": "2025-07-21T12:00:07Z",
        "time=2025-07-21T12:00:08 level=info msg=logfmt": "2025-07-21T10:00:08Z",
        "worker | 21.07.2025 12:00:09 text": "2025-07-21T10:00:09Z",
    }
    berlin = LogAnalyticsEngine(timezone="Europe/Berlin")
    try:
        got = ingest(berlin, write(tmp_path / "mixed.log", list(lines)))
    finally:
        berlin.close()
    assert {log.message: log.timestamp for log in got.logs} == lines


# -- levels in every dialect ----------------------------------------------------------------------------


def test_every_level_word_gets_its_severity(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """`severity:>=40` finds every dialect of error and worse (SEVERE, ERR, E, crit, emerg, panic …)
    in any case, and nothing milder; `severity:>=30` adds the warnings."""
    words = sorted({*LEVEL_ALIASES, *SEVERITY})
    lines = [
        f"time=2025-07-21T12:00:00.{i:03d}Z level={w if i % 2 else w.lower()} msg=w{i}"
        for i, w in enumerate(words)
    ]
    ingest(engine, write(tmp_path / "levels.log", lines))

    def found(query: str) -> set[str]:
        return {log.metadata["msg"] for log in engine.search(query, limit=1000).logs}

    def scoring(at_least: int) -> set[str]:
        return {f"w{i}" for i, w in enumerate(words) if SEVERITY[normalize_level(w)] >= at_least}

    assert {"SEVERE", "ERR", "E", "CRIT", "EMERG", "PANIC", "ALERT", "F"} <= {
        words[int(m[1:])] for m in scoring(40)
    }
    assert found("severity:>=40") == scoring(40)
    assert found("severity:>=30") == scoring(30)


def test_sample_files_errors_are_found_by_severity(engine: LogAnalyticsEngine) -> None:
    """Over every sample file, `severity:>=40` finds exactly the events expected at ERROR or FATAL."""
    want = 0
    for name in FORMAT_NAMES:
        ingest(engine, DATA / f"{name}.log")
        want += sum(row["level"] in ("ERROR", "FATAL") for row in expected(name))
    assert engine.search("severity:>=40", limit=1).total == want
