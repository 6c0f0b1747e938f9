"""`LogAnalyticsEngine`: the facade users call. It wires the store, ingest pipeline, planner,
alerting and metrics together and holds no logic of its own beyond argument shaping."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from log_analytics_engine.alerting.alertfile import read_alerts, write_alerts
from log_analytics_engine.alerting.evaluator import AlertEvaluator, AlertHook, RuleState, ticker
from log_analytics_engine.alerting.keptrules import KeptRules
from log_analytics_engine.alerting.notify import AlertmanagerNotifier, WebhookNotifier
from log_analytics_engine.alerting.rulefile import load_rules
from log_analytics_engine.alerting.rules import Alert, AlertRule
from log_analytics_engine.errors import ConfigError, IngestError, QueryError, StorageError
from log_analytics_engine.ingest.files import FileIngest
from log_analytics_engine.ingest.formats import Format, registry
from log_analytics_engine.ingest.formats.user import load_formats
from log_analytics_engine.ingest.formats.zones import check_zone
from log_analytics_engine.ingest.pipeline import Hook, Pipeline
from log_analytics_engine.ingest.records import ingest_json_array, ingest_json_lines, ingest_ndjson
from log_analytics_engine.ingest.report import Decoded, IngestReport
from log_analytics_engine.memory import MEMORY_LIMIT
from log_analytics_engine.metrics import Counters, EngineCollector, prometheus_text
from log_analytics_engine.model import LogEntry
from log_analytics_engine.periodic import Periodic
from log_analytics_engine.query.aggregate import aggregate_entries
from log_analytics_engine.query.ast import MatchAll, Node, Query, TimeRange, conjoin, resolve_time
from log_analytics_engine.query.dictfilters import compile_filters
from log_analytics_engine.query.hits import hits
from log_analytics_engine.query.parser import parse, parse_filter
from log_analytics_engine.query.printer import to_text
from log_analytics_engine.query.results import (
    FieldsResult,
    HitsResult,
    QueryResult,
    SearchResult,
    decode_cursor,
    encode_cursor,
)
from log_analytics_engine.storage.base import Page, Sort, Store, WriteResult
from log_analytics_engine.storage.embedded.backend import EmbeddedBackend
from log_analytics_engine.storage.embedded.store import CLOSE_APPLY_SECONDS
from log_analytics_engine.storage.embedded.timelimit import QUERY_SECONDS
from log_analytics_engine.storage.retention import Retention, RetentionPolicy, retention_worker
from log_analytics_engine.timeparse import TimestampError, parse_timestamp, seconds_ns

Filters = Mapping[str, Any] | None
log = logging.getLogger(__name__)


class LogAnalyticsEngine:
    """Ingest, search, aggregate and alert on logs.

    `LogAnalyticsEngine()` keeps everything in memory; `LogAnalyticsEngine(path="dir")` stores it
    durably in that directory and reopens with all data. Use as a context manager, or call
    `close()`, to flush the text index and release the directory. `clock` (epoch seconds) is the
    "now" of relative times and alert windows; `alert_interval` is how often (seconds) alert rules are
    evaluated without new logs, so drained windows resolve (None: only `evaluate_alerts()` does).
    A directory whose database came back short of the logs it committed (a damaged write-ahead log)
    is refused with a StorageError; `recover=True` opens it with what survived, the loss logged.
    `query_seconds` bounds every query call (search, run, fields, tail, query_logs, count, aggregate):
    one running longer is stopped with a QueryError naming the limit. A write is acknowledged once it
    is in the directory's write-ahead log: in the OS with `durability="os"` (survives the process
    being killed), on the disk with `"fsync"` (survives a power loss too; writers share fsyncs).
    `retention` (`30d`, `12h`, `2w`) keeps logs by age and `max_disk` (`20GB`, `512MiB`) the
    directory by size, whole event days (UTC) at a time, the oldest first: applied on open and
    every minute after.
    `memory_limit` (a size: "256MB", "1GiB") bounds DuckDB's memory, its cache and its queries' working
    memory, which spill to disk past it (a ConfigError when it is not a size of at least 64MB).
    Text is read by the built-in log formats plus `formats` and those of `format_file` (TOML,
    `[formats.NAME]` tables); naive times in text are read in `timezone` (an IANA name, UTC unless given).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        clock: Callable[[], float] = time.time,
        index_interval: float = 1.0,
        alert_interval: float | None = 15.0,
        recover: bool = False,
        query_seconds: float = QUERY_SECONDS,
        timezone: str = "UTC",
        formats: Sequence[Format] = (),
        format_file: str | Path | None = None,
        durability: str = "os",
        retention: str | None = None,
        max_disk: str | None = None,
        memory_limit: str = MEMORY_LIMIT,
    ) -> None:
        if not query_seconds > 0:
            raise ConfigError(f"query_seconds must be positive, got {query_seconds!r}")
        self._zone = check_zone(timezone)
        user = [*formats, *(load_formats(Path(format_file)) if format_file is not None else [])]
        self._formats = registry(user)
        self._query_seconds = query_seconds
        where = None if path is None else Path(path)
        policy = RetentionPolicy.of(retention, max_disk)
        if policy.max_disk_bytes is not None and where is None:
            raise ConfigError("max_disk needs a data directory (an in-memory engine holds no disk)")
        embedded = EmbeddedBackend(
            where,
            index_interval=index_interval,
            recover=recover,
            durability=durability,
            memory_limit=memory_limit,
        )
        self._store: Store = embedded
        self._counters = Counters()
        self._clock = clock
        self._alerting = AlertEvaluator(self._store, clock)
        self._retention = Retention(self._store, policy, clock, self._after_delete)
        self._retention_worker: Periodic[Retention] | None = None
        if policy:
            try:
                self._retention.apply()  # on open, before the rules' windows are read
            except BaseException:
                self._store.close()
                raise
            self._retention_worker = retention_worker(self._retention)
            self._retention_worker.start()
        self._pipeline = Pipeline(
            self._store, clock, self._count_write, self._alerting.hooks.__bool__, bulk=embedded.store
        )
        self._alerting.load_stored()
        self._kept_rules = KeptRules(self._store)
        for rule in self._kept_rules.stored():
            self._alerting.add_rule(rule)
        self._alert_interval = alert_interval
        self._ticker: Periodic[AlertEvaluator] | None = None
        if self._alerting.rules():
            self._start_ticker()
        self._pipeline.add_listener(self._alerting.on_applied)
        self._collector = EngineCollector(
            self._store.summary,
            self._counters,
            lambda: dict(self._alerting.fired_total),
            self._alerting.status,
            self._store.bytes_on_disk,
            lambda: self._store.index_state,
            lambda: self._store.wal_state,
            self._retention.status,
            self._store.disk_usage,
        )

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        """Deliver queued alert notifications, flush the text index, checkpoint, release the directory."""
        if self._ticker is not None:
            self._ticker.stop()
        if self._retention_worker is not None:
            self._retention_worker.stop()
        try:
            # rules see every acknowledged write first; not worth a wait while commits fail (a full
            # disk): the store's close retries them, and what it cannot apply the next open replays
            self._store.wait_evaluated(0.0 if self._store.applying_fails else CLOSE_APPLY_SECONDS)
        except StorageError as exc:  # applying fails (a full disk): the WAL replays them at the next open
            log.error("closing before every acknowledged log was applied: %s", exc)
        self._alerting.drain()
        self._alerting.dispatcher.drain()
        self._store.close()
        self._pipeline.close()

    def __enter__(self) -> LogAnalyticsEngine:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def flush(self) -> None:
        """Bring the text index up to date now (queries are exact without it; this only speeds them)
        and wait until every alert fired so far has reached its notifiers."""
        self._store.wait_evaluated()
        self._store.flush_index()
        self._alerting.drain()
        self._alerting.dispatcher.drain()

    # -- ingest ---------------------------------------------------------------------------------

    def _count_write(self, write: WriteResult) -> None:
        self._counters.add_errors("timestamp", write.bad_timestamps)

    def add_pre_ingest_hook(self, hook_fn: Hook) -> None:
        """Run `hook_fn(log)` before storing each log: return the log (changed or not), or None to drop it."""
        self._pipeline.add_hook(hook_fn)

    def ingest_log(self, log: LogEntry) -> None:
        """Store one log; in the write-ahead log (durable to a killed process) and searchable when
        this returns."""
        self.ingest_logs([log])

    def ingest_logs(self, logs: Iterable[LogEntry]) -> int:
        """Store logs as one batch; returns how many were stored (after hooks)."""
        entries = list(logs)
        for entry in entries:
            if not isinstance(entry, LogEntry):
                raise IngestError(f"ingest_logs takes LogEntry objects, got {type(entry).__name__}")
        result = self._pipeline.ingest_entries(entries)
        self._counters.add_ingest("batch", result.write.rows, dropped=result.dropped)
        return result.write.rows

    def ingest_logs_from_file(
        self,
        file_path: str | Path | IO[bytes],
        file_type: str = "jsonl",
        *,
        dead_letter: str | Path | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Ingest a JSONL or text file (gzip too), or every file of a directory; returns a report.

        `file_type` is `jsonl`, `text` or `auto`; files in a directory are typed one by one.
        Lines that cannot be read are reported (line number and reason) and, with `dead_letter`,
        appended to that file; everything else is stored. A damaged gzip file keeps the lines
        before the damage (`damaged_files`: file, byte offset, reason); a file that is not a log
        is an IngestError, or in a directory skipped (`skipped_files`). `progress(bytes_read,
        logs_stored)` is called after every chunk (122,880 lines). An open binary stream (such as
        `sys.stdin.buffer`) is stored as its data arrives, until it ends.
        """
        ingest = FileIngest(
            self._pipeline,
            None if dead_letter is None else Path(dead_letter),
            progress,
            formats=self._formats,
            zone=self._zone,
        )
        if isinstance(file_path, str | Path):
            report = ingest.run(Path(file_path), file_type)
        else:
            report = ingest.run_stream(file_path, file_type)
        self._counters.add_ingest("file", report["count"], report["bytes"], report["dropped"])
        self._counters.add_errors("rejected_line", report["rejected"])
        self._counters.add_errors("damaged_gzip", report["damaged"])
        self._counters.add_errors("skipped_file", report["skipped"])
        self._counters.add_errors("invalid_utf8", report["replaced_utf8_lines"])
        self._counters.add_text(report["formats"], report["no_timestamp"])
        return report

    def ingest_text(self, body: bytes, file_type: str = "text", name: str = "request") -> dict[str, Any]:
        """Ingest text lines held in memory (an HTTP body) exactly as a text file's: the formats
        detected (or `file_type`, a format's name, forced), multi-line events joined; the file report."""
        ingest = FileIngest(self._pipeline, formats=self._formats, zone=self._zone)
        report = ingest.text_body(body, file_type, name)
        self._counters.add_ingest("text", report["count"], report["bytes"], report["dropped"])
        self._counters.add_errors("invalid_utf8", report["replaced_utf8_lines"])
        self._counters.add_text(report["formats"], report["no_timestamp"])
        return report

    def ingest_decoded(self, decoded: Decoded, protocol: str) -> IngestReport:
        """The one ingest entry below the facade for a decoder's output (its Arrow table of stored
        columns and its report): pre-ingest hooks, a group-committed append (durable on return), the
        listeners (alerts), and the counters of `protocol`; returns the report, accepted filled in."""
        report = decoded.report
        table = decoded.table
        if table.num_rows:
            result = self._pipeline.ingest(table, report.no_timestamp)
            report.accepted += result.write.rows
            report.dropped += result.dropped
        self._counters.add_ingest(protocol, report.accepted, report.bytes, report.dropped)
        self._counters.add_protocol(protocol, report.bytes, report.rejected_by)
        self._counters.add_text({}, report.no_timestamp)
        return report

    def count_input_problems(self, problems: Mapping[str, int]) -> None:
        """Count what a protocol edge met in its input and stored all the same (a syslog frame kept
        as raw text, one cut to the frame bound), by reason: `loganalytics_ingest_errors{reason}`."""
        for reason, n in problems.items():
            self._counters.add_errors(reason, n)

    def set_protocol_connections(self, protocol: str, open_now: int) -> None:
        """How many connections a protocol's listener holds open now (`loganalytics_protocol_connections`)."""
        self._counters.set_connections(protocol, open_now)

    def log_formats(self) -> list[dict[str, Any]]:
        """The text formats this engine reads (built-in and the user's), each with an example line."""
        return [dict(item) for item in self._formats.describe()]

    def ingest_json_lines(self, lines: Sequence[str]) -> dict[str, Any]:
        """Ingest JSON log objects given as lines of text (an HTTP body), stored exactly as a JSONL
        file's lines would be; returns the file report, `rejected_lines` numbered from 1."""
        return self._http(ingest_json_lines(self._pipeline, lines)).to_lines()

    def ingest_ndjson(self, body: bytes) -> dict[str, Any]:
        """Ingest an NDJSON body (UTF-8 bytes, one JSON log object per line) exactly as
        `ingest_json_lines` would its lines; a body of plain records is parsed by Arrow in one pass."""
        return self._http(ingest_ndjson(self._pipeline, body)).to_lines()

    def ingest_json_body(self, body: bytes, array: bool = False) -> IngestReport:
        """Ingest an HTTP body of JSON logs, NDJSON or (`array`) one JSON array of log objects, parsed
        once; the report, rejections by line (from 0) or array index. A body that is not an array
        when `array` is said is an IngestError, nothing stored."""
        body_report = ingest_json_array if array else ingest_ndjson
        return self._http(body_report(self._pipeline, body))

    def _http(self, report: IngestReport) -> IngestReport:
        self._counters.add_ingest("http", report.accepted, report.bytes, report.dropped)
        self._counters.add_errors("rejected_line", report.rejected_count)
        self._counters.add_errors("invalid_utf8", report.replaced_utf8_lines)
        return report

    # -- queries --------------------------------------------------------------------------------

    def _timed(self, fn: Callable[[], Any]) -> Any:
        """Run one query's store work within the time limit, counting its duration."""
        started = time.perf_counter()
        try:
            with self._store.reading(self._query_seconds):
                return fn()
        finally:
            self._counters.observe_query(time.perf_counter() - started)

    def query_logs(
        self,
        filters: Filters = None,
        sort_by: str | None = None,
        sort_desc: bool = False,
        page: int | None = None,
        page_size: int | None = None,
    ) -> list[LogEntry]:
        """Logs matching the filters, sorted (default: event time ascending), optionally one 0-based page."""
        node = compile_filters(filters)
        sort = Sort.of(sort_by, sort_desc)
        offset, limit = 0, None
        if page_size is not None:
            if page_size <= 0:
                raise QueryError(f"page_size must be positive, got {page_size}")
            limit = page_size
            offset = (page or 0) * page_size
        elif page is not None:
            raise QueryError("page needs page_size")
        result: list[LogEntry] = self._timed(lambda: self._store.select(node, sort, offset, limit))
        return result

    def count(self, filters: Filters = None) -> int:
        """How many stored logs match the filters (the total behind a page of `query_logs`)."""
        node = compile_filters(filters)
        result: int = self._timed(lambda: self._store.count(node))
        return result

    def aggregate(
        self,
        filters: Filters = None,
        group_by: str | None = None,
        histogram: str | None = None,
        top_n: Mapping[str, int] | None = None,
        interval: str | int | float | None = None,
    ) -> dict[str, Any]:
        """`aggregate_logs` shapes computed in the store over the logs the filters select."""
        node = compile_filters(filters)
        result: dict[str, Any] = self._timed(
            lambda: self._store.aggregate(node, group_by, histogram, top_n, interval)
        )
        return result

    def aggregate_logs(
        self,
        logs: Sequence[LogEntry],
        group_by: str | None = None,
        histogram: str | None = None,
        top_n: Mapping[str, int] | None = None,
        interval: str | int | float | None = None,
    ) -> dict[str, Any]:
        """Group-by counts, histogram (time buckets for `timestamp` with `interval`) and top-N over a list."""
        return aggregate_entries(logs, group_by, histogram, top_n, interval)

    # -- the query language ---------------------------------------------------------------------

    def _filter(self, query: str | Node, start: object = None, end: object = None) -> Node:
        return self._within(query, self._bounds(start, end))

    def _within(self, query: str | Node, span: tuple[int | None, int | None]) -> Node:
        node = parse_filter(query) if isinstance(query, str) else query
        low, high = span
        if low is not None or high is not None:
            node = conjoin([node, TimeRange(low, high)])
        return resolve_time(node, seconds_ns(self._clock()))

    @staticmethod
    def _bounds(start: object, end: object) -> tuple[int | None, int | None]:
        try:
            low = None if start is None else parse_timestamp(start)  # type: ignore[arg-type]
            high = None if end is None else parse_timestamp(end)  # type: ignore[arg-type]
        except TimestampError as exc:
            raise QueryError(f"search bounds: {exc}") from exc
        return low, high

    def search(
        self,
        query: str | Node = "*",
        start: object = None,
        end: object = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> SearchResult:
        """Logs matching query text (or an AST filter), newest first, a page at a time.

        `start`/`end` bound the event time; `cursor` (from a previous result) continues after its
        last log, by (time, seq), so pages neither repeat nor skip logs while ingest goes on.
        """
        if limit <= 0:
            raise QueryError(f"limit must be positive, got {limit}")
        node = self._filter(query, start, end)
        before = None if cursor is None else decode_cursor(cursor)
        page: Page = self._timed(lambda: self._store.search(node, limit, before))
        logs, total = page.logs, page.total
        last = logs[-1] if len(logs) == limit else None
        next_cursor = None if last is None else encode_cursor(last.timestamp_ns or 0, last.seq or 0)
        return SearchResult(logs, total, next_cursor)

    def tail(
        self, query: str | Node = "*", after: int | None = None, limit: int = 1000
    ) -> tuple[list[LogEntry], int]:
        """Logs matching the query stored after position `after` (None: from now on), oldest first,
        and the position to ask from next time: a live tail is this call in a loop."""
        high = self._store.last_seq
        if after is None or after >= high:
            return [], high if after is None else after
        node = self._filter(query)
        logs: list[LogEntry] = self._timed(lambda: self._store.after(node, after, high, limit))
        return logs, (logs[-1].seq or high) if len(logs) == limit else high

    def run(self, query: str | Query, start: object = None, end: object = None) -> QueryResult:
        """Run query text with pipes (`error | stats by (source) count()`); rows as dicts by column.
        `start`/`end` bound the event time of the logs the pipes see."""
        parsed = parse(query) if isinstance(query, str) else query
        node = self._filter(parsed.filter, start, end)
        result: QueryResult = self._timed(lambda: self._store.run(node, parsed.pipes))
        return result

    def hits(
        self,
        query: str | Node = "*",
        start: object = None,
        end: object = None,
        step: str = "auto",
        field: str | None = None,
    ) -> HitsResult:
        """Matching logs counted per time bucket of `step` (`5m`; `auto`: at most 150 buckets over
        `start`..`end`, or over the matching logs' span), one row per value of `field` when given."""
        span = self._bounds(start, end)
        node = self._within(query, span)
        result: HitsResult = self._timed(lambda: hits(self._store, node, span, step, field))
        return result

    def around(
        self, seq: int, before: int = 20, after: int = 20
    ) -> tuple[LogEntry, list[LogEntry], list[LogEntry]] | None:
        """The log stored as `seq` (a `LogEntry.seq`) with up to `before` and `after` logs of its
        source just older and newer, both oldest first; None when no log has that seq."""
        found: tuple[LogEntry, list[LogEntry], list[LogEntry]] | None = self._timed(
            lambda: self._store.around(seq, before, after)
        )
        return found

    def delete(
        self,
        query: str | Node,
        *,
        start: object = None,
        end: object = None,
        all: bool = False,
    ) -> int:
        """Delete every stored log the filter (query text without pipes, or an AST) matches within
        `start`/`end`, from the table and the text index alike, so no query finds it again; returns
        how many. It applies to every log acknowledged before the call and to none after (writes
        wait meanwhile). A filter that matches every log (`""`, `"*"` without bounds) is a
        QueryError unless `all=True`. Alert rules' windows are read again from the logs left (a
        rule firing on deleted logs resolves); the alerts fired stay."""
        if isinstance(query, str):
            parsed = parse(query)
            if parsed.pipes:
                pipes = to_text(Query(MatchAll(), parsed.pipes)).removeprefix("* ")
                raise QueryError(f"delete takes a filter without pipes; {query!r} has `{pipes}`")
            query = parsed.filter
        node = self._filter(query, start, end)
        if isinstance(node, MatchAll) and not all:
            raise QueryError(
                "delete: the filter matches every stored log; pass all=True (`--all`, `all=true`) "
                "to delete them all"
            )
        deleted = self._store.delete(node)
        self._after_delete(deleted)
        return deleted

    def _after_delete(self, deleted: int) -> None:
        """Alert rules' windows read again once logs were deleted (by query or by retention)."""
        if deleted and self._alerting.rules():
            self._store.wait_evaluated()  # the writes before it are in the windows: then re-read them
            self._alerting.reseed()
            self._alerting.tick()  # a rule whose window lost its matches resolves now

    def backup(self, dest: str | Path) -> dict[str, Any]:
        """Copy the store into `dest` (a new or empty directory; a BackupError otherwise) while it
        runs, writes going on: every log acknowledged before the call, the fired alerts and the kept
        rules, and the text index as last committed; `LogAnalyticsEngine(dest)` opens the copy.
        Returns `dest`, `rows`, `alerts`, `rules`, `index_copied`, `bytes` and `seconds`."""
        self._store.wait_evaluated()  # the alerts fired by the logs acknowledged so far are stored
        self._alerting.drain()
        report = self._store.backup(Path(dest))
        return {**dataclasses.asdict(report), "dest": str(report.dest)}

    def fields(self, query: str | Node = "*", start: object = None, end: object = None) -> FieldsResult:
        """The fields of the newest matching logs (up to 10,000): counts and top values, metadata too."""
        node = self._filter(query, start, end)
        result: FieldsResult = self._timed(lambda: self._store.fields(node))
        return result

    # -- alerting -------------------------------------------------------------------------------

    def add_alert_rule(self, rule: AlertRule) -> None:
        """Evaluate `rule` on every ingested batch from now on, its window seeded from the stored logs
        (a rule of the same name is replaced); a durable engine keeps it across restarts."""
        self._kept_rules.added(rule)
        self._alerting.add_rule(rule)
        self._start_ticker()

    def _start_ticker(self) -> None:
        if self._ticker is None and self._alert_interval:
            self._ticker = ticker(self._alerting, self._alert_interval)
            self._ticker.start()

    def remove_alert_rule(self, name: str) -> None:
        """Stop evaluating the rule with this name (and forget it across restarts)."""
        self._alerting.remove_rule(name)
        self._kept_rules.removed(name)

    def enable_alert_rule(self, name: str) -> None:
        """Evaluate the named rule again (ConfigError when there is none)."""
        self._set_enabled(name, True)

    def disable_alert_rule(self, name: str) -> None:
        """Pause the named rule (enabled again, its window is read afresh from the stored logs)."""
        self._set_enabled(name, False)

    def _set_enabled(self, name: str, enabled: bool) -> None:
        self._alerting.set_enabled(name, enabled)
        self._kept_rules.changed(next(r for r in self._alerting.rules() if r.name == name))

    def get_alert_rules(self) -> list[AlertRule]:
        """The rules being evaluated (enabled or not)."""
        return self._alerting.rules()

    def get_alert_rule_states(self) -> list[RuleState]:
        """Each rule's state now: firing or not, the matching logs in its window against its
        threshold, when it last fired and since when it fires."""
        self._store.wait_evaluated()
        return self._alerting.states()

    def load_alert_rules(self, path: str | Path) -> list[AlertRule]:
        """Add (or replace, by name) every rule of a YAML rules file; the file is checked whole first.
        These rules are not kept across restarts (read the file again); they replace kept rules of
        the same names."""
        rules = load_rules(path)
        self._kept_rules.loaded_from_file(rules)
        for rule in rules:
            self._alerting.add_rule(rule)
        self._start_ticker()
        return rules

    def add_alert_notification_hook(self, hook_fn: AlertHook, *, resolved: bool = False) -> None:
        """Call `hook_fn(alert)` for every alert fired (and, with `resolved=True`, for every resolved
        notice: `alert.status == "resolved"`), with its sample logs, before the ingest call that
        fired it returns, on that call's thread and outside every engine lock (a slow hook slows
        only that call); a hook that raises is logged and counted, and the ingest still succeeds."""
        self._alerting.add_hook(hook_fn, resolved)

    def add_alert_webhook(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.5,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """POST every fired and resolved alert as JSON to `url` (retried with backoff on 5xx and
        connection errors)."""
        notifier = WebhookNotifier(
            url, timeout=timeout, retries=retries, backoff=backoff, headers=headers or {}
        )
        self._alerting.add_notifier(notifier)

    def add_alertmanager(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.5,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send alerts to the Alertmanager at `url` (v2 API): firings, re-sends while firing on every
        evaluation tick, and resolved notices, so Alertmanager groups, silences and resolves them."""
        notifier = AlertmanagerNotifier(
            url, timeout=timeout, retries=retries, backoff=backoff, headers=headers or {}
        )
        self._alerting.add_notifier(notifier)

    def evaluate_alerts(self) -> None:
        """Run one evaluation tick now (the engine also runs one every `alert_interval` seconds): rules
        whose window dropped back under the threshold resolve; firing alerts are re-sent."""
        self._alerting.tick()
        self._alerting.drain()

    def get_alerts(
        self, since: float | dt.datetime | None = None, rule: str | None = None, limit: int | None = None
    ) -> list[Alert]:
        """Fired alerts, newest first (kept across restarts of a durable engine); `since` is epoch
        seconds or a datetime."""
        self._store.wait_evaluated()
        return self._alerting.alerts(since, rule, limit)

    def persist_alerts_to_file(self, file_path: str | Path) -> int:
        """Write every kept alert to a JSONL file (one alert per line, oldest first); returns how many."""
        self._store.wait_evaluated()
        return write_alerts(Path(file_path), reversed(self._alerting.alerts()))

    def load_alerts_from_file(self, file_path: str | Path) -> int:
        """Append the alerts of a `persist_alerts_to_file` file (ours, or one the original engine
        wrote), skipping known ones; returns how many were new."""
        alerts = read_alerts(Path(file_path))
        self._store.wait_evaluated()
        return sum(self._alerting.record(alert, persist=True) for alert in alerts)

    # -- stats and metrics ----------------------------------------------------------------------

    def get_stats(self) -> dict[str, Any]:
        """Totals by level, source and tag, distinct words, plus ingest, index and alerting figures."""
        stats = self._store.summary()
        counters = self._counters.snapshot()
        stats.update(
            {
                "ingested": counters["ingested"],
                "ingest_errors": counters["errors"],
                "dropped": counters["dropped"],
                "text_formats": counters["text_formats"],
                "no_timestamp": counters["no_timestamp"],
                **{f"index_{k}": v for k, v in self._store.index_state.items()},
                **{f"wal_{k}": v for k, v in self._store.wal_state.items()},
                "bytes_on_disk": self._store.bytes_on_disk(),
                "disk_usage": self._store.disk_usage(),
                **{f"retention_{k}": v for k, v in self._retention.status().items()},
                "queries": counters["query_count"],
                "write_listener_failures": self._pipeline.listener_failures,
                **{f"alert_{k}": v for k, v in self._alerting.status().items()},
                "alert_unreadable_rules": self._kept_rules.unreadable,
            }
        )
        return stats

    def apply_retention(self) -> int:
        """Run a retention pass now (the engine runs one on open and every minute after); returns how
        many logs it dropped (0 without `retention` or `max_disk`)."""
        return self._retention.apply()

    def index_status(self) -> dict[str, Any]:
        """The text index's `state` (`ok`, `catching up`, `rebuilding`, `failing`), `lag` (logs not
        indexed yet), `failures`, `rebuilds` and `last_error`. Queries are exact in every state."""
        return self._store.index_state

    def export_metrics_json(self) -> dict[str, Any]:
        """The same figures as `get_stats`, JSON-ready for dashboards."""
        return self.get_stats()

    def export_metrics_prometheus(self) -> str:
        """Prometheus text: the original metric names plus ingest, error, disk and query metrics."""
        return prometheus_text(self._collector)
