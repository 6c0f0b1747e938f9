"""rsyslog (Debian's, with `rsyslog-elasticsearch`) as users run it in front of Elasticsearch:
`imfile` follows a log file and `omelasticsearch` posts it in bulk mode to our `_bulk`, with its
health check, its `_type` in every action, and a JSON document template. Every line arrives with
its time, level, host and index, and nothing is counted as rejected."""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shippers import apt_install, wait_for
from test_server_process import Server

LINES = 1_000

CONFIG = """
global(workDirectory="{work}")
module(load="imfile" PollingInterval="1")
module(load="omelasticsearch")
template(name="doc" type="list" option.jsonf="on") {{
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="host.name" name="hostname" format="jsonf")
  property(outname="level" name="syslogseverity-text" format="jsonf")
  property(outname="tag" name="syslogtag" format="jsonf")
  property(outname="message" name="msg" format="jsonf")
}}
ruleset(name="toes") {{
  action(type="omelasticsearch" server="127.0.0.1" serverport="{port}" template="doc"
         searchIndex="rsyslog-test" bulkmode="on" maxbytes="1m"
         queue.type="linkedlist" queue.dequeuebatchsize="256" action.resumeretrycount="-1")
}}
input(type="imfile" File="{source}" Tag="shipped:" Severity="error" Facility="local3" ruleset="toes")
"""


@pytest.fixture
def rsyslogd() -> str:
    return apt_install("rsyslogd", "rsyslog", "rsyslog-elasticsearch")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "data")
    yield running
    if running.process.poll() is None:
        running.stop()


def test_rsyslog_omelasticsearch_bulk_reaches_every_line(
    rsyslogd: str, server: Server, tmp_path: Path
) -> None:
    work = tmp_path / "rsyslog"
    work.mkdir()
    source = tmp_path / "app.log"
    source.write_text("".join(f"order {i} failed: card declined\n" for i in range(LINES)))
    conf = work / "rsyslog.conf"
    conf.write_text(CONFIG.format(work=work, port=server.port, source=source))
    log = work / "rsyslogd.log"
    process = subprocess.Popen(
        [rsyslogd, "-n", "-f", str(conf), "-i", str(work / "pid")],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:

        def arrived() -> bool:
            query = httpx.get(server.url + "/api/v1/search", params={"q": "failed", "limit": 1}).json()
            return bool(query["total"] >= LINES)

        wait_for(arrived, 90, f"{LINES} lines forwarded by rsyslog's omelasticsearch", log, process)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    found = httpx.get(server.url + "/api/v1/search", params={"q": "order 17 failed", "limit": 5}).json()
    assert found["total"] == 1
    hit = found["logs"][0]
    assert hit["level"] == "ERROR"  # Severity="error" of the input, `err` as rsyslog writes it
    assert hit["message"] == "order 17 failed: card declined"
    assert hit["source"] == socket.gethostname()  # host.name is the source
    assert hit["metadata"]["_index"] == "rsyslog-test"
    assert hit["metadata"]["tag"] == "shipped:"
    metrics = httpx.get(server.url + "/metrics").text
    assert f'loganalytics_ingested_logs_total{{path="es_bulk"}} {LINES}.0' in metrics
    assert 'loganalytics_protocol_rejected_total{protocol="es_bulk"' not in metrics
