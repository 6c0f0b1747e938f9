"""The store's copy of its newest Arrow writes (storage/recent.py) answers point reads exactly as DuckDB
does, covers one unbroken seq range, and steps aside for rows it does not hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from log_analytics_engine import LogAnalyticsEngine, LogEntry
from log_analytics_engine.storage.embedded.recent import RecentRows

NOW = datetime(2025, 7, 21, 12, 0, tzinfo=UTC)


def _table(first: int, n: int) -> pa.Table:
    return pa.table(
        {"seq": list(range(first, first + n)), "message": [f"m{s}" for s in range(first, first + n)]}
    )


def test_rows_in_the_order_asked_across_chunks() -> None:
    recent = RecentRows(capacity=100)
    recent.add(1, _table(1, 3))
    recent.add(4, _table(4, 2))
    assert recent.rows([5, 1, 3, 4]) == [(5, "m5"), (1, "m1"), (3, "m3"), (4, "m4")]


def test_a_seq_outside_the_range_means_none() -> None:
    recent = RecentRows(capacity=100)
    assert recent.rows([1]) is None
    recent.add(10, _table(10, 5))
    assert recent.rows([9, 10]) is None
    assert recent.rows([14, 15]) is None
    assert recent.rows([]) is None


def test_a_gap_starts_afresh_and_capacity_drops_the_oldest_chunks() -> None:
    recent = RecentRows(capacity=4)
    recent.add(1, _table(1, 3))
    recent.add(7, _table(7, 2))  # seqs 4-6 went elsewhere (a SQL insert)
    assert recent.rows([1]) is None
    assert recent.rows([7, 8]) == [(7, "m7"), (8, "m8")]
    recent.add(9, _table(9, 3))
    recent.add(12, _table(12, 3))  # the oldest chunks go while the rest still hold 4 rows
    assert recent.rows([8]) is None
    assert recent.rows([9, 14]) == [(9, "m9"), (14, "m14")]


def test_a_write_larger_than_the_capacity_is_not_kept() -> None:
    recent = RecentRows(capacity=4)
    recent.add(1, _table(1, 3))
    recent.add(4, _table(4, 5))
    assert recent.rows([4]) is None
    assert recent.rows([1]) is None
    assert not recent


def _dicts(entries: list[LogEntry]) -> list[dict[str, object]]:
    return [{**e.to_dict(), "seq": e.seq} for e in entries]


def test_point_reads_from_the_copy_equal_duckdb(tmp_path: Path) -> None:
    """Arrow writes (HTTP bodies, ingest_logs) then a file ingest then more Arrow writes: every read
    by seq is the same whether the copy or DuckDB answers it."""
    path = tmp_path / "more.jsonl"
    path.write_text("".join(json.dumps({"message": f"file {i}", "level": "warn"}) + "\n" for i in range(5)))
    with LogAnalyticsEngine() as engine:
        body = "".join(
            json.dumps(
                {"message": f"body {i}", "tags": ["a"], "region": "eu", "timestamp": f"2025-01-0{i + 1}"}
            )
            + "\n"
            for i in range(5)
        )
        engine.ingest_ndjson(body.encode())
        engine.ingest_logs([LogEntry(NOW, "debug", "entry", metadata={"k": [1, 2]}, thread_id="t1")])
        store = engine._store.store
        store.wait_evaluated()  # the copy is filled as the applier stores the writes
        assert store._recent.rows([1, 6]) is not None  # both writes are held
        engine.ingest_logs_from_file(path, "jsonl")
        engine.ingest_logs([LogEntry(NOW, "error", "late", user_id="u")])
        store.wait_evaluated()
        assert store._recent.rows([1]) is None  # the file's rows broke the range: only the last write
        assert store._recent.rows([12]) is not None
        for seqs in ([3, 1, 6], [12], [12, 7, 1]):
            copied = store.fetch_seqs(seqs)
            from_duckdb = store.entries(
                "SELECT * FROM logs WHERE seq IN (SELECT unnest(?::BIGINT[]))", [seqs]
            )
            by_seq = {e.seq: e for e in from_duckdb}
            assert _dicts(copied) == _dicts([by_seq[s] for s in seqs])
