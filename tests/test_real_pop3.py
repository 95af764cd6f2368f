"""The seven real lab stores with a POP3 history (tghanem-user1-*.pst, MIT, see SOURCES.md).

Expected values are written by hand from what libpff's C API shows (tests/libpff_oracle.py:
the Message Manager's subject and conversation key, each attachment's names and bytes),
not from our own output. The oracle is also asked again here, so a change of sample shows.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REAL_SAMPLES, REQUIRE_PEERS
from libpff_oracle import hidden_messages
from uidl_inspector.cli import app
from uidl_inspector.pipeline import scan_evidence

POP3 = REAL_SAMPLES / "pop3"
runner = CliRunner()

SUBJECT = "Outlook Message Manager () (KEY: 47656E6572616C204B657900)"
GENERAL_KEY_HEX = b"General Key\0".hex()
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
RESTAGS = {
    "index": 1,
    "long_filename": "RestagsPOPuser1@test.lab",
    "filename": "Restagsda8ea945",
    "display_name": None,
    "size": 0,
    "sha256": EMPTY_SHA256,
}
# UID -> the tag's time, as libpff shows the BLOB bytes: every tag is "+b" (get, body)
TAG_TIME = {
    "1": "20170605203421",
    "2": "20170605203421",
    "3": "20170605203421",
    "4": "20170605203421",
    "5": "20170606192351",
    "6": "20170612143250",
    "7": "20170613161929",
    "8": "20170613182626",
    "9": "20170617142103",
}
# store -> (UIDs in BLOB order, BLOB size, the bytes after the last tag's NUL, their text)
EXPECTED = {
    "tghanem-user1-20170606-219b27d7.pst": ("12345", 103, "000060b80722000000", []),
    "tghanem-user1-20170612-186cefc2.pst": ("12345", 103, "000060b80722000000", []),
    "tghanem-user1-20170612-39ba6b10.pst": ("123456", 122, "b01f000058150000f81c", []),
    "tghanem-user1-20170613-b3882ec8.pst": ("1234567", 141, "6f007400650000006c0000", []),
    "tghanem-user1-20170613-d94af90c.pst": ("12345678", 160, "63006f006d003b0000004990", ["com;"]),
    "tghanem-user1-20170617-3b2b9c93.pst": ("123456789", 179, "0000000000000000003a000000", []),
    "tghanem-user1-20170625-cb6a8618.pst": ("6789", 84, "0000000078569b11", []),
}


@pytest.fixture(scope="module")
def pop3_dir() -> Path:
    if not all((POP3 / name).is_file() for name in EXPECTED):
        message = f"real POP3 samples not found under {POP3}"
        if REQUIRE_PEERS:
            pytest.fail(message)
        pytest.skip(message)
    return POP3


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_history_is_decoded_exactly(pop3_dir, name):
    path = pop3_dir / name
    uids, size, slack_hex, slack_text = EXPECTED[name]
    outcome = scan_evidence([str(path)])
    assert outcome.failed == []
    [source] = outcome.report.sources
    assert source.findings == ()  # an undamaged store
    [record] = outcome.report.histories
    d = record.to_dict()
    assert d["anomalies"] == []  # nothing at all, info included, on a real BLOB
    assert d["blob"]["size"] == size and d["blob"]["declared_count"] == len(uids)
    assert d["blob"]["slack"] == {"size": len(uids) + 4, "hex": slack_hex, "text": slack_text}
    assert [
        (e["raw_operation"], e["raw_content"], e["raw_timestamp"], e["uid"]) for e in d["entries"]
    ] == [("+", "b", TAG_TIME[u], u) for u in uids]
    assert all(e["operation"] == "get" and e["content"] == "body" for e in d["entries"])
    assert record.history.entries[0].timestamp == datetime.strptime(
        TAG_TIME[uids[0]], "%Y%m%d%H%M%S"
    )
    assert d["account"] == {"email": "user1@test.lab", "mini_uid": "da8ea945"}
    assert d["profile"] == {"name": "", "search_key": GENERAL_KEY_HEX}
    loc = d["location"]
    assert (
        loc["folder"],
        loc["message_nid"],
        loc["subject"],
        loc["attachment_index"],
        loc["attachment_name"],
        loc["match_rule"],
        loc["attachment_rule"],
    ) == (
        "Top of Outlook data file/Inbox",
        0x100028,
        SUBJECT,
        0,
        "BlobPOPuser1@test.lab",
        "general_key",
        "long_filename",
    )
    assert loc["companions"] == [RESTAGS]
    [manager] = outcome.report.extra["message_managers"]
    assert manager["rules"] == ["general_key", "conversation_key", "subject"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_libpff_reads_the_same_manager_and_bytes(pop3_dir, name):
    """The literals above are what libpff's C API shows: checked here again."""
    uids, size, slack_hex, _ = EXPECTED[name]
    [manager] = [
        m for m in hidden_messages(pop3_dir / name) if m.message_class == "IPM.MessageManager"
    ]
    assert (manager.nid, manager.subject, manager.conversation_key) == (
        0x100028,
        SUBJECT,
        b"General Key\0",
    )
    blob, restags = manager.attachments
    assert (blob.long_filename, blob.filename, blob.display_name) == (
        "BlobPOPuser1@test.lab",
        "Blobda8ea945",
        None,
    )
    assert (restags.long_filename, restags.filename, restags.data) == (
        RESTAGS["long_filename"],
        RESTAGS["filename"],
        b"",
    )
    tags = b"".join(b"+b" + TAG_TIME[u].encode() + u.encode() + b"\0" for u in uids)
    header = (3).to_bytes(2, "little") + len(uids).to_bytes(2, "little")
    assert blob.data == header + tags + bytes.fromhex(slack_hex) and len(blob.data) == size
    [ours] = scan_evidence([str(pop3_dir / name)]).report.histories
    assert ours.blob == blob.data


def test_strict_scan_passes_on_every_real_history(pop3_dir):
    result = runner.invoke(app, ["scan", str(pop3_dir), "--strict", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["histories"]) == len(EXPECTED)
    assert all(h["blob"]["slack"] is not None for h in report["histories"])


def test_hidden_takes_several_paths_and_writes_the_scan_envelope(pop3_dir, tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("not evidence")  # skipped inside a directory
    shutil.copy(pop3_dir / "tghanem-user1-20170606-219b27d7.pst", tmp_path / "copy.pst")
    result = runner.invoke(app, ["hidden", str(pop3_dir), str(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert list(data) == ["tool", "generated_at", "run", "demo", "sources", "hidden"]
    paths = [s["path"] for s in data["sources"]]
    assert paths == [str(pop3_dir / n) for n in sorted(EXPECTED)] + [str(tmp_path / "copy.pst")]
    for source in data["sources"]:
        expected = {m.nid for m in hidden_messages(source["path"])}
        assert {r["nid"] for r in data["hidden"] if r["source"] == source["path"]} == expected
        assert source["sha256"] == hashlib.sha256(Path(source["path"]).read_bytes()).hexdigest()
    assert list(data["hidden"][0])[:2] == ["source", "folder"]
    named = runner.invoke(app, ["hidden", str(other), str(tmp_path / "copy.pst")])
    assert named.exit_code == 1 and named.stderr.count("\n") == 1
    assert "not a PST/OST store" in named.stderr


# --- the two reporting bugs of issue 9, on damaged copies of a real store ------------------


def _damaged(tmp_path: Path, name: str, edits: dict[int, bytes], grow: int = 0) -> Path:
    data = bytearray((POP3 / "tghanem-user1-20170606-219b27d7.pst").read_bytes())
    for offset, value in edits.items():
        data[offset : offset + len(value)] = value
    path = tmp_path / name
    path.write_bytes(bytes(data) + bytes(grow))
    return path


def _codes(findings) -> list[tuple[str, int | None]]:
    return sorted((f["code"], f["offset"]) for f in findings)


def test_hidden_reports_the_store_findings_scan_reports(pop3_dir, tmp_path):
    original = (pop3_dir / "tghanem-user1-20170606-219b27d7.pst").read_bytes()
    crc = bytes([original[4] ^ 0xFF])  # dwCRCPartial changed: header_crc_mismatch at 4
    path = _damaged(tmp_path, "header.pst", {4: crc}, grow=512)  # file_size_mismatch
    scanned = json.loads(runner.invoke(app, ["scan", str(path), "-f", "json"]).stdout)
    hidden = json.loads(runner.invoke(app, ["hidden", str(path), "-f", "json"]).stdout)
    want = [("file_size_mismatch", len(original)), ("header_crc_mismatch", 4)]
    assert _codes(scanned["sources"][0]["findings"]) == want
    assert _codes(hidden["sources"][0]["findings"]) == want
    assert len(hidden["hidden"]) == 2  # the store is still read


@pytest.mark.parametrize(
    ("page", "why"),
    [
        (66560, "a leaf NBT page crossed by the lookups of two folders"),
        (50176, "the BBT root page, checked on opening and crossed again by a lookup"),
    ],
)
def test_one_damaged_page_is_reported_once(pop3_dir, tmp_path, page, why):
    original = (pop3_dir / "tghanem-user1-20170606-219b27d7.pst").read_bytes()
    trailer_bid = page + 512 - 8  # the page trailer's bid (Unicode PST: last 8 bytes)
    path = _damaged(tmp_path, "page.pst", {trailer_bid: bytes([original[trailer_bid] ^ 0x40])})
    for command in ("scan", "hidden"):
        data = json.loads(runner.invoke(app, [command, str(path), "-f", "json"]).stdout)
        pages = [c for c in _codes(data["sources"][0]["findings"]) if c[0].startswith("page_")]
        assert pages == [("page_bid_mismatch", page)], (command, why)


def test_a_run_that_finds_nothing_says_what_was_examined(real_psts):
    import pypff

    path = next(p for p in real_psts if p.name == "javalibpst-passworded-unicode.pst")
    hidden = hidden_messages(path)
    assert len(hidden) == 13 and not any(m.message_class == "IPM.MessageManager" for m in hidden)
    handle = pypff.file()
    handle.open(str(path))
    try:
        folders, stack = 0, [handle.get_root_folder()]
        while stack:
            folder = stack.pop()
            folders += 1
            stack.extend(folder.sub_folders)
    finally:
        handle.close()
    result = runner.invoke(app, ["scan", str(path), "--format", "table"])
    assert result.exit_code == 0
    assert "No POP3 download history found." in result.stdout
    line = " ".join(result.stdout.split())
    assert (
        f"Examined 1 file(s) (pst 1), {folders} folder(s), {len(hidden)} hidden "
        "message(s), 0 Message Manager(s)."
    ) in line
