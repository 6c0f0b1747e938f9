"""The Store contract (storage/base.py): every query form of the language, run on a Store directly,
agrees with the reference evaluator (query/evaluate.py) over the oracle's logs, which hold every kind
of field (columns, tags, metadata strings, numbers, mixed and odd keys, absent fields). Each store
holds half of the logs indexed and half in its unindexed tail. A new backend joins `STORES` and must
pass this file unchanged.

`CONTRACT_EXAMPLES` (environment) sets the number of random filters per test.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from log_analytics_engine.ingest.batch import to_batch
from log_analytics_engine.model import LogEntry
from log_analytics_engine.query.aggregate import aggregate_entries
from log_analytics_engine.query.ast import MatchAll, Node, TimeRange, conjoin, resolve_time
from log_analytics_engine.query.evaluate import evaluate, field_value
from log_analytics_engine.query.hits import hits
from log_analytics_engine.query.parser import parse, parse_filter
from log_analytics_engine.storage.base import Sort, Store
from log_analytics_engine.storage.embedded.backend import EmbeddedBackend
from log_analytics_engine.timeparse import parse_timestamp
from test_query_oracle import (
    NOW_NS,
    NS,
    T0,
    _ids,
    _json_key,
    _shown,
    field_of,
    filters,
    oracle_logs,
    reference_order,
    sort_keys,
)

EXAMPLES = int(os.environ.get("CONTRACT_EXAMPLES", "40"))
QUERY_SECONDS = 30.0

# name -> a function making an empty store in a temporary directory
# (the typed variants promote the frequent metadata keys to columns: from the first write on, and
# from the second write on, the first write's rows then read from the JSON as before)
STORES: dict[str, Callable[[Path], Store]] = {
    "embedded-memory": lambda _: EmbeddedBackend(None, index_interval=3600, promote_after=None),
    "embedded-disk": lambda path: EmbeddedBackend(path / "store", index_interval=3600, promote_after=None),
    "embedded-typed": lambda path: EmbeddedBackend(path / "store", index_interval=3600, promote_after=1),
    "embedded-typed-late": lambda _: EmbeddedBackend(None, index_interval=3600, promote_after=200),
}
_relaxed = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def logs() -> list[LogEntry]:
    """The oracle's logs, with the seqs a store gives them (in order, from 1)."""
    made = oracle_logs()
    for seq, entry in enumerate(made, 1):
        entry.seq = seq
    return made


@pytest.fixture(scope="module", params=sorted(STORES))
def store(
    request: pytest.FixtureRequest, logs: list[LogEntry], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """A store holding the logs: the first half indexed, the rest appended after in two writes."""
    made = STORES[request.param](tmp_path_factory.mktemp(request.param))
    now = (T0 + 1000) * NS
    made.append(to_batch(logs[:150], now).table)
    made.wait_evaluated()
    made.flush_index()
    made.append(to_batch(logs[150:220], now).table)
    made.append(to_batch(logs[220:], now).table)
    made.wait_evaluated()
    yield made
    made.close()


def _node(text: str) -> Node:
    return resolve_time(parse_filter(text), NOW_NS)


def _want(logs: list[LogEntry], node: Node) -> list[LogEntry]:
    return [e for e in logs if evaluate(node, e)]


def _key(entry: LogEntry) -> tuple[int, int]:
    return entry.timestamp_ns or 0, entry.seq or 0


def test_the_stored_logs_are_the_ones_appended(store: Store, logs: list[LogEntry]) -> None:
    """Every appended log reads back unchanged, by seq and through a match-all select."""
    with store.reading(QUERY_SECONDS):
        assert store.last_seq == len(logs)
        fetched = store.fetch([e.seq or 0 for e in reversed(logs)])
        by_seq = store.select(MatchAll(), Sort("seq"))
    assert [e.to_dict() for e in fetched] == [e.to_dict() for e in reversed(logs)]
    assert [e.to_dict() for e in by_seq] == [e.to_dict() for e in logs]


@_relaxed
@given(text=filters)
def test_count_and_search_pages_match_the_reference(store: Store, logs: list[LogEntry], text: str) -> None:
    """count, and search walked page by page through its cursor, give exactly the matching logs,
    newest first by (time, seq), each page with the whole total."""
    node = _node(text)
    want = sorted(_want(logs, node), key=_key, reverse=True)
    with store.reading(QUERY_SECONDS):
        assert store.count(node) == len(want), text
        seen: list[LogEntry] = []
        before: tuple[int, int] | None = None
        while True:
            page = store.search(node, 17, before)
            assert page.total == len(want), text
            seen.extend(page.logs)
            if len(page.logs) < 17:
                break
            before = _key(page.logs[-1])
    assert _ids(seen) == _ids(want), text


@_relaxed
@given(text=filters, column=st.sampled_from(["ts", "level", "source", "severity", "seq"]), desc=st.booleans())
def test_select_sorts_and_pages_as_the_reference(
    store: Store, logs: list[LogEntry], text: str, column: str, desc: bool
) -> None:
    """select orders by a column, ties by seq in the same direction, and pages by offset/limit."""
    node = _node(text)

    def value(e: LogEntry) -> Any:
        by_column = {"ts": e.timestamp_ns, "level": e.level, "source": e.source, "severity": e.severity_score}
        return by_column.get(column, e.seq)

    want = sorted(_want(logs, node), key=lambda e: (value(e), e.seq), reverse=desc)
    with store.reading(QUERY_SECONDS):
        whole = store.select(node, Sort(column, desc))
        page = store.select(node, Sort(column, desc), 5, 9)
    assert _ids(whole) == _ids(want), (text, column, desc)
    assert _ids(page) == _ids(want[5:14]), (text, column, desc)


@_relaxed
@given(text=filters, low=st.integers(0, 300), span=st.integers(1, 300), limit=st.integers(1, 50))
def test_after_gives_a_seq_range_in_order(
    store: Store, logs: list[LogEntry], text: str, low: int, span: int, limit: int
) -> None:
    """after(low, high) gives the matches with low < seq <= high in seq order, at most `limit`."""
    node = _node(text)
    high = low + span
    want = [e for e in _want(logs, node) if low < (e.seq or 0) <= high][:limit]
    with store.reading(QUERY_SECONDS):
        assert _ids(store.after(node, low, high, limit)) == _ids(want), text


@_relaxed
@given(text=filters, keys=sort_keys)
def test_pipes_match_the_reference(
    store: Store, logs: list[LogEntry], text: str, keys: list[tuple[str, bool]]
) -> None:
    """run: stats count, sort + fields projection (values and their types), stats by a field with
    min(_time), and top, as the reference computes them."""
    node = _node(text)
    want = _want(logs, node)
    with store.reading(QUERY_SECONDS):
        assert store.run(node, parse("* | stats count() as n").pipes).rows == [{"n": len(want)}]
        sort = ", ".join(f"{k} desc" if d else k for k, d in keys)
        texts = {field_of(k): k for k, _ in keys}
        shown = list(dict.fromkeys(["request_id", *texts]))
        listed = ", ".join(texts.get(name, name) for name in shown)
        rows = store.run(node, parse(f"* | sort by ({sort}) | fields {listed}").pipes).rows
        ordered = reference_order(want, [(field_of(k), d) for k, d in keys])
        assert [r["request_id"] for r in rows] == _ids(ordered), (text, sort)
        for row, entry in zip(rows, ordered, strict=True):
            for name in shown:
                assert row[name] == _shown(entry, name), (text, name)
                assert type(row[name]) is type(_shown(entry, name)), (text, name)
        by_text = keys[0][0]
        by = field_of(by_text)
        if by in ("tags", "message"):
            return
        groups = store.run(
            node, parse(f"* | stats by ({by_text}) count() as n, min(_time) as first").pipes
        ).rows
        top = store.run(node, parse(f"* | top 2 by ({by_text})").pipes).rows
    counts = Counter(_json_key(_shown(e, by)) for e in want)
    assert {_json_key(g[by]): g["n"] for g in groups} == counts, (text, by)
    firsts = {
        _json_key(_shown(e, by)): _shown(e, "_time")
        for e in sorted(want, key=lambda e: -(e.timestamp_ns or 0))
    }
    assert {_json_key(g[by]): g["first"] for g in groups} == firsts, (text, by)
    assert [r["hits"] for r in top] == sorted(counts.values(), reverse=True)[:2], (text, by)


@_relaxed
@given(text=filters)
def test_numeric_stats_match_the_reference(store: Store, logs: list[LogEntry], text: str) -> None:
    """sum, avg, min, max and count_uniq over a metadata number (non-numbers skipped) agree."""
    node = _node(text)
    numbers: list[float] = []
    for entry in _want(logs, node):
        value = field_value(entry, "duration_ms")
        if isinstance(value, int | float) and not isinstance(value, bool):
            numbers.append(float(value))
    query = "* | stats sum(duration_ms) as s, avg(duration_ms) as a, min(duration_ms) as lo, "
    query += "max(duration_ms) as hi"
    with store.reading(QUERY_SECONDS):
        [row] = store.run(node, parse(query).pipes).rows
        [uniq] = store.run(node, parse("* | stats count_uniq(user_id) as u").pipes).rows
    if numbers:
        assert row["s"] == pytest.approx(sum(numbers)), text
        assert row["a"] == pytest.approx(sum(numbers) / len(numbers)), text
        assert (row["lo"], row["hi"]) == (min(numbers), max(numbers)), text
    else:
        assert row["a"] is None, text
        assert row["lo"] is None, text
    users = {e.user_id for e in _want(logs, node) if e.user_id is not None}  # "" is a value
    assert uniq["u"] == len(users), text


@_relaxed
@given(text=filters, after=st.integers(0, 600), through=st.integers(1, 320))
def test_alert_reads_match_the_reference(
    store: Store, logs: list[LogEntry], text: str, after: int, through: int
) -> None:
    """matches, count_applied and match_rows (what alert rules read) give the reference's matches."""
    node = _node(text)
    low = (T0 + after) * NS
    want = [e for e in _want(logs, node) if (e.timestamp_ns or 0) > low and (e.seq or 0) <= through]
    found = store.matches(node, low, through)
    assert sorted(found.seqs.tolist()) == [e.seq for e in want], text
    assert sorted(found.ts.tolist()) == sorted(e.timestamp_ns for e in want), text
    oldest = store.matches(node, low, through, limit=3)
    assert oldest.seqs.tolist() == [e.seq for e in sorted(want, key=_key)[:3]], text
    high = low + 120 * NS
    in_span = [e for e in want if (e.timestamp_ns or 0) <= high]
    with store.applied_reads():
        assert store.count_applied(node, low, high, through) == len(in_span), text
    first, last = 100, 250
    [rows] = store.match_rows([node], first, last)
    assert sorted(rows.seqs.tolist()) == [e.seq for e in _want(logs, node) if first <= (e.seq or 0) <= last]
    assert np.all(np.isin(rows.seqs, [e.seq for e in logs]))


@pytest.mark.parametrize("text", ["*", "disk", "level:ERROR", "region:eu", "duration_ms:>40", "-tags:blue"])
def test_aggregate_shapes_match_the_list_aggregation(store: Store, logs: list[LogEntry], text: str) -> None:
    """aggregate (the original shapes) equals `aggregate_logs` over the matching logs."""
    node = _node(text)
    want = _want(logs, node)
    for group_by, histogram, top_n in (
        ("level", None, None),
        ("source", "timestamp", {"region": 3}),
        ("tags", "level", {"user_id": 2}),
        ("duration_ms", None, None),
    ):
        with store.reading(QUERY_SECONDS):
            got = store.aggregate(node, group_by, histogram, top_n, "1m")
        expected = aggregate_entries(want, group_by, histogram, top_n, "1m")
        assert got.keys() == expected.keys(), (text, group_by)
        assert got["group_by"] == expected["group_by"], (text, group_by)
        if histogram:
            assert got["histogram"] == expected["histogram"], (text, histogram)
        for key in got:
            if key.startswith("top_"):  # ties may rank in either order: compare the counts
                assert [n for _, n in got[key]] == [n for _, n in expected[key]], (text, key)


@pytest.mark.parametrize("text", ["*", "timeout", "source:db", "mixed:*"])
def test_fields_count_what_the_newest_logs_hold(store: Store, logs: list[LogEntry], text: str) -> None:
    """fields: each column and metadata key appears with the number of matching logs holding a value."""
    node = _node(text)
    want = _want(logs, node)
    with store.reading(QUERY_SECONDS):
        result = store.fields(node)
    assert result.sampled == len(want)
    # a metadata key named as a column (`level`) is listed as its own field, `metadata.level`
    counts = {f.name: f.count for f in result.fields if not f.query.startswith("metadata.")}
    # a column holds a value unless NULL (a source: unless empty); a metadata key whatever its value
    holds: dict[str, Callable[[LogEntry], bool]] = {
        "level": lambda e: True,
        "source": lambda e: e.source != "",
        "user_id": lambda e: e.user_id is not None,
        "region": lambda e: "region" in e.metadata,
        "duration_ms": lambda e: "duration_ms" in e.metadata,
        "http.status": lambda e: "http.status" in e.metadata,
    }
    for name, has in holds.items():
        assert counts.get(name, 0) == sum(1 for e in want if has(e)), (text, name)


@pytest.mark.parametrize("text", ["*", "refused", "level:in(ERROR, WARN)"])
def test_hits_count_each_bucket(store: Store, logs: list[LogEntry], text: str) -> None:
    """hits over a Store: per-minute buckets hold the reference's counts, by level too."""
    node = _node(text)
    want = _want(logs, node)
    with store.reading(QUERY_SECONDS):
        plain = hits(store, node, (None, None), "1m")
        by_level = hits(store, node, (T0 * NS, (T0 + 600) * NS), "5m", "level")
    expected = Counter(((e.timestamp_ns or 0) // (60 * NS)) * 60 for e in want)
    assert {_minute(b["_time"]): b["hits"] for b in plain.buckets} == dict(expected)
    assert sum(b["hits"] for b in by_level.buckets) == len(want)
    levels = Counter(e.level for e in want)
    seen: Counter[Any] = Counter()
    for bucket in by_level.buckets:
        seen[bucket["level"]] += bucket["hits"]
    assert seen == levels


def _minute(text: str) -> int:
    return parse_timestamp(text) // NS


def test_around_gives_the_same_source_neighbours(store: Store, logs: list[LogEntry]) -> None:
    """around: the log and its source's nearest older and newer logs by (time, seq), oldest first."""
    for anchor in (logs[0], logs[151], logs[-1]):
        same = sorted((e for e in logs if e.source == anchor.source), key=_key)
        at = same.index(next(e for e in same if e.seq == anchor.seq))
        with store.reading(QUERY_SECONDS):
            found = store.around(anchor.seq or 0, 3, 4)
        assert found is not None
        log, older, newer = found
        assert log.seq == anchor.seq
        assert _ids(older) == _ids(same[max(0, at - 3) : at])
        assert _ids(newer) == _ids(same[at + 1 : at + 5])
    with store.reading(QUERY_SECONDS):
        assert store.around(10_000, 1, 1) is None


def test_time_ranges_bound_every_form(store: Store, logs: list[LogEntry]) -> None:
    """A time range in the filter narrows count, search, select and run alike."""
    span = TimeRange((T0 + 100) * NS, (T0 + 200) * NS, include_end=False)
    node = conjoin([_node("disk OR level:ERROR"), span])
    want = _want(logs, node)
    with store.reading(QUERY_SECONDS):
        assert store.count(node) == len(want)
        assert store.search(node, 1000).total == len(want)
        assert sorted(_ids(store.select(node, Sort()))) == sorted(_ids(want))
        assert store.run(node, parse("* | stats count() as n").pipes).rows == [{"n": len(want)}]


def _filled(make: Callable[[Path], Store], where: Path, logs: list[LogEntry]) -> Store:
    """A new store holding the logs as the `store` fixture's does (half indexed, half in the tail)."""
    made = make(where)
    now = (T0 + 1000) * NS
    made.append(to_batch(logs[:150], now).table)
    made.wait_evaluated()
    made.flush_index()
    made.append(to_batch(logs[150:], now).table)
    made.wait_evaluated()
    return made


DELETE_PROBES = ("*", "timeout", "timeout level:ERROR", "tags:blue", "region:eu", "NOT disk")


@settings(
    max_examples=max(1, EXAMPLES // 4),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=filters)
def test_delete_removes_exactly_the_matching_logs(
    tmp_path_factory: pytest.TempPathFactory, logs: list[LogEntry], text: str
) -> None:
    """delete removes exactly the logs the reference matches, indexed or in the tail, and says how
    many; count, search, stats by level and a seq fetch then answer as the reference does over the
    logs left (each store new for the filter: a delete changes it)."""
    node = _node(text)
    doomed = {e.seq for e in _want(logs, node)}
    left = [e for e in logs if e.seq not in doomed]
    for name, make in STORES.items():
        store = _filled(make, tmp_path_factory.mktemp(name), logs)
        try:
            assert store.delete(node) == len(doomed), (name, text)
            with store.reading(QUERY_SECONDS):
                for probe in DELETE_PROBES:
                    at = (name, text, probe)
                    want = _want(left, _node(probe))
                    assert store.count(_node(probe)) == len(want), at
                    page = store.search(_node(probe), 1000)
                    assert page.total == len(want), at
                    assert sorted(_ids(page.logs)) == sorted(_ids(want)), at
                    rows = store.run(_node(probe), parse("* | stats by (level) count() as n").pipes).rows
                    assert {r["level"]: r["n"] for r in rows} == Counter(e.level for e in want), at
                assert _ids(store.fetch([e.seq or 0 for e in logs])) == _ids(left), at
        finally:
            store.close()
