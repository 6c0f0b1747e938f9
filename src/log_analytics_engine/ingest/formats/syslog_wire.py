"""Syslog frames as the listeners receive them (one UDP datagram's message, one TCP frame) to stored
columns: RFC 5424, RFC 3164 (BSD: a time and host are optional, so the bare `<14>app: message` of
Python's SysLogHandler is read too). Pure: a list of frames in, a `Decoded` out.

The mapping is that of the syslog file formats (formats/syslog.py): the PRI's severity gives the
level (0-2 FATAL, 3 ERROR, 4 WARN, 5 NOTICE, 6 INFO, 7 DEBUG, as `levels.SYSLOG_LEVELS`), the app-name
(3164: the tag) is the source, else the hostname; `host`, `pid` (a number when it is one), `msgid`
and `facility` (its name: `user`, `local0` …) are fields, and each structured-data parameter
`[id k="v"]` is the field `id.k`. A frame with no `<PRI>` (or a broken RFC 5424 header) is kept
whole as the message of a log with the ingest time, and counted as `syslog_malformed`.

The header is split with str methods, not through the file formats' SQL (TextParser): measured on
generated RFC 5424 messages, decoding and storing batches of 500 took 93,000 msgs/s this way against
3,800 through the text formats (50-150 ms of SQL binding per batch), batches of 10,000 159,000
against 56,000; decoding alone is 4-6 µs a message, about half of it the RowBuilder's.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from log_analytics_engine.ingest.formats.levels import SYSLOG_LEVELS
from log_analytics_engine.ingest.report import Decoded
from log_analytics_engine.ingest.rows import RowBuilder

__all__ = ("FACILITIES", "MALFORMED", "TRUNCATED", "SyslogDecoded", "decode")

# RFC 5424 table 1 (13-15 as Linux and rsyslog name them).
FACILITIES = (
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    *(f"local{i}" for i in range(8)),
)
# The problems counted (engine `count_input_problems`: `loganalytics_ingest_errors{reason}`).
MALFORMED = "syslog_malformed"
TRUNCATED = "syslog_truncated"
INVALID_UTF8 = "invalid_utf8"
MAX_PRI = 191  # facility 23, severity 7
MAX_NAME = 32  # RFC 5424 SD-NAME: SD-IDs and parameter names
MAX_TAG = 48  # an RFC 3164 tag longer than this is read as message text (RFC 3164 allows 32)
_MONTHS = frozenset(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_NS = 1_000_000_000
_fromisoformat = datetime.datetime.fromisoformat


@dataclass
class SyslogDecoded(Decoded):
    """A Decoded plus the problems met and kept through, by reason (frames kept as raw text, cut
    to the frame bound, bytes that were not UTF-8)."""

    problems: Counter[str] = field(default_factory=Counter)


# time_ns, time_raw, severity, source, message, fields
_Record = tuple[int | None, str | None, int, str, str, dict[str, Any]]


def decode(
    frames: Sequence[bytes],
    now_ns: int | None = None,
    zone: str = "UTC",
    cut: Mapping[int, int] | None = None,
) -> SyslogDecoded:
    """The frames' logs in order. `now_ns` is the ingest time (logs without a time get it), `zone`
    the zone of RFC 3164 times (which carry none), `cut` the frames cut to the frame bound (position
    -> the frame's size as sent: kept as the field `truncated_from`)."""
    rows = RowBuilder(now_ns)
    problems: Counter[str] = Counter()
    local = None if zone == "UTC" else ZoneInfo(zone)
    add = rows.add
    for position, frame in enumerate(frames):
        try:
            text = frame.decode()
        except UnicodeDecodeError:
            text = frame.decode("utf-8", "replace")
            problems[INVALID_UTF8] += 1
        text = text.rstrip("\r\n\x00")
        record = _parse(text, local)
        if cut and position in cut:
            problems[TRUNCATED] += 1
            if record is not None:
                record[5]["truncated_from"] = cut[position]
        if record is None:
            problems[MALFORMED] += 1
            fields = {"truncated_from": cut[position]} if cut and position in cut else None
            add(position, text, fields=fields)
            continue
        time_ns, time_raw, severity, source, message, fields = record
        add(
            position,
            message,
            time_ns=time_ns,
            time_raw=time_raw,
            level=SYSLOG_LEVELS[severity],
            source=source,
            fields=fields,
        )
    done = rows.finish()
    return SyslogDecoded(done.table, done.report, problems)


def _parse(text: str, local: ZoneInfo | None) -> _Record | None:
    """One frame's columns, or None when it is no syslog message."""
    if text[:1] != "<":
        return None
    close = text.find(">", 1, 5)
    pri = text[1:close]
    if close < 2 or not (pri.isdigit() and pri.isascii()) or int(pri) > MAX_PRI:
        return None
    facility, severity = divmod(int(pri), 8)
    if text.startswith("1 ", close + 1):
        return _rfc5424(text, close + 3, facility, severity)
    return _rfc3164(text, close + 1, facility, severity, local)


def _rfc5424(text: str, start: int, facility: int, severity: int) -> _Record | None:
    """`TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]` from `start`; `-` is nil."""
    parts = text[start:].split(" ", 5)
    if len(parts) < 5:
        return None
    stamp, host, app, procid, msgid = parts[:5]
    rest = parts[5] if len(parts) == 6 else "-"
    fields: dict[str, Any] = {}
    if rest[:1] == "[":
        end = _structured(rest, fields)
        if end < 0 or rest[end : end + 1] not in ("", " "):
            return None
        message = rest[end + 1 :]
    elif rest[:1] == "-" and rest[1:2] in ("", " "):
        message = rest[2:]
    else:
        return None
    if message[:1] == "\ufeff":  # RFC 5424's BOM before UTF-8 text
        message = message[1:]
    if host != "-":
        fields["host"] = host
    if procid != "-":
        fields["pid"] = _number(procid)
    if msgid != "-":
        fields["msgid"] = msgid
    fields["facility"] = FACILITIES[facility]
    source = app if app != "-" else fields.pop("host", "")
    time_ns = None if stamp == "-" else _iso_ns(stamp)
    raw = None if time_ns is not None or stamp == "-" else stamp
    return time_ns, raw, severity, source, message, fields


def _rfc3164(text: str, start: int, facility: int, severity: int, local: ZoneInfo | None) -> _Record:
    """`[TIMESTAMP HOSTNAME ]TAG[PID]: MSG` from `start`; a time is `Mmm dd hh:mm:ss` or RFC 3339
    (rsyslog's forwarding format), and with no time there is no hostname either."""
    rest = text[start:]
    stamp = None
    if rest[:3].lower() in _MONTHS and rest[3:4] == " " and rest[9:10] == ":":
        end = 15
        if rest[15:16] == ".":  # a fraction (rsyslog's high-precision BSD times)
            end = 16
            while rest[end : end + 1].isdigit():
                end += 1
        stamp, rest = rest[:end], rest[end + 1 :]
    elif rest[:4].isdigit() and rest[4:5] == "-" and rest[10:11] == "T":
        space = rest.find(" ")
        stamp, rest = (rest, "") if space < 0 else (rest[:space], rest[space + 1 :])
    fields: dict[str, Any] = {}
    if stamp is not None:
        space = rest.find(" ")
        token = rest if space < 0 else rest[:space]
        if token and token[-1] != ":" and "[" not in token:
            fields["host"] = token
            rest = "" if space < 0 else rest[space + 1 :]
    app = ""
    colon = rest.find(":", 0, MAX_TAG + 1)
    if colon > 0 and rest[colon + 1 : colon + 2] in ("", " ") and " " not in rest[:colon]:
        tag = rest[:colon]
        bracket = tag.find("[")
        if bracket < 0:
            app = tag
        elif bracket > 0 and tag[-1] == "]":
            app = tag[:bracket]
            fields["pid"] = _number(tag[bracket + 1 : -1])
        if app:
            rest = rest[colon + 2 :]
    fields["facility"] = FACILITIES[facility]
    source = app or fields.pop("host", "")
    time_ns = None
    if stamp is not None and stamp[:1].isdigit():
        time_ns = _iso_ns(stamp)
    elif stamp is not None and local is not None:
        time_ns = _local_ns(stamp, local)
    raw = stamp if time_ns is None else None
    return time_ns, raw, severity, source, rest, fields


def _iso_ns(stamp: str) -> int | None:
    """An RFC 3339 time of at most 6 fraction digits as ns (None: left to `parse_timestamp`, which
    keeps 9 digits where `fromisoformat` would drop the last three, and names what is wrong)."""
    if stamp.find(".", 19, 20) > 0:
        if stamp[-1] in "Zz":
            zone = len(stamp) - 1
        elif stamp[-6:-5] in ("+", "-") and stamp[-3:-2] == ":":
            zone = len(stamp) - 6
        else:
            zone = len(stamp)
        if zone - 20 > 6:
            return None
    try:
        moment = _fromisoformat(stamp)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _NS + delta.microseconds * 1_000


def _local_ns(stamp: str, zone: ZoneInfo) -> int | None:
    """A BSD time read in `zone` (its year inferred as `parse_timestamp` does); None when unreadable."""
    from log_analytics_engine.timeparse import TimestampError, parse_timestamp

    try:
        naive = parse_timestamp(stamp)
    except TimestampError:
        return None
    moment = datetime.datetime.fromtimestamp(naive // _NS, datetime.UTC).replace(tzinfo=zone)
    offset = moment.utcoffset() or datetime.timedelta()
    return naive - int(offset.total_seconds()) * _NS


def _number(text: str) -> int | str:
    """A procid as a number when it is one JSON holds exactly (no leading zero), else the text."""
    if text.isdigit() and text.isascii() and len(text) <= 18 and (text[0] != "0" or text == "0"):
        return int(text)
    return text


def _structured(text: str, fields: dict[str, Any]) -> int:
    """Read the SD-ELEMENTs at the start of `text` into `fields` (`id.name`: value, the first of a
    repeated one kept); the index after the last `]`, or -1 when they are not well formed."""
    i, n = 0, len(text)
    while i < n and text[i] == "[":
        end = _name_end(text, i + 1)
        if end < 0:
            return -1
        sd_id, i = text[i + 1 : end], end
        while text.startswith(" ", i):
            eq = _name_end(text, i + 1)
            if eq < 0 or text[eq : eq + 2] != '="':
                return -1
            name = text[i + 1 : eq]
            close = text.find('"', eq + 2)
            while close > 0 and _escaped(text, close):
                close = text.find('"', close + 1)
            if close < 0:
                return -1
            value = text[eq + 2 : close]
            fields.setdefault(f"{sd_id}.{name}", _unescape(value) if "\\" in value else value)
            i = close + 1
        if text[i : i + 1] != "]":
            return -1
        i += 1
    return i


def _name_end(text: str, start: int) -> int:
    """The index ending the SD-NAME at `start` (at ` `, `]` or `=`), or -1 when there is none there
    (empty, longer than MAX_NAME, or holding a `"`)."""
    for k in range(start, min(len(text), start + MAX_NAME + 1)):
        c = text[k]
        if c in " ]=":
            return k if k > start else -1
        if c == '"':
            return -1
    return -1


def _escaped(text: str, quote: int) -> bool:
    """Whether the `"` at `quote` is escaped (an odd run of backslashes before it)."""
    k = quote
    while text[k - 1] == "\\":
        k -= 1
    return (quote - k) % 2 == 1


def _unescape(value: str) -> str:
    """A PARAM-VALUE's text: `\\"`, `\\\\` and `\\]` stand for the character; any other backslash
    is kept (RFC 5424 6.3.3)."""
    out, k = [], 0
    while (b := value.find("\\", k)) >= 0:
        following = value[b + 1 : b + 2]
        if following in ('"', "\\", "]") and following:
            out.append(value[k:b] + following)
            k = b + 2
        else:
            out.append(value[k : b + 1])
            k = b + 1
    out.append(value[k:])
    return "".join(out)
