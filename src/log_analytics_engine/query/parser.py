"""Parse query text (LogsQL-like, Lucene-familiar) into the query AST: a filter and the pipes after it.

A recursive-descent parser over `query.lexer`'s tokens (`query.pipe_parser` reads the pipes); every error
is a `QuerySyntaxError` naming the offset, what was found there and what was expected.
"""

from __future__ import annotations

import math
import re
from typing import Final

from log_analytics_engine.errors import QueryError
from log_analytics_engine.model import SEVERITY, normalize_level, tokenize
from log_analytics_engine.query.ast import (
    And,
    Compare,
    CompareOp,
    Exists,
    FieldEq,
    FieldIn,
    MatchAll,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    Query,
    Regex,
    RelativeTime,
    Scalar,
    TimeRange,
    Word,
    term_count,
)
from log_analytics_engine.query.grammar import (
    DURATION_UNITS_NS,
    FIELD_ALIASES,
    LEVEL,
    MESSAGE,
    METADATA_PREFIX,
    NUMBER_RE,
    TIME,
)
from log_analytics_engine.query.lexer import (
    TIMESTAMP_RE,
    WORDLIKE,
    Token,
    bare_field,
    checked_regex,
    duration_ns,
    lex_quoted_key,
    lex_term,
    lex_value,
    number_or_text,
    skip_space,
    syntax_error,
)
from log_analytics_engine.query.pipe_parser import pipes
from log_analytics_engine.timeparse import TimestampError, parse_timestamp

__all__ = ("parse", "parse_filter")

_MAX_DEPTH = 100  # nested groups and negations; deeper text would exhaust Python's stack
_COMPARE_OPS: Final = frozenset({"<", "<=", ">", ">="})
_TERM_START: Final = frozenset({"word", "string", "(", "*", "~", "neg", "not"})

_TIME_EXPECTED = "a relative time like 15m, a range like [T1, T2) or a comparison like >T"
SEVERITY_FIELD: Final = "severity"
_SEVERITY_EXPECTED = f"a number or a level name ({', '.join(SEVERITY)}) for {SEVERITY_FIELD}"
# A message prefix: letters and digits, with `_` and `-` inside (`blk_*`, `req-12*`).
_MESSAGE_PREFIX_RE = re.compile(r"[\w-]*[^\W_][\w-]*")
_TIMESTAMP_EXPECTED = "an RFC 3339 timestamp"


# Bounds on query text (a 400 naming them): a 50 KB rule of 10,000 words once took 42 s and 6 GB.
MAX_QUERY_CHARS = 16_384
MAX_TERMS = 512


def parse(text: str) -> Query:
    """Parse query text (a filter, then `| pipe`s) into a Query.

    Raises:
        QuerySyntaxError: the text does not follow the grammar.
    """
    parser = Parser(text)
    node = _bounded(parser.filter())
    return Query(node, pipes(parser))


def parse_filter(text: str) -> Node:
    """Parse filter text (no pipes) into a filter node; empty text or `*` is MatchAll.

    Raises:
        QuerySyntaxError: the text does not follow the grammar, or holds a pipe.
    """
    parser = Parser(text)
    node = _bounded(parser.filter())
    parser.expect("end", "end of filter")
    return node


def _bounded(node: Node) -> Node:
    """The filter, unless it holds more than MAX_TERMS terms (each costs a compiled pattern or an index
    lookup in every store, and in every rule on every ingested batch)."""
    terms = term_count(node)
    if terms > MAX_TERMS:
        raise QueryError(f"the query holds {terms:,} terms, over the limit of {MAX_TERMS:,}")
    return node


# -- parser -------------------------------------------------------------------------------------------


class Parser:
    """One parse of one text: the position after the last token taken and a one-token lookahead."""

    __slots__ = ("_depth", "_peeked", "pos", "text")

    def __init__(self, text: str) -> None:
        if len(text) > MAX_QUERY_CHARS:
            raise QueryError(
                f"the query is {len(text):,} characters long, over the limit of {MAX_QUERY_CHARS:,}"
            )
        self.text = text
        self.pos = 0
        self._peeked: Token | None = None
        self._depth = 0

    # -- tokens

    def peek(self) -> Token:
        """The next term-mode token, not taken."""
        if self._peeked is None:
            self._peeked = lex_term(self.text, self.pos)
        return self._peeked

    def take(self) -> Token:
        """The next term-mode token, taken."""
        token = self.peek()
        self.pos = token.end
        self._peeked = None
        return token

    def take_value(self) -> Token:
        """The next value-mode token (after `field:`), taken."""
        token = lex_value(self.text, self.pos)
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

    def quoted_key(self, word: Token, then: str = "") -> str | None:
        """After taking `word`: when it starts `metadata."key"` (the key quoted, any text) and `then`
        follows the key, take both and return the field, `metadata.` + key; else None, nothing taken."""
        key = lex_quoted_key(self.text, word)
        if key is None or not self.text.startswith(then, key.end):
            return None
        self.pos = key.end + len(then)
        self._peeked = None
        return METADATA_PREFIX + key.value

    def expect(self, kind: str, expected: str) -> Token:
        """Take the next token, which must be of `kind`."""
        token = self.take()
        if token.kind != kind:
            raise syntax_error(expected, token)
        return token

    def keyword(self, word: str) -> bool:
        """Take the next token when it is `word` (any case)."""
        token = self.peek()
        if token.kind in WORDLIKE and token.text.lower() == word:
            self.take()
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise syntax_error(repr(word), self.peek())

    def enter(self, token: Token) -> None:
        """Count one more level of nesting, refusing text nested too deep to recurse over."""
        self._depth += 1
        if self._depth > _MAX_DEPTH:
            raise syntax_error(f"at most {_MAX_DEPTH} nested groups or negations", token)

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
        if token.kind == "string" and self.follows(":"):  # `"a:b":x`, a quoted field name
            return self.field_filter(FIELD_ALIASES.get(token.value, token.value))
        if token.kind == "word":
            key = self.quoted_key(token, ":")  # without the colon, `metadata."x"` is message words
            if key is not None:
                return self.field_filter(key)
            if self.follows(":"):
                return self.field_filter(bare_field(token))
        if token.kind in ("word", "string"):
            text = _token_text(token)
            if self.follows("*"):
                return Prefix(MESSAGE, _prefix_text(MESSAGE, token, text))
            return _text_node(token, text)
        raise syntax_error("a term", token)

    # -- field:value

    def field_filter(self, field: str) -> Node:
        """The value after `field:` (the colon taken) and the node it makes."""
        if field == TIME:
            return self.time_filter()
        token = self.take_value()
        kind = token.kind
        if kind == "*":
            return Exists(field)
        if kind in _COMPARE_OPS:
            op = _compare_op(kind)
            if field == SEVERITY_FIELD:
                return Compare(field, op, float(_severity(self.take_value())))
            return Compare(field, op, self.number())
        if kind == "~":
            return Regex(field, self.regex_value())
        if kind == "word" and token.text.lower() == "in" and self.follows("("):
            return self.in_list(field)
        if kind in ("word", "string"):
            text = _token_text(token)
            if self.follows("*"):
                return Prefix(field, _prefix_text(field, token, text))
            if _is_empty(token):
                return Not(Exists(field))  # `field:""`: the field is empty or absent
            if field == MESSAGE:
                return _text_node(token, text)
            return FieldEq(field, _value(field, token))
        raise syntax_error("a value", token)

    def in_list(self, field: str) -> Node:
        """`in(a, "b c", 3)` after `field:in(`: FieldIn, or for the message an OR of its words."""
        tokens, closing = self.in_values()
        # an empty value ("") stands for "empty or absent", as `field:""` does
        empty: list[Node] = [Not(Exists(field))] if any(_is_empty(t) for t in tokens) else []
        tokens = [t for t in tokens if not _is_empty(t)]
        if field == MESSAGE:
            if not tokens and not empty:
                raise syntax_error("a value", closing)
            return _combine(Or, [*empty, *(_text_node(t, _token_text(t)) for t in tokens)])
        if empty and not tokens:
            return empty[0]
        values = FieldIn(field, tuple(_value(field, t) for t in tokens))
        return _combine(Or, [*empty, values])

    def in_values(self) -> tuple[list[Token], Token]:
        """The value tokens of `in(…)` up to the closing parenthesis, and that parenthesis."""
        tokens: list[Token] = []
        token = self.take_value()
        if token.kind == ")":
            return tokens, token
        while True:
            if token.kind not in ("word", "string"):
                raise syntax_error("a value", token)
            tokens.append(token)
            token = self.take_value()
            if token.kind == ")":
                return tokens, token
            if token.kind != ",":
                raise syntax_error("',' or ')'", token)
            token = self.take_value()

    def number(self) -> float:
        """A finite number after a comparison operator."""
        token = self.take_value()
        if token.kind == "word" and NUMBER_RE.fullmatch(token.text):
            number = float(token.text)
            if math.isfinite(number):
                return number
        raise syntax_error("a number", token)

    def regex_value(self) -> str:
        """The pattern after `~`, quoted (or a bare word), checked."""
        token = self.take_value()
        if token.kind in ("word", "string"):
            return checked_regex(token, _token_text(token))
        raise syntax_error("a regular expression in quotes", token)

    # -- _time:…

    def time_filter(self) -> Node:
        """`_time:15m`, `_time:[T1, T2)`, `_time:>=T` or `_time:*` (the colon taken)."""
        self.pos = skip_space(self.text, self.pos)
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
            return RelativeTime(duration_ns(token, DURATION_UNITS_NS.keys(), _TIME_EXPECTED))
        raise syntax_error(_TIME_EXPECTED, token)

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
        self.pos = skip_space(self.text, self.pos)
        char = self.text[self.pos : self.pos + 1]
        if not char or char not in chars:
            raise syntax_error(expected, lex_value(self.text, self.pos))
        self.pos += 1
        return char

    def timestamp(self) -> int:
        """An RFC 3339 timestamp, bare or quoted, as ns."""
        self.pos = skip_space(self.text, self.pos)
        match = TIMESTAMP_RE.match(self.text, self.pos)
        if match is not None:
            token = Token("word", match[0], self.pos, match.end())
            text = match[0]
        else:
            token = lex_value(self.text, self.pos)
            if token.kind != "string":
                raise syntax_error(_TIMESTAMP_EXPECTED, token)
            text = token.value
        self.pos = token.end
        try:
            return parse_timestamp(text)
        except TimestampError as exc:
            raise syntax_error(_TIMESTAMP_EXPECTED, token) from exc


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


def _is_empty(token: Token) -> bool:
    """True for the quoted empty string `""`."""
    return token.kind == "string" and token.value == ""


def _value(field: str, token: Token) -> Scalar:
    """A FieldEq / FieldIn value: levels normalised, severities as numbers (level names read by the
    model's mapping), unquoted numbers as numbers, else text."""
    text = _token_text(token)
    if field == LEVEL:
        return normalize_level(text)
    if field == SEVERITY_FIELD:
        return _severity(token)
    return text if token.kind == "string" else number_or_text(text)


def _severity(token: Token) -> int | float:
    """A severity: a finite number, or a level name (any case, aliases folded) as its severity."""
    text = _token_text(token)
    if token.kind in ("word", "string") and NUMBER_RE.fullmatch(text):
        number = number_or_text(text)
        if isinstance(number, int | float):
            return number
    level = normalize_level(text) if token.kind in ("word", "string") and text.strip() else ""
    if level in SEVERITY:
        return SEVERITY[level]
    raise syntax_error(_SEVERITY_EXPECTED, token)


def _prefix_text(field: str, token: Token, text: str) -> str:
    """The prefix of `text*`: for the message lower-case letters and digits, `_` and `-` between
    them allowed; upper case for levels."""
    if field == MESSAGE:
        lower = text.lower()
        if not _MESSAGE_PREFIX_RE.fullmatch(lower):
            raise syntax_error("a prefix of letters, digits, '_' and '-'", token)
        return lower
    return text.upper() if field == LEVEL else text


def _token_text(token: Token) -> str:
    """The text a word or string token stands for (a string without its quotes and escapes)."""
    return token.value if token.kind == "string" else token.text


def _text_node(token: Token, text: str) -> Node:
    """Message words: one token is a Word, several a Phrase, none an error."""
    tokens = tokenize(text)
    if not tokens:
        raise syntax_error("a word with letters or digits", token)
    return Word(tokens[0]) if len(tokens) == 1 else Phrase(tuple(tokens))
