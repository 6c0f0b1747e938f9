"""The query lexer: tokens read one at a time from a position, in term mode or in value mode (after
`field:`), plus syntax-error construction and the readers of numbers, durations and RE2 regexes."""

from __future__ import annotations

import math
import re
from collections.abc import Container
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from log_analytics_engine.errors import QuerySyntaxError
from log_analytics_engine.query import regex
from log_analytics_engine.query.ast import Scalar
from log_analytics_engine.query.grammar import (
    DURATION_UNITS_NS,
    FIELD_ALIASES,
    FIELD_NAME_RE,
    INT_RE,
    KEYWORDS,
    METADATA_PREFIX,
    NUMBER_RE,
)

__all__ = (
    "TIMESTAMP_RE",
    "WORDLIKE",
    "Token",
    "bare_field",
    "checked_regex",
    "duration_ns",
    "lex_quoted_key",
    "lex_term",
    "lex_value",
    "number_or_text",
    "skip_space",
    "syntax_error",
)

_MAX_FOUND_CHARS = 40
MAX_DURATION_NS = 2**63 - 1
_END = "end of query"
# Token kinds that read as a word: `word` and the keywords, which are words in a pipe.
WORDLIKE: Final = frozenset({"word", "and", "or", "not"})

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
TIMESTAMP_RE: Final = re.compile(r"[0-9A-Za-z:.+-]+")
_DURATION_RE = re.compile(r"([0-9]{1,12})([a-z])")
# Python-regex constructs RE2 (the engine's regex library) lacks, besides backreferences.
_LOOK_AROUND = ("(?=", "(?!", "(?<=", "(?<!")
_DIGITS_1_TO_9 = frozenset("123456789")


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind (the punctuation itself, `word`, `string`, `neg`, a keyword or `end`), its
    source text, where it starts and ends, and for a string its unescaped value."""

    kind: str
    text: str
    pos: int
    end: int
    value: str = ""


def syntax_error(expected: str, token: Token) -> QuerySyntaxError:
    """The syntax error for finding `token` where `expected` should be."""
    if token.kind == "end":
        return QuerySyntaxError(expected, token.pos, _END)
    found = token.text
    if len(found) > _MAX_FOUND_CHARS:
        found = found[: _MAX_FOUND_CHARS - 3] + "..."
    return QuerySyntaxError(expected, token.pos, found)


# -- tokens -------------------------------------------------------------------------------------------


def skip_space(text: str, pos: int) -> int:
    """The position of the first non-space character at or after pos."""
    match = _SPACE_RE.match(text, pos)
    return pos if match is None else match.end()


def _string_at(text: str, pos: int) -> Token | None:
    """The quoted string at pos (`\\"`, `\\'` and `\\\\` are escapes, any other backslash is kept),
    or None when it does not close."""
    match = _STRING_RES[text[pos]].match(text, pos)
    if match is None:
        return None
    return Token("string", match[0], pos, match.end(), _ESCAPE_RE.sub(r"\1", match[1]))


def _lex_string(text: str, pos: int) -> Token:
    """A quoted string at pos; a syntax error when it does not close."""
    token = _string_at(text, pos)
    if token is None:
        raise syntax_error(f"closing {text[pos]!r}", Token("string", text[pos:], pos, len(text)))
    return token


def lex_quoted_key(text: str, word: Token) -> Token | None:
    """For a word starting `metadata.` and a quote (`metadata."a:b"`), the quoted key as a string
    token (the word lexer stops inside it, at `:` or a space); None for any other word."""
    start = word.pos + len(METADATA_PREFIX)
    if word.kind not in WORDLIKE or not word.text.startswith(METADATA_PREFIX) or start >= len(text):
        return None
    return _string_at(text, start) if text[start] in _STRING_RES else None


def _lex(pattern: re.Pattern[str], text: str, pos: int) -> Token:
    """The next token at or after pos: punctuation, a negation (`neg`) or a `word`, as the pattern's
    group names say."""
    pos = skip_space(text, pos)
    if pos >= len(text):
        return Token("end", "", pos, pos)
    if text[pos] in "\"'":
        return _lex_string(text, pos)
    match = pattern.match(text, pos)
    if match is None:  # unreachable: every other character starts a punctuation token or a word
        return Token(text[pos], text[pos], pos, pos + 1)
    if match.lastgroup == "punct":
        return Token(match[0], match[0], pos, match.end())
    return Token(match.lastgroup or "word", match[0], pos, match.end())


def lex_term(text: str, pos: int) -> Token:
    """The next token in term mode; `and`/`or`/`not` are keywords unless a `:` or `*` follows."""
    token = _lex(_TERM_RE, text, pos)
    if token.kind == "word":
        lower = token.text.lower()
        if lower in KEYWORDS and not text.startswith((":", "*"), token.end):
            return Token(lower, token.text, token.pos, token.end)
    return token


def lex_value(text: str, pos: int) -> Token:
    """The next token in value mode (after `field:`), where a word may hold `:`, `-` and `!`."""
    return _lex(_VALUE_RE, text, pos)


# -- names and values ---------------------------------------------------------------------------------


def bare_field(name: Token) -> str:
    """The field an unquoted name stands for (aliases resolved); a syntax error for a word that is
    no field name (a quoted name may be any text)."""
    if not FIELD_NAME_RE.fullmatch(name.text):
        raise syntax_error("a field name", name)
    if name.text == METADATA_PREFIX:
        raise syntax_error("a metadata key after `metadata.`", name)
    return FIELD_ALIASES.get(name.text, name.text)


def number_or_text(text: str) -> Scalar:
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


def duration_ns(token: Token, units: Container[str], expected: str) -> int:
    """A positive whole count and one of `units` (`15m`) as ns, at most what int64 ns hold (~292 years)."""
    match = _DURATION_RE.fullmatch(token.text)
    if match is None or match[2] not in units or int(match[1]) == 0:
        raise syntax_error(expected, token)
    ns = int(match[1]) * DURATION_UNITS_NS[match[2]]
    if ns > MAX_DURATION_NS:
        raise syntax_error(f"{expected} of at most 106751d", token)
    return ns


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


def checked_regex(token: Token, pattern: str) -> str:
    """The pattern, once RE2 compiles it; what RE2 lacks (backreferences, look-around) is named as
    such. (A store whose own regex engine refuses more says so when it compiles the query.)"""
    problem = _re2_problem(pattern)
    if problem is not None:
        raise syntax_error(f"a regular expression without {problem} (RE2)", token)
    invalid = regex.refusal(pattern)
    if invalid is not None:
        raise syntax_error(f"a valid regular expression ({invalid})", token)
    return pattern
