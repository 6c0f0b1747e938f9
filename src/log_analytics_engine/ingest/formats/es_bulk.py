"""Elasticsearch `_bulk` bodies (NDJSON action/document pairs, as Filebeat, Logstash, Vector, Fluent
Bit, rsyslog's omelasticsearch and the Elasticsearch/OpenSearch clients send them) to stored columns,
with the outcome of every item, which the `_bulk` answer lists in order.

`index` and `create` store their document; `update`, `delete` and anything else are answered with an
item error (logs are append-only), as are an action line that is not one, a document line that is not
a JSON object and an action whose document is missing: every other item of the body is stored.

A document's columns: the time from `@timestamp` (else `timestamp`, else rsyslog's `timereported`,
else syslog-ng's `ISODATE`), the message from `message` (else Fluent Bit's `log`, else syslog-ng's
`MESSAGE`), the level from `log.level` (else `level`, else syslog-ng's `PRIORITY`), the source from
the first of the configured source fields (`service.name`, `host.name`), else syslog-ng's `HOST`, the
tags from `tags`; nested objects and dotted keys both read as dotted names, the keys the columns took
leave the fields, ECS's `trace.id` / `span.id` are kept as `trace_id` / `span_id`, and the action's
`_index` and `_id` become the fields `_index` and `_id`. A document without a text message keeps its
JSON line as the message (besides its fields), so that words anywhere in it are found.

Costs, 1,000-document bodies of ~230 bytes a document: the usual body (nothing but index or create
pairs) is split by list slicing, each distinct action line parsed once; flat documents are read by
Arrow's JSON reader in column operations (~4.5 µs a document, `arrowjson`'s own ~4.8, mostly without
the GIL: two requests decode at once); any other body document by document through `RowBuilder` (~5
µs holding the GIL: one request at a time, which held `_bulk` to 0.84× the native endpoint over two
connections). Both ways store the same rows.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from log_analytics_engine.errors import IngestError
from log_analytics_engine.ingest import arrowjson
from log_analytics_engine.ingest.formats import jsondoc
from log_analytics_engine.ingest.records import is_utf8
from log_analytics_engine.ingest.report import Decoded
from log_analytics_engine.ingest.rows import RowBuilder
from log_analytics_engine.model import INGEST_SCHEMA
from log_analytics_engine.timeparse import TimestampError

STORED_ACTIONS = frozenset({"index", "create"})
REFUSED_ACTIONS = frozenset({"update", "delete"})
KNOWN_ACTIONS = STORED_ACTIONS | REFUSED_ACTIONS
# rsyslog's omelasticsearch template writes `timereported`, Fluent Bit (and Docker) the line as `log`;
# syslog-ng's elasticsearch-http() writes its macros by name (`--scope rfc5424`: MESSAGE, PRIORITY,
# HOST, ISODATE), HOST read as the source after the configured source fields.
TIME_KEYS = ("@timestamp", "timestamp", "timereported", "ISODATE")
LEVEL_KEYS = ("log.level", "level", "PRIORITY")
MESSAGE_KEYS = ("message", "log", "MESSAGE")
FALLBACK_SOURCE_FIELDS = ("HOST",)
TAGS_KEY = "tags"
DEFAULT_SOURCE_FIELDS = ("service.name", "host.name")
# ECS's ids, kept under the names every protocol gives them.
RENAMED = (("trace.id", "trace_id"), ("span.id", "span_id"))
# Distinct action lines parsed once per body; past this many (each action naming its own `_id`)
# each is parsed where it stands.
MAX_CACHED_ACTIONS = 256
# The first lines of a body whose keys its documents are read against (then, failing that, those of
# arrowjson's sample).
HEAD_LINES = 64


@dataclass(frozen=True)
class ItemError:
    """Why an item was not stored, as Elasticsearch words it: the item's HTTP status, the error type
    (`illegal_argument_exception`, `document_parsing_exception`, …), the reason, and the reason code
    counted in the metrics."""

    status: int
    type: str
    reason: str
    code: str


@dataclass(frozen=True)
class Action:
    """An action line read: its name, the index (the action's `_index`, else the URL's), `_id`, and
    the item error when the line names no action this decoder stores (or none at all: "index")."""

    name: str
    index: str | None = None
    id: str | None = None
    error: ItemError | None = None


@dataclass
class Bulk:
    """A decoded `_bulk` body: the documents to store (`decoded`) and, for every item in order, its
    action's name, index and `_id`; `errors` holds the items that were not stored, by position."""

    decoded: Decoded
    actions: list[str] = field(default_factory=list)
    indexes: list[str | None] = field(default_factory=list)
    ids: list[str | None] = field(default_factory=list)
    errors: dict[int, ItemError] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.actions)


def source_fields(setting: str) -> tuple[str, ...]:
    """The source fields of `settings.es_source_fields` (a comma list), in order."""
    return tuple(name.strip() for name in setting.split(",") if name.strip())


def decode(
    body: bytes,
    index: str | None = None,
    sources: Sequence[str] = DEFAULT_SOURCE_FIELDS,
    now_ns: int | None = None,
) -> Bulk:
    """Every item of a `_bulk` body (`index`: the URL's `{index}`, the default of actions naming
    none; `sources`: the fields read as the source, first present first). An IngestError when the
    body holds no line at all."""
    sources = tuple(dict.fromkeys((*sources, *FALLBACK_SOURCE_FIELDS)))
    lines = body.split(b"\n")
    builder = RowBuilder(now_ns)
    bulk = Bulk(Decoded.empty(builder.report))
    paired = _pairs(lines, index)
    if paired is not None:  # the usual body: index or create actions, each with its document
        actions, documents = paired
        bulk.actions = [action.name for action in actions]
        bulk.indexes = [action.index for action in actions]
        bulk.ids = [action.id for action in actions]
        stored = list(range(len(actions)))
    else:
        stored, documents = _items(lines, index, bulk, builder)
    if not bulk.actions:
        raise IngestError("the _bulk body holds no action: it must be NDJSON action/document lines")
    indexes, ids = [bulk.indexes[p] for p in stored], [bulk.ids[p] for p in stored]
    table = _columns(documents, indexes, ids, sources, builder) if documents else None
    if table is not None:
        bulk.decoded = Decoded(table, builder.report)
        return bulk
    for position, doc_line in zip(stored, documents, strict=True):
        failure = _store(builder, position, doc_line, bulk.indexes[position], bulk.ids[position], sources)
        if failure is not None:
            bulk.errors[position] = failure
    bulk.decoded = builder.finish()
    return bulk


def _pairs(lines: list[bytes], index: str | None) -> tuple[list[Action], list[bytes]] | None:
    """The actions and documents of a body of nothing but pairs of an index or create action and
    its document (no blank line, each distinct action line parsed once), in C-speed list operations;
    None for any other body, which `_items` reads line by line."""
    if lines and not lines[-1]:
        lines = lines[:-1]
    if len(lines) % 2 or any(map(bytes.isspace, lines)) or not all(lines):
        return None
    heads = lines[0::2]
    distinct = dict.fromkeys(heads)
    if len(distinct) > MAX_CACHED_ACTIONS:
        return None
    parsed = {line: _action(line, index) for line in distinct}
    if any(action.error is not None or action.name not in STORED_ACTIONS for action in parsed.values()):
        return None
    return [parsed[line] for line in heads], lines[1::2]


def _items(
    lines: list[bytes], index: str | None, bulk: Bulk, builder: RowBuilder
) -> tuple[list[int], list[bytes]]:
    """Read the items of any body line by line into `bulk` (refusing those not stored); the
    positions of the index and create items and their document lines."""
    cache: dict[bytes, Action] = {}
    stored: list[int] = []
    documents: list[bytes] = []
    count = len(lines)
    at = 0
    while at < count:
        line = lines[at]
        at += 1
        if not line or line.isspace():
            continue
        action = cache.get(line)
        if action is None:
            action = _action(line, index)
            if len(cache) < MAX_CACHED_ACTIONS:
                cache[line] = action
        position = len(bulk.actions)
        name, doc_index, doc_id = action.name, action.index, action.id
        if action.error is not None:
            at = _skip_document(lines, at)
            _refuse(bulk, builder, position, name, doc_index, doc_id, action.error)
            continue
        if name == "delete":  # the one action without a document line
            _refuse(bulk, builder, position, name, doc_index, doc_id, _unsupported(name))
            continue
        while at < count and (not lines[at] or lines[at].isspace()):
            at += 1
        if at == count:
            _refuse(bulk, builder, position, name, doc_index, doc_id, _MISSING_DOCUMENT)
            continue
        doc_line = lines[at]
        at += 1
        if name not in STORED_ACTIONS:
            _refuse(bulk, builder, position, name, doc_index, doc_id, _unsupported(name))
            continue
        bulk.actions.append(name)
        bulk.indexes.append(doc_index)
        bulk.ids.append(doc_id)
        stored.append(position)
        documents.append(doc_line)
    return stored, documents


_MISSING_DOCUMENT = ItemError(
    400,
    "action_request_validation_exception",
    "the document line of this action is missing: the body ends after its action line (truncated?)",
    "missing_document",
)


def _unsupported(name: str) -> ItemError:
    return ItemError(
        400,
        "illegal_argument_exception",
        f"the {name} action is not supported: logs are append-only, so only index and create store "
        "a document",
        "unsupported_action",
    )


def _refuse(
    bulk: Bulk,
    builder: RowBuilder,
    position: int,
    name: str,
    index: str | None,
    doc_id: str | None,
    error: ItemError,
) -> None:
    bulk.actions.append(name)
    bulk.indexes.append(index)
    bulk.ids.append(doc_id)
    bulk.errors[position] = error
    builder.report.reject(position, error.reason, error.code)


def _action(line: bytes, default_index: str | None) -> Action:
    """The action a line names (with the item error when it is none this decoder stores)."""
    try:
        parsed = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return _bad_action(f"the action line is not JSON ({exc})")
    if type(parsed) is not dict or len(parsed) != 1:
        found = f"{len(parsed)} keys" if type(parsed) is dict else type(parsed).__name__
        return _bad_action(f"an action line is an object of one key (the action), found {found}")
    [(name, meta)] = parsed.items()
    if type(meta) is not dict:
        return _bad_action(f"the {name!r} action's metadata is an object, found {type(meta).__name__}")
    if name not in KNOWN_ACTIONS:
        reason = f"unknown action {name!r}: expected create, delete, index or update"
        return Action(name, error=ItemError(400, "illegal_argument_exception", reason, "unknown_action"))
    index = meta.get("_index", default_index)
    doc_id = meta.get("_id")
    if index is not None and type(index) is not str:
        return _bad_action(f"_index is text, found {type(index).__name__}")
    if doc_id is not None:
        if type(doc_id) is int:
            doc_id = str(doc_id)
        elif type(doc_id) is not str:
            return _bad_action(f"_id is text, found {type(doc_id).__name__}")
    return Action(name, index, doc_id)


def _bad_action(reason: str) -> Action:
    error = ItemError(400, "illegal_argument_exception", f"malformed action line: {reason}", "bad_action")
    return Action("index", error=error)


def _skip_document(lines: list[bytes], at: int) -> int:
    """Past the document of an action line that could not be read: the next non-blank line unless
    it reads as an action itself (a `delete`, which has no document, or a broken line's lost one)."""
    count = len(lines)
    while at < count and (not lines[at] or lines[at].isspace()):
        at += 1
    if at < count and not _is_action(lines[at]):
        at += 1
    return at


def _is_action(line: bytes) -> bool:
    try:
        parsed = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    if type(parsed) is not dict or len(parsed) != 1:
        return False
    [(name, meta)] = parsed.items()
    return name in KNOWN_ACTIONS and type(meta) is dict


def _store(
    builder: RowBuilder,
    position: int,
    line: bytes,
    index: str | None,
    doc_id: str | None,
    sources: Sequence[str],
) -> ItemError | None:
    """Add the document of `line` to `builder`; the item error when it is not stored."""
    try:
        doc, line = jsondoc.loads(line)
    except orjson.JSONDecodeError as exc:
        return _unparsed(builder, position, f"the document is not JSON ({exc})", "invalid_json")
    if type(doc) is not dict:
        reason = f"the document is not a JSON object (found {type(doc).__name__})"
        return _unparsed(builder, position, reason, "not_object")
    fields = jsondoc.dotted(doc, line)
    time_raw = jsondoc.take(fields, TIME_KEYS, jsondoc.TIME_TYPES)
    level = jsondoc.take(fields, LEVEL_KEYS, jsondoc.LEVEL_TYPES)
    source = jsondoc.take(fields, sources, jsondoc.TEXT)
    message = jsondoc.take(fields, MESSAGE_KEYS, jsondoc.TEXT)
    if message is None:
        message = line.decode("utf-8").strip()
    tags = fields.get(TAGS_KEY)
    if type(tags) is str:
        tags = [tags]
        del fields[TAGS_KEY]
    elif type(tags) is list and all(type(tag) is str for tag in tags):
        del fields[TAGS_KEY]
    else:
        tags = None
    for dotted, name in RENAMED:
        if dotted in fields and name not in fields:
            fields[name] = fields.pop(dotted)
    if index is not None:
        fields["_index"] = index
    if doc_id is not None:
        fields["_id"] = doc_id
    listed = len(builder.report.rejected)
    if builder.add(
        position, message, time_raw=time_raw, level=level, source=source, fields=fields, tags=tags
    ):
        return None
    rejections = builder.report.rejected
    if len(rejections) > listed:  # listed while fewer than report.MAX_LISTED are
        return ItemError(400, "document_parsing_exception", rejections[-1].reason, rejections[-1].code)
    return ItemError(400, "document_parsing_exception", "over a bound of one log", "over_bound")


def _unparsed(builder: RowBuilder, position: int, reason: str, code: str) -> ItemError:
    builder.report.reject(position, reason, code)
    return ItemError(400, "document_parsing_exception", reason, code)


def _columns(
    lines: list[bytes],
    indexes: list[str | None],
    ids: list[str | None],
    sources: Sequence[str],
    builder: RowBuilder,
) -> pa.Table | None:
    """The stored columns of every document, read by Arrow's JSON reader in column operations (the
    GIL released: two requests decode at once, where the per-document path serialises them, which
    held `_bulk` at 0.84x the native endpoint over 2 connections); or None when the documents need
    the per-document path, which reads the same documents into the same rows. Arrow takes only
    what `arrowjson` takes (flat objects, no JSON null, a bounded set of keys) whose time, message
    and source keys hold text, and no `_index`, `_id` or `trace_id` of their own."""
    body = b"\n".join(lines)
    if not is_utf8(body) or (b"null" in body and arrowjson._NULL_VALUE.search(body)):
        return None
    counted = arrowjson._objects(body)
    if counted is None or counted[0] != len(lines):
        return None
    objects, sample_end, nested = counted
    text = pa.schema([(key, pa.string()) for key in dict.fromkeys((*TIME_KEYS, *MESSAGE_KEYS, *sources))])
    try:
        # Most bodies hold the keys of their first lines: read against those, the cheap check of
        # the keys' number done on them only (on the whole sample it held the GIL ~0.8 µs a document).
        head = body[: sum(map(len, lines[:HEAD_LINES])) + HEAD_LINES]
        table = None
        if arrowjson._few_flat_keys(head, nested):
            try:
                table = _read(body, _with(text, _read(head, text, "infer").schema))
            except pa.ArrowInvalid:
                table = None  # a key or a type the first lines do not show: read as arrowjson does
        if table is None:
            sample = body if objects <= arrowjson.SAMPLE_LINES else body[:sample_end]
            if not arrowjson._few_flat_keys(sample, nested):
                return None
            if objects <= arrowjson.SAMPLE_LINES:
                table = _read(body, text, "infer")
            else:  # the rest against the sample's keys: a key of its own sends the body the other way
                table = _read(body, _with(text, _read(sample, text, "infer").schema))
        if table.num_rows != objects or table.num_columns > len(text) + arrowjson.MAX_EXTRA_KEYS:
            return None
        return _table(table, lines, indexes, ids, sources, builder)
    except (pa.ArrowException, arrowjson._NotPlainError, TimestampError, UnicodeDecodeError):
        return None


def _with(text: pa.Schema, inferred: pa.Schema) -> pa.Schema:
    """The text keys, then the keys Arrow inferred besides."""
    return pa.schema([*text, *(f for f in inferred if f.name not in text.names)])


def _read(body: bytes, schema: pa.Schema, unexpected: str = "error") -> pa.Table:
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior=unexpected)
    read = pj.ReadOptions(use_threads=False, block_size=len(body) + 1)
    return pj.read_json(io.BytesIO(body), read_options=read, parse_options=options)


def _table(
    table: pa.Table,
    lines: list[bytes],
    indexes: list[str | None],
    ids: list[str | None],
    sources: Sequence[str],
    builder: RowBuilder,
) -> pa.Table:
    """`_store`'s columns for a table of documents (its keys the columns, as the documents hold them)."""
    names = set(table.column_names)
    if names & {"_index", "_id", *(name for _, name in RENAMED)}:
        raise arrowjson._NotPlainError  # the per-document path says which wins
    n = table.num_rows
    used: dict[str, pa.Array | None] = {}  # per key, the rows where a column took it (None: all)

    def first(keys: Sequence[str], kinds: tuple[Callable[[pa.DataType], bool], ...]) -> pa.Array:
        """The first of `keys` holding a value of `kinds`, row by row, as text (null: none)."""
        values: pa.Array | None = None
        remaining: pa.Array | None = None  # the rows no key gave a value yet (None: all)
        for key in keys:
            if key not in names or key in used:
                continue
            column = table.column(key).combine_chunks()
            if column.null_count == n or not any(kind(column.type) for kind in kinds):
                continue
            text = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
            valid = pc.is_valid(column) if column.null_count else None
            if values is None:
                values, here = text, valid
            else:
                here = pc.and_(remaining, valid) if valid is not None else remaining
                values = pc.if_else(here, text, values)
            used[key] = here
            if valid is None:
                break  # every row left has its value
            remaining = pc.invert(here) if remaining is None else pc.and_not(remaining, here)
        return pa.nulls(n, pa.string()) if values is None else values

    raw_time = first(TIME_KEYS, (pa.types.is_string,))
    builder.report.no_timestamp += raw_time.null_count
    levels, severity = arrowjson._levels(first(LEVEL_KEYS, (pa.types.is_string, pa.types.is_integer)))
    source = pc.fill_null(first(sources, (pa.types.is_string,)), "")
    message = first(MESSAGE_KEYS, (pa.types.is_string,))
    if message.null_count:
        whole = pc.utf8_trim_whitespace(pa.array(lines, pa.binary()).cast(pa.string()))
        message = pc.if_else(pc.is_null(message), whole, message)
    tags = pa.repeat(pa.scalar([], pa.list_(pa.string())), n)
    if TAGS_KEY in names:
        column = table.column(TAGS_KEY).combine_chunks()
        if column.type != pa.list_(pa.string()) or pc.list_flatten(column).null_count:
            raise arrowjson._NotPlainError  # a tag that is not text, or tags as one text: per document
        if column.null_count:
            used[TAGS_KEY] = pc.is_valid(column)
            tags = pc.if_else(pc.is_valid(column), column, tags)
        else:
            used[TAGS_KEY], tags = None, column
    members = []
    for name in table.column_names:
        column = table.column(name)
        if name in used:
            here = used[name]
            if here is None:
                continue  # a column took it in every row
            column = pc.if_else(here, None, column)
        if column.null_count < n:  # a key no document has left (or had) is no member
            members.append(arrowjson._member(_RENAMES.get(name, name), column))
    members += [_constant_member(name, values) for name, values in (("_index", indexes), ("_id", ids))]
    # Each member is `,"key":value` or null: joined with nulls as "", the first comma dropped.
    joined = pc.binary_join_element_wise(*members, "", null_handling="replace", null_replacement="")
    wrapped = pc.binary_join_element_wise("{", pc.utf8_slice_codeunits(joined, 1), "}", "")
    now = builder.now_ns
    nothing = pa.nulls(n, pa.string())
    columns = [
        arrowjson._times(raw_time, now, []),
        pa.repeat(pa.scalar(now, pa.int64()), n),
        levels,
        severity,
        source,
        message,
        tags,
        nothing,
        nothing,
        nothing,
        pc.if_else(pc.equal(joined, ""), None, wrapped),
    ]
    return pa.Table.from_arrays(columns, schema=INGEST_SCHEMA)


_RENAMES = dict(RENAMED)


def _constant_member(name: str, values: list[str | None]) -> pa.Array:
    """`,"name":"value"` per row (null where the value is), as one text when all rows share it."""
    first = values[0]
    if values.count(first) == len(values):
        text = None if first is None else f",{orjson.dumps(name).decode()}:{orjson.dumps(first).decode()}"
        return pa.repeat(pa.scalar(text, pa.string()), len(values))
    return arrowjson._member(name, pa.chunked_array([pa.array(values, pa.string())]))
