"""The zone naive times in text are read in: an IANA name both Python and DuckDB's ICU know."""

from __future__ import annotations

import zoneinfo

import duckdb

from log_analytics_engine.errors import ConfigError


def check_zone(name: str) -> str:
    """`name` when it is a time zone (`UTC`, `Europe/Berlin`); ConfigError naming it otherwise.
    Python reads any file under its zoneinfo directory (`localtime`, `posixrules`), which ICU does
    not know: those failed every text ingest with DuckDB's 'Unknown TimeZone'."""
    if name == "UTC":
        return name
    try:
        zoneinfo.ZoneInfo(name)
        with duckdb.connect() as con:  # in memory, a few ms, once per setting
            con.execute("SELECT timezone(?, TIMESTAMP '2000-01-01 00:00:00')", [name])
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, duckdb.Error) as exc:
        raise ConfigError(
            f"unknown time zone {name!r}: give an IANA name such as UTC or Europe/Berlin"
        ) from exc
    return name
