"""Tests for file ingest (ingest/files.py, jsonl.py, text.py): the report, bad input per DESIGN §3,
gzip, directories, dead-letter files, pre-ingest hooks, and text-line parsing."""

from __future__ import annotations

import gzip
import inspect
import os
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from log_analytics_engine import IngestError, LogAnalyticsEngine, LogEntry
from log_analytics_engine.errors import DamagedGzipError
from log_analytics_engine.ingest import files, gzipstream

REPORT_KEYS = {
    "file",
    "type",
    "count",
    "duration_sec",
    "logs_per_sec",
    "rejected",
    "dropped",
    "bytes",
    "mb_per_sec",
    "bad_timestamps",
    "replaced_utf8_lines",
    "rejected_lines",
}


def jline(**fields: Any) -> bytes:
    """One JSON line."""
    return orjson.dumps(fields) + b"\n"


def write(path: Path, data: bytes) -> Path:
    """Write bytes to a file and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def stored(engine: LogAnalyticsEngine) -> list[dict[str, Any]]:
    """Every stored log as a dict, in ingest order."""
    return [log.to_dict() for log in engine.query_logs({}, sort_by="seq")]


# -- the report -----------------------------------------------------------------------------------


def test_report_shape(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """The report keeps the original keys (file, count, duration_sec, logs_per_sec) and adds the rest."""
    path = write(
        tmp_path / "a.jsonl", jline(timestamp="2025-07-21T12:00:00Z", level="INFO", message="hi") * 3
    )
    report = engine.ingest_logs_from_file(str(path), file_type="jsonl")
    assert set(report) >= REPORT_KEYS
    assert report["file"] == str(path)
    assert report["type"] == "jsonl"
    assert report["count"] == 3
    assert report["rejected"] == report["dropped"] == report["bad_timestamps"] == 0
    assert report["rejected_lines"] == []
    assert report["bytes"] == path.stat().st_size
    assert report["duration_sec"] >= 0
    assert report["logs_per_sec"] >= 0
    assert engine.count() == 3


def test_missing_file_is_ingest_error(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """A path that does not exist is an IngestError naming it."""
    with pytest.raises(IngestError, match=r"nope\.jsonl"):
        engine.ingest_logs_from_file(tmp_path / "nope.jsonl")


def test_unknown_file_type_is_ingest_error(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """An unknown file_type is an IngestError."""
    path = write(tmp_path / "a.jsonl", jline(message="x"))
    with pytest.raises(IngestError, match="csv"):
        engine.ingest_logs_from_file(path, file_type="csv")
    assert engine.count() == 0


def test_empty_file(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """An empty file (or one of blank lines) ingests nothing and rejects nothing."""
    for name, data in (("empty.jsonl", b""), ("blank.jsonl", b"\n  \n\r\n"), ("empty.log", b"")):
        report = engine.ingest_logs_from_file(write(tmp_path / name, data), file_type="auto")
        assert (report["count"], report["rejected"]) == (0, 0), name
    assert engine.count() == 0


# -- bad JSON input -------------------------------------------------------------------------------

BAD_FILE = b"".join(
    [
        jline(timestamp="2025-07-21T12:00:00Z", level="INFO", message="first ok", request_id="1"),  # 1
        b"not json at all\n",  # 2
        b"[1,2]\n",  # 3
        b'"x"\n',  # 4
        b"42\n",  # 5
        b"\n",  # 6 blank: skipped, not rejected
        b'{"broken": \n',  # 7
        jline(timestamp="2025-07-21T12:00:01Z", message="second ok", request_id="2"),  # 8
        b"{'message': 'single quotes'}\n",  # 9
        b"null\n",  # 10
        jline(timestamp="2025-07-21T12:00:02Z", message="third ok", request_id="3"),  # 11
    ]
)


def test_rejected_lines_numbers_and_reasons(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """Malformed and non-object JSON lines are rejected with their 1-based line number and a reason."""
    report = engine.ingest_logs_from_file(write(tmp_path / "bad.jsonl", BAD_FILE))
    assert report["count"] == 3
    assert report["rejected"] == 7
    lines = [r["line"] for r in report["rejected_lines"]]
    assert lines == [2, 3, 4, 5, 7, 9, 10]
    reasons = {r["line"]: r["reason"] for r in report["rejected_lines"]}
    for n in (2, 7, 9):
        assert "invalid JSON" in reasons[n], reasons[n]
    for n in (3, 4, 5, 10):
        assert "not a JSON object" in reasons[n], reasons[n]
    assert "list" in reasons[3]
    assert "str" in reasons[4]
    assert "int" in reasons[5]
    assert [log.request_id for log in engine.query_logs({})] == ["1", "2", "3"]
    assert engine.count() == 3
    assert engine.get_stats()["ingest_errors"].get("rejected_line") == 7


def test_dead_letter_gets_exactly_the_rejected_lines(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """The dead-letter file receives the rejected lines, byte for byte, in order; repeated calls append."""
    dead = tmp_path / "dead.txt"
    path = write(tmp_path / "bad.jsonl", BAD_FILE)
    report = engine.ingest_logs_from_file(path, dead_letter=dead)
    want = b"not json at all\n[1,2]\n\"x\"\n42\n{\"broken\": \n{'message': 'single quotes'}\nnull\n"
    assert dead.read_bytes() == want
    assert report.get("dead_letter") == str(dead)
    engine.ingest_logs_from_file(path, dead_letter=dead)
    assert dead.read_bytes() == want * 2


def test_no_dead_letter_file_when_nothing_rejected(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """A clean file does not create the dead-letter file."""
    dead = tmp_path / "dead.txt"
    engine.ingest_logs_from_file(write(tmp_path / "ok.jsonl", jline(message="fine")), dead_letter=dead)
    assert not dead.exists() or dead.read_bytes() == b""


def test_line_numbers_across_chunks(
    engine: LogAnalyticsEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rejected line numbers stay right when the file is read in many chunks."""
    real = files.read_chunks
    small = {"rows": 23} if "rows" in inspect.signature(real).parameters else {"chunk_bytes": 1024}
    chunks: list[int] = []

    def few_lines_at_a_time(path: Path, *args: object, **kwargs: object) -> Iterator[files.Chunk]:
        for chunk in real(path, **small):  # type: ignore[arg-type]
            chunks.append(chunk.first_line)
            yield chunk

    monkeypatch.setattr(files, "read_chunks", few_lines_at_a_time)
    data = b"".join(
        b"oops\n" if i % 17 == 0 else jline(message=f"m{i}", request_id=str(i)) for i in range(1, 301)
    )
    dead = tmp_path / "dead.txt"
    report = engine.ingest_logs_from_file(write(tmp_path / "many.jsonl", data), dead_letter=dead)
    bad = [i for i in range(1, 301) if i % 17 == 0]
    assert [r["line"] for r in report["rejected_lines"]] == bad
    assert report["count"] == 300 - len(bad) == engine.count()
    assert dead.read_bytes() == b"oops\n" * len(bad)
    assert len(chunks) >= 5
    assert sorted(int(log.request_id or 0) for log in engine.query_logs({})) == [
        i for i in range(1, 301) if i % 17
    ]


def test_null_and_wrongly_typed_fields(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """Null and wrongly typed known fields never drop or abort: they are read as well as they can be."""
    data = b"".join(
        [
            b'{"timestamp": "2025-07-21T12:00:00Z", "message": null, "level": 5, "tags": "x",'
            b' "source": null}\n',
            b'{"timestamp": "2025-07-21T12:00:01Z", "message": "m", "tags": null, "level": null}\n',
            b'{"timestamp": "2025-07-21T12:00:02Z", "message": "n", "tags": [1, "a", null],'
            b' "request_id": 123}\n',
            b'{"timestamp": "2025-07-21T12:00:03Z", "message": "o", "metadata": "not an object"}\n',
            b'{"timestamp": null, "message": "p", "thread_id": 7, "user_id": false}\n',
        ]
    )
    report = engine.ingest_logs_from_file(write(tmp_path / "typed.jsonl", data))
    assert (report["count"], report["rejected"]) == (5, 0)
    rows = stored(engine)
    assert (rows[0]["message"], rows[0]["level"], rows[0]["tags"], rows[0]["source"]) == ("", "5", ["x"], "")
    assert (rows[1]["tags"], rows[1]["level"]) == ([], "INFO")
    assert (rows[2]["tags"], rows[2]["request_id"]) == (["1", "a"], "123")
    assert rows[3]["metadata"] == {"metadata": "not an object"}
    assert (rows[4]["message"], rows[4]["thread_id"], rows[4]["user_id"]) == ("p", "7", "false")
    assert engine.count({"request_id": 123}) == 1


def test_unknown_fields_go_to_metadata(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """Defect 7: unknown fields are kept in metadata (merged with a metadata object) and are queryable."""
    data = b"".join(
        [
            jline(
                timestamp="2025-07-21T12:00:00Z", message="a", region="eu", status=500, metadata={"k": "v"}
            ),
            jline(timestamp="2025-07-21T12:00:01Z", message="b", region="us", nested={"x": [1, 2]}),
            jline(timestamp="2025-07-21T12:00:02Z", message="c"),
        ]
    )
    report = engine.ingest_logs_from_file(write(tmp_path / "extra.jsonl", data))
    assert report["count"] == 3
    rows = stored(engine)
    assert rows[0]["metadata"] == {"k": "v", "region": "eu", "status": 500}
    assert rows[1]["metadata"] == {"region": "us", "nested": {"x": [1, 2]}}
    assert rows[2]["metadata"] == {}
    assert [log.message for log in engine.query_logs({"metadata.region": "eu"})] == ["a"]
    assert [log.message for log in engine.query_logs({"metadata.status": 500})] == ["a"]
    assert [log.message for log in engine.query_logs({"metadata": {"k": "v", "region": "eu"}})] == ["a"]


def test_bad_timestamps_kept_and_counted(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """Unparseable timestamps keep the record, its raw text in metadata, the ingest time, and are counted."""
    data = b"".join(
        [
            jline(timestamp="not a time", level="ERROR", message="a"),
            jline(timestamp="2025-02-30T12:00:00Z", message="b"),
            jline(timestamp="2025-07-21T12:00:00+02:00", message="c"),
            jline(timestamp=1753099200.5, message="d"),
            jline(message="e"),  # no timestamp: ingest time, not an error
        ]
    )
    before = time.time_ns()
    report = engine.ingest_logs_from_file(write(tmp_path / "ts.jsonl", data))
    after = time.time_ns()
    assert (report["count"], report["bad_timestamps"]) == (5, 2)
    rows = {log.message: log for log in engine.query_logs({})}
    assert rows["a"].metadata == {"timestamp_raw": "not a time"}
    assert rows["b"].metadata == {"timestamp_raw": "2025-02-30T12:00:00Z"}
    for name in ("a", "b", "e"):
        assert before <= (rows[name].timestamp_ns or 0) <= after
    assert "timestamp_raw" not in rows["e"].metadata
    assert rows["c"].timestamp == "2025-07-21T10:00:00Z"
    assert rows["d"].timestamp == "2025-07-21T12:00:00.500Z"
    assert engine.get_stats()["ingest_errors"].get("timestamp") == 2


def test_huge_message(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """A ~10 MB message is stored whole, and the lines around it too."""
    big = "start " + "abcdefghij " * 1_000_000 + "needle"
    data = jline(message="before") + jline(message=big, level="ERROR") + jline(message="after")
    report = engine.ingest_logs_from_file(write(tmp_path / "big.jsonl", data))
    assert (report["count"], report["rejected"]) == (3, 0)
    [found] = engine.query_logs({"level": "ERROR"})
    assert found.message == big
    assert engine.count({"keyword": "needle"}) == 1
    assert [log.message for log in engine.query_logs({"level": "INFO"})] == ["before", "after"]


def test_non_utf8_bytes_replaced(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """Defect 7: invalid UTF-8 is replaced (U+FFFD) on its line and everything else is ingested."""
    data = (
        jline(message="good one")
        + b'{"message": "caf\xe9 \xff\xfe here", "level": "WARN"}\n'
        + jline(message="good two ü")
        + b"plain \xc3\x28 text\n"
    )
    report = engine.ingest_logs_from_file(write(tmp_path / "latin.jsonl", data))
    assert report["count"] == 3
    assert report["rejected"] == 1  # the last line is not JSON
    assert report["replaced_utf8_lines"] == 2
    messages = [log.message for log in engine.query_logs({}, sort_by="seq")]
    assert messages[0] == "good one"
    assert messages[1].startswith("caf\ufffd")
    assert messages[1].endswith(" here")
    assert messages[2] == "good two ü"
    assert engine.count({"keyword": "here"}) == 1


def test_non_utf8_text_file(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """A text file with a bad byte keeps every line."""
    data = b"ERROR one\nINFO tw\xff o\nWARN three\n"
    report = engine.ingest_logs_from_file(write(tmp_path / "a.log", data), file_type="text")
    assert (report["count"], report["replaced_utf8_lines"]) == (3, 1)
    assert [log.message for log in engine.query_logs({}, sort_by="seq")] == [
        "ERROR one",
        "INFO tw\ufffd o",
        "WARN three",
    ]


def test_crlf_and_missing_final_newline(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """CRLF line endings are handled and a last line without a newline is ingested."""
    data = (
        b'{"message": "one", "source": "s"}\r\n{"message": "two", "tags": ["t"]}\r\n'
        + b'{"message": "three"}'
    )
    report = engine.ingest_logs_from_file(write(tmp_path / "crlf.jsonl", data))
    assert (report["count"], report["rejected"]) == (3, 0)
    rows = stored(engine)
    assert [r["message"] for r in rows] == ["one", "two", "three"]
    assert (rows[0]["source"], rows[1]["tags"]) == ("s", ["t"])


def test_crlf_text(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """Text lines lose their CR and the final unterminated line is kept."""
    path = write(tmp_path / "crlf.log", b"ERROR [db] one\r\nINFO two\r\n\r\nWARN three")
    report = engine.ingest_logs_from_file(path, file_type="text")
    assert report["count"] == 3
    assert [(log.level, log.message) for log in engine.query_logs({}, sort_by="seq")] == [
        ("ERROR", "ERROR [db] one"),
        ("INFO", "INFO two"),
        ("WARN", "WARN three"),
    ]


# -- gzip and directories -------------------------------------------------------------------------


def test_gzip(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """Gzip files are read transparently, with or without a .gz name."""
    body = b"".join(jline(message=f"zip {i}", level="ERROR") for i in range(50))
    a = write(tmp_path / "a.jsonl.gz", gzip.compress(body))
    b = write(tmp_path / "b.jsonl", gzip.compress(body))
    assert engine.ingest_logs_from_file(a)["count"] == 50
    assert engine.ingest_logs_from_file(b, file_type="auto")["count"] == 50
    assert engine.count({"keyword": "zip", "level": "ERROR"}) == 100


def test_auto_detects_type(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """file_type='auto' picks JSONL or text by extension, else by the first byte."""
    j = write(tmp_path / "noext_json", jline(message="json one", level="ERROR"))
    t = write(tmp_path / "noext_text", b"2025-07-21 12:00:00 WARN text one\n")
    assert engine.ingest_logs_from_file(j, file_type="auto")["type"] == "jsonl"
    assert engine.ingest_logs_from_file(t, file_type="auto")["type"] == "text"
    assert {log.message: log.level for log in engine.query_logs({})} == {
        "json one": "ERROR",
        "2025-07-21 12:00:00 WARN text one": "WARN",
    }


def test_directory_of_mixed_files(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """A directory ingests every file, each typed on its own, with per-file reports and totals."""
    d = tmp_path / "logs"
    write(d / "a.jsonl", jline(message="json a", level="ERROR") + b"oops\n")
    write(d / "b.log", b"2025-07-21 12:00:00,123 ERROR [db] text b\nINFO plain\n")
    write(d / "c.jsonl.gz", gzip.compress(jline(message="gz c") * 3))
    write(d / "d", jline(message="no extension json"))
    write(d / "e", b"WARNING: no extension text\n")
    write(d / "sub" / "f.ndjson", jline(message="nested f"))
    dead = tmp_path / "dead.txt"
    report = engine.ingest_logs_from_file(d, file_type="auto", dead_letter=dead)
    assert report["type"] == "directory"
    assert report["count"] == 1 + 2 + 3 + 1 + 1 + 1 == engine.count()
    assert report["rejected"] == 1
    assert report["rejected_lines"][0]["line"] == 2
    assert report["rejected_lines"][0]["file"].endswith("a.jsonl")
    assert dead.read_bytes() == b"oops\n"
    per_file = {Path(f["file"]).name: (f["type"], f["count"]) for f in report["files"]}
    assert per_file == {
        "a.jsonl": ("jsonl", 1),
        "b.log": ("text", 2),
        "c.jsonl.gz": ("jsonl", 3),
        "d": ("jsonl", 1),
        "e": ("text", 1),
        "f.ndjson": ("jsonl", 1),
    }
    assert [log.thread_id for log in engine.query_logs({}) if log.message.endswith("text b")] == ["db"]
    assert engine.count({"level": "WARN"}) == 1


def _lines_body(n: int, word: str = "zip") -> bytes:
    """`n` distinct JSON lines (varied so that gzip has real work to do)."""
    return b"".join(jline(message=f"{word} {i} {i * 7919 % 10007}", level="INFO") for i in range(n))


def _whole_lines_zlib_reads(damaged: bytes) -> int:
    """How many whole lines zlib itself gets out of damaged gzip bytes (the oracle for what is kept)."""
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = b""
    for i in range(0, len(damaged), 256):
        try:
            out += inflate.decompress(damaged[i : i + 256])
        except zlib.error:
            break
    return out.count(b"\n")


def test_truncated_gzip_keeps_whole_lines_and_reports_offset(
    engine: LogAnalyticsEngine, tmp_path: Path
) -> None:
    """A truncated .gz stores every whole line before the cut and reports the file and byte offset."""
    whole = gzip.compress(_lines_body(20_000))
    cut = whole[: len(whole) // 2]
    path = write(tmp_path / "cut.jsonl.gz", cut)
    report = engine.ingest_logs_from_file(path, file_type="auto")
    expected = _whole_lines_zlib_reads(cut)
    assert 0 < expected < 20_000
    assert report["count"] == engine.count() == expected
    assert report["damaged"] == 1
    [damage] = report["damaged_files"]
    assert damage["file"] == str(path)
    assert damage["offset"] == len(cut)
    assert "truncated" in damage["reason"]
    messages = [log["message"] for log in stored(engine)]
    assert messages[-1].startswith(f"zip {expected - 1} ")
    assert engine.get_stats()["ingest_errors"]["damaged_gzip"] == 1


def test_corrupt_gzip_member_reports_the_byte(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """A second gzip member with an invalid deflate block: the first member's lines are stored and the
    damage is reported at the byte of that block (10 bytes into the member, after its header)."""
    first = gzip.compress(_lines_body(300, "first"))
    second = bytearray(gzip.compress(_lines_body(300, "second")))
    second[10] = 0xFF  # final block, type 3: reserved, invalid
    path = write(tmp_path / "bad.log.gz", first + bytes(second))
    report = engine.ingest_logs_from_file(path, file_type="jsonl")
    assert report["count"] == 300
    assert report["damaged_files"] == [
        {"file": str(path), "offset": len(first) + 10, "reason": "corrupt gzip data: invalid block type"}
    ]


def test_multi_member_gzip_reads_every_member(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """Concatenated gzip members (as `cat a.gz b.gz` or appending writers make) are all read, zero
    padding after the last one is ignored, and nothing is reported damaged."""
    members = b"".join(gzip.compress(_lines_body(1_000, f"m{k}")) for k in range(3))
    path = write(tmp_path / "multi.jsonl.gz", members + b"\0" * 512)
    report = engine.ingest_logs_from_file(path, file_type="auto")
    assert report["count"] == 3_000
    assert report["damaged"] == 0
    assert report["damaged_files"] == []
    assert {engine.count({"keyword": f"m{k}"}) for k in range(3)} == {1_000}


def test_gunzip_in_pieces_matches_whole() -> None:
    """Fed in pieces of any size (a member boundary, even its magic number, split between pieces), the
    decoder gives the same bytes as zlib, and says where a cut stream ends inside a member."""
    body = _lines_body(2_000)
    members = gzip.compress(body[:30_000]) + gzip.compress(body[30_000:])
    for size in (1, 7, 1_000, 70_000):
        decoder = gzipstream.Gunzip()
        out = b"".join(decoder.decompress(members[i : i + size]) for i in range(0, len(members), size))
        decoder.finish()
        assert out == body
    cut = members[:-3]
    decoder = gzipstream.Gunzip()
    decoder.decompress(cut)
    with pytest.raises(DamagedGzipError, match=f"at byte {len(cut):,}: truncated") as raised:
        decoder.finish()
    assert raised.value.offset == len(cut)


def test_directory_goes_on_after_damaged_gzip(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """In a directory a truncated .gz and one with trailing garbage are stored up to their damage and
    reported, and the good files after them are ingested too."""
    d = tmp_path / "logs"
    whole = gzip.compress(_lines_body(5_000, "a"))
    cut = whole[: len(whole) * 2 // 3]
    write(d / "a.jsonl.gz", cut)
    garbage = gzip.compress(_lines_body(40, "b"))
    write(d / "b.jsonl.gz", garbage + b"not gzip at all\n")
    write(d / "c.jsonl", _lines_body(7, "c"))
    report = engine.ingest_logs_from_file(d, file_type="auto")
    kept_a = _whole_lines_zlib_reads(cut)
    assert report["count"] == engine.count() == kept_a + 40 + 7
    assert engine.count({"keyword": "c"}) == 7
    assert report["damaged"] == 2
    by_file = {Path(x["file"]).name: x for x in report["damaged_files"]}
    assert by_file["a.jsonl.gz"]["offset"] == len(cut)
    assert by_file["b.jsonl.gz"]["offset"] == len(garbage)
    assert "not another member" in by_file["b.jsonl.gz"]["reason"]


@pytest.mark.parametrize(
    ("head", "why"),
    [
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 9, "ELF"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
        (b"PK\x03\x04\x14\x00", "zip"),
        (b"2025-07-21 12:00:00 INFO fine\n\x00\x00\x00binary tail\n", "NUL bytes"),
        ("2025-07-21 INFO utf-16 text\n".encode("utf-16"), "UTF-16"),
    ],
    ids=["elf", "png", "zip", "nul", "utf-16"],
)
def test_binary_file_is_refused_with_its_reason(
    engine: LogAnalyticsEngine, tmp_path: Path, head: bytes, why: str
) -> None:
    """A file that is plainly not a log is an IngestError naming the file and why; nothing is stored."""
    path = write(tmp_path / "thing.log", head + bytes(range(256)) * 8)
    with pytest.raises(IngestError, match=rf"thing\.log is not a log: .*{why}"):
        engine.ingest_logs_from_file(path, file_type="auto")
    assert engine.count() == 0


def test_binary_gzip_content_is_refused_but_gzip_text_is_read(
    engine: LogAnalyticsEngine, tmp_path: Path
) -> None:
    """The check looks inside gzip: a gzipped ELF is refused, gzipped lines are ingested."""
    elf = write(tmp_path / "prog.gz", gzip.compress(b"\x7fELF\x02\x01\x01" + bytes(200)))
    with pytest.raises(IngestError, match="ELF"):
        engine.ingest_logs_from_file(elf, file_type="auto")
    text_gz = write(tmp_path / "app.log.gz", gzip.compress(b"2025-07-21 12:00:00 ERROR boom\n"))
    assert engine.ingest_logs_from_file(text_gz, file_type="auto")["count"] == 1


def test_directory_skips_binary_files_and_reports_them(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """In a directory, binary files are skipped, listed with their reason and counted; the logs beside
    them are ingested."""
    d = tmp_path / "logs"
    write(d / "a.jsonl", _lines_body(5, "good"))
    write(d / "core", b"\x7fELF\x02\x01\x01" + bytes(100))
    write(d / "shot.png", b"\x89PNG\r\n\x1a\n" + bytes(100))
    write(d / "z.log", b"2025-07-21 12:00:00 WARN text\n")
    report = engine.ingest_logs_from_file(d, file_type="auto")
    assert report["count"] == engine.count() == 6
    assert report["skipped"] == 2
    skipped = {Path(x["file"]).name: x["reason"] for x in report["skipped_files"]}
    assert set(skipped) == {"core", "shot.png"}
    assert "ELF" in skipped["core"]
    assert "PNG" in skipped["shot.png"]
    assert engine.get_stats()["ingest_errors"]["skipped_file"] == 2


def test_stream_is_stored_as_it_arrives(engine: LogAnalyticsEngine) -> None:
    """A stream (a pipe, as standard input is) is stored while it stays open: lines written are
    counted in the store before the writer closes it; the report comes at its end."""
    read_fd, write_fd = os.pipe()
    reports: list[dict[str, Any]] = []
    with os.fdopen(read_fd, "rb") as reader, os.fdopen(write_fd, "wb") as writer:
        worker = threading.Thread(
            target=lambda: reports.append(engine.ingest_logs_from_file(reader, file_type="auto"))
        )
        worker.start()
        try:
            writer.write(_lines_body(3, "early"))
            writer.flush()
            deadline = time.monotonic() + 30
            while engine.count() < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert engine.count() == 3, "lines written to the open stream were not stored"
            assert worker.is_alive()
            writer.write(_lines_body(2, "late") + b"not json")
        finally:
            writer.close()
            worker.join(30)
    [report] = reports
    assert (report["count"], report["rejected"], report["type"]) == (5, 1, "jsonl")
    assert report["rejected_lines"][0]["line"] == 6
    assert engine.count() == 5


def test_a_binary_stream_is_refused_before_any_newline(engine: LogAnalyticsEngine) -> None:
    """NUL bytes on a stream that stays open and holds no newline are refused at once (from its first
    4 KB), not buffered until the stream ends."""
    read_fd, write_fd = os.pipe()
    errors: list[BaseException] = []

    def ingest(reader: Any) -> None:
        try:
            engine.ingest_logs_from_file(reader, file_type="auto")
        except IngestError as exc:
            errors.append(exc)

    with os.fdopen(read_fd, "rb") as reader, os.fdopen(write_fd, "wb") as writer:
        worker = threading.Thread(target=ingest, args=(reader,))
        worker.start()
        try:
            writer.write(b"\0" * 8192)
            writer.flush()
            worker.join(30)
            assert not worker.is_alive(), "the stream was buffered instead of refused"
        finally:
            writer.close()
            worker.join(30)
    [error] = errors
    assert "is not a log: NUL bytes" in str(error)
    assert engine.count() == 0


def test_a_gzip_stream_is_decompressed_in_bounded_pieces() -> None:
    """However much one arrival of a gzip stream expands (here 1 MB to 200 MB), no decoded piece is
    larger than STEP compressed bytes can make (deflate expands at most ~1,032x), and all of it is
    there."""
    from log_analytics_engine.ingest.files import GZIP_STEP, _decoded

    body = b"the same line again\n" * 10_000_000
    pieces = [len(piece) for piece in _decoded(iter([gzip.compress(body)]))]
    assert sum(pieces) == len(body)
    assert max(pieces) <= GZIP_STEP * 1_032


# -- hooks ----------------------------------------------------------------------------------------


def _hook_file(tmp_path: Path) -> Path:
    data = b"".join(
        [
            jline(timestamp="2025-07-21T12:00:00Z", level="DEBUG", message="noise 1", region="eu"),
            jline(timestamp="2025-07-21T12:00:01Z", level="error", message="real 1", tags=["a"], region="eu"),
            b"not json\n",
            jline(timestamp="2025-07-21T12:00:02Z", level="DEBUG", message="noise 2"),
            jline(timestamp="bad time", level="warning", message="real 2", source="api"),
            jline(timestamp="2025-07-21T12:00:03Z", level="INFO", message="real 3", metadata={"k": 1}),
        ]
    )
    return write(tmp_path / "hooked.jsonl", data)


def test_hooks_drop_and_enrich_file_ingest(engine: LogAnalyticsEngine, tmp_path: Path) -> None:
    """Pre-ingest hooks run on file ingest: None drops (not counted), changes are stored."""
    seen: list[LogEntry] = []

    def hook(log: LogEntry) -> LogEntry | None:
        seen.append(log)
        if log.level == "DEBUG":
            return None
        log.metadata["env"] = "production"
        log.tags.append("enriched")
        return log

    engine.add_pre_ingest_hook(hook)
    report = engine.ingest_logs_from_file(_hook_file(tmp_path))
    assert (report["count"], report["dropped"], report["rejected"]) == (3, 2, 1)
    assert report["bad_timestamps"] == 1
    assert engine.count() == 3
    assert engine.count({"metadata.env": "production"}) == 3
    assert engine.count({"tags": "enriched"}) == 3
    assert engine.count({"keyword": "noise"}) == 0
    # the hook saw parsed entries: folded levels, unknown fields in metadata, real times
    by_msg = {log.message: log for log in seen}
    assert by_msg["real 1"].level == "ERROR"
    assert by_msg["real 1"].metadata.get("region") == "eu"
    assert by_msg["real 1"].timestamp == "2025-07-21T12:00:01Z"
    assert (by_msg["real 2"].level, by_msg["real 2"].source) == ("WARN", "api")
    rows = {log.message: log for log in engine.query_logs({})}
    assert rows["real 2"].metadata == {"timestamp_raw": "bad time", "env": "production"}
    assert rows["real 3"].metadata == {"k": 1, "env": "production"}
    assert rows["real 1"].tags == ["a", "enriched"]
    assert engine.get_stats()["dropped"] == 2


def test_hooks_on_batch_ingest(engine: LogAnalyticsEngine) -> None:
    """Hooks run in order on ingest_logs; its return value counts only the logs stored."""

    def drop_debug(log: LogEntry) -> LogEntry | None:
        return None if log.level == "DEBUG" else log

    def replace(log: LogEntry) -> LogEntry:
        return LogEntry(log.timestamp, log.level, log.message.upper(), "replaced", tags=["new"])

    engine.add_pre_ingest_hook(drop_debug)
    engine.add_pre_ingest_hook(replace)
    logs = [LogEntry("2025-07-21T12:00:00Z", lv, f"msg {lv}") for lv in ("DEBUG", "INFO", "DEBUG", "ERROR")]
    assert engine.ingest_logs(logs) == 2
    assert [(log.message, log.source, log.tags) for log in engine.query_logs({})] == [
        ("MSG INFO", "replaced", ["new"]),
        ("MSG ERROR", "replaced", ["new"]),
    ]
    assert engine.get_stats()["dropped"] == 2


def test_ingest_logs_rejects_non_entries(engine: LogAnalyticsEngine) -> None:
    """ingest_logs takes LogEntry objects only; anything else is an IngestError and nothing is stored."""
    with pytest.raises(IngestError):
        engine.ingest_logs([LogEntry(None, "INFO", "ok"), {"message": "a dict"}])  # type: ignore[list-item]
    assert engine.count() == 0


def test_identity_hook_stores_the_same(tmp_path: Path) -> None:
    """A file ingested through a do-nothing hook is stored exactly as without hooks."""
    path = _hook_file(tmp_path)

    def snapshot(eng: LogAnalyticsEngine) -> list[dict[str, Any]]:
        rows = stored(eng)
        for row in rows:
            if "timestamp_raw" in row["metadata"]:
                row["timestamp"] = None  # the ingest time differs between the two runs
        return rows

    with LogAnalyticsEngine() as plain, LogAnalyticsEngine() as hooked:
        hooked.add_pre_ingest_hook(lambda log: log)
        a = plain.ingest_logs_from_file(path)
        b = hooked.ingest_logs_from_file(path)
        assert (a["count"], a["rejected"], a["bad_timestamps"]) == (
            b["count"],
            b["rejected"],
            b["bad_timestamps"],
        )
        assert snapshot(plain) == snapshot(hooked)


# -- text lines -----------------------------------------------------------------------------------


@pytest.fixture
def text_logs(engine: LogAnalyticsEngine, tmp_path: Path) -> dict[str, LogEntry]:
    """The documented text line shapes, ingested as a text file; logs by message."""
    lines = [
        "2025-07-21 12:00:00,123 ERROR [db] connection lost",
        "Oct 11 22:14:15 myhost sshd[123]: Failed password",
        '127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 500 2326',
        '127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /missing HTTP/1.0" 404 12',
        '127.0.0.1 - - [10/Oct/2000:13:55:37 +0000] "GET /ok HTTP/1.0" 200 12',
        "WARNING: something",
        "2025-07-21T12:00:00Z INFO api: started",
        "[2025-07-21T12:00:01.5Z] [error] oops",
        "2025-07-21T12:00:02+02:00 worker did a thing and then ERROR happened",
        "just some words",
        "2025-13-45 99:99:99 ERROR impossible time",
    ]
    path = write(tmp_path / "app.log", ("\n".join(lines) + "\n").encode())
    report = engine.ingest_logs_from_file(path, file_type="text")
    assert (report["count"], report["rejected"], report["bad_timestamps"]) == (len(lines), 0, 1)
    logs = {log.message: log for log in engine.query_logs({})}
    assert set(logs) == set(lines)  # the whole line is the message
    return logs


def test_text_python_logging_line(text_logs: dict[str, LogEntry]) -> None:
    """`2025-07-21 12:00:00,123 ERROR [db] ...` (log4j's layout): comma fraction, level, [thread]."""
    log = text_logs["2025-07-21 12:00:00,123 ERROR [db] connection lost"]
    assert (log.timestamp, log.level, log.thread_id) == ("2025-07-21T12:00:00.123Z", "ERROR", "db")


def test_text_syslog_line(text_logs: dict[str, LogEntry]) -> None:
    """`Oct 11 22:14:15 myhost sshd[123]: ...`: syslog time (year inferred) and program as source."""
    log = text_logs["Oct 11 22:14:15 myhost sshd[123]: Failed password"]
    assert log.timestamp.endswith("-10-11T22:14:15Z")
    assert log.source == "sshd"
    assert log.level == "INFO"


def test_text_apache_access_lines(text_logs: dict[str, LogEntry]) -> None:
    """Apache access lines: bracketed time with offset; level from the status (5xx ERROR, 4xx WARN)."""
    five = text_logs['127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 500 2326']
    four = text_logs['127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /missing HTTP/1.0" 404 12']
    two = text_logs['127.0.0.1 - - [10/Oct/2000:13:55:37 +0000] "GET /ok HTTP/1.0" 200 12']
    assert (five.timestamp, five.level) == ("2000-10-10T20:55:36Z", "ERROR")
    assert (four.timestamp, four.level) == ("2000-10-10T13:55:36Z", "WARN")
    assert (two.timestamp, two.level) == ("2000-10-10T13:55:37Z", "INFO")


def test_text_level_prefix_without_time(text_logs: dict[str, LogEntry]) -> None:
    """`WARNING: something`: level WARN; it has no time, so it takes the time of the line before it
    (file order stays time order) and is not a timestamp error."""
    log = text_logs["WARNING: something"]
    assert log.level == "WARN"
    before = text_logs['127.0.0.1 - - [10/Oct/2000:13:55:37 +0000] "GET /ok HTTP/1.0" 200 12']
    assert log.timestamp == before.timestamp
    assert log.timestamp_ns != log.ingested_at_ns
    assert "timestamp_raw" not in log.metadata


def test_text_other_shapes(text_logs: dict[str, LogEntry]) -> None:
    """ISO time + level + `name:` source; bracketed time and level; an upper-case level word anywhere."""
    started = text_logs["2025-07-21T12:00:00Z INFO api: started"]
    assert (started.timestamp, started.level, started.source) == ("2025-07-21T12:00:00Z", "INFO", "api")
    oops = text_logs["[2025-07-21T12:00:01.5Z] [error] oops"]
    assert (oops.timestamp, oops.level) == ("2025-07-21T12:00:01.500Z", "ERROR")
    anywhere = text_logs["2025-07-21T12:00:02+02:00 worker did a thing and then ERROR happened"]
    assert (anywhere.timestamp, anywhere.level) == ("2025-07-21T10:00:02Z", "ERROR")
    plain = text_logs["just some words"]
    assert (plain.level, plain.source) == ("INFO", "")


def test_text_bad_time_kept(text_logs: dict[str, LogEntry], engine: LogAnalyticsEngine) -> None:
    """A text line whose time cannot be read is kept with `timestamp_raw` and counted."""
    log = text_logs["2025-13-45 99:99:99 ERROR impossible time"]
    assert log.level == "ERROR"
    assert log.metadata == {"timestamp_raw": "2025-13-45 99:99:99"}
    assert engine.get_stats()["ingest_errors"].get("timestamp") == 1


def test_text_lines_are_searchable(text_logs: dict[str, LogEntry], engine: LogAnalyticsEngine) -> None:
    """Words of text lines are searchable, before and after indexing."""
    assert engine.count({"keyword": "password"}) == 1
    engine.flush()
    assert engine.count({"keyword": "password"}) == 1
    assert engine.count({"level": "ERROR", "keyword": "oops"}) == 1
