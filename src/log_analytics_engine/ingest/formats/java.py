"""Java's log4j, logback and slf4j layouts (and what Hadoop, Spark, HDFS, Zookeeper and Spring Boot
write with them): a time in whatever date pattern the layout names, a level, then optionally a pid,
`[thread]` and the logger (`source`, before ` - ` or `: `). Stack traces (`\tat …`, `Caused by:`, `... N more`) join the
record before them."""

from __future__ import annotations

from log_analytics_engine.ingest.formats.base import RegexFormat

_LEVEL = r"(?P<level>TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|SEVERE|FINE|FINER|FINEST|CONFIG)"
# One to three space-separated tokens with digits in each (the layout's date, time, zone), or a
# bracketed one; the scanner reads them.
_TIME = r"\[?(?P<time>[^\s\[\]]*\d[^\s\[\]]*(?: [^\s\[\]]*\d[^\s\[\]]*){0,2}?)\]?"

LOG4J = RegexFormat(
    name="log4j",
    description="log4j / logback / slf4j / Spring Boot: time LEVEL [pid ---] [thread] logger - message",
    example="2025-07-21 12:00:00,123 ERROR [http-nio-8080-exec-3] com.example.OrderService - order 1234 failed",
    pattern=(
        rf"^{_TIME}\s+(?:-\s+)?(?:(?P<pid>\d+)\s+)?{_LEVEL}\s+(?:(?P<pid2>\d+)\s+---\s+)?"
        r"(?:\[(?P<thread>[^\]]*)\]\s+)?(?:\[(?P<thread2>[^\]]*)\]\s+)?"
        r"(?:(?P<logger>[\w$.-]+(?:@\d+)?)\s*(?:-|:)\s)?"
    ),
    source=("logger",),
    numeric=frozenset({"pid"}),
    merge={"pid2": "pid", "thread2": "thread"},
    specificity=18,
    aliases=("logback", "slf4j", "java", "spring-boot"),
)
FORMATS = (LOG4J,)
