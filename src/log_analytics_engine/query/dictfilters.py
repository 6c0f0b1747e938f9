"""The original dict filters (`query_logs`, `matches_filter`, alert `conditions`) compiled to the AST."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from log_analytics_engine.errors import QueryError
from log_analytics_engine.model import normalize_level, tokenize
from log_analytics_engine.query.ast import (
    Compare,
    FieldEq,
    FieldIn,
    Node,
    Or,
    Phrase,
    Scalar,
    TimeRange,
    Word,
    conjoin,
)
from log_analytics_engine.timeparse import TimestampError, parse_timestamp


def _words(text: object, key: str) -> Node:
    tokens = tuple(tokenize(str(text)))
    if not tokens:
        raise QueryError(f"filter {key!r}: {text!r} holds no word to search for")
    return Word(tokens[0]) if len(tokens) == 1 else Phrase(tokens)


def _listed(value: object) -> list[Any]:
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    return [value]


def _listed_some(value: object, key: str) -> list[Any]:
    values = _listed(value)
    if not values:
        raise QueryError(f"filter {key!r}: an empty list matches nothing; leave the key out instead")
    return values


def _one_of(field: str, values: list[Scalar]) -> Node:
    if not values:
        raise QueryError(f"filter {field!r}: an empty list matches nothing; leave the key out instead")
    return FieldEq(field, values[0]) if len(values) == 1 else FieldIn(field, tuple(values))


def _time(value: object, key: str) -> int:
    try:
        return parse_timestamp(value)  # type: ignore[arg-type]
    except TimestampError as exc:
        raise QueryError(f"filter {key!r}: {exc}") from exc


def _level(value: object) -> Node:
    return _one_of("level", [normalize_level(v) for v in _listed(value)])


def _source(value: object) -> Node:
    return _one_of("source", [str(v) for v in _listed(value)])


def _keyword(value: object) -> Node:
    return _words(value, "keyword")


def _keywords(value: object) -> Node:
    # any of them, as the original's rules matched (`keywords_all` asks for every one)
    words = [_words(v, "keywords") for v in _listed_some(value, "keywords")]
    return words[0] if len(words) == 1 else Or(tuple(words))


def _keywords_all(value: object) -> Node:
    return conjoin([_words(v, "keywords_all") for v in _listed_some(value, "keywords_all")])


def _tags(value: object) -> Node:
    return _one_of("tags", [str(v) for v in _listed(value)])


def _tags_all(value: object) -> Node:
    return conjoin([FieldEq("tags", str(v)) for v in _listed_some(value, "tags_all")])


def _severity(op: str) -> Callable[[object], Node]:
    def build(value: object) -> Node:
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise QueryError(f"severity bound must be a number, got {value!r}") from exc
        return Compare("severity", op, number)  # type: ignore[arg-type]

    return build


def _exact(field: str) -> Callable[[object], Node]:
    def build(value: object) -> Node:
        return _one_of(field, [v if isinstance(v, int | float) else str(v) for v in _listed(value)])

    return build


_BUILDERS: Mapping[str, Callable[[object], Node]] = {
    "level": _level,
    "source": _source,
    "keyword": _keyword,
    "keywords": _keywords,
    "keywords_all": _keywords_all,
    "tags": _tags,
    "tags_all": _tags_all,
    "min_severity": _severity(">="),
    "max_severity": _severity("<="),
    "request_id": _exact("request_id"),
    "user_id": _exact("user_id"),
    "thread_id": _exact("thread_id"),
}
FILTER_KEYS = ("start_time", "end_time", *_BUILDERS, "metadata", "metadata.<key>")


def compile_filters(filters: Mapping[str, Any] | None) -> Node:
    """Turn a filter dict into an AST; None values are ignored, unknown keys are a QueryError."""
    if not filters:
        return conjoin([])
    nodes: list[Node] = []
    start = end = None
    for key, value in filters.items():
        if value is None:
            continue
        if key == "start_time":
            start = _time(value, key)
        elif key == "end_time":
            end = _time(value, key)
        elif key in _BUILDERS:
            nodes.append(_BUILDERS[key](value))
        elif key == "metadata" and isinstance(value, Mapping):
            nodes.extend(_exact(f"metadata.{k}")(v) for k, v in value.items() if v is not None)
        elif key.startswith("metadata.") and len(key) > len("metadata."):
            nodes.append(_exact(key)(value))
        else:
            raise QueryError(f"unknown filter key {key!r}; known keys: {', '.join(FILTER_KEYS)}")
    if start is not None or end is not None:
        nodes.insert(0, TimeRange(start, end))
    return conjoin(nodes)
