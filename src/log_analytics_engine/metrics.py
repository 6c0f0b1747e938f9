"""Engine counters and their Prometheus exposition through prometheus_client (one registry per engine)."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from log_analytics_engine.storage.base import INDEX_STATES

QUERY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Counters:
    """Thread-safe ingest and query counters of one engine."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ingested: dict[str, int] = defaultdict(int)  # by path: batch | file
        self.ingest_bytes = 0
        self.errors: dict[str, int] = defaultdict(int)  # by reason
        self.dropped = 0
        self.text_formats: dict[str, int] = defaultdict(int)  # text logs stored, by format
        self.no_timestamp = 0
        self.protocol_bytes: dict[str, int] = defaultdict(int)  # input bytes, by protocol
        self.protocol_rejected: dict[tuple[str, str], int] = defaultdict(int)  # by protocol and reason
        self.connections: dict[str, int] = {}  # open now, by protocol (the syslog listeners)
        self.query_buckets = [0] * len(QUERY_BUCKETS)
        self.query_count = 0
        self.query_sum = 0.0

    def add_ingest(self, path: str, logs: int, nbytes: int = 0, dropped: int = 0) -> None:
        with self._lock:
            self.ingested[path] += logs
            self.ingest_bytes += nbytes
            self.dropped += dropped

    def add_errors(self, reason: str, n: int) -> None:
        if n:
            with self._lock:
                self.errors[reason] += n

    def add_text(self, formats: Mapping[str, int], no_timestamp: int) -> None:
        with self._lock:
            for name, n in formats.items():
                self.text_formats[name] += n
            self.no_timestamp += no_timestamp

    def add_protocol(self, protocol: str, nbytes: int, rejected: Mapping[str, int]) -> None:
        """A protocol's request: its input bytes and its rejections by reason code."""
        with self._lock:
            self.protocol_bytes[protocol] += nbytes
            for reason, n in rejected.items():
                self.protocol_rejected[protocol, reason] += n

    def set_connections(self, protocol: str, open_now: int) -> None:
        with self._lock:
            self.connections[protocol] = open_now

    def observe_query(self, seconds: float) -> None:
        with self._lock:
            i = bisect.bisect_left(QUERY_BUCKETS, seconds)
            if i < len(self.query_buckets):
                self.query_buckets[i] += 1
            self.query_count += 1
            self.query_sum += seconds

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "ingested": dict(self.ingested),
                "ingest_bytes": self.ingest_bytes,
                "errors": dict(self.errors),
                "dropped": self.dropped,
                "text_formats": dict(self.text_formats),
                "no_timestamp": self.no_timestamp,
                "protocol_bytes": dict(self.protocol_bytes),
                "protocol_rejected": dict(self.protocol_rejected),
                "connections": dict(self.connections),
                "query_buckets": list(self.query_buckets),
                "query_count": self.query_count,
                "query_sum": self.query_sum,
            }


def _gauge_by(name: str, doc: str, label: str, values: Mapping[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in values.items():
        family.add_metric([str(key)], value)
    return family


class EngineCollector:
    """A prometheus_client collector reading the engine's stats and counters at scrape time."""

    def __init__(
        self,
        stats: Callable[[], dict[str, Any]],
        counters: Counters,
        alerts: Callable[[], Mapping[tuple[str, str], int]],
        alerting: Callable[[], Mapping[str, Any]],
        bytes_on_disk: Callable[[], int],
        index: Callable[[], Mapping[str, Any]],
        wal: Callable[[], Mapping[str, Any]],
        retention: Callable[[], Mapping[str, Any]] | None = None,
        disk_usage: Callable[[], int] | None = None,
    ) -> None:
        self._stats = stats
        self._counters = counters
        self._alerts = alerts
        self._alerting = alerting
        self._bytes = bytes_on_disk
        self._index = index
        self._wal = wal
        self._retention = retention
        self._disk_usage = disk_usage

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        yield GaugeMetricFamily("loganalytics_total_logs", "Logs stored.", value=stats["total_logs"])
        yield _gauge_by("loganalytics_logs_level", "Logs stored by level.", "level", stats["levels"])
        yield _gauge_by("loganalytics_logs_source", "Logs stored by source.", "source", stats["sources"])
        yield _gauge_by("loganalytics_logs_tag", "Logs stored by tag.", "tag", stats["tags"])
        yield GaugeMetricFamily(
            "loganalytics_keywords_total", "Distinct words across stored messages.", value=stats["keywords"]
        )
        yield GaugeMetricFamily(
            "loganalytics_bytes_on_disk", "Bytes the data directory holds.", value=self._bytes()
        )
        yield from self._index_families()
        yield from self._wal_families()
        yield from self._retention_families()
        yield CounterMetricFamily(
            "loganalytics_deleted_logs",
            "Logs deleted by delete requests (engine.delete, DELETE /api/v1/logs), in all.",
            value=stats["deleted_logs"],
        )
        yield CounterMetricFamily(
            "loganalytics_store_recoveries",
            "Opens that accepted missing committed logs (--recover after a damaged write-ahead log).",
            value=stats["store_recoveries"],
        )
        yield CounterMetricFamily(
            "loganalytics_store_lost_seqs",
            "Committed seqs those opens gave up (at most that many logs lost).",
            value=stats["store_lost_seqs"],
        )
        snap = self._counters.snapshot()
        ingested = CounterMetricFamily(
            "loganalytics_ingested_logs", "Logs stored since start, by ingest path.", labels=["path"]
        )
        for path, n in sorted(snap["ingested"].items()):
            ingested.add_metric([path], n)
        yield ingested
        yield CounterMetricFamily(
            "loganalytics_ingest_bytes", "Bytes of input read by file ingest.", value=snap["ingest_bytes"]
        )
        yield CounterMetricFamily(
            "loganalytics_ingest_dropped", "Logs dropped by pre-ingest hooks.", value=snap["dropped"]
        )
        formats = CounterMetricFamily(
            "loganalytics_text_logs",
            "Logs stored from text, by the format that read them.",
            labels=["format"],
        )
        for name, n in sorted(snap["text_formats"].items()):
            formats.add_metric([name], n)
        yield formats
        yield CounterMetricFamily(
            "loganalytics_ingest_no_timestamp",
            "Logs stored without a time of their own (given the time before them, or the ingest time).",
            value=snap["no_timestamp"],
        )
        errors = CounterMetricFamily(
            "loganalytics_ingest_errors", "Input problems met while ingesting, by reason.", labels=["reason"]
        )
        for reason, n in sorted(snap["errors"].items()):
            errors.add_metric([reason], n)
        yield errors
        received = CounterMetricFamily(
            "loganalytics_protocol_bytes",
            "Bytes of request bodies (as decompressed) and frames received, by ingest protocol.",
            labels=["protocol"],
        )
        for protocol, n in sorted(snap["protocol_bytes"].items()):
            received.add_metric([protocol], n)
        yield received
        refused = CounterMetricFamily(
            "loganalytics_protocol_rejected",
            "Records, lines or frames not stored, by ingest protocol and reason.",
            labels=["protocol", "reason"],
        )
        for (protocol, reason), n in sorted(snap["protocol_rejected"].items()):
            refused.add_metric([protocol, reason], n)
        yield refused
        yield _gauge_by(
            "loganalytics_protocol_connections",
            "Connections open now, by ingest protocol (the syslog TCP and TLS listeners).",
            "protocol",
            snap["connections"],
        )
        fired = CounterMetricFamily(
            "loganalytics_alerts_fired", "Alerts fired, by rule and severity.", labels=["rule", "severity"]
        )
        for (rule, severity), n in sorted(self._alerts().items()):
            fired.add_metric([rule, severity], n)
        yield fired
        status = self._alerting()
        yield CounterMetricFamily(
            "loganalytics_alert_hook_failures",
            "Alert notification hooks that raised.",
            value=status["hook_failures"],
        )
        yield CounterMetricFamily(
            "loganalytics_alert_evaluation_seconds",
            "Time spent matching ingested batches against alert rules.",
            value=status["evaluation_seconds"],
        )
        yield CounterMetricFamily(
            "loganalytics_alert_evaluations",
            "Ingested batches matched against alert rules.",
            value=status["evaluations"],
        )
        yield CounterMetricFamily(
            "loganalytics_alerts_resolved",
            "Fired alerts resolved when their rule's window dropped under the threshold.",
            value=status["resolved"],
        )
        yield GaugeMetricFamily(
            "loganalytics_alerts_firing", "Fired alerts not resolved yet.", value=status["firing"]
        )
        yield CounterMetricFamily(
            "loganalytics_alert_notifications_dropped",
            "Alert notices dropped because the notification queue was full.",
            value=status["notifications_dropped"],
        )
        cumulative, buckets = 0, []
        for bound, n in zip(QUERY_BUCKETS, snap["query_buckets"], strict=True):
            cumulative += n
            buckets.append((repr(bound), cumulative))
        buckets.append(("+Inf", snap["query_count"]))
        yield HistogramMetricFamily(
            "loganalytics_query_duration_seconds",
            "Time to answer queries.",
            buckets=buckets,
            sum_value=snap["query_sum"],
        )

    def _wal_families(self) -> Iterator[Metric]:
        return _wal_families(self._wal())

    def _retention_families(self) -> Iterator[Metric]:
        if self._disk_usage is not None:
            yield GaugeMetricFamily(
                "loganalytics_disk_usage_bytes",
                "Bytes of live data on disk (what max_disk bounds; freed space is reused).",
                value=self._disk_usage(),
            )
        if self._retention is None:
            return
        retention = self._retention()
        yield CounterMetricFamily(
            "loganalytics_retention_dropped_logs",
            "Logs retention dropped (by age or by size).",
            value=retention["dropped_logs"],
        )
        yield CounterMetricFamily(
            "loganalytics_retention_dropped_days",
            "Event days retention dropped.",
            value=retention["dropped_days"],
        )
        yield CounterMetricFamily(
            "loganalytics_retention_runs", "Retention passes run.", value=retention["runs"]
        )

    def _index_families(self) -> Iterator[Metric]:
        index = self._index()
        yield GaugeMetricFamily(
            "loganalytics_index_lag", "Stored logs the text index does not hold yet.", value=index["lag"]
        )
        state = GaugeMetricFamily(
            "loganalytics_index_state", "The text index's state (1 for the current one).", labels=["state"]
        )
        for name in INDEX_STATES:
            state.add_metric([name], 1 if index["state"] == name else 0)
        yield state
        yield CounterMetricFamily(
            "loganalytics_index_failures", "Text index catch-up rounds that failed.", value=index["failures"]
        )
        yield CounterMetricFamily(
            "loganalytics_index_lag_waits",
            "Writes held back while the text index was too far behind (backpressure).",
            value=index["lag_waits"],
        )
        yield CounterMetricFamily(
            "loganalytics_index_lag_wait_seconds",
            "Time writes spent held back for the text index.",
            value=index["lag_wait_seconds"],
        )
        yield CounterMetricFamily(
            "loganalytics_index_rebuilds",
            "Times a damaged text index was set aside and rebuilt.",
            value=index["rebuilds"],
        )


_WAL_GAUGES = (
    ("pending_rows", "Logs acknowledged (in the write-ahead log) and not yet applied and evaluated."),
    ("pending_bytes", "Memory those logs hold (writers wait past 128 MiB)."),
    ("bytes", "Bytes the write-ahead log's segment files hold."),
    ("replayed_rows", "Logs the last open replayed from the write-ahead log."),
    ("torn_frames", "Frames cut short by a crash that the last open dropped (never acknowledged)."),
)
_WAL_COUNTERS = (
    ("apply_commits", "DuckDB commits of the applier."),
    ("applied_rows", "Logs the applier moved into DuckDB."),
    ("apply_failures", "Applier commits that failed (retried)."),
    ("read_waits", "Reads that waited for the applier to store the writes acknowledged before them."),
    ("read_wait_seconds", "Time reads spent waiting for the applier."),
    ("backpressure_waits", "Writes that waited for the applier (its queue full)."),
    ("backpressure_wait_seconds", "Time writes spent waiting for the applier."),
)


def _wal_families(wal: Mapping[str, Any]) -> Iterator[Metric]:
    for key, text in _WAL_GAUGES:
        yield GaugeMetricFamily(f"loganalytics_wal_{key}", text, value=wal[key])
    for key, text in _WAL_COUNTERS:
        yield CounterMetricFamily(f"loganalytics_wal_{key}", text, value=wal[key])


def prometheus_text(collector: EngineCollector) -> str:
    """The Prometheus text exposition of one collector (HELP/TYPE per family, escaped labels)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry).decode()
