"""Evaluate an AST against one `LogEntry` in Python: `matches_filter`, and the reference for tests
(`order_key` is the reference of `| sort`'s order)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from log_analytics_engine.errors import QueryError
from log_analytics_engine.model import tokenize
from log_analytics_engine.query import regex
from log_analytics_engine.query.ast import (
    And,
    Compare,
    Exists,
    FieldEq,
    FieldIn,
    MatchAll,
    Node,
    Or,
    Phrase,
    Prefix,
    Regex,
    RelativeTime,
    Scalar,
    TimeRange,
    Word,
)
from log_analytics_engine.query.grammar import NUMBER_RE

if TYPE_CHECKING:
    from log_analytics_engine.model import LogEntry


def field_value(entry: LogEntry, field: str) -> Any:
    """The value a field name refers to on an entry (None when absent)."""
    if field.startswith("metadata."):
        return entry.metadata.get(field[len("metadata.") :])
    if field == "severity":
        return entry.severity_score
    if field in ("_time", "timestamp"):
        return entry.timestamp_ns
    if field in _ENTRY_FIELDS:
        return getattr(entry, field)
    # a bare field that is not a column is a metadata key, as in SQL
    return entry.metadata.get(field)


_ENTRY_FIELDS = frozenset(
    {"level", "source", "message", "tags", "thread_id", "request_id", "user_id", "timestamp", "seq"}
)


def _equals(actual: Any, wanted: Scalar, field: str = "") -> bool:
    """Equality as the SQL compiler defines it: numbers numerically, everything else as text; a tag is
    text, so `tags:42` is the tag `42` (what the text index holds), not `042`."""
    if field != "tags" and isinstance(wanted, int | float) and not isinstance(wanted, bool):
        number = _number(actual)
        return number is not None and number == float(wanted)
    return actual is not None and _as_text(actual) == _as_text(wanted)


def _as_text(value: Any) -> str:
    """A value's text as SQL reads it: booleans `true`/`false`, lists and objects as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def _values(field: str, value: Any) -> list[Any]:
    """A field's values: each tag for `tags`, nothing for None, else the value itself (a list in
    metadata is one value, read as its JSON text)."""
    if value is None:
        return []
    if field == "tags":
        return [v for v in value if v is not None]
    return [value]


def _number(value: Any) -> float | None:
    """A JSON number, or text in the query language's number syntax, as a float; else None."""
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value)
    return float(text) if NUMBER_RE.fullmatch(text) else None


def order_key(value: Any) -> tuple[int, float | str] | None:
    """Where a metadata value sorts in `| sort`, as (type rank, value); None when absent (last in
    either direction). The rank orders numbers, then text, then booleans, lists and objects in
    either direction; the value (a number, text by code point, or the JSON text of the others)
    follows the direction asked."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value))
    if isinstance(value, str):
        return (1, value)
    return (2, _as_text(value))


def _compare(value: float, op: str, bound: float) -> bool:
    if op == "<":
        return value < bound
    if op == "<=":
        return value <= bound
    if op == ">":
        return value > bound
    return value >= bound


def _has_phrase(words: list[str], tokens: tuple[str, ...]) -> bool:
    n = len(tokens)
    return any(tuple(words[i : i + n]) == tokens for i in range(len(words) - n + 1))


def evaluate(node: Node, entry: LogEntry) -> bool:
    """True when the entry satisfies the node."""
    if isinstance(node, MatchAll):
        return True
    if isinstance(node, Word):
        return node.token in tokenize(entry.message)
    if isinstance(node, Phrase):
        return _has_phrase(tokenize(entry.message), node.tokens)
    if isinstance(node, Prefix):
        if node.field == "message":
            edge = r"(?:^|[^\pL\pN])" + regex.escape(node.prefix.lower())  # as the SQL's word edge
            return regex.compiled(edge, ignore_case=True).search(entry.message) is not None
        values = _values(node.field, field_value(entry, node.field))
        return any(_as_text(v).startswith(node.prefix) for v in values)
    if isinstance(node, Regex):
        compiled = regex.compiled(node.pattern)
        return any(compiled.search(_as_text(v)) for v in _values(node.field, field_value(entry, node.field)))
    if isinstance(node, Exists):
        return any(_as_text(v) != "" for v in _values(node.field, field_value(entry, node.field)))
    if isinstance(node, RelativeTime):
        raise QueryError("relative time must be resolved against the clock before evaluating")
    if isinstance(node, FieldEq):
        values = _values(node.field, field_value(entry, node.field))
        return any(_equals(v, node.value, node.field) for v in values)
    if isinstance(node, FieldIn):
        values = _values(node.field, field_value(entry, node.field))
        return any(_equals(v, wanted, node.field) for v in values for wanted in node.values)
    if isinstance(node, Compare):
        numbers = [_number(v) for v in _values(node.field, field_value(entry, node.field))]
        return any(n is not None and _compare(n, node.op, node.value) for n in numbers)
    if isinstance(node, TimeRange):
        ts = entry.timestamp_ns
        if ts is None:
            return False
        if node.start is not None and (ts < node.start or (ts == node.start and not node.include_start)):
            return False
        if node.end is not None:
            return ts <= node.end if node.include_end else ts < node.end
        return True
    if isinstance(node, And):
        return all(evaluate(i, entry) for i in node.items)
    if isinstance(node, Or):
        return any(evaluate(i, entry) for i in node.items)
    return not evaluate(node.item, entry)
