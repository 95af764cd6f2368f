"""The native PST/OST reader against libpff on every real sample, and on damaged input."""

from __future__ import annotations

import random
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from tests.conftest import REAL_PSTS, need_peer

from uidl_inspector.exceptions import (
    CorruptStructureError,
    NotAStoreError,
    UidlInspectorError,
    UnsupportedVersionError,
)
from uidl_inspector.schemas import encoding, ltp, ndb
from uidl_inspector.store import ltp as ltp_reader
from uidl_inspector.store.messaging import PstFolder, PstMessage
from uidl_inspector.store.model import walk_folders
from uidl_inspector.store.pst import PstStore, open_pst

pypff = pytest.importorskip("pypff")

IDS = [p.name for p in REAL_PSTS]


# ---------------------------------------------------------------- libpff's view


def _pff_props(item) -> dict[int, str]:
    out = {}
    if item.number_of_record_sets:
        for entry in item.record_sets[0].entries:
            if entry.entry_type in (0x1A, 0x37) and entry.value_type in (0x1E, 0x1F):
                out[entry.entry_type] = entry.data_as_string
    return out


def _pff_tree(path: Path):
    """{folder nid: (name, child folder nids, hidden items, message count, subjects)}."""
    f = pypff.file()
    f.open(str(path))
    out = {}
    stack = [f.get_root_folder()]
    while stack:
        folder = stack.pop()
        subs = list(folder.sub_folders)
        hidden = set()
        for item in folder.sub_items:
            if item.identifier & 0x1F == 8:
                props = _pff_props(item)
                hidden.add((item.identifier, props.get(0x1A), props.get(0x37)))
        subjects = sorted((m.identifier, _pff_props(m).get(0x37)) for m in folder.sub_messages)
        out[folder.identifier] = (
            folder.name or "",
            {s.identifier for s in subs},
            hidden,
            folder.number_of_sub_messages,
            subjects,
        )
        stack.extend(subs)
    f.close()
    return out


def _our_tree(store: PstStore):
    out = {}
    for folder in walk_folders(store.root_folder(), []):
        hidden = {(m.nid, m.message_class, m.props.get(0x37)) for m in folder.associated()}
        messages = list(folder.messages())
        out[folder.nid] = (
            folder.name,
            {child.nid for child in folder.subfolders()},
            hidden,
            len(messages),
            sorted((m.nid, m.props.get(0x37)) for m in messages),
        )
        assert not folder.findings, folder.findings
    return out


@pytest.mark.parametrize("path", REAL_PSTS, ids=IDS)
@pytest.mark.parametrize("check_parents", [False, True], ids=["tables", "tables+parents"])
def test_folders_hidden_and_messages_equal_libpff(path, check_parents):
    with open_pst(path, check_parents=check_parents) as store:
        ours = _our_tree(store)
        assert store.findings == []
    theirs = _pff_tree(path)
    assert ours == theirs


@pytest.mark.parametrize("path", REAL_PSTS, ids=IDS)
def test_variant_encryption_and_paths(path):
    with open_pst(path) as store:
        assert store.variant == ("ansi" if "ansi" in path.name else "unicode")
        assert store.encryption == "permute"  # all nine samples are permute-encoded
        assert store.props.get(0x3001)
        root = store.root_folder()
        assert root.path == ""
        for folder in walk_folders(root, []):
            if folder.nid != root.nid:
                assert folder.path.split("/")[-1] == folder.name
                assert store.folder_path(folder.nid) == folder.path


def test_localized_and_nested_paths():
    path = next(p for p in REAL_PSTS if p.name == "libyal-outlook2003-unicode.pst")
    with open_pst(path) as store:
        paths = {f.path for f in walk_folders(store.root_folder(), [])}
    assert "Top of Personal Folders/Inbox" in paths
    assert any("Recovered_Group" in p for p in paths)


@pytest.mark.parametrize(
    "path", [p for p in REAL_PSTS if "sample" in p.name or "libyal" in p.name], ids=lambda p: p.name
)
def test_attachment_bytes_equal_libpff(path):
    f = pypff.file()
    f.open(str(path))
    theirs = {}
    stack = [f.get_root_folder()]
    while stack:
        folder = stack.pop()
        stack.extend(folder.sub_folders)
        for m in folder.sub_messages:
            theirs[m.identifier] = [a.read_buffer(a.size) for a in m.attachments]
    f.close()
    ours = {}
    with open_pst(path) as store:
        for folder in walk_folders(store.root_folder(), []):
            for m in folder.messages():
                ours[m.nid] = [a.data for a in m.attachments()]
                assert not m.findings
    assert ours == theirs
    if "sample" in path.name:  # a 93 KB attachment: read through an XBLOCK data tree
        assert any(len(b) > 8176 for blobs in ours.values() for b in blobs)


def test_embedded_message_opens():
    path = next(p for p in REAL_PSTS if p.name == "pstsdk-submessage-unicode.pst")
    with open_pst(path) as store:
        folder = next(f for f in walk_folders(store.root_folder(), []) if f.name == "submessage")
        (message,) = list(folder.messages())
        (attachment,) = message.attachments()
        assert attachment.method == 5 and attachment.data is None
        embedded = attachment.embedded()
        assert embedded is not None
        assert embedded.message_class == "IPM.Note"
        assert embedded.subject == "This is an embedded message"
        assert embedded.findings == [] and attachment.findings == []


def test_embedded_subject_also_seen_by_readpst(tmp_path):
    readpst = need_peer("readpst")
    path = next(p for p in REAL_PSTS if p.name == "pstsdk-submessage-unicode.pst")
    subprocess.run([readpst, "-q", "-S", "-o", str(tmp_path), str(path)], check=True)
    text = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert b"This is an embedded message" in text


def _folder(store: PstStore, nid: int) -> PstFolder:
    return next(f for f in walk_folders(store.root_folder(), []) if f.nid == nid)


def _associated(store: PstStore, folder_nid: int, nid: int) -> PstMessage:
    return next(m for m in _folder(store, folder_nid).associated() if m.nid == nid)


def test_iteration_by_type():
    path = next(p for p in REAL_PSTS if p.name == "javalibpst-passworded-unicode.pst")
    with open_pst(path) as store:
        hidden = {e.nid for e in store.iter_nodes(ndb.NID_TYPE_ASSOC_MESSAGE)}
        assert {0x1000E8, 0x100108, 0x100128, 0x1001C8} <= hidden
        message = _associated(store, 0x8082, 0x1000E8)
        assert message.message_class == "IPM.Microsoft.MigrationStatus"
        assert message.folder.path == "Top of Personal Folders/Inbox"
        assert _folder(store, 0x8082).name == "Inbox"


def test_recipients_table_is_read():
    path = next(p for p in REAL_PSTS if p.name == "pstsdk-sample1-unicode.pst")
    with open_pst(path) as store:
        messages = [m for f in walk_folders(store.root_folder(), []) for m in f.messages()]
        recipients = messages[0].recipients()
    assert recipients and all(isinstance(r.get(0x3001), str) for r in recipients)


# ---------------------------------------------------------------- errors at open


def _copy(tmp_path, data: bytes, name="x.pst") -> Path:
    out = tmp_path / name
    out.write_bytes(data)
    return out


def test_not_a_store(tmp_path):
    for data in (b"", b"PK\x03\x04" + bytes(600), b"!BD"):
        with pytest.raises(NotAStoreError):
            open_pst(_copy(tmp_path, data))


def test_unsupported_version_and_encoding(tmp_path):
    data = bytearray(REAL_PSTS[0].read_bytes())
    data[10:12] = (99).to_bytes(2, "little")
    with pytest.raises(UnsupportedVersionError):
        open_pst(_copy(tmp_path, bytes(data)))
    data = bytearray(REAL_PSTS[0].read_bytes())
    data[513] = 0x10  # EDPCRYPTED
    with pytest.raises(UnsupportedVersionError):
        open_pst(_copy(tmp_path, bytes(data)))


def test_unreadable_btrees_raise_corrupt(tmp_path):
    data = bytearray(REAL_PSTS[0].read_bytes())
    for at in (216, 232):  # BREFNBT and BREFBBT bids: trailer bid no longer matches
        data[at] ^= 0xFF
    with pytest.raises(CorruptStructureError):
        open_pst(_copy(tmp_path, bytes(data)))


def test_header_crc_is_a_finding(tmp_path):
    data = bytearray(REAL_PSTS[0].read_bytes())
    data[4] ^= 1
    with open_pst(_copy(tmp_path, bytes(data))) as store:
        assert [f.code for f in store.findings] == ["header_crc_mismatch"]
        assert list(walk_folders(store.root_folder(), []))


def _block_of(store, nid):
    entry = store.ndb.btrees.node_entry(nid)
    return store.ndb.btrees.block_entry(entry.bid_data)


def test_bad_block_crc_is_a_finding_and_reading_goes_on(tmp_path):
    path = next(p for p in REAL_PSTS if p.name == "javalibpst-passworded-unicode.pst")
    with open_pst(path) as store:
        block = _block_of(store, 0x1000E8)
    data = bytearray(path.read_bytes())
    # A byte of the PC heap's fill-level area: the CRC breaks, the properties still read.
    data[block.ib + 8] ^= 0x01
    with open_pst(_copy(tmp_path, bytes(data))) as store:
        message = _associated(store, 0x8082, 0x1000E8)
        assert message.message_class == "IPM.Microsoft.MigrationStatus"
        codes = {f.code for f in message.findings}
        assert codes == {"block_crc_mismatch"}
        assert message.findings[0].offset == block.ib


def test_broken_message_does_not_stop_the_folder(tmp_path):
    path = next(p for p in REAL_PSTS if p.name == "javalibpst-passworded-unicode.pst")
    with open_pst(path) as store:
        block = _block_of(store, 0x1000E8)
    data = bytearray(path.read_bytes())
    size = ndb.block_size(ndb.UNICODE, block.cb)
    data[block.ib + size - 8] ^= 0xFF  # trailer bid of the message's block
    with open_pst(_copy(tmp_path, bytes(data))) as store:
        inbox = _folder(store, 0x8082)
        hidden = {m.nid: m for m in inbox.associated()}
        assert set(hidden) == {0x1000E8, 0x100108, 0x100128, 0x1001C8}
        broken = hidden[0x1000E8]
        assert broken.message_class is None
        assert "block_bid_mismatch" in {f.code for f in broken.findings}
        assert hidden[0x100108].message_class == "IPM.Microsoft.PendingChange.MigrateLabels"


# ---------------------------------------------------------------- truncation and damage


def _touch_everything(store: PstStore) -> set[str]:
    """Read every object the locator may visit; returns the codes of the findings made."""
    codes = {f.code for f in store.findings}
    folders = []
    for folder in walk_folders(store.root_folder(), []):
        folders.append(folder)  # its subfolders are read (and their table checked) later
        for message in list(folder.messages()) + list(folder.associated()):
            _ = (message.message_class, message.subject, message.recipients())
            for attachment in message.attachments():
                _ = attachment.data
                embedded = attachment.embedded()
                if embedded is not None:
                    inner = embedded.attachments()
                    _ = embedded.props, [a.data for a in inner]
                    codes |= {f.code for f in embedded.findings}
                    codes |= {f.code for a in inner for f in a.findings}
                codes |= {f.code for f in attachment.findings}
            codes |= {f.code for f in message.findings}
    for folder in folders:
        codes |= {f.code for f in folder.findings}
    return codes | {f.code for f in store.findings}


def _survives(path: Path, check_parents: bool = False) -> set[str] | None:
    """Findings of a full read, or None when the store was refused with one of our errors."""
    try:
        with open_pst(path, check_parents=check_parents) as store:
            return _touch_everything(store)
    except UidlInspectorError:
        return None


@pytest.mark.parametrize("name", ["libyal-outlook2003-unicode.pst", "pstsdk-sample2-ansi.pst"])
def test_truncated_files(tmp_path, name):
    data = next(p for p in REAL_PSTS if p.name == name).read_bytes()
    cuts = sorted({0, 3, 100, 511, 563, 600, 0x4400, 0x4600} | set(range(0x4800, len(data), 9973)))
    read = []
    for cut in cuts:
        result = _survives(_copy(tmp_path, data[:cut]))
        if cut < 0x4400:
            assert result is None, f"cut at {cut}: nothing readable, yet no error"
        else:  # refused (a B-tree root page is cut off), or read with the cut reported
            assert result is None or "file_truncated" in result, f"cut at {cut}: {result}"
            read += [cut] if result is not None else []
    # the cuts that leave both B-tree roots in place are read, not refused
    root = ndb.format_for_version(int.from_bytes(data[10:12], "little")).HEADER.parse(data).root
    last_root = max(root.BREFNBT.ib, root.BREFBBT.ib)
    assert read and read == [cut for cut in cuts if cut >= last_root + 512]


@pytest.mark.parametrize("name", ["javalibpst-dist-list-unicode.pst", "pstsdk-test-ansi.pst"])
def test_flipped_bytes(tmp_path, monkeypatch, name):
    """Random flips anywhere: read or refused with our error. One flip in the stored bytes
    of a block the full read uses: that block's CRC finding, or refused."""
    from uidl_inspector.store.ndb_blocks import NdbBlocks

    source = next(p for p in REAL_PSTS if p.name == name)
    data = source.read_bytes()
    rnd = random.Random(name)
    used: set[int] = set()
    read_block = NdbBlocks.read_block

    def recording(self, bid, sink):
        used.add(bid & ~1)
        return read_block(self, bid, sink)

    with monkeypatch.context() as patch:
        patch.setattr(NdbBlocks, "read_block", recording)
        assert _survives(source) == set()
    with open_pst(source) as store:
        blocks = sorted(
            (e.BREF_ib, e.cb)
            for e in store.ndb.btrees.iter_entries(ndb.PTYPE_BBT)
            if e.BREF_bid & ~1 in used and e.cb
        )
    seen = []
    for round_ in range(60):
        damaged = bytearray(data)
        if round_ % 3 == 0:
            for _ in range(1 + round_ % 4):
                damaged[rnd.randrange(len(damaged))] ^= 1 << rnd.randrange(8)
            _survives(_copy(tmp_path, bytes(damaged)), check_parents=round_ % 2 == 0)
            continue
        ib, cb = rnd.choice(blocks)
        damaged[ib + rnd.randrange(cb)] ^= 1 << rnd.randrange(8)
        codes = _survives(_copy(tmp_path, bytes(damaged)), check_parents=round_ % 2 == 0)
        assert codes is None or "block_crc_mismatch" in codes, (ib, codes)
        seen.append(codes is not None)
    assert sum(seen) > len(seen) // 2  # most damaged blocks are read around, not refused


def test_random_garbage_after_a_valid_header(tmp_path):
    data = REAL_PSTS[0].read_bytes()
    rnd = random.Random(3)
    for _ in range(20):
        garbage = bytes(data[:564]) + rnd.randbytes(len(data) - 564)
        assert _survives(_copy(tmp_path, garbage)) is None  # no B-tree root page survives


# ---------------------------------------------------------------- schema-built stores


def _heap(client: int, items: list[bytes]) -> bytes:
    """A one-block heap-on-node whose user root is item 1."""
    body = b"".join(items)
    ib_hnpm = 12 + len(body) + (len(body) % 2)
    starts = [12]
    for item in items:
        starts.append(starts[-1] + len(item))
    header = ltp.HNHDR.build(
        dict(
            ibHnpm=ib_hnpm, bClientSig=client, hidUserRoot=ltp.make_hid(0, 1), rgbFillLevel=bytes(4)
        )
    )
    page_map = ltp.HNPAGEMAP.build(dict(cAlloc=len(items), cFree=0, rgibAlloc=starts))
    return header + body + bytes(ib_hnpm - 12 - len(body)) + page_map


def _pc(props: list[tuple[int, int, bytes]], four_k=False) -> bytes:
    """A PC heap: BTH header (item 1), records (item 2), then values over 4 bytes."""
    records, values = [], []
    for prop_id, ptype, raw in sorted(props):
        if len(raw) <= 4 and ptype not in (0x1F, 0x1E, 0x102):
            hnid = int.from_bytes(raw.ljust(4, b"\0"), "little")
        else:
            values.append(raw)
            hnid = ltp.make_hid(0, 2 + len(values), four_k)
        records.append(ltp.PCBTH.build(dict(wPropId=prop_id, wPropType=ptype, dwValueHnid=hnid)))
    bth = ltp.BTHHEADER.build(
        dict(cbKey=2, cbEnt=6, bIdxLevels=0, hidRoot=ltp.make_hid(0, 2, four_k))
    )
    return _heap(0xBC, [bth, b"".join(records), *values])


def _build_store(
    fmt, nodes, crypt=0, compress=False, client=b"SM", wver=None, prepare=None
) -> bytes:
    """A minimal store built with the shared declarations: one NBT and one BBT leaf page."""
    page = fmt.page_size
    out = bytearray(0x4400 if page == 512 else 0x5000)
    bbt, nbt, next_bid = [], [], [4]

    def block(data: bytes, internal: bool = False) -> int:
        bid = next_bid[0] | (2 if internal else 0)
        next_bid[0] += 4
        stored = data if internal else encoding.encode_block(data, crypt, bid)
        inflated = len(stored)
        if compress and not internal and len(zlib.compress(stored)) < len(stored):
            stored = zlib.compress(stored)
        ib = len(out)
        trailer = dict(
            cb=len(stored),
            wSig=encoding.compute_sig(ib, bid),
            dwCRC=encoding.crc32(stored),
            bid=bid,
        )
        if fmt.name == "4k":
            trailer["cbInflated"] = inflated
        size = ndb.block_size(fmt, len(stored))
        raw = stored + bytes(size - len(stored) - fmt.block_trailer_size)
        out.extend(raw + fmt.BLOCKTRAILER.build(trailer))
        entry = dict(BREF=dict(bid=bid, ib=ib), cb=len(stored), cRef=2)
        if fmt.name == "4k":
            entry["cbInflated"] = inflated
        bbt.append(entry)
        return bid

    if prepare is not None:  # builds blocks itself; returns (nid, bidData, parent, bidSub)
        nodes = list(nodes) + prepare(block)
    for nid, data, parent, *sub in nodes:
        bid_data = data if isinstance(data, int) else block(data)
        nbt.append(dict(nid=nid, bidData=bid_data, bidSub=sub[0] if sub else 0, nidParent=parent))

    def bt_page(ptype, decl, entries, bid) -> dict:
        while len(out) % page:
            out.append(0)
        ib = len(out)
        blob = b"".join(decl.build(e) for e in entries)
        raw = fmt.BTPAGE.build(
            dict(
                rgentries=blob,
                cEnt=len(entries),
                cEntMax=fmt.btentries_size // decl.sizeof(),
                cbEnt=decl.sizeof(),
                cLevel=0,
                pageTrailer=dict(
                    ptype=ptype,
                    ptypeRepeat=ptype,
                    wSig=encoding.compute_sig(ib, bid),
                    dwCRC=0,
                    bid=bid,
                ),
            )
        )
        crc = ndb.page_crc(fmt, raw)
        raw = fmt.BTPAGE.build(
            dict(
                fmt.BTPAGE.parse(raw),
                pageTrailer=dict(fmt.BTPAGE.parse(raw).pageTrailer, dwCRC=crc),
            )
        )
        out.extend(raw)
        return dict(bid=bid, ib=ib)

    nbt_ref = bt_page(ndb.PTYPE_NBT, fmt.NBTENTRY, sorted(nbt, key=lambda e: e["nid"]), 0x100)
    bbt_ref = bt_page(
        ndb.PTYPE_BBT, fmt.BBTENTRY, sorted(bbt, key=lambda e: e["BREF"]["bid"]), 0x101
    )
    header = dict(
        dwCRCPartial=0,
        wMagicClient=client,
        wVer=wver or {"ansi": 14, "unicode": 23, "4k": 36}[fmt.name],
        wVerClient=19,
        bPlatformCreate=1,
        bPlatformAccess=1,
        bidNextP=0x102,
        bidNextB=next_bid[0],
        dwUnique=1,
        rgnid=list(ndb.RGNID_INITIAL),
        root=dict(
            ibFileEof=len(out),
            ibAMapLast=0,
            cbAMapFree=0,
            cbPMapFree=0,
            BREFNBT=nbt_ref,
            BREFBBT=bbt_ref,
            fAMapValid=0,
        ),
        bSentinel=0x80,
        bCryptMethod=crypt,
        dwCRCFull=0,
    )
    raw = bytearray(fmt.HEADER.build(header))
    raw[4:8] = ndb.header_crc_partial(raw).to_bytes(4, "little")
    if fmt.wide:
        raw[524:528] = ndb.header_crc_full(raw).to_bytes(4, "little")
    out[: len(raw)] = raw
    return bytes(out)


STORE_PROPS = [
    (0x3001, 0x1F, "Synthetic".encode("utf-16-le")),
    (0x0E38, 0x03, (3).to_bytes(4, "little")),
    (0x0FF9, 0x102, bytes(range(16))),
    (0x0E07, 0x0B, b"\x01"),
    (0x0E06, 0x40, (132223104000000000).to_bytes(8, "little")),  # 2020-01-01
    (
        0x1001,
        0x101F,
        struct.pack("<3I", 2, 12, 16) + "ab".encode("utf-16-le") + "xyz".encode("utf-16-le"),
    ),
]


@pytest.mark.parametrize("fmt", list(ndb.FORMATS.values()), ids=list(ndb.FORMATS))
@pytest.mark.parametrize("crypt", [0, 1, 2], ids=["none", "permute", "cyclic"])
def test_schema_built_store_reads_back(tmp_path, fmt, crypt):
    four_k = fmt.name == "4k"
    data = _build_store(
        fmt,
        [(0x21, _pc(STORE_PROPS, four_k), 0)],
        crypt=crypt,
        compress=four_k,
        client=b"SO" if four_k else b"SM",
    )
    with open_pst(_copy(tmp_path, data)) as store:
        assert store.variant == {"ansi": "ansi", "unicode": "unicode", "4k": "ost4k"}[fmt.name]
        assert store.encryption == encoding.CRYPT_NAMES[crypt]
        props = store.props
        assert store.findings == []
        assert props[0x3001] == "Synthetic"
        assert props[0x0E38] == 3 and props[0x0E07] is True
        assert props[0x0FF9] == bytes(range(16))
        assert props[0x0E06].isoformat() == "2020-01-01T00:00:00+00:00"
        assert props[0x1001] == ["ab", "xyz"]
        assert [e.nid for e in store.iter_nodes()] == [0x21]


def test_4k_compressed_block_checks(tmp_path):
    data = bytearray(
        _build_store(
            ndb.UNICODE_4K, [(0x21, _pc(STORE_PROPS, True), 0)], compress=True, client=b"SO"
        )
    )
    with open_pst(_copy(tmp_path, bytes(data))) as store:
        block = _block_of(store, 0x21)
        assert block.cb < len(_pc(STORE_PROPS, True))  # stored compressed
    data[block.ib + 2] ^= 0xFF  # corrupt the zlib stream
    with open_pst(_copy(tmp_path, bytes(data))) as store:
        assert store.props == {}
        codes = {f.code for f in store.findings}
        assert "block_inflate_failed" in codes and "block_crc_mismatch" in codes


def test_ost_unicode_variant(tmp_path):
    data = _build_store(ndb.UNICODE, [(0x21, _pc(STORE_PROPS), 0)], client=b"SO")
    with open_pst(_copy(tmp_path, data)) as store:
        assert store.variant == "ost"


def test_page_map_fast_path_agrees_with_declaration():
    block = _pc(STORE_PROPS)
    ib = int.from_bytes(block[:2], "little")
    assert ltp_reader.read_page_map(block, ib) == list(ltp.HNPAGEMAP.parse(block[ib:]).rgibAlloc)
    with pytest.raises(ValueError):
        ltp_reader.read_page_map(block, len(block) - 2)


def test_absurd_counts_do_not_allocate(tmp_path):
    # A PC whose BTH claims 8 index levels and a page map claiming 65535 items.
    heap = bytearray(_pc(STORE_PROPS))
    ib = int.from_bytes(heap[:2], "little")
    heap[ib : ib + 2] = b"\xff\xff"
    data = _build_store(ndb.UNICODE, [(0x21, bytes(heap), 0)])
    with open_pst(_copy(tmp_path, data)) as store:
        assert store.props == {}
        assert {f.code for f in store.findings} == {"heap_bad_page_map"}


# ---------------------------------------------------------------- the project's own writer


@pytest.mark.parametrize("variant", ["unicode", "ansi"])
@pytest.mark.parametrize("crypt", ["none", "permute", "cyclic"])
def test_synthetic_writer_stores_read_like_libpff(tmp_path, variant, crypt):
    from uidl_inspector.schemas.mapi import PropType as T
    from uidl_inspector.synth.pst_writer import (
        AttachmentSpec,
        MessageSpec,
        Prop,
        StoreSpec,
        write_pst,
    )

    spec = StoreSpec()
    inbox = next(f for f in spec.folders if f.name == "Inbox")
    blob = bytes(range(256)) * 80  # 20 KB: an XBLOCK data tree in a subnode
    inner = MessageSpec({0x001A: Prop(T.UNICODE, "IPM.Note"), 0x0037: Prop(T.UNICODE, "inner")})
    inbox.messages.append(
        MessageSpec(
            {0x001A: Prop(T.UNICODE, "IPM.Note"), 0x0037: Prop(T.UNICODE, "outer")},
            attachments=[AttachmentSpec({0x3707: Prop(T.UNICODE, "e.msg")}, embedded=inner)],
        )
    )
    inbox.associated.append(
        MessageSpec(
            {
                0x001A: Prop(T.UNICODE, "IPM.MessageManager"),
                0x0037: Prop(T.UNICODE, "Outlook Message Manager (Outlook)"),
            },
            attachments=[
                AttachmentSpec({0x3707: Prop(T.UNICODE, "BlobPOPa@example.org")}, data=blob),
                AttachmentSpec({0x3707: Prop(T.UNICODE, "small")}, data=b"\x03\x00\x00\x00"),
            ],
        )
    )
    path = tmp_path / f"w-{variant}-{crypt}.pst"
    write_pst(spec, path, variant=variant, encoding=crypt)
    with open_pst(path, check_parents=True) as store:
        assert (store.variant, store.encryption) == (variant, crypt)
        assert _our_tree(store) == _pff_tree(path)
        folder = next(f for f in walk_folders(store.root_folder(), []) if f.name == "Inbox")
        (manager,) = list(folder.associated())
        assert [a.data for a in manager.attachments()] == [blob, b"\x03\x00\x00\x00"]
        assert [a.props.get(0x3707) for a in manager.attachments()] == [
            "BlobPOPa@example.org",
            "small",
        ]
        (outer,) = list(folder.messages())
        assert outer.attachments()[0].embedded().subject == "inner"
        assert not manager.findings and not outer.findings and store.findings == []


def _pc_with_subnode_value(four_k: bool) -> bytes:
    """A PC whose 0x3701 value lives in subnode 0x3F (a HNID with a non-zero type)."""
    records = ltp.PCBTH.build(dict(wPropId=0x3701, wPropType=0x102, dwValueHnid=0x3F))
    bth = ltp.BTHHEADER.build(
        dict(cbKey=2, cbEnt=6, bIdxLevels=0, hidRoot=ltp.make_hid(0, 2, four_k))
    )
    return _heap(0xBC, [bth, records])


@pytest.mark.parametrize("fmt", list(ndb.FORMATS.values()), ids=list(ndb.FORMATS))
def test_siblock_xblock_and_subnode_value(tmp_path, fmt):
    four_k = fmt.name == "4k"
    parts = [bytes([n]) * 3000 for n in (1, 2, 3)]

    def prepare(block):
        data_bids = [block(p) for p in parts]
        xblock = block(
            fmt.XBLOCK.build(dict(cEnt=3, lcbTotal=9000, rgbid=data_bids)), internal=True
        )
        sl = block(
            fmt.SLBLOCK.build(dict(cEnt=1, rgentries=[dict(nid=0x3F, bidData=xblock, bidSub=0)])),
            internal=True,
        )
        si = block(fmt.SIBLOCK.build(dict(cEnt=1, rgentries=[dict(nid=0x3F, bid=sl)])), True)
        return [(0x21, block(_pc_with_subnode_value(four_k)), 0, si)]

    data = _build_store(fmt, [], prepare=prepare, client=b"SO" if four_k else b"SM")
    with open_pst(_copy(tmp_path, data)) as store:
        assert store.props[0x3701] == b"".join(parts)
        assert store.findings == []


@pytest.mark.parametrize("fmt", [ndb.ANSI, ndb.UNICODE], ids=["ansi", "unicode"])
def test_tree_cycles_and_lies_are_findings(tmp_path, fmt):
    def prepare(block):
        data_bid = block(b"x" * 100)
        # An XBLOCK whose lcbTotal lies, an XXBLOCK that lists itself (its BID is the next).
        liar = block(fmt.XBLOCK.build(dict(cEnt=1, lcbTotal=999, rgbid=[data_bid])), True)
        me = (data_bid + 8) | 2
        loop = block(fmt.XXBLOCK.build(dict(cEnt=2, lcbTotal=5, rgbid=[liar, me])), True)
        assert loop == me
        sl = block(
            fmt.SLBLOCK.build(dict(cEnt=1, rgentries=[dict(nid=0x3F, bidData=loop, bidSub=0)])),
            True,
        )
        return [(0x21, block(_pc_with_subnode_value(False)), 0, sl)]

    with open_pst(_copy(tmp_path, _build_store(fmt, [], prepare=prepare))) as store:
        assert store.props[0x3701] == b"x" * 100
        codes = {f.code for f in store.findings}
        assert {"data_tree_cycle", "data_tree_size_mismatch"} <= codes


@pytest.mark.parametrize("path", REAL_PSTS, ids=IDS)
def test_heap_page_map_fast_path_on_real_heaps(path):
    from uidl_inspector.store.ndb import Node

    checked = 0
    with open_pst(path) as store:
        for entry in store.iter_nodes():
            for block in Node(store.ndb, entry).blocks():
                if len(block) < 12 or block[2] != 0xEC:
                    continue
                ib = int.from_bytes(block[:2], "little")
                declared = list(ltp.HNPAGEMAP.parse(block[ib:]).rgibAlloc)
                assert ltp_reader.read_page_map(block, ib) == declared
                checked += 1
    assert checked > 20


def _levels_read(message) -> tuple[int, list[str]]:
    """How many messages down an embedding chain a reader opens, and the codes on the
    attachment where it stops."""
    levels = 0
    while True:
        levels += 1
        (attachment,) = message.attachments()
        inner = attachment.embedded()
        if inner is None:
            return levels, [f.code for f in attachment.findings]
        message = inner


def test_embedding_bound_is_the_msg_readers(tmp_path):
    """The PST reader refuses an embedded message at the depth the MSG reader does, on the
    attachment, before opening it (one bound: MAX_EMBED_DEPTH)."""
    from tests.test_finding_codes import _nested

    from uidl_inspector.schemas.mapi import PropType as T
    from uidl_inspector.store.model import MAX_EMBED_DEPTH
    from uidl_inspector.store.msg import open_msg
    from uidl_inspector.synth.pst_writer import (
        AttachmentSpec,
        MessageSpec,
        Prop,
        StoreSpec,
        write_pst,
    )

    depth = MAX_EMBED_DEPTH + 2
    spec = MessageSpec({0x1A: Prop(T.UNICODE, "IPM.Note")})
    for _ in range(depth):
        attachment = AttachmentSpec({0x3707: Prop(T.UNICODE, "e.msg")}, embedded=spec)
        spec = MessageSpec({0x1A: Prop(T.UNICODE, "IPM.Note")}, [attachment])
    store_spec = StoreSpec()
    next(f for f in store_spec.folders if f.name == "Inbox").messages.append(spec)
    write_pst(store_spec, tmp_path / "deep.pst")
    (tmp_path / "deep.msg").write_bytes(_nested(depth))
    with open_pst(tmp_path / "deep.pst") as store:
        inbox = next(f for f in walk_folders(store.root_folder(), []) if f.name == "Inbox")
        pst = _levels_read(next(iter(inbox.messages())))
    msg = _levels_read(open_msg(str(tmp_path / "deep.msg")))
    assert pst == msg == (MAX_EMBED_DEPTH + 1, ["embedding_too_deep"])
