"""systemd's journal export format (`journalctl -o export`): one entry per block of `FIELD=value`
lines, opened by `__CURSOR=`. The message is MESSAGE; the time _SOURCE_REALTIME_TIMESTAMP (when the
program logged it), else __REALTIME_TIMESTAMP (microseconds); the level PRIORITY (syslog severities);
the source SYSLOG_IDENTIFIER (else the unit or command); host, pid, unit and the rest of the trusted
fields are fields. Binary (length-prefixed) fields are kept in the message text as they came."""

from __future__ import annotations

from dataclasses import dataclass

from log_analytics_engine.ingest.formats import levels
from log_analytics_engine.ingest.formats.base import Columns, Format, metadata_sql, q

_FIELDS = {
    "host": "_HOSTNAME",
    "pid": "_PID",
    "uid": "_UID",
    "unit": "_SYSTEMD_UNIT",
    "comm": "_COMM",
    "exe": "_EXE",
    "transport": "_TRANSPORT",
    "boot_id": "_BOOT_ID",
    "facility": "SYSLOG_FACILITY",
}


def _field(name: str) -> str:
    return f"regexp_extract(line, {q(f'(?m)^{name}=(.*)$')}, 1)"


@dataclass(frozen=True)
class JournalExportFormat(Format):
    """Fields found by one anchored pattern each over the entry's lines."""

    def columns_sql(self) -> Columns:
        # the time the program logged it (journalctl shows that one), else the time journald received it
        realtime = (
            f"coalesce(TRY_CAST(nullif({_field('_SOURCE_REALTIME_TIMESTAMP')}, '') AS BIGINT), "
            f"TRY_CAST(nullif({_field('__REALTIME_TIMESTAMP')}, '') AS BIGINT))"
        )
        return Columns(
            ts=f"{realtime} * 1000",
            level=levels.syslog_severity_sql(_field("PRIORITY")),
            source=(
                f"coalesce(nullif({_field('SYSLOG_IDENTIFIER')}, ''), "
                f"nullif({_field('_SYSTEMD_UNIT')}, ''), {_field('_COMM')})"
            ),
            metadata=metadata_sql(
                {k: _field(v) for k, v in _FIELDS.items()}, frozenset({"pid", "uid", "facility"})
            ),
            message=f"CASE WHEN regexp_matches(line, '(?m)^MESSAGE=') THEN {_field('MESSAGE')} ELSE line END",
            raw_ts=f"nullif({_field('__REALTIME_TIMESTAMP')}, '')",
        )


EXPORT = JournalExportFormat(
    name="journal-export",
    description=(
        "systemd journal export (journalctl -o export): blocks of FIELD=value lines opened by __CURSOR="
    ),
    example=(
        "__CURSOR=s=0b1c…;i=1\\n__REALTIME_TIMESTAMP=1721563200123456\\nPRIORITY=3\\n_HOSTNAME=web01"
        "\\nSYSLOG_IDENTIFIER=sshd\\nMESSAGE=error: kex_exchange_identification"
    ),
    pattern=r"^__CURSOR=",
    specificity=40,
    aliases=("journal", "journalctl-export"),
)
FORMATS = (EXPORT,)
