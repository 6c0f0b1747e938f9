"""A damaged DuckDB write-ahead log: the store refuses to open short of the logs it committed, keeps
the damaged file, and opens with what survived only when told to (`recover`, `--recover`); a crash
with an intact log raises no false alarm and loses no acknowledged log."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import selectors
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from log_analytics_engine import LogAnalyticsEngine, LogEntry, StorageError
from log_analytics_engine.cli.app import app
from services import free_port, wait_ready

CLI = [sys.executable, "-m", "log_analytics_engine.cli"]
BATCHES, BATCH = 20, 1_000
COMMITTED = BATCHES * BATCH
# 20 batches of 1,000 logs, then an exit without close once DuckDB holds them: all of them in its WAL
WRITER = textwrap.dedent(
    """
    import os, sys
    from log_analytics_engine import LogAnalyticsEngine, LogEntry

    engine = LogAnalyticsEngine(sys.argv[1], index_interval=3600, alert_interval=None)
    for i in range(int(sys.argv[2])):
        engine.ingest_logs(
            [LogEntry("2025-07-21T12:00:00Z", "INFO", f"batch {i} log {j}") for j in range(int(sys.argv[3]))]
        )
    engine.count()  # a read waits for the applier: every batch is in DuckDB's own WAL now
    os._exit(0)
    """
)


def _run(tmp_path: Path, code: str, *args: str) -> None:
    """Run `code` in a child process that ends without closing its engine (as a crash would)."""
    script = tmp_path / "child.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def _crashed(tmp_path: Path, data: Path, keep_engine_wal: bool = False) -> Path:
    """A data directory whose writer crashed after committing COMMITTED logs; DuckDB's WAL. Unless
    kept, the engine's own write-ahead log (which holds the same rows) is removed, so that a damaged
    DuckDB WAL is a real loss."""
    _run(tmp_path, WRITER, str(data), str(BATCHES), str(BATCH))
    wal = data / "logs.duckdb.wal"
    assert wal.stat().st_size > 0
    if not keep_engine_wal:
        shutil.rmtree(data / "wal")
    return wal


def _cut(wal: Path) -> bytes:
    """Cut the WAL to half its size (what a crash on a damaged disk can leave); its bytes then."""
    with wal.open("r+b") as handle:
        handle.truncate(wal.stat().st_size // 2)
    return wal.read_bytes()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _stored_high(message: str) -> int:
    """The highest stored seq a refusal names."""
    found = re.search(r"hold seqs only up to ([\d,]+)", message)
    assert found, message
    return int(found.group(1).replace(",", ""))


def _mark(data: Path) -> int:
    """The highest committed seq the data directory's mark file records (its first 8 bytes, LE)."""
    return int.from_bytes((data / "COMMITTED").read_bytes()[:8], "little")


def _damaged_copies(data: Path) -> list[Path]:
    return sorted(data.glob("logs.duckdb.wal.damaged-*"))


def test_a_truncated_wal_is_refused_and_kept_and_nothing_is_written(
    tmp_path: Path, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Reopening after the WAL was cut is a StorageError naming the stored and committed seqs, the
    preserved copy and --recover; the copy is the WAL byte for byte, and neither file is touched."""
    wal = _crashed(tmp_path, data_dir)
    cut = _cut(wal)
    db = data_dir / "logs.duckdb"
    before = _digest(db)
    with caplog.at_level(logging.ERROR), pytest.raises(StorageError) as caught:
        LogAnalyticsEngine(data_dir)
    message = str(caught.value)
    stored = _stored_high(message)
    assert 0 <= stored < COMMITTED
    assert f"committed up to seq {COMMITTED:,}" in message
    assert f"{COMMITTED - stored:,} seqs missing" in message
    assert "--recover" in message
    [copy] = _damaged_copies(data_dir)
    assert str(copy) in message
    assert copy.read_bytes() == cut
    assert wal.read_bytes() == cut  # DuckDB did not replay it into the database and delete it
    assert _digest(db) == before
    assert any(
        r.levelno == logging.ERROR and f"({COMMITTED - stored:,} seqs missing" in r.getMessage()
        for r in caplog.records
    )
    with pytest.raises(StorageError):  # refused again, with the same copy (no new one per attempt)
        LogAnalyticsEngine(data_dir)
    assert _damaged_copies(data_dir) == [copy]
    assert _digest(db) == before
    with LogAnalyticsEngine(data_dir / "elsewhere") as other:  # the lock was released
        assert other.count() == 0


def test_recover_opens_with_the_surviving_logs_and_counts_the_loss(
    tmp_path: Path, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`recover=True` opens with the logs the damaged WAL still held (a seq prefix), logs what was
    lost, keeps the copy, counts the loss in the stats and metrics, and later opens need no flag."""
    cut = _cut(_crashed(tmp_path, data_dir))
    with pytest.raises(StorageError) as caught:
        LogAnalyticsEngine(data_dir)
    stored = _stored_high(str(caught.value))
    with caplog.at_level(logging.ERROR), LogAnalyticsEngine(data_dir, recover=True) as engine:
        assert engine.count() == stored
        seqs = [log.seq for log in engine.query_logs({}, sort_by="seq")]
        assert seqs == list(range(1, stored + 1))
        stats = engine.get_stats()
        assert (stats["store_recoveries"], stats["store_lost_seqs"]) == (1, COMMITTED - stored)
        prometheus = engine.export_metrics_prometheus()
        assert "loganalytics_store_recoveries_total 1.0" in prometheus
        assert f"loganalytics_store_lost_seqs_total {float(COMMITTED - stored)}" in prometheus
        engine.ingest_log(LogEntry("2025-07-21T12:00:00Z", "INFO", "after the recovery"))
    assert any("opened with recover, seqs" in r.getMessage() for r in caplog.records)
    [copy] = _damaged_copies(data_dir)
    assert copy.read_bytes() == cut
    with LogAnalyticsEngine(data_dir) as engine:  # the mark came down: no flag needed any more
        assert engine.count() == stored + 1
        assert engine.get_stats()["store_recoveries"] == 1  # kept across opens


WRITER_LOOP = textwrap.dedent(
    """
    import os, sys
    from log_analytics_engine import LogAnalyticsEngine, LogEntry

    data, lines = sys.argv[1], sys.argv[2]
    engine = LogAnalyticsEngine(data, index_interval=0.05, alert_interval=None)
    done = engine.count()
    i = 0
    while True:
        if i % 3 == 0:
            engine.ingest_log(LogEntry("2025-07-21T12:00:00Z", "INFO", f"single {done}"))
            done += 1
        elif i % 3 == 1:
            done += engine.ingest_logs(
                [LogEntry("2025-07-21T12:00:00Z", "WARN", f"batch {done} {j}") for j in range(50)]
            )
        else:
            done += engine.ingest_logs_from_file(lines)["count"]
        print(done, flush=True)
        i += 1
    """
)


def test_a_cut_duckdb_wal_is_filled_from_the_engines_own_wal(
    tmp_path: Path, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """DuckDB's WAL cut, the engine's WAL intact (it holds the same rows): the open is no loss, so
    no refusal: the rows DuckDB lost are replayed from the engine's WAL, each once."""
    wal = _crashed(tmp_path, data_dir, keep_engine_wal=True)
    _cut(wal)
    with caplog.at_level(logging.WARNING), LogAnalyticsEngine(data_dir) as engine:
        assert engine.count() == COMMITTED
        assert engine._store.store.rows("SELECT count(DISTINCT message) FROM logs") == [
            (COMMITTED,)
        ]  # once each
        assert engine.get_stats()["store_recoveries"] == 0
        assert engine._store.wal_state["replayed_rows"] == COMMITTED - _stored_high_of_log(caplog.text)
    assert "the engine's write-ahead log holds the rest" in caplog.text
    assert not _damaged_copies(data_dir)
    with LogAnalyticsEngine(data_dir) as engine:
        assert engine.count() == COMMITTED


def _stored_high_of_log(text: str) -> int:
    found = re.search(r"holds seqs only up to (\d+) of the", text)
    assert found, text
    return int(found.group(1))


def test_kill9_at_random_times_raises_no_false_alarm_and_loses_no_acknowledged_log(tmp_path: Path) -> None:
    """20 writers killed with SIGKILL at random moments (single logs, batches, file chunks): every
    reopen succeeds and holds every acknowledged log, and the mark never claims more than DuckDB kept."""
    data = tmp_path / "data"
    lines = tmp_path / "lines.jsonl"
    lines.write_text("".join(json.dumps({"message": f"line {n}"}) + "\n" for n in range(200)))
    script = tmp_path / "writer.py"
    script.write_text(WRITER_LOOP)
    rng = random.Random(11)
    replays = 0
    for run in range(20):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(data), str(lines)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        acknowledged, wanted = 0, rng.randint(1, 40)
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
            deadline = time.monotonic() + 120
            for _ in range(wanted):
                assert sel.select(timeout=max(0.0, deadline - time.monotonic())), "writer made no progress"
                line = proc.stdout.readline()  # type: ignore[union-attr]
                assert line, proc.stderr.read()  # type: ignore[union-attr]
                acknowledged = int(line)
        time.sleep(rng.uniform(0, 0.03))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
        replays += (data / "logs.duckdb.wal").stat().st_size > 0
        marked = _mark(data)
        with LogAnalyticsEngine(data) as engine:  # no false alarm
            stored = engine.count()
        # the mark never claims more than DuckDB kept; every acknowledged log is there (the engine's
        # WAL replays those not yet applied)
        assert marked <= stored, (run, acknowledged, marked, stored)
        assert acknowledged <= stored, (run, acknowledged, marked, stored)
    assert not _damaged_copies(data)
    assert replays >= 10  # most reopens replayed a WAL, so the read-only check ran on them


def test_a_files_rejected_last_lines_raise_no_alarm_and_its_chunks_are_guarded(tmp_path: Path) -> None:
    """File ingest whose last lines are rejected leaves a gap after the stored seqs: an intact crash
    reopens without alarm, and a cut WAL is still refused (file chunks are marked as committed)."""
    source = tmp_path / "a.jsonl"
    good = "".join(json.dumps({"message": f"m {n}"}) + "\n" for n in range(3_000))
    source.write_text(good + "not json\n{broken\n")
    data = tmp_path / "data"
    code = textwrap.dedent(
        """
        import os, sys
        from log_analytics_engine import LogAnalyticsEngine

        engine = LogAnalyticsEngine(sys.argv[1], index_interval=3600, alert_interval=None)
        for _ in range(4):
            assert engine.ingest_logs_from_file(sys.argv[2])["rejected"] == 2
        os._exit(0)
        """
    )
    _run(tmp_path, code, str(data), str(source))
    intact = tmp_path / "intact"
    shutil.copytree(data, intact)
    with LogAnalyticsEngine(intact) as engine:
        assert engine.count() == 12_000
    _cut(data / "logs.duckdb.wal")
    with pytest.raises(StorageError, match="missing committed logs"):
        LogAnalyticsEngine(data)


def test_a_directory_without_a_mark_opens_as_before_and_gets_one(tmp_path: Path, data_dir: Path) -> None:
    """A data directory made before the mark existed (crashed, WAL intact) opens with every log and
    gets a mark, so a later damaged WAL is caught."""
    _crashed(tmp_path, data_dir)
    (data_dir / "COMMITTED").unlink()
    with LogAnalyticsEngine(data_dir, index_interval=3600) as engine:
        assert engine.count() == COMMITTED
    assert _mark(data_dir) == COMMITTED
    _run(tmp_path, WRITER, str(data_dir), "4", str(BATCH))
    shutil.rmtree(data_dir / "wal")
    _cut(data_dir / "logs.duckdb.wal")
    with pytest.raises(StorageError, match=f"committed up to seq {COMMITTED + 4 * BATCH:,}"):
        LogAnalyticsEngine(data_dir)


def test_the_cli_refuses_a_damaged_directory_and_recover_opens_it(tmp_path: Path, data_dir: Path) -> None:
    """`stats --data` on a damaged directory exits 2 with the refusal; `--recover` opens it (the
    loss counted in the stats), after which the plain command works; `--recover` with `--url` is refused."""
    _cut(_crashed(tmp_path, data_dir))
    runner = CliRunner()
    refused = runner.invoke(app, ["stats", "--data", str(data_dir)])
    assert refused.exit_code == 2
    assert "missing committed logs" in refused.stderr
    assert "--recover" in refused.stderr
    stored = _stored_high(refused.stderr)
    recovered = runner.invoke(app, ["stats", "--data", str(data_dir), "--recover"])
    assert recovered.exit_code == 0, recovered.output
    stats = json.loads(recovered.stdout)
    assert (stats["total_logs"], stats["store_recoveries"]) == (stored, 1)
    assert runner.invoke(app, ["query", "--data", str(data_dir), "--json"]).exit_code == 0
    remote = runner.invoke(app, ["stats", "--url", "http://127.0.0.1:9", "--recover"])
    assert remote.exit_code == 2
    assert "--recover" in remote.stderr


def test_serve_refuses_a_damaged_directory_and_serves_it_with_recover(tmp_path: Path, data_dir: Path) -> None:
    """`log-analytics serve` on a damaged directory exits 2 naming the damage (serving nothing);
    with `--recover` it serves what survived and /api/v1/stats counts the recovery."""
    _cut(_crashed(tmp_path, data_dir))
    port = str(free_port())
    refused = subprocess.Popen(
        [*CLI, "serve", "--data", str(data_dir), "--port", port],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, err = refused.communicate(timeout=60)
    finally:
        refused.kill()
    assert refused.returncode == 2
    assert "missing committed logs" in err
    stored = _stored_high(err)
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [*CLI, "serve", "--data", str(data_dir), "--port", port, "--recover"], stdout=out, stderr=out
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}/healthz", server, log)
        stats = httpx.get(f"http://127.0.0.1:{port}/api/v1/stats").json()
        assert (stats["total_logs"], stats["store_recoveries"]) == (stored, 1)
        assert stats["store_lost_seqs"] == COMMITTED - stored
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    assert "opened with recover" in log.read_text()
