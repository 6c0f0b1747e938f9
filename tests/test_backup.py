"""Backup (engine.backup, POST /api/v1/admin/backup, `log-analytics backup`): a consistent copy taken
while writes go on, holding every log acknowledged before it exactly once, the alerts and kept rules
and the text index; restoring is opening the copy; a destination that exists and is not empty is
refused, naming it; admin scope."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from log_analytics_engine import AlertRule, LogAnalyticsEngine, LogEntry
from log_analytics_engine.cli.app import app
from log_analytics_engine.errors import BackupError
from log_analytics_engine.query.ast import resolve_time
from log_analytics_engine.query.evaluate import evaluate
from log_analytics_engine.query.parser import parse_filter
from test_delete import KEYS, NOW_NS, NS, PROBES, _remote_cli, _secured
from test_query_oracle import oracle_logs

runner = CliRunner()


def _engine(path: Path | None) -> LogAnalyticsEngine:
    return LogAnalyticsEngine(path, clock=lambda: NOW_NS / NS, index_interval=0.05, alert_interval=None)


@pytest.fixture
def source(tmp_path: Path) -> Iterator[LogAnalyticsEngine]:
    """A durable engine with the oracle's logs (indexed), a kept rule and the alert it fired."""
    engine = _engine(tmp_path / "source")
    engine.add_alert_rule(AlertRule("disks", query="disk", threshold=1, time_window=3600))
    engine.ingest_logs(oracle_logs(300, seed=21))
    engine.flush()
    yield engine
    engine.close()


def _stored(engine: LogAnalyticsEngine) -> dict[str, dict[str, object]]:
    """Every log the engine holds, by request_id (asserting each is held once)."""
    logs = engine.query_logs({}, sort_by="seq")
    by_id = {log.request_id or "": log.to_dict() for log in logs}
    assert len(by_id) == len(logs)
    return by_id


def test_backup_during_ingest_holds_every_log_acknowledged_before_it(
    source: LogAnalyticsEngine, tmp_path: Path
) -> None:
    """With a thread ingesting throughout, the copy holds every log acknowledged before the backup
    began exactly once and as stored, nothing the source does not hold, the rule and its alert; it
    opens without replaying anything, its text index already there, and every probe query (word,
    field, stats) answers over its logs as the reference evaluator does."""
    acked: list[str] = []
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            entry = LogEntry(NOW_NS - NS, "INFO", f"during w{n} disk", request_id=f"w{n}", tags=["blue"])
            source.ingest_logs([entry])
            acked.append(f"w{n}")
            n += 1
            time.sleep(0.002)  # paced: the copy stays under a search page of 10,000

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(acked) < 200:
            time.sleep(0.01)
        before = list(acked)
        report = source.backup(tmp_path / "copy")
        after = len(acked)
    finally:
        stop.set()
        writer.join()
    assert after > len(before)  # writes went on during the copy
    assert report["index_copied"] is True
    assert report["bytes"] > 0
    held = _stored(source)
    with _engine(tmp_path / "copy") as copy:
        assert copy.get_stats()["wal_replayed_rows"] == 0
        assert copy._store.store.index.watermark > 0  # the index came along: not rebuilt at open
        stored = _stored(copy)
        assert set(before) <= set(stored)
        assert all(held[key] == value for key, value in stored.items())
        assert report["rows"] == len(stored)
        assert [r.name for r in copy.get_alert_rules()] == ["disks"]
        assert [a.rule_name for a in copy.get_alerts()] == [a.rule_name for a in source.get_alerts()]
        entries = copy.query_logs({}, sort_by="seq")
        for _ in range(2):  # as opened, then with the index caught up
            for text in PROBES:
                node = resolve_time(parse_filter(text), NOW_NS)
                want = sorted(e.request_id or "" for e in entries if evaluate(node, e))
                found = copy.search(text, limit=10_000)
                assert found.total == len(want), text
                assert sorted(e.request_id or "" for e in found.logs) == want, text
                assert copy.run(f"{text} | stats count() as n").rows[0]["n"] == len(want), text
            copy.flush()


def test_an_in_memory_engine_backs_up_to_a_directory(tmp_path: Path) -> None:
    """An in-memory engine's copy is a durable store (its text index is built when first opened)."""
    with _engine(None) as engine:
        engine.ingest_logs(oracle_logs(50, seed=2))
        report = engine.backup(tmp_path / "copy")
        assert report["index_copied"] is False
    with _engine(tmp_path / "copy") as copy:
        assert copy.count() == 50
        node = parse_filter("timeout")
        assert copy.search("timeout").total == sum(evaluate(node, e) for e in oracle_logs(50, seed=2))


def test_a_destination_that_cannot_take_a_copy_is_refused(source: LogAnalyticsEngine, tmp_path: Path) -> None:
    """A destination that exists and is not empty, a file, one inside the store, or a path that
    cannot be one is a BackupError naming it, and nothing is written; an empty directory is fine."""
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    afile = tmp_path / "afile"
    afile.write_text("x")
    for dest, why in (
        (full, "exists and is not empty"),
        (afile, "exists and is not empty"),
        (tmp_path / "source" / "inside", "inside the store"),
        (Path("bad\0name"), "cannot make"),
    ):
        with pytest.raises(BackupError, match=why) as refused:
            source.backup(dest)
        assert str(dest) in str(refused.value)
    assert sorted(p.name for p in full.iterdir()) == ["keep.txt"]
    assert not (tmp_path / "source" / "inside").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert source.backup(empty)["rows"] == 300
    assert not (empty / ".backup-partial").exists()


def test_http_backup_needs_the_admin_scope(source: LogAnalyticsEngine, tmp_path: Path) -> None:
    """`POST /api/v1/admin/backup {"dest"}` answers what it copied for an admin key; ingest and query
    keys get 403 (nothing written); an existing non-empty destination is a 400 naming it."""
    client = _secured(source)
    dest = tmp_path / "http-copy"
    for scope in ("ingest", "query"):
        refused = client.post(
            "/api/v1/admin/backup", json={"dest": str(dest)}, headers={"X-API-Key": KEYS[scope]}
        )
        assert refused.status_code == 403, scope
    assert not dest.exists()
    admin = {"X-API-Key": KEYS["admin"]}
    answer = client.post("/api/v1/admin/backup", json={"dest": str(dest)}, headers=admin)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["dest"], body["rows"], body["rules"], body["index_copied"]) == (str(dest), 300, 1, True)
    again = client.post("/api/v1/admin/backup", json={"dest": str(dest)}, headers=admin)
    assert again.status_code == 400
    assert str(dest) in again.json()["detail"]
    assert client.post("/api/v1/admin/backup", json={}, headers=admin).status_code == 422
    with _engine(dest) as copy:
        assert copy.count() == 300


def test_cli_backup_of_a_data_directory_and_through_a_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`backup DEST --data DIR` copies a directory no server owns; `backup DEST --url … --api-key …`
    has the server write it; both print what was copied, and the copies open with the logs."""
    logs = oracle_logs(40, seed=7)
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(log.to_dict()) + "\n" for log in logs))
    data = str(tmp_path / "d")
    runner.invoke(app, ["ingest", str(tmp_path / "a.jsonl"), "--data", data])
    local = runner.invoke(app, ["backup", str(tmp_path / "copy1"), "--data", data])
    assert local.exit_code == 0, local.output
    assert "backed up 40 logs, 0 alerts and 0 rules" in local.output
    refused = runner.invoke(app, ["backup", str(tmp_path / "copy1"), "--data", data])
    assert refused.exit_code == 2
    assert "exists and is not empty" in refused.output
    with _engine(None) as engine:
        engine.ingest_logs(logs[:25])
        _remote_cli(monkeypatch, engine)
        remote = runner.invoke(
            app, ["backup", str(tmp_path / "copy2"), "--url", "http://server", "--api-key", KEYS["admin"]]
        )
        assert remote.exit_code == 0, remote.output
        assert "backed up 25 logs" in remote.output
    for name, count in (("copy1", 40), ("copy2", 25)):
        with _engine(tmp_path / name) as copy:
            assert copy.count() == count


def test_a_backup_after_a_delete_holds_no_deleted_log(source: LogAnalyticsEngine, tmp_path: Path) -> None:
    """The copy of a store whose logs were deleted (their documents marked deleted in the index's
    segments) finds none of them, through its copied index or its table."""
    node = parse_filter("timeout")
    gone = source.delete("timeout")
    assert gone > 0
    left = [e for e in source.query_logs({}, sort_by="seq") if not evaluate(node, e)]
    source.backup(tmp_path / "copy")
    with _engine(tmp_path / "copy") as copy:
        assert copy._store.store.index.watermark > 0
        for _ in range(2):  # as opened (the copied index), then caught up
            assert copy.search("timeout").total == 0
            assert copy.run("timeout | stats by (level) count() as n").rows == []
            assert copy.count() == len(left)
            copy.flush()
