"""Delete by query (engine.delete, DELETE /api/v1/logs, `log-analytics delete`): exact in the table,
the text index and the copy of recent writes, for logs indexed, in the unindexed tail and not yet
applied; every query form agrees with the reference evaluator over the survivors; ordered against
concurrent writes; crash-safe (the deleted newest logs are never replayed, their seqs never reused);
alert windows re-read; counted; refused without a filter; admin scope."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from log_analytics_engine import AlertRule, LogAnalyticsEngine, LogEntry, QueryError
from log_analytics_engine.cli import app as cli_app
from log_analytics_engine.cli import backend as cli_backend
from log_analytics_engine.cli.app import app
from log_analytics_engine.query.ast import MatchAll, resolve_time
from log_analytics_engine.query.evaluate import evaluate
from log_analytics_engine.query.parser import parse_filter
from log_analytics_engine.server.app import create_app
from log_analytics_engine.server.settings import ApiKey, Settings, hash_key
from log_analytics_engine.storage.embedded import textindex
from test_query_oracle import NOW_NS, NS, filters, oracle_logs

EXAMPLES = int(os.environ.get("DELETE_EXAMPLES", "15"))
# Filters every check runs, over each kind of query path: index-only text (counts and terms from the
# index), text with fields the index lacks (SQL with a seq set), metadata, regex, time, negation.
PROBES = (
    "*",
    "timeout",
    "disk",
    '"blk 123"',
    "tags:blue",
    "timeout level:ERROR",
    "tags:green source:db",
    "req*",
    "region:eu",
    "duration_ms:>50",
    'user_id:~"^u"',
    "_time:>=2025-07-21T12:05:00Z",
    "NOT timeout",
)
FIELDS_PROBES = ("timeout level:ERROR", "region:eu")


def _engine(path: Path | None = None) -> LogAnalyticsEngine:
    return LogAnalyticsEngine(path, clock=lambda: NOW_NS / NS, index_interval=3600, alert_interval=None)


def _fill(engine: LogAnalyticsEngine, logs: list[LogEntry]) -> list[LogEntry]:
    """The first half indexed, the rest in the unindexed tail; the logs as stored, in seq order."""
    half = len(logs) // 2
    engine.ingest_logs(logs[:half])
    engine.flush()
    engine.ingest_logs(logs[half:])
    return engine.query_logs({}, sort_by="seq")


def _ids(entries: list[LogEntry]) -> list[str | None]:
    return sorted((e.request_id for e in entries), key=str)


def _newest(entries: list[LogEntry], n: int) -> list[str | None]:
    ordered = sorted(entries, key=lambda e: (e.timestamp_ns or 0, e.seq or 0), reverse=True)
    return [e.request_id for e in ordered[:n]]


def assert_answers(engine: LogAnalyticsEngine, survivors: list[LogEntry], where: str = "") -> None:
    """Every query form over every probe answers exactly as the reference evaluator does over the
    logs that survived (search pages and totals, counts, stats by indexed and other fields, hits,
    fields, tail, context, stats)."""
    for text in PROBES:
        node = resolve_time(parse_filter(text), NOW_NS)
        want = [e for e in survivors if evaluate(node, e)]
        at = f"{where} {text!r}"
        found = engine.search(text, limit=1000)
        assert found.total == len(want), at
        assert _ids(found.logs) == _ids(want), at
        page = engine.search(text, limit=7)
        assert [e.request_id for e in page.logs] == _newest(want, 7), at
        assert engine.run(f"{text} | stats count() as n").rows[0]["n"] == len(want), at
        for field in ("level", "source"):
            rows = engine.run(f"{text} | stats by ({field}) count() as n").rows
            assert {r[field]: r["n"] for r in rows} == Counter(getattr(e, field) for e in want), at
        hits = engine.hits(text, step="1m").buckets
        assert sum(b["hits"] for b in hits) == len(want), at
        if text in FIELDS_PROBES:  # ~0.15 s each: a few
            fields = engine.fields(text)
            assert fields.sampled == len(want), at
            levels = next((f for f in fields.fields if f.name == "level"), None)
            assert (levels.count if levels else 0) == len(want), at
    assert engine.count() == len(survivors), where
    assert [e.request_id for e in engine.query_logs({}, sort_by="seq")] == [e.request_id for e in survivors]
    tailed, _ = engine.tail("*", after=0, limit=100_000)
    assert [e.request_id for e in tailed] == [e.request_id for e in survivors], where
    stats = engine.get_stats()
    assert stats["total_logs"] == len(survivors), where
    assert stats["levels"] == dict(Counter(e.level for e in survivors)), where


def _around_skips(engine: LogAnalyticsEngine, stored: list[LogEntry], survivors: list[LogEntry]) -> None:
    """A deleted log has no context; a survivor's context holds survivors of its source only."""
    alive = {e.seq for e in survivors}
    for entry in stored[::37]:
        found = engine.around(entry.seq or 0, 5, 5)
        if entry.seq not in alive:
            assert found is None
            continue
        assert found is not None
        _, older, newer = found
        same = sorted(
            (e for e in survivors if e.source == entry.source),
            key=lambda e: (e.timestamp_ns or 0, e.seq or 0),
        )
        at = same.index(next(e for e in same if e.seq == entry.seq))
        assert [e.seq for e in older] == [e.seq for e in same[max(0, at - 5) : at]]
        assert [e.seq for e in newer] == [e.seq for e in same[at + 1 : at + 6]]


def _delete_and_check(engine: LogAnalyticsEngine, stored: list[LogEntry], text: str) -> list[LogEntry]:
    node = resolve_time(parse_filter(text), NOW_NS)
    doomed = [e for e in stored if evaluate(node, e)]
    survivors = [e for e in stored if not evaluate(node, e)]
    assert engine.delete(text, all=isinstance(node, MatchAll)) == len(doomed), text
    assert_answers(engine, survivors, f"after deleting {text!r}:")
    _around_skips(engine, stored, survivors)
    engine.flush()  # the index caught up (and re-added what a reindex dropped): still exact
    assert_answers(engine, survivors, f"after deleting {text!r} and a flush:")
    return survivors


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=filters)
def test_random_deletes_leave_exactly_the_survivors(text: str) -> None:
    """For random filters, a delete removes exactly the logs the reference evaluator matches, and
    every query form over the probes agrees with it over the survivors (in memory: the in-process
    index writer)."""
    engine = _engine()
    try:
        stored = _fill(engine, oracle_logs(240, seed=11))
        _delete_and_check(engine, stored, text)
    finally:
        engine.close()


@pytest.fixture(scope="module")
def durable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LogAnalyticsEngine, list[LogEntry]]]:
    """A durable engine (its index writer in a process of its own) over the oracle's logs, half of
    them indexed; its deletes accumulate through the tests that use it, in file order."""
    engine = _engine(tmp_path_factory.mktemp("durable") / "data")
    stored = _fill(engine, oracle_logs(400, seed=3))
    yield engine, stored
    engine.close()


@pytest.mark.parametrize(
    "text",
    [
        "refused",  # a word: dropped from the index by the query itself
        "source:pay-ments",  # a field the index holds
        "region:us",  # a metadata field: dropped by runs of seqs
        "_time:[2025-07-21T12:01:00Z, 2025-07-21T12:02:00Z)",  # a time range
        "NOT tags:blue duration_ms:>=500",
    ],
)
def test_deletes_on_a_durable_store_are_exact(
    durable: tuple[LogAnalyticsEngine, list[LogEntry]], text: str
) -> None:
    """Deletes by word, by field, by metadata field, by time range and by a negation, one after
    the other on one durable store, each over indexed and tail logs: every query form agrees."""
    engine, stored = durable
    survivors = _delete_and_check(engine, engine.query_logs({}, sort_by="seq"), text)
    assert engine.index_status()["state"] == "ok"
    assert [e.to_dict() for e in survivors] == [e.to_dict() for e in engine.query_logs({}, sort_by="seq")]
    assert len(survivors) < len(stored)


def test_each_way_the_index_drops_documents_is_exact(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    """The index drops a delete's documents by the filter's own query, by runs of seqs, or (runs too
    costly) all from the first seq on, re-adding the survivors: each leaves exact answers."""
    caplog.set_level("INFO", logger="log_analytics_engine.storage.embedded.store")
    engine = _engine()
    try:
        stored = _fill(engine, oracle_logs(300, seed=8))
        survivors = _delete_and_check(engine, stored, "timeout")
        assert "text index: by query" in caplog.text
        survivors = _delete_and_check(engine, survivors, "region:eu")
        assert "text index: by runs" in caplog.text
        monkeypatch.setattr(textindex, "RUN_DELETE_SECONDS", 0.0)
        _delete_and_check(engine, survivors, "user_id:u1")
        assert "text index: by reindex" in caplog.text
    finally:
        engine.close()


def test_pending_logs_not_yet_applied_are_deleted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Logs acknowledged but still waiting for the applier when the delete is called are deleted:
    the delete waits for them (and holds writes back meanwhile)."""
    engine = _engine()
    try:
        stored = _fill(engine, oracle_logs(100, seed=2))
        store = engine._store.store
        gate = threading.Event()
        real = store._apply_pending

        def held(chunks: Any) -> Any:
            gate.wait(10)
            return real(chunks)

        monkeypatch.setattr(store, "_apply_pending", held)
        monkeypatch.setattr(store._applier, "_apply", held)
        late = [LogEntry(NOW_NS - 10 * NS, "ERROR", f"pending {i}", request_id=f"p{i}") for i in range(20)]
        engine.ingest_logs(late)
        assert store.wal_state["pending_rows"] == 20
        result: list[int] = []
        deleting = threading.Thread(target=lambda: result.append(engine.delete("pending")))
        deleting.start()
        time.sleep(0.2)
        assert not result  # waiting for the applier
        gate.set()
        deleting.join(10)
        assert result == [20]
        assert_answers(engine, stored, "after deleting pending logs:")
    finally:
        engine.close()


def test_a_filter_matching_everything_and_pipes_are_refused() -> None:
    """`""` and `*` are refused without all=True (nothing deleted), a query with pipes names them;
    all=True deletes every log, and an empty filter bounded in time deletes that range."""
    engine = _engine()
    try:
        stored = _fill(engine, oracle_logs(50, seed=1))
        for text in ("", "*", "  "):
            with pytest.raises(QueryError, match="all=True"):
                engine.delete(text)
        with pytest.raises(QueryError, match=r"\| stats count\(\)"):
            engine.delete("timeout | stats count()")
        assert engine.count() == len(stored)
        middle = "2025-07-21T12:05:00Z"
        early = [e for e in stored if (e.timestamp_ns or 0) < 1_753_099_500 * NS]
        assert engine.delete("", end="2025-07-21T12:04:59.999999999Z") == len(early)
        assert engine.count() == len(stored) - len(early)
        assert engine.delete("*", start=middle) == len(stored) - len(early)
        assert engine.delete(MatchAll(), all=True) == 0
        assert engine.count() == 0
    finally:
        engine.close()


def test_writes_during_a_delete_are_ordered_around_it() -> None:
    """With a writer ingesting matching logs throughout: every log acknowledged before the delete
    was called is gone, every log sent after it returned is there, and no log is left half way."""
    engine = _engine()
    acked: list[int] = []
    started: list[int] = []
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            started.append(n)
            engine.ingest_logs([LogEntry(NOW_NS - NS, "INFO", f"doomed w{n}", request_id=f"w{n}")])
            acked.append(n)
            n += 1

    writer = threading.Thread(target=write)
    try:
        writer.start()
        while len(acked) < 200:
            time.sleep(0.01)
        before = list(acked)
        deleted = engine.delete("doomed")
        after_start = len(started)
        while len(acked) < after_start + 50:
            time.sleep(0.01)
        stop.set()
        writer.join()
        left = {int(e.request_id[1:]) for e in engine.query_logs({"keyword": "doomed"}) if e.request_id}
        assert not left & set(before)
        assert set(range(after_start, len(acked))) <= left
        assert deleted + len(left) == len(acked)
        assert engine.search("doomed").total == len(left)
    finally:
        stop.set()
        writer.join()
        engine.close()


def test_alert_windows_are_read_again_after_a_delete() -> None:
    """A rule firing on logs that are then deleted sees its window count drop and resolves; the
    alert it fired stays in the history."""
    clock = [float(NOW_NS / NS)]
    engine = LogAnalyticsEngine(clock=lambda: clock[0], alert_interval=None)
    try:
        engine.add_alert_rule(AlertRule("booms", query="boom", threshold=3, time_window=600))
        engine.ingest_logs([LogEntry(NOW_NS - i * NS, "ERROR", f"boom {i}") for i in range(4)])
        [state] = engine.get_alert_rule_states()
        assert (state.state, state.current) == ("firing", 4)
        assert engine.delete("boom 1 OR boom 2") == 2
        [state] = engine.get_alert_rule_states()
        assert (state.state, state.current) == ("ok", 2)
        [alert] = engine.get_alerts()
        assert alert.rule_name == "booms"
        assert alert.status == "resolved"
        engine.ingest_logs([LogEntry(NOW_NS, "ERROR", "boom again")])
        assert engine.get_alert_rule_states()[0].current == 3  # counted once, after the re-read
    finally:
        engine.close()


def test_deleted_logs_are_counted_in_stats_and_metrics(tmp_path: Path) -> None:
    """`deleted_logs` in get_stats and `loganalytics_deleted_logs_total` in /metrics count every log
    deleted, across restarts of a durable store."""
    with _engine(tmp_path / "d") as engine:
        _fill(engine, oracle_logs(60, seed=4))
        gone = engine.delete("disk") + engine.delete("refused")
        assert engine.get_stats()["deleted_logs"] == gone > 0
    with _engine(tmp_path / "d") as engine:
        assert engine.get_stats()["deleted_logs"] == gone
        assert f"loganalytics_deleted_logs_total {float(gone)}" in engine.export_metrics_prometheus()


# -- HTTP --------------------------------------------------------------------------------------------

KEYS = {"ingest": "k-ingest", "query": "k-query", "admin": "k-admin"}


def _secured(engine: LogAnalyticsEngine) -> TestClient:
    keys = tuple(ApiKey(name, hash_key(key), frozenset({name})) for name, key in KEYS.items())
    return TestClient(create_app(engine, Settings(api_keys=keys)))


def test_http_delete_needs_the_admin_scope_and_answers_the_count() -> None:
    """`DELETE /api/v1/logs?q=…` answers `{"deleted": N}` for an admin key, 403 for ingest and query
    keys (nothing deleted), 400 naming the reason for a match-all filter or pipes."""
    engine = _engine()
    try:
        stored = _fill(engine, oracle_logs(80, seed=6))
        client = _secured(engine)
        for scope in ("ingest", "query"):
            refused = client.delete("/api/v1/logs", params={"q": "disk"}, headers={"X-API-Key": KEYS[scope]})
            assert refused.status_code == 403, scope
        assert engine.count() == len(stored)
        admin = {"X-API-Key": KEYS["admin"]}
        node = parse_filter("disk")
        want = sum(evaluate(node, e) for e in stored)
        answer = client.delete("/api/v1/logs", params={"q": "disk"}, headers=admin)
        assert answer.status_code == 200
        assert answer.json() == {"deleted": want}
        for params in ({"q": "*"}, {}, {"q": "disk | stats count()"}):
            refused = client.delete("/api/v1/logs", params=params, headers=admin)
            assert refused.status_code == 400, params
            assert refused.json()["detail"], params
        bounded = client.delete(
            "/api/v1/logs",
            params={"q": "", "start": "2025-07-21T12:09:00Z", "end": "2025-07-21T12:10:00Z"},
            headers=admin,
        )
        assert bounded.status_code == 200
        everything = client.delete("/api/v1/logs", params={"all": "true"}, headers=admin)
        assert everything.json() == {"deleted": len(stored) - want - bounded.json()["deleted"]}
        assert engine.count() == 0
    finally:
        engine.close()


# -- the command line ----------------------------------------------------------------------------------

runner = CliRunner()


def _write_jsonl(path: Path, logs: list[LogEntry]) -> Path:
    path.write_text("".join(json.dumps(log.to_dict()) + "\n" for log in logs))
    return path


def test_cli_delete_on_a_data_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`delete 'q' --data DIR` deletes and prints the count; on a terminal it says how many match
    and asks (no: nothing deleted, exit 1), unless --yes; a match-all filter needs --all."""
    logs = oracle_logs(60, seed=9)
    data = str(tmp_path / "d")
    runner.invoke(app, ["ingest", str(_write_jsonl(tmp_path / "a.jsonl", logs)), "--data", data])
    node = parse_filter("timeout")
    want = sum(evaluate(node, e) for e in logs)
    monkeypatch.setattr(cli_app, "_on_a_terminal", lambda: True)
    declined = runner.invoke(app, ["delete", "timeout", "--data", data], input="n\n")
    assert declined.exit_code == 1, declined.output
    assert f"delete {want:,} logs matching 'timeout'" in declined.output
    with LogAnalyticsEngine(data) as engine:
        assert engine.count() == len(logs)
    accepted = runner.invoke(app, ["delete", "timeout", "--data", data], input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert f"deleted {want:,} logs" in accepted.output
    refused = runner.invoke(app, ["delete", "*", "--data", data, "--yes"])
    assert refused.exit_code == 2
    assert "--all" in refused.output
    everything = runner.invoke(app, ["delete", "*", "--all", "--yes", "--data", data])
    assert f"deleted {len(logs) - want:,} logs" in everything.output
    with LogAnalyticsEngine(data) as engine:
        assert engine.count() == 0
        assert engine.get_stats()["deleted_logs"] == len(logs)


def _remote_cli(monkeypatch: pytest.MonkeyPatch, engine: LogAnalyticsEngine) -> None:
    """Point the CLI's `--url` client at the app over `engine`, in process."""
    secured = _secured(engine).app

    def client(base_url: str, headers: dict[str, str], timeout: float) -> TestClient:
        return TestClient(secured, base_url=base_url, headers=headers)

    monkeypatch.setattr(cli_backend.httpx, "Client", client)


def test_cli_delete_against_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """`delete 'q' --url … --api-key …` deletes on the server with an admin key and prints the count
    (a query key is refused with the server's 403, nothing deleted); off a terminal it does not ask."""
    engine = _engine()
    try:
        stored = _fill(engine, oracle_logs(70, seed=5))
        _remote_cli(monkeypatch, engine)
        url = ["--url", "http://server"]
        refused = runner.invoke(app, ["delete", "disk", *url, "--api-key", KEYS["query"]])
        assert refused.exit_code == 2
        assert "403" in refused.output
        assert engine.count() == len(stored)
        done = runner.invoke(
            app, ["delete", "disk", *url, "--api-key", KEYS["admin"], "--start", "2025-07-21T12:00:00Z"]
        )
        assert done.exit_code == 0, done.output
        want = sum(evaluate(parse_filter("disk"), e) for e in stored)
        assert f"deleted {want:,} logs from the server at http://server" in done.output
        assert engine.count() == len(stored) - want
    finally:
        engine.close()


# -- crash safety --------------------------------------------------------------------------------------

# The child: 300 kept logs, then 100 newest ones (60 indexed, 40 in the tail), then a delete of the
# newest; it SIGKILLs itself right after the delete returns (`after`), or inside it: once the table
# committed, before the text index dropped the documents (`index`), or before the table's commit
# (`table`). It prints the highest seq it stored before the delete.
CHILD = """
import os, signal, sys
from log_analytics_engine import LogAnalyticsEngine, LogEntry
from log_analytics_engine.storage.embedded import store, textindex
data, mode = sys.argv[1], sys.argv[2]

def killer(real):
    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)
    return die

if mode == "index":
    textindex.TextIndex.delete_seqs = killer(textindex.TextIndex.delete_seqs)
if mode == "table":
    store.delete_rows = killer(store.delete_rows)
engine = LogAnalyticsEngine(data, index_interval=3600, alert_interval=None)
T = 1_753_099_200 * 10**9
engine.ingest_logs([LogEntry(T + i * 10**9, "INFO", f"kept k{i}", request_id=f"k{i}") for i in range(300)])
newest = [LogEntry(T + i * 10**9, "ERROR", f"newest n{i}", request_id=f"n{i}") for i in range(100)]
engine.ingest_logs(newest[:60])
engine.flush()
engine.ingest_logs(newest[60:])
print(engine.get_stats()["total_logs"], engine._store.last_seq, flush=True)
print(engine.delete("newest"), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("mode", ["after", "index", "table"])
def test_a_kill_around_a_delete_of_the_newest_logs_loses_nothing_and_resurrects_nothing(
    tmp_path: Path, mode: str
) -> None:
    """A process killed right after deleting its newest logs (or inside the delete: after the table
    committed, or before) reopens with the deleted logs gone from every query form, the index
    included, the kept ones there once, and the next log stored under a new seq."""
    data = tmp_path / "data"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(data), mode], capture_output=True, text=True, timeout=120
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    lines = child.stdout.split()
    assert lines[:2] == ["400", "400"], child.stdout + child.stderr
    with _engine(data) as engine:
        assert engine.count() == 300
        for form in _forms(engine):
            assert form("newest") == 0
            assert form("kept") == 300
        engine.flush()
        for form in _forms(engine):
            assert form("newest") == 0
            assert form("kept") == 300
        assert engine.get_stats()["wal_replayed_rows"] == 0
        engine.ingest_log(LogEntry(NOW_NS, "INFO", "after the crash"))
        [new] = engine.search("after crash").logs
        assert (new.seq or 0) > 400
        assert not (data / "DELETING").exists()
    with _engine(data) as engine:
        assert engine.count() == 301


def _forms(engine: LogAnalyticsEngine) -> list[Callable[[str], int]]:
    """Ways to count the logs with a word: search total (index + tail), a stats pipe, an index-only
    terms aggregation (by level), hits, and the logs a tail returns."""

    def by_level(word: str) -> int:
        return sum(r["n"] for r in engine.run(f"{word} | stats by (level) count() as n").rows)

    def tailed(word: str) -> int:
        return len(engine.tail(word, after=0, limit=10_000)[0])

    return [
        lambda word: engine.search(word).total,
        lambda word: engine.run(f"{word} | stats count() as n").rows[0]["n"],
        by_level,
        lambda word: sum(b["hits"] for b in engine.hits(word, step="1h").buckets),
        tailed,
    ]


def test_an_unfinished_delete_is_completed_at_open(tmp_path: Path) -> None:
    """A delete intent left by a crash (the table not yet committed) is carried out when the store
    opens: the rows and their index documents go, and it is counted."""
    with _engine(tmp_path / "d") as engine:
        stored = _fill(engine, oracle_logs(80, seed=12))
        engine.flush()
    node = parse_filter("timeout")
    doomed = [e.seq or 0 for e in stored if evaluate(node, e)]
    (tmp_path / "d" / "DELETING").write_bytes(np.asarray(doomed, dtype="<i8").tobytes())
    with _engine(tmp_path / "d") as engine:
        survivors = [e for e in stored if not evaluate(node, e)]
        assert_answers(engine, survivors, "after an unfinished delete:")
        assert engine.get_stats()["deleted_logs"] == len(doomed)
    assert not (tmp_path / "d" / "DELETING").exists()
