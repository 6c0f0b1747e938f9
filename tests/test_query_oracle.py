"""The query oracle: random query text, drawn over every filter kind and every kind of field, run by
the engine (index + tail + SQL; logs given as objects and logs read from a file, which are stored by
different code) and by the Python reference evaluator, which must agree on matches, order, values and
alert-rule matches.

`ORACLE_EXAMPLES` (environment) sets the number of examples: CI runs a moderate number; run with
`ORACLE_EXAMPLES=2000` (and `--hypothesis-seed=N`) to search harder.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from log_analytics_engine import AlertRule, LogAnalyticsEngine, LogEntry
from log_analytics_engine.alerting.matcher import BatchMatcher
from log_analytics_engine.model import SEVERITY
from log_analytics_engine.query.ast import RelativeTime, resolve_time
from log_analytics_engine.query.evaluate import evaluate, field_value, order_key
from log_analytics_engine.query.parser import parse_filter
from log_analytics_engine.timeparse import format_timestamp

NS = 1_000_000_000
T0 = 1_753_099_200  # 2025-07-21T12:00:00Z
NOW_NS = (T0 + 400) * NS
EXAMPLES = int(os.environ.get("ORACLE_EXAMPLES", "60"))

# -- the data: every kind of field, with empty, absent, Unicode, `_`/`-` and mixed-type values --------

MESSAGE_WORDS = (
    "timeout",
    "refused",
    "disk",
    "blk_123",
    "blk_9",
    "req-12a",
    "req-7",
    "Café",
    "x_y",
    "db-1",
    "42",
)
LEVELS = ("trace", "DEBUG", "info", "WARN", "warning", "ERROR", "err", "critical", "FATAL", "notice")
SOURCES = ("api", "db", "pay-ments", "", "auth_svc", "Api")
THREADS = (None, "", "t1", "t-2")
USERS = (None, "u1", "42", "u_3", "", "7.5")
TAGS = ("blue", "green", "tenant-a", "tenant_b", "", "42", "7.5", "042", "1e1", "10")
REGIONS = ("eu", "eu-west", "us", "", "ap_south", "EU", "Zürich")
DURATIONS: tuple[Any, ...] = (0, 5, 42, 99, 98, 500, 501, 1325, -3, 2.5, 0.25, 1e3, 7.0)
MIXED: tuple[Any, ...] = (7, 2.5, "10", "abc", "", True, False, None, [1, "x"], {"a": 1}, -3, "7.5", "a b")
MIXED += ("1e3", " 4", "inf", "1_000", "Abc")
# Metadata keys a query must quote or reach through `metadata.` (a dot inside a key is no nesting:
# `http` holds an object too), keys one case apart, and a key named as a column. Each key's query
# texts, written by hand, and the field each stands for.
ODD_KEYS: dict[str, dict[str, str]] = {
    "http.status": {
        "http.status": "http.status",
        '"http.status"': "http.status",
        "metadata.http.status": "metadata.http.status",
        'metadata."http.status"': "metadata.http.status",
    },
    "a:b": {'"a:b"': "a:b", "'a:b'": "a:b", 'metadata."a:b"': "metadata.a:b"},
    "k8s/pod": {'"k8s/pod"': "k8s/pod", "metadata.'k8s/pod'": "metadata.k8s/pod"},
    "x y": {'"x y"': "x y", 'metadata."x y"': "metadata.x y"},
    '"q"': {r'"\"q\""': '"q"', """'"q"'""": '"q"', r'metadata."\"q\""': 'metadata."q"'},
    "a\\b(c)": {r'"a\b(c)"': "a\\b(c)", r'"a\\b(c)"': "a\\b(c)", r'metadata."a\b(c)"': "metadata.a\\b(c)"},
    "Région": {"Région": "Région", '"Région"': "Région"},
    "région": {"région": "région", "metadata.région": "metadata.région"},
    "हिंदी": {"हिंदी": "हिंदी", 'metadata."हिंदी"': "metadata.हिंदी"},
    "metadata.x": {
        "metadata.metadata.x": "metadata.metadata.x",
        'metadata."metadata.x"': "metadata.metadata.x",
    },
    "level": {"metadata.level": "metadata.level", "metadata.'level'": "metadata.level"},
    "": {'""': "", 'metadata.""': "metadata."},
    "a~b/c": {'"a~b/c"': "a~b/c", 'metadata."a~b/c"': "metadata.a~b/c"},
}
ODD_FIELDS = {text: field for forms in ODD_KEYS.values() for text, field in forms.items()}
ODD_VALUES: tuple[Any, ...] = ("eu", "a:b", "x y", "", "7", 7, 2.5, -3, True, "Zürich", [1, "x"])


def oracle_logs(n: int = 300, seed: int = 5) -> list[LogEntry]:
    """`n` logs over the vocabularies above; `request_id` is `r{i}`, unique."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        meta: dict[str, Any] = {}
        if rnd.random() < 0.8:
            meta["region"] = rnd.choice(REGIONS)
        if rnd.random() < 0.8:
            meta["duration_ms"] = rnd.choice(DURATIONS)
        if rnd.random() < 0.8:
            meta["mixed"] = rnd.choice(MIXED)
        for key in ODD_KEYS:
            if rnd.random() < 0.5:
                meta[key] = rnd.choice(ODD_VALUES)
        if rnd.random() < 0.5:
            meta["http"] = {"status": rnd.choice(ODD_VALUES)}
        out.append(
            LogEntry(
                (T0 + rnd.randrange(600)) * NS,
                rnd.choice(LEVELS),
                " ".join(rnd.sample(MESSAGE_WORDS, rnd.randint(1, 4))),
                source=rnd.choice(SOURCES),
                thread_id=rnd.choice(THREADS),
                request_id=f"r{i}",
                user_id=rnd.choice(USERS),
                tags=rnd.sample(TAGS, rnd.randint(0, 3)),
                metadata=meta,
            )
        )
    return out


@dataclass
class Loaded:
    """One engine holding the oracle logs, the commits it made of them (rows, or None for a file chunk
    read back by SQL; first and last seq), and the logs as stored."""

    engine: LogAnalyticsEngine
    writes: list[tuple[pa.Table | None, int, int]] = field(default_factory=list)
    stored: list[LogEntry] = field(default_factory=list)  # in seq order


def _loaded(fill: Callable[[LogAnalyticsEngine], None]) -> Loaded:
    engine = LogAnalyticsEngine(clock=lambda: NOW_NS / NS, index_interval=3600, alert_interval=None)
    loaded = Loaded(engine)

    def record(table: pa.Table | None, spans: Sequence[tuple[int, int, float]]) -> list[None]:
        rows = None if table is None else table.drop_columns(["seq"])
        loaded.writes.append((rows, spans[0][0], spans[-1][1]))
        return [None] * len(spans)

    engine._pipeline.add_listener(record)
    fill(engine)
    loaded.stored = engine.query_logs({}, sort_by="seq")
    return loaded


@pytest.fixture(scope="module")
def logs() -> list[LogEntry]:
    """The oracle's logs."""
    return oracle_logs()


@pytest.fixture(scope="module")
def engines(logs: list[LogEntry], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Loaded]]:
    """`objects`: the logs given to `ingest_logs` in two writes, the first one indexed (the second
    is the unindexed tail); `file`: the same logs ingested from a JSONL file, all indexed."""

    def from_objects(engine: LogAnalyticsEngine) -> None:
        engine.ingest_logs(logs[:150])
        engine.flush()
        engine.ingest_logs(logs[150:])

    path = tmp_path_factory.mktemp("oracle") / "logs.jsonl"
    path.write_bytes(b"".join(orjson.dumps(log.to_dict()) + b"\n" for log in logs))

    def from_file(engine: LogAnalyticsEngine) -> None:
        assert engine.ingest_logs_from_file(path)["count"] == len(logs)
        engine.flush()

    made = {"objects": _loaded(from_objects), "file": _loaded(from_file)}
    yield made
    for loaded in made.values():
        loaded.engine.close()


def test_stored_logs_are_the_generated_ones(logs: list[LogEntry], engines: dict[str, Loaded]) -> None:
    """Both ingest paths store every generated log unchanged (so the oracle compares like with like)."""
    want = [log.to_dict() for log in logs]
    for loaded in engines.values():
        assert [log.to_dict() for log in loaded.stored] == want


# -- the query text: every filter kind over every kind of field ----------------------------------------

# field kind -> (field names, string values, number values)
FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[float, ...]]] = {
    "column": (
        ("source", "thread_id", "user_id", "request_id"),
        (*SOURCES, *THREADS[1:], "u1", "r7"),
        (42, 7.5),
    ),
    "level": (("level",), LEVELS, ()),
    "severity": (("severity",), tuple(SEVERITY), (0, 10, 20, 25, 30, 40, 40.5, 50)),
    "tags": (("tags",), TAGS, (42, 7.5, 10)),
    "meta_string": (("region", "metadata.region"), REGIONS, ()),
    "meta_number": (
        ("duration_ms", "metadata.duration_ms"),
        ("5", "2.5"),
        (0, 5, 42, 99, 500, 2.5, -3, 1000),
    ),
    "meta_mixed": (
        ("mixed", "metadata.mixed"),
        ("10", "abc", "", "true", "a b", "7.5", '[1,"x"]'),
        (7, 10, 2.5, -3),
    ),
    "absent": (("nope", "metadata.nope", '"no pe"', 'metadata."no:pe"'), ("x", ""), (1,)),
    "meta_odd": (tuple(ODD_FIELDS), ("eu", "a:b", "x y", "7", "true", "Zürich", "a"), (7, 2.5, -3, 0)),
}
SORT_FIELDS = (
    "source",
    "user_id",
    "level",
    "severity",
    "tags",
    "region",
    "duration_ms",
    "mixed",
    "nope",
    "_time",
)
SORT_FIELDS += ("metadata.mixed", "thread_id", "message", *ODD_FIELDS)
WORDS = (
    "timeout",
    "refused",
    "disk",
    "blk",
    "123",
    "req",
    "12a",
    "café",
    "CAFÉ",
    "x",
    "y",
    "db",
    "1",
    "42",
    "nope",
)
PHRASES = ('"blk 123"', '"req 12a"', "'x y'", '"db 1"', '"timeout disk"')
MESSAGE_PREFIXES = ("blk_*", "blk_1*", "req-1*", "req-*", "req*", "ti*", "caf*", "db-*", "x_*", "4*", "Caf*")
PATTERNS = ("^e", "u", "[0-9]", "a|b", "^$", "-", "_", "^4", r"\.", "(?i)eu", "^[0-9]+$", "^.{2}$", "ü", " ")
# RE2 in both the store and the reference: classes whose meaning differs from Python re (\w and \b are
# ASCII in RE2; \pL is any letter) behave the same on both sides too
PATTERNS += (r"\w$", r"\bdb", r"\pL{4}", r"(?i)CAFÉ", r"[[:digit:]]")
OPS = (">", ">=", "<", "<=")
TIMES = ("2025-07-21T12:02:00Z", "2025-07-21T12:05:30Z", "2025-07-21T12:00:00Z")
_BARE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")


def _string(value: str, rnd: random.Random) -> str:
    """A text value as query text: quoted, or bare when it lexes back as the same text (sometimes)."""
    bare = value and value[0] in _BARE and all(c.isalnum() or c in "_-." for c in value)
    if bare and value.lower() not in ("and", "or", "not", "in") and rnd.random() < 0.5:
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


@st.composite
def leaf(draw: st.DrawFn, field_kinds: tuple[str, ...] = tuple(FIELDS)) -> str:
    """One filter term, on a field of one of `field_kinds`."""
    rnd = draw(st.randoms(use_true_random=False))
    kind = draw(
        st.sampled_from(
            ("word", "phrase", "prefix", "regex", "eq", "compare", "in", "exists", "empty", "time", "indexed")
        )
    )
    if kind == "indexed":
        # text and the fields the index holds: the planner answers these from the index alone
        text = draw(st.sampled_from((*WORDS, *PHRASES, *MESSAGE_PREFIXES)))
        return f"{text} {draw(leaf(('level', 'severity', 'tags', 'column')))}"
    if kind == "word":
        return draw(st.sampled_from(WORDS))
    if kind == "phrase":
        return draw(st.sampled_from(PHRASES))
    if kind == "time":
        return draw(
            st.sampled_from(
                (f"_time:>={TIMES[0]}", f"_time:<{TIMES[1]}", f"_time:[{TIMES[2]}, {TIMES[0]})", "_time:3m")
            )
        )
    names, strings, numbers = FIELDS[draw(st.sampled_from(field_kinds))]
    name = draw(st.sampled_from(names))
    if kind == "prefix":
        if draw(st.booleans()):
            return draw(st.sampled_from(MESSAGE_PREFIXES))
        text = draw(st.sampled_from([*strings, *(_number(n) for n in numbers), "x"]))
        return f"{name}:{_string(text[: draw(st.integers(0, 3))], rnd)}*"
    if kind == "regex":
        where = "" if draw(st.integers(0, 4)) == 0 else name + ":"
        pattern = draw(st.sampled_from(PATTERNS)).replace("\\", "\\\\")
        return f'{where}~"{pattern}"'
    if kind == "exists":
        return f"{name}:*"
    if kind == "empty":
        return f'{name}:""'

    def value() -> str:
        if numbers and (not strings or draw(st.booleans())):
            return _number(draw(st.sampled_from(numbers)))
        return _string(draw(st.sampled_from([s for s in strings if s] or ["x"])), rnd)

    if kind == "eq":
        return f"{name}:{value()}"
    if kind == "in":
        values = [value() for _ in range(draw(st.integers(1, 3)))]
        if draw(st.integers(0, 5)) == 0:
            values.append('""')
        return f"{name}:in({', '.join(values)})"
    bound = _number(draw(st.sampled_from(numbers or (1,))))
    if name == "severity" and draw(st.booleans()):
        bound = draw(st.sampled_from(("WARN", "error", "Warning", "CRITICAL", "debug")))
    return f"{name}:{draw(st.sampled_from(OPS))}{bound}"


def _grow(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(children, children)
    return st.one_of(
        pair.map(lambda p: f"{p[0]} {p[1]}"),
        pair.map(lambda p: f"({p[0]} AND {p[1]})"),
        pair.map(lambda p: f"({p[0]} OR {p[1]})"),
        children.map(lambda c: f"NOT ({c})"),
        children.map(lambda c: f"-({c})"),
    )


filters = st.recursive(leaf(), _grow, max_leaves=5)


def field_of(text: str) -> str:
    """The field a field's query text stands for (the texts of ODD_KEYS differ from theirs)."""
    return ODD_FIELDS.get(text, text)


sort_keys = st.lists(
    st.tuples(st.sampled_from(SORT_FIELDS), st.booleans()),
    min_size=1,
    max_size=2,
    unique_by=lambda k: field_of(k[0]),
)


# -- the reference --------------------------------------------------------------------------------------


def _is_column(name: str) -> bool:
    return name in (
        "source",
        "user_id",
        "thread_id",
        "request_id",
        "level",
        "severity",
        "tags",
        "_time",
        "message",
    )


def _shown(entry: LogEntry, name: str) -> Any:
    """A field's value as a pipe result row shows it."""
    value = field_value(entry, name)
    return format_timestamp(value) if name == "_time" else value


def reference_order(entries: list[LogEntry], keys: list[tuple[str, bool]]) -> list[LogEntry]:
    """`| sort by (keys)` in Python: ties newest stored first, absent values last in either
    direction, metadata by `order_key` (its types in one order whichever the direction), columns by
    their value. Stable sorts from the last key to the first."""
    ordered = sorted(entries, key=lambda e: e.seq or 0, reverse=True)
    for name, desc in reversed(keys):
        ordered.sort(key=lambda e, name=name, desc=desc: _sort_key(e, name, desc), reverse=desc)
        if not _is_column(name):
            ordered.sort(key=lambda e, name=name: _rank(order_key(field_value(e, name))))
    return ordered


def _sort_key(entry: LogEntry, name: str, desc: bool) -> tuple[bool, Any]:
    """A sort key putting absent values last whether sorted with reverse=desc or not."""
    value = field_value(entry, name)
    ranked = value if _is_column(name) else order_key(value)
    present = ranked is not None
    return (present, ranked) if desc else (not present, ranked)


def _group_order(name: str, value: Any) -> tuple[bool, Any]:
    """Where a group's value sorts among the groups (ascending, absent last)."""
    ranked = value if _is_column(name) else order_key(value)
    return (ranked is None, ranked)


def _rank(key: tuple[int, Any] | None) -> int:
    return 3 if key is None else key[0]


def _ids(entries: list[LogEntry]) -> list[str | None]:
    return [e.request_id for e in entries]


def _json_key(value: Any) -> bytes:
    return orjson.dumps(value)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=filters, keys=sort_keys)
def test_random_queries_match_the_reference_evaluator(
    engines: dict[str, Loaded], text: str, keys: list[tuple[str, bool]]
) -> None:
    """For random filters and sorts, both stores' search, count, sort order, row values, stats groups
    and alert-rule matches equal what the Python evaluator computes."""
    node = resolve_time(parse_filter(text), NOW_NS)
    for mode, loaded in engines.items():
        engine, stored = loaded.engine, loaded.stored
        want = [e for e in stored if evaluate(node, e)]
        where = f"{mode}: {text}"
        found = engine.search(text, limit=1000)
        assert found.total == len(want), where
        assert sorted(_ids(found.logs), key=str) == sorted(_ids(want), key=str), where
        assert engine.run(f"{text} | stats count() as n").rows[0]["n"] == len(want), where

        sort = ", ".join(f"{k} desc" if d else k for k, d in keys)
        texts = {field_of(k): k for k, _ in keys}
        shown = list(dict.fromkeys(["request_id", *texts]))
        listed = ", ".join(texts.get(name, name) for name in shown)
        rows = engine.run(f"{text} | sort by ({sort}) | fields {listed}").rows
        ordered = reference_order(want, [(field_of(k), d) for k, d in keys])
        assert [r["request_id"] for r in rows] == _ids(ordered), f"{where} | sort by ({sort})"
        for row, entry in zip(rows, ordered, strict=True):
            for name in shown:
                value = _shown(entry, name)
                assert row[name] == value, (where, name, row)
                assert type(row[name]) is type(value), (where, name, row)

        by_text = keys[0][0]
        by = field_of(by_text)
        if by not in ("tags", "message"):
            groups = engine.run(f"{text} | stats by ({by_text}) count() as n, min(_time) as first").rows
            counts = Counter(_json_key(_shown(e, by)) for e in want)
            assert {_json_key(g[by]): g["n"] for g in groups} == counts, f"{where} | stats by ({by})"
            keyed = [g[by] if _is_column(by) else order_key(g[by]) for g in groups]
            present = [k for k in keyed if k is not None]
            assert present == sorted(present), f"{where} | stats by ({by}): group order"
            assert keyed[len(present) :] == [None] * (len(keyed) - len(present)), where
            firsts = {
                _json_key(_shown(e, by)): format_timestamp(e.timestamp_ns or 0)
                for e in sorted(want, key=lambda e: -(e.timestamp_ns or 0))
            }
            assert {_json_key(g[by]): g["first"] for g in groups} == firsts, f"{where} | stats min(_time)"
            # one count by level or source may come from the index's terms aggregation
            counted = engine.run(f"{text} | stats by ({by_text}) count() as n").rows
            assert {_json_key(g[by]): g["n"] for g in counted} == counts, f"{where} | stats count()"
            top = engine.run(f"{text} | top 3 by ({by_text})").rows
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], _group_order(by, orjson.loads(kv[0]))))
            assert [(_json_key(r[by]), r["hits"]) for r in top] == ranked[:3], f"{where} | top 3 by ({by})"

        if any(isinstance(n, RelativeTime) for n in _leaves(parse_filter(text))):
            continue  # a rule cannot hold a relative time
        rule = AlertRule("oracle", query=text)
        matcher = BatchMatcher(engine._store)
        seqs: set[int] = set()
        for table, first, last in loaded.writes:
            [(_, matched)] = matcher.match([rule], first, last, table)
            seqs.update(int(s) for s in np.asarray(matched))
        assert sorted(seqs) == [e.seq for e in want], f"{where} (alert rule)"


def _leaves(node: Any) -> Iterator[Any]:
    items = getattr(node, "items", None)
    if items is not None:
        for item in items:
            yield from _leaves(item)
    elif hasattr(node, "item"):
        yield from _leaves(node.item)
    else:
        yield node
