"""Syslog as files and streams carry it: RFC 5424, RFC 3164 (BSD, with or without `<PRI>`, as
/var/log/messages, auth.log and macOS system.log write it), and the ISO-timed variant rsyslog's
file format and `journalctl -o short-iso` write."""

from __future__ import annotations

from log_analytics_engine.ingest.formats.base import RegexFormat
from log_analytics_engine.ingest.formats.timescan import MONTH_NAME

_APP = r"(?P<app>[^\s:\[]+?)(?:\[(?P<pid>\d+)\])?:\s(?P<body>.*)"
# BSD syslog's own time shape is distinctive enough to take lines without a program too
# ("last message repeated 3 times"), and macOS's `app[pid] (job): message` (launchd writes no colon
# after the pid); the ISO variant needs `app:` or `app[pid]:` to be told apart.
_APP_OPTIONAL = r"(?:(?P<app>[^\s:\[]+?)(?:\[(?P<pid>\d+)\]:?|:)\s)?(?P<body>.*)"

RFC5424 = RegexFormat(
    name="syslog-rfc5424",
    description="RFC 5424 syslog: <PRI>1 time host app procid msgid [structured data] message",
    example='<165>1 2025-07-21T12:00:00.003Z web01 nginx 4123 ID47 [origin ip="10.0.0.1"] started',
    pattern=(
        r"^<(?P<pri>\d+)>1 (?P<time>\S+) (?P<host>\S+) (?P<app>\S+) (?P<pid>\S+) (?P<msgid>\S+)"
        r" (?P<structured_data>-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (?P<body>.*))?"
    ),
    source=("app",),
    numeric=frozenset({"pid"}),  # a procid that is no number stays a string
    multiline=False,
    specificity=30,
    aliases=("rfc5424",),
)
RFC3164 = RegexFormat(
    name="syslog-rfc3164",
    description="BSD syslog (RFC 3164), with or without <PRI>: Mmm dd hh:mm:ss host app[pid]: message",
    example="Jul 21 12:00:00 web01 sshd[4123]: Accepted publickey for alice from 10.0.0.7 port 52144",
    pattern=(
        rf"^(?:<(?P<pri>\d+)>)?(?P<time>{MONTH_NAME}\s{{1,2}}\d+ \d\d:\d\d:\d\d(?:\.\d+)?(?: \d{{4}})?)"
        rf"\s+(?P<host>[^\s:\[]+)\s+{_APP_OPTIONAL}"
    ),
    source=("app",),
    numeric=frozenset({"pid"}),
    multiline=False,
    specificity=20,
    aliases=("syslog", "rfc3164", "bsd-syslog"),
)
ISO = RegexFormat(
    name="syslog-iso",
    description=(
        "Syslog with an RFC 3339 time (rsyslog's file format, journalctl -o short-iso): time host app[pid]: "
        "message"
    ),
    example="2025-07-21T12:00:00.123456+02:00 web01 systemd[1]: Started Daily apt upgrade.",
    pattern=(
        r"^(?:<(?P<pri>\d+)>)?(?P<time>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)"
        rf"\s+(?P<host>[^\s:\[]+)\s+{_APP}"
    ),
    source=("app",),
    numeric=frozenset({"pid"}),
    multiline=False,
    specificity=15,
)
FORMATS = (RFC5424, RFC3164, ISO)
