"""Input detection from content, directory walking, opening evidence."""

from __future__ import annotations

import os
from datetime import datetime

import pytest

from conftest import REAL_MSGS, REAL_PSTS
from uidl_inspector.exceptions import NotAStoreError
from uidl_inspector.history import build_blob
from uidl_inspector.store.detect import detect_kind, looks_like_pop_blob, open_evidence, walk_inputs

BLOB = build_blob([("get", "body", datetime(2012, 9, 6, 13, 11, 38), "0BC535DB-EA63")])


@pytest.mark.parametrize("path", REAL_PSTS, ids=lambda p: p.name)
def test_real_psts_are_psts(path):
    assert detect_kind(path) == "pst"


@pytest.mark.parametrize("path", REAL_MSGS, ids=lambda p: p.name)
def test_real_msgs_are_msgs(path):
    assert detect_kind(path) == "msg"


def test_kind_comes_from_content_not_extension(tmp_path):
    cases = {
        "history.pst": (BLOB, "blob"),
        "mail.txt": (b"!BDN\0\0\0\0SO" + bytes(600), "ost"),
        "store.dat": (b"!BDN\0\0\0\0SM" + bytes(600), "pst"),
        "export.bin": (bytes.fromhex("d0cf11e0a1b11ae1") + bytes(600), "msg"),
        "copied.msg": (" ".join(f"{b:02X}" for b in BLOB).encode() + b"\n", "hex"),
        "mfcmapi.txt": (b"0x" + BLOB.hex().encode() + b"\r\n", "hex"),
        "mfcmapi-cb.txt": (f"cb: {len(BLOB)} lpb: {BLOB.hex().upper()}".encode(), "hex"),
        "empty.blob": (bytes.fromhex("03000000"), "blob"),
        "notes.txt": (b"hello world\n", "unknown"),
        "v2.blob": (b"\x02\x00" + BLOB[2:], "unknown"),
        "hex-of-text.txt": (b"68656c6c6f", "unknown"),
        "zero.bin": (b"", "unknown"),
    }
    for name, (data, kind) in cases.items():
        (tmp_path / name).write_bytes(data)
        assert detect_kind(tmp_path / name) == kind, name


def test_blob_sniff_and_hex_text():
    assert looks_like_pop_blob(BLOB)
    assert not looks_like_pop_blob(BLOB[:3]) and not looks_like_pop_blob(None)
    assert not looks_like_pop_blob(b"\x03\x00\x01\x00Xb20120906131138x\0")
    assert not looks_like_pop_blob(b"\x03\x00\x00\x00extra")
    # real Outlook's empty history: the header and count + 4 = 4 bytes of leftover memory
    assert looks_like_pop_blob(b"\x03\x00\x00\x00\x00\x60\xb8\x07")
    assert looks_like_pop_blob(b"\x03\x00\x00\x00")


def test_a_real_empty_history_file_is_a_blob_with_slack(tmp_path):
    path = tmp_path / "empty-history.bin"
    path.write_bytes(b"\x03\x00\x00\x00\x00\x60\xb8\x07")
    assert detect_kind(path) == "blob"


def test_walk_is_recursive_sorted_and_skips_links(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.blob").write_bytes(BLOB)
    (tmp_path / "b" / "a.txt").write_bytes(b"text")
    (tmp_path / "a.blob").write_bytes(BLOB)
    (tmp_path / "c").mkdir()
    os.symlink(tmp_path / "a.blob", tmp_path / "c" / "link.blob")
    os.symlink(tmp_path, tmp_path / "c" / "loop")
    found = [
        (os.path.relpath(e.path, tmp_path), e.kind, e.from_directory)
        for e in walk_inputs([tmp_path])
    ]
    assert found == [
        ("a.blob", "blob", True),
        ("b/a.txt", "unknown", True),
        ("b/z.blob", "blob", True),
    ]
    assert list(walk_inputs([tmp_path])) == list(walk_inputs([tmp_path]))


def test_missing_and_unreadable_inputs_are_reported(tmp_path):
    [missing] = walk_inputs([tmp_path / "nope.pst"])
    assert missing.kind is None and "No such file" in missing.error
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "x.blob").write_bytes(BLOB)
    locked.chmod(0)
    try:
        entries = list(walk_inputs([tmp_path]))
    finally:
        locked.chmod(0o755)
    if os.geteuid() != 0:  # root reads anything
        assert [e.error for e in entries if e.path.endswith("locked")] == [
            "cannot list: Permission denied"
        ]


def test_open_evidence(tmp_path):
    raw = tmp_path / "h.bin"
    raw.write_bytes(BLOB)
    text = tmp_path / "h.txt"
    text.write_text(BLOB.hex(" "))
    for path, kind in ((raw, "blob"), (text, "hex")):
        with open_evidence(path) as evidence:
            assert (evidence.kind, evidence.variant, evidence.blob) == (kind, "blob", BLOB)
    with open_evidence(REAL_MSGS[0]) as evidence:
        assert evidence.kind == "msg" and evidence.message.message_class == "IPM.Contact"
    other = tmp_path / "x"
    other.write_bytes(b"nothing")
    with pytest.raises(NotAStoreError, match="not a PST/OST store, an MSG file or a POP3"):
        open_evidence(other)
