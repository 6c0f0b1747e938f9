"""Google's glog and Kubernetes' klog: Lmmdd hh:mm:ss.uuuuuu threadid file:line] message (no year:
inferred from the file's modification time)."""

from __future__ import annotations

from log_analytics_engine.ingest.formats.base import RegexFormat

GLOG = RegexFormat(
    name="glog",
    description="glog / klog: a level letter, mmdd hh:mm:ss.micros, thread id, file:line]",
    example="E0721 12:00:00.123456    4123 reconciler.go:88] failed to sync pod default/web-0: timeout",
    pattern=(
        r"^(?P<level>[IWEFD])(?P<month>\d\d)(?P<day>\d\d) (?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d)"
        r"(?:\.(?P<frac>\d+))?\s+(?P<thread>\d+) (?P<file>[^\s:\]]+):(?P<line>\d+)\] "
    ),
    source=("file",),
    numeric=frozenset({"line"}),
    specificity=30,
    aliases=("klog",),
)
FORMATS = (GLOG,)
