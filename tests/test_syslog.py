"""Syslog listeners (`serve --syslog-udp/--syslog-tcp`, `[syslog]` tls) with real senders — util-linux
`logger` (RFC 5424 over UDP, and TCP octet-counted), Python's `SysLogHandler` (UDP, and TCP with NUL
frames), rsyslog forwarding a file (imfile -> omfwd, RFC 5424 octet-counted), a TLS client — each
stored with its time, level, source and fields; bad input (a 100 KB line, garbage, a bad octet count,
a connection closed mid-frame, 500 silent connections, more connections than allowed) counted while
every other sender is served; backpressure, idle connections and shutdown of the listeners in
process; and the framer and the frame decoder on their own."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import logging.handlers
import random
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import services
from log_analytics_engine import LogAnalyticsEngine
from log_analytics_engine.ingest.formats.syslog_wire import FACILITIES, decode
from log_analytics_engine.model import LogEntry
from log_analytics_engine.server.settings import Settings
from log_analytics_engine.server.syslog import (
    MAX_FRAME_BYTES,
    READ_BYTES,
    Framer,
    SyslogListeners,
    datagram_frames,
)
from log_analytics_engine.timeparse import parse_timestamp
from services import fill_disk, free_port, wait_ready
from shippers import apt_install

CLI = [sys.executable, "-m", "log_analytics_engine.cli"]
WAIT_S = 30.0  # the longest a test waits for logs to be stored (they come within ~0.1 s)


# -- helpers ------------------------------------------------------------------------------------------


def token() -> str:
    """A word no other log holds."""
    return "t" + uuid.uuid4().hex[:12]


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


class Served:
    """`log-analytics serve` with syslog listeners, in its own process."""

    def __init__(self, tmp: Path, *extra: str) -> None:
        self.port = free_port()
        self.udp = free_port()
        self.tcp = free_port()
        self.tls = 0  # the TLS listener's port, when the config file sets one
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"serve-{self.port}.log"
        command = [*CLI, "serve", "--data", str(tmp / f"data-{self.port}"), "--port", str(self.port)]
        command += ["--syslog-udp", f"127.0.0.1:{self.udp}", "--syslog-tcp", f"127.0.0.1:{self.tcp}"]
        self.process = subprocess.Popen(
            [*command, *extra], stdout=self.log.open("w"), stderr=subprocess.STDOUT
        )
        wait_ready(self.url + "/healthz", self.process, self.log)
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def logs(self, query: str) -> list[dict[str, Any]]:
        """The stored logs matching `query`, oldest first."""
        answer = self.http.get("/api/v1/search", params={"q": query, "limit": 1000})
        answer.raise_for_status()
        return list(reversed(answer.json()["logs"]))

    def wait_logs(self, query: str, count: int, seconds: float = WAIT_S) -> list[dict[str, Any]]:
        """The logs matching `query` once there are `count` of them (failing after `seconds`)."""
        deadline = time.monotonic() + seconds
        while True:
            found = self.logs(query)
            if len(found) >= count:
                assert len(found) == count, found
                return found
            assert time.monotonic() < deadline, f"{len(found)} of {count} logs for {query!r}: {found}"
            time.sleep(0.05)

    def metrics(self) -> str:
        return self.http.get("/metrics").raise_for_status().text

    def wait_metric(self, name: str, at_least: float, **labels: str) -> float:
        deadline = time.monotonic() + WAIT_S
        while (value := metric(self.metrics(), name, **labels)) < at_least:
            assert time.monotonic() < deadline, f"{name}{labels} = {value}, waited for {at_least}"
            time.sleep(0.05)
        return value

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)


def make_cert(where: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (PEM), made by openssl."""
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [
            *(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
            ),
            *("-keyout", str(key), "-out", str(cert), "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, tls_files: tuple[Path, Path]) -> Iterator[Served]:
    """One server for the module: UDP and TCP by flag, TLS by the config file."""
    tmp = tmp_path_factory.mktemp("syslog")
    tls = free_port()
    cert, key = tls_files
    config = tmp / "server.toml"
    config.write_text(f'[syslog]\ntls = "127.0.0.1:{tls}"\ntls_cert = "{cert}"\ntls_key = "{key}"\n')
    server = Served(tmp, "--config", str(config))
    server.tls = tls
    yield server
    server.stop()


README = Path(__file__).resolve().parent.parent / "README.md"


def readme_blocks(kind: str) -> list[str]:
    """The `kind` code blocks of the README's syslog subsection."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Syslog (rsyslog, syslog-ng, logger, Python SysLogHandler)", 1)[1]
    section = section.split("\n## ", 1)[0]
    return re.findall(rf"```{kind}\n(.*?)```", section, flags=re.S)


def logger_frames(*args: str, stdin: str | None = None) -> list[str]:
    """Run util-linux `logger` with `args` (plus --stderr); the frames it sent, as it printed them."""
    done = subprocess.run(
        ["logger", "--stderr", *args], input=stdin, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stderr.splitlines()


def header(frame: str) -> list[str]:
    """The words of a frame `logger` printed, from its <PRI> (past an octet count)."""
    return frame[frame.index("<") :].split(" ")


def ns_of(log: dict[str, Any]) -> int:
    return parse_timestamp(log["timestamp"])


def send_tcp(port: int, data: bytes, linger: float = 0.0) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        time.sleep(linger)


# -- real senders -----------------------------------------------------------------------------------


def test_logger_rfc5424_over_udp(served: Served) -> None:
    """`logger --rfc5424 -d` with structured data: its time to the microsecond, the PRI's level,
    the tag as source, host/pid/msgid/facility and each SD parameter as fields."""
    word = token()
    [frame] = logger_frames(
        "--rfc5424", "-n", "127.0.0.1", "-P", str(served.udp), "-d", "-t", "billing", "-p", "local0.err",
        "--msgid", "ID47", "--id=4242", "--sd-id", "x@32473", "--sd-param", 'k="v"', "--sd-param",
        'q="a \\"quoted\\" \\] word"', f"payment {word} declined",
    )  # fmt: skip
    [log] = served.wait_logs(word, 1)
    assert ns_of(log) == parse_timestamp(header(frame)[1])
    assert (log["level"], log["source"], log["message"]) == ("ERROR", "billing", f"payment {word} declined")
    meta = log["metadata"]
    assert meta["host"] == header(frame)[2]
    assert (meta["pid"], meta["msgid"], meta["facility"]) == (4242, "ID47", "local0")
    assert meta["x@32473.k"] == "v"
    assert meta["x@32473.q"] == 'a "quoted" ] word'
    assert meta["timeQuality.tzKnown"] == "1"  # logger's own SD element
    assert served.logs(f'"x@32473.k":v {word}') == [log]  # a quoted field name finds it


def test_logger_octet_counted_over_tcp(served: Served) -> None:
    """`logger -T --octet-count` sending several lines over one connection: each line its own log,
    in order, with its severity."""
    word = token()
    lines = [f"line {i} {word}" for i in range(5)]
    frames = logger_frames(
        "--rfc5424", "-n", "127.0.0.1", "-P", str(served.tcp), "-T", "--octet-count", "-t", "worker",
        "-p", "daemon.warning", stdin="\n".join(lines) + "\n",
    )  # fmt: skip
    assert len(frames) == 5
    logs = served.wait_logs(word, 5)
    assert [log["message"] for log in logs] == lines
    assert {(log["level"], log["source"], log["metadata"]["facility"]) for log in logs} == {
        ("WARN", "worker", "daemon")
    }
    assert [ns_of(log) for log in logs] == [parse_timestamp(header(f)[1]) for f in frames]


def test_logger_rfc3164_over_udp(served: Served) -> None:
    """`logger --rfc3164`: a BSD time (no year, no zone: read as UTC, this year), host and tag."""
    word = token()
    [frame] = logger_frames(
        "--rfc3164", "-n", "127.0.0.1", "-P", str(served.udp), "-d", "-t", "cron", "-p", "cron.info", "-i",
        f"job {word} ran",
    )  # fmt: skip
    [log] = served.wait_logs(word, 1)
    stamp = frame[frame.index(">") + 1 :][:15]
    assert ns_of(log) == parse_timestamp(stamp)
    assert (log["level"], log["source"], log["message"]) == ("INFO", "cron", f"job {word} ran")
    assert log["metadata"]["facility"] == "cron"
    assert isinstance(log["metadata"]["pid"], int)


def _python_logger(name: str, handler: logging.Handler) -> logging.Logger:
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    log = logging.getLogger(name)
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)
    return log


def test_python_syslog_handler_over_udp(served: Served) -> None:
    """The stdlib SysLogHandler over UDP (`<PRI>name: message\\x00`, no time): each level's
    severity, the logger's name as source, the ingest time."""
    word = token()
    handler = logging.handlers.SysLogHandler(("127.0.0.1", served.udp))
    log = _python_logger(f"app{word}", handler)
    before = time.time_ns()
    for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL):
        log.log(level, "%s %s", logging.getLevelName(level), word)
    handler.close()
    logs = served.wait_logs(word, 5)
    assert [(x["level"], x["message"]) for x in logs] == [
        ("DEBUG", f"DEBUG {word}"),
        ("INFO", f"INFO {word}"),
        ("WARN", f"WARNING {word}"),
        ("ERROR", f"ERROR {word}"),
        ("FATAL", f"CRITICAL {word}"),
    ]
    assert {x["source"] for x in logs} == {f"app{word}"}
    assert all(before <= ns_of(x) <= time.time_ns() for x in logs)
    assert {x["metadata"]["facility"] for x in logs} == {"user"}


def test_python_syslog_handler_over_tcp(served: Served) -> None:
    """SysLogHandler over TCP ends frames with NUL alone: every record its own log, a multi-line
    message kept whole (an LF is no delimiter in such a stream)."""
    word = token()
    handler = logging.handlers.SysLogHandler(("127.0.0.1", served.tcp), socktype=socket.SOCK_STREAM)
    log = _python_logger(f"tcp{word}", handler)
    log.warning("first %s", word)
    log.error("multi %s\n  second line\n  third line", word)
    for i in range(100):
        log.info("record %d %s", i, word)
    handler.close()
    logs = served.wait_logs(word, 102)
    assert logs[0]["message"] == f"first {word}"
    assert logs[1]["message"] == f"multi {word}\n  second line\n  third line"
    assert logs[1]["level"] == "ERROR"
    assert [x["message"] for x in logs[2:]] == [f"record {i} {word}" for i in range(100)]


def test_readme_logger_and_python_snippets(served: Served) -> None:
    """The README's `logger` command lines and its SysLogHandler code, run as written (on this
    server's ports), store what they say."""
    [commands] = readme_blocks("bash")
    lines = commands.strip().splitlines()
    assert len(lines) == 2
    for line, port in zip(lines, (served.udp, served.tcp), strict=True):
        command = line.replace("-P 5514", f"-P {port}")
        assert command != line
        subprocess.run(command, shell=True, check=True, timeout=30)  # the README's own text
    logs = served.wait_logs("source:myapp", 2)
    assert [(x["level"], x["message"]) for x in logs] == [("ERROR", "disk full"), ("NOTICE", "over TCP")]
    assert logs[0]["metadata"]["x@32473.k"] == "v"
    [code] = readme_blocks("python")
    handlers = list(logging.getLogger("myapp").handlers)
    try:
        exec(compile(code.replace("5514", str(served.udp)), "README.md", "exec"), {})  # our own README
    finally:
        for handler in set(logging.getLogger("myapp").handlers) - set(handlers):
            logging.getLogger("myapp").removeHandler(handler)
            handler.close()
    [log] = served.wait_logs('source:myapp "disk almost full"', 1)
    assert log["level"] == "WARN"


def rsyslogd() -> str:
    """rsyslogd, installed from Debian's packages when absent (it conflicts with syslog-ng, which
    another test may have installed meanwhile)."""
    return apt_install("rsyslogd", "rsyslog")


def test_rsyslog_forwards_a_file_over_tcp(served: Served, tmp_path: Path) -> None:
    """rsyslog (imfile -> omfwd, RFC 5424 octet-counted) forwarding a file, lines written before it
    starts and while it runs: each line a log with the file's tag, severity and facility, rsyslog's
    time and host."""
    binary = rsyslogd()
    word = token()
    app_log = tmp_path / "app.log"
    app_log.write_text("".join(f"boot {i} {word}\n" for i in range(3)))
    (tmp_path / "work").mkdir()
    conf = tmp_path / "rsyslog.conf"
    readme = readme_blocks("text")[0]  # the README's snippet, on this test's file and port
    assert 'port="5514"' in readme
    assert "/var/log/app.log" in readme
    readme = readme.replace('port="5514"', f'port="{served.tcp}"').replace("/var/log/app.log", str(app_log))
    readme = readme.replace(
        'Tag="myapp" Severity="info" Facility="local0"', 'Tag="fileapp" Severity="warning" Facility="local3"'
    )
    conf.write_text(f'global(workDirectory="{tmp_path / "work"}")\n{readme}')
    started = time.time_ns()
    out = (tmp_path / "rsyslog.out").open("w")
    process = subprocess.Popen(
        [binary, "-n", "-f", str(conf), "-i", str(tmp_path / "rsyslog.pid")], stdout=out, stderr=out
    )
    try:
        served.wait_logs(word, 3)
        with app_log.open("a") as f:
            f.write(f"later {word} line\n")
        logs = served.wait_logs(word, 4)
    finally:
        process.terminate()
        process.wait(30)
    assert [x["message"] for x in logs] == [*(f"boot {i} {word}" for i in range(3)), f"later {word} line"]
    assert {(x["level"], x["source"], x["metadata"]["facility"]) for x in logs} == {
        ("WARN", "fileapp", "local3")
    }
    assert {x["metadata"]["host"] for x in logs} == {socket.gethostname().split(".")[0]}
    assert all(started <= ns_of(x) <= time.time_ns() for x in logs)
    assert all(ns_of(x) % 1_000 == 0 for x in logs)  # rsyslog's times are to the µs
    assert any(ns_of(x) % 1_000_000_000 for x in logs)


def test_tls_listener(served: Served, tls_files: tuple[Path, Path]) -> None:
    """TCP with TLS (the config file's cert and key): a verifying client's octet-counted frames are
    stored; a client speaking plain TCP to it is refused and the listener serves the next one."""
    word = token()
    cert, _ = tls_files
    port = served.tls
    with socket.create_connection(("127.0.0.1", port), timeout=10) as plain:
        plain.sendall(b"<13>1 - - plain - - - plain text to a TLS port\n")
        with contextlib.suppress(OSError):
            plain.recv(100)
    context = ssl.create_default_context(cafile=str(cert))
    frames = [
        f"<190>1 2025-07-21T12:00:0{i}.5Z host tlsapp - - - over tls {i} {word}".encode() for i in range(3)
    ]
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
    ):
        sock.sendall(b"".join(octet(f) for f in frames))
    logs = served.wait_logs(word, 3)
    assert [x["message"] for x in logs] == [f"over tls {i} {word}" for i in range(3)]
    assert [ns_of(x) for x in logs] == [parse_timestamp(f"2025-07-21T12:00:0{i}.5Z") for i in range(3)]
    assert {(x["level"], x["source"]) for x in logs} == {("INFO", "tlsapp")}
    assert served.logs("plain text to a TLS port") == []


# -- bad input ----------------------------------------------------------------------------------------


def test_long_frames_are_cut_and_the_next_read_right(served: Served) -> None:
    """A 100 KB line (LF-framed) and a 100 KB octet-counted frame are each stored cut to the frame
    bound with their size sent (`truncated_from`), counted; the frames after them on the same
    connection are read right."""
    word = token()
    before = metric(served.metrics(), "loganalytics_ingest_errors_total", reason="syslog_truncated")
    long_line = f"<11>1 - - big - - - long {word} ".encode() + b"x" * 100_000
    counted = f"<11>1 - - big - - - octet {word} ".encode() + b"y" * 100_000
    after = [f"<14>1 - - small - - - after {i} {word}".encode() for i in range(2)]
    send_tcp(served.tcp, long_line + b"\n" + after[0] + b"\n")
    send_tcp(served.tcp, octet(counted) + octet(after[1]))
    logs = served.wait_logs(word, 4)
    by_message = {x["message"].split(" ")[0]: x for x in logs}
    assert by_message["long"]["metadata"]["truncated_from"] == len(long_line)
    assert by_message["octet"]["metadata"]["truncated_from"] == len(counted)
    head = len(b"<11>1 - - big - - - ")
    assert len(by_message["long"]["message"]) == MAX_FRAME_BYTES - head
    assert by_message["octet"]["message"].endswith("y" * 100)
    assert by_message["after"]["message"] in (f"after 0 {word}", f"after 1 {word}")
    assert sorted(x["message"] for x in logs if x["source"] == "small") == [
        f"after {i} {word}" for i in range(2)
    ]
    served.wait_metric("loganalytics_ingest_errors_total", before + 2, reason="syslog_truncated")


def test_garbage_and_bad_octet_counts_are_kept_as_text(served: Served) -> None:
    """Bytes that are no syslog message (binary garbage, text without <PRI>, a count of too many
    digits, a PRI over 191) are stored whole as raw text with the ingest time, counted as
    `syslog_malformed`; the good frames between them are read right."""
    word = token()
    before = metric(served.metrics(), "loganalytics_ingest_errors_total", reason="syslog_malformed")
    stream = b"".join(
        [
            b"\xff\xfe\x01 garbage " + word.encode() + b"\n",
            f"<13>1 - - good - - - one {word}\n".encode(),
            f"12345678901234 not a count {word}\n".encode(),
            f"<999>1 - - bad - - - pri {word}\n".encode(),
            f"<13>1 - - good - - - two {word}\n".encode(),
        ]
    )
    started = time.time_ns()
    send_tcp(served.tcp, stream)
    logs = served.wait_logs(word, 5)
    assert [x["source"] for x in logs] == ["", "good", "", "", "good"]
    assert logs[0]["message"] == f"\ufffd\ufffd\x01 garbage {word}"
    assert logs[2]["message"] == f"12345678901234 not a count {word}"
    assert logs[3]["message"] == f"<999>1 - - bad - - - pri {word}"
    assert all(x["level"] == "INFO" and ns_of(x) >= started for x in logs if not x["source"])
    served.wait_metric("loganalytics_ingest_errors_total", before + 3, reason="syslog_malformed")


def test_connection_closed_mid_frame(served: Served) -> None:
    """A connection that ends inside an octet-counted frame: that frame is not stored and is counted
    (`incomplete_frame`); the frames before it are, and the listener goes on serving."""
    word = token()
    before = metric(
        served.metrics(), "loganalytics_protocol_rejected_total", protocol="syslog", reason="incomplete_frame"
    )
    whole = f"<13>1 - - cut - - - whole {word}".encode()
    send_tcp(served.tcp, octet(whole) + f"500 <13>1 - - cut - - - partial {word}".encode())
    served.wait_metric(
        "loganalytics_protocol_rejected_total", before + 1, protocol="syslog", reason="incomplete_frame"
    )
    send_tcp(served.tcp, f"<13>1 - - cut - - - next {word}\n".encode())
    logs = served.wait_logs(word, 2)
    assert [x["message"] for x in logs] == [f"whole {word}", f"next {word}"]


def test_silent_connections_do_not_stall_others(served: Served) -> None:
    """500 TCP connections that send nothing (and 20 that stop inside a frame) stay open, counted in
    `loganalytics_protocol_connections`, while other senders' messages, over TCP and UDP, are stored
    at once; closing them brings the gauge back."""
    word = token()
    silent = [socket.create_connection(("127.0.0.1", served.tcp), timeout=10) for _ in range(500)]
    stuck = [socket.create_connection(("127.0.0.1", served.tcp), timeout=10) for _ in range(20)]
    try:
        for sock in stuck:
            sock.sendall(b"<13>1 - - stuck - - - never finished")
        served.wait_metric("loganalytics_protocol_connections", 520, protocol="syslog")
        logger_frames(
            "-n", "127.0.0.1", "-P", str(served.tcp), "-T", "--octet-count", "-t", "busy", f"tcp {word}"
        )
        logger_frames("-n", "127.0.0.1", "-P", str(served.udp), "-d", "-t", "busy", f"udp {word}")
        logs = served.wait_logs(word, 2, seconds=10)
        assert sorted(x["message"] for x in logs) == [f"tcp {word}", f"udp {word}"]
    finally:
        for sock in silent + stuck:
            sock.close()
    deadline = time.monotonic() + WAIT_S
    while metric(served.metrics(), "loganalytics_protocol_connections", protocol="syslog") > 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stuck_logs = served.wait_logs("source:stuck", 20)  # each stream's last frame, ended by its close
    assert {x["message"] for x in stuck_logs} == {"never finished"}


def test_connections_past_the_bound_are_closed(tmp_path: Path) -> None:
    """`[syslog] max_connections`: a connection past it is closed at once and counted
    (`too_many_connections`); the open ones are served, and a slot freed is taken again."""
    config = tmp_path / "server.toml"
    config.write_text("[syslog]\nmax_connections = 3\n")
    server = Served(tmp_path, "--config", str(config))
    try:
        word = token()
        held = [socket.create_connection(("127.0.0.1", server.tcp), timeout=10) for _ in range(3)]
        server.wait_metric("loganalytics_protocol_connections", 3, protocol="syslog")
        with socket.create_connection(("127.0.0.1", server.tcp), timeout=10) as extra:
            extra.settimeout(10)
            with contextlib.suppress(ConnectionResetError):
                assert extra.recv(10) == b""  # closed by the server, not left waiting
        server.wait_metric(
            "loganalytics_protocol_rejected_total", 1, protocol="syslog", reason="too_many_connections"
        )
        held[0].sendall(f"<13>1 - - held - - - held {word}\n".encode())
        held[0].close()
        deadline = time.monotonic() + WAIT_S
        while metric(server.metrics(), "loganalytics_protocol_connections", protocol="syslog") > 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        send_tcp(server.tcp, f"<13>1 - - again - - - again {word}\n".encode())
        logs = server.wait_logs(word, 2)
        assert [x["source"] for x in logs] == ["held", "again"]
        for sock in held[1:]:
            sock.close()
    finally:
        server.stop()


def test_listen_errors_exit_before_serving(tmp_path: Path) -> None:
    """A syslog address beyond loopback without --insecure, one that is not host:port, and a port
    in use each stop `serve` with status 2 and a message naming it, before it says "serving"."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        cases = {
            "0.0.0.0:5514": "refusing to listen for syslog on 0.0.0.0:5514 (syslog tcp)",
            "nonsense": "syslog tcp: 'nonsense' is not host:port",
            f"127.0.0.1:{taken}": (
                f"cannot listen for syslog on tcp 127.0.0.1:{taken} (syslog tcp): "
                "the address is already in use"
            ),
        }
        for address, message in cases.items():
            done = subprocess.run(
                [
                    *CLI,
                    "serve",
                    "--data",
                    str(tmp_path / "d"),
                    "--port",
                    str(free_port()),
                    "--syslog-tcp",
                    address,
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 2, (address, done.stdout, done.stderr)
            assert message in done.stderr.replace("\n", " ")
            assert "serving" not in done.stdout


# -- the listeners in process -------------------------------------------------------------------------


def _settings(**syslog: Any) -> Settings:
    return Settings(syslog_udp="127.0.0.1:0", syslog_tcp="127.0.0.1:0", **syslog)


def _port(listeners: SyslogListeners, kind: str) -> int:
    return next(a.port for a in listeners.bound if a.kind == kind)


def _wait(condition: Any, what: str, seconds: float = WAIT_S) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_backpressure_pauses_tcp_and_drops_udp() -> None:
    """While the store is held up, frames past the queue bound pause every TCP reader (the sender's
    writes block, nothing is lost) and UDP datagrams are dropped and counted; once it goes on, every
    TCP frame is stored."""
    gate = threading.Event()

    def held(log: LogEntry) -> LogEntry:
        gate.wait(WAIT_S)
        return log

    engine = LogAnalyticsEngine(alert_interval=None)
    engine.add_pre_ingest_hook(held)
    # 12 MB: more than the kernel's socket buffers take in while nothing reads them (~5 MB here)
    frames = [f"<13>1 - - bp - - - frame {i} {'z' * 280}".encode() for i in range(40_000)]
    data = b"".join(octet(f) for f in frames)
    bound = 256 << 10
    with SyslogListeners(_settings(), max_queued_bytes=bound).serving(engine) as listeners:
        sender = threading.Thread(target=send_tcp, args=(_port(listeners, "tcp"), data))
        try:
            sender.start()
            _wait(lambda: listeners._paused, "TCP reads paused")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                for _ in range(10):
                    udp.sendto(b"<13>1 - - udp - - - dropped", ("127.0.0.1", _port(listeners, "udp")))
            _wait(lambda: listeners.rejected["udp_dropped"] == 10, "datagrams dropped")
            time.sleep(0.5)
            assert sender.is_alive()  # its writes wait: the kernel's buffers are full, we do not read
            assert listeners._queued <= bound + READ_BYTES  # read past the bound: one read at most
        finally:
            gate.set()
        sender.join(WAIT_S)
        assert not sender.is_alive()
        _wait(lambda: engine.count({"source": "bp"}) == len(frames), "every TCP frame stored")
    assert _rejected(engine, "udp_dropped") == 10
    stored = {e.message for e in engine.query_logs({"source": "bp"})}
    assert stored == {f"frame {i} {'z' * 280}" for i in range(len(frames))}
    engine.close()


def _rejected(engine: LogAnalyticsEngine, reason: str) -> float:
    text = engine.export_metrics_prometheus()
    return metric(text, "loganalytics_protocol_rejected_total", protocol="syslog", reason=reason)


def test_a_full_disk_holds_frames_until_space_is_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A store that refuses writes (its disk full) loses no TCP frame: the batch is retried, reads
    pause as the queue fills, and once space is freed every frame sent is stored."""
    with services.small_disk(tmp_path / "disk", "32m") as disk:
        engine = LogAnalyticsEngine(disk / "data", alert_interval=None)
        try:
            with SyslogListeners(_settings()).serving(engine) as listeners:
                port = _port(listeners, "tcp")
                ballast = fill_disk(disk)
                sent = 0
                with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                    deadline = time.monotonic() + WAIT_S
                    while "retrying" not in caplog.text:
                        assert time.monotonic() < deadline, "the store never refused a write"
                        sock.sendall(
                            b"".join(
                                octet(f"<13>1 - - full - - - frame {sent + i}".encode()) for i in range(500)
                            )
                        )
                        sent += 500
                        time.sleep(0.05)
                    ballast.unlink()
                _wait(
                    lambda: engine.count({"source": "full"}) == sent, "every frame stored once space is back"
                )
            assert not listeners.rejected
        finally:
            engine.close()


def test_a_hook_that_raises_loses_its_batch_only() -> None:
    """A pre-ingest hook that raises costs the batch it raised in (counted `store_failed`); the
    listeners go on storing the next ones."""

    def fussy(log: LogEntry) -> LogEntry:
        if "poison" in log.message:
            raise ValueError("no poison here")
        return log

    engine = LogAnalyticsEngine(alert_interval=None)
    engine.add_pre_ingest_hook(fussy)
    with SyslogListeners(_settings()).serving(engine) as listeners:
        send_tcp(_port(listeners, "tcp"), b"<13>1 - - hook - - - poison\n")
        _wait(lambda: _rejected(engine, "store_failed") == 1, "the batch counted as not stored")
        send_tcp(_port(listeners, "tcp"), b"<13>1 - - hook - - - fine\n")
        _wait(lambda: engine.count({"source": "hook"}) == 1, "the next batch stored")
    assert [e.message for e in engine.query_logs({"source": "hook"})] == ["fine"]
    engine.close()


def test_idle_connections_are_closed() -> None:
    """A connection silent for the idle time is closed by the listener (its unfinished frame kept);
    one that keeps sending is not."""
    engine = LogAnalyticsEngine(alert_interval=None)
    with SyslogListeners(_settings(), idle_seconds=0.5).serving(engine) as listeners:
        port = _port(listeners, "tcp")
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as quiet,
            socket.create_connection(("127.0.0.1", port), timeout=10) as busy,
        ):
            quiet.sendall(b"<13>1 - - quiet - - - unfinished")
            for i in range(15):
                busy.sendall(f"<13>1 - - busy - - - tick {i}\n".encode())
                time.sleep(0.1)
            quiet.settimeout(10)
            assert quiet.recv(10) == b""  # closed by the listener
            busy.sendall(b"<13>1 - - busy - - - still open\n")
        _wait(lambda: engine.count({"source": "busy"}) == 16, "the busy connection's frames")
        assert listeners.idle_closed >= 1
    assert [e.message for e in engine.query_logs({"source": "quiet"})] == ["unfinished"]
    engine.close()


def test_close_stores_every_frame_received() -> None:
    """Closing the listeners right after frames arrive stores them all before it returns (the
    engine may close next), an open connection's last unended frame too."""
    engine = LogAnalyticsEngine(alert_interval=None)
    listeners = SyslogListeners(_settings())
    listeners.bind()
    listeners.start(engine)
    port = _port(listeners, "tcp")
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        b"".join(f"<13>1 - - shut - - - frame {i}\n".encode() for i in range(1000)) + b"<13>last one"
    )
    time.sleep(0.3)  # received (the batch timer has not necessarily fired)
    listeners.close()
    assert engine.count({"source": "shut"}) == 1000
    assert engine.count({"keyword": "last"}) == 1
    sock.close()
    engine.close()


# -- the framer and the decoder -------------------------------------------------------------------------


def _frames(
    chunks: list[bytes], max_frame: int = MAX_FRAME_BYTES
) -> tuple[list[bytes], dict[int, int], bool]:
    framer = Framer(max_frame)
    frames: list[bytes] = []
    cut: dict[int, int] = {}
    for chunk in chunks:
        framer.feed(chunk, frames, cut)
    incomplete = framer.close(frames, cut)
    return frames, cut, incomplete


def octet(frame: bytes) -> bytes:
    """A frame with its RFC 6587 octet count."""
    return b"%d %s" % (len(frame), frame)


STREAM = (
    octet(b"<13>1 - - a - - - 1")
    + octet(b"<13>1 - - a - - - two\n")  # an LF inside the count
    + b"\n<14>lf framed\r\n"  # a stray LF after a counted frame
    + b"<14>another line\n"
    + octet(b"abc")
    + b"2025-07-21T12:00:00Z no pri\n"
    + b"<14>last, no delimiter"
)
STREAM_FRAMES = [
    b"<13>1 - - a - - - 1",
    b"<13>1 - - a - - - two\n",
    b"<14>lf framed\r",
    b"<14>another line",
    b"abc",
    b"2025-07-21T12:00:00Z no pri",
    b"<14>last, no delimiter",
]


def test_framer_any_chunking() -> None:
    """Octet-counted, LF-ended and unended frames in one stream come out the same however the
    stream is split into reads (every single split point, and random reads of 1-40 bytes)."""
    assert _frames([STREAM]) == (STREAM_FRAMES, {}, False)
    for at in range(len(STREAM) + 1):
        assert _frames([STREAM[:at], STREAM[at:]])[0] == STREAM_FRAMES, at
    rng = random.Random(5)
    for _ in range(200):
        chunks, at = [], 0
        while at < len(STREAM):
            step = rng.randint(1, 40)
            chunks.append(STREAM[at : at + step])
            at += step
        assert _frames(chunks)[0] == STREAM_FRAMES


def test_framer_nul_streams_keep_lines() -> None:
    """A stream whose first frame ends with NUL (SysLogHandler) ends frames at NUL only, keeping the
    LFs of multi-line messages; one whose first frame ends with LF splits at LF (and NUL)."""
    nul = b"<11>app: one\x00<11>app: two\nlines\x00<11>app: three\x00"
    assert _frames([nul])[0] == [b"<11>app: one", b"<11>app: two\nlines", b"<11>app: three"]
    assert _frames([b"<11>app: multi\nline first\x00<11>next\x00"])[0] == [
        b"<11>app: multi\nline first",
        b"<11>next",
    ]
    assert _frames([b"<11>a\n<11>b\x00<11>c\n"])[0] == [b"<11>a", b"<11>b", b"<11>c"]
    for at in range(len(nul) + 1):
        assert _frames([nul[:at], nul[at:]])[0] == [
            b"<11>app: one",
            b"<11>app: two\nlines",
            b"<11>app: three",
        ]


def test_framer_cuts_long_frames() -> None:
    """Frames over the bound are cut to it, their size sent recorded, whatever the reads; the next
    frame is whole. A stream ending inside an octet-counted frame says so."""
    long_lf = b"<13>" + b"a" * 300
    long_count = b"<13>" + b"b" * 250
    stream = long_lf + b"\n" + octet(long_count) + octet(b"<1>ok") + b"<14>tail\n"
    for step in (1, 7, 64, 1000):
        chunks = [stream[i : i + step] for i in range(0, len(stream), step)]
        frames, cut, incomplete = _frames(chunks, max_frame=100)
        assert frames == [long_lf[:100], long_count[:100], b"<1>ok", b"<14>tail"], step
        assert cut == {0: len(long_lf), 1: len(long_count)}
        assert not incomplete
    assert _frames([b"<13>" + b"c" * 500], max_frame=100) == ([b"<13>" + b"c" * 96], {0: 504}, False)
    assert _frames([b"90 <13>1 - -"]) == ([], {}, True)
    assert _frames([b"90"]) == ([], {}, True)
    assert _frames([b"900 <1>" + b"x" * 200], max_frame=100) == ([b"<1>" + b"x" * 97], {0: 900}, True)


def test_datagram_frames() -> None:
    """A datagram is one message, or several where a line opens with <PRI>; trailing LF and NUL go."""
    assert datagram_frames(b"<13>one\n") == [b"<13>one"]
    assert datagram_frames(b"<13>a\n<14>b\n<15>c\x00") == [b"<13>a", b"<14>b", b"<15>c"]
    assert datagram_frames(b"<13>trace\n  at x\n<not a pri\n<14>next") == [
        b"<13>trace\n  at x\n<not a pri",
        b"<14>next",
    ]
    assert datagram_frames(b"\n") == []


def _decoded(*frames: bytes, **kwargs: Any) -> list[dict[str, Any]]:
    table = decode(list(frames), now_ns=1, **kwargs).table
    rows = table.to_pylist()
    for row in rows:
        row["metadata"] = __import__("json").loads(row["metadata"]) if row["metadata"] else {}
    return rows


def test_decode_rfc5424() -> None:
    """RFC 5424: time (9 fraction digits exact, offsets), nil values, structured data with escapes
    and several elements, the BOM, the app-name as source (else the hostname), a procid that is no
    number kept as text."""
    [row] = _decoded(
        b'<165>1 2025-07-21T14:00:00.123456789+02:00 web01 nginx 4123 ID47 [a@1 k="v" e="x\\"y\\\\z\\]w\\q"]'
        b'[b k="2"] \xef\xbb\xbfstarted \xc3\xa9'
    )
    assert row["ts"] == parse_timestamp("2025-07-21T12:00:00.123456789Z")
    assert (row["level"], row["source"], row["message"]) == ("NOTICE", "nginx", "started é")
    assert row["metadata"] == {
        "host": "web01",
        "pid": 4123,
        "msgid": "ID47",
        "facility": "local4",
        "a@1.k": "v",
        "a@1.e": 'x"y\\z]w\\q',
        "b.k": "2",
    }
    [nil] = _decoded(b"<0>1 - host - - - -")
    assert (nil["ts"], nil["level"], nil["source"], nil["message"]) == (1, "FATAL", "host", "")
    assert nil["metadata"] == {"facility": "kern"}
    [text_pid] = _decoded(b"<14>1 2025-07-21T12:00:00Z h app worker-3 - - msg")
    assert text_pid["metadata"]["pid"] == "worker-3"
    [naive] = _decoded(b"<14>1 2025-07-21T12:00:00.5 h app - - - naive time")
    assert naive["ts"] == parse_timestamp("2025-07-21T12:00:00.5Z")
    for stamp in ("2025-07-21T12:00:00.123456789", "2025-07-21T14:00:00.123456789+0200"):
        [fine] = _decoded(b"<14>1 %s h app - - - ns" % stamp.encode())
        assert fine["ts"] == parse_timestamp("2025-07-21T12:00:00.123456789Z"), stamp


def test_decode_rfc3164() -> None:
    """RFC 3164: with a BSD or an RFC 3339 time, host and tag[pid]; without a time (SysLogHandler),
    no host; a first word not ending in `: ` is no tag; BSD times read in the zone given."""
    year = dt.datetime.now(dt.UTC).year
    [bsd] = _decoded(b"<38>Jan  5 10:00:00 gw sshd[812]: Accepted publickey for alice")
    assert bsd["ts"] == parse_timestamp(f"{year}-01-05T10:00:00Z") or bsd["ts"] == parse_timestamp(
        f"{year - 1}-01-05T10:00:00Z"
    )
    assert (bsd["level"], bsd["source"], bsd["message"]) == ("INFO", "sshd", "Accepted publickey for alice")
    assert bsd["metadata"] == {"host": "gw", "pid": 812, "facility": "auth"}
    [iso] = _decoded(b"<30>2025-07-21T12:00:00.250+00:00 db01 postgres: checkpoint complete")
    assert iso["ts"] == parse_timestamp("2025-07-21T12:00:00.25Z")
    assert (iso["source"], iso["metadata"]["host"]) == ("postgres", "db01")
    [bare] = _decoded(b"<12>myapp: disk low\x00")
    assert (bare["ts"], bare["level"], bare["source"], bare["message"]) == (1, "WARN", "myapp", "disk low")
    [plain] = _decoded(b"<14>GET /index.html: 200")
    assert (plain["source"], plain["message"]) == ("", "GET /index.html: 200")
    [no_host] = _decoded(b"<14>Jan  5 10:00:00 cron: ran")
    assert (no_host["source"], no_host["metadata"]) == ("cron", {"facility": "user"})
    [berlin] = _decoded(b"<14>Jul 21 14:00:00 h app: summer", zone="Europe/Berlin")
    assert dt.datetime.fromtimestamp(berlin["ts"] / 1e9, dt.UTC).hour == 12


def test_decode_levels_and_facilities() -> None:
    """Every PRI: severity 0-2 FATAL, 3 ERROR, 4 WARN, 5 NOTICE, 6 INFO, 7 DEBUG (as the syslog file
    formats read them), the facility by name."""
    levels = ("FATAL", "FATAL", "FATAL", "ERROR", "WARN", "NOTICE", "INFO", "DEBUG")
    rows = _decoded(*(b"<%d>1 - - - - - - m" % pri for pri in range(192)))
    assert [(r["level"], r["metadata"]["facility"]) for r in rows] == [
        (levels[pri % 8], FACILITIES[pri // 8]) for pri in range(192)
    ]
    assert FACILITIES[16:] == tuple(f"local{i}" for i in range(8))


def test_decode_malformed_frames() -> None:
    """Frames that are no syslog message are kept whole as text with the ingest time, INFO, and
    counted; bytes that are not UTF-8 are replaced and counted; a cut frame says its size sent."""
    bad = [
        b"no pri",
        b"<>x",
        b"<1234>1 - - - - - - x",
        b"<192>x",
        b"<13>1 - -",
        b"<13>1 - - - - - [bad sd",
        b"<1a>x",
    ]
    out = decode([*bad, b"<13>caf\xe9"], now_ns=7, cut={0: 99_000, 7: 5})
    rows = out.table.to_pylist()
    assert [r["message"] for r in rows] == [b.decode() for b in bad] + ["caf\ufffd"]
    assert {(r["ts"], r["level"], r["source"]) for r in rows[:-1]} == {(7, "INFO", "")}
    assert out.problems == {"syslog_malformed": len(bad), "invalid_utf8": 1, "syslog_truncated": 2}
    assert rows[0]["metadata"] == '{"truncated_from":99000}'
    assert '"truncated_from":5' in rows[-1]["metadata"]
    assert out.report.no_timestamp == len(bad) + 1
