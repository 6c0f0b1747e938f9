"""Storage: the Store protocol and the embedded store (DuckDB rows + tantivy text index)."""
