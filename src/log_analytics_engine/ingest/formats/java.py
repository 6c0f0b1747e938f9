"""Java's log4j, logback and slf4j layouts (and what Hadoop, Spark, HDFS, Zookeeper and Spring Boot
write with them): a time in whatever date pattern the layout names, a level, then optionally a pid,
`[thread]` and the logger (`source`, before ` - ` or `: `). The thread may come before the level
(logback's classic `time [thread] LEVEL logger - message`); Zookeeper's `[thread:Class@line]` gives
the class as the source. Stack traces (`\tat …`, `Caused by:`, `... N more`) join the record before
them."""

from __future__ import annotations

from log_analytics_engine.ingest.formats.base import RegexFormat
from log_analytics_engine.ingest.formats.timescan import MONTH_NAME

_LEVEL = r"(?P<level>TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|SEVERE|FINE|FINER|FINEST|CONFIG)"
# One to four space-separated tokens, each with a digit in it, a month name or AM/PM (the layout's
# date, time, zone: `2025-07-21 12:00:00,123`, `21 Jul 2025 12:00:00,123`), or a bracketed one; the
# scanner reads them.
_TOKEN = rf"(?:[^\s\[\]]*\d[^\s\[\]]*|{MONTH_NAME}[a-z]*\.?,?|(?i:am|pm))"
_TIME = rf"\[?(?P<time>{_TOKEN}(?: {_TOKEN}){{0,3}}?)\]?"
# A thread name may hold one level of brackets (`QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181`).
_THREAD_NAME = r"(?:[^\[\]]|\[[^\[\]]*\])*?"

LOG4J = RegexFormat(
    name="log4j",
    description="log4j / logback / slf4j / Spring Boot: time LEVEL [pid ---] [thread] logger - message",
    example=(
        "2025-07-21 12:00:00,123 ERROR [http-nio-8080-exec-3] com.example.OrderService - order 1234 failed"
    ),
    pattern=(
        rf"^{_TIME}\s+(?:-\s+)?(?:\[(?P<thread>[^\[\]]*)\]\s+(?:-\s+)?)?(?:(?P<pid>\d+)\s+)?{_LEVEL}\s+"
        r"(?:(?P<pid2>\d+)\s+---\s+)?"
        rf"(?:\[(?P<thread1>{_THREAD_NAME})(?::(?P<cls>[A-Za-z_$][\w$]*)@(?P<line>\d+))?\]\s+)?"
        r"(?:\[(?P<thread2>[^\]]*)\]\s+)?"
        r"(?:(?P<logger>[\w$.\[\]/-]+(?:@\d+)?)\s*(?:-|:)\s)?"
    ),
    source=("logger", "cls"),
    numeric=frozenset({"pid", "line"}),
    # the thread after the level wins over one before it (Zookeeper's `[myid:3] - LEVEL [thread]`),
    # and Spring Boot 3.2's `[app] [thread]` gives the second
    merge={"pid2": "pid", "thread1": "thread", "thread2": "thread"},
    specificity=18,
    aliases=("logback", "slf4j", "java", "spring-boot"),
)
FORMATS = (LOG4J,)
