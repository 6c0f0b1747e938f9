"""The JSON document of one line a shipper sent (an Elasticsearch `_bulk` document, a VictoriaLogs
jsonline line): parsed with bytes that are not UTF-8 replaced, its nested keys dotted, and the
first of a column's keys taken out of it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from log_analytics_engine.ingest.records import is_utf8
from log_analytics_engine.ingest.rows import flatten

# The JSON types a column may be read from: text; a time's text or epoch number; a level's text or
# number (pino's 30).
TEXT = frozenset({str})
TIME_TYPES = frozenset({str, int, float})
LEVEL_TYPES = frozenset({str, int})


def loads(line: bytes) -> tuple[Any, bytes]:
    """The JSON value of `line` and the line, its bytes that are not UTF-8 replaced with U+FFFD first
    (as a file's are); orjson.JSONDecodeError when it holds no JSON."""
    try:
        return orjson.loads(line), line
    except orjson.JSONDecodeError:
        if is_utf8(line):
            raise
    line = line.decode("utf-8", errors="replace").encode()
    return orjson.loads(line), line


def dotted(document: dict[str, Any], line: bytes) -> dict[str, Any]:
    """The document's fields with dotted names (the document itself when `line`, its text, has no
    `{` but its own: nothing nested, nor a brace in a string, which only costs the walk)."""
    return flatten(document) if line.count(b"{") > 1 else document


def take(fields: dict[str, Any], keys: Sequence[str], types: frozenset[type]) -> Any:
    """The value of the first of `keys` holding one of `types` (null is none), its key taken out of
    `fields`; None when none does."""
    for key in keys:
        value = fields.get(key)
        if value is not None and type(value) in types:
            del fields[key]
            return value
    return None
