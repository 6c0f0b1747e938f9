"""Typer application: one command per verb, each working on the embedded store in `--data`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from log_analytics_engine.engine import LogAnalyticsEngine
from log_analytics_engine.errors import LogAnalyticsError
from log_analytics_engine.model import LogEntry

DEFAULT_DATA = Path("log-analytics-data")
app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
DataDir = Annotated[Path, typer.Option("--data", help="Data directory of the embedded store.")]


def _console() -> Console:
    return Console(highlight=False)


def _fail(exc: LogAnalyticsError) -> typer.Exit:
    """Report an engine error on stderr, unwrapped, and give the exit to raise (status 2)."""
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


def _open(data: Path) -> LogAnalyticsEngine:
    try:
        return LogAnalyticsEngine(path=data)
    except LogAnalyticsError as exc:
        raise _fail(exc) from exc


def _logs_table(logs: list[LogEntry], title: str) -> Table:
    table = Table(title=title, show_lines=False)
    for column in ("timestamp", "level", "source", "message"):
        table.add_column(column, overflow="fold")
    for log in logs:
        table.add_row(log.timestamp, log.level, log.source, log.message[:200])
    return table


@app.command()
def ingest(
    path: Annotated[Path, typer.Argument(help="A JSONL or text file (gzip too), or a directory.")],
    data: DataDir = DEFAULT_DATA,
    file_type: Annotated[str, typer.Option("--type", help="jsonl, text or auto.")] = "auto",
    dead_letter: Annotated[Path | None, typer.Option(help="Append rejected lines to this file.")] = None,
) -> None:
    """Ingest a file or directory into the store and print the report."""
    with _open(data) as engine:
        try:
            report = engine.ingest_logs_from_file(path, file_type, dead_letter=dead_letter)
        except LogAnalyticsError as exc:
            raise _fail(exc) from exc
    console = _console()
    console.print(
        f"stored {report['count']:,} logs from {report['file']} in {report['duration_sec']:.2f} s "
        f"({report['logs_per_sec']:,.0f} logs/s, {report['mb_per_sec']:.1f} MB/s); "
        f"rejected {report['rejected']:,}, bad timestamps {report['bad_timestamps']:,}"
    )
    for item in report["rejected_lines"][:10]:
        where = f"{item['file']}:" if "file" in item else ""
        console.print(f"  [yellow]line {where}{item['line']}[/yellow]: {item['reason']}")


@app.command()
def query(
    data: DataDir = DEFAULT_DATA,
    level: Annotated[list[str] | None, typer.Option(help="Level (repeat for any of several).")] = None,
    source: Annotated[str | None, typer.Option(help="Source equals.")] = None,
    keyword: Annotated[str | None, typer.Option(help="Whole word (or phrase) in the message.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Has this tag (repeat for any of several).")] = None,
    since: Annotated[str | None, typer.Option(help="Event time at or after (RFC 3339 or epoch).")] = None,
    until: Annotated[str | None, typer.Option(help="Event time at or before.")] = None,
    limit: Annotated[int, typer.Option(help="How many logs to show.")] = 20,
    oldest_first: Annotated[bool, typer.Option(help="Oldest first instead of newest first.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead of a table.")] = False,
) -> None:
    """Show the newest logs matching the filters, and how many match in all."""
    filters: dict[str, Any] = {
        "level": level or None,
        "source": source,
        "keyword": keyword,
        "tags": tag or None,
        "start_time": since,
        "end_time": until,
    }
    with _open(data) as engine:
        try:
            logs = engine.query_logs(filters, sort_desc=not oldest_first, page=0, page_size=limit)
            total = engine.count(filters)
        except LogAnalyticsError as exc:
            raise _fail(exc) from exc
    if as_json:
        for log in logs:
            sys.stdout.write(json.dumps(log.to_dict()) + "\n")
        return
    _console().print(_logs_table(logs, f"{len(logs)} of {total:,} matching logs"))


@app.command()
def stats(
    data: DataDir = DEFAULT_DATA,
    prometheus: Annotated[bool, typer.Option(help="Print the Prometheus exposition instead.")] = False,
) -> None:
    """Print the store's statistics as JSON (or Prometheus text)."""
    with _open(data) as engine:
        if prometheus:
            sys.stdout.write(engine.export_metrics_prometheus())
            return
        sys.stdout.write(json.dumps(engine.get_stats(), indent=2) + "\n")


@app.command()
def demo(
    data: DataDir = DEFAULT_DATA,
    logs: Annotated[int, typer.Option(help="How many demo logs to generate.")] = 200_000,
) -> None:
    """Generate a day of realistic logs with an incident, ingest them, and run example queries."""
    from log_analytics_engine.demo import run_demo

    run_demo(data, logs, _console())


@app.command()
def serve(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Data directory (default: log-analytics-data; --demo: memory)."),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8080).")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML config file (see the README).")] = None,
    demo: Annotated[bool, typer.Option(help="Load a generated day of demo logs and an alert rule.")] = False,
    demo_logs: Annotated[int, typer.Option(help="How many demo logs.")] = 100_000,
    insecure: Annotated[bool, typer.Option(help="Allow listening beyond loopback without API keys.")] = False,
) -> None:
    """Run the HTTP server (API under /api/v1, OpenAPI at /openapi.json, metrics at /metrics)."""
    import uvicorn

    from log_analytics_engine.server.app import create_app
    from log_analytics_engine.server.demo import load_demo
    from log_analytics_engine.server.settings import load_settings

    try:
        settings = load_settings(config, host=host, port=port, data=data, insecure=insecure or None)
        settings.check_bind()
        path = settings.data if settings.data is not None or demo else DEFAULT_DATA
        engine = LogAnalyticsEngine(path=path)
    except LogAnalyticsError as exc:
        raise _fail(exc) from exc
    console = _console()

    def stop() -> None:  # on uvicorn's graceful shutdown, after the last request
        engine.close()
        console.print("stopped; the store is closed and flushed")
        console.file.flush()  # the process ends by the re-raised signal right after

    try:
        if settings.rules is not None:
            engine.load_alert_rules(settings.rules)
        if demo:
            added = load_demo(engine, demo_logs)
            console.print(f"demo: {added:,} logs loaded, alert rule {'payments errors'!r} watching")
        where = "in memory" if path is None else f"in {path}"
        console.print(f"serving on http://{settings.host}:{settings.port} (data {where}); Ctrl-C stops")
        console.file.flush()
        app_ = create_app(engine, settings, on_shutdown=stop)
        uvicorn.run(app_, host=settings.host, port=settings.port, log_level="warning")
    except LogAnalyticsError as exc:
        raise _fail(exc) from exc
    finally:
        engine.close()  # a no-op after a graceful stop


@app.command()
def keygen(
    name: Annotated[str, typer.Option(help="A name for the key (shown in errors and logs).")] = "key",
    scopes: Annotated[str, typer.Option(help="Comma-separated: ingest, query, admin.")] = "ingest,query",
) -> None:
    """Make a random API key; print it once, with the config lines that accept it (only its hash)."""
    import secrets

    from log_analytics_engine.server.settings import SCOPES, hash_key

    chosen = [s.strip() for s in scopes.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown or not chosen:
        typer.echo(f"error: scopes must be some of {', '.join(SCOPES)}; got {scopes!r}", err=True)
        raise typer.Exit(2)
    key = secrets.token_urlsafe(32)
    typer.echo(f"key: {key}\n")
    typer.echo("[[api_keys]]")
    typer.echo(f'name = "{name}"')
    typer.echo(f'sha256 = "{hash_key(key)}"')
    typer.echo("scopes = [" + ", ".join(f'"{s}"' for s in chosen) + "]")


def main() -> None:
    """Console-script entry point."""
    app()
