"""JSON lines ingested in memory (ingest/records.py: plain records as Arrow columns, the rest through
SQL; ingest/arrowjson.py: whole NDJSON bodies by Arrow's JSON reader) are stored exactly as the same
lines in a JSONL file (ingest/jsonl.py): random records, plain and odd, compared row by row, and the
rejected lines with the same reasons."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from log_analytics_engine import LogAnalyticsEngine
from log_analytics_engine.ingest import arrowjson

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
scalar = st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6), text)
json_value = st.recursive(scalar, lambda inner: st.lists(inner, max_size=3), max_leaves=5)
timestamps = st.one_of(
    st.none(),
    st.sampled_from(["2025-07-21T12:00:00Z", "2025-07-21 12:00:01.5+02:00", "1753099200", "yesterday", ""]),
    st.integers(1_700_000_000, 1_800_000_000),
    st.floats(1.7e9, 1.8e9, allow_nan=False),
    st.just(True),
)
record = st.fixed_dictionaries(
    {},
    optional={
        "timestamp": timestamps,
        "level": st.one_of(
            st.sampled_from(["error", "WARNING", " info ", "crit", ""]), st.integers(0, 5), st.none()
        ),
        "message": st.one_of(text, st.integers(), st.none()),
        "source": st.one_of(text, st.none()),
        "tags": st.one_of(st.lists(text, max_size=3), text, st.lists(scalar, max_size=2), st.none()),
        "user_id": st.one_of(text, st.integers(), st.none()),
        "metadata": st.one_of(st.dictionaries(text, json_value, max_size=2), scalar),
        "region": json_value,
        "duration_ms": st.one_of(st.integers(0, 5000), st.floats(0, 10, allow_nan=False)),
    },
)
odd_lines = ["not json", "[1, 2]", '{"broken": ', "", "42", "null", '{"a": 1} {"b": 2}', "{} null {}", " \t"]
line = st.one_of(record.map(json.dumps), st.sampled_from(odd_lines))

# Records the Arrow reader takes whole: text fields, text timestamps, extra keys with text (no control
# characters), integers, booleans or non-integral numbers, and no JSON null.
no_control = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=12)
plain_record = st.fixed_dictionaries(
    {},
    optional={
        "timestamp": st.one_of(
            st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1)).map(
                lambda t: t.isoformat() + "Z"
            ),
            st.sampled_from(["2025-07-21T12:00:00.123456789Z", "2025-07-21 12:00:01.5+02:00", "1753099200"]),
        ),
        "level": st.sampled_from(["error", "WARNING", " info ", "crit", "", "custom"]),
        "message": text,
        "source": text,
        "tags": st.lists(text, max_size=3),
        "thread_id": text,
        "request_id": text,
        "user_id": text,
        "region": no_control,
        'odd "key" ü': no_control,
        "duration_ms": st.integers(-(2**63), 2**63 - 1),
        "ratio": st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x != int(x)),
        "ok": st.booleans(),
    },
)


def _stored(engine: LogAnalyticsEngine) -> list[str]:
    """The stored columns of every row, as sorted text; an event time that is the row's own ingest
    time (no usable timestamp in the record) shows as "now", since the two engines ingest apart."""
    rows = engine._store.store.rows(
        "SELECT CASE WHEN ts = ingested_at THEN NULL ELSE ts END, level, severity, source, message, tags, "
        "thread_id, request_id, user_id, metadata FROM logs"
    )
    # metadata compared as data (the file path orders extra keys by name, the other keeps the record's)
    meta = [None if row[9] is None else json.dumps(json.loads(row[9]), sort_keys=True) for row in rows]
    return sorted(repr((*row[:9], m)) for row, m in zip(rows, meta, strict=True))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(line, max_size=12))
def test_in_memory_lines_store_like_a_file(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "same.jsonl"
    path.write_text("".join(f"{x}\n" for x in lines))
    with LogAnalyticsEngine() as by_file, LogAnalyticsEngine() as in_memory:
        file_report = by_file.ingest_logs_from_file(path, "jsonl")
        memory_report = in_memory.ingest_json_lines(lines)
        assert memory_report["count"] == file_report["count"]
        assert memory_report["rejected_lines"] == file_report["rejected_lines"]
        # plain records are stored in one write and the others in a second: compare as sorted rows
        assert _stored(in_memory) == _stored(by_file)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(line, max_size=12))
def test_ndjson_bodies_store_like_a_file(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "same.jsonl"
    body = "".join(f"{x}\n" for x in lines)
    path.write_text(body)
    with LogAnalyticsEngine() as by_file, LogAnalyticsEngine() as by_body:
        file_report = by_file.ingest_logs_from_file(path, "jsonl")
        body_report = by_body.ingest_ndjson(body.encode())
        assert body_report["count"] == file_report["count"]
        assert body_report["rejected_lines"] == file_report["rejected_lines"]
        assert _stored(by_body) == _stored(by_file)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(plain_record, min_size=1, max_size=12), crlf=st.booleans())
def test_plain_bodies_take_the_arrow_path_and_store_like_a_file(
    tmp_path: Path, records: list[dict[str, object]], crlf: bool
) -> None:
    body = "".join(json.dumps(r) + ("\r\n" if crlf else "\n") for r in records).encode()
    assume(not arrowjson._NULL_VALUE.search(body))  # a message holding `: null}` leaves the fast path
    assert arrowjson.to_batch(body, 0) is not None
    path = tmp_path / "same.jsonl"
    path.write_bytes(body)
    with LogAnalyticsEngine() as by_file, LogAnalyticsEngine() as by_body:
        assert by_body.ingest_ndjson(body)["count"] == by_file.ingest_logs_from_file(path, "jsonl")["count"]
        assert _stored(by_body) == _stored(by_file)


def _large_body(rare_key_at: int | None) -> bytes:
    """2,500 plain records with extra keys; one record gets a key of its own when `rare_key_at` is set."""
    records = []
    for i in range(2_500):
        record: dict[str, object] = {"timestamp": f"2025-07-21T12:{i // 60 % 60:02d}:{i % 60:02d}.{i:04d}Z"}
        record |= {"level": ["info", "error", "warn"][i % 3], "message": f"request {i} done", "region": "eu"}
        if i % 7:
            record["duration_ms"] = i
        if i == rare_key_at:
            record["rare"] = "only here"
        records.append(record)
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def test_large_bodies_learn_their_keys_from_the_first_lines(tmp_path: Path) -> None:
    """Over SAMPLE_LINES lines the keys come from the first lines: a body whose keys all show up there
    takes the Arrow path, one with a key first seen later goes line by line; both store like a file."""
    assert arrowjson.SAMPLE_LINES < 2_000
    for rare_key_at, fast in ((None, True), (2_000, False)):
        body = _large_body(rare_key_at)
        assert (arrowjson.to_batch(body, 0) is not None) is fast
        path = tmp_path / f"large-{fast}.jsonl"
        path.write_bytes(body)
        with LogAnalyticsEngine() as by_file, LogAnalyticsEngine() as by_body:
            assert (
                by_body.ingest_ndjson(body)["count"] == by_file.ingest_logs_from_file(path, "jsonl")["count"]
            )
            assert _stored(by_body) == _stored(by_file)


def test_arrow_reader_never_sees_a_body_that_is_not_objects() -> None:
    """pyarrow 26 crashes the process on a body that is only `null`, or on objects nested ~10,000
    deep, and raises on keys that are not UTF-8: such bodies take the line path (which rejects the
    deep one and stores the other with U+FFFD)."""
    with LogAnalyticsEngine() as engine:
        deep = b'{"a":' * 20_000 + b"1" + b"}" * 20_000 + b"\n"
        for body in (b"null", b" null \n", b"[]", b'"x"', b"{} null", deep):
            assert arrowjson.to_batch(body, 0) is None
            assert engine.ingest_ndjson(body)["count"] == 0
        odd_key = b'{"message": "odd key", "\xff": 1}\n'
        assert arrowjson.to_batch(odd_key, 0) is None
        assert engine.ingest_ndjson(odd_key)["count"] == 1
        assert engine.search("odd").logs[0].metadata == {"\ufffd": 1}
        # a key of its own on every line: Arrow would give each a column for all rows (rows x keys)
        own_keys = "".join(json.dumps({"message": "own", f"k{i}": i}) + "\n" for i in range(5_000)).encode()
        assert arrowjson.to_batch(own_keys, 0) is None
        assert engine.ingest_ndjson(own_keys)["count"] == 5_000


def test_concurrent_bodies_share_commits_and_lose_nothing() -> None:
    """Eight threads ingesting small bodies at once (group commit): every log stored once, and each
    call's report counts its own logs."""
    with LogAnalyticsEngine() as engine:
        counts: list[int] = []

        def send(worker: int) -> None:
            for call in range(20):
                body = [json.dumps({"message": f"w{worker} c{call} n{i}"}) for i in range(50)]
                counts.append(engine.ingest_json_lines(body)["count"])

        threads = [threading.Thread(target=send, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert counts == [50] * 160
        rows = engine._store.store.rows(
            "SELECT message, count(*) FROM logs GROUP BY message HAVING count(*) > 1"
        )
        assert rows == []
        assert engine.count() == 8000
