"""`log-analytics`: ingest, query, tail, stats, alert rules and alerts, delete and backup — on the
embedded store in a data directory (`--data`), or on a running server (`--url`, with `--api-key` when
it needs one) — plus `serve`, `keygen` and `demo`."""

from __future__ import annotations

import csv
import errno
import json
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from log_analytics_engine.cli.backend import Backend, Embedded, Remote
from log_analytics_engine.engine import LogAnalyticsEngine
from log_analytics_engine.errors import ConfigError, LogAnalyticsError
from log_analytics_engine.memory import MEMORY_LIMIT
from log_analytics_engine.query.ast import Node, conjoin
from log_analytics_engine.query.dictfilters import compile_filters
from log_analytics_engine.query.parser import parse_filter
from log_analytics_engine.query.printer import to_text

DEFAULT_DATA = Path("log-analytics-data")
app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
rules_app = typer.Typer(
    no_args_is_help=True, help="List, add and remove alert rules (of a data directory or a server)."
)
app.add_typer(rules_app, name="rules")

DataDir = Annotated[
    Path | None,
    typer.Option("--data", help="Data directory of the embedded store [default: log-analytics-data]."),
]
Url = Annotated[
    str | None,
    typer.Option("--url", envvar="LOG_ANALYTICS_URL", help="A running server's URL (instead of --data)."),
]
ApiKeyOpt = Annotated[
    str | None, typer.Option("--api-key", envvar="LOG_ANALYTICS_API_KEY", help="API key for --url.")
]
Recover = Annotated[
    bool,
    typer.Option(
        "--recover",
        help="Open a data directory that came back short of committed logs (a damaged write-ahead log) "
        "with the logs that survived; the loss is logged and the damaged file kept.",
    ),
]


def _console() -> Console:
    console = Console(highlight=False)
    # Piped or redirected, a line of text stays one line (Rich would fold it at 80 columns, and a
    # script reading the report would see it broken); tables still fit the width.
    console.soft_wrap = not console.is_terminal
    return console


def _fail(exc: LogAnalyticsError) -> typer.Exit:
    """Report an engine error on stderr, unwrapped, and give the exit to raise (status 2)."""
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


@contextmanager
def _backend(
    data: Path | None,
    url: str | None,
    api_key: str | None,
    create: bool = False,
    recover: bool = False,
    timezone: str = "UTC",
    format_file: Path | None = None,
) -> Iterator[Backend]:
    """The store the command works on; errors (busy, missing or damaged directory, unreachable
    server…) exit with 2. Only `create` (ingest) makes a data directory that does not exist."""
    if data is not None and url is not None:
        typer.echo("error: give --data or --url, not both", err=True)
        raise typer.Exit(2)
    if recover and url is not None:
        typer.echo("error: --recover opens a data directory (--data), not a server (--url)", err=True)
        raise typer.Exit(2)
    if url is not None and (timezone != "UTC" or format_file is not None):
        typer.echo(
            "error: --timezone and --format-file are the server's settings ([ingest] in its config)", err=True
        )
        raise typer.Exit(2)
    try:
        backend: Backend = (
            Remote(url, api_key)
            if url
            else Embedded(data or DEFAULT_DATA, create, recover, timezone, format_file)
        )
    except LogAnalyticsError as exc:
        raise _fail(exc) from exc
    try:
        yield backend
    except LogAnalyticsError as exc:
        raise _fail(exc) from exc
    finally:
        backend.close()


# Columns holding times: never wrapped or folded (a timestamp broken over two lines cannot be read
# back or grepped); the table narrows the other columns instead.
TIME_COLUMNS = {"timestamp", "_time", "time", "ingested_at", "triggered_at", "resolved_at"}


def _add_column(table: Table, column: str) -> None:
    if column in TIME_COLUMNS:
        table.add_column(column, no_wrap=True, overflow="ignore")
    else:
        table.add_column(column, overflow="fold")


def _logs_table(logs: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, show_lines=False)
    for column in ("timestamp", "level", "source", "message"):
        _add_column(table, column)
    for log in logs:
        table.add_row(log["timestamp"], log["level"], log["source"], str(log["message"])[:200])
    return table


def _rows_table(columns: list[str], rows: list[dict[str, Any]]) -> Table:
    table = Table(show_lines=False)
    for column in columns:
        _add_column(table, column)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    return table


def _write(records: list[dict[str, Any]], columns: list[str], fmt: str) -> None:
    """Records to stdout as ndjson or csv."""
    if fmt == "ndjson":
        for record in records:
            sys.stdout.write(json.dumps(record) + "\n")
        return
    out = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore")
    out.writeheader()
    for record in records:
        out.writerow({k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in record.items()})


@app.command()
def ingest(
    path: Annotated[
        Path,
        typer.Argument(
            help="A JSONL or text file (gzip too), a directory, or - for stdin (stored as it arrives)."
        ),
    ],
    data: DataDir = None,
    url: Url = None,
    api_key: ApiKeyOpt = None,
    recover: Recover = False,
    file_type: Annotated[
        str, typer.Option("--type", help="auto, jsonl, text (format detected) or a format's name.")
    ] = "auto",
    log_format: Annotated[
        str | None,
        typer.Option(
            "--format", help="Read text as this format (see `log-analytics formats`); same as --type."
        ),
    ] = None,
    timezone: Annotated[str, typer.Option(help="Zone of naive times in text (IANA name).")] = "UTC",
    format_file: Annotated[
        Path | None, typer.Option(help="TOML file of your own formats ([formats.NAME] tables).")
    ] = None,
    dead_letter: Annotated[Path | None, typer.Option(help="Append rejected lines to this file.")] = None,
) -> None:
    """Ingest a file, a directory or stdin, with a progress bar, then print the report. Exit status 2
    when a gzip file is damaged (the lines before the damage are stored)."""
    console = _console()
    if log_format is not None:
        file_type = log_format
    with _backend(data, url, api_key, True, recover, timezone, format_file) as backend:
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task(f"ingesting {path} into {backend.where}")

            def progress(nbytes: int, logs: int) -> None:
                seconds = max(bar.tasks[0].elapsed or 0.0, 1e-9)
                text = f"{nbytes / 1e6:,.1f} MB, {logs:,} logs ({logs / seconds:,.0f} logs/s)"
                bar.update(task, description=f"ingesting {path}: {text}")

            report = backend.ingest(path, file_type, progress, dead_letter)
    console.print(
        f"stored {report['count']:,} logs from {report['file']} in {report['duration_sec']:.2f} s "
        f"({report['logs_per_sec']:,.0f} logs/s, {report['mb_per_sec']:.1f} MB/s); "
        f"rejected {report['rejected']:,}, bad timestamps {report['bad_timestamps']:,}"
    )
    if report.get("formats"):
        formats = ", ".join(f"{name} {n:,}" for name, n in report["formats"].items())
        console.print(
            f"  formats: {escape(formats)}; without a time of their own: {report['no_timestamp']:,}"
        )
    for item in report["rejected_lines"][:10]:
        where = f"{item['file']}:" if "file" in item else ""
        console.print(f"  [yellow]line {escape(where)}{item['line']}[/yellow]: {escape(item['reason'])}")
    if report["rejected"] > 10:
        console.print(f"  … and {report['rejected'] - 10:,} more rejected lines")
    for item in report["skipped_files"]:
        skipped, why = escape(item["file"]), escape(item["reason"])
        console.print(f"  [yellow]skipped {skipped}[/yellow]: not a log: {why}")
    if report["skipped"] > len(report["skipped_files"]):
        console.print(f"  … and {report['skipped'] - len(report['skipped_files']):,} more skipped files")
    for item in report["damaged_files"]:
        typer.echo(
            f"error: {item['file']}: damaged gzip at byte {item['offset']:,}: {item['reason']}; "
            "the whole lines before the damage were stored, nothing after it",
            err=True,
        )
    if report["damaged"]:
        raise typer.Exit(2)


def _query_text(query: str, filters: dict[str, Any]) -> str:
    """The query text, ANDed with the dict-style options given (as the query language writes them)."""
    parts: list[Node] = [compile_filters({k: v for k, v in filters.items() if v})]
    if "|" in query:
        if any(filters.values()):
            raise LogAnalyticsError("filter options cannot be combined with a query that has pipes")
        return query
    parts.append(parse_filter(query))
    return to_text(conjoin(parts))


@app.command()
def query(
    text: Annotated[
        str, typer.Argument(help="Query text, pipes too: 'error | stats by (source) count()'.")
    ] = "*",
    data: DataDir = None,
    url: Url = None,
    api_key: ApiKeyOpt = None,
    recover: Recover = False,
    level: Annotated[list[str] | None, typer.Option(help="Level (repeat for any of several).")] = None,
    source: Annotated[str | None, typer.Option(help="Source equals.")] = None,
    keyword: Annotated[str | None, typer.Option(help="Whole word (or phrase) in the message.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Has this tag (repeat for any of several).")] = None,
    since: Annotated[str | None, typer.Option(help="Event time at or after (RFC 3339 or epoch).")] = None,
    until: Annotated[str | None, typer.Option(help="Event time at or before.")] = None,
    limit: Annotated[
        int | None,
        typer.Option(help="How many logs (or rows of a pipe query) to show [default: 20 logs, all rows]."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    as_ndjson: Annotated[bool, typer.Option("--ndjson", help="Print one JSON object per line.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV with a header.")] = False,
) -> None:
    """Show the newest logs matching a query (and how many match), or a pipe query's table."""
    filters = {"level": level, "source": source, "keyword": keyword, "tags": tag}
    filters |= {"start_time": since, "end_time": until}
    with _backend(data, url, api_key, recover=recover) as backend:
        q = _query_text(text, filters)
        if "|" in q:
            # One row more than asked shows whether the limit cut the result (said on stderr).
            result = backend.run(q if limit is None else f"{q} | limit {limit + 1}")
            if limit is not None and len(result["rows"]) > limit:
                result["rows"] = result["rows"][:limit]
                typer.echo(f"note: the first {limit:,} rows shown (--limit {limit})", err=True)
            columns, records = result["columns"], result["rows"]
            for warning in result.get("warnings", []):
                typer.echo(f"warning: {warning}", err=True)
            document: Any = result
            title = None
        else:
            result = backend.search(q, 20 if limit is None else limit)
            columns = ["timestamp", "level", "source", "message", "tags", "metadata"]
            records, document = result["logs"], result
            title = f"{len(records)} of {result['total']:,} matching logs"
    if as_json:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    elif as_ndjson or as_csv:
        _write(records, columns, "ndjson" if as_ndjson else "csv")
    elif title is not None:
        _console().print(_logs_table(records, title))
    else:
        _console().print(_rows_table(columns, records))


@app.command()
def tail(
    text: Annotated[str, typer.Argument(help="Query text of the logs to follow.")] = "*",
    data: DataDir = None,
    url: Url = None,
    api_key: ApiKeyOpt = None,
    recover: Recover = False,
    as_ndjson: Annotated[bool, typer.Option("--ndjson", help="Print one JSON object per line.")] = False,
) -> None:
    """Follow new logs matching the query as they arrive (Ctrl-C stops). On a data directory it
    looks for new logs every second, releasing the directory in between so other commands write."""
    console = _console()
    with _backend(data, url, api_key, recover=recover) as backend:
        if "|" in text:
            raise _fail(LogAnalyticsError("tail follows logs: give a filter, without pipes"))
        parse_filter(text)

        def ready() -> None:
            typer.echo(f"following {text!r} on {backend.where} (Ctrl-C stops)", err=True)

        def notice(message: str) -> None:
            typer.echo(message, err=True)

        try:
            for log in backend.tail(text, ready, notice):
                if as_ndjson:
                    sys.stdout.write(json.dumps(log) + "\n")
                    sys.stdout.flush()
                else:
                    console.print(f"{log['timestamp']} {log['level']:<5} {log['source']}: {log['message']}")
        except KeyboardInterrupt:
            return


@app.command()
def stats(
    data: DataDir = None,
    url: Url = None,
    api_key: ApiKeyOpt = None,
    recover: Recover = False,
    prometheus: Annotated[bool, typer.Option(help="Print the Prometheus exposition instead.")] = False,
) -> None:
    """Print the store's statistics as JSON (or Prometheus text)."""
    with _backend(data, url, api_key, recover=recover) as backend:
        sys.stdout.write(backend.metrics() if prometheus else json.dumps(backend.stats(), indent=2) + "\n")


@rules_app.command("list")
def rules_list(
    url: Url = None,
    api_key: ApiKeyOpt = None,
    data: DataDir = None,
    recover: Recover = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (the rules-file schema).")] = False,
) -> None:
    """The alert rules of a data directory or a server."""
    with _backend(data, url, api_key, recover=recover) as backend:
        rules = backend.rules()
    if as_json:
        sys.stdout.write(json.dumps(rules, indent=2) + "\n")
        return
    for rule in rules:
        rule["matches"] = rule.get("query") or json.dumps(rule.get("conditions", {}))
    _console().print(
        _rows_table(["name", "matches", "threshold", "time_window", "severity", "enabled"], rules)
    )


@rules_app.command("add")
def rules_add(
    name: Annotated[str, typer.Argument(help="The rule's name (an existing rule of that name is replaced).")],
    query_text: Annotated[str, typer.Option("--query", help="The logs it counts, in the query language.")],
    threshold: Annotated[int, typer.Option(help="Fire at this many matches in the window.")] = 1,
    window: Annotated[int, typer.Option(help="The window, in seconds.")] = 300,
    cooldown: Annotated[int, typer.Option(help="No second firing within this many seconds.")] = 600,
    severity: Annotated[str, typer.Option(help="low, medium, high or critical.")] = "medium",
    description: Annotated[str, typer.Option(help="What the rule means.")] = "",
    url: Url = None,
    api_key: ApiKeyOpt = None,
    data: DataDir = None,
    recover: Recover = False,
) -> None:
    """Add or replace an alert rule (kept across restarts) in a data directory or on a server."""
    rule = {"name": name, "query": query_text, "threshold": threshold, "time_window": window}
    rule |= {"cooldown": cooldown, "severity": severity, "description": description}
    with _backend(data, url, api_key, create=True, recover=recover) as backend:
        stored = backend.put_rule(rule)
    _console().print(f"rule {stored['name']!r} saved")


@rules_app.command("rm")
def rules_rm(
    name: Annotated[str, typer.Argument(help="The rule to remove.")],
    url: Url = None,
    api_key: ApiKeyOpt = None,
    data: DataDir = None,
    recover: Recover = False,
) -> None:
    """Remove an alert rule from a data directory or a server."""
    with _backend(data, url, api_key, recover=recover) as backend:
        backend.delete_rule(name)
    _console().print(f"rule {name!r} removed")


@app.command()
def alerts(
    data: DataDir = None,
    url: Url = None,
    api_key: ApiKeyOpt = None,
    recover: Recover = False,
    rule: Annotated[str | None, typer.Option(help="Only this rule's alerts.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The alerts fired, newest first."""
    with _backend(data, url, api_key, recover=recover) as backend:
        found = backend.alerts(rule, limit)
    if as_json:
        sys.stdout.write(json.dumps(found, indent=2) + "\n")
        return
    columns = ["triggered_at", "rule_name", "severity", "count", "status", "message"]
    _console().print(_rows_table(columns, found))  # times are RFC 3339 text (Alert.to_dict)


def _on_a_terminal() -> bool:
    """Whether a person may be typing (stdin is a terminal): destructive commands ask first."""
    return sys.stdin.isatty()


@app.command()
def delete(
    text: Annotated[str, typer.Argument(help="The logs to delete: a filter (query language, no pipes).")],
    data: DataDir = None,
    url: Url = None,
    api_key: ApiKeyOpt = None,
    recover: Recover = False,
    start: Annotated[str | None, typer.Option(help="Only logs with an event time at or after this.")] = None,
    end: Annotated[str | None, typer.Option(help="Only logs with an event time at or before this.")] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Allow a filter that matches every log ('' or '*').")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete the stored logs a query matches, from the table and the text index alike (no query
    finds them again); prints how many. On a terminal it first says how many match and asks,
    unless --yes; a server needs an admin key."""
    with _backend(data, url, api_key, recover=recover) as backend:
        if not yes and _on_a_terminal():
            matching = backend.count(text, start, end)
            if not matching:
                _console().print(f"no log matches {text!r} on {backend.where}; nothing deleted")
                return
            if not typer.confirm(f"delete {matching:,} logs matching {text!r} from {backend.where}?"):
                typer.echo("nothing deleted", err=True)
                raise typer.Exit(1)
        deleted = backend.delete(text, start, end, everything)
    _console().print(f"deleted {deleted:,} logs from {backend.where}")


@app.command()
def backup(
    dest: Annotated[
        Path, typer.Argument(help="A new or empty directory (with --url: on the server's machine).")
    ],
    data: DataDir = None,
    url: Url = None,
    api_key: ApiKeyOpt = None,
    recover: Recover = False,
) -> None:
    """Copy a store, consistently, into DEST while it runs: every log stored before, the alerts and
    kept rules, the text index. Restore by opening the copy (`serve --data DEST`, `--data DEST`).
    With --url the server writes the copy (an admin key); --data copies a directory no server owns."""
    with _backend(data, url, api_key, recover=recover) as backend:
        done = backend.backup(dest)
    index = "with its text index" if done["index_copied"] else "its text index is built when first opened"
    _console().print(
        f"backed up {done['rows']:,} logs, {done['alerts']:,} alerts and {done['rules']:,} rules to "
        f"{done['dest']} ({done['bytes'] / 1e6:,.1f} MB, {index}) in {done['seconds']:.2f} s"
    )


@app.command()
def demo(
    data: DataDir = None,
    logs: Annotated[int, typer.Option(help="How many demo logs to generate.")] = 200_000,
) -> None:
    """Generate a day of realistic logs with an incident, ingest them, and run example queries."""
    from log_analytics_engine.demo import run_demo

    run_demo(data or DEFAULT_DATA, logs, _console())


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
    insecure: Annotated[
        bool, typer.Option(help="Allow listening beyond loopback without API keys (syslog: at all).")
    ] = False,
    recover: Recover = False,
    durability: Annotated[
        str | None,
        typer.Option(
            help='When an ingest is answered: "os" (in the WAL, in the OS: survives a killed server) '
            'or "fsync" (on the disk: survives a power loss) [default: os].'
        ),
    ] = None,
    retention: Annotated[
        str | None,
        typer.Option(help="Keep logs this long: 30d, 12h, 2w, whole UTC days ([server] retention)."),
    ] = None,
    max_disk: Annotated[
        str | None,
        typer.Option(
            help="Keep the data's size under this: 20GB, 512MiB, the oldest days first ([server] max_disk)."
        ),
    ] = None,
    memory_limit: Annotated[
        str | None,
        typer.Option(
            help="DuckDB's memory (its cache, sorts, hash tables; past it, work spills to disk), "
            f"a size such as 256MB or 1GiB ([server] memory_limit) [default: {MEMORY_LIMIT}]."
        ),
    ] = None,
    syslog_udp: Annotated[
        str | None, typer.Option(help="Listen for syslog over UDP on HOST:PORT ([syslog] udp).")
    ] = None,
    syslog_tcp: Annotated[
        str | None, typer.Option(help="Listen for syslog over TCP on HOST:PORT ([syslog] tcp).")
    ] = None,
    syslog_tls: Annotated[
        str | None,
        typer.Option(
            help="Listen for syslog over TCP with TLS on HOST:PORT ([syslog] tls; needs cert and key)."
        ),
    ] = None,
    syslog_tls_cert: Annotated[
        Path | None,
        typer.Option(help="PEM certificate (chain) of the syslog TLS listener ([syslog] tls_cert)."),
    ] = None,
    syslog_tls_key: Annotated[
        Path | None, typer.Option(help="PEM private key of the syslog TLS listener ([syslog] tls_key).")
    ] = None,
) -> None:
    """Run the HTTP server (web UI at /, API under /api/v1, OpenAPI at /openapi.json, metrics at
    /metrics), and the syslog listeners asked for (--syslog-udp, --syslog-tcp, --syslog-tls)."""
    import uvicorn

    from log_analytics_engine.demo import DEMO_RULE
    from log_analytics_engine.server.app import create_app
    from log_analytics_engine.server.demo import load_demo
    from log_analytics_engine.server.settings import load_settings
    from log_analytics_engine.server.syslog import SyslogListeners

    try:
        settings = load_settings(
            config,
            host=host,
            port=port,
            data=data,
            insecure=insecure or None,
            durability=durability,
            retention=retention,
            max_disk=max_disk,
            memory_limit=memory_limit,
            syslog_udp=syslog_udp,
            syslog_tcp=syslog_tcp,
            syslog_tls=syslog_tls,
            syslog_tls_cert=syslog_tls_cert,
            syslog_tls_key=syslog_tls_key,
        )
        settings.check_bind()
        listener = _listen(settings.host, settings.port)  # before anything says "serving"
        try:
            syslog = SyslogListeners(settings)
            syslog.bind()  # its ports too
        except LogAnalyticsError:
            listener.close()
            raise
        path = settings.data if settings.data is not None or demo else DEFAULT_DATA
        try:
            engine = LogAnalyticsEngine(
                path=path,
                recover=recover,
                durability=settings.durability,
                retention=settings.retention,
                max_disk=settings.max_disk,
                memory_limit=settings.memory_limit,
                timezone=settings.timezone,
                formats=settings.formats,
                format_file=settings.format_file,
            )
        except LogAnalyticsError:
            listener.close()
            syslog.close()
            raise
    except LogAnalyticsError as exc:
        raise _fail(exc) from exc
    console = _console()

    def stop() -> None:  # on uvicorn's graceful shutdown, after the last request
        syslog.close()  # every frame received stored before the store closes
        engine.close()
        console.print("stopped; the store is closed and flushed")
        console.file.flush()  # the process ends by the re-raised signal right after

    try:
        if settings.rules is not None:
            engine.load_alert_rules(settings.rules)
        if demo:
            loaded = load_demo(engine, demo_logs)
            fired = f"; it has fired: {loaded.alerts[0].message}" if loaded.alerts else ""
            console.print(f"demo: {loaded.logs:,} logs loaded, alert rule {DEMO_RULE.name!r} watching{fired}")
        where = "in memory" if path is None else f"in {path}"
        syslog.start(engine)
        also = "".join(f", syslog {address}" for address in syslog.bound)
        console.print(f"serving on http://{settings.host}:{settings.port}{also} (data {where}); Ctrl-C stops")
        console.print(f"web UI: http://{settings.host}:{settings.port}/ (API docs at /docs)")
        prefix = f" (also under {settings.es_prefix})" if settings.es_prefix else ""
        console.print(
            f"shippers: Elasticsearch /_bulk{prefix}, Loki /loki/api/v1/push, OTLP/HTTP /v1/logs, "
            "VictoriaLogs /insert/jsonline"
        )
        console.file.flush()
        app_ = create_app(engine, settings, on_shutdown=stop)
        server = uvicorn.Server(uvicorn.Config(app_, log_level="warning"))
        server.run(sockets=[listener])
    except LogAnalyticsError as exc:
        raise _fail(exc) from exc
    finally:
        listener.close()
        syslog.close()
        engine.close()  # a no-op after a graceful stop


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (as uvicorn binds it), or ConfigError saying why not (in use)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(2048)
    except OSError as exc:
        listener.close()
        why = "the address is already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        raise ConfigError(f"cannot listen on {host}:{port}: {why}") from exc
    return listener


@app.command()
def formats(
    format_file: Annotated[
        Path | None,
        typer.Option(help="TOML file of your own formats ([formats.NAME] tables), checked and listed."),
    ] = None,
) -> None:
    """List the text formats `ingest` detects (or `--format NAME` forces), each with an example line."""
    from log_analytics_engine.ingest.formats import registry
    from log_analytics_engine.ingest.formats.user import load_formats

    try:
        known = registry(load_formats(format_file) if format_file is not None else [])
    except LogAnalyticsError as exc:
        raise _fail(exc) from exc
    console = _console()
    # One block per format, its example whole on a line of its own to copy (a table's columns
    # folded the examples and cut some short at 80 columns).
    for item in known.describe():
        aliases = ", ".join(str(a) for a in item["aliases"])  # type: ignore[attr-defined]
        console.print(
            f"[bold]{escape(str(item['name']))}[/bold]" + (f"  (also {escape(aliases)})" if aliases else "")
        )
        console.print(f"  {escape(str(item['description']))}")
        if item["example"]:
            console.print(f"    {escape(str(item['example']))}", style="cyan")
        console.print()


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
    typer.echo(f"name = {json.dumps(name, ensure_ascii=False)}")  # a JSON string is a TOML basic string
    typer.echo(f'sha256 = "{hash_key(key)}"')
    typer.echo("scopes = [" + ", ".join(f'"{s}"' for s in chosen) + "]")


def main() -> None:
    """Console-script entry point."""
    app()
