"""The format registry's own invariants: every pattern is RE2 with named groups, names are unique,
fast paths read exactly what their patterns do, and costs stay vectorised."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from log_analytics_engine.errors import IngestError
from log_analytics_engine.ingest.formats import Registry, registry
from log_analytics_engine.ingest.formats.base import RegexFormat, q
from log_analytics_engine.ingest.formats.user import user_format


def test_every_pattern_is_re2_with_named_groups() -> None:
    """Each built-in's pattern compiles in RE2 and names every capturing group (DuckDB maps by position)."""
    for fmt in registry():
        if fmt.pattern:
            re2.compile(fmt.pattern)
        if isinstance(fmt, RegexFormat):
            assert fmt.names(), fmt.name


def test_names_and_aliases_are_unique() -> None:
    """A name or alias used twice (or a JSON name) is refused when the registry is built."""
    clash = user_format("syslog", {"pattern": "^x"})
    with pytest.raises(IngestError, match="'syslog' of syslog-rfc3164 is taken by syslog"):
        Registry((clash, *registry()))
    with pytest.raises(IngestError, match="unknown file_type or format 'nope'"):
        registry().get("nope")


_TOKEN = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, exclude_characters='"[]'), min_size=1, max_size=12
)
_FREE = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters='"\n\r'), max_size=30)
_REQUEST = st.one_of(
    st.builds(lambda m, p, v: f"{m} {p} {v}", st.sampled_from(["GET", "POST", "OPTIONS"]), _TOKEN, _FREE),
    st.builds(lambda m, p: f"{m} {p}", st.sampled_from(["GET", "HEAD"]), _TOKEN),
    _FREE,
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.builds(
            lambda ip, ident, user, req, status, size, ref, agent, extra: (
                f'{ip} {ident} {user} [21/Jul/2025:12:00:00 +0000] "{req}" {status} {size}'
                + (f' "{ref}" "{agent}"' if ref is not None else "")
                + extra
            ),
            _TOKEN,
            _TOKEN,
            _TOKEN,
            _REQUEST,
            st.integers(100, 599),
            st.one_of(st.just("-"), st.integers(0, 10**12).map(str)),
            st.one_of(st.none(), _FREE),
            _FREE,
            st.sampled_from(["", ' "0.012"', " extra"]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_access_split_reads_what_the_pattern_does(lines: list[str]) -> None:
    """For every line an access pattern matches, splitting at its quotes gives the same groups as RE2."""
    con = duckdb.connect()
    con.register("ev", pa.table({"line": pa.array(lines, pa.string())}))
    for name in ("access-common", "access-combined"):
        fmt = registry().get(name)
        assert isinstance(fmt, RegexFormat)
        assert fmt.split_sql is not None
        names = list(fmt.names())
        rows = con.sql(
            f"SELECT regexp_extract(line, {q(fmt.pattern)}, {names!r}), {fmt.split_sql} FROM ev "
            f"WHERE regexp_matches(line, {q(fmt.pattern)})"
        ).fetchall()
        if name == "access-common":
            assert len(rows) == len(lines)  # every drawn line is a common access line
        for by_regex, by_split in rows:
            assert by_split == by_regex
