"""The query grammar's vocabulary: field names and aliases, value shapes, time units, pipe and stats
function names. The parser and the printer both read these, so what one writes the other reads back."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Final

from log_analytics_engine.query import regex

__all__ = (
    "BUCKET_UNITS",
    "DEFAULT_TOP",
    "DURATION_UNITS_NS",
    "FIELD_ALIASES",
    "FIELD_NAME_RE",
    "INT_RE",
    "KEYWORDS",
    "LEVEL",
    "MESSAGE",
    "METADATA_PREFIX",
    "NUMBER_RE",
    "PIPE_NAMES",
    "STATS_FUNCTIONS",
    "TIME",
)

MESSAGE: Final = "message"
TIME: Final = "_time"
LEVEL: Final = "level"
KEYWORDS: Final = frozenset({"and", "or", "not"})
FIELD_ALIASES: Final = MappingProxyType({"timestamp": TIME, "msg": MESSAGE, "_msg": MESSAGE})
# `metadata.key` names a metadata key whatever the key (`metadata."a:b"` when it must be quoted).
METADATA_PREFIX: Final = "metadata."
# A bare field name: a letter (any script) or `_`, then letters with their combining marks, digits,
# `_`, `.` and `-`: `région`, `हिंदी`, `http.status-code`. Any other name is written quoted.
# RE2, for the Unicode classes (Python's `\w` leaves out marks, so `हिंदी` was no name).
FIELD_NAME_RE: Final = regex.compiled(r"[\pL\p{Nl}\p{No}_][\pL\pM\pN_.-]*")
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
