"""One MAPI value codec: a message reads the same from a store and from its exported MSG.

Why: the value encoding used to be written five times and the copies disagreed on
signedness (PtypInteger32 -1 read back as -1 from the PST and 4294967295 from the MSG).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from uidl_inspector.schemas import mapi
from uidl_inspector.schemas.mapi import PropType as T
from uidl_inspector.store.model import walk_folders
from uidl_inspector.store.msg import read_msg_extract, read_msg_olefile
from uidl_inspector.store.pst import open_pst
from uidl_inspector.synth.msg_writer import msg_bytes
from uidl_inspector.synth.pst_writer import AttachmentSpec, MessageSpec, Prop, StoreSpec, write_pst

# Every type both writers produce, with values at the edges of their signedness.
EVERY_TYPE = {
    0x001A: Prop(T.UNICODE, "IPM.Note"),
    0x0037: Prop(T.UNICODE, "Grüße ✓"),
    0x0E1D: Prop(T.STRING8, "café €"),  # PidTagNormalizedSubject, ANSI
    0x3FFD: Prop(T.INT32, 1252),  # PidTagMessageCodepage: the MSG's String8 code page
    0x6601: Prop(T.INT16, -2),
    0x6602: Prop(T.INT32, -1),
    0x6603: Prop(T.INT32, 0x7FFFFFFF),
    0x6604: Prop(T.INT64, -(1 << 40)),
    0x6605: Prop(T.CURRENCY, -123_456),
    0x6606: Prop(T.ERROR, 0x80004005),
    0x6607: Prop(T.BOOLEAN, True),
    0x6608: Prop(T.FLOAT32, -1.5),
    0x6609: Prop(T.FLOAT64, 3.25),
    0x660A: Prop(T.FLOATING_TIME, 45000.5),
    0x0E06: Prop(T.TIME, datetime(2024, 2, 29, 12, 34, 56, 789000, tzinfo=timezone.utc)),
    0x660B: Prop(T.GUID, bytes(range(16))),
    0x0FF9: Prop(T.BINARY, b"\x00\xff" * 9),
}


def _message() -> MessageSpec:
    attachment = AttachmentSpec(
        {0x3704: Prop(T.UNICODE, "a.bin"), 0x3705: Prop(T.INT32, 1), 0x6602: Prop(T.INT32, -7)},
        data=b"attached",
    )
    return MessageSpec(dict(EVERY_TYPE), attachments=[attachment])


@pytest.mark.parametrize("reader", [read_msg_olefile, read_msg_extract])
def test_store_and_exported_msg_read_equal_over_every_written_type(tmp_path, reader):
    spec = _message()
    store = StoreSpec()
    store.folders[0].messages.append(spec)
    write_pst(store, tmp_path / "s.pst")
    (tmp_path / "m.msg").write_bytes(msg_bytes(spec))
    with open_pst(tmp_path / "s.pst") as pst:
        folders = walk_folders(pst.root_folder(), [])
        message = next(m for f in folders for m in f.messages() if m.nid == spec.nid)
        from_store = {pid: message.props[pid] for pid in EVERY_TYPE}
        store_attachment = {pid: message.attachments()[0].props[pid] for pid in (0x3704, 0x6602)}
    msg = reader(str(tmp_path / "m.msg"))
    from_msg = {pid: msg.props[pid] for pid in EVERY_TYPE}
    assert from_store == from_msg
    assert from_store[0x6602] == -1 and from_store[0x0E1D] == "café €"
    assert (
        {pid: msg.attachments()[0].props[pid] for pid in (0x3704, 0x6602)}
        == store_attachment
        == {0x3704: "a.bin", 0x6602: -7}
    )


@pytest.mark.parametrize(
    ("ptype", "value", "stored"),
    [
        (T.INT16, -1, b"\xff\xff"),
        (T.INT32, -1, b"\xff\xff\xff\xff"),
        (T.INT32, 0xFFFFFFFF, b"\xff\xff\xff\xff"),  # given unsigned: the same bits
        (T.INT64, -2, b"\xfe" + b"\xff" * 7),
        (T.CURRENCY, -10000, (-10000).to_bytes(8, "little", signed=True)),
        (T.ERROR, 0x8004010F, b"\x0f\x01\x04\x80"),
        (T.BOOLEAN, True, b"\x01"),
    ],
)
def test_signedness_as_ms_oxcdata_defines_the_types(ptype, value, stored):
    assert mapi.encode_fixed(ptype, value) == stored
    decoded = mapi.decode_fixed(ptype, stored.ljust(8, b"\0"))
    signed = ptype not in (T.ERROR, T.BOOLEAN)
    width = 8 * len(stored)
    assert decoded == (
        int.from_bytes(stored, "little", signed=signed) if ptype != T.BOOLEAN else True
    )
    if signed:
        assert -(1 << (width - 1)) <= decoded < 1 << (width - 1)
