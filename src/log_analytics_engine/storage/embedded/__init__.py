"""The embedded store: DuckDB holds every row, a tantivy text index follows, a write-ahead log
acknowledges writes; everything here speaks DuckDB SQL, nothing outside `storage/embedded/` does."""

from log_analytics_engine.storage.embedded.store import EmbeddedStore

__all__ = ["EmbeddedStore"]
