"""Hypothesis-made bodies for every ingest route: `POST /api/v1/logs` (NDJSON and JSON arrays, plain,
gzip and multi-member gzip), `ingest_logs_from_file` (JSONL and text files, gzip, streams) and the
CLI's `ingest` (a file and stdin). Lines are good records with odd keys, odd values, numbers past 64
bits and bytes that are not UTF-8; or deep, wide or out-of-range ones a route may refuse; or
non-objects, broken JSON and random bytes.

Whatever the mix: never a 5xx (nor any exception but a `LogAnalyticsError` from the library), every
acknowledged log stored (the count stored equals the count acknowledged, and each good line is found
by the unique marker it carries), and every refusal listed with the index or line number of its item.
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from log_analytics_engine import LogAnalyticsEngine
from log_analytics_engine.cli.app import app as cli_app
from log_analytics_engine.errors import IngestError
from log_analytics_engine.server.app import create_app

# Example counts sized so that the file runs in ~30 s on two cores.
FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
KNOWN = {"timestamp", "level", "message", "source", "tags", "thread_id", "request_id", "user_id", "metadata"}
ODD_KEYS = [
    "",
    " ",
    "a.b",
    "a-b",
    "a:b",
    "$",
    "$.x",
    'q"uote',
    "back\\slash",
    "Îdã",
    "日本語",
    "🙂",
    "\u0000",
    "\x7f",
    "new\nline",
    "k" * 300,
    "metadata.x",
    "timestamp_raw",
    "_time",
    "*",
]
# Bytes that are not UTF-8: a stray continuation, a cut sequence, a surrogate, an overlong form,
# beyond U+10FFFF, bytes never used.
NOT_UTF8 = [b"\x80", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xff", b"\xfe\xfe"]
BAD_SLOT = "@@not-utf8@@"  # replaced, in the encoded line, by bytes that are not UTF-8
# JSON text of numbers json.dumps cannot write: past a double's range, or below its precision
HUGE_NUMBERS = ["1e400", "-1e400", "1e-400", "123456789012345678901234567890", "-98765432109876543210987"]
IN_RANGE_HUGE = [n for n in HUGE_NUMBERS if "e4" not in n]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
# Lower case: keys equal but for ASCII case (`host` and `Host`, `Message`) in one chunk make a file's
# ingest fail whole (test_abuse.py, test_keys_equal_but_for_case_cost_no_other_line).
odd_keys = st.sampled_from(ODD_KEYS) | st.text(max_size=12).map(str.lower)


@dataclass
class Item:
    """One line or array item: its JSON text (bytes, maybe not UTF-8), what must become of it, and the
    marker a stored good one carries in `request_id` (or a text line in its message)."""

    data: bytes
    fate: str  # stored, rejected, either (stored or rejected), blank, unknown (random bytes)
    marker: str | None = None


@st.composite
def good_items(draw: st.DrawFn, marker: str, huge: list[str]) -> Item:
    """A record that must be stored: odd keys, known fields of any JSON type, maybe a number past 64
    bits (`huge`) or bytes that are not UTF-8 in its message."""
    record: dict[str, Any] = {"request_id": marker}
    bad = draw(st.booleans())
    text = draw(st.text(max_size=30))
    record["message"] = text + BAD_SLOT + text if bad else text
    for key in draw(
        st.lists(st.sampled_from(sorted(KNOWN - {"request_id", "message"})), unique=True, max_size=3)
    ):
        record[key] = draw(json_values)
    for key in draw(st.lists(odd_keys, max_size=5)):
        if key not in KNOWN:
            record[key] = draw(json_values)
    data = json.dumps(record, ensure_ascii=draw(st.booleans())).encode()
    if huge and draw(st.booleans()):
        data = data[:-1] + b', "huge": ' + draw(st.sampled_from(huge)).encode() + b"}"
    if bad:
        data = data.replace(BAD_SLOT.encode(), draw(st.sampled_from(NOT_UTF8)), 1)
    return Item(data, "stored", marker)


@st.composite
def costly_items(draw: st.DrawFn, marker: str, max_depth: int, huge: list[str]) -> Item:
    """A record a route may store or refuse (by itself): nested deep, very wide, a long message, or
    a number past a double's range (`huge`)."""
    kind = draw(st.sampled_from(["deep", "wide", "long", "huge"] if huge else ["deep", "wide", "long"]))
    head = json.dumps({"request_id": marker, "message": kind})[:-1]
    if kind == "deep":
        depth = draw(
            st.sampled_from([d for d in (100, 254, 255, 256, 300, 1022, 1100, 5000) if d <= max_depth])
        )
        tail = ', "m": ' + "[" * depth + "]" * depth
    elif kind == "wide":
        width = draw(st.sampled_from([100, 200, 1000, 3000]))
        tail = "".join(f', "w{i}": {i}' for i in range(width))
    elif kind == "long":
        tail = ', "long": "' + "x" * draw(st.sampled_from([10_000, 300_000])) + '"'
    else:
        tail = ', "huge": ' + draw(st.sampled_from(huge))
    return Item((head + tail + "}").encode(), "either", marker)


def refused_items(in_array: bool) -> st.SearchStrategy[Item]:
    """Items no route may store: JSON that is not an object and, outside an array, broken JSON."""
    non_objects = json_values.filter(lambda v: not isinstance(v, dict)).map(
        lambda v: Item(json.dumps(v).encode(), "rejected")
    )
    if in_array:
        return non_objects
    # ASCII: broken JSON holding multi-byte text leaves a file ingest's transaction aborted (test_abuse.py,
    # test_a_broken_line_with_multibyte_text_leaves_the_engine_working)
    unquoted = st.text(alphabet=st.characters(codec="ascii", exclude_characters='"\\\n\r'), max_size=20)
    broken = unquoted.map(lambda t: Item(b'{"message": "never closed ' + t.encode() + b"  ", "rejected"))
    wordy = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=20).map(
        lambda t: Item(b"not json " + t.encode(), "rejected")
    )
    return non_objects | broken | wordy | st.sampled_from([Item(b"{", "rejected"), Item(b"{}}", "rejected")])


random_lines = st.binary(max_size=40).map(
    lambda b: Item(b.replace(b"\n", b" ").replace(b"\0", b" "), "unknown")
)
blank_lines = st.sampled_from([b"", b"  ", b"\t", b"\r"]).map(lambda b: Item(b, "blank"))


@st.composite
def bodies(draw: st.DrawFn, in_array: bool = False, huge_stored: bool = False) -> list[Item]:
    """Up to 25 items; markers unique across the whole test run (the HTTP engine is shared).
    `huge_stored`: numbers past a double's range are stored (files), not only maybe (HTTP)."""
    items: list[Item] = []
    first = next(_markers)
    in_range = HUGE_NUMBERS if huge_stored else IN_RANGE_HUGE
    out_of_range = [] if huge_stored or in_array else [n for n in HUGE_NUMBERS if "e4" in n]
    for i in range(draw(st.integers(min_value=1, max_value=25))):
        marker = f"fz{first}x{i}q"
        choice = draw(st.integers(min_value=0, max_value=9))
        if choice <= 3:
            items.append(draw(good_items(marker, in_range)))
        elif choice == 4:
            # an array past JSON's depth limit (1,024) would not parse at all
            items.append(draw(costly_items(marker, 1000 if in_array else 5000, out_of_range)))
        elif choice <= 6 or in_array:
            items.append(draw(refused_items(in_array)))
        elif choice <= 8:
            items.append(draw(random_lines))
        else:
            items.append(draw(blank_lines))
    return items


_markers = itertools.count()


def _ndjson(items: list[Item], crlf: bool) -> bytes:
    end = b"\r\n" if crlf else b"\n"
    return b"".join(item.data + end for item in items)


def _gzip(body: bytes, cuts: list[int]) -> bytes:
    """`body` as gzip members split at `cuts` (fractions of its length in 1/100)."""
    points = sorted({len(body) * c // 100 for c in cuts} | {0, len(body)})
    return b"".join(gzip.compress(body[a:b]) for a, b in itertools.pairwise(points))


def _non_blank_range(items: list[Item]) -> tuple[int, int]:
    """How many items are not blank: at least those with a character outside every notion of
    whitespace (Unicode's, which Python's strip uses), at most those outside ASCII's (RE2's \\s)."""
    texts = [item.data.decode("utf-8", "replace") for item in items]
    return sum(1 for t in texts if t.strip()), sum(1 for t in texts if t.strip(" \t\n\r\f\v"))


def _check(
    items: list[Item],
    accepted: int,
    stored_now: int,
    rejected: list[int],
    rejected_count: int,
    found: set[str],
) -> None:
    """The properties every route keeps: nothing acknowledged and lost, every refusal by position."""
    assert stored_now == accepted, "the logs stored differ from the logs acknowledged"
    assert rejected == sorted(set(rejected)), rejected
    assert rejected_count == len(rejected)
    low, high = _non_blank_range(items)
    assert low <= accepted + rejected_count <= high
    for index, item in enumerate(items):
        kept, refused = item.marker in found, index in rejected
        if item.fate == "stored":
            assert kept, (index, item.data[:200])
            assert not refused, (index, item.data[:200])
        elif item.fate == "rejected":
            assert refused, (index, item.data[:200])
        elif item.fate == "either":
            assert kept != refused, (index, item.data[:200])
        elif item.fate == "blank":
            assert not refused, index


def _markers_stored(engine: LogAnalyticsEngine, items: list[Item]) -> set[str]:
    """The markers of `items` that stored logs carry (in request_id)."""
    markers = [item.marker for item in items if item.marker is not None]
    if not markers:
        return set()
    prefix = markers[0].split("x")[0] + "x"
    found = engine.search(f"request_id:{prefix}*", limit=1000).logs
    return {log.request_id for log in found if log.request_id in markers}


# -- POST /api/v1/logs ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http() -> Iterator[tuple[LogAnalyticsEngine, TestClient]]:
    """One in-memory engine and its app for every HTTP example (markers keep examples apart)."""
    engine = LogAnalyticsEngine(alert_interval=None)
    yield engine, TestClient(create_app(engine), raise_server_exceptions=False)
    engine.close()


def _post(
    http: tuple[LogAnalyticsEngine, TestClient], items: list[Item], body: bytes, gzipped: bool, array: bool
) -> None:
    engine, client = http
    note(f"items: {items!r}")
    before = engine.count()
    headers = {"Content-Type": "application/json" if array else "application/x-ndjson"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    answer = client.post("/api/v1/logs", content=body, headers=headers)
    assert answer.status_code < 500, answer.text[:500]
    got = answer.json()
    rejected = [r["index"] for r in got["rejected"]]
    assert answer.status_code == (400 if rejected and not got["accepted"] else 200), answer.text[:500]
    assert all(r["reason"] for r in got["rejected"])
    found = _markers_stored(engine, items)
    _check(items, got["accepted"], engine.count() - before, rejected, got["rejected_count"], found)


@settings(FUZZ, max_examples=120)
@given(
    items=bodies(),
    crlf=st.booleans(),
    gzipped=st.booleans(),
    cuts=st.lists(st.integers(min_value=1, max_value=99), max_size=3),
)
def test_ndjson_bodies(
    http: tuple[LogAnalyticsEngine, TestClient], items: list[Item], crlf: bool, gzipped: bool, cuts: list[int]
) -> None:
    """NDJSON bodies, plain or gzip of one or more members: every line stored or rejected by index."""
    body = _ndjson(items, crlf)
    # A body starting with `[` is read as one JSON array, whatever its type says: an NDJSON body
    # whose first line is an array loses every line (test_abuse.py, test_an_ndjson_body_...)
    assume(not body.lstrip().startswith(b"["))
    _post(http, items, _gzip(body, cuts) if gzipped else body, gzipped, array=False)


@settings(FUZZ, max_examples=80)
@given(items=bodies(in_array=True), gzipped=st.booleans(), cuts=st.lists(st.integers(1, 99), max_size=3))
def test_json_array_bodies(
    http: tuple[LogAnalyticsEngine, TestClient], items: list[Item], gzipped: bool, cuts: list[int]
) -> None:
    """JSON array bodies (items that are not objects, deep or wide ones, bytes that are not UTF-8 in
    strings), plain or gzip: every item stored or rejected by its index."""
    body = b"[" + b", ".join(item.data for item in items) + b"]"
    _post(http, items, _gzip(body, cuts) if gzipped else body, gzipped, array=True)


# -- files, streams and the CLI -------------------------------------------------------------------


def _file_report_check(engine: LogAnalyticsEngine, items: list[Item], report: dict[str, Any]) -> None:
    assert report["rejected"] < 100  # so that every rejected line is listed
    rejected = [r["line"] - 1 for r in report["rejected_lines"]]
    assert all(r["reason"] for r in report["rejected_lines"])
    _check(
        items, report["count"], engine.count(), rejected, report["rejected"], _markers_stored(engine, items)
    )


def _ingest(engine: LogAnalyticsEngine, source: Path | io.BytesIO, file_type: str) -> dict[str, Any] | None:
    """The report, or None when the input was refused whole as not a log (random bytes can start
    like an image or a UTF-16 text): then nothing may be stored."""
    try:
        return engine.ingest_logs_from_file(source, file_type)
    except IngestError as exc:
        refused = str(exc)
    assert "is not a log" in refused
    assert engine.count() == 0
    return None


@settings(FUZZ, max_examples=60)
@given(
    items=bodies(huge_stored=True),
    crlf=st.booleans(),
    gzipped=st.booleans(),
    cuts=st.lists(st.integers(1, 99), max_size=3),
    file_type=st.sampled_from(["auto", "jsonl"]),
)
def test_jsonl_files(
    tmp_path_factory: pytest.TempPathFactory,
    items: list[Item],
    crlf: bool,
    gzipped: bool,
    cuts: list[int],
    file_type: str,
) -> None:
    """JSONL files, plain or gzip of several members: every line stored or listed by line number."""
    body = _ndjson(items, crlf)
    path = tmp_path_factory.mktemp("fuzz") / ("logs.jsonl.gz" if gzipped else "logs.jsonl")
    path.write_bytes(_gzip(body, cuts) if gzipped else body)
    with LogAnalyticsEngine() as engine:
        report = _ingest(engine, path, file_type)
        if report is not None:
            _file_report_check(engine, items, report)


@FUZZ
@given(items=bodies(huge_stored=True), gzipped=st.booleans())
def test_jsonl_streams(items: list[Item], gzipped: bool) -> None:
    """A JSONL stream (what `ingest -` reads from stdin), plain or gzip: as a file."""
    body = _ndjson(items, crlf=False)
    note(f"items: {items!r}")
    with LogAnalyticsEngine() as engine:
        report = _ingest(engine, io.BytesIO(gzip.compress(body) if gzipped else body), "jsonl")
        if report is not None:
            _file_report_check(engine, items, report)


text_lines = st.lists(
    st.one_of(
        st.tuples(
            st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=40),
            st.booleans(),
        ),
        st.binary(max_size=40).map(lambda b: (b.replace(b"\n", b" ").replace(b"\0", b" "), False)),
    ),
    min_size=1,
    max_size=25,
)


@FUZZ
@given(lines=text_lines, bad=st.sampled_from(NOT_UTF8))
def test_text_files(
    tmp_path_factory: pytest.TempPathFactory, lines: list[tuple[Any, bool]], bad: bytes
) -> None:
    """Text files: every line that is not blank is a log; marked lines (some holding bytes that are
    not UTF-8) are found by their marker."""
    first = next(_markers)
    data, marked = [], []
    for i, (line, mark) in enumerate(lines):
        if isinstance(line, str):
            marker = f"tx{first}x{i}q"
            marked.append(marker)
            data.append(f"{marker} ".encode() + (bad if mark else b"") + line.encode())
        else:
            data.append(line)
    path = tmp_path_factory.mktemp("fuzz") / "app.log"
    path.write_bytes(b"\n".join(data) + b"\n")
    with LogAnalyticsEngine() as engine:
        report = _ingest(engine, path, "text")
        if report is None:
            return
        assert report["count"] == engine.count()
        assert report["rejected"] == 0
        texts = [line.decode("utf-8", "replace") for line in data]
        assert (
            sum(1 for t in texts if t.strip())
            <= report["count"]
            <= sum(1 for t in texts if t.strip(" \t\r\f\v"))
        )
        messages = " ".join(log.message for log in engine.query_logs({}))
        assert set(re.findall(rf"tx{first}x\d+q", messages)) == set(marked)


runner = CliRunner()


@settings(FUZZ, max_examples=15)
@given(items=bodies(huge_stored=True), stdin=st.booleans())
def test_cli_ingest(tmp_path_factory: pytest.TempPathFactory, items: list[Item], stdin: bool) -> None:
    """`log-analytics ingest FILE --data DIR` and `ingest - --data DIR` (stdin): exit status 0 and
    the report's count stored, or status 2 refusing input that is not a log; never a traceback."""
    note(f"items: {items!r}")
    work = tmp_path_factory.mktemp("cli")
    body = _ndjson(items, crlf=False)
    source = work / "logs.jsonl"
    source.write_bytes(body)
    # --type jsonl: `auto` types a stream by its first line, and one that is not an object makes
    # the whole stream text (its JSON lines kept whole as messages, as documented)
    args = ["ingest", "-" if stdin else str(source), "--type", "jsonl", "--data", str(work / "data")]
    result = runner.invoke(cli_app, args, input=body if stdin else None)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    if result.exit_code == 2:
        assert "is not a log" in result.output
        return
    assert result.exit_code == 0, result.output
    stored = int(re.search(r"stored ([\d,]+) logs", result.output)[1].replace(",", ""))  # type: ignore[index]
    with LogAnalyticsEngine(work / "data") as engine:
        assert engine.count() == stored
        found = _markers_stored(engine, items)
    must = {item.marker for item in items if item.fate == "stored"}
    assert must <= found
