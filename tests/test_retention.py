"""Retention (storage/retention.py): logs kept by age and the directory by size, whole UTC event days
at a time, oldest first, on open and in the background; exact afterwards (text index too), counted in
stats and metrics, configured from the constructor, the config file, the environment and flags."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from log_analytics_engine import LogAnalyticsEngine, LogEntry
from log_analytics_engine.errors import ConfigError
from log_analytics_engine.server.settings import load_settings
from log_analytics_engine.storage import retention as retention_module
from log_analytics_engine.storage.retention import RetentionPolicy, parse_age, parse_size

NS = 1_000_000_000
DAY = 86_400
NOW = 1_753_099_200 + 10 * DAY + 3_600  # 2025-07-31T01:00:00Z


def _day_logs(days_ago: int, n: int = 40, word: str = "disk") -> list[LogEntry]:
    start = (NOW // DAY - days_ago) * DAY
    return [
        LogEntry(
            (start + i * 60) * NS,
            "ERROR" if i % 4 == 0 else "INFO",
            f"{word} event {i} day{days_ago}",
            source=f"s{i % 3}",
            metadata={"day": days_ago, "n": i},
        )
        for i in range(n)
    ]


def _fill(path: Path, days: range) -> None:
    with LogAnalyticsEngine(path, clock=lambda: NOW, alert_interval=None) as engine:
        for ago in days:
            engine.ingest_logs(_day_logs(ago))
        engine.flush()


def test_sizes_and_ages_parse_and_bad_ones_are_named() -> None:
    """Ages take h, d or w; sizes decimal and binary units or bytes; anything else names the setting."""
    assert parse_age("30d") == 30 * DAY * NS
    assert parse_age(" 12h ") == 12 * 3600 * NS
    assert parse_age("2w") == 14 * DAY * NS
    assert parse_size("20GB") == 20 * 10**9
    assert parse_size("512MiB") == 512 * 2**20
    assert parse_size("1.5kb") == 1500
    assert parse_size("4096") == 4096
    for bad in ("30", "0d", "-1d", "30 days", "1.5d", ""):
        with pytest.raises(ConfigError, match="retention must be"):
            parse_age(bad)
    for bad in ("20 gigabytes", "0", "GB", "-5MB"):
        with pytest.raises(ConfigError, match="max_disk must be"):
            parse_size(bad)
    assert not RetentionPolicy.of(None, None)


def test_open_drops_the_days_past_the_age_exactly(tmp_path: Path) -> None:
    """Opening with retention 3d drops the days wholly older than 3 days; every query, the text
    index's too, sees only the days kept; the drop is counted in stats and metrics."""
    _fill(tmp_path / "d", range(8))
    with LogAnalyticsEngine(tmp_path / "d", clock=lambda: NOW, retention="3d", alert_interval=None) as engine:
        kept = {e.metadata["day"] for e in engine.query_logs({})}
        # today and the 3 days before it: day 3 ends less than 3 days before now
        assert kept == {0, 1, 2, 3}
        assert engine.count() == 4 * 40
        assert engine.search("disk", limit=1000).total == 4 * 40  # answered by the text index
        assert engine.search("day5").total == 0
        assert engine.run("level:ERROR | stats count() as n").rows == [{"n": 4 * 10}]
        stats = engine.get_stats()
        assert stats["retention_dropped_days"] == 4
        assert stats["retention_dropped_logs"] == 4 * 40
        assert stats["retention_runs"] == 1
        assert stats["retention_max_age_seconds"] == 3 * DAY
        metrics = engine.export_metrics_prometheus()
        assert "loganalytics_retention_dropped_logs_total 160.0" in metrics
        assert "loganalytics_retention_dropped_days_total 4.0" in metrics


def test_the_background_pass_drops_days_as_the_clock_moves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the engine runs, a pass every RETENTION_SECONDS drops the days that aged past the bound."""
    monkeypatch.setattr(retention_module, "RETENTION_SECONDS", 0.05)
    clock = [float(NOW)]
    _fill(tmp_path / "d", range(4))
    with LogAnalyticsEngine(tmp_path / "d", clock=lambda: clock[0], retention="5d", alert_interval=None) as e:
        assert e.count() == 4 * 40
        clock[0] += 4 * DAY  # days 2 and 3 now end more than 5 days ago
        deadline = time.monotonic() + 10
        while e.get_stats()["retention_dropped_days"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert {x.metadata["day"] for x in e.query_logs({})} == {0, 1}


def test_late_and_future_logs_are_days_of_their_own(tmp_path: Path) -> None:
    """A log from 40 days ago ingested now goes at the next pass; one dated next year stays."""
    with LogAnalyticsEngine(tmp_path / "d", clock=lambda: NOW, retention="30d", alert_interval=None) as e:
        late = _day_logs(40, 3, "late")
        future = [LogEntry((NOW + 365 * DAY) * NS, "INFO", "future note")]
        e.ingest_logs([*_day_logs(0, 5), *late, *future])
        assert e.count() == 9
        assert e.apply_retention() == 3
        assert e.count() == 6
        assert e.search("late").total == 0
        assert e.search("future").total == 1
        assert e.get_stats()["retention_dropped_logs"] == 3


def test_the_size_bound_drops_the_oldest_days_first(tmp_path: Path) -> None:
    """max_disk drops the oldest days until the live data fits; the newest day is never dropped, and
    a newest day alone over the bound is reported (over_disk)."""
    _fill(tmp_path / "d", range(6))
    with LogAnalyticsEngine(tmp_path / "d", clock=lambda: NOW, alert_interval=None) as engine:
        usage = engine.get_stats()["disk_usage"]
        assert usage > 0
    half = f"{usage // 2}"
    with LogAnalyticsEngine(tmp_path / "d", clock=lambda: NOW, max_disk=half, alert_interval=None) as engine:
        stats = engine.get_stats()
        kept = sorted({e.metadata["day"] for e in engine.query_logs({})})
        assert kept == list(range(len(kept)))  # the newest days, without a gap
        assert 0 < len(kept) < 6
        assert stats["retention_dropped_days"] == 6 - len(kept)
        for _ in range(3):  # the space freed is counted free: later passes drop nothing more
            assert engine.apply_retention() == 0
        assert sorted({e.metadata["day"] for e in engine.query_logs({})}) == kept
    with LogAnalyticsEngine(tmp_path / "d", clock=lambda: NOW, max_disk="1", alert_interval=None) as engine:
        assert {e.metadata["day"] for e in engine.query_logs({})} == {0}
        assert engine.get_stats()["retention_over_disk"] is True


def test_max_disk_needs_a_directory() -> None:
    """An in-memory engine has no disk to bound: max_disk is refused, naming why."""
    with pytest.raises(ConfigError, match="max_disk needs a data directory"):
        LogAnalyticsEngine(max_disk="1GB")


def test_settings_read_retention_from_file_env_and_flags(tmp_path: Path) -> None:
    """[server] retention/max_disk, LOG_ANALYTICS_RETENTION/_MAX_DISK and flags, later ones winning;
    a bad value is a ConfigError naming the setting before anything opens."""
    config = tmp_path / "c.toml"
    config.write_text('[server]\nretention = "30d"\nmax_disk = "20GB"\n')
    settings = load_settings(config, env={})
    assert (settings.retention, settings.max_disk) == ("30d", "20GB")
    settings = load_settings(config, env={"LOG_ANALYTICS_RETENTION": "7d", "LOG_ANALYTICS_MAX_DISK": "1GiB"})
    assert (settings.retention, settings.max_disk) == ("7d", "1GiB")
    assert load_settings(config, env={}, retention="2w").retention == "2w"
    with pytest.raises(ConfigError, match="retention must be"):
        load_settings(None, env={"LOG_ANALYTICS_RETENTION": "forever"})
    config.write_text('[server]\nmax_disk = "lots"\n')
    with pytest.raises(ConfigError, match="max_disk must be"):
        load_settings(config, env={})
