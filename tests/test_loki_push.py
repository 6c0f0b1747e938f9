"""Loki's push API (`POST /loki/api/v1/push`) on a served process: python-logging-loki's JSON,
protobuf + snappy payloads built from Loki's push proto (message classes made here, apart from the
server's), JSON with gzip, Loki's answers (204; a plain-text 400 listing the entries not stored, the
rest stored), bad input refused clearly and counted in /metrics, API keys as the clients send them;
and the Prometheus label syntax the stream labels are written in."""

from __future__ import annotations

import gzip
import logging
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cramjam
import httpx
import logging_loki
import orjson
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from log_analytics_engine.errors import IngestError
from log_analytics_engine.ingest.formats.loki import MAX_LABELS_CHARS, canonical_labels, parse_labels
from log_analytics_engine.server.settings import hash_key
from log_analytics_engine.timeparse import parse_timestamp
from test_server_process import Server

PATH = "/loki/api/v1/push"
README = Path(__file__).resolve().parent.parent / "README.md"
SHIPPER_KEY = "shipper-key-0123456789"
READER_KEY = "reader-key-0123456789"
SHIPPER = {"Authorization": f"Bearer {SHIPPER_KEY}"}
READER = {"Authorization": f"Bearer {READER_KEY}"}
MAX_BODY = 1 << 20
PROTOBUF = {**SHIPPER, "Content-Type": "application/x-protobuf"}
JSON = {**SHIPPER, "Content-Type": "application/json"}
T0 = 1_753_099_200  # 2025-07-21T12:00:00Z


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`serve` with an ingest key and a query key, and a 1 MiB body limit (for the oversize cases)."""
    yield from served(tmp_path_factory.mktemp("loki") / "data")


def served(data: Path) -> Iterator[Server]:
    """A served process whose API keys are SHIPPER_KEY (ingest) and READER_KEY (query)."""
    keys = f"shipper:ingest:{hash_key(SHIPPER_KEY)} reader:query:{hash_key(READER_KEY)}"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LOG_ANALYTICS_API_KEYS", keys)
        env.setenv("LOG_ANALYTICS_MAX_BODY_BYTES", str(MAX_BODY))
        running = Server(data)
    yield running
    running.stop()


def search(server: Server, query: str) -> list[dict[str, Any]]:
    """The stored logs matching `query`, oldest first."""
    answer = httpx.get(server.url + "/api/v1/search", params={"q": query, "limit": 100}, headers=READER)
    answer.raise_for_status()
    return list(reversed(answer.json()["logs"]))


def rejected(server: Server, protocol: str, reason: str) -> float:
    """`loganalytics_protocol_rejected{protocol, reason}` as the server's /metrics shows it now."""
    text = httpx.get(server.url + "/metrics", headers=READER).raise_for_status().text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "loganalytics_protocol_rejected_total" and sample.labels == {
                "protocol": protocol,
                "reason": reason,
            }:
                return float(sample.value)
    return 0.0


def readme_snippet(heading: str, url: str, key: str) -> str:
    """The python block of the README's subsection `heading`, sending to `url` with `key`."""
    section = README.read_text(encoding="utf-8").split(f"\n{heading}\n", 1)[1]
    section = re.split(r"\n#{2,3} ", section, maxsplit=1)[0]
    [block] = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return re.sub(r"\bKEY\b", key, block.replace("http://127.0.0.1:8080", url))


def post_refused(
    server: Server, protocol: str, reason: str, path: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    """POST a body the server refuses whole; its answer, once checked that one rejection of
    `protocol` was counted under `reason` and nothing was stored."""
    total = len(search(server, "*"))
    before = rejected(server, protocol, reason)
    answer = httpx.post(server.url + path, content=body, headers=headers)
    assert rejected(server, protocol, reason) == before + 1
    assert len(search(server, "*")) == total
    return answer


def push_request_class() -> Any:
    """logproto.PushRequest made here from Loki's pkg/push/push.proto field numbers (descriptor
    calls; the server builds its own from text), so a wrong number on either side fails the test."""
    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="tests/loki_push.proto",
        package="logproto",
        syntax="proto3",
        dependency=["google/protobuf/timestamp.proto"],
    )

    def message(name: str, *fields: tuple[str, int, int, str]) -> None:
        made = proto.message_type.add(name=name)
        for field_name, number, kind, type_name in fields:
            label = field.LABEL_REPEATED if type_name.endswith("[]") else field.LABEL_OPTIONAL
            made.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name.strip("[]"):
                made.field[-1].type_name = type_name.strip("[]")

    message("PushRequest", ("streams", 1, field.TYPE_MESSAGE, ".logproto.StreamAdapter[]"))
    message(
        "StreamAdapter",
        ("labels", 1, field.TYPE_STRING, ""),
        ("entries", 2, field.TYPE_MESSAGE, ".logproto.EntryAdapter[]"),
    )
    message(
        "EntryAdapter",
        ("timestamp", 1, field.TYPE_MESSAGE, ".google.protobuf.Timestamp"),
        ("line", 2, field.TYPE_STRING, ""),
        ("structuredMetadata", 3, field.TYPE_MESSAGE, ".logproto.LabelPairAdapter[]"),
    )
    message("LabelPairAdapter", ("name", 1, field.TYPE_STRING, ""), ("value", 2, field.TYPE_STRING, ""))
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("logproto.PushRequest"))


PushRequest = push_request_class()


def entry(stream: Any, seconds: int, nanos: int, line: str, **metadata: str) -> None:
    """An entry of `stream` at seconds + nanos, with structured metadata."""
    added = stream.entries.add(line=line)
    added.timestamp.seconds, added.timestamp.nanos = seconds, nanos
    for name, value in metadata.items():
        added.structuredMetadata.add(name=name, value=value)


def snappy(data: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(data))


def test_python_logging_loki_records_are_stored_with_labels_as_fields(server: Server) -> None:
    """python-logging-loki's records (JSON, basic auth with the key as password): the line is the
    message, the `severity` label the level, `app` the source, the other labels fields, `_stream`
    the sorted label set, the time the handler's."""
    handler = logging_loki.LokiHandler(
        url=server.url + PATH,
        tags={"app": "billing", "env": "prod"},
        auth=("tenant", SHIPPER_KEY),
        version="1",
    )
    failures: list[BaseException | None] = []
    handler.handleError = lambda record: failures.append(sys.exc_info()[1])  # type: ignore[method-assign]
    logger = logging.getLogger("tests.loki.billing")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    started = time.time_ns()
    try:
        logger.info("invoice %s sent", 42)
        logger.warning("card expiring", extra={"tags": {"region": "eu-west"}})
        logger.error('{"user": "bob", "msg": "a JSON line stays the message"}')
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert failures == []
    logs = search(server, 'logger:"tests.loki.billing"')
    assert [(log["level"], log["source"], log["message"]) for log in logs] == [
        ("INFO", "billing", "invoice 42 sent"),
        ("WARN", "billing", "card expiring"),
        ("ERROR", "billing", '{"user": "bob", "msg": "a JSON line stays the message"}'),
    ]
    base = {"env": "prod", "logger": "tests.loki.billing"}
    stream = 'app="billing",env="prod",logger="tests.loki.billing"'
    assert [log["metadata"] for log in logs] == [
        {**base, "_stream": "{" + stream + ',severity="info"}'},
        {**base, "region": "eu-west", "_stream": "{" + stream + ',region="eu-west",severity="warning"}'},
        {**base, "_stream": "{" + stream + ',severity="error"}'},
    ]
    for log in logs:
        assert started <= parse_timestamp(log["timestamp"]) <= time.time_ns()


def test_the_readme_snippet_runs_as_written(server: Server) -> None:
    """The README's python-logging-loki snippet, pointed at the server with its key, stores its log as
    its comment says."""
    code = readme_snippet("### Loki push (Promtail, Grafana Alloy)", server.url, SHIPPER_KEY)
    logger = logging.getLogger("billing")
    try:
        exec(compile(code, str(README), "exec"), {})  # our own README
    finally:
        for handler in logger.handlers[:]:
            logger.removeHandler(handler)
            handler.close()
    [log] = search(server, "logger:billing")
    assert (log["level"], log["source"], log["message"]) == ("WARN", "billing", "card expiring")
    assert log["metadata"] == {
        "env": "prod",
        "logger": "billing",
        "region": "eu-west",
        "_stream": '{app="billing",env="prod",logger="billing",region="eu-west",severity="warning"}',
    }


def test_protobuf_snappy_keeps_nanoseconds_structured_metadata_and_the_stream(server: Server) -> None:
    """A snappy-compressed PushRequest: each entry's nanosecond time exact, structured metadata as
    fields (a label's name as `<name>_extracted`; `detected_level` read as the level), labels with
    escapes read and kept as `_stream`, JSON and logfmt lines kept as sent."""
    push = PushRequest()
    checkout = push.streams.add(
        labels='{service_name="checkout", level="warn", note="say \\"hi\\"\\nbye", job="j"}'
    )
    entry(checkout, T0, 123_456_789, "slow payment", trace_id="4bf92f3577b34da6a3ce929d0e0e4736", job="batch")
    entry(checkout, T0 + 1, 999_999_999, 'level=error msg="logfmt stays the message"')
    web = push.streams.add(labels="{app=`web`,}")
    entry(web, T0 + 2, 1, '{"level": "info"}', detected_level="error", pod="web-1")
    answer = httpx.post(server.url + PATH, content=snappy(push.SerializeToString()), headers=PROTOBUF)
    assert (answer.status_code, answer.text) == (204, "")

    logs = search(server, "source:in(checkout, web)")
    checkout_stream = '{job="j",level="warn",note="say \\"hi\\"\\nbye",service_name="checkout"}'
    assert [
        (log["timestamp"], log["level"], log["source"], log["message"], log["metadata"]) for log in logs
    ] == [
        (
            "2025-07-21T12:00:00.123456789Z",
            "WARN",
            "checkout",
            "slow payment",
            {
                "job": "j",
                "note": 'say "hi"\nbye',
                "_stream": checkout_stream,
                "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                "job_extracted": "batch",
            },
        ),
        (
            "2025-07-21T12:00:01.999999999Z",
            "WARN",
            "checkout",
            'level=error msg="logfmt stays the message"',
            {"job": "j", "note": 'say "hi"\nbye', "_stream": checkout_stream},
        ),
        (
            "2025-07-21T12:00:02.000000001Z",
            "ERROR",
            "web",
            '{"level": "info"}',
            {"_stream": '{app="web"}', "pod": "web-1"},
        ),
    ]


def test_protobuf_under_gzip_is_snappy_inside_as_loki_reads_it(server: Server) -> None:
    """`Content-Encoding: gzip` on a protobuf push: gzip undone, then snappy, as Loki does."""
    push = PushRequest()
    entry(push.streams.add(labels='{app="gzipped-proto"}'), T0, 5, "wrapped twice")
    body = gzip.compress(snappy(push.SerializeToString()))
    answer = httpx.post(server.url + PATH, content=body, headers={**PROTOBUF, "Content-Encoding": "gzip"})
    assert answer.status_code == 204, answer.text
    assert [log["timestamp"] for log in search(server, "source:gzipped-proto")] == [
        "2025-07-21T12:00:00.000000005Z"
    ]


def test_json_with_gzip_and_structured_metadata(server: Server) -> None:
    """A gzipped JSON push: string nanosecond timestamps exact, the optional third member of a value
    (structured metadata) kept as fields, a number label kept as its JSON text."""
    body = {
        "streams": [
            {
                "stream": {"job": "gzip-json", "detected_level": "debug", "port": 8080},
                "values": [
                    [f"{T0}000000042", "first"],
                    [f"{T0 + 60}123000000", "second", {"user_id": "u-7", "region": "eu"}],
                ],
            }
        ]
    }
    answer = httpx.post(
        server.url + PATH,
        content=gzip.compress(orjson.dumps(body)),
        headers={**JSON, "Content-Encoding": "gzip"},
    )
    assert answer.status_code == 204, answer.text
    logs = search(server, "source:gzip-json")
    stream = '{detected_level="debug",job="gzip-json",port="8080"}'
    assert [(log["timestamp"], log["level"], log["message"], log["metadata"]) for log in logs] == [
        ("2025-07-21T12:00:00.000000042Z", "DEBUG", "first", {"port": "8080", "_stream": stream}),
        (
            "2025-07-21T12:01:00.123Z",
            "DEBUG",
            "second",
            {"port": "8080", "_stream": stream, "user_id": "u-7", "region": "eu"},
        ),
    ]


def test_bad_entries_are_listed_as_loki_does_and_the_rest_stored(server: Server) -> None:
    """An unreadable timestamp, an entry that is no [ts, line], an entry over the bound of one log,
    a stream whose labels are not label syntax: a plain-text 400 listing each (entry, time, why,
    stream) and `total ignored: N out of M`; the good entries stored; each counted by reason."""
    before = {
        code: rejected(server, "loki", code)
        for code in ("bad_timestamp", "bad_entry", "over_bound", "bad_labels")
    }
    many = {f"k{i}": "v" for i in range(1_001)}
    body = {
        "streams": [
            {
                "stream": {"app": "mixed"},
                "values": [
                    [f"{T0}000000001", "good one"],
                    ["yesterday", "unreadable time"],
                    [f"{T0}000000002"],
                    [f"{T0}000000003", "too many keys", many],
                    [f"{T0}000000004", "good two"],
                ],
            },
            {"stream": {"app": "x"}, "values": []},
        ]
    }
    answer = httpx.post(server.url + PATH, content=orjson.dumps(body), headers=JSON)
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text.splitlines() == [
        "entry 1 with timestamp yesterday ignored, reason: 'timestamp is not an integer of Unix "
        'nanoseconds (a string of digits)\' for stream: {app="mixed"},',
        "entry 2 with timestamp 1753099200000000002 ignored, reason: "
        '\'an entry is ["<unix ns>", "<line>"] or ["<unix ns>", "<line>", {structured metadata}]\' '
        'for stream: {app="mixed"},',
        "entry 3 with timestamp 2025-07-21T12:00:00.000000003Z ignored, reason: '1,002 keys, over the "
        "bound of 1,000 keys a log (counted at every level); nothing of it is stored' for stream: "
        '{app="mixed"},',
        "total ignored: 3 out of 5",
    ]
    assert [log["message"] for log in search(server, "source:mixed")] == ["good one", "good two"]
    labels = PushRequest()
    entry(labels.streams.add(labels='{app="fine"}'), T0, 0, "kept")
    entry(labels.streams.add(labels='{app="unterminated}'), T0, 0, "refused")
    answer = httpx.post(server.url + PATH, content=snappy(labels.SerializeToString()), headers=PROTOBUF)
    assert answer.status_code == 400
    assert answer.text == (
        "entry 1 with timestamp 2025-07-21T12:00:00Z ignored, reason: 'labels: not Prometheus label "
        'syntax: expected a closing " at character 19, found the end\' for stream: {app="unterminated},\n'
        "total ignored: 1 out of 2"
    )
    assert [log["message"] for log in search(server, "source:fine")] == ["kept"]
    after = {code: rejected(server, "loki", code) for code in before}
    assert {code: after[code] - before[code] for code in before} == {
        "bad_timestamp": 1,
        "bad_entry": 1,
        "over_bound": 1,
        "bad_labels": 1,
    }


BAD_BODIES = [
    pytest.param(
        b"\x7fnot snappy at all\xff" * 4,
        PROTOBUF,
        400,
        "body is not valid snappy",
        "bad_compression",
        id="bad-snappy",
    ),
    pytest.param(
        snappy(b"\xff\xff\xff\xffgarbage, not protobuf"),
        PROTOBUF,
        400,
        "body is not a Loki PushRequest (protobuf, snappy-compressed)",
        "bad_body",
        id="garbage-protobuf",
    ),
    pytest.param(b"{nope", JSON, 400, "Loki push body is not JSON", "bad_body", id="not-json"),
    pytest.param(
        b'{"stream": []}',
        JSON,
        400,
        'a Loki push body is a JSON object {"streams"',
        "bad_body",
        id="no-streams",
    ),
    pytest.param(
        b'{"streams": [{"stream": {}, "values": {}}]}',
        JSON,
        400,
        'stream 0 of the body: a stream is {"stream": {labels}, "values": [...]}',
        "bad_body",
        id="values-not-a-list",
    ),
    pytest.param(
        b"\x1f\x8b\x08junk",
        {**JSON, "Content-Encoding": "gzip"},
        400,
        "not valid gzip",
        "bad_compression",
        id="bad-gzip",
    ),
    pytest.param(
        b"hello",
        {**SHIPPER, "Content-Type": "text/plain"},
        415,
        "Content-Type 'text/plain' is not a Loki push body",
        "content_type",
        id="wrong-content-type",
    ),
    pytest.param(b"[" * (MAX_BODY + 1), JSON, 413, "over the limit of 1048576", "too_large", id="oversize"),
    pytest.param(
        snappy(b"a" * (MAX_BODY + 1)),
        PROTOBUF,
        413,
        "decompressed body of 1048577 bytes is over the limit of 1048576",
        "too_large",
        id="oversize-after-snappy",
    ),
]


@pytest.mark.parametrize(("body", "headers", "status", "says", "reason"), BAD_BODIES)
def test_bad_bodies_are_refused_plainly_and_counted(
    server: Server, body: bytes, headers: dict[str, str], status: int, says: str, reason: str
) -> None:
    """A body that is no push at all: the status Loki would give, a plain-text answer saying why,
    one rejection counted under its reason; nothing stored."""
    answer = post_refused(server, "loki", reason, PATH, body, headers)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/plain")
    assert says in answer.text


def test_keys_are_required_with_their_scope(server: Server) -> None:
    """With API keys configured a push needs one with the ingest scope (401 without, 403 with a
    query key), presented as Bearer, X-API-Key or basic auth's password."""
    push = PushRequest()
    entry(push.streams.add(labels='{app="keyed"}'), T0, 0, "with a key")
    body = snappy(push.SerializeToString())
    kind = {"Content-Type": "application/x-protobuf"}
    assert httpx.post(server.url + PATH, content=body, headers=kind).status_code == 401
    assert httpx.post(server.url + PATH, content=body, headers={**kind, **READER}).status_code == 403
    assert (
        httpx.post(server.url + PATH, content=body, headers={**kind, "X-API-Key": SHIPPER_KEY}).status_code
        == 204
    )
    assert (
        httpx.post(server.url + PATH, content=body, headers=kind, auth=("any", SHIPPER_KEY)).status_code
        == 204
    )
    assert len(search(server, "source:keyed")) == 2


# -- Prometheus label syntax ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("{}", {}),
        ('  { a = "b" , c="d", }  ', {"a": "b", "c": "d"}),
        (
            '{msg="quote \\" backslash \\\\ newline \\n tab \\t"}',
            {"msg": 'quote " backslash \\ newline \n tab \t'},
        ),
        ('{a="\\x41\\u00e9\\U0001F600\\101\\303\\251"}', {"a": "Aé😀Aé"}),
        ("{a='single \\' quoted', b=`raw \\n`}", {"a": "single ' quoted", "b": "raw \\n"}),
        ('{"service.name"="api", _x9="y"}', {"service.name": "api", "_x9": "y"}),
    ],
)
def test_label_syntax_is_read_with_its_escapes(text: str, labels: dict[str, str]) -> None:
    """Prometheus label syntax: spaces, a trailing comma, Go's escapes (bytes of \\x and octal read as
    UTF-8), single quotes and raw backquotes, quoted UTF-8 names."""
    assert parse_labels(text) == labels


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{a="b"', "expected ',' or '}' at character 6, found the end"),
        ('a="b"}', "expected '{' at character 0"),
        ("{a=b}", "expected a quoted value at character 3, found 'b}'"),
        ('{a!="b"}', "expected '=' after the label name at character 2"),
        ('{a="b" c="d"}', "expected ',' or '}' at character 7"),
        ('{9a="b"}', "expected a label name at character 1"),
        ('{a="b\\q"}', "expected a known escape"),
        ('{a="\\xZZ"}', "expected 2 hex digits after \\x at character 4"),
        ('{a="\\uD800"}', "expected a Unicode code point"),
        ('{a="line\nbreak"}', "a newline in a value is written \\n"),
        ('{a="b"} trailing', "expected the end after '}' at character 8"),
        ('{a="b", a="c"}', "label 'a' appears twice"),
        ("{a=" + '"' + "x" * MAX_LABELS_CHARS + '"}', "characters is over the bound of 65,536"),
    ],
)
def test_label_syntax_errors_say_where(text: str, says: str) -> None:
    """A label string that is not label syntax is an IngestError naming what was expected and where
    (or the bound it is over)."""
    with pytest.raises(IngestError) as caught:
        parse_labels(text)
    assert says in str(caught.value)


@given(
    st.dictionaries(
        st.one_of(st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,10}", fullmatch=True), st.text(max_size=8)),
        st.text(max_size=20),
        max_size=6,
    )
)
def test_canonical_labels_read_back_as_they_were(labels: dict[str, str]) -> None:
    """parse(print(labels)) == labels, for any names and values; printing is sorted by name."""
    text = canonical_labels(labels)
    assert parse_labels(text) == labels
    assert canonical_labels(parse_labels(text)) == text
