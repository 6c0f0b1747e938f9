"""Evaluate an AST against one `LogEntry` in Python: `matches_filter`, and the reference for tests."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from log_analytics_engine.errors import QueryError
from log_analytics_engine.model import tokenize
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


def _equals(actual: Any, wanted: Scalar) -> bool:
    """Equality as the SQL compiler defines it: numbers numerically, everything else as text."""
    if actual is None:
        return False
    if isinstance(actual, list):
        return any(_equals(a, wanted) for a in actual)
    if isinstance(wanted, int | float) and not isinstance(wanted, bool):
        number = _number(actual)
        return number is not None and number == float(wanted)
    return _as_text(actual) == _as_text(wanted)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _values(value: Any) -> list[Any]:
    """A field's values: the elements of a list, nothing for None, else the value itself."""
    if value is None:
        return []
    if isinstance(value, list):
        return [v for v in value if v is not None]
    return [value]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


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
            edge = r"(?:^|[\W_])" + re.escape(node.prefix.lower())
            return re.search(edge, entry.message, re.IGNORECASE) is not None
        return any(_as_text(v).startswith(node.prefix) for v in _values(field_value(entry, node.field)))
    if isinstance(node, Regex):
        compiled = re.compile(node.pattern)
        return any(compiled.search(_as_text(v)) for v in _values(field_value(entry, node.field)))
    if isinstance(node, Exists):
        return any(v != "" for v in _values(field_value(entry, node.field)))
    if isinstance(node, RelativeTime):
        raise QueryError("relative time must be resolved against the clock before evaluating")
    if isinstance(node, FieldEq):
        return _equals(field_value(entry, node.field), node.value)
    if isinstance(node, FieldIn):
        actual = field_value(entry, node.field)
        return any(_equals(actual, v) for v in node.values)
    if isinstance(node, Compare):
        number = _number(field_value(entry, node.field))
        return number is not None and _compare(number, node.op, node.value)
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
