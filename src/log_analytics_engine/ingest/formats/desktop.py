"""Desktop OS logs beyond syslog: macOS/iOS unified logging as `log show` prints it, and Windows
servicing logs (CBS.log, DISM.log). macOS system.log is BSD syslog (`syslog-rfc3164`)."""

from __future__ import annotations

from log_analytics_engine.ingest.formats.base import RegexFormat

APPLE = RegexFormat(
    name="apple-unified",
    description="macOS/iOS unified log (log show): time thread type activity pid ttl process: message",
    example=(
        "2025-07-21 12:00:00.123456+0200 0x1a2b     Error       0x0                  412    0    kernel: "
        "disk0s2 I/O error"
    ),
    pattern=(
        r"^(?:(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+[+-]\d{4})\s+(?P<thread>0x[0-9a-f]+)\s+"
        r"(?P<level>Default|Info|Debug|Error|Fault)\s+(?P<activity>0x[0-9a-f]+)\s+(?P<pid>\d+)\s+"
        r"(?P<ttl>\d+)\s+(?P<process>[^:]+?): "
        # the summary `log show` ends with (a rule, then `Log - Default: n, …`, `Activity - Create: n, …`)
        # is lines of their own (without a time), not the end of the last message
        r"|-{80,}\s*$|(?:Log|Activity) +- [A-Z][a-z]+: +\d)"
    ),
    source=("process",),
    numeric=frozenset({"pid", "ttl"}),
    level_map={"DEFAULT": "INFO", "FAULT": "FATAL"},
    specificity=30,
    aliases=("macos", "ios", "log-show"),
)
WINDOWS_CBS = RegexFormat(
    name="windows-cbs",
    description="Windows servicing logs (CBS.log, DISM.log): time, Level component message",
    example=(
        "2025-07-21 12:00:00, Error                 CBS    Failed to resolve package [HRESULT = 0x800f0805]"
    ),
    pattern=(
        r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d), "
        r"(?P<level>Info|Warning|Error|Perf)\s+(?P<component>\S+)\s"
    ),
    source=("component",),
    level_map={"PERF": "DEBUG"},
    multiline=False,
    specificity=25,
    aliases=("cbs", "dism"),
)
FORMATS = (APPLE, WINDOWS_CBS)
