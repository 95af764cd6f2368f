"""The streaming orjson writer gives, byte for byte, what the standard library's encoder
gave for the same report (with every entry made by Entry.to_dict, one at a time)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from conftest import REAL_SAMPLES, SAMPLES
from report_text import to_csv, to_json
from uidl_inspector.history import build_blob, make_tag, parse_blob
from uidl_inspector.pipeline import hidden_evidence, scan_evidence
from uidl_inspector.records import HistoryRecord
from uidl_inspector.report.csv_report import COLUMNS, _record_parts
from uidl_inspector.report.json_report import _column_items, _default
from uidl_inspector.report.model import Report, Source

INPUTS = {
    "synthetic": [SAMPLES / "synthetic"],
    "real-pop3": [REAL_SAMPLES / "pop3"],
    "real-pst-msg": [REAL_SAMPLES / "pst", REAL_SAMPLES / "msg"],
    "real-images": [REAL_SAMPLES / "images"],
}


def reference(report: Report) -> str:
    """The report as the writer made it before streaming: one dict, json.dumps."""
    data = report.to_dict()
    for record, out in zip(report.histories, data["histories"], strict=True):
        out["entries"] = [e.to_dict() for e in record.history.entries]
    return json.dumps(data, indent=2, ensure_ascii=True, allow_nan=False, default=_default) + "\n"


@pytest.mark.parametrize("name", list(INPUTS))
def test_scan_report_bytes_are_the_standard_encoders(name) -> None:
    paths = [str(p) for p in INPUTS[name] if p.exists()]
    if not paths:
        pytest.skip(f"no samples for {name}")
    report = scan_evidence(paths).report
    assert report.sources
    assert to_json(report) == reference(report)


def test_hidden_envelope_bytes_are_the_standard_encoders() -> None:
    from uidl_inspector.cli.hidden import envelope

    data = envelope(hidden_evidence([str(SAMPLES / "synthetic")]).report)
    assert data["hidden"]
    assert to_json(data) == json.dumps(data, indent=2, ensure_ascii=True, default=_default) + "\n"


def _hostile_report() -> Report:
    tags = [
        make_tag("+", " ", "20240229120000", "caf\u00e9-\U0001f600-\u202e"),
        make_tag("-", "h", "20231231235959", "plain"),
        make_tag("&", "b", "20230101000000", "plain"),
    ]  # a duplicate UID: the slow path
    report = Report()
    blob = build_blob(tags)
    report.sources.append(Source("\u00e9vidence/\U0001f600.bin", "blob", len(blob), "", ""))
    report.histories.append(HistoryRecord("\u00e9vidence/\U0001f600.bin", parse_blob(blob), blob))
    clean = build_blob([make_tag("+", "h", "20240101000000", f"uid{i}$x") for i in range(9)])
    report.histories.append(HistoryRecord("clean", parse_blob(clean), clean))
    quoted = 'a,"b"\r\nc'  # a source that CSV must quote: its row text is written once
    report.histories.append(HistoryRecord(quoted, parse_blob(clean + b"=x,\n"), clean))
    report.extra["big"] = {"beyond_64_bits": 1 << 70, "control": "\x00\x1f\x7f\t"}
    return report


def test_non_ascii_controls_and_huge_integers_as_the_standard_encoder() -> None:
    report = _hostile_report()
    text = to_json(report)
    assert text.isascii()
    assert text == reference(report)


def test_batched_entries_equal_entry_to_dict() -> None:
    blob = build_blob(
        [
            make_tag(
                "+-&"[i % 3], " hb"[i % 3], f"20{i % 90 + 10:02d}0228235959", f"u{i}-~{{$}}{i}"
            )
            for i in range(10_000)
        ]
    )
    history = parse_blob(blob)
    assert not history.anomalies  # the fast path
    batches = list(history.entry_dicts(size=999))
    assert [len(b) for b in batches][:2] == [999, 999]
    assert [d for b in batches for d in b] == [e.to_dict() for e in history.entries]


def test_clean_history_joined_from_columns_is_the_standard_encoders() -> None:
    """A clean BLOB's entries are written from columns (no dict per entry); across batch
    ends, and with UIDs whose escapes unescape to quotes and backslashes, the text is the
    standard encoder's."""
    blob = build_blob(
        [
            make_tag("+-&"[i % 3], " hb"[i % 3], f"20{i % 90 + 10:02d}{stamp}", uid)
            for i in range(9_000)
            for stamp in [
                f"{i % 12 + 1:02d}{i % 28 + 1:02d}{i % 24:02d}{i % 60:02d}{i * 7 % 60:02d}"
            ]
            for uid in [f"u{i}" if i % 4 else f'q"{i}\\b/{{~}}']
        ]
    )
    history = parse_blob(blob)
    assert not history.anomalies
    batches = list(history.entry_columns() or ())
    assert [len(b.columns["uid"]) for b in batches] == [4096, 4096, 808]
    assert all(_column_items(b) is not None for b in batches)  # no fallback to dicts
    report = Report()
    report.histories.append(HistoryRecord("clean", history, blob))
    text = to_json(report)
    assert '"uid": "q\\"0\\\\b/{~}"' in text
    assert text == reference(report)


def test_csv_stream_is_the_rows_written_at_once() -> None:
    """The header, then one neutralised row per entry (one with empty entry cells for a
    history without entries), each row whole: what the streamed text must equal."""
    report = _hostile_report()
    rows = [list(COLUMNS)]
    for record in report.histories:
        shared, batches = _record_parts(record)
        for batch in batches:
            rows += [[*shared, *cells] for cells in batch]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    assert to_csv(report) == out.getvalue()


def test_report_file_is_written_from_pieces(tmp_path: Path) -> None:
    from uidl_inspector.report.json_report import json_chunks
    from uidl_inspector.report.output import write_output

    report = _hostile_report()
    target = tmp_path / "r.json"
    write_output(json_chunks(report), target)
    assert target.read_text(encoding="ascii") == reference(report)
