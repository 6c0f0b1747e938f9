"""Web server and proxy access logs: Apache and nginx common and combined (nginx's default is
combined), and Squid's native access log; the level follows the HTTP status (5xx ERROR, 4xx WARN)."""

from __future__ import annotations

from log_analytics_engine.ingest.formats.base import RegexFormat

_REQUEST = r'"(?:(?P<method>[A-Z]+) (?P<path>[^\s"]*)(?: (?P<protocol>[^"]*))?|[^"]*)"'
_COMMON = (
    r"^(?P<client_ip>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<time>[^\]]+)\] "
    rf"{_REQUEST} (?P<status>\d{{3}}) (?P<bytes>\d+|-)"
)
_NUMERIC = frozenset({"status", "bytes"})

COMMON = RegexFormat(
    name="access-common",
    description='Apache/nginx Common Log Format: client ident user [time] "request" status bytes',
    example='10.0.0.7 - alice [21/Jul/2025:12:00:00 +0000] "GET /index.html HTTP/1.1" 200 5120',
    pattern=_COMMON,
    numeric=_NUMERIC,
    multiline=False,
    specificity=10,
    aliases=("clf", "common"),
)
COMBINED = RegexFormat(
    name="access-combined",
    description='Apache/nginx combined log (nginx\'s default): common, then "referrer" "user agent"',
    example=(
        '10.0.0.7 - - [21/Jul/2025:12:00:00 +0000] "POST /api/login HTTP/1.1" 503 312 '
        '"https://example.com/" "Mozilla/5.0 (X11; Linux x86_64)"'
    ),
    pattern=rf'{_COMMON} "(?P<referrer>[^"]*)" "(?P<user_agent>[^"]*)"',
    numeric=_NUMERIC,
    multiline=False,
    specificity=11,
    aliases=("apache", "nginx", "combined", "apache-access", "nginx-access"),
)
SQUID = RegexFormat(
    name="squid",
    description="Squid's native access log: epoch.ms duration client code/status bytes method url user hierarchy type",
    example="1721563200.123    245 10.0.0.7 TCP_MISS/200 4120 GET http://example.com/ - HIER_DIRECT/93.184.216.34 text/html",
    pattern=(
        r"^(?P<time>\d{10}\.\d{3})\s+(?P<duration_ms>\d+) (?P<client_ip>\S+) (?P<cache_result>[A-Z_]+)/(?P<status>\d{3})"
        r" (?P<bytes>\d+) (?P<method>\S+) (?P<url>\S+) (?P<user>\S+) (?P<hierarchy>\S+) (?P<content_type>\S+)"
    ),
    numeric=frozenset({"duration_ms", "status", "bytes"}),
    multiline=False,
    specificity=12,
)
FORMATS = (COMMON, COMBINED, SQUID)
