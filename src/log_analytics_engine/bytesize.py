"""Byte sizes as settings write them ("256MB", "1GiB", "512 KB"), read into a number of bytes."""

from __future__ import annotations

import re

from log_analytics_engine.errors import ConfigError

# Decimal units are powers of 1000 and binary ones of 1024, as DuckDB reads them ("256MB" is 244 MiB).
UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*")


def parse_size(text: object, name: str) -> int:
    """The bytes `text` names: a number and a unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB; any case).
    ConfigError naming the setting `name` otherwise."""
    found = _SIZE.fullmatch(text) if isinstance(text, str) else None
    unit = UNITS.get(found.group(2).lower()) if found else None
    if found is None or unit is None:
        raise ConfigError(
            f"{name} must be a size such as 256MB or 1GiB (units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), "
            f"got {text!r}"
        )
    return int(float(found.group(1)) * unit)
