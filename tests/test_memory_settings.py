"""The memory setting: DuckDB's memory_limit from the engine's argument, the config file, the
environment and `serve --memory-limit`; bad values refused by name; work past it spills to disk."""

from __future__ import annotations

import json
import mmap
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import uvicorn
from typer.testing import CliRunner

from log_analytics_engine import LogAnalyticsEngine
from log_analytics_engine.bytesize import parse_size
from log_analytics_engine.cli.app import app
from log_analytics_engine.errors import ConfigError, QueryError
from log_analytics_engine.memory import MEMORY_LIMIT
from log_analytics_engine.server.settings import load_settings
from log_analytics_engine.storage.embedded.indexproc import drop_mapped_pages
from services import free_port

runner = CliRunner()


def _setting(engine: LogAnalyticsEngine, name: str) -> Any:
    """A DuckDB setting of the engine's store, as DuckDB reports it."""
    return engine._store.store.rows(f"SELECT current_setting('{name}')")[0][0]  # type: ignore[attr-defined]


def _duckdb_shows(size: str) -> str:
    """How DuckDB itself reports a memory limit of `size` bytes-spelled (e.g. 286.1 MiB)."""
    with duckdb.connect(config={"memory_limit": f"{parse_size(size, 'size')}B"}) as con:
        return str(con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])


def test_sizes_read_decimal_and_binary_units_as_duckdb_does() -> None:
    """A size is a number and a unit of 1000s (KB, MB…) or 1024s (KiB, MiB…), any case and spacing."""
    assert parse_size("256MB", "x") == 256_000_000
    assert parse_size("256 mib", "x") == 256 << 20
    assert parse_size(" 1.5GB ", "x") == 1_500_000_000
    assert parse_size("1GiB", "x") == 1 << 30
    assert parse_size("512B", "x") == 512
    for bad in ("256", "MB", "lots", "256 MBs", "-1GB", "", 256):
        with pytest.raises(ConfigError, match=r"x must be a size such as 256MB or 1GiB .* got "):
            parse_size(bad, "x")


def test_the_engine_argument_reaches_duckdb(tmp_path: Path) -> None:
    """`memory_limit` sets DuckDB's, on disk and in memory; without it the default holds."""
    with LogAnalyticsEngine(tmp_path / "d", memory_limit="300MB") as engine:
        assert _setting(engine, "memory_limit") == _duckdb_shows("300MB")
    with LogAnalyticsEngine(memory_limit="1GiB") as engine:
        assert _setting(engine, "memory_limit") == _duckdb_shows("1GiB")
    with LogAnalyticsEngine(tmp_path / "e") as engine:
        assert _setting(engine, "memory_limit") == _duckdb_shows(MEMORY_LIMIT)


def test_an_engine_in_memory_spills_to_a_directory_of_its_own(tmp_path: Path, monkeypatch: Any) -> None:
    """In memory, DuckDB's work past the limit goes to a temporary directory, removed at close (not
    DuckDB's default `.tmp` in the working directory); on disk, beside the database file."""
    monkeypatch.chdir(tmp_path)
    engine = LogAnalyticsEngine()
    spill = Path(_setting(engine, "temp_directory"))
    assert spill.is_dir()
    assert spill.name.startswith("log-analytics-spill-")
    engine.close()
    assert not spill.exists()
    assert not (tmp_path / ".tmp").exists()
    with LogAnalyticsEngine(tmp_path / "d") as engine:
        assert Path(_setting(engine, "temp_directory")) == tmp_path / "d" / "logs.duckdb.tmp"


def test_a_bad_memory_limit_is_refused_naming_where_it_came_from(tmp_path: Path) -> None:
    """Not a size, or under the floor: a ConfigError naming the setting, the file and key, or the
    variable; nothing is opened."""
    with pytest.raises(ConfigError, match=r"memory_limit must be a size such as 256MB .* got 'lots'"):
        LogAnalyticsEngine(tmp_path / "d", memory_limit="lots")
    with pytest.raises(ConfigError, match=r"memory_limit must be at least 64MB, got '16MB'"):
        LogAnalyticsEngine(tmp_path / "d", memory_limit="16MB")
    assert not (tmp_path / "d").exists()
    config = tmp_path / "server.toml"
    config.write_text('[server]\nmemory_limit = "half"\n')
    with pytest.raises(ConfigError, match=rf"{config}: \[server\] memory_limit: memory_limit must be a size"):
        load_settings(config, env={})
    with pytest.raises(ConfigError, match=r"LOG_ANALYTICS_MEMORY_LIMIT: memory_limit must be at least 64MB"):
        load_settings(None, env={"LOG_ANALYTICS_MEMORY_LIMIT": "1MB"})
    with pytest.raises(ConfigError, match=r"memory_limit must be a size"):
        load_settings(None, env={}, memory_limit="12")


@pytest.fixture
def served_limit(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`serve` stops where it would start serving, recording its store's DuckDB memory limit."""
    seen: list[str] = []

    def record(server: uvicorn.Server, sockets: Any = None) -> None:
        seen.append(_setting(server.config.app.state.engine, "memory_limit"))  # type: ignore[attr-defined]

    monkeypatch.setattr(uvicorn.Server, "run", record)
    return seen


def test_serve_takes_memory_limit_from_its_flag_env_and_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, served_limit: list[str]
) -> None:
    """`--memory-limit`, LOG_ANALYTICS_MEMORY_LIMIT and `[server] memory_limit` reach the server's
    DuckDB, the flag over the variable over the file; a bad flag exits 2 naming it."""
    config = tmp_path / "server.toml"
    config.write_text('[server]\nmemory_limit = "200MB"\n')
    serve = ["serve", "--data", str(tmp_path / "d"), "--port", str(free_port())]
    monkeypatch.delenv("LOG_ANALYTICS_MEMORY_LIMIT", raising=False)
    for args, env in (
        (["--config", str(config)], {}),
        (["--config", str(config)], {"LOG_ANALYTICS_MEMORY_LIMIT": "300MB"}),
        (["--config", str(config), "--memory-limit", "400MB"], {"LOG_ANALYTICS_MEMORY_LIMIT": "300MB"}),
    ):
        result = runner.invoke(app, [*serve, *args], env=env)
        assert result.exit_code == 0, result.output
    assert served_limit == [_duckdb_shows("200MB"), _duckdb_shows("300MB"), _duckdb_shows("400MB")]
    result = runner.invoke(app, [*serve, "--memory-limit", "8MB"])
    assert result.exit_code == 2
    assert "memory_limit must be at least 64MB, got '8MB'" in result.output


def _wide_logs(path: Path, count: int) -> list[str]:
    """`count` logs of ~400-byte messages, each unique; their messages."""
    messages = [f"{(i * 7919) % count:07d} " + "lorem ipsum dolor sit amet " * 15 for i in range(count)]
    with path.open("w") as out:
        for i, message in enumerate(messages):
            out.write(
                json.dumps({"timestamp": 1_753_099_200 + i, "level": "INFO", "message": message}) + "\n"
            )
    return messages


@pytest.fixture(scope="module")
def small_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LogAnalyticsEngine, list[str]]]:
    """An engine in memory held to the floor of 64MB, given ~130 MB of logs (300k), and their messages."""
    work = tmp_path_factory.mktemp("wide")
    messages = _wide_logs(work / "wide.jsonl", 300_000)
    with LogAnalyticsEngine(memory_limit="64MB") as engine:
        assert engine.ingest_logs_from_file(work / "wide.jsonl")["count"] == len(messages)
        yield engine, messages


def test_logs_past_the_limit_spill_to_disk_and_stay_exact(
    small_engine: tuple[LogAnalyticsEngine, list[str]],
) -> None:
    """An engine in memory given twice its limit in logs writes what does not fit to DuckDB's
    temporary files instead of growing past it, and answers from them exactly."""
    engine, messages = small_engine
    spilled = engine._store.store.rows("SELECT coalesce(sum(size), 0) FROM duckdb_temporary_files()")  # type: ignore[attr-defined]
    assert spilled[0][0] > 0
    assert engine.count() == len(messages)
    newest = engine.search("*", limit=3)
    assert [log.message for log in newest.logs] == messages[-1:-4:-1]
    assert newest.total == len(messages)


def test_a_query_past_the_limit_fails_naming_it(small_engine: tuple[LogAnalyticsEngine, list[str]]) -> None:
    """A query whose work does not fit the limit even spilling (300k groups of 430-byte keys, in
    order, at 64MB) fails with a QueryError naming memory_limit, not DuckDB's own error (which names
    settings of its own); the engine answers the next query."""
    engine, messages = small_engine
    with pytest.raises(QueryError, match=r"needs more memory than the store's memory_limit of 64MB"):
        engine.run("* | stats by (message) count() as n | sort by (n desc) | limit 2")
    assert engine.count() == len(messages)


def test_dropping_index_pages_leaves_their_content_and_other_mappings(tmp_path: Path) -> None:
    """`drop_mapped_pages` advises only this process's read-only mappings of files under the
    directory (their bytes counted), not other files nor writable mappings; what they map reads the
    same after (the pages come back from the file)."""
    index = tmp_path / "index"
    index.mkdir()
    segment, other, written = index / "seg.idx", tmp_path / "other.bin", index / "meta.tmp"
    segment.write_bytes(os.urandom(1 << 20))
    other.write_bytes(b"x" * (64 << 10))
    written.write_bytes(b"y" * (64 << 10))
    with segment.open("rb") as a, other.open("rb") as b, written.open("r+b") as c:
        maps = [
            mmap.mmap(a.fileno(), 0, access=mmap.ACCESS_READ),
            mmap.mmap(b.fileno(), 0, access=mmap.ACCESS_READ),
            mmap.mmap(c.fileno(), 0, access=mmap.ACCESS_WRITE),
        ]
        before = [m[:] for m in maps]  # every page touched, so resident
        assert drop_mapped_pages(str(index)) == 1 << 20
        assert [m[:] for m in maps] == before
        for m in maps:
            m.close()
    assert drop_mapped_pages(str(tmp_path / "nothing-mapped")) == 0
