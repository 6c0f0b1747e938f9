"""Android logcat, as `adb logcat` writes it: threadtime (its default: mm-dd time pid tid L tag:
message) and brief (L/tag(pid): message, no time)."""

from __future__ import annotations

from log_analytics_engine.ingest.formats.base import RegexFormat

# Logcat's letters: Verbose Debug Info Warn Error Fatal (and Assert).
_LEVELS = {"V": "TRACE", "A": "FATAL"}

THREADTIME = RegexFormat(
    name="logcat",
    description="Android logcat threadtime (the default): mm-dd hh:mm:ss.mmm pid tid L tag: message",
    example="07-21 12:00:00.123  1702  2395 E ActivityManager: ANR in com.example.app",
    pattern=(
        r"^(?P<time>\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\s+(?P<pid>\d+)\s+(?P<thread>\d+)\s+"
        r"(?P<level>[VDIWEFA])\s(?P<tag>[^:]*?)\s*: "
    ),
    source=("tag",),
    numeric=frozenset({"pid"}),
    level_map=_LEVELS,
    multiline=False,
    specificity=25,
    aliases=("android", "logcat-threadtime"),
)
BRIEF = RegexFormat(
    name="logcat-brief",
    description="Android logcat brief: L/tag(pid): message (no time: lines get the ingest time, counted)",
    example="W/PackageManager( 1702): Unknown permission android.permission.READ_LOGS",
    pattern=r"^(?P<level>[VDIWEFA])/(?P<tag>[^(]+?)\s*\(\s*(?P<pid>\d+)\): ",  # tags are padded to 8
    source=("tag",),
    numeric=frozenset({"pid"}),
    level_map=_LEVELS,
    multiline=False,
    specificity=20,
)
FORMATS = (THREADTIME, BRIEF)
