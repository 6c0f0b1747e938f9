"""The `log-analytics` command line: ingest, query and stats on an embedded store, and a demo."""

from log_analytics_engine.cli.app import main

__all__ = ["main"]
