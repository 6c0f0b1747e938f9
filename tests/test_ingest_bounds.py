"""The bounds on one log (ingest/bounds.py: nesting depth, keys) on every ingest route, what bodies of
many distinct keys cost Arrow's reader (ingest/arrowjson.py), and the memory of large bodies
(ingest/records.py, memory.py)."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from log_analytics_engine import LogAnalyticsEngine, LogEntry, memory
from log_analytics_engine.errors import IngestError
from log_analytics_engine.ingest import arrowjson, bounds, records
from log_analytics_engine.server.app import create_app
from log_analytics_engine.server.settings import Settings

# The most leaf columns Arrow may build for one body: the known fields and the extra keys it keeps.
ARROW_COLUMNS = len(arrowjson._KNOWN) + arrowjson.MAX_EXTRA_KEYS


@pytest.fixture
def client(engine: LogAnalyticsEngine) -> TestClient:
    return TestClient(create_app(engine, Settings()))


@pytest.fixture
def arrow_columns(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The leaf columns (struct fields flattened) of every table Arrow's JSON reader builds."""
    built: list[int] = []
    read = arrowjson._read

    def counting(body: bytes, schema: pa.Schema, unexpected: str = "error") -> pa.Table:
        table = read(body, schema, unexpected)
        built.append(table.flatten().num_columns)
        return table

    monkeypatch.setattr(arrowjson, "_read", counting)
    return built


def _ndjson(records_: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records_)


def _deep(depth: int, message: str = "deep") -> bytes:
    """A log `depth` levels deep (the log's own object is the first)."""
    inner = depth - 1
    return b'{"message": "' + message.encode() + b'", "m": ' + b"[" * inner + b"]" * inner + b"}"


def _keys(total: int, message: str = "wide") -> dict[str, Any]:
    """A log of `total` keys, `message` among them."""
    return {"message": message, **{f"k{i}": i for i in range(total - 1)}}


def _depth_and_keys(value: Any) -> tuple[int, int]:
    if isinstance(value, dict):
        inner = [_depth_and_keys(v) for v in value.values()]
        return 1 + max((d for d, _ in inner), default=0), len(value) + sum(k for _, k in inner)
    if isinstance(value, list):
        inner = [_depth_and_keys(v) for v in value]
        return 1 + max((d for d, _ in inner), default=0), sum(k for _, k in inner)
    return 0, 0


TEXT = st.text(alphabet='{}[]:"\\ ,aé\n', max_size=8)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=30,
)


@given(JSON, st.sampled_from([1 << 20, 1, 3]))
def test_measure_counts_levels_and_keys_outside_strings(value: Any, piece: int) -> None:
    """`measure` gives a JSON text's nesting depth and its keys at every level, whatever brackets,
    colons, quotes and backslashes its strings hold, and however the scan is cut into pieces."""
    text = json.dumps(value, ensure_ascii=False).encode()
    saved, bounds._PIECE = bounds._PIECE, piece
    try:
        assert bounds.measure(text) == _depth_and_keys(value)
    finally:
        bounds._PIECE = saved


@pytest.mark.parametrize(
    "body",
    [
        # 200 lines of 100 keys of their own: Arrow built 20,008 columns to find there were too many
        _ndjson([{"message": f"m{i}", **{f"k{i}_{j}": j for j in range(100)}} for i in range(200)]),
        # nested: one struct column of 20,000 fields, which the column count did not see
        _ndjson([{"message": f"m{i}", "ctx": {f"k{i}_{j}": j for j in range(100)}} for i in range(200)]),
    ],
    ids=["distinct-keys", "distinct-nested-keys"],
)
def test_bodies_of_many_distinct_keys_never_reach_arrow_inference(
    client: TestClient, engine: LogAnalyticsEngine, arrow_columns: list[int], body: bytes
) -> None:
    """A body whose lines have keys of their own is stored whole, every key kept in metadata, but
    Arrow's reader never builds more columns than the fast path keeps (1,000 lines of 200 such keys
    once took 14 s and 2.6 GB there): such bodies take the per-record path, linear in their bytes."""
    answer = client.post("/api/v1/logs", content=body)
    lines = body.splitlines()
    assert answer.json()["accepted"] == len(lines)
    assert max(arrow_columns, default=0) <= ARROW_COLUMNS
    last = orjson.loads(lines[-1])
    [log] = engine.search(f'"{last["message"]}"').logs
    assert log.metadata == {k: v for k, v in last.items() if k != "message"}


def test_a_body_past_the_sample_takes_arrow_only_when_its_keys_are_shared(
    client: TestClient, engine: LogAnalyticsEngine, arrow_columns: list[int]
) -> None:
    """A body of more lines than the sample is read by Arrow against the sample's keys when its lines
    share them; when each line has keys of its own, Arrow's reader never sees it (it inferred 2,008
    columns from the first 1,000 lines before giving up), and every line is stored all the same."""
    n = arrowjson.SAMPLE_LINES + 100
    shared = _ndjson([{"message": f"m{i}", "region": "eu", "status": i} for i in range(n)])
    assert client.post("/api/v1/logs", content=shared).json()["accepted"] == n
    assert arrow_columns == [len(arrowjson._KNOWN) + 2, len(arrowjson._KNOWN) + 2]  # the sample, the body
    arrow_columns.clear()
    own = _ndjson([{"message": f"own{i}", f"a{i}": 1, f"b{i}": 2} for i in range(n)])
    assert client.post("/api/v1/logs", content=own).json()["accepted"] == n
    assert max(arrow_columns, default=0) <= ARROW_COLUMNS
    [log] = engine.search("own7").logs
    assert log.metadata == {"a7": 1, "b7": 2}


@pytest.mark.parametrize("array", [False, True], ids=["ndjson", "array"])
def test_a_log_over_the_keys_bound_is_rejected_alone(
    client: TestClient, engine: LogAnalyticsEngine, array: bool
) -> None:
    """A log of more than 1,000 keys, counted at every level (its metadata's nested objects too), is
    rejected by itself with a reason naming the bound; a log of exactly 1,000 and the others are stored."""
    nested = {"message": "nested", "metadata": {"a": {f"k{i}": i for i in range(499)}, "b": _keys(500)}}
    logs = [{"message": "first"}, _keys(bounds.MAX_KEYS, "at-bound"), _keys(bounds.MAX_KEYS + 1), nested]
    logs.append({"message": "last", "note": "[{:" * 2_000})  # only structure counts, not strings
    if array:
        body, headers = orjson.dumps(logs), {"Content-Type": "application/json"}
    else:
        body, headers = _ndjson(logs), {}
    answer = client.post("/api/v1/logs", content=body, headers=headers).json()
    assert answer["accepted"] == 3
    assert [r["index"] for r in answer["rejected"]] == [2, 3]
    assert answer["rejected"][0]["reason"].startswith("1,001 keys, over the bound of 1,000 keys a log")
    assert answer["rejected"][1]["reason"].startswith("1,003 keys, over the bound of 1,000 keys a log")
    assert sorted(log.message for log in engine.query_logs({})) == ["at-bound", "first", "last"]


def test_http_logs_deeper_than_the_bound_are_rejected_and_answers_hold_the_rest(
    client: TestClient, engine: LogAnalyticsEngine
) -> None:
    """A log 129 levels deep is rejected alone; one 252 deep was stored and then made every search
    holding it a 500 (orjson writes 254 levels, the answer wraps it 3 deeper). A log at the bound
    is stored and every answer holding it can be written."""
    body = b"\n".join([_deep(bounds.MAX_DEPTH, "at"), _deep(bounds.MAX_DEPTH + 1, "over"), _deep(252, "far")])
    answer = client.post("/api/v1/logs", content=body + b"\n").json()
    assert answer["accepted"] == 1
    assert [r["index"] for r in answer["rejected"]] == [1, 2]
    assert all(r["reason"] == bounds.TOO_DEEP for r in answer["rejected"])
    assert "nested deeper than 128 levels" in bounds.TOO_DEEP
    search = client.get("/api/v1/search", params={"q": "*"})
    assert search.status_code == 200
    assert [log["message"] for log in search.json()["logs"]] == ["at"]


def _bad_file(path: Path) -> tuple[Path, list[bytes]]:
    """A JSONL file of good lines around a 100,000-deep line, a line of 1,001 keys and a line that is
    not JSON; the bad lines."""
    bad = [_deep(100_000), orjson.dumps(_keys(bounds.MAX_KEYS + 1)), b'{"message": "cut']
    # only structure counts: brackets, colons and escaped quotes in strings are not levels or keys
    good_2 = orjson.dumps({"message": "good 2", "note": "[{:" * 2_000 + '\\"', "k": {"a": "]}" * 300}})
    lines = [b'{"message": "good 1"}', *bad, good_2]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, bad


def _check_file_report(
    report: dict[str, Any], engine: LogAnalyticsEngine, dead: Path, bad: list[bytes]
) -> None:
    assert report["count"] == 2
    assert report["rejected"] == 3
    got = [(r["line"], r["reason"]) for r in report["rejected_lines"]]
    assert got[:2] == [(2, bounds.TOO_DEEP), (3, bounds.too_many_keys(bounds.MAX_KEYS + 1))]
    assert got[2][0] == 4
    assert got[2][1].startswith("invalid JSON")
    assert dead.read_bytes() == b"".join(line + b"\n" for line in bad)  # each body kept, in order
    # every read of the store still works (a stored 100,000-deep line made each one fail)
    assert sorted(log.message for log in engine.query_logs({})) == ["good 1", "good 2"]
    assert engine.search("good").total == 2


def test_a_file_keeps_its_good_lines_past_a_100000_deep_line(
    engine: LogAnalyticsEngine, tmp_path: Path
) -> None:
    """File ingest rejects a line nested past the bound (100,000 deep: DuckDB stored it, and every
    later read failed) and one of too many keys by themselves, with file line numbers and reasons;
    their bodies go to the dead letter file like any bad line's, and the rest is stored."""
    path, bad = _bad_file(tmp_path / "logs.jsonl")
    dead = tmp_path / "dead.jsonl"
    _check_file_report(engine.ingest_logs_from_file(path, dead_letter=dead), engine, dead, bad)


def test_a_stream_keeps_its_good_lines_past_a_100000_deep_line(
    engine: LogAnalyticsEngine, tmp_path: Path
) -> None:
    """Standard input gets the same bounds as a file, numbered from its first line."""
    path, bad = _bad_file(tmp_path / "logs.jsonl")
    dead = tmp_path / "dead.jsonl"
    stream = io.BytesIO(path.read_bytes())
    _check_file_report(engine.ingest_logs_from_file(stream, dead_letter=dead), engine, dead, bad)


def test_plain_records_of_a_large_body_hold_little_python_memory() -> None:
    """The per-record path holds a large body's plain records as Arrow columns, a few thousand rows at
    a time: each metadata text from orjson had a 4 KB buffer (64k logs of a 16 MiB body peaked at 300
    MB of Python memory), where 20,000 logs of ~120 bytes now stay under 16 MB."""
    lines = [
        orjson.dumps({"message": f"request {i}", "level": "info", "ctx": {"k": i}, "region": "eu"}).decode()
        for i in range(20_000)
    ]
    tracemalloc.start()
    try:
        parsed = records.parse_lines(lines, 0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20
    batch = parsed.batch()
    assert batch is not None
    assert batch.table.num_rows == 20_000
    assert orjson.loads(batch.table.column("metadata")[7].as_py()) == {"ctx": {"k": 7}, "region": "eu"}


def test_memory_is_released_after_large_bodies_only(
    engine: LogAnalyticsEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Freed memory is given back (Arrow's pool, glibc's heap) after a body of RELEASE_AFTER_BYTES
    or more, whichever path it took; small bodies skip the cost."""
    calls: list[int] = []
    monkeypatch.setattr(memory, "release", lambda: calls.append(1))
    monkeypatch.setattr(memory, "RELEASE_AFTER_BYTES", 64 << 10)  # 4 MiB in use; smaller bodies here
    plain = b'{"message": "plain", "region": "eu"}\n'
    nested = b'{"message": "nested", "ctx": {"k": 1}}\n'
    for line in (plain, nested):
        engine.ingest_ndjson(line)
        assert calls == []
        engine.ingest_ndjson(line * (memory.RELEASE_AFTER_BYTES // len(line) + 1))
        assert calls == [1]
        calls.clear()
    memory.release_after(0)
    assert calls == []


def _nested(depth: int) -> dict[str, object]:
    top: dict[str, object] = {}
    level = top
    for _ in range(depth - 1):
        child: dict[str, object] = {}
        level["a"] = child
        level = child
    return top


@pytest.mark.parametrize("depth", [128, 2_000])
def test_library_entries_over_the_bounds_are_refused_by_name(depth: int) -> None:
    """`ingest_logs` with LogEntry metadata past the bounds: an IngestError naming the entry and the
    bound, nothing of the batch stored (2,000 levels raised orjson's bare TypeError; 128 levels of
    metadata, 129 for the log, were stored)."""
    engine = LogAnalyticsEngine()
    good = LogEntry(timestamp=1.7e9, level="INFO", message="fine")
    deep = LogEntry(timestamp=1.7e9, level="INFO", message="deep", metadata=_nested(depth))
    with pytest.raises(IngestError, match=r"log 1 of the batch: .*nested deeper than 128 levels"):
        engine.ingest_logs([good, deep])
    wide = LogEntry(
        timestamp=1.7e9, level="INFO", message="wide", metadata={f"k{i}": i for i in range(1_001)}
    )
    with pytest.raises(IngestError, match=r"log 0 of the batch: 1,002 keys, over the bound of 1,000"):
        engine.ingest_logs([wide])
    assert engine.count() == 0
    engine.ingest_logs([good, LogEntry(timestamp=1.7e9, level="INFO", message="ok", metadata=_nested(127))])
    assert engine.count() == 2
