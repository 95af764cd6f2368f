"""Report writers: JSON contract and determinism, CSV neutralisation, table escaping, output."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
from datetime import datetime

import pypff
import pytest
from rich.console import Console

import uidl_inspector
from report_text import to_csv, to_json
from uidl_inspector.findings import Finding
from uidl_inspector.history import PopHistory, build_blob, parse_blob
from uidl_inspector.records import Account, Companion, HistoryRecord, Location, Profile
from uidl_inspector.report.csv_report import COLUMNS, neutralise
from uidl_inspector.report.html_report import to_html
from uidl_inspector.report.json_report import VOLATILE_KEYS
from uidl_inspector.report.model import Report, Source
from uidl_inspector.report.output import OutputError, write_output
from uidl_inspector.report.table_report import render_table, terminal_safe, to_table_text

WHEN = datetime(2012, 9, 6, 13, 11, 38)
HOSTILE_UID = "\x1b[2J\x1b]0;pwned\x07\rX\u202eevil[bold]x[/bold]"
TAGS = [
    ("get", "body", WHEN, "0BC535DB-EA63-11E1-A75C-00215AD7BB74"),
    ("delete", "none", WHEN, "-negative"),
    ("get", "header", WHEN, '=HYPERLINK("http://x")'),
    ("get-and-delete", "body", WHEN, "@SUM(A1)"),
    ("get", "body", WHEN, "\uff1dfullwidth"),
    ("get", "body", WHEN, "\tTabbed"),
    ("get", "body", WHEN, HOSTILE_UID),
]


def make_report(tags=TAGS, **blob_args) -> Report:
    blob = build_blob(tags, **blob_args)
    record = HistoryRecord(
        source="evidence/outlook.pst",
        history=parse_blob(blob),
        blob=blob,
        location=Location(
            folder="Top of Personal Folders/Inbox",
            message_nid=0x200028,
            message_class="IPM.MessageManager",
            attachment_index=0,
            attachment_name="BlobPOP+user@example.com",
            match_rule="subject",
            attachment_rule="long_filename",
        ),
        account=Account(email="=user@example.com"),
    )
    report = Report(
        sources=[Source.from_bytes("evidence/outlook.pst", "blob", blob)], histories=[record]
    )
    report.run.finish()
    return report


def stable(text: str) -> dict:
    data = json.loads(text)
    for key in VOLATILE_KEYS:
        data.pop(key)
    return data


def test_json_contract_keys_and_order():
    data = json.loads(to_json(make_report()))
    assert list(data)[:6] == ["tool", "generated_at", "run", "demo", "sources", "histories"]
    assert list(data["tool"]) == ["name", "version", "python", "backends"]
    assert data["tool"]["name"] == "uidl-inspector"
    assert data["tool"]["version"] == uidl_inspector.__version__
    assert data["tool"]["python"].endswith(platform.python_version())
    assert data["tool"]["backends"]["libpff"] == str(pypff.get_version())
    assert set(data["tool"]["backends"]) == {"libpff", "dfvfs"}
    assert list(data["sources"][0])[:6] == ["path", "kind", "size", "sha256", "md5", "errors"]
    history = data["histories"][0]
    assert list(history) == [
        "source",
        "store_key",
        "location",
        "account",
        "profile",
        "blob",
        "entries",
        "anomalies",
    ]
    assert list(history["blob"]) == [
        "size",
        "sha256",
        "version",
        "declared_count",
        "parsed_count",
        "slack",
    ]
    entry = history["entries"][0]
    assert {
        k: entry[k]
        for k in ("index", "offset", "operation", "content", "timestamp", "raw_uid", "uid")
    } == {
        "index": 0,
        "offset": 4,
        "operation": "get",
        "content": "body",
        "timestamp": "2012-09-06T13:11:38",
        "raw_uid": "0BC535DB$2dEA63$2d11E1$2dA75C$2d00215AD7BB74",
        "uid": "0BC535DB-EA63-11E1-A75C-00215AD7BB74",
    }


def test_json_keeps_raw_values_and_is_ascii_and_deterministic():
    first, second = to_json(make_report()), to_json(make_report())
    assert first.isascii() and first.endswith("\n")
    assert stable(first) == stable(second)
    assert json.dumps(stable(first)) == json.dumps(stable(second))  # same order too
    uids = [e["uid"] for e in json.loads(first)["histories"][0]["entries"]]
    assert uids[1] == "-negative" and uids[2].startswith("=HYPERLINK")
    assert uids[-1] == HOSTILE_UID  # exact, escaped by JSON itself


def test_json_anomalies():
    data = json.loads(to_json(make_report(count=9)))
    assert data["histories"][0]["anomalies"][0]["code"] == "count_mismatch"


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_one_row_per_entry_with_provenance():
    rows = read_csv(to_csv(make_report()))
    assert len(rows) == len(TAGS)
    assert list(rows[0]) == list(COLUMNS)
    assert rows[0]["source"] == "evidence/outlook.pst"
    assert rows[0]["folder"] == "Top of Personal Folders/Inbox"
    assert rows[0]["attachment_name"] == "BlobPOP+user@example.com"
    assert rows[0]["uid"] == "0BC535DB-EA63-11E1-A75C-00215AD7BB74"
    assert rows[0]["neutralised"] == "account"  # '=user@example.com'


@pytest.mark.parametrize(
    "value",
    ["=1+1", "+1", "-1", "@x", "\tx", "\rx", "\nx", "\uff1d1", "\uff0b1", "\uff0d1", "\uff201"],
)
def test_neutralise_every_formula_start(value):
    assert neutralise(value) == ("'" + value, True)


@pytest.mark.parametrize("value", ["abc", "0BC535DB-EA63", "", None, 5, "a=b"])
def test_neutralise_leaves_safe_values(value):
    text, changed = neutralise(value)
    assert not changed and text == ("" if value is None else str(value))


def test_csv_neutralises_cells_and_names_them():
    rows = read_csv(to_csv(make_report()))
    by_index = {int(r["index"]): r for r in rows}
    assert by_index[1]["uid"] == "'-negative" and "uid" in by_index[1]["neutralised"]
    assert by_index[2]["uid"] == '\'=HYPERLINK("http://x")'
    assert by_index[3]["uid"] == "'@SUM(A1)" and by_index[3]["operation"] == "get-and-delete"
    assert by_index[4]["uid"] == "'\uff1dfullwidth"
    assert by_index[5]["uid"] == "'\tTabbed"
    assert by_index[0]["uid"] == "0BC535DB-EA63-11E1-A75C-00215AD7BB74"
    for row in rows:  # no cell of any row starts a formula any more
        assert not any(
            v.startswith(("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d")) for v in row.values()
        )


def test_terminal_safe_escapes_controls_and_bidi():
    assert terminal_safe("plain-UID.1") == "plain-UID.1"
    assert terminal_safe("a\x1b[31mb") == "a\\x1b[31mb"
    assert terminal_safe("\r\n\x07\x7f\x9b") == "\\x0d\\x0a\\x07\\x7f\\x9b"
    assert terminal_safe("x\u202ey\u200b") == "x\\u202ey\\u200b"
    assert terminal_safe("é中") == "é中"  # printable text stays readable


def test_table_shows_hostile_uid_escaped():
    text = to_table_text(make_report(), width=200)
    assert "\x1b" not in text and "\r" not in text and "\u202e" not in text
    assert "\x07" not in text
    flat = text.replace("│", "").replace("\n", "")
    assert "[bold]x[/bold]" in flat.replace(" ", "")  # markup shown, not applied
    buffer = io.StringIO()
    render_table(
        make_report(),
        Console(file=buffer, force_terminal=True, width=200, color_system="truecolor"),
    )
    raw = buffer.getvalue()
    assert "\x1b[2J" not in raw and "\x1b]0;" not in raw and "\u202e" not in raw


def test_table_lists_anomalies_and_source_errors():
    report = make_report(count=9)
    report.sources.append(Source("bad\x1b.bin", "unknown", 0, "", "", errors=("gone\x1b",)))
    text = to_table_text(report, width=200)
    assert "count_mismatch" in text and "bad\\x1b.bin: gone\\x1b" in text


def test_output_atomic_write_and_no_overwrite(tmp_path):
    target = tmp_path / "report.json"
    write_output("first\n", target)
    assert target.read_text() == "first\n"
    with pytest.raises(OutputError, match="exists"):
        write_output("second\n", target)
    assert target.read_text() == "first\n"
    write_output("second\n", target, force=True)
    assert target.read_text() == "second\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]  # no temp left
    mode = target.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_output_refuses_inputs_dangling_links_and_directories(tmp_path):
    evidence = tmp_path / "evidence.blob"
    evidence.write_bytes(b"\x03\x00\x00\x00")
    with pytest.raises(OutputError, match="input"):
        write_output("x", evidence, force=True, protect=[evidence])
    assert evidence.read_bytes() == b"\x03\x00\x00\x00"
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "missing")
    with pytest.raises(OutputError, match="exists"):
        write_output("x", link)
    with pytest.raises(OutputError):
        write_output("x", tmp_path, force=True)
    with pytest.raises(OutputError, match="cannot write"):
        write_output("x", tmp_path / "no" / "such" / "dir.json")


def test_output_dash_is_stdout(capsysbinary):
    write_output("to stdout\n", "-")
    assert capsysbinary.readouterr().out == b"to stdout\n"


def test_large_histories_are_listed_plainly_and_still_escaped(monkeypatch):
    import uidl_inspector.report.table_report as table_report

    monkeypatch.setattr(table_report, "TABLE_ROWS_LIMIT", 3)
    text = to_table_text(make_report(), width=200)
    assert "┃" not in text  # not a rich table
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("#"))
    assert len(lines[header + 1 : header + 1 + len(TAGS)]) == len(TAGS)
    assert lines[header + 1].split()[:3] == ["0", "4", "get"]
    assert lines[header + 1].endswith("0BC535DB-EA63-11E1-A75C-00215AD7BB74")
    assert "\x1b" not in text and "\r" not in text and "\u202e" not in text
    assert "\\x1b[2J" in text
    buffer = io.StringIO()
    render_table(make_report(), Console(file=buffer, force_terminal=True, width=200))
    assert "\x1b[2J" not in buffer.getvalue() and "\u202e" not in buffer.getvalue()


def test_slack_text_and_managers_without_history_reach_every_report():
    tags = TAGS[:4]  # 4 tags: 8 bytes of slack
    memory = b"=x@lab\x00\x01"
    blob = build_blob(tags) + memory
    history = parse_blob(blob)
    assert history.anomalies == () and history.slack_dict()["text"] == ["=x@lab"]
    restags = Companion(1, "RestagsPOPx@lab", "Restags0a0b0c0d", None, 0, "e3b0")
    record = HistoryRecord(
        "s.pst",
        history,
        blob,
        Location(
            attachment_index=0,
            attachment_name="BlobPOPx@lab",
            match_rule="general_key",
            companions=(restags,),
        ),
        Account(email="x@lab", mini_uid="0a0b0c0d"),
        Profile("", "47"),
    )
    empty = HistoryRecord(
        "s.pst",
        PopHistory(
            None, None, (), (Finding("no_history_attachment", None, "manager without history"),)
        ),
        None,
        Location(folder="Inbox", message_nid=0x100048, match_rule="subject"),
        profile=Profile("Outlook", "00"),
    )
    report = Report(histories=[record, empty])
    report.run.finish()
    table = to_table_text(report, width=200)
    assert "slack text: =x@lab" in table and "slack: 8 bytes" in table
    assert "companions  #1 RestagsPOPx@lab / Restags0a0b0c0d (0 bytes)" in table
    assert "x@lab (mini UID 0a0b0c0d)" in table
    assert 'profile     "" (empty name) (search key 47)' in table
    assert "blob        none: a Message Manager with no history attachment" in table
    assert "profile     Outlook (search key 00)" in table
    assert "info no_history_attachment manager without history" in table
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert len(rows) == 5 and {r["slack_text"] for r in rows[:4]} == {"'=x@lab"}
    assert rows[4]["index"] == "" and rows[4]["message_nid"] == str(0x100048)
    assert rows[4]["blob_sha256"] == "" and rows[4]["slack_size"] == ""
    assert rows[4]["history_anomalies"] == "info:no_history_attachment"
    assert rows[0]["history_anomalies"] == ""
    data = json.loads(to_json(report))
    assert data["histories"][1]["blob"] is None and data["histories"][1]["entries"] == []
    assert data["histories"][0]["blob"]["slack"] == {
        "size": 8,
        "hex": memory.hex(),
        "text": ["=x@lab"],
    }
    html = to_html(report)
    assert "=x@lab" in html and "no history attachment" in html
    assert "info no_history_attachment" in html and "RestagsPOPx@lab (0 B)" in html
    assert f"8: {memory.hex()}" in html
