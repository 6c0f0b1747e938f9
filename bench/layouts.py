"""The typed-field layouts of the DuckDB logs table that bench/storage.py compares: how the fields
outside the fixed columns (today one JSON text column, `metadata`) are written, read as numbers and
text, and read back whole (the round trip that shows a layout keeps every value and its JSON type).

Every layout takes rows in the engine's stored shape (model.STORED_SCHEMA, `metadata` as JSON text) from
a relation (a registered Arrow batch, or a view over read_ndjson) and stores them its own way:

- JSON text (today) and DuckDB's JSON type (the same bytes, typed for the json functions);
- promoted: each key found in >= 1 % of a sample's rows becomes a column of its inferred type (BIGINT,
  DOUBLE, BOOLEAN, TIMESTAMP, VARCHAR); the other keys, and values that do not fit the column's type,
  stay in a JSON remainder (`rest`, NULL when empty);
- VARIANT (DuckDB 2.0; shredded into typed columns when a row group is checkpointed);
- MAP(VARCHAR, VARCHAR) holding each value's JSON text (a string keeps its quotes, so `"42"` and `42`
  stay apart);
- a side table `fields(seq, key, kind, num, str)` beside a logs table without metadata.

Keys and values reach SQL as bound (named) parameters; only column names the bench makes (`f0`, `f1`,
...) and constant SQL are spliced.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from log_analytics_engine.demodata import iter_records
from log_analytics_engine.model import STORED_SCHEMA
from log_analytics_engine.storage.embedded.sql import metadata_path, number_sql

_DUCK_TYPES = {
    pa.int64(): "BIGINT",
    pa.int16(): "SMALLINT",
    pa.string(): "VARCHAR",
    pa.list_(pa.string()): "VARCHAR[]",
}
# The fixed columns, in the stored order, with their DuckDB types (schema.py's LOGS_DDL, less metadata).
FIXED = tuple((f.name, _DUCK_TYPES[f.type]) for f in STORED_SCHEMA if f.name != "metadata")
FIXED_NAMES = ", ".join(name for name, _ in FIXED)
FIXED_DDL = ", ".join(f"{name} {kind}" for name, kind in FIXED)
# A key is promoted when at least this share of a partition's rows holds it.
MIN_SHARE = 0.01
# Text that is exactly this rendering of a timestamp (RFC 3339, UTC, milliseconds) fits a TIMESTAMP
# column; any other spelling stays in the remainder, so the round trip gives the same text back.
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%gZ"
# A VARCHAR key becomes TIMESTAMP when this share of its values reads back exactly as timestamps.
TIMESTAMP_SHARE = 0.8
# JSON types (json_each / json_type) -> the column type that takes them.
_COLUMN_OF_JSON = {
    "BIGINT": "BIGINT",
    "UBIGINT": "BIGINT",
    "DOUBLE": "DOUBLE",
    "BOOLEAN": "BOOLEAN",
    "VARCHAR": "VARCHAR",
}
# A promoted value: SQL of the column's value from the JSON type `t` and value text `v`, NULL when the
# value does not fit (then it stays in the remainder).
_VALUE_SQL = {
    "BIGINT": "CASE WHEN {t} IN ('BIGINT', 'UBIGINT') THEN TRY_CAST({v} AS BIGINT) END",
    "DOUBLE": "CASE WHEN {t} = 'DOUBLE' THEN CAST({v} AS DOUBLE) END",
    "BOOLEAN": "CASE WHEN {t} = 'BOOLEAN' THEN {v} = 'true' END",
    "VARCHAR": "CASE WHEN {t} = 'VARCHAR' THEN {v} END",
    "TIMESTAMP": (
        "CASE WHEN {t} = 'VARCHAR' AND strftime(TRY_CAST({v} AS TIMESTAMP), '"
        + TIMESTAMP_FORMAT
        + "') = {v} THEN TRY_CAST({v} AS TIMESTAMP) END"
    ),
}
# VARIANT type names (variant_typeof) -> the SQL type a reader casts to for the fast (shredded) path.
_VARIANT_CASTS = {"UINT64": "UBIGINT", "INT64": "BIGINT", "DOUBLE": "DOUBLE", "VARCHAR": "VARCHAR"}


class Binder:
    """Named parameters of one statement: `bind(value)` gives `$pN` and keeps the value."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def __call__(self, value: object) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return "$" + name


def engine_number(column: str, key: str, bind: Binder) -> str:
    """The engine's SQL of a metadata key as a DOUBLE from JSON text (storage/embedded/sql.py's
    `_Compiler.number`): a JSON number, or text that reads as one."""
    path = metadata_path(key)
    as_json = f"TRY_CAST(CAST(json_extract({column}, {bind(path)}) AS VARCHAR) AS DOUBLE)"
    return f"coalesce({as_json}, {number_sql(f'json_extract_string({column}, {bind(path)})')})"


def engine_text(column: str, key: str, bind: Binder) -> str:
    """The engine's SQL of a metadata key as text from JSON text (a number as its JSON text)."""
    return f"json_extract_string({column}, {bind(metadata_path(key))})"


@dataclass
class View:
    """How one query reads a layout: the FROM clause and each key's SQL as a number and as text."""

    relation: str
    number: Callable[[str], str]
    text: Callable[[str], str]
    # a filter `key = value` (MAP compares the value's JSON text)
    equals: Callable[[str, str], str]


class Layout:
    """One way of storing the fields outside the fixed columns. Subclasses fill in the SQL."""

    name = ""
    tables = ("logs",)

    def create(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create the empty table(s)."""
        con.execute(f"CREATE TABLE logs ({FIXED_DDL}, {self.columns()})")

    def columns(self) -> str:
        """DDL of what replaces the fixed table's `metadata` column."""
        raise NotImplementedError

    def insert(
        self, con: duckdb.DuckDBPyConnection, relation: str, params: dict[str, object] | None = None
    ) -> None:
        """Insert the rows of `relation` (the stored columns, `metadata` as JSON text; a table's name or
        a subquery whose named parameters are `params`)."""
        con.execute(f"INSERT INTO logs SELECT {FIXED_NAMES}, {self.convert()} FROM {relation}", params or {})

    def convert(self) -> str:
        """SQL of the stored metadata column(s) from `metadata` JSON text."""
        raise NotImplementedError

    def view(self, bind: Binder, keys: Sequence[str]) -> View:
        """How a query reading `keys` reads this layout."""
        return View("logs", lambda k: self.number(k, bind), lambda k: self.text(k, bind), self._equals(bind))

    def _equals(self, bind: Binder) -> Callable[[str, str], str]:
        return lambda key, value: f"{self.text(key, bind)} = {bind(value)}"

    def number(self, key: str, bind: Binder) -> str:
        raise NotImplementedError

    def text(self, key: str, bind: Binder) -> str:
        raise NotImplementedError

    def restore(self, bind: Binder) -> str:
        """SELECT of (seq, metadata as JSON text) for every row: the round trip."""
        raise NotImplementedError

    def prepare(self, con: duckdb.DuckDBPyConnection) -> None:
        """Read what the readers need to know of the stored data (per-partition statistics)."""


class JsonText(Layout):
    """Today: `metadata VARCHAR` holding JSON text, read with json_extract (the engine's SQL)."""

    name = "JSON text (today)"
    sql_type = "VARCHAR"

    def columns(self) -> str:
        return f"metadata {self.sql_type}"

    def convert(self) -> str:
        return "metadata"

    def number(self, key: str, bind: Binder) -> str:
        return engine_number("metadata", key, bind)

    def text(self, key: str, bind: Binder) -> str:
        return engine_text("metadata", key, bind)

    def restore(self, bind: Binder) -> str:
        return "SELECT seq, CAST(metadata AS VARCHAR) FROM logs"


class JsonType(JsonText):
    """DuckDB's JSON type: the same text, typed as JSON."""

    name = "JSON type"
    sql_type = "JSON"


@dataclass(frozen=True)
class Promoted:
    """A metadata key stored as a column of its own."""

    key: str
    sql_type: str
    share: float
    column: str


def infer_promoted(
    con: duckdb.DuckDBPyConnection, relation: str, min_share: float = MIN_SHARE
) -> list[Promoted]:
    """The keys of `relation`'s metadata held by >= `min_share` of its rows, each with the column type
    most of its values fit (a key whose values are mostly objects, arrays or nulls is not promoted)."""
    rows = con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]
    found = con.execute(
        f"SELECT e.key, e.type, count(*), "
        f"count(*) FILTER (strftime(TRY_CAST(e.value ->> '$' AS TIMESTAMP), '{TIMESTAMP_FORMAT}') "
        f"= e.value ->> '$') FROM {relation} r, json_each(r.metadata) e GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    by_key: dict[str, dict[str, tuple[int, int]]] = {}
    for key, json_type, count, timestamps in found:
        by_key.setdefault(key, {})[json_type] = (count, timestamps)
    promoted: list[Promoted] = []
    for key, types in by_key.items():
        holding = sum(count for count, _ in types.values())
        votes: dict[str, int] = {}
        for json_type, (count, _) in types.items():
            column = _COLUMN_OF_JSON.get(json_type)
            if column is not None:
                votes[column] = votes.get(column, 0) + count
        if holding < min_share * rows or not votes:
            continue
        sql_type = max(votes, key=lambda c: votes[c])
        strings, timestamps = types.get("VARCHAR", (0, 0))
        if sql_type == "VARCHAR" and timestamps >= TIMESTAMP_SHARE * strings:
            sql_type = "TIMESTAMP"
        promoted.append(Promoted(key, sql_type, holding / rows, f"f{len(promoted)}"))
    return promoted


class PromotedLayout(Layout):
    """Frequent keys as typed columns `f0, f1, ...`, the rest as JSON text in `rest`.

    `with_rest` readers also look a key up in the remainder (needed where a partition's remainder holds
    values of that key that did not fit its column); without it, only the column is read.
    """

    def __init__(self, promoted: Sequence[Promoted], with_rest: bool = False) -> None:
        self.promoted = list(promoted)
        self.by_key = {p.key: p for p in self.promoted}
        self.with_rest = with_rest
        self.name = "promoted, + remainder" if with_rest else "promoted columns"

    def columns(self) -> str:
        return ", ".join([*(f"{p.column} {p.sql_type}" for p in self.promoted), "rest VARCHAR"])

    def insert(
        self, con: duckdb.DuckDBPyConnection, relation: str, params: dict[str, object] | None = None
    ) -> None:
        paths = [metadata_path(p.key) for p in self.promoted]
        values = ", ".join(
            _VALUE_SQL[p.sql_type].format(t=f"t[{i + 1}]", v=f"v[{i + 1}]") + f" AS {p.column}"
            for i, p in enumerate(self.promoted)
        )
        fitting = " + ".join(f"({p.column} IS NOT NULL)::INTEGER" for p in self.promoted) or "0"
        # One layer per promoted key removes it from the remainder where its value went to the column;
        # rows whose every key went to a column (`whole`) skip the removals.
        layers = [
            f"l0 AS (SELECT *, coalesce(len(json_keys(metadata)) = {fitting}, true) AS whole, "
            "metadata AS rest FROM split)"
        ]
        for i, p in enumerate(self.promoted):
            layers.append(
                f"l{i + 1} AS (SELECT * REPLACE (CASE WHEN NOT whole AND {p.column} IS NOT NULL "
                f"THEN json_remove(rest, $paths[{i + 1}]) ELSE rest END AS rest) FROM l{i})"
            )
        columns = ", ".join(p.column for p in self.promoted)
        con.execute(
            f"INSERT INTO logs WITH typed AS (SELECT *, json_type(metadata, $paths) AS t, "
            f"json_extract_string(metadata, $paths) AS v FROM {relation}), "
            f"split AS (SELECT *, {values} FROM typed), {', '.join(layers)} "
            f"SELECT {FIXED_NAMES}, {columns}, CASE WHEN whole OR rest = '{{}}' THEN NULL ELSE rest END "
            f"FROM l{len(self.promoted)}",
            {**(params or {}), "paths": paths},
        )

    def number(self, key: str, bind: Binder) -> str:
        p = self.by_key.get(key)
        if p is None:
            return engine_number("rest", key, bind)
        column = {
            "BIGINT": f"CAST({p.column} AS DOUBLE)",
            "DOUBLE": p.column,
            "VARCHAR": number_sql(p.column),
        }.get(p.sql_type, "CAST(NULL AS DOUBLE)")
        return f"coalesce({column}, {engine_number('rest', key, bind)})" if self.with_rest else column

    def text(self, key: str, bind: Binder) -> str:
        p = self.by_key.get(key)
        if p is None:
            return engine_text("rest", key, bind)
        column = {
            "VARCHAR": p.column,
            "TIMESTAMP": f"strftime({p.column}, '{TIMESTAMP_FORMAT}')",
        }.get(p.sql_type, f"CAST({p.column} AS VARCHAR)")
        return f"coalesce({column}, {engine_text('rest', key, bind)})" if self.with_rest else column

    def restore(self, bind: Binder) -> str:
        pairs = ", ".join(
            f"{bind(p.key)}, "
            + (f"strftime({p.column}, '{TIMESTAMP_FORMAT}')" if p.sql_type == "TIMESTAMP" else p.column)
            for p in self.promoted
        )
        promoted = f"json_strip_nulls(json_object({pairs}))" if pairs else "'{}'"
        # the remainder is the target: its JSON nulls stay (a merge patch's nulls would delete keys)
        return f"SELECT seq, CAST(json_merge_patch(coalesce(rest, '{{}}'), {promoted}) AS VARCHAR) FROM logs"


class VariantLayout(Layout):
    """`metadata VARIANT`. `typed` readers cast a key to the type most of its values are stored as
    (found per table, as per-partition statistics would give it): the shredded column is read directly;
    otherwise they TRY_CAST to DOUBLE, which reassembles each value."""

    def __init__(self, typed: bool) -> None:
        self.typed = typed
        self.name = "VARIANT, stored type" if typed else "VARIANT, as DOUBLE"
        self.stored: dict[str, str] = {}

    def columns(self) -> str:
        return "metadata VARIANT"

    def convert(self) -> str:
        return "CAST(CAST(metadata AS JSON) AS VARIANT)"

    def prepare(self, con: duckdb.DuckDBPyConnection) -> None:
        keys = con.execute(
            "SELECT DISTINCT unnest(variant_keys(metadata)) FROM logs USING SAMPLE 10000 ROWS"
        ).fetchall()
        for (key,) in keys:
            kinds = con.execute(
                "SELECT variant_typeof(variant_extract(metadata, $k)) AS t, count(*) FROM logs "
                "WHERE t <> 'VARIANT_NULL' GROUP BY t ORDER BY count(*) DESC LIMIT 1",
                {"k": key},
            ).fetchall()
            if kinds and kinds[0][0] in _VARIANT_CASTS:
                self.stored[key] = _VARIANT_CASTS[kinds[0][0]]

    def number(self, key: str, bind: Binder) -> str:
        value = f"variant_extract(metadata, {bind(key)})"
        cast = self.stored.get(key) if self.typed else None
        if cast is None or cast == "VARCHAR":
            return f"TRY_CAST({value} AS DOUBLE)"
        return f"CAST(TRY_CAST({value} AS {cast}) AS DOUBLE)"

    def text(self, key: str, bind: Binder) -> str:
        return f"CAST(variant_extract(metadata, {bind(key)}) AS VARCHAR)"

    def restore(self, bind: Binder) -> str:
        return "SELECT seq, CAST(CAST(metadata AS JSON) AS VARCHAR) FROM logs"


class MapLayout(Layout):
    """`metadata MAP(VARCHAR, VARCHAR)`: each value's JSON text (a JSON null is a NULL value)."""

    name = "MAP(VARCHAR, VARCHAR)"

    def columns(self) -> str:
        return "metadata MAP(VARCHAR, VARCHAR)"

    def convert(self) -> str:
        return "CAST(json_transform(metadata, '\"MAP(VARCHAR, JSON)\"') AS MAP(VARCHAR, VARCHAR))"

    def number(self, key: str, bind: Binder) -> str:
        return f"TRY_CAST(metadata[{bind(key)}] AS DOUBLE)"

    def text(self, key: str, bind: Binder) -> str:
        return f"metadata[{bind(key)}]"  # the JSON text: a string in quotes, distinct values alike

    def _equals(self, bind: Binder) -> Callable[[str, str], str]:
        return lambda key, value: f"metadata[{bind(key)}] = {bind(orjson.dumps(value).decode())}"

    def restore(self, bind: Binder) -> str:
        return "SELECT seq, to_json(CAST(metadata AS MAP(VARCHAR, JSON))) FROM logs"


class SideTable(Layout):
    """The logs table without metadata, and `fields(seq, key, kind, num, str)`: one row per key, `kind`
    its JSON type, `num` a number's value, `str` a string's value or the JSON text of anything a DOUBLE
    cannot hold exactly (objects, arrays, booleans, nulls, integers beyond 2^53)."""

    name = "side table"
    tables = ("logs", "fields")

    def create(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"CREATE TABLE logs ({FIXED_DDL})")
        con.execute("CREATE TABLE fields (seq BIGINT, key VARCHAR, kind VARCHAR, num DOUBLE, str VARCHAR)")

    def insert(
        self, con: duckdb.DuckDBPyConnection, relation: str, params: dict[str, object] | None = None
    ) -> None:
        # a subquery is read twice (once a table): what a side table costs on that path
        con.execute(f"INSERT INTO logs SELECT {FIXED_NAMES} FROM {relation}", params or {})
        con.execute(
            "INSERT INTO fields SELECT r.seq, e.key, e.type, "
            "CASE WHEN e.type IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CAST(e.value AS DOUBLE) END, "
            "CASE WHEN e.type = 'VARCHAR' THEN e.value ->> '$' "
            "WHEN e.type = 'DOUBLE' OR (e.type IN ('BIGINT', 'UBIGINT') "
            "AND abs(CAST(e.value AS DOUBLE)) < 9007199254740992) THEN NULL "
            f"ELSE CAST(e.value AS VARCHAR) END FROM {relation} r, json_each(r.metadata) e",
            params or {},
        )

    def view(self, bind: Binder, keys: Sequence[str]) -> View:
        alias = {key: f"k{i}" for i, key in enumerate(keys)}
        joins = "".join(
            f" LEFT JOIN (SELECT seq, kind, num, str FROM fields WHERE key = {bind(key)}) {alias[key]} "
            "USING (seq)"
            for key in keys
        )

        def text(key: str) -> str:  # a number as its JSON text, as the engine reads one
            a = alias[key]
            return (
                f"coalesce({a}.str, CASE WHEN {a}.kind = 'DOUBLE' THEN CAST({a}.num AS VARCHAR) "
                f"ELSE CAST(CAST({a}.num AS BIGINT) AS VARCHAR) END)"
            )

        return View(
            "logs" + joins,
            lambda k: f"{alias[k]}.num",
            text,
            lambda k, value: f"{alias[k]}.str = {bind(value)}",
        )

    def restore(self, bind: Binder) -> str:
        value = (
            "CASE WHEN kind = 'VARCHAR' THEN to_json(str) WHEN str IS NOT NULL THEN CAST(str AS JSON) "
            "WHEN kind = 'DOUBLE' THEN to_json(num) ELSE to_json(CAST(num AS BIGINT)) END"
        )
        return (
            "SELECT l.seq, coalesce(CAST(f.obj AS VARCHAR), '{}') FROM logs l LEFT JOIN "
            f"(SELECT seq, json_group_object(key, {value}) AS obj FROM fields GROUP BY seq) f USING (seq)"
        )


def all_layouts(promoted: Sequence[Promoted]) -> list[Layout]:
    """Every layout measured, each with its readers; the two promoted and the two VARIANT readers share a
    table (`storage_of` names the one that holds it)."""
    return [
        JsonText(),
        JsonType(),
        PromotedLayout(promoted),
        PromotedLayout(promoted, with_rest=True),
        VariantLayout(typed=True),
        VariantLayout(typed=False),
        MapLayout(),
        SideTable(),
    ]


def storage_of(layout: Layout) -> str:
    """The name of the layout whose table holds this layout's data (readers sharing a table)."""
    if isinstance(layout, PromotedLayout):
        return "promoted columns"
    if isinstance(layout, VariantLayout):
        return "VARIANT, stored type"
    return layout.name


# -- the round trip ----------------------------------------------------------------------------------


def same_json(a: Any, b: Any) -> bool:
    """Whether two parsed JSON values are the same, types included (1, 1.0 and true differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@dataclass
class RoundTrip:
    """How many rows read back the same metadata object, and the first that did not."""

    rows: int = 0
    same: int = 0
    first_difference: str = ""

    def check(self, original: Iterable[str | None], restored: Iterable[str | None]) -> None:
        for before, after in zip(original, restored, strict=True):
            self.rows += 1
            if before == after or same_json(_parsed(before), _parsed(after)):
                self.same += 1
            elif not self.first_difference:
                self.first_difference = f"{before} -> {after}"

    @property
    def lossless(self) -> bool:
        return self.rows > 0 and self.same == self.rows


def _parsed(text: str | None) -> Any:
    value = orjson.loads(text) if text else {}
    return value if value is not None else {}


def round_trip(
    con: duckdb.DuckDBPyConnection, layout: Layout, original: pa.Table, result: RoundTrip | None = None
) -> RoundTrip:
    """Compare every row's restored metadata with `original` (columns seq, metadata)."""
    bind = Binder()
    restored = con.sql(f"{layout.restore(bind)} ORDER BY 1", params=bind.values).to_arrow_table()
    result = result if result is not None else RoundTrip()
    want = original.sort_by("seq")
    if restored.column(0).to_pylist() != want.column("seq").to_pylist():
        result.first_difference = "the restored rows are not the rows stored"
        result.rows = want.num_rows
        return result
    result.check(want.column("metadata").to_pylist(), restored.column(1).to_pylist())
    return result


@dataclass
class RaggedSpec:
    """What the ragged data set mixes into the bench's metadata (shares of rows)."""

    rows: int
    mess: dict[str, float] = field(
        default_factory=lambda: {
            "duration_ms as text": 0.02,
            "duration_ms as a fraction": 0.01,
            "duration_ms null": 0.005,
            "region as a number": 0.005,
            "retry (boolean)": 0.2,
            "ratio (double, some integral)": 0.3,
            "deadline (timestamp text, 1 in 10 spelled otherwise)": 0.1,
            "http (object with an array)": 0.02,
            "a key of its own": 0.003,
            "an integer beyond BIGINT": 0.002,
            "a key with / ~ and a quote": 0.02,
            "text with escapes and non-ASCII": 0.01,
        }
    )


def ragged_metadata(spec: RaggedSpec, seed: int = 42) -> list[str]:
    """The bench records' metadata with the mess of `spec` mixed in, as JSON text (deterministic)."""
    rng = random.Random(7)
    share = spec.mess
    out = []
    for i, rec in enumerate(iter_records(spec.rows, seed)):
        meta: dict[str, Any] = {"region": rec["region"]}
        if "duration_ms" in rec:
            meta["duration_ms"] = rec["duration_ms"]
            roll = rng.random()
            as_text = share["duration_ms as text"]
            as_fraction = as_text + share["duration_ms as a fraction"]
            if roll < as_text:
                meta["duration_ms"] = f"{rec['duration_ms']}ms"
            elif roll < as_fraction:
                meta["duration_ms"] = rec["duration_ms"] + 0.25
            elif roll < as_fraction + share["duration_ms null"]:
                meta["duration_ms"] = None
        if rng.random() < share["region as a number"]:
            meta["region"] = 7
        if rng.random() < share["retry (boolean)"]:
            meta["retry"] = rng.random() < 0.5
        if rng.random() < share["ratio (double, some integral)"]:
            meta["ratio"] = 1 if rng.random() < 0.05 else round(rng.random(), 6) + 0.000001
        if rng.random() < share["deadline (timestamp text, 1 in 10 spelled otherwise)"]:
            second = int(rng.random() * 86_400)
            stamp = f"2025-07-21T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
            meta["deadline"] = f"{stamp}.{i % 1000:03d}Z" if rng.random() < 0.9 else f"{stamp}+02:00"
        if rng.random() < share["http (object with an array)"]:
            meta["http"] = {"status": 503, "path": "/api/v1/x", "hops": [1, "b", None, 2.5]}
        if rng.random() < share["a key of its own"]:
            meta[f"rare_{i}"] = "only here"
        if rng.random() < share["an integer beyond BIGINT"]:
            meta["big"] = 2**63 + i
        if rng.random() < share["a key with / ~ and a quote"]:
            meta['odd/key~"q'] = "escape me"
        if rng.random() < share["text with escapes and non-ASCII"]:
            meta["note"] = 'naïve ☃ "quoted"\n\ttab \\ slash'
        out.append(orjson.dumps(meta).decode())
    return out
