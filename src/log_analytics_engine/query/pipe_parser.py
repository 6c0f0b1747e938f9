"""Parse the `| pipe`s after a query's filter (sort, limit, offset, fields, stats, top, uniq) into pipe
nodes: functions that read tokens from the recursive-descent `Parser` of `query.parser`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from log_analytics_engine.query.ast import (
    Fields,
    Limit,
    Offset,
    Pipe,
    Sort,
    StatFunc,
    Stats,
    TimeBucket,
    Top,
    Uniq,
)
from log_analytics_engine.query.grammar import (
    BUCKET_UNITS,
    DEFAULT_TOP,
    FIELD_ALIASES,
    FIELD_NAME_RE,
    NUMBER_RE,
    PIPE_NAMES,
    STATS_FUNCTIONS,
    TIME,
)
from log_analytics_engine.query.lexer import WORDLIKE, bare_field, duration_ns, syntax_error

if TYPE_CHECKING:
    from log_analytics_engine.query.parser import Parser

__all__ = ("pipes",)

_T = TypeVar("_T")

_COUNT_RE = re.compile(r"[0-9]{1,18}")
_PIPE_EXPECTED = f"a pipe ({', '.join(PIPE_NAMES)})"
_STATS_EXPECTED = f"a stats function ({', '.join(sorted(STATS_FUNCTIONS))})"


def pipes(parser: Parser) -> tuple[Pipe, ...]:
    """Every `| pipe` up to the end of the text."""
    found: list[Pipe] = []
    while parser.peek().kind == "|":
        parser.take()
        found.append(_pipe(parser))
    parser.expect("end", "'|' or end of query")
    return tuple(found)


def _pipe(parser: Parser) -> Pipe:
    token = parser.take()
    name = token.text.lower() if token.kind in WORDLIKE else ""
    if name == "sort":
        parser.expect_keyword("by")
        return Sort(tuple(_by_list(parser, _sort_key)))
    if name in ("limit", "offset"):
        n = _count(parser, "a non-negative integer")
        return Limit(n) if name == "limit" else Offset(n)
    if name == "fields":
        return Fields(tuple(_comma_list(parser, _field_name)))
    if name == "stats":
        return _stats(parser)
    if name == "top":
        return _top(parser)
    if name == "uniq":
        parser.expect_keyword("by")
        return Uniq(tuple(_by_list(parser, _field_name)))
    raise syntax_error(_PIPE_EXPECTED, token)


# -- lists, names and counts --------------------------------------------------------------------------


def _comma_list(parser: Parser, item: Callable[[Parser], _T]) -> list[_T]:
    """`a, b, c`: one item or more."""
    items = [item(parser)]
    while parser.peek().kind == ",":
        parser.take()
        items.append(item(parser))
    return items


def _by_list(parser: Parser, item: Callable[[Parser], _T]) -> list[_T]:
    """`(a, b)` after `by`, or one item without parentheses."""
    if parser.peek().kind != "(":
        return [item(parser)]
    parser.take()
    items = _comma_list(parser, item)
    parser.expect(")", "',' or ')'")
    return items


def _alias(parser: Parser) -> str:
    """A column name after `as`: a bare name, or any text quoted."""
    token = parser.take()
    if token.kind == "string":
        return token.value
    if token.kind not in WORDLIKE or not FIELD_NAME_RE.fullmatch(token.text):
        raise syntax_error("a column name", token)
    return token.text


def _field_name(parser: Parser) -> str:
    """A field name in a pipe, read as in filters: bare, quoted (`"a b"`) or `metadata."a:b"`."""
    token = parser.take()
    if token.kind == "string":
        return FIELD_ALIASES.get(token.value, token.value)
    if token.kind not in WORDLIKE:
        raise syntax_error("a field name", token)
    return parser.quoted_key(token) or bare_field(token)


def _count(parser: Parser, expected: str) -> int:
    token = parser.take()
    if token.kind != "word" or not _COUNT_RE.fullmatch(token.text):
        raise syntax_error(expected, token)
    return int(token.text)


# -- sort, top, stats ---------------------------------------------------------------------------------


def _sort_key(parser: Parser) -> tuple[str, bool]:
    """`field [asc|desc]` as (field, descending)."""
    field = _field_name(parser)
    if parser.keyword("desc"):
        return (field, True)
    parser.keyword("asc")
    return (field, False)


def _top(parser: Parser) -> Top:
    """`top [N] by (fields)`."""
    token = parser.peek()
    n = DEFAULT_TOP
    if not (token.kind in WORDLIKE and token.text.lower() == "by"):
        n = _count(parser, "a count or 'by'")
    parser.expect_keyword("by")
    return Top(n, tuple(_by_list(parser, _field_name)))


def _stats(parser: Parser) -> Stats:
    """`stats [by (keys)] func [as name], …`."""
    by: tuple[str | TimeBucket, ...] = ()
    if parser.keyword("by"):
        by = tuple(_by_list(parser, _stats_key))
    return Stats(by, tuple(_comma_list(parser, _stats_func)))


def _stats_key(parser: Parser) -> str | TimeBucket:
    """A `by` key: a field, or `_time:STEP` for time buckets."""
    name = parser.peek()
    field = _field_name(parser)
    if parser.peek().kind != ":":
        return field
    if field != TIME:
        raise syntax_error(f"'{TIME}' before a bucket step", name)
    parser.take()
    step = parser.take()
    if step.kind != "word":
        raise syntax_error("a bucket step like 1m", step)
    return TimeBucket(duration_ns(step, BUCKET_UNITS, "a bucket step like 1m"))


def _stats_func(parser: Parser) -> StatFunc:
    """`count()`, `sum(f)`, `quantile(0.99, f)` …, optionally `as name`."""
    token = parser.take()
    name = token.text.lower() if token.kind in WORDLIKE else ""
    arity = STATS_FUNCTIONS.get(name)
    if arity is None:
        raise syntax_error(_STATS_EXPECTED, token)
    parser.expect("(", "'('")
    args: list[str | float] = []
    if name == "quantile":
        args.append(_quantile_level(parser))
        parser.expect(",", "','")
    args.extend(_field_name(parser) for _ in range(arity))
    parser.expect(")", "')'")
    alias = _alias(parser) if parser.keyword("as") else None
    return StatFunc(name, tuple(args), alias)


def _quantile_level(parser: Parser) -> float:
    token = parser.take()
    if token.kind == "word" and NUMBER_RE.fullmatch(token.text):
        level = float(token.text)
        if 0.0 <= level <= 1.0:
            return level
    raise syntax_error("a quantile level between 0 and 1", token)
