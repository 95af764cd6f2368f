"""The table report at 80, 120 and 200 columns: every heading label beside its value, UIDs
folded (never cut), nothing wider than the terminal, and the room used when there is some."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from conftest import REAL_SAMPLES
from uidl_inspector.history import build_blob, parse_blob
from uidl_inspector.pipeline import scan_evidence
from uidl_inspector.records import Account, HistoryRecord, Location, Profile
from uidl_inspector.report.model import Report, Source
from uidl_inspector.report.table_report import (
    HEADING_LABELS,
    _heading_rows,
    plain_text,
    to_table_text,
)

WIDTHS = (80, 120, 200)
WHEN = datetime(2024, 3, 1, 9, 30, 0)  # noqa: DTZ001 - BLOB times carry no zone
LONG_UID = "A" * 30 + "-" + "B" * 39  # 70 characters: the longest RFC 1939 allows
POP3 = sorted((REAL_SAMPLES / "pop3").glob("*.pst"))


def synthetic_report() -> Report:
    blob = build_blob(
        [
            ("get", "body", WHEN, LONG_UID),
            ("delete", "none", WHEN, "short-1"),
            ("get", "header", WHEN, "\x1b[2Jhostile\u202e"),
        ]
    )
    path = "case-2024-0042/" + "exports/" * 8 + "mailbox with a long name.pst"
    record = HistoryRecord(
        source=path,
        history=parse_blob(blob),
        blob=blob,
        location=Location(
            folder="Top of Personal Folders/Inbox/" + "Sub folder/" * 6,
            message_nid=0x200028,
            message_class="IPM.MessageManager",
            attachment_index=2,
            attachment_name="BlobPOPa.long.name@example.com",
            match_rule="conversation_key",
            attachment_rule="long_filename",
            embedded_path=(1,),
        ),
        account=Account(email="a.long.name@example.com"),
        profile=Profile("Outlook", "cdb4b6d57f77a07bf108833200934463"),
    )
    report = Report(sources=[Source.from_bytes(path, "blob", blob)], histories=[record])
    report.run.finish()
    return report


def reports() -> list[Report]:
    out = [synthetic_report()]
    if POP3:  # a real Outlook store with its history
        out.append(scan_evidence([str(POP3[-1])]).report)
    return out


def check_heading(text: str, record: HistoryRecord, width: int) -> None:
    lines = text.splitlines()
    for label, value in _heading_rows(record):
        start = re.escape(value[:8])
        hits = [line for line in lines if re.search(rf"(^|  ){label} +{start}", line)]
        assert hits, f"{label!r} is not beside its value at {width} columns:\n{text}"


@pytest.mark.parametrize("width", WIDTHS)
def test_every_label_beside_its_value(width):
    for report in reports():
        text = to_table_text(report, width=width)
        for record in report.histories:
            check_heading(text, record, width)
        assert all(len(line) <= width for line in text.splitlines()), text


@pytest.mark.parametrize("width", WIDTHS)
def test_long_uids_fold_never_cut_and_times_stay_whole(width):
    text = to_table_text(synthetic_report(), width=width)
    assert LONG_UID in "".join(text.split())  # every character, in order
    assert text.count("2024-03-01 09:30:00") == 3  # a timestamp is never wrapped
    assert "\x1b" not in text and "\u202e" not in text  # still escaped
    assert "\\x1b[2Jhostile\\u202e" in "".join(text.split())


def test_the_room_is_used_when_there_is_some():
    narrow, wide = (to_table_text(synthetic_report(), width=w) for w in (80, 200))
    assert LONG_UID not in narrow  # folded at 80 columns...
    assert LONG_UID in wide  # ...on one line at 200
    heading = [line for line in wide.splitlines() if re.match(r"(source|account) ", line)]
    assert len(heading) == 1  # two label/value pairs per line at 200
    assert sum(1 for line in narrow.splitlines() if line.startswith(HEADING_LABELS)) == len(
        HEADING_LABELS
    )


def test_entry_anomalies_have_a_column_only_with_room():
    narrow, wide = (to_table_text(synthetic_report(), width=w) for w in (80, 120))
    header = next(line for line in wide.splitlines() if line.startswith("#"))
    assert header.split()[-1] == "anomalies"
    assert "anomalies" not in next(line for line in narrow.splitlines() if line.startswith("#"))
    assert "! uid_not_rfc1939" in narrow  # under the UID it concerns


@pytest.mark.parametrize("width", WIDTHS)
def test_hidden_and_audit_tables_fold_never_cut(width, tmp_path):
    from uidl_inspector.cli.audit import _audit_table
    from uidl_inspector.cli.hidden import _table
    from uidl_inspector.pipeline import audit_report, hidden_evidence
    from uidl_inspector.synth.scenarios import scenario
    from uidl_inspector.synth.truth import write_evidence

    written = write_evidence(tmp_path, scenario("multi-account", seed=1, messages=20))
    outcome = hidden_evidence([str(written.store)])
    rows, (source,) = outcome.report.extra["hidden"], outcome.report.sources
    hidden = plain_text(lambda c: _table(source, rows, c), width)
    report, _ = audit_report([str(written.store)], [])
    audit = plain_text(lambda c: _audit_table(report.extra["audit"], c), width)
    for text in (hidden, audit):
        assert "…" not in text and all(len(line) <= width for line in text.splitlines())
    # rich cuts with an ellipsis; folded cells interleave, so look for the shorter words
    for row in rows:
        for word in f"{row['folder']} {row['subject'] or ''} {row['message_class']}".split():
            assert len(word) > 10 or word in hidden, word
    for account in report.extra["audit"]["accounts"]:
        assert account["account"][:10] in audit
