"""Python `logging`: basicConfig's default (`LEVEL:logger:message`, no time) and the asctime layouts
most applications configure, `%(asctime)s - %(name)s - %(levelname)s - %(message)s` (`time LEVEL
logger: message` layouts read as `log4j`); tracebacks join the record before them."""

from __future__ import annotations

from log_analytics_engine.ingest.formats.base import RegexFormat

_LEVEL = r"(?P<level>CRITICAL|FATAL|ERROR|WARNING|WARN|INFO|DEBUG|NOTSET|TRACE)"
_ASCTIME = r"(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:[,.]\d+)?)"

BASIC = RegexFormat(
    name="python-basic",
    description=(
        "Python logging.basicConfig's default: LEVEL:logger:message (no time: lines get the ingest time, "
        "counted)"
    ),
    example="ERROR:payments.api:charge failed for order 1234",
    pattern=rf"^{_LEVEL}:(?P<logger>[\w.-]+):",
    source=("logger",),
    specificity=5,
)
ASCTIME = RegexFormat(
    name="python",
    description="Python logging with asctime: time - logger - LEVEL - message",
    example="2025-07-21 12:00:00,123 - payments.api - ERROR - charge failed for order 1234",
    pattern=rf"^{_ASCTIME} - (?P<logger>[\w.-]+) - {_LEVEL} - ",
    source=("logger",),
    specificity=25,
    aliases=("python-logging",),
)
FORMATS = (BASIC, ASCTIME)
