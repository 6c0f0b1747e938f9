"""Parse query text (LogsQL-like, Lucene-familiar) into the query AST: a filter and the pipes after it.

A recursive-descent parser over a small lexer that reads one token at a time from a position, so the
value, time and timestamp forms that only make sense after `field:` get their own lexing. Every error is
a `QuerySyntaxError` naming the offset, what was found there and what was expected.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Container
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, TypeVar

from log_analytics_engine.errors import QuerySyntaxError
from log_analytics_engine.model import normalize_level, tokenize
from log_analytics_engine.query.ast import (
    And,
    Compare,
    CompareOp,
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
from log_analytics_engine.timeparse import TimestampError, parse_timestamp

__all__ = ("parse", "parse_filter")

_T = TypeVar("_T")

# -- the grammar's vocabulary (the printer reads these too, so both sides agree) --------------------

MESSAGE: Final = "message"
TIME: Final = "_time"
LEVEL: Final = "level"
KEYWORDS: Final = frozenset({"and", "or", "not"})
FIELD_ALIASES: Final = MappingProxyType({"timestamp": TIME, "msg": MESSAGE, "_msg": MESSAGE})
FIELD_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
INT_RE: Final = re.compile(r"[+-]?[0-9]+")
NUMBER_RE: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NS_PER_S = 1_000_000_000
# Units of `_time:15m`, and the subset `| stats by (_time:1m)` buckets accept (weeks would align oddly).
DURATION_UNITS_NS: Final = MappingProxyType(
    {
        "w": 604_800 * _NS_PER_S,
        "d": 86_400 * _NS_PER_S,
        "h": 3_600 * _NS_PER_S,
        "m": 60 * _NS_PER_S,
        "s": _NS_PER_S,
    }
)
BUCKET_UNITS: Final = "dhms"
PIPE_NAMES: Final = ("fields", "limit", "offset", "sort", "stats", "top", "uniq")
# Stats functions and how many field arguments follow (`quantile` takes its level first).
STATS_FUNCTIONS: Final = MappingProxyType(
    {"avg": 1, "count": 0, "count_uniq": 1, "max": 1, "min": 1, "quantile": 1, "sum": 1}
)
DEFAULT_TOP: Final = 10

_MAX_DEPTH = 100  # nested groups and negations; deeper text would exhaust Python's stack
_MAX_FOUND_CHARS = 40
_END = "end of query"
_COMPARE_OPS: Final = frozenset({"<", "<=", ">", ">="})
_WORDLIKE: Final = frozenset({"word", "and", "or", "not"})
_TERM_START: Final = frozenset({"word", "string", "(", "*", "~", "neg", "not"})

# Term mode: punctuation, `-`/`!` directly before a term, or a word (no `:`, so `field:` splits off).
_TERM_RE = re.compile(
    r"""(?P<punct>>=|<=|[()|,:*~<>])|(?P<neg>[-!](?=[^\s)|,]))|(?P<word>[^\s()|,:*~<>"'][^\s()|,:*]*)"""
)
# Value mode (after `field:`): a value may hold `:`, `-` and `!` anywhere.
_VALUE_RE = re.compile(r"""(?P<punct>>=|<=|[()|,*~<>])|(?P<word>[^\s()|,*~<>"'][^\s()|,*]*)""")
_STRING_RES = MappingProxyType(
    {'"': re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL), "'": re.compile(r"'((?:[^'\\]|\\.)*)'", re.DOTALL)}
)
_ESCAPE_RE = re.compile(r"""\\([\\"'])""")
_SPACE_RE = re.compile(r"\s*")
_TIMESTAMP_RE = re.compile(r"[0-9A-Za-z:.+-]+")
_DURATION_RE = re.compile(r"([0-9]{1,12})([a-z])")
_COUNT_RE = re.compile(r"[0-9]{1,18}")
# Python-regex constructs RE2 (the engine's regex library) lacks, besides backreferences.
_LOOK_AROUND = ("(?=", "(?!", "(?<=", "(?<!")
_DIGITS_1_TO_9 = frozenset("123456789")

_PIPE_EXPECTED = f"a pipe ({', '.join(PIPE_NAMES)})"
_STATS_EXPECTED = f"a stats function ({', '.join(sorted(STATS_FUNCTIONS))})"
_TIME_EXPECTED = "a relative time like 15m, a range like [T1, T2) or a comparison like >T"
_TIMESTAMP_EXPECTED = "an RFC 3339 timestamp"


def parse(text: str) -> Query:
    """Parse query text (a filter, then `| pipe`s) into a Query.

    Raises:
        QuerySyntaxError: the text does not follow the grammar.
    """
    parser = _Parser(text)
    node = parser.filter()
    return Query(node, parser.pipes())


def parse_filter(text: str) -> Node:
    """Parse filter text (no pipes) into a filter node; empty text or `*` is MatchAll.

    Raises:
        QuerySyntaxError: the text does not follow the grammar, or holds a pipe.
    """
    parser = _Parser(text)
    node = parser.filter()
    parser.expect("end", "end of filter")
    return node


# -- lexer --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    """One token: its kind (the punctuation itself, `word`, `string`, `neg`, a keyword or `end`), its
    source text, where it starts and ends, and for a string its unescaped value."""

    kind: str
    text: str
    pos: int
    end: int
    value: str = ""


def _error(expected: str, token: _Token) -> QuerySyntaxError:
    """The syntax error for finding `token` where `expected` should be."""
    if token.kind == "end":
        return QuerySyntaxError(expected, token.pos, _END)
    found = token.text
    if len(found) > _MAX_FOUND_CHARS:
        found = found[: _MAX_FOUND_CHARS - 3] + "..."
    return QuerySyntaxError(expected, token.pos, found)


def _skip_space(text: str, pos: int) -> int:
    match = _SPACE_RE.match(text, pos)
    return pos if match is None else match.end()


def _lex_string(text: str, pos: int) -> _Token:
    """A quoted string at pos; `\\"`, `\\'` and `\\\\` are escapes, any other backslash is kept."""
    quote = text[pos]
    match = _STRING_RES[quote].match(text, pos)
    if match is None:
        raise _error(f"closing {quote!r}", _Token("string", text[pos:], pos, len(text)))
    return _Token("string", match[0], pos, match.end(), _ESCAPE_RE.sub(r"\1", match[1]))


def _lex(pattern: re.Pattern[str], text: str, pos: int) -> _Token:
    """The next token at or after pos: punctuation, a negation (`neg`) or a `word`, as the pattern's
    group names say."""
    pos = _skip_space(text, pos)
    if pos >= len(text):
        return _Token("end", "", pos, pos)
    if text[pos] in "\"'":
        return _lex_string(text, pos)
    match = pattern.match(text, pos)
    if match is None:  # unreachable: every other character starts a punctuation token or a word
        return _Token(text[pos], text[pos], pos, pos + 1)
    if match.lastgroup == "punct":
        return _Token(match[0], match[0], pos, match.end())
    return _Token(match.lastgroup or "word", match[0], pos, match.end())


def _lex_term(text: str, pos: int) -> _Token:
    """The next token in term mode; `and`/`or`/`not` are keywords unless a `:` or `*` follows."""
    token = _lex(_TERM_RE, text, pos)
    if token.kind == "word":
        lower = token.text.lower()
        if lower in KEYWORDS and not text.startswith((":", "*"), token.end):
            return _Token(lower, token.text, token.pos, token.end)
    return token


# -- values -------------------------------------------------------------------------------------------


def _number_or_text(text: str) -> Scalar:
    """An unquoted value: an int or a finite float when it reads as one, else the text."""
    if INT_RE.fullmatch(text):
        try:
            return int(text)
        except ValueError:  # more digits than Python converts
            return text
    if NUMBER_RE.fullmatch(text):
        number = float(text)
        return number if math.isfinite(number) else text
    return text


def _text_node(token: _Token, text: str) -> Node:
    """Message words: one token is a Word, several a Phrase, none an error."""
    tokens = tokenize(text)
    if not tokens:
        raise _error("a word with letters or digits", token)
    return Word(tokens[0]) if len(tokens) == 1 else Phrase(tuple(tokens))


def _re2_problem(pattern: str) -> str | None:
    """What RE2 lacks that the (Python-valid) pattern uses, or None."""
    i, n, in_class = 0, len(pattern), False
    while i < n:
        char = pattern[i]
        if char == "\\":
            if pattern[i + 1 : i + 2] in _DIGITS_1_TO_9:
                return "backreferences"
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            i += 1
            i += pattern.startswith("^", i)
            i += pattern.startswith("]", i)  # a `]` first in a class is literal
            continue
        elif char == "(" and pattern.startswith(_LOOK_AROUND, i):
            return "look-around"
        elif char == "(" and pattern.startswith("(?P=", i):
            return "backreferences"
        i += 1
    return None


def _checked_regex(token: _Token, pattern: str) -> str:
    """The pattern, once Python compiles it and it uses nothing RE2 lacks."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise _error(f"a valid regular expression ({exc.msg})", token) from None
    problem = _re2_problem(pattern)
    if problem is not None:
        raise _error(f"a regular expression without {problem} (RE2)", token)
    return pattern


# -- parser -------------------------------------------------------------------------------------------


class _Parser:
    """One parse of one text: the position after the last token taken and a one-token lookahead."""

    __slots__ = ("_depth", "_peeked", "pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self._peeked: _Token | None = None
        self._depth = 0

    # -- tokens

    def peek(self) -> _Token:
        """The next term-mode token, not taken."""
        if self._peeked is None:
            self._peeked = _lex_term(self.text, self.pos)
        return self._peeked

    def take(self) -> _Token:
        """The next term-mode token, taken."""
        token = self.peek()
        self.pos = token.end
        self._peeked = None
        return token

    def take_value(self) -> _Token:
        """The next value-mode token (after `field:`), taken."""
        token = _lex(_VALUE_RE, self.text, self.pos)
        self.pos = token.end
        self._peeked = None
        return token

    def follows(self, char: str) -> bool:
        """Take `char` when it comes right after the last token, with no space between."""
        if self.text.startswith(char, self.pos):
            self.pos += len(char)
            self._peeked = None
            return True
        return False

    def expect(self, kind: str, expected: str) -> _Token:
        """Take the next token, which must be of `kind`."""
        token = self.take()
        if token.kind != kind:
            raise _error(expected, token)
        return token

    def keyword(self, word: str) -> bool:
        """Take the next token when it is `word` (any case)."""
        token = self.peek()
        if token.kind in _WORDLIKE and token.text.lower() == word:
            self.take()
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise _error(repr(word), self.peek())

    def enter(self, token: _Token) -> None:
        """Count one more level of nesting, refusing text nested too deep to recurse over."""
        self._depth += 1
        if self._depth > _MAX_DEPTH:
            raise _error(f"at most {_MAX_DEPTH} nested groups or negations", token)

    # -- filter: or > and > not > primary

    def filter(self) -> Node:
        """The filter part: MatchAll when the text is empty or starts with a pipe."""
        if self.peek().kind in ("end", "|"):
            return MatchAll()
        return self.or_expr()

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.peek().kind == "or":
            self.take()
            items.append(self.and_expr())
        return _combine(Or, items)

    def and_expr(self) -> Node:
        items = [self.unary()]
        while True:
            kind = self.peek().kind
            if kind == "and":
                self.take()
            elif kind not in _TERM_START:
                return _combine(And, items)
            items.append(self.unary())

    def unary(self) -> Node:
        token = self.peek()
        if token.kind not in ("not", "neg"):
            return self.primary()
        self.take()
        self.enter(token)
        node = Not(self.unary())
        self._depth -= 1
        return node

    def primary(self) -> Node:
        token = self.take()
        if token.kind == "(":
            self.enter(token)
            node = self.or_expr()
            self.expect(")", "')'")
            self._depth -= 1
            return node
        if token.kind == "*":
            return MatchAll()
        if token.kind == "~":
            return Regex(MESSAGE, self.regex_value())
        if token.kind == "word" and self.follows(":"):
            return self.field_filter(token)
        if token.kind in ("word", "string"):
            text = _token_text(token)
            if self.follows("*"):
                return Prefix(MESSAGE, _prefix_text(MESSAGE, token, text))
            return _text_node(token, text)
        raise _error("a term", token)

    # -- field:value

    def field_filter(self, name: _Token) -> Node:
        """The value after `field:` (the colon taken) and the node it makes."""
        if not FIELD_NAME_RE.fullmatch(name.text):
            raise _error("a field name", name)
        field = FIELD_ALIASES.get(name.text, name.text)
        if field == TIME:
            return self.time_filter()
        token = self.take_value()
        kind = token.kind
        if kind == "*":
            return Exists(field)
        if kind in _COMPARE_OPS:
            return Compare(field, _compare_op(kind), self.number())
        if kind == "~":
            return Regex(field, self.regex_value())
        if kind == "word" and token.text.lower() == "in" and self.follows("("):
            return self.in_list(field)
        if kind in ("word", "string"):
            text = _token_text(token)
            if self.follows("*"):
                return Prefix(field, _prefix_text(field, token, text))
            if field == MESSAGE:
                return _text_node(token, text)
            return FieldEq(field, _scalar(field, text, kind == "string"))
        raise _error("a value", token)

    def in_list(self, field: str) -> Node:
        """`in(a, "b c", 3)` after `field:in(`: FieldIn, or for the message an OR of its words."""
        tokens, closing = self.in_values()
        if field == MESSAGE:
            if not tokens:
                raise _error("a value", closing)
            return _combine(Or, [_text_node(t, _token_text(t)) for t in tokens])
        return FieldIn(field, tuple(_scalar(field, _token_text(t), t.kind == "string") for t in tokens))

    def in_values(self) -> tuple[list[_Token], _Token]:
        """The value tokens of `in(…)` up to the closing parenthesis, and that parenthesis."""
        tokens: list[_Token] = []
        token = self.take_value()
        if token.kind == ")":
            return tokens, token
        while True:
            if token.kind not in ("word", "string"):
                raise _error("a value", token)
            tokens.append(token)
            token = self.take_value()
            if token.kind == ")":
                return tokens, token
            if token.kind != ",":
                raise _error("',' or ')'", token)
            token = self.take_value()

    def number(self) -> float:
        """A finite number after a comparison operator."""
        token = self.take_value()
        if token.kind == "word" and NUMBER_RE.fullmatch(token.text):
            number = float(token.text)
            if math.isfinite(number):
                return number
        raise _error("a number", token)

    def regex_value(self) -> str:
        """The pattern after `~`, quoted (or a bare word), checked."""
        token = self.take_value()
        if token.kind in ("word", "string"):
            return _checked_regex(token, _token_text(token))
        raise _error("a regular expression in quotes", token)

    # -- _time:…

    def time_filter(self) -> Node:
        """`_time:15m`, `_time:[T1, T2)`, `_time:>=T` or `_time:*` (the colon taken)."""
        self.pos = _skip_space(self.text, self.pos)
        if self.text.startswith(("[", "("), self.pos):
            return self.time_range()
        token = self.take_value()
        if token.kind == "*":
            return Exists(TIME)
        if token.kind in _COMPARE_OPS:
            bound = self.timestamp()
            if token.kind[0] == ">":
                return TimeRange(start=bound, include_start=token.kind == ">=")
            return TimeRange(end=bound, include_end=token.kind == "<=")
        if token.kind == "word":
            return RelativeTime(_duration_ns(token, DURATION_UNITS_NS.keys(), _TIME_EXPECTED))
        raise _error(_TIME_EXPECTED, token)

    def time_range(self) -> TimeRange:
        """`[T1, T2]` with `[`/`(` and `]`/`)` saying whether each bound is included."""
        include_start = self.text[self.pos] == "["
        self.pos += 1
        start = self.timestamp()
        self.expect_char(",", "','")
        end = self.timestamp()
        closing = self.expect_char("])", "']' or ')'")
        return TimeRange(start, end, include_end=closing == "]", include_start=include_start)

    def expect_char(self, chars: str, expected: str) -> str:
        """Take one of `chars` (after any space)."""
        self.pos = _skip_space(self.text, self.pos)
        char = self.text[self.pos : self.pos + 1]
        if not char or char not in chars:
            raise _error(expected, _lex(_VALUE_RE, self.text, self.pos))
        self.pos += 1
        return char

    def timestamp(self) -> int:
        """An RFC 3339 timestamp, bare or quoted, as ns."""
        self.pos = _skip_space(self.text, self.pos)
        match = _TIMESTAMP_RE.match(self.text, self.pos)
        if match is not None:
            token = _Token("word", match[0], self.pos, match.end())
            text = match[0]
        else:
            token = _lex(_VALUE_RE, self.text, self.pos)
            if token.kind != "string":
                raise _error(_TIMESTAMP_EXPECTED, token)
            text = token.value
        self.pos = token.end
        try:
            return parse_timestamp(text)
        except TimestampError as exc:
            raise _error(_TIMESTAMP_EXPECTED, token) from exc

    # -- pipes

    def pipes(self) -> tuple[Pipe, ...]:
        """Every `| pipe` up to the end of the text."""
        pipes: list[Pipe] = []
        while self.peek().kind == "|":
            self.take()
            pipes.append(self.pipe())
        self.expect("end", "'|' or end of query")
        return tuple(pipes)

    def pipe(self) -> Pipe:
        token = self.take()
        name = token.text.lower() if token.kind in _WORDLIKE else ""
        if name == "sort":
            self.expect_keyword("by")
            return Sort(tuple(self.by_list(self.sort_key)))
        if name in ("limit", "offset"):
            n = self.count("a non-negative integer")
            return Limit(n) if name == "limit" else Offset(n)
        if name == "fields":
            return Fields(tuple(self.comma_list(self.field_name)))
        if name == "stats":
            return self.stats()
        if name == "top":
            return self.top()
        if name == "uniq":
            self.expect_keyword("by")
            return Uniq(tuple(self.by_list(self.field_name)))
        raise _error(_PIPE_EXPECTED, token)

    def comma_list(self, item: Callable[[], _T]) -> list[_T]:
        """`a, b, c`: one item or more."""
        items = [item()]
        while self.peek().kind == ",":
            self.take()
            items.append(item())
        return items

    def by_list(self, item: Callable[[], _T]) -> list[_T]:
        """`(a, b)` after `by`, or one item without parentheses."""
        if self.peek().kind != "(":
            return [item()]
        self.take()
        items = self.comma_list(item)
        self.expect(")", "',' or ')'")
        return items

    def name(self, expected: str) -> str:
        token = self.take()
        if token.kind not in _WORDLIKE or not FIELD_NAME_RE.fullmatch(token.text):
            raise _error(expected, token)
        return token.text

    def field_name(self) -> str:
        """A field name in a pipe, its aliases resolved as in filters."""
        name = self.name("a field name")
        return FIELD_ALIASES.get(name, name)

    def count(self, expected: str) -> int:
        token = self.take()
        if token.kind != "word" or not _COUNT_RE.fullmatch(token.text):
            raise _error(expected, token)
        return int(token.text)

    def sort_key(self) -> tuple[str, bool]:
        """`field [asc|desc]` as (field, descending)."""
        field = self.field_name()
        if self.keyword("desc"):
            return (field, True)
        self.keyword("asc")
        return (field, False)

    def top(self) -> Top:
        """`top [N] by (fields)`."""
        token = self.peek()
        n = DEFAULT_TOP
        if not (token.kind in _WORDLIKE and token.text.lower() == "by"):
            n = self.count("a count or 'by'")
        self.expect_keyword("by")
        return Top(n, tuple(self.by_list(self.field_name)))

    def stats(self) -> Stats:
        """`stats [by (keys)] func [as name], …`."""
        by: tuple[str | TimeBucket, ...] = ()
        if self.keyword("by"):
            by = tuple(self.by_list(self.stats_key))
        return Stats(by, tuple(self.comma_list(self.stats_func)))

    def stats_key(self) -> str | TimeBucket:
        """A `by` key: a field, or `_time:STEP` for time buckets."""
        name = self.peek()
        field = self.field_name()
        if self.peek().kind != ":":
            return field
        if field != TIME:
            raise _error(f"'{TIME}' before a bucket step", name)
        self.take()
        step = self.take()
        if step.kind != "word":
            raise _error("a bucket step like 1m", step)
        return TimeBucket(_duration_ns(step, BUCKET_UNITS, "a bucket step like 1m"))

    def stats_func(self) -> StatFunc:
        """`count()`, `sum(f)`, `quantile(0.99, f)` …, optionally `as name`."""
        token = self.take()
        name = token.text.lower() if token.kind in _WORDLIKE else ""
        arity = STATS_FUNCTIONS.get(name)
        if arity is None:
            raise _error(_STATS_EXPECTED, token)
        self.expect("(", "'('")
        args: list[str | float] = []
        if name == "quantile":
            args.append(self.quantile_level())
            self.expect(",", "','")
        args.extend(self.field_name() for _ in range(arity))
        self.expect(")", "')'")
        alias = self.name("a column name") if self.keyword("as") else None
        return StatFunc(name, tuple(args), alias)

    def quantile_level(self) -> float:
        token = self.take()
        if token.kind == "word" and NUMBER_RE.fullmatch(token.text):
            level = float(token.text)
            if 0.0 <= level <= 1.0:
                return level
        raise _error("a quantile level between 0 and 1", token)


# -- helpers ------------------------------------------------------------------------------------------


def _combine(kind: type[And] | type[Or], items: list[Node]) -> Node:
    """AND or OR the items, flattening children of the same kind; one item stands alone."""
    if len(items) == 1:
        return items[0]
    flat: list[Node] = []
    for item in items:
        if isinstance(item, kind):
            flat.extend(item.items)
        else:
            flat.append(item)
    return kind(tuple(flat))


def _compare_op(kind: str) -> CompareOp:
    if kind == "<":
        return "<"
    if kind == "<=":
        return "<="
    if kind == ">":
        return ">"
    return ">="


def _scalar(field: str, text: str, quoted: bool) -> Scalar:
    """A FieldEq / FieldIn value: levels normalised, unquoted numbers as numbers, else text."""
    if field == LEVEL:
        return normalize_level(text)
    return text if quoted else _number_or_text(text)


def _prefix_text(field: str, token: _Token, text: str) -> str:
    """The prefix of `text*`: lower-case letters and digits for the message, upper case for levels."""
    if field == MESSAGE:
        lower = text.lower()
        if tokenize(lower) != [lower]:
            raise _error("a prefix of letters and digits", token)
        return lower
    return text.upper() if field == LEVEL else text


def _token_text(token: _Token) -> str:
    """The text a word or string token stands for (a string without its quotes and escapes)."""
    return token.value if token.kind == "string" else token.text


def _duration_ns(token: _Token, units: Container[str], expected: str) -> int:
    """A positive whole count and one of `units` (`15m`) as ns."""
    match = _DURATION_RE.fullmatch(token.text)
    if match is None or match[2] not in units or int(match[1]) == 0:
        raise _error(expected, token)
    return int(match[1]) * DURATION_UNITS_NS[match[2]]
