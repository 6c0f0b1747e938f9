"""The edges of the text formats: user formats (regex and grok, from TOML or the server config) and
their checks, `[ingest]` settings, text over `POST /api/v1/logs`, the CLI's `ingest` (`--format`,
`--timezone`, `--format-file`, `--url` against a served process) and `formats`, the metrics of text
ingest, and every built-in's `example` read by its own format."""

from __future__ import annotations

import gzip
import json
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from log_analytics_engine import ConfigError, LogAnalyticsEngine
from log_analytics_engine.cli import backend
from log_analytics_engine.cli.app import app
from log_analytics_engine.ingest.formats import registry
from log_analytics_engine.ingest.formats.user import load_formats, user_format
from log_analytics_engine.server.app import create_app
from log_analytics_engine.server.settings import Settings, load_settings
from services import free_port
from test_server_process import CLI, Server

runner = CliRunner()
TEXT = {"Content-Type": "text/plain; charset=utf-8"}

# A regex format whose lines log4j's pattern reads too (the user's wins the tie), its level in a
# group named `sev`, its source `component`, one more field.
MYAPP_PATTERN = (
    r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (?P<sev>[A-Z]+) \[(?P<component>[\w.-]+)\] "
    r"(?P<logger>[\w.]+) - order (?P<order>\d+) (?P<body>.*)"
)
MYAPP = f"""
[formats.myapp]
pattern = '{MYAPP_PATTERN}'
level = "sev"
source = "component"
description = "the shop's order service"
example = "2025-07-21 12:00:00,250 WARN [billing] com.shop.Orders - order 17 card declined"
"""
MYAPP_LINES = (
    "2025-07-21 12:00:00,250 WARN [billing] com.shop.Orders - order 17 card declined\n"
    "2025-07-21 12:00:01,000 ERROR [billing-db] com.shop.Db - order 18 deadlock found\n"
    "java.sql.SQLException: deadlock\n"
    "\tat com.shop.Db.save(Db.java:42)\n"
    "2025-07-21 12:00:02,125 NOTICE [auth] com.shop.Login - order 19 login ok\n"
)
# A grok format: numbers typed `:int`/`:float`, its own time layout, level and source groups.
JOBS_GROK = (
    r"%{NOTSPACE:stamp} %{LOGLEVEL:severity} %{PROG:worker}\[%{POSINT:pid:int}\] "
    r"job=%{WORD:job} took=%{NUMBER:took_ms:float}ms rows=%{INT:rows:int}"
)
JOBS = f"""
[formats.jobs]
grok = '{JOBS_GROK}'
time = "stamp"
time_layout = "%d.%m.%Y-%H:%M:%S"
level = "severity"
source = "worker"
"""
JOBS_LINES = (
    "21.07.2025-12:00:00 error etl[4123] job=nightly took=12.5ms rows=1200\n"
    "21.07.2025-12:00:07 debug loader[77] job=hourly took=3ms rows=-1\n"
)


def _formats(tmp_path: Path, *tables: str) -> Path:
    path = tmp_path / "formats.toml"
    path.write_text("".join(tables))
    return path


def _logs(engine: LogAnalyticsEngine) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(time, level, source, metadata) of every stored log, in time order."""
    return [(log.timestamp, log.level, log.source, log.metadata) for log in engine.query_logs()]


def _messages(engine: LogAnalyticsEngine) -> list[str]:
    return [log.message for log in engine.query_logs()]


# -- user formats -------------------------------------------------------------------------------


def test_a_regex_user_format_reads_time_level_source_and_fields(tmp_path: Path) -> None:
    """A regex user format, detected, gives each line its exact time, its level from the group named
    by `level`, its source and its other groups as fields; a stack trace joins its event."""
    log = tmp_path / "orders.log"
    log.write_text(MYAPP_LINES)
    with LogAnalyticsEngine(format_file=_formats(tmp_path, MYAPP)) as engine:
        report = engine.ingest_logs_from_file(log, "auto")
        assert (report["format"], report["formats"], report["no_timestamp"]) == ("myapp", {"myapp": 3}, 0)
        assert _logs(engine) == [
            ("2025-07-21T12:00:00.250Z", "WARN", "billing", {"logger": "com.shop.Orders", "order": "17"}),
            ("2025-07-21T12:00:01Z", "ERROR", "billing-db", {"logger": "com.shop.Db", "order": "18"}),
            ("2025-07-21T12:00:02.125Z", "NOTICE", "auth", {"logger": "com.shop.Login", "order": "19"}),
        ]
        assert _messages(engine)[1].endswith(
            "deadlock found\njava.sql.SQLException: deadlock\n\tat com.shop.Db.save(Db.java:42)"
        )


def test_a_user_format_with_multiline_false_keeps_each_line_its_own_log() -> None:
    """`multiline = false`: a stack trace's lines are logs of their own (plain text, given the time of
    the event before them and counted), not joined to the record."""
    tables = tomllib.loads(MYAPP)
    tables["formats"]["myapp"]["multiline"] = False
    with LogAnalyticsEngine(formats=load_formats(tables)) as engine:
        report = engine.ingest_text(MYAPP_LINES.encode())
        assert (report["formats"], report["no_timestamp"]) == ({"myapp": 3, "text": 2}, 2)
        assert [log.timestamp for log in engine.query_logs()][1:4] == ["2025-07-21T12:00:01Z"] * 3
        assert _messages(engine)[2:4] == [
            "java.sql.SQLException: deadlock",
            "\tat com.shop.Db.save(Db.java:42)",
        ]


def test_a_user_format_wins_the_tie_with_a_builtin_that_reads_the_same_lines(tmp_path: Path) -> None:
    """log4j's pattern matches the user's lines too; detection picks the user's format, and
    without it the same file is read as log4j."""
    log = tmp_path / "orders.log"
    log.write_text(MYAPP_LINES)
    with LogAnalyticsEngine() as engine:
        assert engine.ingest_logs_from_file(log, "auto")["format"] == "log4j"
    with LogAnalyticsEngine(formats=load_formats(_formats(tmp_path, MYAPP))) as engine:
        assert engine.ingest_logs_from_file(log, "auto")["format"] == "myapp"


def test_a_grok_user_format_types_its_numbers_and_reads_its_time_layout(tmp_path: Path) -> None:
    """A grok format: `:int`/`:float` fields stored as numbers, the time read by `time_layout` from
    the group named by `time`, level and source from their groups; detected and forced alike."""
    log = tmp_path / "jobs.txt"
    log.write_text(JOBS_LINES)
    expected = [
        (
            "2025-07-21T12:00:00Z",
            "ERROR",
            "etl",
            {"pid": 4123, "job": "nightly", "took_ms": 12.5, "rows": 1200},
        ),
        ("2025-07-21T12:00:07Z", "DEBUG", "loader", {"pid": 77, "job": "hourly", "took_ms": 3, "rows": -1}),
    ]
    for file_type in ("auto", "jobs"):
        with LogAnalyticsEngine(format_file=_formats(tmp_path, JOBS)) as engine:
            report = engine.ingest_logs_from_file(log, file_type)
            assert (report["format"], report["no_timestamp"]) == ("jobs", 0)
            assert _logs(engine) == expected
            assert engine.search("rows:>1000").total == 1


def test_a_user_format_example_is_read_by_it_like_a_builtins() -> None:
    """A user format's `example` (checked at load) is read by that format when ingested alone."""
    (fmt,) = load_formats({"formats": {"jobs": {**_jobs_spec(), "example": JOBS_LINES.splitlines()[0]}}})
    with LogAnalyticsEngine(formats=[fmt]) as engine:
        report = engine.ingest_text(fmt.example.encode())
        assert (report["format"], report["no_timestamp"]) == ("jobs", 0)
        assert [log.metadata["rows"] for log in engine.query_logs()] == [1200]


def _jobs_spec() -> dict[str, Any]:
    spec: dict[str, Any] = tomllib.loads(JOBS)["formats"]["jobs"]
    return spec


@pytest.mark.parametrize(
    ("name", "spec", "problem"),
    [
        ("backref", {"pattern": r"(?P<w>\w+) \1"}, "not one RE2 accepts"),
        ("named-backref", {"pattern": r"(?P<w>\w+) (?P=w)"}, "not one RE2 accepts"),
        ("lookahead", {"pattern": r"(?P<w>\w+)(?=:)"}, "not one RE2 accepts"),
        ("broken", {"pattern": r"(?P<w>\w+"}, r"not one RE2 accepts \(missing \)"),
        ("unnamed", {"pattern": r"(\d+) (?P<w>\w+)"}, "every capturing group must be named"),
        ("grok-unknown", {"grok": "%{NOPE:x} %{WORD:w}"}, r"unknown grok pattern %\{NOPE\}"),
        ("grok-lowercase", {"grok": "%{word:w} x"}, r"%\{word:w\}"),
        ("grok-bad-field", {"grok": "%{WORD:9w} x"}, r"%\{WORD:9w\}"),
        ("unknown-key", {"pattern": r"(?P<w>x)", "colour": "red"}, "unknown key.*colour"),
        ("both", {"pattern": r"(?P<w>x)", "grok": "%{WORD:w}"}, "either `pattern`"),
        ("neither", {"description": "no pattern"}, "either `pattern`"),
        ("example", {"pattern": r"(?P<n>\d+) ", "example": "abc"}, "example 'abc' does not match"),
        ("multiline", {"pattern": r"(?P<w>x)", "multiline": "yes"}, "`multiline` must be true or false"),
        ("Bad Name", {"pattern": r"(?P<w>x)"}, "format name 'Bad Name' must be lower-case"),
        ("source", {"pattern": r"(?P<w>x)", "source": "svc"}, "source group 'svc' is not a group"),
        (
            "layout",
            {"pattern": r"(?P<time>\S+) ", "time_layout": "YYYY-MM-DD"},
            "`time_layout` is a strptime",
        ),
        ("layout-no-time", {"pattern": r"(?P<w>\S+) ", "time_layout": "%Y"}, "`time_layout`.*`time` group"),
        ("time-group", {"pattern": r"(?P<w>\S+) ", "time": "stamp"}, "time group 'stamp' is not a group"),
        ("level-group", {"pattern": r"(?P<w>\S+) ", "level": "sev"}, "level group 'sev' is not a group"),
        ("empty-match", {"pattern": r"(?P<msg>.*)"}, "matches an empty line"),
        ("syslog", {"pattern": r"(?P<w>\S+) "}, "taken by the built-in syslog-rfc3164"),
        ("text", {"pattern": r"(?P<w>\S+) "}, "taken by the built-in text"),
        ("jsonl", {"pattern": r"(?P<w>\S+) "}, "taken by JSON lines"),
        ("auto", {"pattern": r"(?P<w>\S+) "}, "reserved"),
        ("dup", {"grok": "%{WORD:w} %{WORD:w}"}, "redefinition of group name 'w'"),
    ],
)
def test_a_bad_user_format_is_a_config_error_naming_it_and_the_problem(
    name: str, spec: dict[str, Any], problem: str
) -> None:
    """Every bad definition is refused at load, the error naming the format and what is wrong."""
    with pytest.raises(ConfigError, match=rf"format {name!r}: .*{problem}"):
        load_formats({"formats": {name: spec}})


def test_a_format_file_error_names_the_file(tmp_path: Path) -> None:
    """A bad format in a `--format-file` names the file as well as the format; so does a file that
    cannot be read or is not TOML."""
    bad = _formats(tmp_path, "[formats.x]\npattern = '(?P<w>x'\n")
    with pytest.raises(ConfigError, match=rf"{bad}: format 'x': pattern is not one RE2 accepts"):
        load_formats(bad)
    with pytest.raises(ConfigError, match=rf"cannot read the format file {tmp_path / 'none.toml'}"):
        load_formats(tmp_path / "none.toml")
    bad.write_text("[formats.x\n")
    with pytest.raises(ConfigError, match=rf"cannot read the format file {bad}"):
        load_formats(bad)


def test_a_user_format_without_a_time_gives_the_ingest_time_counted() -> None:
    """Lines of a user format with no time group get the ingest time, each counted in no_timestamp."""
    fmt = user_format("kv", {"pattern": r"(?P<level>[A-Z]+) (?P<svc>\w+): ", "source": "svc"})
    with LogAnalyticsEngine(formats=[fmt]) as engine:
        report = engine.ingest_text(b"ERROR billing: declined\nINFO auth: ok\n")
        assert (report["format"], report["count"], report["no_timestamp"]) == ("kv", 2, 2)


def test_a_number_field_that_is_no_json_number_keeps_the_file() -> None:
    """A pid with a leading zero (syslog), bytes `05120` (access log), `+5` for a grok `:int` field or
    a word typed `:int` is stored as a string, the rest as numbers (such text failed the whole file)."""
    fmt = user_format("nums", {"grok": "n=%{INT:n:int} w=%{WORD:w:int} %{GREEDYDATA:rest}"})
    with LogAnalyticsEngine(formats=[fmt]) as engine:
        engine.ingest_text(b"Jul 21 12:00:00 web01 sshd[04123]: Accepted\n")
        engine.ingest_text(b'10.0.0.7 - alice [21/Jul/2025:12:00:00 +0000] "GET / HTTP/1.1" 200 05120\n')
        assert engine.ingest_text(b"n=+5 w=abc one\nn=-7 w=12 two\n", "nums")["count"] == 2
        kept = ("pid", "bytes", "n", "w")
        fields = [{k: v for k, v in log.metadata.items() if k in kept} for log in engine.query_logs()]
        expected = [{"pid": "04123"}, {"bytes": "05120"}, {"n": "+5", "w": "abc"}, {"n": -7, "w": 12}]
        assert sorted(fields, key=json.dumps) == sorted(expected, key=json.dumps)


# -- settings ---------------------------------------------------------------------------------


def test_settings_read_ingest_and_formats_from_the_config_and_env(tmp_path: Path) -> None:
    """`[ingest]` (timezone, format_file) and `[formats.NAME]` tables load from the server config;
    LOG_ANALYTICS_TIMEZONE and _FORMAT_FILE override the file."""
    jobs = _formats(tmp_path, JOBS)
    config = tmp_path / "server.toml"
    config.write_text(f'[ingest]\ntimezone = "Europe/Berlin"\nformat_file = "{jobs}"\n{MYAPP}')
    settings = load_settings(config, env={})
    assert (settings.timezone, settings.format_file) == ("Europe/Berlin", jobs)
    assert [f.name for f in settings.formats] == ["myapp"]
    other = tmp_path / "other.toml"
    other.write_text("")
    env = {"LOG_ANALYTICS_TIMEZONE": "Asia/Tokyo", "LOG_ANALYTICS_FORMAT_FILE": str(other)}
    settings = load_settings(config, env=env)
    assert (settings.timezone, settings.format_file) == ("Asia/Tokyo", other)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[ingest]\ntimezone = "Nowhere/Bad"\n', r"\[ingest\] timezone: unknown time zone 'Nowhere/Bad'"),
        ('[ingest]\ntimezone = "localtime"\n', r"\[ingest\] timezone: unknown time zone 'localtime'"),
        ("[ingest]\ntimezone = 5\n", r"\[ingest\] timezone must be a str"),
        ("[ingest]\nzone = 'UTC'\n", r"\[ingest\] unknown key 'zone'"),
        ("[formats.x]\npattern = '(?P<w>x'\n", "format 'x': pattern is not one RE2 accepts"),
        ("[formats.syslog]\npattern = '(?P<w>\\S+) '\n", "format 'syslog': .*taken by the built-in"),
        ("[formats]\nx = 3\n", r"user formats are tables"),
    ],
)
def test_ingest_settings_errors_name_the_config_file(tmp_path: Path, text: str, message: str) -> None:
    """Every bad `[ingest]` or `[formats]` setting is a ConfigError naming the config file."""
    config = tmp_path / "server.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=rf"^{config}: .*{message}"):
        load_settings(config, env={})


def test_a_bad_timezone_from_the_environment_names_the_variable() -> None:
    """A bad LOG_ANALYTICS_TIMEZONE is a ConfigError naming the variable."""
    with pytest.raises(ConfigError, match=r"^LOG_ANALYTICS_TIMEZONE: unknown time zone 'Mars/Base'"):
        load_settings(env={"LOG_ANALYTICS_TIMEZONE": "Mars/Base"})


def test_a_bad_format_file_stops_serve_naming_the_file(tmp_path: Path) -> None:
    """`serve` whose `[ingest] format_file` holds a bad format exits 2 naming the file, the format and
    the problem, before listening."""
    bad = _formats(tmp_path, "[formats.x]\ngrok = '%{NOPE:x}'\n")
    config = tmp_path / "server.toml"
    config.write_text(f'[ingest]\nformat_file = "{bad}"\n')
    args = ["serve", "--config", str(config), "--data", str(tmp_path / "d"), "--port", str(free_port())]
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)  # a hang fails
    assert result.returncode == 2
    assert f"{bad}: format 'x': unknown grok pattern %{{NOPE}}" in result.stderr


# -- a served process ---------------------------------------------------------------------------

SHOP = r"""
[formats.shop]
grok = '%{TIMESTAMP_ISO8601:time} %{WORD:lvl} order=%{POSINT:order:int} %{GREEDYDATA:what}'
level = "lvl"
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`log-analytics serve` with a config holding `[ingest] timezone` and a `[formats.shop]` table
    (each test uses its own words and sources)."""
    where = tmp_path_factory.mktemp("served")
    config = where / "server.toml"
    config.write_text(f'[ingest]\ntimezone = "Europe/Berlin"\n{SHOP}')
    running = Server(where / "data", "--config", str(config))
    try:
        yield running
        running.stop()
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


def _search(server: Server, query: str) -> list[dict[str, Any]]:
    answer = httpx.get(server.url + "/api/v1/search", params={"q": query, "limit": 1000}, timeout=30)
    assert answer.status_code == 200, answer.text
    return sorted(answer.json()["logs"], key=lambda log: (log["timestamp"], log["message"]))


def test_serve_reads_text_by_a_config_format_in_the_config_zone(served: Server) -> None:
    """`POST /api/v1/logs?format=shop` on `serve --config` is read by the config's `[formats.shop]`,
    its naive times in the config's `[ingest] timezone` (12:00 in Berlin in July is 10:00 UTC)."""
    body = b"2025-07-21 12:00:00 error order=123 payment refused\n2025-07-21 12:00:03 info order=124 paid\n"
    answer = httpx.post(served.url + "/api/v1/logs", params={"format": "shop"}, content=body, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json() == _answer("shop", {"shop": 2}, 2)
    logs = _search(served, "order:>=123 order:<=124")
    assert [(log["timestamp"], log["level"], log["metadata"]) for log in logs] == [
        ("2025-07-21T10:00:00Z", "ERROR", {"order": 123, "what": "payment refused"}),
        ("2025-07-21T10:00:03Z", "INFO", {"order": 124, "what": "paid"}),
    ]


def test_cli_ingest_url_sends_a_text_file_to_a_served_process(served: Server, tmp_path: Path) -> None:
    """`ingest app.log --url` stores a text file's lines by their format (it was refused before),
    reporting the format chosen."""
    log = tmp_path / "app.log"
    log.write_text(
        "Jul 21 12:00:00 web01 sshd[4123]: Accepted publickey for urlsent\n"
        "Jul 21 12:00:01 web01 sshd[4123]: error: urlsent kex_exchange_identification\n"
    )
    result = runner.invoke(app, ["ingest", str(log), "--url", served.url])
    assert result.exit_code == 0, result.output
    assert "stored 2 logs" in result.output
    assert "formats: syslog-rfc3164 2" in result.output
    logs = _search(served, "urlsent")
    assert [(log["level"], log["source"], log["metadata"]) for log in logs] == [
        ("INFO", "sshd", {"host": "web01", "pid": 4123}),
        ("ERROR", "sshd", {"host": "web01", "pid": 4123}),
    ]


def _java_events(tag: str, n: int, trace: int) -> tuple[str, list[str]]:
    """A log4j file of `n` events, each with a stack trace of `trace` lines, and each event's text."""
    events = []
    for i in range(n):
        lines = [f"2025-07-21 12:{i // 60:02d}:{i % 60:02d},000 ERROR [main] com.x.{tag} - failure {i}"]
        lines.append(f"java.lang.IllegalStateException: {tag} {i}")
        lines += [f"\tat com.x.{tag}.step{k}({tag}.java:{k + 10})" for k in range(trace)]
        events.append("\n".join(lines))
    return "\n".join(events) + "\n", events


def test_cli_ingest_url_keeps_an_event_that_straddles_a_request_whole(
    served: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With REMOTE_TEXT_BATCH lines a request, batches are cut before an event's first line: a
    stack trace across a batch boundary stays in its one log."""
    monkeypatch.setattr(backend, "REMOTE_TEXT_BATCH", 7)
    text, events = _java_events("Straddle", 8, 4)  # 6-line events against 7-line batches
    log = tmp_path / "java.log"
    log.write_text(text)
    result = runner.invoke(app, ["ingest", str(log), "--url", served.url])
    assert result.exit_code == 0, result.output
    assert "stored 8 logs" in result.output
    assert [log["message"] for log in _search(served, "source:com.x.Straddle")] == events


def test_cli_ingest_url_does_not_cut_at_a_continuation_holding_a_time(
    served: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `Caused by:` line that holds a time continues its event on the server, so a batch is not cut
    before it (it was: the event was stored as two logs, the second without a time of its own)."""
    monkeypatch.setattr(backend, "REMOTE_TEXT_BATCH", 4)
    events = [
        "2025-07-21 12:00:00,000 ERROR [main] com.x.CausedAt - call failed\n"
        "java.lang.RuntimeException: upstream\n"
        "\tat com.x.CausedAt.call(CausedAt.java:9)\n"
        "Caused by: java.util.concurrent.TimeoutException: deadline 2025-07-21T11:59:59Z passed\n"
        "\t... 3 more",
        "2025-07-21 12:00:05,000 INFO [main] com.x.CausedAt - recovered",
    ]
    log = tmp_path / "caused.log"
    log.write_text("\n".join(events) + "\n")
    result = runner.invoke(app, ["ingest", str(log), "--url", served.url])
    assert result.exit_code == 0, result.output
    assert [log["message"] for log in _search(served, "source:com.x.CausedAt")] == events


def test_cli_ingest_url_of_long_lines_stays_within_the_server_body_limit(
    served: Server, tmp_path: Path
) -> None:
    """A request holds at most REMOTE_TEXT_BYTES besides REMOTE_TEXT_BATCH lines: 20,000 lines of
    900 bytes (18 MB) are stored, where one 18 MB request got a 413 from the default 16 MiB limit
    and stopped the ingest."""
    pad = "x" * 850
    log = tmp_path / "long.log"
    log.write_text(
        "".join(f"Jul 21 12:00:{i % 60:02d} web01 app[1]: longline {pad}\n" for i in range(20_000))
    )
    assert log.stat().st_size > 16 << 20
    result = runner.invoke(app, ["ingest", str(log), "--url", served.url])
    assert result.exit_code == 0, result.output
    assert "stored 20,000 logs" in result.output


# -- HTTP, in process -------------------------------------------------------------------------

SYSLOG = (
    b"Jul 21 12:00:00 web01 sshd[4123]: Accepted publickey for alice\n"
    b"Jul 21 12:00:01 web01 sshd[4123]: error: kex_exchange_identification\n"
)
JAVA = (
    b"2025-07-21 12:00:00,123 ERROR [main] com.x.Svc - boom\n"
    b"java.lang.IllegalStateException: bad\n"
    b"\tat com.x.Svc.run(Svc.java:42)\n"
    b"\tat com.x.Main.main(Main.java:7)\n"
    b"Caused by: java.io.IOException: eof\n"
    b"\t... 2 more\n"
    b"2025-07-21 12:00:01,000 INFO [main] com.x.Svc - ok\n"
)


@pytest.fixture
def client(engine: LogAnalyticsEngine) -> TestClient:
    """The app in process over the in-memory `engine`."""
    return TestClient(create_app(engine, Settings()))


def _answer(format_: str, formats: dict[str, int], accepted: int, no_timestamp: int = 0) -> dict[str, Any]:
    return {
        "accepted": accepted,
        "rejected": [],
        "rejected_count": 0,
        "dropped": 0,
        "format": format_,
        "formats": formats,
        "no_timestamp": no_timestamp,
    }


def test_http_text_plain_is_read_by_the_detected_format(
    client: TestClient, engine: LogAnalyticsEngine
) -> None:
    """A text/plain body is read by the format detected; the answer names it and counts per format."""
    answer = client.post("/api/v1/logs", content=SYSLOG, headers=TEXT)
    assert answer.status_code == 200
    assert answer.json() == _answer("syslog-rfc3164", {"syslog-rfc3164": 2}, 2)
    assert [(log.level, log.source, log.metadata) for log in engine.query_logs()] == [
        ("INFO", "sshd", {"host": "web01", "pid": 4123}),
        ("ERROR", "sshd", {"host": "web01", "pid": 4123}),
    ]


def test_http_format_query_forces_a_format_by_its_alias(
    client: TestClient, engine: LogAnalyticsEngine
) -> None:
    """`?format=syslog` (an alias) forces syslog-rfc3164 whatever the content type; a forced format
    reads only its own lines (the others fall to plain text, one without a time counted)."""
    answer = client.post("/api/v1/logs", params={"format": "syslog"}, content=SYSLOG + b"not syslog at all\n")
    assert answer.json() == _answer("syslog-rfc3164", {"syslog-rfc3164": 2, "text": 1}, 3, no_timestamp=1)
    answer = client.post("/api/v1/logs", params={"format": "SYSLOG"}, content=SYSLOG, headers=TEXT)
    assert answer.json()["format"] == "syslog-rfc3164"


def test_http_unknown_format_is_a_400_naming_the_known_ones(
    client: TestClient, engine: LogAnalyticsEngine
) -> None:
    """`?format=nope` is a 400 listing the formats (built-in ones by name), nothing stored."""
    answer = client.post("/api/v1/logs", params={"format": "nope"}, content=SYSLOG)
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert "'nope'" in detail
    assert all(fmt.name in detail for fmt in registry())
    assert engine.count() == 0


def test_http_binary_text_body_is_a_400_not_a_log(client: TestClient, engine: LogAnalyticsEngine) -> None:
    """A binary body sent as text is a 400 saying it is not a log, nothing stored."""
    answer = client.post("/api/v1/logs", content=bytes(range(256)) * 8, headers=TEXT)
    assert answer.status_code == 400
    assert "not a log" in answer.json()["detail"]
    assert engine.count() == 0


def test_http_gzip_text_body_and_a_stack_trace_in_one_log(
    client: TestClient, engine: LogAnalyticsEngine
) -> None:
    """A gzip text body is read like a plain one; a Java stack trace in it is one log with its record."""
    headers = {**TEXT, "Content-Encoding": "gzip"}
    answer = client.post("/api/v1/logs", content=gzip.compress(JAVA), headers=headers)
    assert answer.json() == _answer("log4j", {"log4j": 2}, 2)
    first, second = engine.query_logs()
    assert (first.level, first.source, first.thread_id) == ("ERROR", "com.x.Svc", "main")
    assert first.message == JAVA.decode().split("\n2025-07-21 12:00:01")[0]
    assert (second.timestamp, second.message) == (
        "2025-07-21T12:00:01Z",
        "2025-07-21 12:00:01,000 INFO [main] com.x.Svc - ok",
    )


def test_http_json_bodies_keep_the_json_reading(client: TestClient, engine: LogAnalyticsEngine) -> None:
    """NDJSON and JSON array bodies are read as JSON as before; `?format=jsonl` keeps JSON even
    with a text content type, and so does a text/plain body that is JSON (fetch's default type)."""
    record = {"timestamp": "2025-07-21T12:00:00Z", "level": "error", "message": "as json", "source": "j"}
    line = json.dumps(record).encode()
    cases = [
        {"content": line + b"\n", "headers": {"Content-Type": "application/x-ndjson"}},
        {"content": b"[" + line + b"]", "headers": {"Content-Type": "application/json"}},
        {"content": line + b"\n", "headers": TEXT, "params": {"format": "jsonl"}},
        {"content": line + b"\n" + line + b"\n", "headers": {"Content-Type": "text/plain;charset=UTF-8"}},
        {"content": b"[" + line + b"]", "headers": {"Content-Type": "text/plain;charset=UTF-8"}},
    ]
    for case in cases:
        answer = client.post("/api/v1/logs", **case)
        assert answer.status_code == 200, answer.text
        assert "format" not in answer.json(), case
    logs = engine.query_logs()
    assert len(logs) == 6
    assert {(log.level, log.message, log.source) for log in logs} == {("ERROR", "as json", "j")}


def test_http_text_starting_with_a_bracket_is_still_text(
    client: TestClient, engine: LogAnalyticsEngine
) -> None:
    """A text/plain body whose first line opens with `[` but is no JSON array (an Apache error log)
    is read as text."""
    body = b"[Mon Jul 21 12:00:00.123456 2025] [proxy:error] [pid 4123:tid 140] AH00957: connect failed\n"
    answer = client.post("/api/v1/logs", content=body, headers=TEXT)
    assert answer.json() == _answer("apache-error", {"apache-error": 1}, 1)


# -- the CLI on a data directory --------------------------------------------------------------


def test_cli_ingest_format_and_format_file(tmp_path: Path) -> None:
    """`ingest --format NAME --format-file F` reads a file by the user's format; the report names it."""
    log = tmp_path / "jobs.txt"
    log.write_text(JOBS_LINES)
    data = str(tmp_path / "d")
    user = str(_formats(tmp_path, JOBS))
    result = runner.invoke(
        app, ["ingest", str(log), "--data", data, "--format", "jobs", "--format-file", user]
    )
    assert result.exit_code == 0, result.output
    assert "formats: jobs 2; without a time of their own: 0" in result.output
    with LogAnalyticsEngine(data) as engine:
        assert [log.metadata["pid"] for log in engine.query_logs()] == [4123, 77]


def test_cli_ingest_format_forces_a_builtin_over_the_detected_one(tmp_path: Path) -> None:
    """`ingest --format common` reads a combined access log as the common format (detection picks
    combined, the more specific): its referrer and user agent are not fields."""
    log = tmp_path / "access.log"
    log.write_text(
        '10.0.0.7 - - [21/Jul/2025:12:00:00 +0000] "POST /api/login HTTP/1.1" 503 312 '
        '"https://e.com/" "curl/8"\n'
    )
    for forced, format_, fields in (
        ([], "access-combined", {"referrer": "https://e.com/", "user_agent": "curl/8"}),
        (["--format", "common"], "access-common", {}),
    ):
        data = str(tmp_path / format_)
        result = runner.invoke(app, ["ingest", str(log), "--data", data, *forced])
        assert result.exit_code == 0, result.output
        assert f"formats: {format_} 1" in result.output
        with LogAnalyticsEngine(data) as engine:
            request = {
                "client_ip": "10.0.0.7",
                "method": "POST",
                "path": "/api/login",
                "protocol": "HTTP/1.1",
            }
            assert _logs(engine) == [
                ("2025-07-21T12:00:00Z", "ERROR", "", {**request, "status": 503, "bytes": 312, **fields})
            ]


def test_cli_ingest_timezone_reads_naive_times_in_that_zone(tmp_path: Path) -> None:
    """`--timezone Europe/Berlin`: a naive 12:00 in July is stored as 10:00 UTC; a time with an
    offset is left as it says."""
    log = tmp_path / "py.log"
    log.write_text(
        "2025-07-21 12:00:00,000 - shop.api - ERROR - naive\n"
        "2025-01-21 12:00:00,000 - shop.api - ERROR - naive in winter\n"
        "2025-07-21T12:00:00+00:00 web01 app[1]: with an offset\n"
    )
    data = str(tmp_path / "d")
    result = runner.invoke(app, ["ingest", str(log), "--data", data, "--timezone", "Europe/Berlin"])
    assert result.exit_code == 0, result.output
    with LogAnalyticsEngine(data) as engine:
        assert sorted(log.timestamp for log in engine.query_logs()) == [
            "2025-01-21T11:00:00Z",
            "2025-07-21T10:00:00Z",
            "2025-07-21T12:00:00Z",
        ]


@pytest.mark.parametrize("zone", ["Nowhere/Bad", "localtime"])
def test_cli_ingest_unknown_timezone_exits_2_before_creating_anything(tmp_path: Path, zone: str) -> None:
    """`--timezone Nowhere/Bad` (or `localtime`, a file Python reads but DuckDB's ICU does not
    know) exits 2 naming the zone, and makes no data directory."""
    log = tmp_path / "py.log"
    log.write_text("2025-07-21 12:00:00,000 - shop.api - ERROR - naive\n")
    result = runner.invoke(app, ["ingest", str(log), "--data", str(tmp_path / "d"), "--timezone", zone])
    assert result.exit_code == 2
    assert f"unknown time zone {zone!r}" in result.output
    assert not (tmp_path / "d").exists()


def test_cli_formats_lists_every_builtin_with_its_whole_example(tmp_path: Path) -> None:
    """`log-analytics formats` lists every built-in's name, aliases and example, each example whole
    on one line (a table folded and cut them at 80 columns); `--format-file` adds the user's."""
    result = runner.invoke(app, ["formats", "--format-file", str(_formats(tmp_path, MYAPP, JOBS))])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for fmt in registry():
        assert any(line.startswith(fmt.name) for line in lines), fmt.name
        assert any(line.strip() == fmt.example for line in lines), fmt.example
        for alias in fmt.aliases:
            assert alias in result.output
    assert any(line.startswith("myapp") for line in lines)
    assert any(line.startswith("jobs") for line in lines)
    assert "the shop's order service" in result.output


def test_cli_formats_with_a_bad_format_file_exits_2(tmp_path: Path) -> None:
    """`formats --format-file` with a bad definition exits 2 naming the file, the format and the problem."""
    bad = _formats(tmp_path, "[formats.x]\ngrok = '%{NOPE:x}'\n")
    result = runner.invoke(app, ["formats", "--format-file", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}: format 'x': unknown grok pattern %{{NOPE}}" in result.output


# -- metrics and stats ------------------------------------------------------------------------


def test_text_ingest_metrics_and_stats(client: TestClient, engine: LogAnalyticsEngine) -> None:
    """After text ingest `/metrics` counts logs per format and those without a time of their own;
    get_stats() holds the same figures."""
    client.post("/api/v1/logs", content=SYSLOG, headers=TEXT)
    client.post("/api/v1/logs", content=b"boot sequence started\nnothing to see here\n", headers=TEXT)
    client.post("/api/v1/logs", content=JAVA, headers=TEXT)
    metrics = client.get("/metrics").text
    assert 'loganalytics_text_logs_total{format="syslog-rfc3164"} 2.0' in metrics
    assert 'loganalytics_text_logs_total{format="text"} 2.0' in metrics
    assert 'loganalytics_text_logs_total{format="log4j"} 2.0' in metrics
    assert "loganalytics_ingest_no_timestamp_total 2.0" in metrics
    stats = engine.get_stats()
    assert stats["text_formats"] == {"syslog-rfc3164": 2, "text": 2, "log4j": 2}
    assert stats["no_timestamp"] == 2


# -- every built-in's example -----------------------------------------------------------------

UNTIMED = ("python-basic", "logcat-brief")  # formats whose lines carry no time


@pytest.mark.parametrize("name", [fmt.name for fmt in registry()])
def test_every_builtin_example_is_read_by_its_own_format(name: str) -> None:
    """A built-in's `example` (as `formats` and the README show it), ingested alone with detection,
    is read by that very format, with a time of its own unless the format has none."""
    (item,) = [d for d in registry().describe() if d["name"] == name]
    example = str(item["example"]).replace("\\n", "\n")  # journal export's example is several lines
    with LogAnalyticsEngine() as engine:
        report = engine.ingest_text(example.encode())
        assert (report["format"], report["count"]) == (name, 1)
        assert report["no_timestamp"] == (1 if name in UNTIMED else 0)
