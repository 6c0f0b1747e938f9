"""The zone naive times in text are read in: an IANA name both Python and DuckDB's ICU know."""

from __future__ import annotations

import zoneinfo

from log_analytics_engine.errors import ConfigError


def check_zone(name: str) -> str:
    """`name` when it is a time zone (`UTC`, `Europe/Berlin`); ConfigError naming it otherwise."""
    if name == "UTC":
        return name
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"unknown time zone {name!r}: give an IANA name such as UTC or Europe/Berlin"
        ) from exc
    return name
