"""The HTTP server: `create_app(engine, settings)` and its settings."""
