"""Elasticsearch `_bulk` against the native NDJSON endpoint: the same documents, 1,000 a request, from
2 connections, each path into a fresh `serve` process and store; logs/s acknowledged and the ratio
(issue 13's target: `_bulk` ≥ 0.9× native).

    python -m bench.es_bulk                     # 200k documents, 5 rounds, median
    python -m bench.es_bulk --logs 50000 --rounds 1

The documents are the generated logs (`bench.generate`) under ECS's flat names (`@timestamp`,
`log.level`, `service.name`, `message`, `tags`, `http.request.id`, `user.id`, `cloud.region`,
`event.duration_ms`), which both paths read into the same columns: the native one through its
aliases, `_bulk` through its mapping (adding the field `_index`). A round runs both paths, each on a
server of its own, in turn (the order alternating); the section "Elasticsearch _bulk" of
bench/results.md is replaced with the table (`--output`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.abuse import output_options, publish, run_line, section_text
from bench.generate import iter_records
from bench.http import LOGS_PATH, NDJSON, _native_ingest, _serve
from log_analytics_engine.ingest import arrowjson
from log_analytics_engine.ingest.formats import es_bulk
from log_analytics_engine.server.protocols.es_bulk import bulk_items

BENCH_DIR = Path(__file__).resolve().parent
SECTION = "## Elasticsearch _bulk (`python -m bench.es_bulk`)"
BATCH = 1_000
TARGET_RATIO = 0.9
BULK_PATH = "/_bulk"
ACTION = b'{"create":{"_index":"logs-app-default"}}\n'


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# The generated logs' keys and their ECS names (flat, dotted), which both paths read alike.
ECS_KEYS = {
    "timestamp": "@timestamp",
    "level": "log.level",
    "source": "service.name",
    "message": "message",
    "tags": "tags",
    "request_id": "http.request.id",
    "user_id": "user.id",
    "region": "cloud.region",
    "duration_ms": "event.duration_ms",
}


def documents(n: int, seed: int) -> list[bytes]:
    """The generated logs as ECS documents with flat (dotted) keys, one JSON line each."""
    return [orjson.dumps({ECS_KEYS[k]: v for k, v in record.items()}) for record in iter_records(n, seed)]


def native_bodies(docs: list[bytes]) -> list[bytes]:
    return [b"\n".join(docs[i : i + BATCH]) + b"\n" for i in range(0, len(docs), BATCH)]


def bulk_bodies(docs: list[bytes]) -> list[bytes]:
    return [b"".join(ACTION + d + b"\n" for d in docs[i : i + BATCH]) for i in range(0, len(docs), BATCH)]


def native_answer(response: httpx.Response) -> tuple[int, int]:
    """The logs accepted and rejected of a native answer (an error status raises)."""
    response.raise_for_status()
    answer = orjson.loads(response.content)
    return int(answer["accepted"]), int(answer["rejected_count"])


def bulk_answer(response: httpx.Response) -> tuple[int, int]:
    """The items created and not of a `_bulk` answer: counted in its bytes when it says there were
    no errors (as Fluent Bit reads it; the count parsing its items gives, in a tenth of the client's
    time), else by parsing (an error status raises)."""
    response.raise_for_status()
    content = response.content
    if content.startswith(b'{"took":') and b'"errors":false,' in content[:40]:
        return content.count(b'"status":201'), 0
    statuses = [next(iter(item.values()))["status"] for item in orjson.loads(content)["items"]]
    created = statuses.count(201)
    return created, len(statuses) - created


def one_run(root: Path, name: str, path: str, bodies: list[bytes], answer: Any) -> float:
    """Logs/s of one path on a fresh server; every log sent must be acknowledged and stored."""
    stopped: dict[str, Any] = {}
    data = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))
    with _serve(data, data.parent / f"{data.name}.log", stopped) as server:
        got = _native_ingest(server.url, bodies, path, NDJSON, answer)
    sent = sum(body.count(b"\n") for body in bodies) // (2 if path == BULK_PATH else 1)
    if not got["count"] == got["stored"] == sent or got["rejected"]:
        raise RuntimeError(f"{name}: {sent} sent, {got['count']} acknowledged, {got['stored']} stored")
    if "error" in stopped:
        raise RuntimeError(f"{name}: {stopped['error']}")
    return float(got["count"] / got["ingest_s"])


def decode_cpu(native: list[bytes], bulk: list[bytes], runs: int = 3) -> dict[str, float]:
    """CPU µs a document of each path's decoding in this process (the best of `runs`): the native
    body's Arrow read (`arrowjson.to_batch`, what `POST /api/v1/logs` does with such a body) and
    `_bulk`'s decoder plus its answer's items; less moved by other load than the rates are."""
    count = sum(body.count(b"\n") for body in native)

    def best(work: Callable[[], object]) -> float:
        times = []
        for _ in range(runs):
            started = time.process_time()
            work()
            times.append(time.process_time() - started)
        return min(times) / count * 1e6

    return {
        "native": best(lambda: [arrowjson.to_batch(body, 0) for body in native]),
        "bulk": best(lambda: [bulk_items(es_bulk.decode(body)) for body in bulk]),
    }


def measure(logs: int, rounds: int, seed: int) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Each path's logs/s per round, and each decoder's CPU µs a document."""
    progress(f"generating {logs:,} documents")
    docs = documents(logs, seed)
    paths = {
        "native": (LOGS_PATH, native_bodies(docs), native_answer),
        "bulk": (BULK_PATH, bulk_bodies(docs), bulk_answer),
    }
    cpu = decode_cpu(paths["native"][1], paths["bulk"][1])
    rates: dict[str, list[float]] = {name: [] for name in paths}
    with tempfile.TemporaryDirectory(prefix="bench-es-bulk-") as tmp:
        for r in range(rounds):
            order = list(paths) if r % 2 == 0 else list(paths)[::-1]  # a drift in load cancels out
            for name in order:
                path, bodies, answer = paths[name]
                rate = one_run(Path(tmp), name, path, bodies, answer)
                rates[name].append(rate)
                progress(f"round {r + 1}: {name} {rate:,.0f} logs/s")
    return rates, cpu


def render(logs: int, rates: dict[str, list[float]], cpu: dict[str, float]) -> tuple[str, list[str]]:
    native, bulk = statistics.median(rates["native"]), statistics.median(rates["bulk"])
    # each round's two paths ran back to back: the median of their ratios is the robust figure
    ratio = statistics.median(b / n for n, b in zip(rates["native"], rates["bulk"], strict=True))
    rows = [
        "| ingest, 1,000 documents a request over 2 connections (logs/s acknowledged, median) "
        "| `_bulk` | native `POST /api/v1/logs` | `_bulk` ÷ native (median of the rounds' ratios) "
        "| target |",
        "|---|---|---|---|---|",
        f"| {logs:,} ECS documents, each path on a fresh server "
        f"| {bulk:,.0f} | {native:,.0f} | {ratio:.2f}× | ≥ {TARGET_RATIO}× |",
        "| decoding in-process, CPU µs a document, lower is better (best of 3; native: "
        "`arrowjson.to_batch`; `_bulk`: the decoder and its answer's items) "
        f"| {cpu['bulk']:.2f} | {cpu['native']:.2f} | {cpu['bulk'] / cpu['native']:.2f}× | — |",
        "",
        "Each round: "
        + "; ".join(
            f"native {n:,.0f}, `_bulk` {b:,.0f}" for n, b in zip(rates["native"], rates["bulk"], strict=True)
        )
        + ".",
    ]
    missed = [] if ratio >= TARGET_RATIO else [f"`_bulk` {ratio:.2f}× of native < {TARGET_RATIO}×"]
    return "\n".join(rows), missed


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.es_bulk", description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", type=int, default=200_000, help="documents sent on each path")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of both paths (the median is shown)")
    parser.add_argument("--seed", type=int, default=42, help="generator seed")
    output_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    started, load = time.perf_counter(), os.getloadavg()[0]
    rates, cpu = measure(opts.logs, opts.rounds, opts.seed)
    table, missed = render(opts.logs, rates, cpu)
    what = (
        f"load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (other work shares "
        f"the cores), {opts.rounds} round(s)"
    )
    text = section_text(run_line(started, what), table, missed)
    publish(opts, text, SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
