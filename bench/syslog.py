"""Syslog listeners: `serve --syslog-tcp --syslog-udp` in its own process, fed generated logs as
RFC 5424 messages.

- TCP: the messages octet-counted (RFC 6587, as rsyslog's omfwd and `logger --octet-count` send
  them) over INGEST_CONNECTIONS connections, each writing its share flat out; msgs/s from the first
  byte sent to the last message stored (the server's `loganalytics_ingested_logs{path="syslog"}`).
- UDP: one datagram per message from one sender, paced at each rate of UDP_RATES (0: flat out);
  sent, stored, and the loss split into datagrams the kernel dropped (its receive buffer full:
  `Udp RcvbufErrors` of /proc/net/snmp) and those the listener dropped (its queue full: `udp_dropped`).

    python -m bench.syslog                       # 400k TCP messages, 100k UDP per rate
    python -m bench.syslog --tcp 100000 --udp 20000 --no-write

The section "Syslog listeners" of bench/results.md is replaced with the table (`--output`).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.abuse import output_options, publish, run_line, section_text
from bench.generate import iter_records

BENCH_DIR = Path(__file__).resolve().parent
SECTION = "## Syslog listeners (`python -m bench.syslog`)"
INGEST_CONNECTIONS = 2
TARGET_TCP_PER_S = 50_000
UDP_RATES = (10_000, 50_000, 0)
SEND_CHUNK = 256 << 10
SETTLE_S = 1.0  # the stored count still for this long: everything that will arrive has
STORE_TIMEOUT_S = 300.0
START_TIMEOUT_S = 60.0
_SEVERITY = {"FATAL": 2, "ERROR": 3, "WARN": 4, "INFO": 6, "DEBUG": 7}
_STORED = re.compile(r'^loganalytics_ingested_logs_total\{path="syslog"\} (\S+)$', re.M)
_DROPPED = re.compile(
    r'^loganalytics_protocol_rejected_total\{protocol="syslog",reason="udp_dropped"\} (\S+)$', re.M
)


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def messages(n: int, seed: int) -> list[bytes]:
    """The generated logs as RFC 5424 messages (facility local0, the log's source as the app-name)."""
    out = []
    for i, record in enumerate(iter_records(n, seed)):
        pri = 16 * 8 + _SEVERITY.get(record["level"], 6)
        message = record["message"].replace("\n", " ")
        host, procid = f"web{i % 8:02d}", 1000 + i % 97
        out.append(
            f"<{pri}>1 {record['timestamp']} {host} {record['source']} {procid} - - {message}".encode()
        )
    return out


def octet_counted(frames: Sequence[bytes]) -> bytes:
    return b"".join(b"%d %s" % (len(frame), frame) for frame in frames)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`serve` with both syslog listeners, and a reader of its counters."""

    def __init__(self, work: Path) -> None:
        self.port, self.syslog_port = _free_port(), _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = work / "server.log"
        address = f"127.0.0.1:{self.syslog_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOG_ANALYTICS_")}
        command = [sys.executable, "-m", "log_analytics_engine.cli", "serve", "--data", str(work / "store")]
        command += ["--port", str(self.port), "--syslog-tcp", address, "--syslog-udp", address]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.client = httpx.Client(base_url=self.url, timeout=30)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if self.client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)

    def counters(self) -> tuple[int, int]:
        """Syslog logs stored and UDP datagrams the listener dropped, so far."""
        text = self.client.get("/metrics").raise_for_status().text
        stored, dropped = _STORED.search(text), _DROPPED.search(text)
        return int(float(stored.group(1))) if stored else 0, int(float(dropped.group(1))) if dropped else 0

    def wait_stored(self, count: int) -> float:
        """perf_counter() when `count` syslog logs are stored."""
        deadline = time.monotonic() + STORE_TIMEOUT_S
        while self.counters()[0] < count:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.counters()[0]:,} of {count:,} stored after {STORE_TIMEOUT_S:.0f} s"
                )
            time.sleep(0.01)
        return time.perf_counter()

    def settle(self) -> tuple[int, int]:
        """The counters once the stored count has not moved for SETTLE_S."""
        last, still = self.counters(), time.monotonic()
        while time.monotonic() - still < SETTLE_S:
            time.sleep(0.1)
            now = self.counters()
            if now != last:
                last, still = now, time.monotonic()
        return last

    def stop(self) -> None:
        self.client.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def serving(work: Path) -> Iterator[Server]:
    server = Server(work)
    try:
        yield server
    finally:
        server.stop()


def tcp_rate(server: Server, frames: list[bytes]) -> dict[str, Any]:
    """INGEST_CONNECTIONS connections each send their share, octet-counted, flat out."""
    shares = [octet_counted(frames[i::INGEST_CONNECTIONS]) for i in range(INGEST_CONNECTIONS)]
    before = server.counters()[0]
    sockets = [socket.create_connection(("127.0.0.1", server.syslog_port)) for _ in shares]
    start = threading.Barrier(len(shares) + 1)
    sent_at: list[float] = []

    def send(sock: socket.socket, data: bytes) -> None:
        start.wait()
        view = memoryview(data)
        for at in range(0, len(data), SEND_CHUNK):
            sock.sendall(view[at : at + SEND_CHUNK])
        sent_at.append(time.perf_counter())

    threads = [threading.Thread(target=send, args=pair) for pair in zip(sockets, shares, strict=True)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    stored_at = server.wait_stored(before + len(frames))
    for sock in sockets:
        sock.close()
    seconds = stored_at - began
    return {
        "messages": len(frames),
        "bytes": sum(map(len, shares)),
        "seconds": seconds,
        "sent_seconds": max(sent_at) - began,
        "rate": len(frames) / seconds,
    }


def _rcvbuf_errors() -> int:
    """The kernel's count of UDP datagrams dropped for a full receive buffer (all sockets)."""
    lines = [
        line.split() for line in Path("/proc/net/snmp").read_text().splitlines() if line.startswith("Udp:")
    ]
    header, values = lines[0], lines[1]
    return int(values[header.index("RcvbufErrors")])


def udp_loss(server: Server, frames: list[bytes], rate: int) -> dict[str, Any]:
    """One datagram per message at `rate` a second (0: as fast as the sender can)."""
    before_stored, before_dropped = server.counters()
    kernel_before = _rcvbuf_errors()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("127.0.0.1", server.syslog_port))
        began = time.perf_counter()
        for i, frame in enumerate(frames):
            if rate and i % 100 == 0:
                wait = began + i / rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            sock.send(frame)
        sent_s = time.perf_counter() - began
    stored, dropped = server.settle()
    stored -= before_stored
    return {
        "rate": rate,
        "sent": len(frames),
        "sent_per_s": len(frames) / sent_s,
        "stored": stored,
        "listener_dropped": dropped - before_dropped,
        "kernel_dropped": _rcvbuf_errors() - kernel_before,
    }


def render(tcp: dict[str, Any], udp: list[dict[str, Any]]) -> tuple[str, list[str]]:
    missed = []
    lines = [
        "| syslog TCP, RFC 5424 octet-counted | messages | MB | sent in | stored in | msgs/s | target |",
        "|---|---|---|---|---|---|---|",
        f"| {INGEST_CONNECTIONS} connections | {tcp['messages']:,} | {tcp['bytes'] / 1e6:.1f} "
        f"| {tcp['sent_seconds']:.2f} s | {tcp['seconds']:.2f} s | {tcp['rate']:,.0f} "
        f"| ≥ {TARGET_TCP_PER_S:,} |",
        "",
        "| syslog UDP, one sender | sent | sent/s | stored | lost | kernel dropped (receive buffer) "
        "| listener dropped (queue full) |",
        "|---|---|---|---|---|---|---|",
    ]
    if tcp["rate"] < TARGET_TCP_PER_S:
        missed.append(f"TCP {tcp['rate']:,.0f} msgs/s < {TARGET_TCP_PER_S:,}")
    for u in udp:
        lost = u["sent"] - u["stored"]
        paced = f"paced at {u['rate']:,}/s" if u["rate"] else "flat out"
        lines.append(
            f"| {paced} | {u['sent']:,} | {u['sent_per_s']:,.0f} | {u['stored']:,} "
            f"| {lost:,} ({lost / u['sent']:.1%}) | {u['kernel_dropped']:,} | {u['listener_dropped']:,} |"
        )
    return "\n".join(lines), missed


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tcp", type=int, default=400_000, help="messages sent over TCP")
    parser.add_argument("--udp", type=int, default=100_000, help="datagrams sent at each UDP rate")
    parser.add_argument("--seed", type=int, default=42)
    output_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    started = time.perf_counter()
    progress(f"generating {max(opts.tcp, opts.udp):,} messages")
    frames = messages(max(opts.tcp, opts.udp), opts.seed)
    with tempfile.TemporaryDirectory(prefix="bench-syslog-") as tmp, serving(Path(tmp)) as server:
        progress(f"TCP: {opts.tcp:,} messages over {INGEST_CONNECTIONS} connections")
        tcp = tcp_rate(server, frames[: opts.tcp])
        udp = []
        for rate in UDP_RATES:
            progress(f"UDP: {opts.udp:,} datagrams, {'flat out' if not rate else f'{rate:,}/s'}")
            udp.append(udp_loss(server, frames[: opts.udp], rate))
    table, missed = render(tcp, udp)
    text = section_text(run_line(started, "sender and server on one machine"), table, missed)
    publish(opts, text, SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
