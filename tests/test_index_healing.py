"""The text index survives what used to kill it (issue 11, items 3, 8, 9): a disk that fills up or a
process out of file descriptors (the writer died for good and the index never caught up), a restart
with rows not indexed yet (nothing happened until the next write), and files garbled on disk (a panic
at open, or 500s on every text search while /readyz said 200). Queries stay exact throughout."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from log_analytics_engine import LogAnalyticsEngine, LogEntry
from log_analytics_engine.errors import StorageError
from log_analytics_engine.server.app import create_app
from log_analytics_engine.server.settings import Settings
from log_analytics_engine.storage.embedded import indexer as indexer_module
from log_analytics_engine.storage.embedded.indexfiles import live_files
from services import fill_disk, small_disk


def _logs(n: int, tag: str) -> list[LogEntry]:
    return [
        LogEntry(
            timestamp=1_700_000_000 + i, message=f"{tag} request {i} word{i % 10}", level="INFO", source="web"
        )
        for i in range(n)
    ]


def _wait(condition: object, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _exact(engine: LogAnalyticsEngine, total: int) -> None:
    """Text queries count every stored log whatever the index holds."""
    assert engine.search("request", limit=1).total == total
    assert engine.search("word3", limit=1).total == total // 10
    rows = engine.run("level:INFO request | stats by (level) count() as n").rows
    assert rows == [{"level": "INFO", "n": total}]


@pytest.fixture
def small_index_disk(tmp_path: Path) -> Iterator[Path]:
    """A data directory whose `index/` is a 4 MiB tmpfs."""
    with small_disk(tmp_path / "data" / "index", "4m"):
        yield tmp_path / "data"


def test_a_full_disk_stops_the_index_until_space_returns_then_it_catches_up(small_index_disk: Path) -> None:
    with LogAnalyticsEngine(small_index_disk, index_interval=0.05) as engine:
        engine.ingest_logs(_logs(1_000, "first"))
        engine.flush()
        ballast = fill_disk(small_index_disk / "index")
        engine.ingest_logs(_logs(20_000, "second"))
        with pytest.raises(StorageError, match="could not catch up"):
            engine.flush()
        status = engine.index_status()
        assert status["state"] == "failing"
        assert status["failures"] >= 1
        assert status["last_error"]
        # exact while failing: the planner scans what is not indexed
        assert engine.search("request", limit=1).total == 21_000
        ballast.unlink()
        # no new write and no flush: the indexer retries on its own
        _wait(lambda: engine.index_status()["state"] == "ok")
        assert engine.index_status()["lag"] == 0
        assert engine.index_status()["last_error"] is None
        assert engine.search("second", limit=1).total == 20_000


HELPER_EMFILE = textwrap.dedent(
    """
    import os, resource, sys, time
    from log_analytics_engine import LogAnalyticsEngine, LogEntry
    from log_analytics_engine.errors import StorageError

    # the indexer's own rounds come 2 s after a write: each flush here runs before them
    engine = LogAnalyticsEngine(sys.argv[1], index_interval=2.0)
    def logs(n, tag):
        return [LogEntry(timestamp=1.7e9 + i, message=f"{tag} request {i}", level="INFO") for i in range(n)]

    def short_of_descriptors(pid):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (len(os.listdir(f"/proc/{pid}/fd")) + 1, hard))
        return soft, hard

    engine.ingest_logs(logs(1_000, "first"))
    engine.flush()
    # the engine's process out of descriptors: the writer, in its own process, still indexes
    engine.ingest_logs(logs(2_000, "second"))
    limits = short_of_descriptors(os.getpid())
    try:
        engine.flush()
        print("engine short of descriptors: flush succeeded")
    except StorageError as exc:
        print("engine short of descriptors: flush failed:", exc)
    resource.setrlimit(resource.RLIMIT_NOFILE, limits)
    # the writer process out of descriptors: it fails, and is replaced
    writer = engine._store.store.index.writer_pid
    engine.ingest_logs(logs(3_000, "second"))
    short_of_descriptors(writer)
    try:
        engine.flush()
        print("flush succeeded")
    except StorageError as exc:
        print("flush failed:", exc)
    state = engine.index_status()["state"]
    deadline = time.monotonic() + 30
    while engine.index_status()["state"] != "ok" and time.monotonic() < deadline:
        time.sleep(0.05)
    print("state while short of descriptors:", state)
    print("then:", engine.index_status()["state"], engine.search("second", limit=1).total)
    print("writer replaced:", engine._store.store.index.writer_pid not in (None, writer))
    engine.close()
    """
)


def test_running_out_of_file_descriptors_heals_once_they_are_back(tmp_path: Path) -> None:
    """The engine's process out of descriptors keeps indexing (the writer has its own); the writer
    process out of them fails the round, is replaced, and the index catches up on its own."""
    helper = tmp_path / "emfile.py"
    helper.write_text(HELPER_EMFILE)
    done = subprocess.run(
        [sys.executable, str(helper), str(tmp_path / "data")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "engine short of descriptors: flush succeeded" in done.stdout
    assert "flush failed: the text index could not catch up" in done.stdout
    assert "state while short of descriptors: failing" in done.stdout
    assert "then: ok 5000" in done.stdout
    assert "writer replaced: True" in done.stdout


def test_closing_during_a_full_disk_returns_promptly_and_reopens_whole(small_index_disk: Path) -> None:
    engine = LogAnalyticsEngine(small_index_disk, index_interval=0.05)
    engine.ingest_logs(_logs(1_000, "first"))
    engine.flush()
    ballast = fill_disk(small_index_disk / "index")
    engine.ingest_logs(_logs(20_000, "second"))
    started = time.monotonic()
    engine.close()  # the final catch-up fails: logged, not raised
    assert time.monotonic() - started < 10
    ballast.unlink()
    with LogAnalyticsEngine(small_index_disk, index_interval=0.05) as again:
        _exact(again, 21_000)
        _wait(lambda: again.index_status()["lag"] == 0)


HELPER_UNINDEXED = textwrap.dedent(
    """
    import os, sys
    from log_analytics_engine import LogAnalyticsEngine, LogEntry

    engine = LogAnalyticsEngine(sys.argv[1], index_interval=3600)
    engine.ingest_logs([LogEntry(timestamp=1.7e9 + i, message=f"request {i} word{i % 10}", level="INFO")
                        for i in range(20_000)])
    os._exit(0)  # a crash: nothing indexed
    """
)


def test_the_index_catches_up_after_a_restart_without_waiting_for_a_write(tmp_path: Path) -> None:
    helper = tmp_path / "unindexed.py"
    helper.write_text(HELPER_UNINDEXED)
    subprocess.run([sys.executable, str(helper), str(tmp_path / "data")], check=True, timeout=120)
    with LogAnalyticsEngine(tmp_path / "data", index_interval=0.05) as engine:
        _wait(lambda: engine.index_status()["lag"] == 0)  # no ingest, no flush
        assert engine.index_status()["state"] == "ok"
        _exact(engine, 20_000)


def test_a_catch_up_commits_as_it_goes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long catch-up publishes its progress in steps (a process that keeps dying still advances)."""
    monkeypatch.setattr(indexer_module, "FETCH_ROWS", 2_000)
    monkeypatch.setattr(indexer_module, "COMMIT_SECONDS", 0.0)
    with LogAnalyticsEngine(tmp_path / "data", index_interval=3600) as engine:
        engine.ingest_logs(_logs(10_000, "bulk"))
        index = engine._store.store.index
        commits: list[int] = []
        real_commit = index.commit

        def commit(upto: int) -> None:
            real_commit(upto)
            commits.append(index.watermark)

        monkeypatch.setattr(index, "commit", commit)
        engine.flush()
        assert commits == [2_000, 4_000, 6_000, 8_000, 10_000]


def _garble(file: Path) -> None:
    """Flip the bytes of the file's middle half in place (same size, same name)."""
    data = bytearray(file.read_bytes())
    for i in range(len(data) // 4, len(data) // 2):
        data[i] ^= 0x5A
    with file.open("r+b") as handle:
        handle.write(data)


def _indexed_store(path: Path) -> None:
    with LogAnalyticsEngine(path) as engine:
        engine.ingest_logs(_logs(5_000, "stored"))
        engine.flush()


@pytest.mark.parametrize("suffix", [".fast", ".term", ".idx", ".store", ".pos", ".fieldnorm"])
def test_a_garbled_segment_file_is_set_aside_at_open_and_rebuilt(tmp_path: Path, suffix: str) -> None:
    data = tmp_path / "data"
    _indexed_store(data)
    victim = next(f for f in live_files(data / "index") if f.name.endswith(suffix))
    _garble(victim)
    garbled = victim.read_bytes()
    with LogAnalyticsEngine(data, index_interval=0.05) as engine:
        _exact(engine, 5_000)
        _wait(lambda: engine.index_status()["state"] == "ok")
        assert engine.index_status()["rebuilds"] == 1
        _exact(engine, 5_000)
    aside = sorted(tmp_path.glob("data/index.broken-*"))
    assert len(aside) == 1
    assert (aside[0] / victim.name).read_bytes() == garbled  # kept as found, for inspection


def test_a_truncated_segment_file_is_set_aside_at_open(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _indexed_store(data)
    victim = next(f for f in live_files(data / "index") if f.name.endswith(".term"))
    os.truncate(victim, victim.stat().st_size // 2)
    with LogAnalyticsEngine(data, index_interval=0.05) as engine:
        _exact(engine, 5_000)
        assert engine.index_status()["rebuilds"] == 1


def test_a_segment_garbled_while_serving_gives_exact_answers_and_a_truthful_readyz(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with LogAnalyticsEngine(data, index_interval=3600) as engine:  # rebuilt only when we say
        engine.ingest_logs(_logs(5_000, "stored"))
        engine.flush()
        client = TestClient(create_app(engine, Settings()))
        assert client.get("/readyz").json()["text_index"] == "ok"
        _garble(next(f for f in live_files(data / "index") if f.name.endswith(".fast")))
        for path in ("/api/v1/search?q=request&limit=5", "/api/v1/hits?q=word3", "/api/v1/fields?q=request"):
            assert client.get(path).status_code == 200, path
        assert client.get("/api/v1/search?q=request&limit=1").json()["total"] == 5_000
        assert client.get("/readyz").json() == {"status": "ready", "text_index": "rebuilding"}
        assert 'loganalytics_index_state{state="rebuilding"} 1.0' in client.get("/metrics").text
        engine.flush()  # the rebuild
        assert client.get("/readyz").json()["text_index"] == "ok"
        assert engine.index_status()["rebuilds"] == 1
        _exact(engine, 5_000)


def test_set_aside_copies_are_kept_to_a_few(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _indexed_store(data)
    for _ in range(5):
        _garble(next(f for f in live_files(data / "index") if f.name.endswith(".fast")))
        with LogAnalyticsEngine(data, index_interval=0.05) as engine:
            engine.flush()
    assert len(list(tmp_path.glob("data/index.broken-*"))) == 3


def test_writes_wait_for_an_index_too_far_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Backpressure: with the indexer told to wait an hour between rounds, the rows it does not hold
    (which every text query scans) still stay within MAX_INDEX_LAG plus one write; they grew without
    bound before."""
    monkeypatch.setattr(indexer_module, "MAX_INDEX_LAG", 2_000)
    with LogAnalyticsEngine(tmp_path / "data", index_interval=3600) as engine:
        for i in range(10):
            engine.ingest_logs(_logs(1_000, f"batch{i}"))
            assert engine.index_status()["lag"] <= 2_000 + 1_000
        assert engine.index_status()["lag_waits"] >= 2  # the 4th, 7th and 10th writes
        _exact(engine, 10_000)


def test_a_failing_index_holds_no_write_back(small_index_disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(indexer_module, "MAX_INDEX_LAG", 2_000)
    monkeypatch.setattr(indexer_module, "LAG_WAIT_SECONDS", 600.0)
    with LogAnalyticsEngine(small_index_disk, index_interval=0.05) as engine:
        ballast = fill_disk(small_index_disk / "index")
        started = time.monotonic()
        for i in range(10):
            engine.ingest_logs(_logs(2_000, f"batch{i}"))
        assert time.monotonic() - started < 60  # not 600 s a write
        assert engine.index_status()["state"] == "failing"
        assert engine.index_status()["lag"] == 20_000
        ballast.unlink()
        _wait(lambda: engine.index_status()["lag"] == 0)


def test_a_thread_whose_cursor_was_left_in_a_failed_transaction_still_catches_up(tmp_path: Path) -> None:
    """A DuckDB error inside a transaction leaves that thread's cursor aborted; a catch-up run from
    the thread (`flush`, or close) failed on it forever ("Current transaction is aborted")."""
    with LogAnalyticsEngine(tmp_path / "data", index_interval=3600) as engine:
        engine.ingest_logs(_logs(1_000, "first"))
        cur = engine._store.store.cursor()
        cur.execute("BEGIN").fetchall()
        with pytest.raises(duckdb.Error):
            cur.execute("SELECT 'not a number'::INTEGER").fetchall()
        engine.flush()
        assert engine.index_status()["lag"] == 0
        _exact(engine, 1_000)
