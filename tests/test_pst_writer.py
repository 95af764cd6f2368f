"""The PST writer, judged by readers we did not write: libpff (pypff and its C API) and readpst.

Every variant (unicode, ansi) x encoding (none, permute, cyclic) is written from one spec
and read back; structural invariants (fast build paths, orphans, determinism, B-tree depth)
are checked with the shared declarations.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
from datetime import datetime, timedelta, timezone
from email.header import decode_header, make_header
from pathlib import Path

import pypff
import pytest

from conftest import need_peer
from libpff_oracle import hidden_messages
from uidl_inspector.schemas import ltp, ndb
from uidl_inspector.schemas.encoding import compute_sig, crc32, decode_block
from uidl_inspector.schemas.mapi import PropType as T
from uidl_inspector.synth import ltp_writer, ndb_writer
from uidl_inspector.synth.pst_writer import (
    AttachmentSpec,
    FolderSpec,
    MessageSpec,
    Prop,
    StoreSpec,
    write_pst,
)

VARIANTS = ["unicode", "ansi"]
ENCODINGS = ["none", "permute", "cyclic"]
T0 = datetime(2024, 3, 1, 8, 30, tzinfo=timezone.utc)


def _blob(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def _normal(i: int, folder: str, **extra: Prop) -> MessageSpec:
    props = {
        0x001A: Prop(T.UNICODE, "IPM.Note"),
        0x0037: Prop(T.UNICODE, f"{folder} message {i} – café"),
        0x1035: Prop(T.UNICODE, f"<{folder.lower().replace(' ', '')}.{i}@mail.example.org>"),
        0x0E06: Prop(T.TIME, T0 + timedelta(minutes=7 * i, seconds=i)),
        0x0C1A: Prop(T.UNICODE, "Alice Sender"),
        0x1000: Prop(T.UNICODE, f"Body of message {i}\r\n"),
        0x007D: Prop(T.UNICODE, f"Message-ID: <{i}@mail.example.org>\r\nFrom: a@example.org\r\n"),
    }
    props.update(extra)
    return MessageSpec(props)


def _manager(profile: str, key: bytes, blobs: dict[str, bytes]) -> MessageSpec:
    subject = f"Outlook Message Manager ({profile}) (KEY: {key.hex().upper()})"
    return MessageSpec(
        {
            0x001A: Prop(T.UNICODE, "IPM.MessageManager"),
            0x0037: Prop(T.UNICODE, subject),
            0x000B: Prop(T.BINARY, key),
            0x300B: Prop(T.BINARY, key),
        },
        attachments=[
            AttachmentSpec(
                {
                    0x3707: Prop(T.UNICODE, name),
                    0x3704: Prop(T.UNICODE, name),
                    0x3001: Prop(T.UNICODE, name),
                },
                data=data,
            )
            for name, data in blobs.items()
        ],
    )


def build_spec() -> StoreSpec:
    """Folders Outlook creates, a sub-folder, normal and hidden messages, every attachment
    storage form (inline, 5 KB subnode, 20 KB XBLOCK, embedded message) and one orphan."""
    spec = StoreSpec()
    inbox = next(f for f in spec.folders if f.name == "Inbox")
    inbox.messages = [_normal(i, "Inbox") for i in range(4)]
    m0 = inbox.messages[0]
    m0.attachments = [
        AttachmentSpec({0x3707: Prop(T.UNICODE, "small.txt")}, data=b"tiny attachment"),
        AttachmentSpec({0x3707: Prop(T.UNICODE, "five.bin")}, data=_blob(5 * 1024, 1)),
        AttachmentSpec({0x3707: Prop(T.UNICODE, "twenty.bin")}, data=_blob(20 * 1024 + 7, 2)),
        AttachmentSpec({0x3707: Prop(T.UNICODE, "forwarded")}, embedded=_normal(99, "Embedded")),
    ]
    inbox.messages[2].props[0x1000] = Prop(T.UNICODE, "long body line\r\n" * 700)  # XBLOCK
    inbox.messages[2].props[0x3A05] = Prop(T.MV_UNICODE, ["first", "second value"])
    inbox.messages[1].recipients = [
        {
            0x3001: Prop(T.UNICODE, "Bob"),
            0x3003: Prop(T.UNICODE, "bob@example.org"),
            0x3002: Prop(T.UNICODE, "SMTP"),
            0x0C15: Prop(T.INT32, 1),
        }
    ]
    key = bytes(range(16))
    nested = _manager("Old", b"General Key\0", {"BlobPOPold@example.org": _blob(300, 4)})
    inbox.associated = [
        _manager(
            "Outlook",
            key,
            {"BlobPOPalice@example.org": _blob(2000, 3), "Blob0a1b2c3d": _blob(9000, 5)},
        ),
        MessageSpec(
            {
                0x001A: Prop(T.UNICODE, "IPM.Microsoft.WunderBar.Link"),
                0x0037: Prop(T.UNICODE, "WunderBar"),
            }
        ),
        MessageSpec(
            {
                0x001A: Prop(T.UNICODE, "IPM.Note"),
                0x0037: Prop(T.UNICODE, "Holder of an embedded manager"),
            },
            attachments=[AttachmentSpec({0x3707: Prop(T.UNICODE, "mm")}, embedded=nested)],
        ),
    ]
    inbox.folders = [FolderSpec("Boîte de réception", messages=[_normal(0, "Sub")])]
    sent = next(f for f in spec.folders if f.name == "Sent Items")
    sent.messages = [_normal(i, "Sent") for i in range(2)]
    spec.orphans = [_manager("Deleted", b"\x11" * 16, {"BlobPOPgone@example.org": _blob(700, 6)})]
    return spec


@pytest.fixture(
    scope="module",
    params=[(v, e) for v in VARIANTS for e in ENCODINGS],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def written(request, tmp_path_factory):
    variant, encoding = request.param
    spec = build_spec()
    path = tmp_path_factory.mktemp(f"{variant}-{encoding}") / "store.pst"
    write_pst(spec, path, variant=variant, encoding=encoding, seed=7)
    return spec, path, variant, encoding


def _open(path: Path) -> pypff.file:
    f = pypff.file()
    f.open(str(path))
    return f


def _entries(item) -> dict[int, tuple[int, bytes | None]]:
    out = {}
    for rs in item.record_sets:
        for e in rs.entries:
            out[e.entry_type] = (e.value_type, e.data)
    return out


def _text(entry: tuple[int, bytes | None] | None) -> str | None:
    if entry is None or entry[1] is None:
        return None
    vt, data = entry
    return data.decode("utf-16-le" if vt == 0x1F else "cp1252").rstrip("\0")


def _tree(folder) -> list:
    return [(f.name, _tree(f)) for f in folder.sub_folders]


def _spec_tree(folders: list[FolderSpec]) -> list:
    return [(f.name, _spec_tree(f.folders)) for f in folders]


def _pairs(spec_folders: list[FolderSpec], pff_folders) -> list:
    out = []
    pff = list(pff_folders)
    assert [f.name for f in pff] == [f.name for f in spec_folders]
    for s, p in zip(spec_folders, pff, strict=True):
        out.append((s, p))
        out += _pairs(s.folders, p.sub_folders)
    return out


# -- libpff (pypff) ----------------------------------------------------------------


def test_folder_tree_is_the_spec(written):
    spec, path, _, _ = written
    root = _open(path).get_root_folder()
    top, search = root.sub_folders
    assert (top.name, search.name) == (spec.top_name, "Search Root")
    assert _tree(top) == _spec_tree(spec.folders)
    assert top.identifier == 0x8022
    assert next(f for f in top.sub_folders if f.name == "Deleted Items").identifier == 0x8062


def test_messages_and_hidden_items_are_the_spec(written):
    spec, path, variant, _ = written
    top = _open(path).get_root_folder().sub_folders[0]
    string_type = 0x1F if variant == "unicode" else 0x1E
    for fs, fp in _pairs(spec.folders, top.sub_folders):
        assert fp.identifier == fs.nid
        got = []
        for m in fp.sub_messages:
            e = _entries(m)
            assert e[0x0037][0] == string_type
            got.append((m.identifier, m.subject, _text(e.get(0x1035)), m.delivery_time))
            body = m.plain_text_body
            assert body is not None and body.decode("utf-8").rstrip("\0") == _spec_body(fs, m)
        want = [
            (
                m.nid,
                m.props[0x37].value,
                m.props[0x1035].value,
                m.props[0x0E06].value.replace(tzinfo=None),
            )
            for m in fs.messages
        ]
        assert got == want
        hidden = [s for s in fp.sub_items if s.identifier & 0x1F == 8]
        got_hidden = []
        for h in hidden:
            e = _entries(h)
            got_hidden.append(
                (
                    h.identifier,
                    _text(e.get(0x001A)),
                    _text(e.get(0x0037)),
                    e.get(0x000B, (0, None))[1],
                    e.get(0x300B, (0, None))[1],
                )
            )
        want_hidden = [
            (
                m.nid,
                m.props[0x1A].value,
                m.props[0x37].value,
                m.props[0x0B].value if 0x0B in m.props else None,
                m.props[0x300B].value if 0x300B in m.props else None,
            )
            for m in fs.associated
        ]
        if not fs.associated:
            assert got_hidden == []
            continue
        # the writer fills 0x300B when the spec omits it: compare what the spec gave
        assert [g[:4] for g in got_hidden] == [w[:4] for w in want_hidden]
        for g, w in zip(got_hidden, want_hidden, strict=True):
            if w[4] is not None:
                assert g[4] == w[4]
            else:
                assert g[4] is not None and len(g[4]) == 16


def _spec_body(folder: FolderSpec, m) -> str:
    spec_msg = next(x for x in folder.messages if x.nid == m.identifier)
    return spec_msg.props[0x1000].value


def test_attachments_are_byte_equal(written):
    spec, path, _, _ = written
    inbox_spec = next(f for f in spec.folders if f.name == "Inbox")
    top = _open(path).get_root_folder().sub_folders[0]
    inbox = next(f for f in top.sub_folders if f.name == "Inbox")
    m = inbox.get_sub_message(0)
    want = inbox_spec.messages[0].attachments
    assert m.number_of_attachments == len(want)
    for a, s in zip(m.attachments, want, strict=True):
        assert a.identifier == s.nid
        if s.data is not None:
            assert a.size == len(s.data)
            assert a.read_buffer(a.size) == s.data
        else:  # embedded message: its object data is the message's node, non-empty
            e = _entries(a)
            assert e[0x3701][0] == 0x000D
            assert a.size > 0


@pytest.mark.peers
def test_hidden_blobs_through_libpff_c_api(written):
    spec, path, _, _ = written
    inbox_spec = next(f for f in spec.folders if f.name == "Inbox")
    found = {h.nid: h for h in hidden_messages(path)}
    assert set(found) == {m.nid for m in inbox_spec.associated}
    manager, _, holder = inbox_spec.associated
    got = found[manager.nid]
    assert got.message_class == "IPM.MessageManager"
    assert got.conversation_key == manager.props[0x0B].value
    assert got.blobs() == {(i,): a.data for i, a in enumerate(manager.attachments)}
    nested = holder.attachments[0].embedded
    assert found[holder.nid].blobs() == {(0, 0): nested.attachments[0].data}


def test_orphan_blocks_remain_unreferenced(written):
    spec, path, variant, encoding = written
    orphan = spec.orphans[0]
    assert orphan.nid is not None and orphan.nid & 0x1F == 8
    assert orphan.block_ranges
    fmt = ndb.FORMATS[variant]
    data = path.read_bytes()
    bbt = _bbt_bids(data, fmt)
    blob = orphan.attachments[0].data
    found_blob = False
    for ib, size in orphan.block_ranges:
        block = data[ib : ib + size]
        trailer = fmt.BLOCKTRAILER.parse(block[-fmt.block_trailer_size :])
        stored = block[: trailer.cb]
        assert trailer.dwCRC == crc32(stored)
        assert trailer.wSig == compute_sig(ib, trailer.bid)
        assert trailer.bid not in bbt
        if not trailer.bid & 2:
            plain = decode_block(stored, ndb_writer.CRYPT[encoding], trailer.bid)
            found_blob |= blob in plain
    assert found_blob
    ids = {h.nid for h in hidden_messages(path)}
    assert orphan.nid not in ids


def _bbt_bids(data: bytes, fmt: ndb.NdbFormat) -> set[int]:
    """Every BID of the BBT, walking pages with the shared declarations (bounded)."""
    header = fmt.HEADER.parse(data)
    todo = [header.root.BREFBBT.ib]
    bids: set[int] = set()
    seen: set[int] = set()
    while todo:
        ib = todo.pop()
        assert ib not in seen and len(seen) < 100_000
        seen.add(ib)
        page = fmt.BTPAGE.parse(data[ib : ib + fmt.page_size])
        entry = fmt.BTENTRY if page.cLevel else fmt.BBTENTRY
        for i in range(page.cEnt):
            e = entry.parse(page.rgentries[i * page.cbEnt : (i + 1) * page.cbEnt])
            if page.cLevel:
                todo.append(e.BREF.ib)
            else:
                bids.add(e.BREF.bid)
    return bids


# -- readpst (libpst) --------------------------------------------------------------


def _readpst(path: Path, out: Path) -> tuple[str, dict[str, str]]:
    tool = need_peer("readpst")
    out.mkdir()
    run = subprocess.run(
        [tool, "-o", str(out), "-D", "-j", "1", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    files = {
        str(p.relative_to(out)): p.read_text("utf-8", errors="replace")
        for p in out.rglob("*")
        if p.is_file()
    }
    return run.stdout + run.stderr, files


def _subjects(text: str) -> list[str]:
    """Subject lines of readpst's mbox output, RFC 2047 words decoded."""
    out = []
    for line in text.splitlines():
        if line.startswith("Subject: "):
            out.append(str(make_header(decode_header(line[len("Subject: ") :]))))
    return out


@pytest.mark.peers
def test_readpst_exports_the_normal_messages(written, tmp_path):
    spec, path, variant, _ = written
    log, files = _readpst(path, tmp_path / "out")
    assert "error" not in log.lower()
    text = "\n".join(files.values())
    subjects = _subjects(text)
    want = [
        m.props[0x37].value
        for f, _ in _pairs(spec.folders, _open(path).get_root_folder().sub_folders[0].sub_folders)
        for m in f.messages
    ]
    embedded = "Embedded message 99 – café"
    if variant == "ansi":  # our String8 is cp1252; readpst labels 8-bit strings ISO-8859-1
        want = [w.encode("cp1252").decode("latin-1") for w in want]
        embedded = embedded.encode("cp1252").decode("latin-1")
    for w in want:
        assert w in subjects
    # the embedded message travels inside its parent, and the 20 KB attachment too
    assert embedded in subjects
    assert "twenty.bin" in text


# -- structure ---------------------------------------------------------------------


@pytest.mark.peers
@pytest.mark.parametrize("variant", VARIANTS)
def test_many_messages_need_multi_level_btrees_and_read_in_both_peers(variant, tmp_path):
    spec = StoreSpec()
    inbox = next(f for f in spec.folders if f.name == "Inbox")
    inbox.messages = [
        MessageSpec(
            {
                0x0037: Prop(T.UNICODE, f"bulk {i}"),
                0x1035: Prop(T.UNICODE, f"<{i}@bulk>"),
                0x0E06: Prop(T.TIME, T0 + timedelta(seconds=i)),
            }
        )
        for i in range(5000)
    ]
    path = tmp_path / "bulk.pst"
    write_pst(spec, path, variant=variant)
    fmt = ndb.FORMATS[variant]
    data = path.read_bytes()
    header = fmt.HEADER.parse(data)
    for bref in (header.root.BREFNBT, header.root.BREFBBT):
        assert fmt.BTPAGE.parse(data[bref.ib : bref.ib + 512]).cLevel >= 1
    folder = next(
        f for f in _open(path).get_root_folder().sub_folders[0].sub_folders if f.name == "Inbox"
    )
    assert folder.number_of_sub_messages == 5000
    assert [folder.get_sub_message(i).subject for i in (0, 2500, 4999)] == [
        "bulk 0",
        "bulk 2500",
        "bulk 4999",
    ]
    log, files = _readpst(path, tmp_path / "out")
    assert "error" not in log.lower()
    assert sorted(_subjects("\n".join(files.values()))) == sorted(f"bulk {i}" for i in range(5000))


def test_xxblock_attachment_over_8_mb(tmp_path):
    spec = StoreSpec()
    inbox = next(f for f in spec.folders if f.name == "Inbox")
    big = _blob(1021 * 8176 + 4096, 9)  # one XBLOCK holds at most 1021 * 8176 bytes
    inbox.messages = [_normal(0, "Inbox")]
    inbox.messages[0].attachments = [AttachmentSpec({0x3707: Prop(T.UNICODE, "big")}, data=big)]
    path = tmp_path / "big.pst"
    write_pst(spec, path)
    m = next(
        f for f in _open(path).get_root_folder().sub_folders[0].sub_folders if f.name == "Inbox"
    ).get_sub_message(0)
    a = m.get_attachment(0)
    assert a.size == len(big)
    assert hashlib.sha256(a.read_buffer(a.size)).digest() == hashlib.sha256(big).digest()


def test_same_seed_same_bytes_and_no_stray_files(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for d in (a, b, c):
        d.mkdir()
    write_pst(build_spec(), a / "s.pst", seed=3)
    write_pst(build_spec(), b / "s.pst", seed=3)
    write_pst(build_spec(), c / "s.pst", seed=4)
    assert (a / "s.pst").read_bytes() == (b / "s.pst").read_bytes()
    assert (a / "s.pst").read_bytes() != (c / "s.pst").read_bytes()
    assert os.listdir(a) == ["s.pst"]
    with pytest.raises(ValueError):
        write_pst(build_spec(), a / "bad.pst", variant="4k")
    assert os.listdir(a) == ["s.pst"]


def test_ansi_turns_unicode_strings_into_string8(tmp_path):
    spec = StoreSpec()
    inbox = next(f for f in spec.folders if f.name == "Inbox")
    inbox.messages = [_normal(0, "Inbox")]
    inbox.messages[0].props[0x3A05] = Prop(T.MV_UNICODE, ["x", "yz"])
    path = tmp_path / "a.pst"
    write_pst(spec, path, variant="ansi")
    m = next(
        f for f in _open(path).get_root_folder().sub_folders[0].sub_folders if f.name == "Inbox"
    ).get_sub_message(0)
    e = _entries(m)
    assert e[0x0037][0] == 0x1E and _text(e[0x0037]) == "Inbox message 0 – café"
    assert e[0x3A05][0] == 0x101E


def test_header_crcs_and_file_size(written):
    _, path, variant, encoding = written
    fmt = ndb.FORMATS[variant]
    data = path.read_bytes()
    h = fmt.HEADER.parse(data)
    assert h.dwCRCPartial == ndb.header_crc_partial(data)
    if fmt.wide:
        assert h.dwCRCFull == ndb.header_crc_full(data)
    assert h.root.ibFileEof == len(data)
    assert (len(data) - 0x4400) % ndb_writer.AMAP_RANGE == 0
    assert h.bCryptMethod == ndb_writer.CRYPT[encoding]
    amap = fmt.AMAPPAGE.parse(data[0x4400:0x4600])
    assert amap.pageTrailer.ptype == ndb.PTYPE_AMAP and amap.rgbBits[0] & 0xC0 == 0xC0


# -- fast build paths agree with the declarations -----------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_fast_builders_equal_declared_builds(variant):
    fmt = ndb.FORMATS[variant]
    rng = random.Random(1)
    for decl in (
        fmt.BLOCKTRAILER,
        fmt.BTENTRY,
        fmt.BBTENTRY,
        fmt.NBTENTRY,
        ltp.PCBTH,
        ltp.TCROWID_UNICODE,
        ltp.TCROWID_ANSI,
        ltp.bth_index_record(4),
    ):
        fast = ndb_writer.FastBuild(decl)
        for _ in range(20):
            values = {}
            for name, code in zip(fast.fields, fast._defaults, strict=True):
                values[name] = rng.randbytes(4) if code == b"" else rng.randrange(1 << 16)
            nested = _nest(values)
            assert fast(**values) == decl.build(nested)
    samples = [
        (
            ltp.HNHDR,
            {"ibHnpm": 300, "bClientSig": 0xBC, "hidUserRoot": 0x20, "rgbFillLevel": b"\1\2\3\4"},
        ),
        (ltp.HNPAGEMAP, {"cAlloc": 3, "cFree": 0, "rgibAlloc": [12, 20, 28, 40]}),
        (ltp.BTHHEADER, {"cbKey": 2, "cbEnt": 6, "bIdxLevels": 0, "hidRoot": 0x40}),
        (ltp.PTYPOBJECT, {"Nid": 0x200044, "ulSize": 7816}),
        (
            fmt.SLBLOCK,
            {
                "cEnt": 2,
                "rgentries": [
                    {"nid": 0x671, "bidData": 8, "bidSub": 0},
                    {"nid": 0x692, "bidData": 12, "bidSub": 6},
                ],
            },
        ),
        (fmt.XBLOCK, {"cEnt": 3, "lcbTotal": 20000, "rgbid": [4, 8, 12]}),
        (
            ltp.TCINFO,
            {
                "cCols": 1,
                "rgib": [8, 8, 8, 9],
                "hidRowIndex": 0x40,
                "hnidRows": 0,
                "hidIndex": 0,
                "rgTCOLDESC": [{"tag": 0x67F20003, "ibData": 0, "cbData": 4, "iBit": 0}],
            },
        ),
    ]
    for decl, value in samples:
        assert ndb_writer.compiled(decl).build(value) == decl.build(value)


def _nest(values: dict) -> dict:
    out: dict = {}
    for k, v in values.items():
        if k.startswith("BREF_"):
            out.setdefault("BREF", {})[k[5:]] = v
        else:
            out[k] = v
    return out


def test_heap_items_never_span_blocks_and_hids_address_them():
    heap = ltp_writer.HeapWriter(ltp.CLIENT_SIG_PC, 8176)
    items = [_blob(3000 + i, i) for i in range(24)]
    hids = [heap.alloc(it) for it in items]
    blocks = heap.blocks()
    assert len(blocks) > 9 and all(len(b) <= 8176 for b in blocks)
    hn = ltp.HNHDR.parse(blocks[0])
    assert (hn.bClientSig, hn.hidUserRoot) == (ltp.CLIENT_SIG_PC, 0)
    # block 8 starts with an HNBITMAPHDR: its first item follows the 66-byte header
    assert (
        ltp.HNPAGEMAP.parse(blocks[8][int.from_bytes(blocks[8][:2], "little") :]).rgibAlloc[0]
        == ltp.HNBITMAPHDR.sizeof()
    )
    for hid, it in zip(hids, items, strict=True):
        block = blocks[ltp.hid_block_index(hid)]
        ib_hnpm = int.from_bytes(block[:2], "little")
        pm = ltp.HNPAGEMAP.parse(block[ib_hnpm:])
        i = ltp.hid_index(hid)
        assert block[pm.rgibAlloc[i - 1] : pm.rgibAlloc[i]] == it


def test_deleted_items_found_in_a_localized_spec_or_added(tmp_path):
    german = StoreSpec(
        folders=[
            FolderSpec("Posteingang"),
            FolderSpec("Gelöschte Elemente"),
            FolderSpec("Gesendete Elemente", folders=[FolderSpec("Alt")]),
        ]
    )
    write_pst(german, tmp_path / "de.pst")
    top = _open(tmp_path / "de.pst").get_root_folder().sub_folders[0]
    # libpff lists a folder's children by row ID (the NID), not by table position
    assert [(f.name, f.identifier) for f in top.sub_folders] == sorted(
        ((f.name, f.nid) for f in german.folders), key=lambda x: x[1]
    )
    assert german.folders[1].nid == 0x8062
    assert len({f.nid for f in german.folders} | {german.folders[2].folders[0].nid}) == 4
    bare = StoreSpec(folders=[FolderSpec("Inbox")])
    write_pst(bare, tmp_path / "bare.pst")
    top = _open(tmp_path / "bare.pst").get_root_folder().sub_folders[0]
    assert [(f.name, f.identifier) for f in top.sub_folders] == [
        ("Deleted Items", 0x8062),
        ("Inbox", bare.folders[0].nid),
    ]
    # a spec written twice keeps its NIDs and its bytes
    first = (tmp_path / "de.pst").read_bytes()
    write_pst(german, tmp_path / "de2.pst")
    assert (tmp_path / "de2.pst").read_bytes() == first


def test_shared_block_gets_a_fresh_copy_when_cref_is_full():
    import io

    out = io.BytesIO()
    w = ndb_writer.NdbWriter(out, "unicode")
    bids = {w.add_data(b"same bytes", share="k") for _ in range(0xFFFF + 10)}
    assert len(bids) == 2
    w.add_node(0x21, min(bids), 0, 0)
    w.finish(rgnid=list(ndb.RGNID_INITIAL))
    data = out.getvalue()
    fmt = ndb.UNICODE
    root = fmt.HEADER.parse(data).root.BREFBBT
    page = fmt.BTPAGE.parse(data[root.ib : root.ib + 512])
    refs = [
        fmt.BBTENTRY.parse(page.rgentries[i * 24 : (i + 1) * 24]).cRef for i in range(page.cEnt)
    ]
    # cRef counts the BBT entry plus each referrer: 65,534 users fill one copy
    assert sorted(refs) == [1 + (0xFFFF + 10 - 0xFFFE), 0xFFFF]


# -- round trip through the project's own reader (store/) ---------------------------


def test_round_trip_through_the_native_reader(written):
    from uidl_inspector.store.pst import open_pst

    spec, path, variant, encoding = written
    with open_pst(path, check_parents=True) as store:
        assert (store.variant, store.encryption) == (variant, encoding)
        assert store.findings == []
        top = next(f for f in store.root_folder().subfolders() if f.name == spec.top_name)
        problems: list = []
        _compare_folders(spec.folders, list(top.subfolders()), problems)
        assert problems == []
        assert store.ndb.btrees.node_entry(spec.orphans[0].nid) is None  # no NBT entry
        nodes = {e.nid for e in store.iter_nodes()}
        # the nodes a new store holds ([MS-PST] 2.7.1): store, name map, root folder and its
        # tables, search queues, table templates, IPM subtree, search root, Deleted Items
        assert {
            0x21,
            0x61,
            0x122,
            0x12D,
            0x12E,
            0x12F,
            0x1E1,
            0x201,
            0x60D,
            0x60E,
            0x60F,
            0x610,
            0x671,
            0x692,
            0x8022,
            0x802D,
            0x8042,
            0x8062,
        } <= nodes


def _compare_folders(specs: list[FolderSpec], folders: list, problems: list) -> None:
    if [(f.nid, f.name) for f in folders] != [(s.nid, s.name) for s in specs]:
        problems.append(("folders", [f.name for f in folders], [s.name for s in specs]))
        return
    for s, f in zip(specs, folders, strict=True):
        problems += [("folder", f.path, x) for x in f.findings]
        msgs = list(f.messages())
        got = [
            (
                m.nid,
                m.subject,
                m.props.get(0x1035),
                m.props.get(0x0E06),
                m.props.get(0x1000),
                m.props.get(0x3A05),
            )
            for m in msgs
        ]
        want = [
            (
                m.nid,
                m.props[0x37].value,
                m.props[0x1035].value,
                m.props[0x0E06].value,
                m.props[0x1000].value,
                m.props[0x3A05].value if 0x3A05 in m.props else None,
            )
            for m in s.messages
        ]
        if got != want:
            problems.append(("messages", f.path, got, want))
        for m, ms in zip(msgs, s.messages, strict=False):
            problems += [("message", m.nid, x) for x in m.findings]
            _compare_attachments(m.attachments(), ms.attachments, problems)
        hidden = list(f.associated())
        got_h = [(m.nid, m.message_class, m.subject, m.props.get(0x0B)) for m in hidden]
        want_h = [
            (
                m.nid,
                m.props[0x1A].value,
                m.props[0x37].value,
                m.props[0x0B].value if 0x0B in m.props else None,
            )
            for m in s.associated
        ]
        if got_h != want_h:
            problems.append(("hidden", f.path, got_h, want_h))
        for m, ms in zip(hidden, s.associated, strict=False):
            _compare_attachments(m.attachments(), ms.attachments, problems)
        _compare_folders(s.folders, list(f.subfolders()), problems)


def _compare_attachments(got: list, want: list[AttachmentSpec], problems: list) -> None:
    if [a.nid for a in got] != [a.nid for a in want]:
        problems.append(("attachments", [a.nid for a in got], [a.nid for a in want]))
        return
    for a, sa in zip(got, want, strict=True):
        problems += [("attachment", a.nid, x) for x in a.findings]
        if sa.data is not None and a.data != sa.data:
            problems.append(("attachment data", a.nid))
        if sa.embedded is not None:
            e = a.embedded()
            if e is None or e.subject != sa.embedded.props[0x37].value:
                problems.append(("embedded", a.nid, e and e.subject))
            else:
                _compare_attachments(e.attachments(), sa.embedded.attachments, problems)


def test_ansi_table_over_65535_rows_is_refused_in_one_line():
    rows = ((i, {}) for i in range(0x10000))
    with pytest.raises(ValueError, match="65,535 rows"):
        ltp_writer.build_tc([(0x0037, T.STRING8)], rows, None, 8180, unicode=False)
