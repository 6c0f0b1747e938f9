"""A whole NDJSON body to stored columns with Arrow's JSON reader: parsing, timestamps, levels and the
metadata JSON are column operations in C++ (no Python work per log, and the GIL released), ~4 µs a
log where the per-record path of `records.py` costs ~13 µs.

It takes only bodies it can store exactly as `records.parse_lines` would: every line one object with
string fields (a list of strings for tags), text timestamps, extra keys holding strings, integers,
booleans or non-integral numbers, and no JSON null (which `records` keeps in metadata but Arrow
cannot tell from an absent key). For any other body `to_batch` answers None and the caller takes
the per-record path, which handles (or rejects) each line on its own.
"""

from __future__ import annotations

import io
import re

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from log_analytics_engine.ingest.batch import Batch
from log_analytics_engine.ingest.jsonl import ALIASES, level_name
from log_analytics_engine.model import (
    DEFAULT_LEVEL,
    DEFAULT_SEVERITY,
    INGEST_SCHEMA,
    SEVERITY,
)
from log_analytics_engine.timeparse import TimestampError, parse_timestamp, storable

_SCHEMA = INGEST_SCHEMA
_TEXT_FIELDS = ("timestamp", "level", "message", "source", "thread_id", "request_id", "user_id")
_KNOWN = pa.schema([*((name, pa.string()) for name in _TEXT_FIELDS), ("tags", pa.list_(pa.string()))])
# What the reader is told: the level's type is inferred (pino and bunyan write numbers).
_READ = pa.schema([f for f in _KNOWN if f.name != "level"])
# A JSON null as a member value; a string that merely contains such text only costs the fast path.
_NULL_VALUE = re.compile(rb":\s*null\s*[,}]")
# RFC 3339 in UTC with valid field ranges, which Arrow's cast reads exactly like `parse_timestamp`.
_UTC_TIME = r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?Z$"
_CONTROL = r"[\x00-\x1f]"
MAX_BRACKETS = 64
SAMPLE_LINES = 1_000
MAX_EXTRA_KEYS = 64
_NS_UTC = pa.timestamp("ns", "UTC")
_NO_TAGS = pa.scalar([], pa.list_(pa.string()))


class _NotPlainError(Exception):
    """The body needs the per-record path."""


def to_batch(body: bytes, now_ns: int) -> Batch | None:
    """The stored columns of every log in `body`, or None when the body needs the per-record path."""
    if b"null" in body and _NULL_VALUE.search(body):
        return None
    counted = _objects(body)
    if counted is None:
        return None
    objects, sample_end, nested = counted
    sample = body if objects <= SAMPLE_LINES else body[:sample_end]
    if not _few_flat_keys(sample, nested):
        return None
    try:
        if objects <= SAMPLE_LINES:
            table = _read(body, _READ, "infer")
            if table.num_columns > len(_KNOWN) + MAX_EXTRA_KEYS:
                return None
        else:
            table = _read(body, _schema(sample))
        if table.num_rows != objects:
            return None  # two objects on one line: the per-record path rejects that line
        return _columns(table, now_ns)
    except (pa.ArrowException, _NotPlainError, TimestampError, UnicodeDecodeError):
        return None  # UnicodeDecodeError: a key that is not UTF-8 (Arrow checks only the values)


def _read(body: bytes, schema: pa.Schema, unexpected: str = "error") -> pa.Table:
    """The body as a table with every known column (a level none of its lines has is null text)."""
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior=unexpected)
    read = pj.ReadOptions(use_threads=False, block_size=len(body) + 1)
    table = pj.read_json(io.BytesIO(body), read_options=read, parse_options=options)
    if "level" not in table.column_names:
        table = table.append_column("level", pa.nulls(table.num_rows, pa.string()))
    return table


def _schema(sample: bytes) -> pa.Schema:
    """The known fields plus the extra keys (with the types Arrow infers) of `sample`, the first
    SAMPLE_LINES lines of a body of more lines. The whole body is then read against it, and a key no
    sampled line had is an error: Arrow gives every new key a column for all rows, so a large body of
    lines with keys of their own would cost rows x keys (5,000 such lines: 2.8 s, where the
    per-record path is linear). Smaller bodies are read in one pass, inferring every key."""
    inferred = _read(sample, _READ, "infer").schema
    extras = [f for f in inferred if f.name not in _READ.names]
    if len(extras) > MAX_EXTRA_KEYS:
        raise _NotPlainError
    return pa.schema([*_READ, *extras])


def _few_flat_keys(sample: bytes, nested: bool) -> bool:
    """Whether the lines of `sample` hold no more than MAX_EXTRA_KEYS keys between them besides the
    known fields (loosely: the known ones are counted too), and (when `nested` says some line may
    nest) no nested values but tags. Arrow's inference costs rows x keys, nested ones included (as
    struct fields): 1,000 lines of 200 keys of their own took 14 s and 2.6 GB before it saw there
    were too many, where this check costs ~1 µs a line and stops at the line that passes the bound.
    Nested values are not plain for `_member` anyway."""
    keys: set[str] = set()
    for line in sample.split(b"\n"):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            return False  # the per-record path says why
        keys.update(record)
        if len(keys) > len(_KNOWN) + MAX_EXTRA_KEYS:
            return False
        if nested:
            for key, value in record.items():
                kind = type(value)
                if kind is dict or (kind is list and key != "tags"):
                    return False
    return True


def _objects(body: bytes) -> tuple[int, int, bool] | None:
    """The number of non-blank lines, where the first SAMPLE_LINES lines end, and whether any of those
    may nest (more than one `{`, or than one `[`, which tags take); or None unless each line is
    braced like one object and holds at most MAX_BRACKETS brackets. Arrow's reader must only see
    such lines: pyarrow 26 crashes the process on a body that is just `null`, and on objects nested
    some 10,000 deep (plain records nest 2 deep; brackets inside strings only cost the fast path).
    Lines are read one at a time: a list of them all would double the body in memory."""
    count = 0
    sample_end = len(body)
    nested = False
    at = 0
    for number, raw in enumerate(io.BytesIO(body)):
        if number == SAMPLE_LINES:
            sample_end = at
        at += len(raw)
        line = raw.strip()
        if line:
            if line[:1] != b"{" or line[-1:] != b"}":
                return None
            braces, brackets = line.count(b"{"), line.count(b"[")
            if braces + brackets > MAX_BRACKETS:
                return None
            nested = nested or (number < SAMPLE_LINES and (braces > 1 or brackets > 1))
            count += 1
    return count, sample_end, nested


def _canonical(table: pa.Table, column: str) -> pa.Array:
    """A known column as text: a level number as its digits (other types are not plain)."""
    values = table.column(column).combine_chunks()
    if pa.types.is_integer(values.type):
        return pc.cast(values, pa.string())
    if not pa.types.is_string(values.type):
        raise _NotPlainError
    return values


def _alias_masks(table: pa.Table) -> dict[str, dict[str, pa.Array]]:
    """Per column, the aliases (jsonl.ALIASES, flat keys: a nested body is not plain) it takes, each
    with the rows where it is the first present: a column of a type that is no candidate is left to
    metadata (a message or source that is not text; a time or level that is neither text nor a
    number), and a time Arrow read as a timestamp or a level as a double is not plain."""
    names = set(table.column_names)
    masks: dict[str, dict[str, pa.Array]] = {}
    for column, aliases in ALIASES.items():
        remaining = pc.is_null(_canonical(table, column))
        masks[column] = {}
        for key in aliases:
            if key not in names or not pc.any(remaining).as_py():
                continue
            kind = table.column(key).type
            if pa.types.is_timestamp(kind) or (column == "level" and pa.types.is_floating(kind)):
                raise _NotPlainError
            numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind)
            if not (pa.types.is_string(kind) or (numeric and column in ("timestamp", "level"))):
                continue
            here = pc.and_(remaining, pc.is_valid(table.column(key)).combine_chunks())
            masks[column][key] = here
            remaining = pc.and_not(remaining, here)
    return masks


def _aliased(table: pa.Table, column: str, masks: dict[str, pa.Array]) -> pa.Array:
    """The column's text: its canonical key's, else its aliases' where `masks` take them (numbers as
    their digits, Docker's `log` without the newline that ended the line)."""
    values = _canonical(table, column)
    for key, here in masks.items():
        alias = table.column(key).combine_chunks()
        if not pa.types.is_string(alias.type):
            alias = pc.cast(alias, pa.string())
        elif key == "log":
            alias = pc.utf8_rtrim(alias, characters="\r\n")
        values = pc.if_else(here, alias, values)
    return values


def _columns(table: pa.Table, now_ns: int) -> Batch:
    if "metadata" in table.column_names:
        raise _NotPlainError  # merged with extra keys by merge-patch rules: the per-record path
    n = table.num_rows
    tags = table.column("tags")
    if pc.list_flatten(tags).null_count:
        raise _NotPlainError
    masks = _alias_masks(table)
    numeric_times = {
        k: m for k, m in masks["timestamp"].items() if not pa.types.is_string(table.column(k).type)
    }
    text_times = {k: m for k, m in masks["timestamp"].items() if k not in numeric_times}
    levels, severity = _levels(_aliased(table, "level", masks["level"]))
    used = {key: here for column in masks.values() for key, here in column.items()}
    columns = [
        _times(
            _aliased(table, "timestamp", text_times),
            now_ns,
            [(table.column(k), m) for k, m in numeric_times.items()],
        ),
        pa.repeat(pa.scalar(now_ns, pa.int64()), n),
        levels,
        severity,
        pc.fill_null(_aliased(table, "source", masks["source"]), ""),
        pc.fill_null(_aliased(table, "message", masks["message"]), ""),
        pc.if_else(pc.is_null(tags), _NO_TAGS, tags),
        table.column("thread_id"),
        table.column("request_id"),
        table.column("user_id"),
        _metadata(table, used),
    ]
    return Batch(pa.Table.from_arrays(columns, schema=_SCHEMA), 0)


def _times(raw: pa.Array, now_ns: int, numbers: list[tuple[pa.ChunkedArray, pa.Array]]) -> pa.Array:
    """Event times in ns: canonical UTC text by Arrow's cast, other text and the epoch `numbers` (each
    with the rows it gives) by `parse_timestamp`, the ingest time where a log has none. Unreadable
    or unstorable times raise (the per-record path keeps such logs with their raw text)."""
    canonical = pc.fill_null(pc.match_substring_regex(raw, _UTC_TIME), True)  # null: no time given
    times = pc.cast(pc.cast(pc.if_else(canonical, raw, None), _NS_UTC), pa.int64())
    others = pc.invert(canonical)
    parts = [(raw, others)] if pc.any(others).as_py() else []
    for column, here in [*parts, *numbers]:
        parsed = [parse_timestamp(value) for value in column.filter(here).to_pylist()]
        if not all(storable(t) for t in parsed):
            raise _NotPlainError
        times = pc.replace_with_mask(times, here, pa.array(parsed, pa.int64()))
    return pc.fill_null(times, now_ns)


def _levels(raw: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Normalised levels and their severities, computed once per distinct level."""
    encoded = raw.dictionary_encode()
    names = [level_name(value) for value in encoded.dictionary.to_pylist()]
    levels = pc.fill_null(pc.take(pa.array(names, pa.string()), encoded.indices), DEFAULT_LEVEL)
    scores = pa.array([SEVERITY.get(name, DEFAULT_SEVERITY) for name in names], pa.int16())
    severity = pc.fill_null(pc.take(scores, encoded.indices), SEVERITY.get(DEFAULT_LEVEL, DEFAULT_SEVERITY))
    return levels, severity


def _metadata(table: pa.Table, used: dict[str, pa.Array]) -> pa.Array:
    """Each log's extra keys as a JSON object (a key the log lacks is null in its column and left
    out, as is an alias where it gave a column: `used`); null for a log with none."""
    known = set(_KNOWN.names)
    members = []
    for name in table.column_names:
        if name not in known:
            column = table.column(name)
            members.append(
                _member(name, column if name not in used else pc.if_else(used[name], None, column))
            )
    if not members:
        return pa.nulls(table.num_rows, pa.string())
    # Each member is `,"key":value` or null; joined with nulls as "" (Arrow's `skip` mode drops rows
    # whose members are all null), then the first comma dropped.
    joined = pc.binary_join_element_wise(*members, "", null_handling="replace", null_replacement="")
    wrapped = pc.binary_join_element_wise("{", pc.utf8_slice_codeunits(joined, 1), "}", "")
    return pc.if_else(pc.equal(joined, ""), None, wrapped)


def _member(name: str, column: pa.ChunkedArray) -> pa.Array:
    """`,"name":value` where the log has the key, else null."""
    kind = column.type
    if pa.types.is_string(kind):
        if pc.any(pc.match_substring_regex(column, _CONTROL)).as_py():
            raise _NotPlainError  # control characters need \\u escapes: the per-record path
        escaped = pc.replace_substring(pc.replace_substring(column, "\\", "\\\\"), '"', '\\"')
        value = pc.binary_join_element_wise('"', escaped, '"', "")
    elif pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        value = pc.cast(column, pa.string())
    elif pa.types.is_floating(kind):
        # Arrow reads `2` in a column of numbers as 2.0, which would store `2.0` where the record had
        # `2`; only columns without integral values are certain to be floats in every record.
        if pc.any(pc.equal(column, pc.floor(column))).as_py():
            raise _NotPlainError
        value = pc.cast(column, pa.string())  # shortest text that reads back as the same double
    else:
        raise _NotPlainError  # objects, lists, Arrow's own timestamp inference, all-null columns
    return pc.binary_join_element_wise("," + orjson.dumps(name).decode() + ":", value, "")
