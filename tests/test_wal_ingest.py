"""The write-ahead log on the ingest path (issue 15): a write is acknowledged once it is in the WAL,
the applier moves it into DuckDB later, reads wait for it, a failing commit is retried, the queue has
a bound (backpressure), and opening replays what was acknowledged but not applied."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from conftest import T0_S, Clock
from log_analytics_engine import LogAnalyticsEngine, LogEntry
from log_analytics_engine.alerting.rules import AlertRule
from log_analytics_engine.errors import ConfigError, OverloadedError, StorageError
from log_analytics_engine.storage.embedded import applier as applier_module
from log_analytics_engine.storage.embedded.applier import Chunk
from log_analytics_engine.storage.embedded.store import EmbeddedStore


def _log(i: int, word: str = "w", level: str = "INFO") -> LogEntry:
    return LogEntry(T0_S + i, level=level, source="api", message=f"{word}{i} event number {i}")


class Gate:
    """Holds the applier's commits until opened (or makes them fail), wrapping the real method."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.open = threading.Event()
        self.entered = threading.Event()
        self.failures_left = 0
        self.calls = 0
        real = EmbeddedStore._apply_pending

        def gated(store: EmbeddedStore, chunks: Sequence[Chunk]) -> object:
            self.calls += 1
            self.entered.set()
            if self.failures_left:
                self.failures_left -= 1
                raise StorageError("injected: the commit failed")
            self.open.wait(30)
            return real(store, chunks)

        monkeypatch.setattr(EmbeddedStore, "_apply_pending", gated)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    g = Gate(monkeypatch)
    yield g
    g.open.set()


def test_a_write_returns_before_duckdb_has_it_and_a_read_waits_for_it(gate: Gate, tmp_path: Path) -> None:
    """ingest returns while the applier's commit is held; a count started then waits and sees the rows."""
    with LogAnalyticsEngine(tmp_path / "d") as eng:
        eng.ingest_logs([_log(i) for i in range(10)])
        eng.ingest_log(_log(10))
        assert gate.entered.wait(10)
        assert eng._store.wal_state["pending_rows"] == 11
        counted: list[int] = []
        reader = threading.Thread(target=lambda: counted.append(eng.count()))
        reader.start()
        reader.join(0.3)
        assert reader.is_alive()  # exact: it waits rather than miss them
        assert not counted
        gate.open.set()
        reader.join(10)
        assert counted == [11]
        assert eng._store.wal_state["read_waits"] >= 1
        assert eng._store.wal_state["read_wait_seconds"] >= 0.3
        assert eng.search("w10").total == 1
        assert eng._store.wal_state["pending_rows"] == 0


def test_a_failing_commit_is_retried_and_reads_get_every_row(gate: Gate, tmp_path: Path) -> None:
    """Three failed commits: counted, the error kept while failing, then applied with nothing lost."""
    gate.failures_left = 3
    gate.open.set()
    with LogAnalyticsEngine(tmp_path / "d") as eng:
        eng.ingest_logs([_log(i) for i in range(100)])
        assert eng.count() == 100
        state = eng._store.wal_state
        assert state["apply_failures"] == 3
        assert state["apply_last_error"] is None  # cleared once a commit worked
        assert eng.get_stats()["wal_apply_failures"] == 3


def test_a_read_names_the_failure_when_applying_keeps_failing(
    gate: Gate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read gives up after its bound with a StorageError naming the rows and the commit's error."""
    monkeypatch.setattr(applier_module, "READ_WAIT_SECONDS", 0.5)
    gate.failures_left = 10**6
    eng = LogAnalyticsEngine(tmp_path / "d")
    try:
        eng.ingest_logs([_log(i) for i in range(5)])
        with pytest.raises(StorageError, match=r"logs 1-5 are not in the database.*injected"):
            eng._store.store.rows("SELECT count(*) FROM logs")
    finally:
        gate.failures_left = 0
        gate.open.set()
        eng.close()
    with LogAnalyticsEngine(tmp_path / "d") as again:
        assert again.count() == 5


def test_closing_with_unapplied_rows_keeps_them_for_the_next_open(
    gate: Gate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A close whose commits fail leaves the rows in the WAL (logged); the next open replays them once."""
    monkeypatch.setattr("log_analytics_engine.storage.embedded.store.CLOSE_APPLY_SECONDS", 0.2)
    gate.failures_left = 10**6
    eng = LogAnalyticsEngine(tmp_path / "d")
    eng.ingest_logs([_log(i) for i in range(7)])
    eng.ingest_log(_log(7))
    eng.close()
    assert "8 acknowledged logs not applied" in caplog.text
    gate.failures_left = 0
    gate.open.set()
    with LogAnalyticsEngine(tmp_path / "d") as again:
        assert again.count() == 8
        assert again._store.wal_state["replayed_rows"] == 8
        assert "loganalytics_wal_replayed_rows 8.0" in again.export_metrics_prometheus()
        assert sorted(e.message for e in again.query_logs({})) == sorted(_log(i).message for i in range(8))
    with LogAnalyticsEngine(tmp_path / "d") as third:  # applied at the last open: not replayed twice
        assert third.count() == 8
        assert third._store.wal_state["replayed_rows"] == 0


def test_a_killed_process_loses_nothing_it_acknowledged(tmp_path: Path) -> None:
    """A process killed (os._exit) with its commits held: reopening replays every acknowledged row."""
    data = tmp_path / "d"
    script = textwrap.dedent(
        f"""
        import os, threading
        from log_analytics_engine import LogAnalyticsEngine, LogEntry
        from log_analytics_engine.storage.embedded.store import EmbeddedStore
        EmbeddedStore._apply_pending = lambda self, chunks: threading.Event().wait()  # never applies
        eng = LogAnalyticsEngine({str(data)!r})
        eng.ingest_logs([LogEntry({T0_S} + i, level="INFO", message=f"batch{{i}}") for i in range(500)])
        for i in range(300):
            eng.ingest_log(LogEntry({T0_S} + i, level="ERROR", message=f"single{{i}}"))
        print("acknowledged", flush=True)
        os._exit(9)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "acknowledged" in done.stdout, done.stderr
    with LogAnalyticsEngine(data) as eng:
        assert eng.count() == 800
        assert eng.count({"level": "ERROR"}) == 300
        assert eng.search("single299").total == 1
        assert eng._store.wal_state["replayed_rows"] == 800


def test_a_full_queue_holds_writers_back_then_refuses_with_429(
    gate: Gate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the queue's byte bound a writer waits; past the wait, an OverloadedError (HTTP 429)."""
    monkeypatch.setattr(applier_module, "MAX_PENDING_BYTES", 1)
    monkeypatch.setattr(applier_module, "ROOM_WAIT_SECONDS", 0.3)
    with LogAnalyticsEngine(tmp_path / "d") as eng:
        eng.ingest_logs([_log(0)])
        started = time.monotonic()
        with pytest.raises(OverloadedError, match="over the 0 MiB bound") as refused:
            eng.ingest_logs([_log(1)])
        assert time.monotonic() - started >= 0.3
        assert refused.value.status == 429
        assert eng._store.wal_state["backpressure_waits"] == 1
        gate.open.set()
        eng.ingest_logs([_log(2)])  # room again once applied
        assert eng.count() == 2


def test_rows_and_batches_interleaved_keep_their_order_and_values(tmp_path: Path) -> None:
    """Single logs (row frames) and batches applied together read back in seq order, unchanged."""
    with LogAnalyticsEngine(tmp_path / "d") as eng:
        sent = []
        for i in range(60):
            if i % 3:
                entry = _log(i, level="WARN")
                entry.tags = ["t1", f"n{i}"]
                entry.metadata = {"k": i, "nested": {"a": [1, 2]}}
                eng.ingest_log(entry)
                sent.append(entry)
            else:
                batch = [_log(100 * i + j) for j in range(5)]
                eng.ingest_logs(batch)
                sent.extend(batch)
        stored = eng._store.store.entries("SELECT * FROM logs ORDER BY seq")
        assert [e.message for e in stored] == [e.message for e in sent]
        assert [e.tags for e in stored] == [e.tags for e in sent]
        assert [e.metadata for e in stored] == [e.metadata for e in sent]
        assert [e.level for e in stored] == [e.level for e in sent]


def test_a_single_log_with_a_wrong_type_is_refused_as_a_batch_is(tmp_path: Path) -> None:
    """A log whose tags are not text takes the checked path: refused, nothing stored, the store fine."""
    with LogAnalyticsEngine(tmp_path / "d") as eng:
        bad = _log(1)
        bad.tags = [1, 2]  # type: ignore[list-item]
        with pytest.raises(TypeError, match="Expected bytes"):  # the Arrow path's own refusal
            eng.ingest_log(bad)
        eng.ingest_log(_log(2))
        assert eng.count() == 1


def test_durability_modes(tmp_path: Path) -> None:
    """durability is "os" or "fsync" (anything else a ConfigError); fsync mode stores as well."""
    with pytest.raises(ConfigError, match="durability must be one of os, fsync"):
        LogAnalyticsEngine(tmp_path / "x", durability="sometimes")
    with LogAnalyticsEngine(tmp_path / "f", durability="fsync") as eng:
        assert eng._store.store.wal is not None
        assert eng._store.store.wal.fsync
        eng.ingest_logs([_log(i) for i in range(3)])
        eng.ingest_log(_log(3))
        assert eng.count() == 4
        assert eng.get_stats()["wal_durability"] == "fsync"


def test_applied_segments_are_released(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once applied, full WAL segments are deleted: the WAL stays near one segment, and a clean close
    (every row applied and checkpointed) deletes the last one too, seqs going on after it."""
    with LogAnalyticsEngine(tmp_path / "d") as eng:
        assert eng._store.store.wal is not None
        eng._store.store.wal.segment_bytes = 64 << 10
        for k in range(40):
            eng.ingest_logs([_log(1000 * k + i) for i in range(200)])
        assert eng.count() == 8000
        segments = list((tmp_path / "d" / "wal").glob("*.wal"))
        assert len(segments) <= 2, segments
    assert list((tmp_path / "d" / "wal").glob("*.wal")) == []
    with LogAnalyticsEngine(tmp_path / "d") as eng:
        assert eng.count() == 8000
        eng.ingest_logs([_log(9)])
        assert max(e.seq or 0 for e in eng.query_logs({})) == 8001


def _errors_rule() -> AlertRule:
    return AlertRule("errs", conditions={"level": "ERROR"}, threshold=3, time_window=3600)


def test_a_hook_runs_before_the_ingest_that_fired_it_returns(tmp_path: Path) -> None:
    """With a notification hook the ingest call waits for its own evaluation and runs the hook."""
    fired: list[str] = []
    with LogAnalyticsEngine(tmp_path / "d", clock=Clock(T0_S + 10)) as eng:
        eng.add_alert_rule(_errors_rule())
        eng.add_alert_notification_hook(lambda alert: fired.append(alert.rule_name))
        eng.ingest_logs([_log(i, level="ERROR") for i in range(2)])
        assert fired == []
        eng.ingest_log(_log(3, level="ERROR"))
        assert fired == ["errs"]  # before ingest_log returned


def test_without_hooks_alerts_are_read_after_their_evaluation(gate: Gate, tmp_path: Path) -> None:
    """With no hook an ingest does not wait for rules; get_alerts waits for the evaluation."""
    with LogAnalyticsEngine(tmp_path / "d", clock=Clock(T0_S + 10)) as eng:
        eng.add_alert_rule(_errors_rule())
        eng.ingest_logs([_log(i, level="ERROR") for i in range(5)])  # returns with the commit held
        assert gate.entered.wait(10)
        got: list[int] = []
        reader = threading.Thread(target=lambda: got.append(len(eng.get_alerts())))
        reader.start()
        reader.join(0.3)
        assert reader.is_alive()
        gate.open.set()
        reader.join(10)
        assert got == [1]


def test_the_server_takes_durability_from_its_config_env_and_flag(tmp_path: Path) -> None:
    """`[server] durability`, LOG_ANALYTICS_DURABILITY and --durability set it; a bad value names it."""
    from log_analytics_engine.server.settings import load_settings

    config = tmp_path / "server.toml"
    config.write_text('[server]\ndurability = "fsync"\n')
    assert load_settings(config, env={}).durability == "fsync"
    assert load_settings(None, env={"LOG_ANALYTICS_DURABILITY": "fsync"}).durability == "fsync"
    assert load_settings(config, env={}, durability="os").durability == "os"
    assert load_settings(None, env={}).durability == "os"
    with pytest.raises(ConfigError, match="durability must be one of os, fsync, got 'never'"):
        load_settings(None, env={"LOG_ANALYTICS_DURABILITY": "never"})


def test_a_large_commit_matched_in_sql_fires_as_the_arrow_matcher_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit past SQL_MATCH_ROWS is matched by one DuckDB scan: the same alerts, counts and
    windows as matching its Arrow columns in Python (the threshold raised past it)."""
    from log_analytics_engine.alerting import evaluator

    logs = []
    for i in range(5_000):
        entry = _log(i, word="timeout" if i % 7 == 0 else "ok", level="ERROR" if i % 3 == 0 else "INFO")
        entry.metadata = {"region": "eu" if i % 2 else "us", "ms": i}
        logs.append(entry)
    rules = [
        AlertRule("errs", conditions={"level": "ERROR"}, threshold=500, time_window=3600),
        AlertRule("words", query="timeout4200 OR timeout4207 OR timeout4214", threshold=2, time_window=3600),
        AlertRule("eu", query="region:eu ms:>4000", threshold=100, time_window=3600),
        AlertRule("none", query="nothing_here", threshold=1, time_window=3600),
    ]

    def run(threshold: int, name: str) -> tuple[list[tuple[str, int]], list[tuple[str, str, int]]]:
        monkeypatch.setattr(evaluator, "SQL_MATCH_ROWS", threshold)
        with LogAnalyticsEngine(tmp_path / name, clock=Clock(T0_S + 5_000)) as eng:
            for rule in rules:
                eng.add_alert_rule(dataclasses.replace(rule))
            eng.ingest_logs(logs)
            fired = sorted((a.rule_name, a.count) for a in eng.get_alerts())
            states = sorted((s.name, s.state, s.current or 0) for s in eng.get_alert_rule_states())
        return fired, states

    in_sql = run(2_048, "sql")
    in_python = run(1 << 40, "python")
    assert in_sql == in_python
    assert [name for name, _ in in_sql[0]] == ["errs", "eu", "words"]  # the rules fired: a real test


def test_one_query_waits_once_for_the_writes_acknowledged_before_it(gate: Gate, tmp_path: Path) -> None:
    """Inside one read snapshot a read waits only for the writes acknowledged before it began: a
    write acknowledged meanwhile (its commit held) does not hold up the snapshot's later reads."""
    gate.open.set()
    with LogAnalyticsEngine(tmp_path / "d") as eng:
        eng.ingest_logs([_log(i) for i in range(3)])
        store = eng._store.store
        with store.read_snapshot():
            assert store.rows("SELECT count(*) FROM logs") == [(3,)]
            gate.open.clear()
            eng.ingest_logs([_log(9)])  # acknowledged; its commit held by the gate
            started = time.monotonic()
            assert store.rows("SELECT count(*) FROM logs") == [(3,)]  # no wait for it
            assert time.monotonic() - started < 5
        gate.open.set()
        assert eng.count() == 4  # a new read waits for it
