"""syslog-ng (Debian's 3.38 with `syslog-ng-mod-http`) as users run it: a file source forwarded by its
`elasticsearch-http()` destination to our `_bulk` (the SCL block Debian ships: NDJSON batches,
`--scope rfc5424` documents with upper-case keys), by a plain `http()` destination to the
VictoriaLogs `jsonline` endpoint and by its `syslog()` destination (RFC 5424, octet-counted) to the
TCP syslog listener. It conflicts with rsyslog as a Debian package: this test installs
it (removing rsyslog), as the rsyslog tests install theirs."""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services import free_port
from shippers import apt_install, wait_for
from test_server_process import Server

LINES = 500

CONFIG = """@version: 3.38
@include "scl.conf"
options {{ stats_freq(0); }};
source s_bulk {{ file("{bulk_source}" flags(no-parse) follow-freq(1)); }};
source s_jsonline {{ file("{jsonline_source}" flags(no-parse) follow-freq(1)); }};
source s_syslog {{ file("{syslog_source}" flags(no-parse) follow-freq(1) program-override("billing")); }};
destination d_bulk {{
  elasticsearch-http(url("http://127.0.0.1:{port}/_bulk") index("syslog-ng") type("") batch-lines(100));
}};
destination d_jsonline {{
  http(url("http://127.0.0.1:{port}/insert/jsonline?_msg_field=message&_time_field=timestamp&_stream_fields=host")
       method("POST") headers("Content-Type: application/stream+json")
       body("$(format-json timestamp=${{ISODATE}} message=${{MESSAGE}} host=${{HOST}} level=${{LEVEL}})")
       batch-lines(100) batch-timeout(200));
}};
destination d_syslog {{ syslog("127.0.0.1" transport("tcp") port({syslog_port})); }};
log {{ source(s_bulk); destination(d_bulk); }};
log {{ source(s_syslog); destination(d_syslog); }};
log {{ source(s_jsonline); destination(d_jsonline); }};
"""


@pytest.fixture
def syslog_ng() -> str:
    return apt_install("syslog-ng", "syslog-ng-core", "syslog-ng-mod-http", "syslog-ng-scl")


@pytest.fixture
def syslog_port() -> int:
    return free_port()


@pytest.fixture
def server(tmp_path: Path, syslog_port: int) -> Iterator[Server]:
    running = Server(tmp_path / "data", "--syslog-tcp", f"127.0.0.1:{syslog_port}")
    yield running
    if running.process.poll() is None:
        running.stop()


def _total(server: Server, query: str) -> int:
    answer = httpx.get(server.url + "/api/v1/search", params={"q": query, "limit": 1})
    return int(answer.json()["total"])


def test_syslog_ng_elasticsearch_http_http_and_syslog_destinations(
    syslog_ng: str, server: Server, syslog_port: int, tmp_path: Path
) -> None:
    work = tmp_path / "syslog-ng"
    work.mkdir()
    bulk_source, jsonline_source = tmp_path / "bulk.log", tmp_path / "jsonline.log"
    bulk_source.write_text("".join(f"bulk payment {i} settled\n" for i in range(LINES)))
    jsonline_source.write_text("".join(f"jsonline session {i} opened\n" for i in range(LINES)))
    syslog_source = tmp_path / "syslog.log"
    syslog_source.write_text("".join(f"invoice {i} mailed\n" for i in range(LINES)))
    conf = work / "syslog-ng.conf"
    conf.write_text(
        CONFIG.format(
            bulk_source=bulk_source,
            jsonline_source=jsonline_source,
            syslog_source=syslog_source,
            port=server.port,
            syslog_port=syslog_port,
        )
    )
    log = work / "syslog-ng.log"
    process = subprocess.Popen(
        [
            syslog_ng,
            "-F",
            "--no-caps",
            "-f",
            str(conf),
            "--persist-file",
            str(work / "persist"),
            "--pidfile",
            str(work / "pid"),
            "--control",
            str(work / "ctl"),
        ],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        bulk_done, jsonline_done = (
            (lambda: _total(server, "settled") >= LINES),
            (lambda: _total(server, "opened") >= LINES),
        )
        wait_for(bulk_done, 90, "syslog-ng's elasticsearch-http()", log, process)
        wait_for(jsonline_done, 90, "syslog-ng's http() to jsonline", log, process)
        wait_for(lambda: _total(server, "mailed") >= LINES, 90, "syslog-ng's syslog() over TCP", log, process)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    host = socket.gethostname()
    bulk = httpx.get(server.url + "/api/v1/search", params={"q": '"bulk payment 42 settled"'}).json()
    assert bulk["total"] == 1
    doc = bulk["logs"][0]
    assert doc["message"] == "bulk payment 42 settled"  # MESSAGE, syslog-ng's key
    assert doc["level"] == "NOTICE"  # PRIORITY of a file() source: notice
    assert doc["source"] == host
    assert doc["metadata"]["_index"] == "syslog-ng"
    line = httpx.get(server.url + "/api/v1/search", params={"q": '"jsonline session 42 opened"'}).json()
    assert line["total"] == 1
    entry = line["logs"][0]
    assert entry["message"] == "jsonline session 42 opened"
    assert entry["level"] == "NOTICE"
    assert entry["metadata"]["_stream"] == f'{{host="{host}"}}'
    mailed = httpx.get(server.url + "/api/v1/search", params={"q": '"invoice 42 mailed"'}).json()
    assert mailed["total"] == 1
    framed = mailed["logs"][0]  # RFC 5424, octet-counted: app-name is the source, its host a field
    assert (framed["message"], framed["source"], framed["level"]) == (
        "invoice 42 mailed",
        "billing",
        "NOTICE",
    )
    assert framed["metadata"]["host"] == host
    metrics = httpx.get(server.url + "/metrics").text
    assert f'loganalytics_ingested_logs_total{{path="es_bulk"}} {LINES}.0' in metrics
    assert f'loganalytics_ingested_logs_total{{path="jsonline"}} {LINES}.0' in metrics
    assert f'loganalytics_ingested_logs_total{{path="syslog"}} {LINES}.0' in metrics
    assert "loganalytics_protocol_rejected_total{" not in metrics
