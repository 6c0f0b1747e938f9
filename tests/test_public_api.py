"""The package's public surface: `__all__` and import without side effects."""

from __future__ import annotations

import subprocess
import sys

import log_analytics_engine

EXPECTED = {
    "Alert",
    "AlertRule",
    "AlertSeverity",
    "ConfigError",
    "IngestError",
    "LogAnalyticsEngine",
    "LogAnalyticsError",
    "LogEntry",
    "QueryError",
    "QueryResult",
    "QuerySyntaxError",
    "SearchResult",
    "StorageError",
}


def test_all_is_exactly_the_public_names() -> None:
    """`__all__` lists exactly the documented public names, each importable from the package."""
    assert set(log_analytics_engine.__all__) == EXPECTED
    assert len(log_analytics_engine.__all__) == len(EXPECTED)
    for name in EXPECTED:
        assert getattr(log_analytics_engine, name) is not None


def test_readme_imports_work() -> None:
    """The README's import lines work as written."""
    from log_analytics_engine import AlertRule, AlertSeverity, LogAnalyticsEngine, LogEntry

    assert all((AlertRule, AlertSeverity, LogAnalyticsEngine, LogEntry))


def test_errors_share_one_root() -> None:
    """Every public error derives from LogAnalyticsError and carries an HTTP status."""
    from log_analytics_engine import ConfigError, IngestError, LogAnalyticsError, QueryError, StorageError

    for cls in (ConfigError, IngestError, QueryError, StorageError):
        assert issubclass(cls, LogAnalyticsError)
        assert isinstance(cls.status, int)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_does_not_configure_logging() -> None:
    """Importing the package (in a fresh interpreter) leaves the root logger's handlers and level alone."""
    done = _run(
        "import logging\n"
        "root = logging.getLogger()\n"
        "before = (list(root.handlers), root.level)\n"
        "import log_analytics_engine, log_analytics_engine.engine\n"
        "after = (list(root.handlers), root.level)\n"
        "assert before == after, (before, after)\n"
        "assert not root.handlers, root.handlers\n"
        "print('ok')\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_engine_use_does_not_configure_logging() -> None:
    """Creating and using an engine adds no handler to the root logger."""
    done = _run(
        "import logging\n"
        "from log_analytics_engine import LogAnalyticsEngine, LogEntry\n"
        "e = LogAnalyticsEngine()\n"
        "e.ingest_log(LogEntry('2025-07-21T12:00:00Z', 'INFO', 'hello'))\n"
        "e.close()\n"
        "assert not logging.getLogger().handlers, logging.getLogger().handlers\n"
        "print('ok')\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
