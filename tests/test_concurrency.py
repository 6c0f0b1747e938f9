"""Tests for concurrent use: writer threads ingest while reader threads query; nothing is lost,
duplicated or seen to go backwards, and no query fails."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from log_analytics_engine import LogAnalyticsEngine, LogEntry

WRITERS = 4
BATCHES = 30
BATCH_SIZE = 100
READERS = 2
WORDS = ("alpha", "bravo", "charlie")


def batch(writer: int, number: int) -> list[LogEntry]:
    """One batch of logs with ids unique across writers and batches."""
    out = []
    for k in range(BATCH_SIZE):
        i = (writer * BATCHES + number) * BATCH_SIZE + k
        out.append(
            LogEntry(
                1_753_099_200_000 + i,
                ("INFO", "ERROR")[i % 2],
                f"message {WORDS[i % 3]} from writer {writer}",
                source=f"w{writer}",
                request_id=str(i),
                tags=[f"t{i % 4}"],
            )
        )
    return out


@pytest.mark.parametrize("durable", [False, True], ids=["memory", "disk"])
def test_concurrent_ingest_and_queries(tmp_path: Path, durable: bool) -> None:
    """4 writers + 2 readers: exact final count, no loss or duplicate, reads never fail nor go backwards."""
    eng = LogAnalyticsEngine(tmp_path / "data" if durable else None, index_interval=0.02)
    errors: list[BaseException] = []
    done = threading.Event()
    seen: dict[int, list[tuple[int, int]]] = {}
    start = threading.Barrier(WRITERS + READERS)

    def write(writer: int) -> None:
        try:
            start.wait()
            for number in range(BATCHES):
                assert eng.ingest_logs(batch(writer, number)) == BATCH_SIZE
        except BaseException as exc:
            errors.append(exc)

    def read(reader: int) -> None:
        history: list[tuple[int, int]] = []
        seen[reader] = history
        try:
            start.wait()
            while True:
                finished = done.is_set()
                total = eng.count()
                alpha = eng.count({"keyword": "alpha"}) if reader == 0 else eng.count({"tags": "t1"})
                history.append((total, alpha))
                page = eng.query_logs({"keyword": "bravo"}, sort_desc=True, page=0, page_size=50)
                ids = [log.request_id for log in page]
                assert len(ids) == len(set(ids)), "duplicate rows in one page"
                assert all(log.matches_filter({"keyword": "bravo"}) for log in page)
                eng.query_logs({"level": "ERROR", "source": "w1"}, page=0, page_size=20)
                if finished:
                    return
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    threads += [threading.Thread(target=read, args=(r,)) for r in range(READERS)]
    try:
        for t in threads:
            t.start()
        for t in threads[:WRITERS]:
            t.join(timeout=300)
        done.set()
        for t in threads[WRITERS:]:
            t.join(timeout=300)
        assert not any(t.is_alive() for t in threads)
        assert not errors, errors[0]

        total = WRITERS * BATCHES * BATCH_SIZE
        assert eng.count() == total
        ids = eng.aggregate(group_by="request_id")["group_by"]
        assert set(ids) == {str(i) for i in range(total)}
        assert set(ids.values()) == {1}
        for reader, history in seen.items():
            assert history, reader
            totals = [h[0] for h in history]
            parts = [h[1] for h in history]
            assert totals == sorted(totals), f"reader {reader}: total count went backwards"
            assert parts == sorted(parts), f"reader {reader}: filtered count went backwards"
            assert totals[-1] == total
        assert eng.count({"keyword": "alpha"}) == len(range(0, total, 3))
        eng.flush()
        assert eng.count({"keyword": "alpha"}) == len(range(0, total, 3))
        assert eng.count({"tags": "t1"}) == total // 4
        assert len(eng.query_logs({"source": "w2"})) == BATCHES * BATCH_SIZE
    finally:
        done.set()
        eng.close()


def test_concurrent_file_and_batch_ingest(tmp_path: Path) -> None:
    """File ingest and batch ingest running at once store every log exactly once."""
    path = tmp_path / "f.jsonl"
    path.write_text(
        "".join(f'{{"message": "from file {i}", "request_id": "f{i}"}}\n' for i in range(2000)),
        encoding="utf-8",
    )
    errors: list[BaseException] = []
    with LogAnalyticsEngine(index_interval=0.02) as eng:

        def files() -> None:
            try:
                for _ in range(3):
                    assert eng.ingest_logs_from_file(path)["count"] == 2000
            except BaseException as exc:
                errors.append(exc)

        def batches() -> None:
            try:
                for number in range(20):
                    eng.ingest_logs(batch(0, number))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=files), threading.Thread(target=batches)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not errors, errors[0]
        assert eng.count() == 6000 + 20 * BATCH_SIZE
        assert eng.count({"keyword": "file"}) == 6000
        seqs = [log.seq for log in eng.query_logs({})]
        assert len(set(seqs)) == len(seqs)
