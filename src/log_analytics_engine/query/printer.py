"""Print a query AST as canonical query text: `parse(to_text(q)) == q` for every query the parser makes.

Values are quoted only when they would not lex back as themselves, numbers print so they read back as
the same int or float, and parentheses appear only where precedence (NOT > AND > OR) needs them.
"""

from __future__ import annotations

import re
from collections.abc import Container

from log_analytics_engine.model import tokenize
from log_analytics_engine.query.ast import (
    And,
    Compare,
    Exists,
    FieldEq,
    FieldIn,
    Fields,
    Limit,
    MatchAll,
    Node,
    Not,
    Offset,
    Or,
    Phrase,
    Pipe,
    Prefix,
    Query,
    Regex,
    RelativeTime,
    Scalar,
    Sort,
    StatFunc,
    Stats,
    TimeBucket,
    TimeRange,
    Top,
    Uniq,
    Word,
)
from log_analytics_engine.query.grammar import (
    BUCKET_UNITS,
    DURATION_UNITS_NS,
    FIELD_NAME_RE,
    KEYWORDS,
    MESSAGE,
    METADATA_PREFIX,
    NUMBER_RE,
    TIME,
)
from log_analytics_engine.timeparse import format_timestamp

__all__ = ("field_text", "to_text")

# Precedence of the printed forms: a child binding looser than its context is parenthesised.
_OR, _AND, _UNARY = 1, 2, 3
# Values that lex back unchanged without quotes (after `field:`); anything else is quoted.
_BARE_VALUE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@/-]*")
_QUOTE_WORDS = KEYWORDS | {"in"}
# A message prefix that lexes back bare: word characters and `-`, not starting with `-` (a negation).
_BARE_PREFIX_RE = re.compile(r"(?!-)[\w-]+")
# A backslash the parser would read as an escape: before a backslash, a quote or the end of the string.
_ESCAPED_BACKSLASH_RE = re.compile(r"""\\(?=[\\"']|\Z)""")
_LARGEST_INT_TEXT = 1e16  # integral floats below this print without a fraction (`severity:>=40`)


def to_text(item: Node | Query) -> str:
    """Canonical query text for a filter node or a whole query.

    Raises:
        ValueError: the tree holds something query text cannot say (a relative time or bucket that is
            not a whole number of seconds, a time outside years 1-9999).
    """
    if not isinstance(item, Query):
        return _node_text(item, _OR)
    parts = [_node_text(item.filter, _OR)]
    parts.extend(_pipe_text(pipe) for pipe in item.pipes)
    return " | ".join(parts)


def field_text(field: str) -> str:
    """A field name as query text that reads back as the same field: bare when it is a bare name,
    else quoted (`"k8s/pod"`; a metadata key as `metadata."a:b"`, so it stays one)."""
    if field.startswith(METADATA_PREFIX):
        key = field[len(METADATA_PREFIX) :]
        return field if key and FIELD_NAME_RE.fullmatch(field) else METADATA_PREFIX + _quote(key)
    return field if FIELD_NAME_RE.fullmatch(field) else _quote(field)


# -- filters ------------------------------------------------------------------------------------------


def _node_text(node: Node, context: int) -> str:
    """The node's text, parenthesised when it binds looser than `context`."""
    if isinstance(node, And | Or):
        return _group_text(node, context)
    if isinstance(node, Not):
        return "-" + _node_text(node.item, _UNARY)
    return _term_text(node)


def _group_text(node: And | Or, context: int) -> str:
    if not node.items:  # not made by the parser: say the same thing another way
        return "*" if isinstance(node, And) else "-*"
    if len(node.items) == 1:
        return _node_text(node.items[0], context)
    own = _AND if isinstance(node, And) else _OR
    joiner = " " if own == _AND else " OR "
    text = joiner.join(_node_text(item, own) for item in node.items)
    return f"({text})" if own < context else text


def _term_text(node: Node) -> str:
    """A term: anything but And, Or and Not."""
    if isinstance(node, MatchAll):
        return "*"
    if isinstance(node, Word):
        return _word_text(node.token)
    if isinstance(node, Phrase):
        return _quote(" ".join(node.tokens))
    if isinstance(node, Prefix):
        return _prefix_text(node)
    if isinstance(node, Regex):
        pattern = "~" + _quote(node.pattern)
        return pattern if node.field == MESSAGE else f"{field_text(node.field)}:{pattern}"
    if isinstance(node, Exists):
        return f"{field_text(node.field)}:*"
    if isinstance(node, FieldEq):
        return f"{field_text(node.field)}:{_value_text(node.value)}"
    if isinstance(node, FieldIn):
        return f"{field_text(node.field)}:in({', '.join(_value_text(v) for v in node.values)})"
    if isinstance(node, Compare):
        return f"{field_text(node.field)}:{node.op}{_float_text(node.value)}"
    if isinstance(node, TimeRange):
        return _time_range_text(node)
    if isinstance(node, RelativeTime):
        return f"{TIME}:{_duration_text(node.ns, DURATION_UNITS_NS.keys())}"
    raise TypeError(f"not a filter node: {node!r}")


def _word_text(token: str) -> str:
    """A message word, bare unless it is a keyword or would not read back as this one token."""
    if token in _QUOTE_WORDS or tokenize(token) != [token]:
        return _quote(token)
    return token


def _prefix_text(node: Prefix) -> str:
    if node.field == MESSAGE:
        bare = _BARE_PREFIX_RE.fullmatch(node.prefix) is not None
        return (node.prefix if bare else _quote(node.prefix)) + "*"
    return f"{field_text(node.field)}:{_value_text(node.prefix)}*"


def _time_range_text(node: TimeRange) -> str:
    """`_time:[S, E)`, or `_time:>=S` / `_time:<E` for one-sided ranges."""
    start, end = node.start, node.end
    if end is None:
        if start is None:
            return "*"  # not made by the parser; every log has a time
        op = ">=" if node.include_start else ">"
        return f"{TIME}:{op}{format_timestamp(start)}"
    if start is None:
        op = "<=" if node.include_end else "<"
        return f"{TIME}:{op}{format_timestamp(end)}"
    opening = "[" if node.include_start else "("
    closing = "]" if node.include_end else ")"
    return f"{TIME}:{opening}{format_timestamp(start)}, {format_timestamp(end)}{closing}"


# -- values -------------------------------------------------------------------------------------------


def _quote(text: str) -> str:
    """Double-quoted text, escaping only what the parser would otherwise read differently."""
    escaped = _ESCAPED_BACKSLASH_RE.sub(r"\\\\", text).replace('"', '\\"')
    return f'"{escaped}"'


def _value_text(value: Scalar) -> str:
    """A field value: numbers as numbers, text bare when it reads back as the same text."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    bare = (
        _BARE_VALUE_RE.fullmatch(value) is not None
        and NUMBER_RE.fullmatch(value) is None
        and value.lower() not in _QUOTE_WORDS
    )
    return value if bare else _quote(value)


def _float_text(value: float) -> str:
    """A number that reads back as the same float: `40` for 40.0, else the shortest repr."""
    if value.is_integer() and 0 < abs(value) < _LARGEST_INT_TEXT:
        return str(int(value))
    return repr(value)


def _duration_text(ns: int, units: Container[str]) -> str:
    """`15m`: the count in the largest of `units` that divides ns."""
    for unit, unit_ns in DURATION_UNITS_NS.items():  # largest first
        if unit in units and ns > 0 and ns % unit_ns == 0:
            return f"{ns // unit_ns}{unit}"
    raise ValueError(f"{ns} ns is not a positive whole number of seconds, so query text cannot say it")


def step_text(ns: int) -> str:
    """A `| stats` bucket step as the language writes it (`5m`)."""
    return _duration_text(ns, BUCKET_UNITS)


# -- pipes --------------------------------------------------------------------------------------------


def _pipe_text(pipe: Pipe) -> str:
    if isinstance(pipe, Sort):
        keys = ", ".join(f"{field_text(f)} desc" if desc else field_text(f) for f, desc in pipe.keys)
        return f"sort by ({keys})"
    if isinstance(pipe, Limit):
        return f"limit {pipe.n}"
    if isinstance(pipe, Offset):
        return f"offset {pipe.n}"
    if isinstance(pipe, Fields):
        return "fields " + ", ".join(field_text(n) for n in pipe.names)
    if isinstance(pipe, Stats):
        return _stats_text(pipe)
    if isinstance(pipe, Top):
        return f"top {pipe.n} by ({', '.join(field_text(n) for n in pipe.by)})"
    if isinstance(pipe, Uniq):
        return f"uniq by ({', '.join(field_text(n) for n in pipe.by)})"
    raise TypeError(f"not a pipe: {pipe!r}")


def _stats_text(stats: Stats) -> str:
    funcs = ", ".join(_stat_func_text(f) for f in stats.funcs)
    if not stats.by:
        return f"stats {funcs}"
    keys = ", ".join(_stats_key_text(k) for k in stats.by)
    return f"stats by ({keys}) {funcs}"


def _stats_key_text(key: str | TimeBucket) -> str:
    if isinstance(key, str):
        return field_text(key)
    return f"{field_text(key.field)}:{step_text(key.step_ns)}"


def _stat_func_text(func: StatFunc) -> str:
    args = ", ".join(field_text(a) if isinstance(a, str) else _float_text(a) for a in func.args)
    text = f"{func.name}({args})"
    if func.alias is None:
        return text
    alias = func.alias if FIELD_NAME_RE.fullmatch(func.alias) else _quote(func.alias)
    return f"{text} as {alias}"


def func_label(func: StatFunc) -> str:
    """The column name of a stats function: its alias, or its text (`count()`, `quantile(0.99, x)`)."""
    if func.alias:
        return func.alias
    return f"{func.name}({', '.join(str(a) for a in func.args)})"
