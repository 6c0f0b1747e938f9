"""Stored JSON text back to Python values, every number kept exact or kept as its text.

orjson (fast) reads an integer beyond 64 bits as a rounded double (an ID of 30 digits loses its last
ones) and refuses a number beyond a double's range (`1e400`); neither can be written back to JSON
either. Text that may hold such a number takes Python's `json` instead, which keeps such integers'
and numbers' digits as their text. Only text with a run of 20 digits or a three-digit exponent pays
for it (~5x slower than orjson).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

_MAYBE_OUT_OF_RANGE = re.compile(r"\d{20}|[eE][+-]?\d{3}")
_U64_MAX = 2**64 - 1
_I64_MIN = -(2**63)


def loads(text: str) -> Any:
    """The value of JSON text; numbers orjson would round or refuse come back as their text."""
    if not _MAYBE_OUT_OF_RANGE.search(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text, parse_int=_integer, parse_float=_fraction)


def _integer(text: str) -> int | str:
    value = int(text)
    return value if _I64_MIN <= value <= _U64_MAX else text


def _fraction(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else text
