"""Web server error logs: Apache 2.2 and 2.4 (`[module:level] [pid n:tid m] [client ip]`, the module
empty for mod_php's `[:error]`, levels up to `trace8`) and nginx."""

from __future__ import annotations

from log_analytics_engine.ingest.formats.base import RegexFormat

APACHE = RegexFormat(
    name="apache-error",
    description=(
        "Apache error log, 2.2 ([time] [level] [client ip]) and 2.4 ([time] [module:level] [pid n:tid m] "
        "[client ip:port])"
    ),
    example=(
        "[Mon Jul 21 12:00:00.123456 2025] [proxy:error] [pid 4123:tid 140] [client 10.0.0.7:52144] "
        "AH00957: connect failed"
    ),
    pattern=(
        r"^\[(?P<time>[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)? \d{4})\] "
        r"\[(?:(?P<module>[\w-]*):)?(?P<level>[a-z]+\d?)\]"
        r"(?: \[pid (?P<pid>\d+)(?::tid (?P<tid>\d+))?\])?"
        # an OS error (`(13)Permission denied:`) or, at debug levels, the source file may come first
        r"(?: (?:[^\[]*? )?\[client (?P<client>[^\]]+)\])?(?: (?P<code>AH\d{5}):)?"
    ),
    source=("module",),
    numeric=frozenset({"pid", "tid"}),
    level_map={f"TRACE{i}": "TRACE" for i in range(1, 9)},
    multiline=False,
    specificity=20,
)
NGINX = RegexFormat(
    name="nginx-error",
    description="nginx error log: yyyy/mm/dd hh:mm:ss [level] pid#tid: *connection message",
    example=(
        "2025/07/21 12:00:00 [error] 4123#4123: *17 connect() failed (111: Connection refused) while "
        "connecting to upstream"
    ),
    pattern=(
        r"^(?P<time>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(?P<level>[a-z]{1,8})\] (?P<pid>\d+)#(?P<tid>\d+):"
        r"(?: \*(?P<connection>\d+))?"
    ),
    numeric=frozenset({"pid", "tid", "connection"}),
    multiline=False,
    specificity=20,
)
FORMATS = (APACHE, NGINX)
