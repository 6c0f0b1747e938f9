"""The regular expressions the engine runs in Python (the reference evaluator, and through it alert
rules on every ingested batch), on RE2: linear time in the text, whatever the pattern, as DuckDB's
`regexp_matches` is. Python's `re` backtracks: `(a+)+b` over 31 bytes of `a` took 14 s, holding the
GIL; RE2 answers in microseconds."""

from __future__ import annotations

import functools
from typing import Any

import re2

from log_analytics_engine.errors import QueryError

# RE2's own bound on the memory one compiled pattern may use (its default is 8 MB).
MAX_PATTERN_MEMORY = 8 << 20


def refusal(pattern: str) -> str | None:
    """Why RE2 refuses `pattern` (`missing )`, `invalid escape sequence`…), or None when it compiles."""
    try:
        compiled(pattern)
    except QueryError as exc:
        cause = exc.__cause__
        text = cause.args[0] if isinstance(cause, re2.error) and cause.args else str(exc)
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        return text.split(": ", 1)[0]
    return None


@functools.lru_cache(maxsize=1024)
def compiled(pattern: str, ignore_case: bool = False) -> Any:
    """The RE2 program of `pattern`; QueryError when RE2 refuses it (patterns are checked when
    queries are parsed, so this is for trees built by code)."""
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refusal on stderr
    options.max_mem = MAX_PATTERN_MEMORY
    options.case_sensitive = not ignore_case
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        raise QueryError(f"regular expression {pattern!r} is not one RE2 accepts: {exc}") from exc


def escape(text: str) -> str:
    """`text` as an RE2 pattern matching it literally."""
    escaped: str = re2.escape(text)
    return escaped
