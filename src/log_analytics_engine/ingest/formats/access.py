"""Web server and proxy access logs: Apache and nginx common and combined (nginx's default is
combined), and Squid's native access log; the level follows the HTTP status (5xx ERROR, 4xx WARN)."""

from __future__ import annotations

from log_analytics_engine.ingest.formats.base import RegexFormat

_REQUEST = r'"(?:(?P<method>[A-Z]+) (?P<path>[^\s"]*)(?: (?P<protocol>[^"]*))?|[^"]*)"'
# No quote before the request: the split below reads the first quote as the request's (a quoted
# user gave a status of `[21/Jul/2025:12:00:14` and no time)
_COMMON = (
    r'^(?P<client_ip>[^\s"]+) (?P<ident>[^\s"]+) (?P<user>[^\s"]+) \[(?P<time>[^\]"]+)\] '
    rf"{_REQUEST} (?P<status>\d{{3}}) (?P<bytes>\d+|-)"
)
_NUMERIC = frozenset({"status", "bytes"})


def _split(combined: bool) -> str:
    """The groups of a line the common (or combined) pattern matched, by splitting it at its quotes:
    the pattern admits no quote inside a field, so the request is piece 2, the referrer 4 and the
    agent 6; the part before the request is `client ident user [time] `."""
    head = "split_part(line, '\"', 1)"
    words = [f"split_part({head}, ' ', {i})" for i in (1, 2, 3)]
    skip = " + ".join(f"length({w})" for w in words)
    stamp = f"substr({head}, {skip} + 4)"  # `[time] `
    request = "split_part(line, '\"', 2)"
    parsed = f"regexp_matches({request}, '^[A-Z]+ [^\\s\"]*(?: |$)')"
    tail = "trim(split_part(line, '\"', 3))"
    fields = {
        "client_ip": words[0],
        "ident": words[1],
        "user": words[2],
        "time": f"substr({stamp}, 2, length({stamp}) - 3)",
        "method": f"CASE WHEN {parsed} THEN split_part({request}, ' ', 1) ELSE '' END",
        "path": f"CASE WHEN {parsed} THEN split_part({request}, ' ', 2) ELSE '' END",
        "protocol": (
            f"CASE WHEN {parsed} THEN substr({request}, length(split_part({request}, ' ', 1)) "
            f"+ length(split_part({request}, ' ', 2)) + 3) ELSE '' END"
        ),
        "status": f"split_part({tail}, ' ', 1)",
        "bytes": f"split_part({tail}, ' ', 2)",
    }
    if combined:
        fields |= {"referrer": "split_part(line, '\"', 4)", "user_agent": "split_part(line, '\"', 6)"}
    return "struct_pack(" + ", ".join(f"{k} := {v}" for k, v in fields.items()) + ")"


COMMON = RegexFormat(
    name="access-common",
    description='Apache/nginx Common Log Format: client ident user [time] "request" status bytes',
    example='10.0.0.7 - alice [21/Jul/2025:12:00:00 +0000] "GET /index.html HTTP/1.1" 200 5120',
    pattern=_COMMON,
    numeric=_NUMERIC,
    split_sql=_split(combined=False),
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
    split_sql=_split(combined=True),
    multiline=False,
    specificity=11,
    aliases=("apache", "nginx", "combined", "apache-access", "nginx-access"),
)
# Squid writes status 000 when no reply was sent (client abort, error before a reply): no status then.
SQUID = RegexFormat(
    name="squid",
    description=(
        "Squid's native access log: epoch.ms duration client code/status bytes method url user hierarchy type"
    ),
    example=(
        "1721563200.123    245 10.0.0.7 TCP_MISS/200 4120 GET http://example.com/ - "
        "HIER_DIRECT/93.184.216.34 text/html"
    ),
    pattern=(
        r"^(?P<time>\d{10}\.\d{3})\s+(?P<duration_ms>\d+) (?P<client_ip>\S+) "
        r"(?P<cache_result>[A-Z_]+)/(?:000|(?P<status>\d{3}))"
        r" (?P<bytes>\d+) (?P<method>\S+) (?P<url>\S+) (?P<user>\S+) (?P<hierarchy>\S+) (?P<content_type>\S+)"
    ),
    numeric=frozenset({"duration_ms", "status", "bytes"}),
    multiline=False,
    specificity=12,
)
FORMATS = (COMMON, COMBINED, SQUID)
