"""The text index's writer in its own process (issue 15, deliverable 4): searches see what a flush
indexed, a writer killed, hung or whose answer was lost is replaced without losing or doubling a
document, and no writer process outlives its engine, closed or not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from log_analytics_engine import LogAnalyticsEngine, LogEntry
from log_analytics_engine.errors import StorageError
from log_analytics_engine.query.ast import Word
from log_analytics_engine.storage.embedded import indexer as indexer_module
from log_analytics_engine.storage.embedded import indexproc
from log_analytics_engine.storage.embedded.indexproc import WriterProcess, WriterProcessError
from log_analytics_engine.storage.embedded.textindex import TextIndex


def _logs(n: int, tag: str) -> list[LogEntry]:
    return [
        LogEntry(timestamp=1_700_000_000 + i, message=f"{tag} request {i} word{i % 10}", level="INFO")
        for i in range(n)
    ]


def _gone(pid: int, seconds: float = 20.0) -> bool:
    """Whether process `pid` ends (and is reaped, or is no child of ours) within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def _indexed_alone(engine: LogAnalyticsEngine, tag: str, n: int) -> None:
    """The index holds every stored log once: its own counts (no table scan) are exact."""
    index = engine._store.store.index
    assert index.snapshot()[1] == engine._store.last_seq
    assert index.count(Word("request"))[0] == engine._store.last_seq
    assert index.count(Word(tag))[0] == n
    assert engine.search(tag, limit=1).total == n


def test_a_search_sees_the_documents_a_flush_indexed_in_the_writer_process(tmp_path: Path) -> None:
    """After flush the searcher of the engine's process holds what the writer process committed."""
    with LogAnalyticsEngine(tmp_path / "data", index_interval=3600) as engine:
        engine.ingest_logs(_logs(3_000, "first"))
        assert engine._store.store.index.writer_pid is None  # started by the first catch-up
        engine.flush()
        pid = engine._store.store.index.writer_pid
        assert pid is not None
        assert pid != os.getpid()
        assert psutil.Process(pid).ppid() == os.getpid()
        _indexed_alone(engine, "first", 3_000)
        engine.ingest_logs(_logs(2_000, "second"))
        engine.flush()
        assert engine._store.store.index.writer_pid == pid  # one process for the engine's life
        _indexed_alone(engine, "second", 2_000)
        assert engine.search("word3", limit=1).total == 500


def test_an_in_memory_engine_keeps_its_writer_in_this_process() -> None:
    """A RAM index cannot be shared with another process: no writer process, searches exact."""
    with LogAnalyticsEngine(index_interval=3600) as engine:
        engine.ingest_logs(_logs(1_000, "memory"))
        engine.flush()
        assert engine._store.store.index.writer_pid is None
        _indexed_alone(engine, "memory", 1_000)


def test_a_writer_killed_mid_batch_is_replaced_and_the_index_catches_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL while the writer takes a batch: the catch-up fails, queries stay exact, the next
    round starts a new writer from the last commit; nothing is lost or indexed twice."""
    monkeypatch.setattr(indexer_module, "FETCH_ROWS", 2_000)
    monkeypatch.setattr(indexer_module, "COMMIT_SECONDS", 0.0)
    with LogAnalyticsEngine(tmp_path / "data", index_interval=3600) as engine:
        engine.ingest_logs(_logs(1_000, "first"))
        engine.flush()
        index = engine._store.store.index
        engine.ingest_logs(_logs(9_000, "second"))
        sent: list[int] = []
        real_add = index.add_docs

        def add_then_kill(payload: Any) -> None:
            real_add(payload)
            sent.append(1)
            if len(sent) == 2:  # after one commit of this catch-up, in the middle of the next batch
                pid = index.writer_pid
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
                assert _gone(pid)

        monkeypatch.setattr(index, "add_docs", add_then_kill)
        with pytest.raises(StorageError, match="could not catch up"):
            engine.flush()
        assert engine.index_status()["state"] == "failing"
        assert 1_000 < index.watermark < 10_000  # the commit before the kill stands
        assert engine.search("second", limit=1).total == 9_000  # exact: the tail is scanned
        engine.flush()
        assert engine.index_status()["state"] == "ok"
        _indexed_alone(engine, "second", 9_000)


def test_a_commit_whose_answer_was_lost_is_not_indexed_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that committed and died before answering: the new writer reads the watermark from the
    index itself, so the catch-up resumes after the commit rather than resending it."""
    with LogAnalyticsEngine(tmp_path / "data", index_interval=3600) as engine:
        engine.ingest_logs(_logs(1_000, "first"))
        engine.flush()
        index = engine._store.store.index
        writer = index._writer
        assert isinstance(writer, WriterProcess)
        real_commit = writer.commit

        def commit_then_die() -> None:
            real_commit()
            pid = writer.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            raise WriterProcessError("the answer was lost")

        engine.ingest_logs(_logs(4_000, "second"))
        monkeypatch.setattr(writer, "commit", commit_then_die)
        with pytest.raises(StorageError):
            engine.flush()
        assert index.watermark == 1_000  # this process never learnt of the commit
        monkeypatch.setattr(writer, "commit", real_commit)
        engine.flush()
        _indexed_alone(engine, "second", 4_000)


def test_a_hung_writer_is_killed_and_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer that stops answering (SIGSTOP) fails the round after the answer timeout, is killed,
    and the next round indexes everything with a new one."""
    monkeypatch.setattr(indexproc, "ANSWER_SECONDS", 1.0)
    monkeypatch.setattr(indexproc, "SEND_SECONDS", 1.0)
    with LogAnalyticsEngine(tmp_path / "data", index_interval=3600) as engine:
        engine.ingest_logs(_logs(1_000, "first"))
        engine.flush()
        hung = engine._store.store.index.writer_pid
        assert hung is not None
        os.kill(hung, signal.SIGSTOP)
        engine.ingest_logs(_logs(2_000, "second"))
        with pytest.raises(StorageError, match=r"did not answer|took no input"):
            engine.flush()
        assert _gone(hung)
        engine.flush()
        assert engine._store.store.index.writer_pid not in (None, hung)
        _indexed_alone(engine, "second", 2_000)


def test_closing_leaves_no_writer_process_behind(tmp_path: Path) -> None:
    """close() ends the writer process (after its merges) and reaps it."""
    engine = LogAnalyticsEngine(tmp_path / "data", index_interval=3600)
    engine.ingest_logs(_logs(5_000, "closed"))
    engine.flush()
    pid = engine._store.store.index.writer_pid
    assert pid is not None
    engine.close()
    assert not psutil.pid_exists(pid)
    assert [c for c in psutil.Process().children() if c.pid == pid] == []
    with LogAnalyticsEngine(tmp_path / "data", index_interval=3600) as again:
        _indexed_alone(again, "closed", 5_000)


def test_closing_with_a_large_backlog_stays_prompt_and_the_rest_is_indexed_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Close spends at most CLOSE_CATCH_UP_SECONDS on the backlog (a SIGTERM'd server stops
    promptly); the next open indexes the rest."""
    monkeypatch.setattr(indexer_module, "CLOSE_CATCH_UP_SECONDS", 0.2)
    monkeypatch.setattr(indexer_module, "FETCH_ROWS", 5_000)
    engine = LogAnalyticsEngine(tmp_path / "data", index_interval=3600)
    for i in range(10):
        engine.ingest_logs(_logs(20_000, f"batch{i}"))
    started = time.monotonic()
    engine.close()
    assert time.monotonic() - started < 30  # a bound on a hang, not a speed figure
    with LogAnalyticsEngine(tmp_path / "data", index_interval=0.05) as again:
        assert again.search("batch9", limit=1).total == 20_000
        deadline = time.monotonic() + 120
        while again.index_status()["lag"] and time.monotonic() < deadline:
            time.sleep(0.05)
        _indexed_alone(again, "batch9", 20_000)


HELPER_ABANDON = textwrap.dedent(
    """
    import os, signal, sys, time
    from log_analytics_engine import LogAnalyticsEngine, LogEntry

    how = sys.argv[2]
    engine = LogAnalyticsEngine(sys.argv[1], index_interval=3600)
    engine.ingest_logs([LogEntry(1.7e9 + i, "INFO", f"left {i}") for i in range(2_000)])
    engine.flush()
    print(engine._store.store.index.writer_pid, flush=True)
    if how == "exit":
        os._exit(0)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "fork":  # a forked process keeps the writer's stdin open: its parent is gone all the same
        holder = os.fork()
        if holder == 0:
            quiet = os.open(os.devnull, os.O_WRONLY)
            os.dup2(quiet, 1)  # not the test's pipes: it would wait for this process
            os.dup2(quiet, 2)
            time.sleep(60)
            os._exit(0)
        print(holder, flush=True)
        os._exit(0)
    sys.exit(0)  # "return": the interpreter ends without close()
    """
)


@pytest.mark.parametrize("how", ["exit", "kill", "fork", "return"])
def test_an_engine_process_ending_without_close_leaves_no_writer_behind(tmp_path: Path, how: str) -> None:
    """os._exit, SIGKILL, the interpreter's end, or a fork holding the pipe: the writer process notices
    its parent is gone and ends; the next open finds the index whole."""
    helper = tmp_path / "abandon.py"
    helper.write_text(HELPER_ABANDON)
    done = subprocess.run(
        [sys.executable, str(helper), str(tmp_path / "data"), how], capture_output=True, text=True, timeout=60
    )
    assert done.stdout, done.stderr
    pid, *holder = (int(word) for word in done.stdout.split())
    try:
        assert _gone(pid)
    finally:
        for leftover in holder:  # it holds the directory's lock too
            os.kill(leftover, signal.SIGKILL)
            assert _gone(leftover)
    with LogAnalyticsEngine(tmp_path / "data", index_interval=3600) as engine:
        assert engine._store.store.index.snapshot()[1] == 2_000
        assert engine.search("left", limit=1).total == 2_000


def test_a_document_the_writer_refuses_fails_the_commit_and_publishes_nothing_of_it(tmp_path: Path) -> None:
    """An ADD that fails in the writer process is answered at the next commit (adds stream without
    answers); that batch is not published, and the next writer starts from the last commit."""
    index = TextIndex(tmp_path / "index")
    try:
        assert index.resume() == 0
        index.add_docs([b'{"seq": 1, "ts": 1, "message": "kept"}\n'])
        index.commit(1)
        index.add_docs([b'{"seq": 2, "ts": 2, "message": "lost"}\n', b"not json\n"])
        with pytest.raises(WriterProcessError, match="committing: ValueError"):
            index.commit(3)
        assert index.writer_pid is None  # a failure ends the writer
        assert index.resume() == 1
        index.add_docs([b'{"seq": 2, "ts": 2, "message": "again"}\n'])
        index.commit(2)
        assert index.count(Word("kept")) == (1, 2)
        assert index.count(Word("lost")) == (0, 2)
        assert index.count(Word("again")) == (1, 2)
    finally:
        index.close()
