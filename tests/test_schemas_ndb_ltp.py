"""The NDB/LTP declarations parse and build symmetrically, on built and on real bytes."""

from __future__ import annotations

import zlib

import pytest
from construct import CheckError, ConstError, Container
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import REAL_PSTS

from uidl_inspector.schemas import encoding, ltp, ndb

VARIANTS = list(ndb.FORMATS.values())
IDS = [f.name for f in VARIANTS]


def _symmetric(declaration, obj):
    """Build equals bytes, parse equals object, rebuild equals bytes."""
    raw = declaration.build(obj)
    parsed = declaration.parse(raw)
    assert declaration.build(parsed) == raw
    for key, value in obj.items():
        assert parsed[key] == value, key
    return raw, parsed


# ---------------------------------------------------------------- encoding


def test_crc_is_zlib_crc_without_inversions():
    # Reflected CRC-32, initial 0, no final XOR: CRC of nothing is 0, of one zero byte 0.
    assert encoding.crc32(b"") == 0
    assert encoding.crc32(b"\x00") == 0
    data = bytes(range(256))
    assert encoding.crc32(data) == zlib.crc32(data, 0xFFFFFFFF) ^ 0xFFFFFFFF
    assert encoding.crc32(data) != zlib.crc32(data)


def test_mpbbcrypt_tables_are_permutations_and_i_inverts_r():
    table = encoding.MPBBCRYPT
    assert len(table) == 768
    r, s, i = table[:256], table[256:512], table[512:]
    assert sorted(r) == sorted(s) == sorted(i) == list(range(256))
    assert all(i[r[b]] == b for b in range(256))
    assert r[:4] == bytes([0x41, 0x36, 0x13, 0x62])  # §5.1 first values


@pytest.mark.parametrize("method", [0, 1, 2])
def test_block_encodings_round_trip(method):
    data = bytes(range(256)) * 33
    encoded = encoding.encode_block(data, method, 0x1234_5678_9A)
    assert encoding.decode_block(encoded, method, 0x1234_5678_9A) == data
    if method:
        assert encoded != data


def test_cyclic_depends_on_the_bid():
    data = b"uidl" * 50
    assert encoding.cyclic_code(data, 4) != encoding.cyclic_code(data, 8)
    with pytest.raises(ValueError):
        encoding.decode_block(data, 0x10, 4)


def _cyclic_as_written(data: bytes, key: int) -> bytes:
    """[MS-PST] §5.2 transcribed byte by byte: the oracle for the table-driven coder."""
    table = encoding.MPBBCRYPT
    r, s, i = table[:256], table[256:512], table[512:]
    key &= 0xFFFFFFFF
    w = (key ^ (key >> 16)) & 0xFFFF
    out = bytearray(data)
    for index, b in enumerate(out):
        lo, hi = w & 0xFF, w >> 8
        b = r[(b + lo) & 0xFF]
        b = s[(b + hi) & 0xFF]
        b = i[(b - hi) & 0xFF]
        out[index] = (b - lo) & 0xFF
        w = (w + 1) & 0xFFFF
    return bytes(out)


@given(st.binary(max_size=9000), st.integers(0, (1 << 64) - 1))
@settings(max_examples=300, deadline=None)
def test_cyclic_equals_the_spec_byte_by_byte(data, key):
    assert encoding.cyclic_code(data, key) == _cyclic_as_written(data, key)


@pytest.mark.parametrize("low", [0x0000, 0x00FF, 0xFF00, 0xFFF0, 0xFFFF])
def test_cyclic_counter_wraps_as_the_spec_does(low):
    # The 16-bit counter starts near a byte or word boundary and wraps inside the block.
    data = bytes(range(256)) * 20 + b"tail"
    key = 0xABCD_0000 ^ (0xABCD ^ low)  # key ^ (key >> 16) == low
    assert (key ^ (key >> 16)) & 0xFFFF == low
    assert encoding.cyclic_code(data, key) == _cyclic_as_written(data, key)


def test_compute_sig():
    assert encoding.compute_sig(0, 0) == 0
    assert encoding.compute_sig(0x4400, 0x4400) == 0
    v = 0x12345678 ^ 0x9ABC
    assert encoding.compute_sig(0x12345678, 0x9ABC) == (v >> 16) ^ (v & 0xFFFF)
    # Only the low DWORD counts.
    assert encoding.compute_sig(1 << 40, 0) == 0


# ---------------------------------------------------------------- NDB declarations


def _header_obj(fmt):
    root = dict(
        dwReserved=0,
        ibFileEof=0x42400,
        ibAMapLast=0x4400,
        cbAMapFree=1000,
        cbPMapFree=0,
        BREFNBT=dict(bid=0x21, ib=0x4600),
        BREFBBT=dict(bid=0x22, ib=0x4800),
        fAMapValid=2,
        bReserved=0,
        wReserved=0,
    )
    obj = dict(
        dwMagic=b"!BDN",
        dwCRCPartial=0,
        wMagicClient=b"SM",
        wVer=23 if fmt.wide else 14,
        wVerClient=19,
        bPlatformCreate=1,
        bPlatformAccess=1,
        bidNextP=0x30,
        bidNextB=0x40,
        dwUnique=7,
        rgnid=list(ndb.RGNID_INITIAL),
        root=root,
        bSentinel=0x80,
        bCryptMethod=1,
        dwCRCFull=0,
    )
    if not fmt.wide:
        del obj["dwCRCFull"]
    return obj


@pytest.mark.parametrize("fmt", VARIANTS, ids=IDS)
def test_header_symmetry_and_sizes(fmt):
    obj = _header_obj(fmt)
    raw, parsed = _symmetric(fmt.HEADER, obj)
    assert len(raw) == (564 if fmt.wide else 512)
    assert fmt.HEADER.sizeof() == len(raw)
    assert raw[:4] == b"!BDN"
    # bidNextB sits at 516 (Unicode) or 24 (ANSI): the variants differ in order, not width.
    at = 516 if fmt.wide else 24
    assert int.from_bytes(raw[at : at + fmt.bid_size], "little") == 0x40
    assert raw[513 if fmt.wide else 461] == 1  # bCryptMethod
    root_at = 180 if fmt.wide else 164
    assert fmt.ROOT.parse(raw[root_at:]) == parsed.root
    assert parsed.rgbFM == b"\xff" * 128  # Default for deprecated maps


def test_header_rejects_wrong_magic():
    raw = bytearray(ndb.UNICODE.HEADER.build(_header_obj(ndb.UNICODE)))
    raw[0] = 0
    with pytest.raises(ConstError):
        ndb.UNICODE.HEADER.parse(bytes(raw))


@pytest.mark.parametrize("fmt", VARIANTS, ids=IDS)
def test_btpage_symmetry_and_entries(fmt):
    entries = [
        dict(nid=0x21 + 32 * n, bidData=4 * n + 4, bidSub=0, nidParent=0x122) for n in range(5)
    ]
    for e in entries:
        if fmt.wide:
            e["dwPadding"] = 0
    blob = b"".join(fmt.NBTENTRY.build(e) for e in entries)
    trailer = dict(ptype=0x81, ptypeRepeat=0x81, wSig=0x1234, dwCRC=0, bid=0x77)
    if fmt.name == "4k":
        trailer["qwUnknown"] = 0
    page = dict(
        rgentries=blob + bytes(fmt.btentries_size - len(blob)),
        cEnt=5,
        cEntMax=15,
        cbEnt=fmt.NBTENTRY.sizeof(),
        cLevel=0,
        pageTrailer=trailer,
    )
    raw, parsed = _symmetric(fmt.BTPAGE, page)
    assert len(raw) == fmt.page_size
    # Short rgentries are padded on build.
    assert fmt.BTPAGE.build(dict(page, rgentries=blob)) == raw
    assert fmt.PAGETRAILER.parse(raw[-fmt.PAGETRAILER.sizeof() :]) == parsed.pageTrailer
    got = [fmt.NBTENTRY.parse(parsed.rgentries[i * parsed.cbEnt :]) for i in range(5)]
    assert [g.nid for g in got] == [e["nid"] for e in entries]
    # The fast path gives the same values as the declaration.
    fast = ndb.FastRecord(fmt.NBTENTRY).parse_many(parsed.rgentries, 5, parsed.cbEnt)
    for g, f in zip(got, fast, strict=True):
        assert {k: g[k] for k in g if not k.startswith("_")} == f._asdict()


@pytest.mark.parametrize("fmt", VARIANTS, ids=IDS)
def test_pagetrailer_checks_ptype_repeat(fmt):
    trailer = dict(ptype=0x80, ptypeRepeat=0x81, wSig=0, dwCRC=0, bid=1)
    with pytest.raises(CheckError):
        fmt.PAGETRAILER.build(trailer)
    good = fmt.PAGETRAILER.build(dict(trailer, ptypeRepeat=0x80))
    bad = bytearray(good)
    bad[1] = 0x81
    with pytest.raises(CheckError):
        fmt.PAGETRAILER.parse(bytes(bad))
    assert len(good) == fmt.PAGETRAILER.sizeof()


@pytest.mark.parametrize("fmt", VARIANTS, ids=IDS)
def test_bt_entries_fast_paths_agree(fmt):
    import random

    rnd = random.Random(4)
    for declaration in (fmt.BTENTRY, fmt.BBTENTRY, fmt.NBTENTRY, fmt.SLENTRY, fmt.SIENTRY):
        fast = ndb.FastRecord(declaration)
        assert fast.size == declaration.sizeof()
        for _ in range(50):
            raw = rnd.randbytes(fast.size)
            slow = declaration.parse(raw)
            flat = fast.parse(raw)._asdict()
            for name, value in flat.items():
                outer, _, inner = name.partition("_")
                expected = slow[outer][inner] if inner and outer == "BREF" else slow[name]
                assert value == expected, name
            assert declaration.build(slow) == raw


@pytest.mark.parametrize("fmt", VARIANTS, ids=IDS)
def test_bbt_and_bt_entries_build(fmt):
    e = dict(BREF=dict(bid=0x104, ib=0x4A40), cb=300, cRef=2)
    if fmt.name == "4k":
        e["cbInflated"] = 900
    raw, _ = _symmetric(fmt.BBTENTRY, e)
    assert len(raw) == (12 if fmt.name == "ansi" else 24)
    raw, _ = _symmetric(fmt.BTENTRY, dict(btkey=0x21, BREF=dict(bid=9, ib=0x4600)))
    assert len(raw) == (12 if fmt.name == "ansi" else 24)


@pytest.mark.parametrize("fmt", VARIANTS, ids=IDS)
def test_block_trailer_and_size(fmt):
    t = dict(cb=100, wSig=encoding.compute_sig(0x5000, 8), dwCRC=encoding.crc32(b"x" * 100), bid=8)
    if fmt.name == "4k":
        t["cbInflated"] = 300
    raw, parsed = _symmetric(fmt.BLOCKTRAILER, t)
    assert len(raw) == fmt.block_trailer_size
    if fmt.name == "ansi":
        assert raw[4:8] == (8).to_bytes(4, "little")  # bid before dwCRC in ANSI
    else:
        assert raw[8:16] == (8).to_bytes(8, "little")
    assert ndb.block_size(fmt, 100) % fmt.block_align == 0
    assert ndb.block_size(fmt, fmt.max_block_data) == fmt.max_block_size
    if fmt.name != "4k":
        assert fmt.max_block_data == (8176 if fmt.wide else 8180)


@pytest.mark.parametrize("fmt", VARIANTS, ids=IDS)
def test_internal_blocks(fmt):
    raw, parsed = _symmetric(
        fmt.XBLOCK, dict(btype=1, cLevel=1, cEnt=3, lcbTotal=20000, rgbid=[4, 8, 12])
    )
    assert len(raw) == 8 + 3 * fmt.bid_size
    raw, _ = _symmetric(fmt.XXBLOCK, dict(btype=1, cLevel=2, cEnt=1, lcbTotal=1, rgbid=[6]))
    with pytest.raises(ConstError):
        fmt.XBLOCK.parse(raw)  # an XXBLOCK is not an XBLOCK
    sl = dict(
        btype=2,
        cLevel=0,
        cEnt=2,
        rgentries=[dict(nid=0x671, bidData=8, bidSub=0), dict(nid=0x692, bidData=12, bidSub=16)],
    )
    raw, parsed = _symmetric(fmt.SLBLOCK, sl)
    assert len(raw) == fmt.internal_header_size + 2 * fmt.SLENTRY.sizeof()
    assert parsed.rgentries[1].bidSub == 16
    si = dict(btype=2, cLevel=1, cEnt=1, rgentries=[dict(nid=0x671, bid=20)])
    raw, _ = _symmetric(fmt.SIBLOCK, si)
    assert len(raw) == fmt.internal_header_size + fmt.SIENTRY.sizeof()
    with pytest.raises(ConstError):
        fmt.SLBLOCK.parse(raw)


@pytest.mark.parametrize("fmt", VARIANTS, ids=IDS)
def test_map_pages(fmt):
    bits = bytes([0xFF]) + bytes(
        fmt.page_size - fmt.PAGETRAILER.sizeof() - (4 if fmt.name == "ansi" else 0) - 1
    )
    trailer = dict(ptype=0x84, ptypeRepeat=0x84, wSig=0, dwCRC=0, bid=0x4400)
    if fmt.name == "4k":
        trailer["qwUnknown"] = 0
    raw, _ = _symmetric(fmt.AMAPPAGE, dict(rgbBits=bits, pageTrailer=trailer))
    assert len(raw) == fmt.page_size
    raw, _ = _symmetric(
        fmt.PMAPPAGE,
        dict(rgbBits=b"\xff" * len(bits), pageTrailer=dict(trailer, ptype=0x83, ptypeRepeat=0x83)),
    )
    assert len(raw) == fmt.page_size


def test_format_for_version():
    assert ndb.format_for_version(14) is ndb.ANSI
    assert ndb.format_for_version(15) is ndb.ANSI
    assert ndb.format_for_version(23) is ndb.UNICODE
    assert ndb.format_for_version(36) is ndb.UNICODE_4K
    assert ndb.format_for_version(99) is None


def test_nid_helpers():
    nid = ndb.make_nid(ndb.NID_TYPE_ASSOC_MESSAGE, 0x400)
    assert ndb.nid_type(nid) == 8 and ndb.nid_index(nid) == 0x400
    assert ndb.make_nid(2, 9) == 0x122


# ---------------------------------------------------------------- real files


@pytest.mark.parametrize("path", REAL_PSTS, ids=[p.name for p in REAL_PSTS])
def test_real_headers_and_root_pages_round_trip(path):
    data = path.read_bytes()
    wver = int.from_bytes(data[10:12], "little")
    fmt = ndb.format_for_version(wver)
    raw = data[: fmt.HEADER.sizeof()]
    header = fmt.HEADER.parse(raw)
    assert fmt.HEADER.build(header) == raw
    assert header.dwCRCPartial == ndb.header_crc_partial(raw)
    if fmt.wide:
        assert header.dwCRCFull == ndb.header_crc_full(raw)
    assert header.root.ibFileEof == len(data)
    for bref, ptype in ((header.root.BREFNBT, 0x81), (header.root.BREFBBT, 0x80)):
        page_raw = data[bref.ib : bref.ib + fmt.page_size]
        page = fmt.BTPAGE.parse(page_raw)
        assert fmt.BTPAGE.build(page) == page_raw
        fast = ndb.FastRecord(fmt.BTPAGE).parse(page_raw)  # the reader's fast path
        assert fast.rgentries == page.rgentries and fast.cLevel == page.cLevel
        assert (fast.cEnt, fast.cEntMax, fast.cbEnt) == (page.cEnt, page.cEntMax, page.cbEnt)
        assert {k: v for k, v in fast._asdict().items() if k.startswith("pageTrailer_")} == {
            f"pageTrailer_{k}": v for k, v in page.pageTrailer.items() if not k.startswith("_")
        }
        assert page.pageTrailer.ptype == ptype
        assert page.pageTrailer.bid == bref.bid
        assert page.pageTrailer.dwCRC == ndb.page_crc(fmt, page_raw)
        assert page.pageTrailer.wSig == encoding.compute_sig(bref.ib, bref.bid)


# ---------------------------------------------------------------- LTP declarations


def test_hn_structures():
    raw, parsed = _symmetric(
        ltp.HNHDR,
        dict(ibHnpm=0x40, bSig=0xEC, bClientSig=0xBC, hidUserRoot=0x20, rgbFillLevel=bytes(4)),
    )
    assert len(raw) == 12
    with pytest.raises(ConstError):
        ltp.HNHDR.parse(b"\x40\x00\xed" + raw[3:])
    assert len(ltp.HNPAGEHDR.build(dict(ibHnpm=2))) == 2
    assert len(ltp.HNBITMAPHDR.build(dict(ibHnpm=2, rgbFillLevel=bytes(64)))) == 66
    raw, parsed = _symmetric(ltp.HNPAGEMAP, dict(cAlloc=2, cFree=0, rgibAlloc=[12, 20, 44]))
    assert len(raw) == 4 + 3 * 2
    assert [ltp.hnpm_first_bitmap_block(i) for i in (0, 7, 8, 9, 136, 264)] == [
        False,
        False,
        True,
        False,
        True,
        True,
    ]


def test_hid_helpers():
    hid = ltp.make_hid(3, 5)
    assert hid == 0x300A0 and ltp.hid_index(hid) == 5 and ltp.hid_block_index(hid) == 3
    hid4k = ltp.make_hid(3, 0x1234, four_k=True)
    assert ltp.hid_index(hid4k, True) == 0x1234 and ltp.hid_block_index(hid4k, True) == 3
    assert hid4k & 0x1F == 0


def test_bth_and_pc_records():
    raw, _ = _symmetric(
        ltp.BTHHEADER, dict(bType=0xB5, cbKey=2, cbEnt=6, bIdxLevels=0, hidRoot=0x40)
    )
    assert len(raw) == 8
    raw, _ = _symmetric(ltp.PCBTH, dict(wPropId=0x37, wPropType=0x1F, dwValueHnid=0x60))
    assert raw == bytes.fromhex("37001f0060000000")
    assert ltp.bth_index_record(4).sizeof() == 8
    raw, _ = _symmetric(ltp.PTYPOBJECT, dict(Nid=0x8025, ulSize=1234))
    raw, _ = _symmetric(ltp.MV_VARIABLE_HEADER, dict(ulCount=2, rgulDataOffsets=[12, 20]))
    assert len(raw) == 12


def test_tcinfo_and_rowid():
    cols = [
        dict(tag=0x67F20003, ibData=0, cbData=4, iBit=0),
        dict(tag=0x67F30003, ibData=4, cbData=4, iBit=1),
        dict(tag=0x0037001F, ibData=8, cbData=4, iBit=2),
    ]
    obj = dict(
        bType=0x7C,
        cCols=3,
        rgib=[12, 12, 12, 13],
        hidRowIndex=0x20,
        hnidRows=0x40,
        hidIndex=0,
        rgTCOLDESC=cols,
    )
    raw, parsed = _symmetric(ltp.TCINFO, obj)
    assert len(raw) == 22 + 3 * 8
    assert parsed.rgTCOLDESC[2].tag == 0x0037001F
    raw, _ = _symmetric(ltp.TCROWID_UNICODE, dict(dwRowID=0x200024, dwRowIndex=3))
    assert len(raw) == 8
    raw, _ = _symmetric(ltp.TCROWID_ANSI, dict(dwRowID=0x200024, dwRowIndex=3))
    assert len(raw) == 6


def test_nameid_bit_layout():
    raw, parsed = _symmetric(
        ltp.NAMEID, dict(dwPropertyID=0x8501, guid=dict(wGuid=3, N=True), wPropIdx=7)
    )
    assert raw == bytes.fromhex("01850000") + (3 << 1 | 1).to_bytes(2, "little") + b"\x07\x00"
    parsed = ltp.NAMEID.parse(bytes.fromhex("0100000004000000"))
    assert parsed.guid.wGuid == 2 and parsed.guid.N is False


@pytest.mark.parametrize(
    "declaration, fast",
    [
        (ltp.PCBTH, ltp.PCBTH_FAST),
        (ltp.TCOLDESC, ndb.FastRecord(ltp.TCOLDESC, "TCOLDESC")),
        (ltp.TCROWID_UNICODE, ltp.TCROWID_UNICODE_FAST),
        (ltp.TCROWID_ANSI, ltp.TCROWID_ANSI_FAST),
    ],
)
def test_ltp_fast_paths_agree(declaration, fast):
    import random

    rnd = random.Random(7)
    blob = rnd.randbytes(fast.size * 40)
    many = fast.parse_many(blob, 40)
    for i, record in enumerate(many):
        slow = declaration.parse(blob[i * fast.size :])
        assert record._asdict() == {k: v for k, v in slow.items() if not k.startswith("_")}
        assert (
            declaration.build(Container(record._asdict()))
            == blob[i * fast.size : (i + 1) * fast.size]
        )


@pytest.mark.parametrize("fmt", VARIANTS, ids=IDS)
def test_block_trailer_fast_path_agrees(fmt):
    import random

    rnd = random.Random(fmt.name)
    fast = ndb.FastRecord(fmt.BLOCKTRAILER)
    for _ in range(50):
        raw = rnd.randbytes(fmt.block_trailer_size)
        slow = fmt.BLOCKTRAILER.parse(raw)
        assert fast.parse(raw)._asdict() == {k: v for k, v in slow.items() if k[0] != "_"}


def test_fast_record_refuses_what_it_cannot_check():
    from construct import Int8ul, Int16ub, Struct

    with pytest.raises(TypeError):
        ndb.FastRecord(Struct("a" / Int16ub))
    assert ndb.FastRecord(Struct("a" / Int8ul)).size == 1


# ---------------------------------------------------------------- what readers take from them


@pytest.mark.parametrize(
    "fmt, sizes",
    [
        (ndb.ANSI, (12, 500, 12, 4, 496, 8, 4, 496 * 8 * 64)),
        (ndb.UNICODE, (16, 496, 16, 8, 488, 8, 8, 496 * 8 * 64)),
        (ndb.UNICODE_4K, (24, 4072, 24, 8, 4056, 8, 8, 4072 * 8 * 512)),
    ],
    ids=IDS,
)
def test_format_sizes_derived_from_the_declarations(fmt, sizes):
    """The sizes readers and writers use, derived from the declarations, are the spec's."""
    derived = (
        fmt.PAGETRAILER.sizeof(),
        fmt.page_crc_size,
        fmt.block_trailer_size,
        fmt.bid_size,
        fmt.btentries_size,
        fmt.xblock_header_size,
        fmt.internal_header_size,
        fmt.amap_range,
    )
    assert derived == sizes


def test_declaration_offsets_and_sizes():
    assert ndb.offset_of(ndb.UNICODE.HEADER, "dwCRCFull") == 524
    assert ndb.offset_of(ndb.ANSI.HEADER, "bSentinel") == 460
    assert ndb.offset_of(ndb.HEADER_PREFIX, "wVer") == 10
    assert ndb.field_size(ndb.UNICODE.BTPAGE, "rgentries") == 488
    assert ndb.item_size(ndb.ANSI.XBLOCK, "rgbid") == 4
    assert ndb.fixed_prefix(ltp.HNPAGEMAP).sizeof() == 4
    with pytest.raises(KeyError):
        ndb.offset_of(ndb.UNICODE.HEADER, "nope")


def test_bid_helpers():
    bid = ndb.make_bid(0x1234, internal=True)
    assert bid == 0x1234 << 2 | 2 and ndb.bid_is_internal(bid)
    assert not ndb.bid_is_internal(ndb.make_bid(7, internal=False))
    assert ndb.bid_key(bid | 1) == bid
    assert ndb.nid_of(0xFFFF_FFFF_0000_0122) == 0x122


@pytest.mark.parametrize("four_k", [False, True])
def test_hid_fields_agree_with_the_helpers(four_k):
    shift, mask, block_shift = ltp.hid_fields(four_k)
    assert mask == ltp.hid_max_index(four_k) == (0x3FFF if four_k else 0x7FF)
    hid = ltp.make_hid(5, mask, four_k)
    assert (hid >> shift) & mask == ltp.hid_index(hid, four_k) == mask
    assert hid >> block_shift == ltp.hid_block_index(hid, four_k) == 5
    assert ltp.is_hid(hid) and not ltp.is_hid(hid | ndb.NID_TYPE_LTP)


@pytest.mark.parametrize("fmt", VARIANTS, ids=IDS)
def test_sl_entries_reads_what_slblock_builds(fmt):
    from uidl_inspector.store.ndb_blocks import internal_header, sl_entries

    rows = [dict(nid=0x671, bidData=0x40, bidSub=0), dict(nid=0x692, bidData=0x44, bidSub=0x48)]
    raw = fmt.SLBLOCK.build(dict(cEnt=2, rgentries=rows))
    head = internal_header(raw, fmt.internal_header_size)
    assert (head.btype, head.cLevel, head.cEnt) == (ndb.BTYPE_SLBLOCK, 0, 2)
    assert [e._asdict() for e in sl_entries(fmt, raw)] == rows
    assert sl_entries(fmt, raw[:-1]) is None  # the entries no longer fit
    siblock = fmt.SIBLOCK.build(dict(cEnt=1, rgentries=[dict(nid=0x671, bid=0x40)]))
    assert sl_entries(fmt, siblock) is None
    assert internal_header(raw[:3], fmt.internal_header_size) is None


def test_heap_header_checks_the_signature():
    from uidl_inspector.store.ltp import heap_header

    raw = ltp.HNHDR.build(
        dict(ibHnpm=0x20, bClientSig=ltp.CLIENT_SIG_PC, hidUserRoot=0x20, rgbFillLevel=bytes(4))
    )
    assert heap_header(raw).bClientSig == ltp.CLIENT_SIG_PC
    assert heap_header(raw[:-1]) is None
    assert heap_header(raw[:2] + b"\xed" + raw[3:]) is None
