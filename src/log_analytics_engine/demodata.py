"""Deterministic generator of realistic logs, for the demo and the benchmarks.

The same `(n, seed)` always gives the same logs. They cover 24 hours of 2025-07-21 (UTC), in order
with a small jitter, from 20 services, with the level mix of a production system (INFO ~70 %,
DEBUG 10, WARN 12, ERROR 7, FATAL 1) and an incident from 14:00 to 14:30 where errors spike.
Messages come from templates filled with ids, numbers and a Zipf-distributed vocabulary of a few
thousand words, so a single word is found in 0.1–20 % of logs. Most lines carry a request id and a
user id, and every line has fields the engine does not know (`region`, often `duration_ms`), which
it must keep in metadata. A JSONL line is ~240 bytes on average.

The benchmark suite and `log-analytics demo` both use it (`python -m bench.generate OUT N` writes a file).
"""

from __future__ import annotations

import bisect
import functools
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

import orjson

from log_analytics_engine.model import LogEntry

# Bump when the output for a given (n, seed) changes, so cached files are regenerated.
GENERATOR_VERSION = 1
DAY = "2025-07-21"
DAY_MS = 86_400_000
JITTER_MS = 250
INCIDENT_MS = (14 * 3_600_000, int(14.5 * 3_600_000))
# A word and a tag the benchmark queries for; the templates put the word in ~3 % of logs.
QUERY_WORD = "timeout"
QUERY_TAG = "canary"

LEVELS = ("INFO", "DEBUG", "WARN", "ERROR", "FATAL")
LEVEL_WEIGHTS = (70, 10, 12, 7, 1)
INCIDENT_LEVEL_WEIGHTS = (38, 5, 20, 33, 4)
SOURCES = (
    "api-gateway", "auth", "users", "orders", "payments", "checkout", "cart", "catalog", "search",
    "inventory", "shipping", "notifications", "email", "billing", "recommendations", "db", "cache",
    "scheduler", "frontend", "analytics",
)  # fmt: skip
SOURCE_WEIGHTS = (20, 9, 7, 8, 6, 6, 7, 9, 8, 5, 4, 4, 3, 3, 5, 6, 6, 2, 10, 2)
INCIDENT_SOURCES = ("payments", "checkout", "db", "api-gateway")
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1")
REGION_WEIGHTS = (40, 15, 25, 12, 8)
TAGS = ("prod", "web", "mobile", "batch", "internal", "canary", "payments", "security", "retry", "slow")
TAG_WEIGHTS = (30, 20, 12, 8, 8, 4, 6, 4, 4, 4)
# Real words take the top ranks of the vocabulary, pseudo-words fill the long tail.
COMMON_WORDS = (
    "account", "session", "order", "invoice", "cart", "product", "item", "price", "stock",
    "customer", "profile", "address", "shipment", "refund", "coupon", "discount", "token", "report",
    "export", "import", "upload", "download", "image", "thumbnail", "avatar", "message", "notification",
    "email", "template", "queue", "worker", "batch", "schedule", "cron", "ledger", "balance", "wallet",
    "transfer", "subscription", "plan", "trial", "license", "tenant", "organization", "team", "member",
    "role", "permission", "policy", "audit", "event", "webhook", "callback", "partner", "vendor",
    "warehouse", "carrier", "tracking", "label", "review", "rating", "comment", "wishlist", "catalog",
    "category", "brand", "variant", "bundle", "search", "index", "query", "filter", "facet", "suggestion",
    "recommendation", "feed", "banner", "campaign", "segment", "cohort", "metric", "dashboard", "widget",
    "setting", "preference", "locale", "currency", "region", "zone", "cluster", "node", "replica",
    "shard", "partition", "snapshot", "backup", "archive", "manifest", "config", "secret", "key",
    "certificate", "gateway", "proxy", "router", "resolver", "scheduler", "pipeline", "stream", "topic",
    "consumer", "producer", "broker", "channel", "bucket", "object", "blob", "document", "record", "entry",
    "draft", "revision", "version", "release", "feature", "experiment", "variant", "flag", "rollout",
)  # fmt: skip
VOCAB_SIZE = 3_000
VOCAB_SEED = 20250721
# Zipf–Mandelbrot weights 1 / (rank + offset)^exponent: the top word is in ~12 % of logs.
ZIPF_EXPONENT = 1.07
ZIPF_OFFSET = 2.7
_CONSONANTS = "bcdfghklmnprstvz"
_VOWELS = "aeiou"


@dataclass(frozen=True)
class Weighted:
    """Items with cumulative weights, picked with one uniform draw and a bisection."""

    items: tuple[Any, ...]
    cum: tuple[float, ...]

    @classmethod
    def of(cls, items: Sequence[Any], weights: Sequence[float]) -> Weighted:
        """Items with their (relative) weights."""
        return cls(tuple(items), tuple(accumulate(weights)))

    def pick(self, rng: random.Random) -> Any:
        """One item, drawn by weight."""
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.cum[-1])]


def _pseudo_word(rng: random.Random) -> str:
    syllables = [rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(rng.randint(2, 3))]
    tail = rng.choice(_CONSONANTS) if rng.random() < 0.4 else ""
    return "".join(syllables) + tail


def build_vocabulary(size: int = VOCAB_SIZE, seed: int = VOCAB_SEED) -> Weighted:
    """Common words first, then distinct pseudo-words, weighted 1/rank^s (Zipf)."""
    rng = random.Random(seed)
    words = list(dict.fromkeys(COMMON_WORDS))
    seen = {*words, QUERY_WORD}
    while len(words) < size:
        word = _pseudo_word(rng)
        if word not in seen:
            seen.add(word)
            words.append(word)
    return Weighted.of(words, [1.0 / ((rank + ZIPF_OFFSET) ** ZIPF_EXPONENT) for rank in range(1, size + 1)])


# Message templates: (weight, text, source or None). Each `{slot}` is filled by `Slots` with a fresh
# value per occurrence; a slot whose name ends in `ms` also becomes the record's `duration_ms`.
Template = tuple[int, str, str | None]
INFO_TEMPLATES: tuple[Template, ...] = (
    (14, "{method} {path} {status} {ms}ms", None),
    (8, "user {user} logged in from {ip} via {auth}", "auth"),
    (4, "session for user {user} expired after {minutes} minutes of inactivity", "auth"),
    (8, "order {order_id} created: {small} items, total {amount} EUR", "orders"),
    (6, "payment {pay_id} authorized for {amount} EUR by {w} gateway", "payments"),
    (4, "cache {w} hit ratio {pct}% over {big} keys", "cache"),
    (6, "job {w}-{w} finished in {job_ms}ms, processed {big} records", "scheduler"),
    (14, "{done} {w} {w} {prep} {words}", None),
    (
        6,
        "consumer group {w}-{digit} committed offset {offset} on partition {partition} of topic {w}.{w}",
        None,
    ),
    (7, "health check of {host} passed ({tiny_ms}ms)", None),
    (2, "configuration reloaded: {small} keys changed ({w}, {w}, {w})", None),
    (4, "email {w}-{w} sent to user {user} via {mailer}", "email"),
    (9, "search query '{w} {w}' returned {hits} results ({search_ms}ms)", "search"),
)
DEBUG_TEMPLATES: tuple[Template, ...] = (
    (6, "cache miss for key {w}:{w}:{big}", "cache"),
    (6, "sql SELECT id, {w}, {w} FROM {w}s WHERE {w}_id = ${digit} took {tiny_ms}ms", "db"),
    (4, "feature flag {w}-{w} evaluated to {bool} for user {user}", None),
    (3, "request headers: user-agent={agent} accept=application/json x-trace={trace_id}", None),
    (3, "gc pause {tiny_ms}ms, heap {heap}MB of 4096MB", None),
    (4, "entering {func} with args ({w}={offset}, {w}={w})", None),
)
WARN_TEMPLATES: tuple[Template, ...] = (
    (5, "slow request {method} {path} took {slow_ms}ms (threshold 1000ms)", None),
    (4, "retrying {w} call to {host} after timeout (attempt {attempt}/5)", None),
    (4, "connection pool {w}-pool at {pct}% capacity ({small} waiting)", None),
    (3, "deprecated endpoint /api/v0/{w} called by client {w}-{digit}.{small}", "api-gateway"),
    (4, "rate limit exceeded for user {user} on /api/v1/{w}s: {hits} requests in 60s", "api-gateway"),
    (2, "disk usage on {host} at {pct}% for volume /var/lib/{w}", None),
    (2, "memory usage high: {heap}MB of 4096MB used by {w} worker", None),
)
ERROR_TEMPLATES: tuple[Template, ...] = (
    (5, "connection refused to {host}:{port}", None),
    (5, "payment {pay_id} declined: {decline}", "payments"),
    (3, "upstream {host} timeout after {upstream_ms}ms while calling {w}", None),
    (4, "unhandled exception in {func}: {exception}: {w} {w} {w}{frame}{frame}{frame}", None),
    (4, "failed to {verb} {w} {object_id}: {words}", None),
    (2, "query failed on db-primary-{digit}: deadlock detected while updating {w}s", "db"),
    (4, "{method} {path} 500 {ms}ms: internal error in {w} handler", None),
    (2, "invalid token for user {user}: signature verification failed", "auth"),
)
FATAL_TEMPLATES: tuple[Template, ...] = (
    (3, "out of memory: killed process {pid} ({w}-worker)", None),
    (2, "database db-primary-{digit} unreachable after {attempt} retries, shutting down", None),
    (
        2,
        "panic: runtime error: index out of range [{small}] with length {small}\ngoroutine {pid} [running]",
        None,
    ),
)
INCIDENT_TEMPLATES: tuple[Template, ...] = (
    (4, "connection refused to db-primary-2:5432 ({small} in pool waiting)", None),
    (3, "payment {pay_id} declined: upstream timeout after {upstream_ms}ms", "payments"),
    (1, "circuit breaker open for payments-db after {hits} consecutive failures", None),
)
_CHOICES: dict[str, tuple[str, ...]] = {
    "auth": ("password", "sso", "oauth"),
    "mailer": ("ses", "sendgrid", "smtp"),
    "done": ("scheduled", "started", "completed", "refreshed"),
    "prep": ("for", "of", "on", "with"),
    "status": ("200", "200", "200", "201", "204", "304"),
    "bool": ("true", "false"),
    "port": ("5432", "6379", "9092", "8080", "443"),
    "verb": ("update", "create", "delete", "sync", "load", "publish"),
    "decline": (
        "insufficient funds",
        "card expired",
        "suspected fraud",
        "do not honor",
        "issuer unavailable",
    ),
    "exception": ("NullPointerException", "IllegalStateException", "KeyError", "ValueError", "TimeoutError"),
    "agent": ("Mozilla/5.0 (X11; Linux x86_64)", "okhttp/4.12.0", "curl/8.5.0", "python-requests/2.31"),
}
_RANGES: dict[str, tuple[int, int]] = {
    "digit": (1, 10),
    "small": (1, 40),
    "minutes": (5, 120),
    "attempt": (1, 6),
    "pct": (40, 100),
    "partition": (0, 32),
    "hits": (0, 5000),
    "heap": (200, 4000),
    "big": (100, 90_000),
    "offset": (0, 10_000_000),
    "pid": (100, 60_000),
}
# Latency slots: median milliseconds and a floor (log-normal around the median).
_LATENCIES: dict[str, tuple[float, int]] = {
    "ms": (35.0, 1),
    "tiny_ms": (4.0, 1),
    "search_ms": (60.0, 1),
    "job_ms": (800.0, 1),
    "slow_ms": (900.0, 1000),
    "upstream_ms": (200.0, 3000),
}


class Slots(dict[str, object]):
    """The values of one message's `{slot}`s, drawn afresh at every occurrence (nothing is stored)."""

    def __init__(self, fillers: dict[str, Callable[[], object]]) -> None:
        super().__init__()
        self.fillers = fillers
        self.duration: int | None = None

    def __missing__(self, key: str) -> object:
        value = self.fillers[key]()
        if key.endswith("ms"):
            self.duration = int(value)  # type: ignore[call-overload]
        return value


class MessageMaker:
    """Fills the templates of each level from one seeded random stream."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.vocab = build_vocabulary()
        self.hosts = tuple(f"{s}-{i}" for s in SOURCES for i in range(1, 4))
        self.slots = Slots(self._fillers())
        self.by_level: dict[str, Weighted] = {
            level: _weighted(templates)
            for level, templates in zip(
                LEVELS,
                (INFO_TEMPLATES, DEBUG_TEMPLATES, WARN_TEMPLATES, ERROR_TEMPLATES, FATAL_TEMPLATES),
                strict=True,
            )
        }
        self.incident = _weighted(INCIDENT_TEMPLATES)

    def make(self, level: str, incident: bool) -> tuple[str, int | None, str | None]:
        """(message, duration_ms or None, source or None) for a log of this level.

        Inside the incident window most WARN/ERROR/FATAL lines are the incident's own messages.
        """
        if incident and level in ("WARN", "ERROR", "FATAL") and self.rng.random() < 0.7:
            text, source = self.incident.pick(self.rng)
        else:
            text, source = self.by_level[level].pick(self.rng)
        self.slots.duration = None
        return text.format_map(self.slots), self.slots.duration, source

    @staticmethod
    def _latency(rng: random.Random, median: float, floor: int) -> int:
        return floor + int(rng.lognormvariate(0.0, 1.0) * median)

    def _fillers(self) -> dict[str, Callable[[], object]]:
        rng, vocab = self.rng, self.vocab
        rnd = rng.random

        def between(low: int, high: int) -> int:  # between(low, high), without its overhead
            return low + int(rnd() * (high - low))

        def one_of(options: Sequence[str]) -> str:
            return options[int(rnd() * len(options))]

        fillers: dict[str, Callable[[], object]] = {
            "w": lambda: vocab.pick(rng),
            "words": lambda: " ".join(vocab.pick(rng) for _ in range(between(2, 5))),
            "method": lambda: "GET" if rng.random() < 0.7 else one_of(("POST", "PUT", "DELETE")),
            "path": lambda: f"/api/v1/{vocab.pick(rng)}s/{between(1, 100_000)}/{vocab.pick(rng)}",
            "user": lambda: f"u{between(1, 50_000)}",
            "ip": lambda: f"{between(1, 224)}.{between(0, 256)}.{between(0, 256)}.{between(1, 255)}",
            "host": lambda: one_of(self.hosts),
            "amount": lambda: f"{between(1, 900)}.{between(0, 100):02d}",
            "order_id": lambda: f"ord-{rng.getrandbits(40):010x}",
            "pay_id": lambda: f"pay-{rng.getrandbits(40):010x}",
            "object_id": lambda: f"id-{rng.getrandbits(32):08x}",
            "trace_id": lambda: f"{rng.getrandbits(64):016x}",
            "func": lambda: f"com.acme.{vocab.pick(rng)}.{vocab.pick(rng).capitalize()}Service.handle",
            "frame": lambda: (
                f"\n    at com.acme.{vocab.pick(rng)}.Handler.run(Handler.java:{between(20, 900)})"
            ),
        }
        for name, options in _CHOICES.items():
            fillers[name] = functools.partial(one_of, options)
        for name, (low, high) in _RANGES.items():
            fillers[name] = functools.partial(between, low, high)
        for name, (median, floor) in _LATENCIES.items():
            fillers[name] = functools.partial(self._latency, rng, median, floor)
        return fillers


def _weighted(templates: Sequence[Template]) -> Weighted:
    return Weighted.of([(text, source) for _, text, source in templates], [w for w, _, _ in templates])


class RecordMaker:
    """Builds the records (dicts in JSONL field order) of one `(n, seed)` data set."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.messages = MessageMaker(self.rng)
        self.levels = Weighted.of(LEVELS, LEVEL_WEIGHTS)
        self.incident_levels = Weighted.of(LEVELS, INCIDENT_LEVEL_WEIGHTS)
        self.sources = Weighted.of(SOURCES, SOURCE_WEIGHTS)
        self.regions = Weighted.of(REGIONS, REGION_WEIGHTS)
        self.tags = Weighted.of(TAGS, TAG_WEIGHTS)

    def tag_list(self) -> list[str]:
        """0, 1 or 2 distinct tags."""
        roll = self.rng.random()
        if roll < 0.3:
            return []
        first = self.tags.pick(self.rng)
        if roll < 0.8:
            return [first]
        second = self.tags.pick(self.rng)
        return [first] if second == first else [first, second]

    def record(self, t_ms: int, timestamp: str) -> dict[str, Any]:
        """One log at event time `t_ms` (milliseconds into the day), `timestamp` being its text."""
        rng = self.rng
        incident = INCIDENT_MS[0] <= t_ms < INCIDENT_MS[1]
        level = (self.incident_levels if incident else self.levels).pick(rng)
        message, duration, source = self.messages.make(level, incident)
        if incident and level != "INFO" and level != "DEBUG" and source is None:
            source = rng.choice(INCIDENT_SOURCES)
        rec: dict[str, Any] = {
            "timestamp": timestamp,
            "level": level,
            "source": source or self.sources.pick(rng),
            "message": message,
            "tags": self.tag_list(),
        }
        if rng.random() < 0.9:
            rec["request_id"] = f"{rng.getrandbits(64):016x}"
        if rng.random() < 0.65:
            rec["user_id"] = f"u{1 + int(rng.random() * 49_999)}"
        rec["region"] = self.regions.pick(rng)
        if duration is not None:
            rec["duration_ms"] = duration
        return rec


def format_second(second: int) -> str:
    """RFC 3339 text, without fraction and zone, of a second into the benchmark day."""
    minutes, sec = divmod(second, 60)
    hours, minute = divmod(minutes, 60)
    return f"{DAY}T{hours:02d}:{minute:02d}:{sec:02d}"


def iter_records(n: int, seed: int = 42) -> Iterator[dict[str, Any]]:
    """The `n` records of the data set `seed`, in (jittered) time order over the day."""
    maker = RecordMaker(seed)
    rng = maker.rng
    step = DAY_MS / max(n, 1)
    last_second, prefix = -1, ""
    for i in range(n):
        jitter = int((rng.random() * 2 - 1) * JITTER_MS)
        t_ms = min(max(int(i * step) + jitter, 0), DAY_MS - 1)
        second, millis = divmod(t_ms, 1000)
        if second != last_second:
            last_second, prefix = second, format_second(second)
        yield maker.record(t_ms, f"{prefix}.{millis:03d}Z")


def write_jsonl(path: str | Path, n: int, seed: int = 42, block: int = 20_000) -> Path:
    """Write the data set as JSON lines (written to a temporary name, then renamed); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    dumps = orjson.dumps
    records = iter_records(n, seed)
    with partial.open("wb") as out:
        while True:
            lines = [dumps(rec) for _, rec in zip(range(block), records, strict=False)]
            if not lines:
                break
            out.write(b"\n".join(lines) + b"\n")
    partial.replace(target)
    return target


def cached_jsonl(directory: str | Path, n: int, seed: int = 42) -> Path:
    """The data set's JSONL file in `directory`, generated only when it is not there yet."""
    path = Path(directory) / f"logs-n{n}-seed{seed}-v{GENERATOR_VERSION}.jsonl"
    if not path.exists():
        write_jsonl(path, n, seed)
    return path


def to_entry(rec: dict[str, Any]) -> LogEntry:
    """A record as a LogEntry; fields the engine does not know go to metadata, as file ingest does."""
    metadata = {"region": rec["region"]}
    if "duration_ms" in rec:
        metadata["duration_ms"] = rec["duration_ms"]
    return LogEntry(
        timestamp=rec["timestamp"],
        level=rec["level"],
        message=rec["message"],
        source=rec["source"],
        request_id=rec.get("request_id"),
        user_id=rec.get("user_id"),
        tags=rec["tags"],
        metadata=metadata,
    )


def make_entries(n: int, seed: int = 42) -> list[LogEntry]:
    """The data set as LogEntry objects (the same logs `write_jsonl` writes)."""
    return [to_entry(rec) for rec in iter_records(n, seed)]
