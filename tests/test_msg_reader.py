"""The MSG reader: both back ends agree with each other and with extract-msg / olefile."""

from __future__ import annotations

import codecs
from datetime import datetime, timedelta, timezone

import extract_msg
import olefile
import pytest

from conftest import REAL_MSGS
from uidl_inspector.exceptions import CorruptStructureError, NotAStoreError
from uidl_inspector.schemas.mapi import PropType as T
from uidl_inspector.schemas.msg_props import PROPERTY_STREAM, PropertyEntry, property_stream
from uidl_inspector.store.msg import (
    filetime,
    open_msg,
    read_msg_extract,
    read_msg_olefile,
    string8_codec,
)
from uidl_inspector.synth.msg_writer import CompoundFile, Storage, Stream, write_msg
from uidl_inspector.synth.pst_writer import AttachmentSpec, MessageSpec, Prop

BLOB = b"\x03\x00\x01\x00+b20120906131138abc\x00"


def _same(a, b) -> bool:
    # extract-msg goes through a float timestamp: its times may differ by one microsecond.
    if isinstance(a, datetime) and isinstance(b, datetime):
        return abs(a - b) <= timedelta(microseconds=1)
    return a == b


def _assert_same_props(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    bad = {hex(k): (a[k], b[k]) for k in a if not _same(a[k], b[k])}
    assert not bad


@pytest.mark.parametrize("path", REAL_MSGS, ids=lambda p: p.name)
def test_real_msg_both_backends_agree(path):
    ours = read_msg_olefile(str(path))
    theirs = read_msg_extract(str(path))
    assert ours.findings == [] and theirs.findings == []
    _assert_same_props(ours.props, theirs.props)
    assert [a.props for a in ours.attachments()] == [a.props for a in theirs.attachments()]


@pytest.mark.parametrize("path", REAL_MSGS, ids=lambda p: p.name)
def test_real_msg_values_equal_extract_msg_and_olefile(path):
    ours = read_msg_olefile(str(path))
    msg = extract_msg.openMsg(str(path), strict=False)
    try:
        # we strip a trailing NUL from strings (some writers store one); extract-msg keeps it
        assert ours.message_class == msg.classType.rstrip("\0")
        assert ours.subject == (msg.subject or "").rstrip("\0") or ours.subject is None
        if not msg.areStringsUnicode:
            assert string8_codec(ours.props) == codecs.lookup(msg.stringEncoding).name
        # every property extract-msg lists in the property stream is ours, with its value
        for key, prop in msg.props.items():
            pid, ptype = int(key[:4], 16), int(key[4:], 16)
            assert pid in ours.props, key
            if ptype == T.INT32:  # extract-msg reads them unsigned; [MS-OXCDATA] says signed
                assert -(1 << 31) <= ours.props[pid] < 1 << 31
                assert ours.props[pid] % (1 << 32) == prop.value
            elif ptype == T.BOOLEAN:
                assert ours.props[pid] is prop.value
            elif ptype == T.TIME and hasattr(prop.value, "filetime"):
                # extract-msg's "null date" is an hour off; its raw FILETIME is not
                assert ours.props[pid] == filetime(prop.value.filetime)
            elif ptype == T.TIME:
                assert _same(ours.props[pid], prop.value.astimezone(timezone.utc))
            elif ptype == T.BINARY:
                assert ours.props[pid] == msg.getStream(f"__substg1.0_{key}")
    finally:
        msg.close()
    # and every 16-byte entry of the raw stream, read with olefile, is in our mapping
    with olefile.OleFileIO(str(path)) as ole:
        raw = ole.openstream(PROPERTY_STREAM).read()
    entries = property_stream("top").parse(raw).entries
    assert len(entries) == (len(raw) - 32) // 16
    assert {e.prop_id for e in entries if e.prop_type != T.OBJECT} <= set(ours.props)


def test_property_entry_schema_is_symmetric():
    data = bytes.fromhex("1f001a00060000000a00000000000000")
    entry = PropertyEntry.parse(data)
    assert (entry.prop_type, entry.prop_id, entry.flags) == (0x1F, 0x1A, 6)
    assert PropertyEntry.build(entry) == data
    header = {
        "next_recipient_id": 1,
        "next_attachment_id": 2,
        "recipient_count": 1,
        "attachment_count": 2,
    }
    built = property_stream("top").build({"header": header, "entries": [entry]})
    assert len(built) == 48
    again = property_stream("top").parse(built)
    assert again.header.attachment_count == 2 and again.entries[0].value == entry.value


def _hidden_spec() -> MessageSpec:
    def blob_attachment(name: str) -> AttachmentSpec:
        return AttachmentSpec({0x3707: Prop(T.UNICODE, name), 0x3705: Prop(T.INT32, 1)}, BLOB)

    inner = MessageSpec(
        {0x1A: Prop(T.UNICODE, "IPM.Note"), 0x37: Prop(T.UNICODE, "inner")},
        [blob_attachment("BlobPOPx@y.z")],
    )
    return MessageSpec(
        {
            0x1A: Prop(T.UNICODE, "IPM.MessageManager"),
            0x37: Prop(T.UNICODE, "Outlook Message Manager (Outlook) (KEY: 00ff)"),
            0x0B: Prop(T.BINARY, b"\0\xff"),
            0x3007: Prop(T.TIME, datetime(2012, 9, 6, 13, 11, 38, tzinfo=timezone.utc)),
        },
        [
            blob_attachment("BlobPOPa@b.c"),
            AttachmentSpec(
                {0x3705: Prop(T.INT32, 5), 0x3001: Prop(T.STRING8, "emb")}, embedded=inner
            ),
        ],
    )


@pytest.mark.parametrize("reader", [read_msg_extract, read_msg_olefile, open_msg])
def test_attachments_and_embedded_messages(tmp_path, reader):
    path = tmp_path / "hidden.msg"
    write_msg(_hidden_spec(), path)
    msg = reader(str(path))
    assert msg.findings == []
    assert msg.message_class == "IPM.MessageManager"
    assert msg.props[0x0B] == b"\0\xff"
    assert msg.props[0x3007] == datetime(2012, 9, 6, 13, 11, 38, tzinfo=timezone.utc)
    first, second = msg.attachments()
    assert (first.index, first.nid, first.data, first.props[0x3707]) == (
        0,
        None,
        BLOB,
        "BlobPOPa@b.c",
    )
    assert first.embedded() is None
    assert second.data is None and second.props[0x3001] == "emb"
    inner = second.embedded()
    assert inner.subject == "inner" and inner.attachments()[0].data == BLOB
    assert inner.storage.endswith("__substg1.0_3701000D")


def _minimal_msg_without_named_map() -> bytes:
    """An MSG as some tools write it: no ``__nameid_version1.0``, which extract-msg needs."""
    entries = [
        {"prop_type": T.INT32, "prop_id": 0x3705, "flags": 6, "value": (1).to_bytes(8, "little")},
        {
            "prop_type": T.BINARY,
            "prop_id": 0x3701,
            "flags": 6,
            "value": len(BLOB).to_bytes(4, "little") + bytes(4),
        },
    ]
    attachment = Storage(
        "__attach_version1.0_#00000000",
        [
            Stream(
                PROPERTY_STREAM,
                property_stream("attachment").build({"header": {}, "entries": entries}),
            ),
            Stream("__substg1.0_37010102", BLOB),
        ],
    )
    header = {
        "next_recipient_id": 0,
        "next_attachment_id": 1,
        "recipient_count": 0,
        "attachment_count": 1,
    }
    top = property_stream("top").build({"header": header, "entries": []})
    return CompoundFile(
        Storage(
            "Root Entry",
            [
                Stream(PROPERTY_STREAM, top),
                Stream("__substg1.0_001A001F", "IPM.MessageManager".encode("utf-16-le")),
                attachment,
            ],
        )
    ).to_bytes()


def test_olefile_fallback_when_extract_msg_rejects(tmp_path):
    path = tmp_path / "no-named-map.msg"
    path.write_bytes(_minimal_msg_without_named_map())
    with pytest.raises(extract_msg.exceptions.StandardViolationError):
        read_msg_extract(str(path))
    msg = open_msg(str(path))
    assert msg.backend == "olefile"
    assert [f.code for f in msg.findings] == ["extract_msg_rejected"]
    assert msg.message_class == "IPM.MessageManager"
    assert msg.attachments()[0].data == BLOB


def test_not_an_msg(tmp_path):
    path = tmp_path / "x.msg"
    path.write_bytes(b"!BDN" + b"\0" * 600)
    with pytest.raises(NotAStoreError):
        open_msg(str(path))


def _open_or_error(path) -> str:
    try:
        msg = open_msg(str(path))
    except (CorruptStructureError, NotAStoreError) as exc:
        assert "\n" not in str(exc)
        return "error"
    # an MSG has no checksums: overwritten data reads as other data, but never a traceback
    assert all("\n" not in f.detail for f in msg.findings)
    return "partial" if msg.findings else "clean"


def test_truncated_msg_is_an_error_not_a_traceback(tmp_path):
    good = tmp_path / "good.msg"
    write_msg(_hidden_spec(), good)
    data = good.read_bytes()
    bad = tmp_path / "bad.msg"
    for cut in (600, 1000, len(data) // 3, len(data) // 2, len(data) - 512):
        bad.write_bytes(data[:cut])
        assert _open_or_error(bad) == "error"


def test_damaged_sectors_give_an_error_or_a_partial_read(tmp_path):
    good = tmp_path / "good.msg"
    write_msg(_hidden_spec(), good)
    data = good.read_bytes()
    bad = tmp_path / "bad.msg"
    outcomes = []
    for sector in range(1, len(data) // 512):
        damaged = bytearray(data)
        damaged[sector * 512 : (sector + 1) * 512] = b"\xff" * 512
        bad.write_bytes(bytes(damaged))
        outcomes.append(_open_or_error(bad))
    assert "error" in outcomes and len(outcomes) > 5


def test_damaged_property_stream_gives_findings(tmp_path):
    from extract_msg.ole_writer import OleWriter

    writer = OleWriter()
    # a header, then 5 bytes: no complete entry; the value streams are still there
    writer.addEntry(PROPERTY_STREAM, b"\0" * 32 + bytes.fromhex("1f001a0006"))
    writer.addEntry("__substg1.0_001A001F", "IPM.Test".encode("utf-16-le"))
    writer.addEntry("__substg1.0_0037001F", b"\x00\xd8")  # lone surrogate
    path = tmp_path / "odd.msg"
    writer.write(str(path))
    msg = read_msg_olefile(str(path))
    assert msg.message_class == "IPM.Test"  # found through its stream alone
    codes = [f.code for f in msg.findings]
    assert "trailing_data" in codes and "bad_string" in codes
