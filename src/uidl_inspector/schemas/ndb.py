"""[MS-PST] node database (NDB) layer: every on-disk structure, declared once with Construct.

Each declaration parses and builds; offsets from the spec sit beside the fields. The three
variants differ in field widths and order, so each structure is declared per variant by one
factory and the results are gathered in an :class:`NdbFormat`: ``ANSI`` (wVer 14/15),
``UNICODE`` (wVer 23, also OST wVer 23 "SO") and ``UNICODE_4K`` (wVer 36 OST with 4 KiB
pages; layout from libpff, UNCONFIRMED by Microsoft). Readers and writers take sizes and
offsets from the declarations (``offset_of``, ``field_size``, ...) instead of restating
them; :class:`FastRecord` is the struct-based fast path derived from a declaration.
"""

from __future__ import annotations

import struct
from collections import namedtuple
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from mmap import mmap
from typing import Any

from construct import (
    Array,
    Bytes,
    Check,
    Const,
    Construct,
    Default,
    FixedSized,
    FormatField,
    GreedyBytes,
    Int8ul,
    Int16ul,
    Int32ul,
    Int64ul,
    SizeofError,
    Struct,
    this,
)

from uidl_inspector.schemas.encoding import crc32

__all__ = [
    "HEADER_MAGIC",
    "CLIENT_PST",
    "CLIENT_OST",
    "CLIENT_PAB",
    "PTYPE_BBT",
    "PTYPE_NBT",
    "PTYPE_PMAP",
    "PTYPE_AMAP",
    "BTYPE_XBLOCK",
    "BTYPE_SLBLOCK",
    "XBLOCK_LEVEL",
    "XXBLOCK_LEVEL",
    "SLBLOCK_LEVEL",
    "SIBLOCK_LEVEL",
    "NdbFormat",
    "ANSI",
    "UNICODE",
    "UNICODE_4K",
    "FORMATS",
    "format_for_version",
    "header_crc_partial",
    "header_crc_full",
    "page_crc",
    "block_size",
    "FastRecord",
    "nid_type",
    "nid_index",
    "make_nid",
    "nid_of",
    "bid_is_internal",
    "bid_key",
    "make_bid",
    "offset_of",
    "field_size",
    "fixed_prefix",
    "item_size",
    "HEADER_PREFIX",
    "HEADER_SENTINEL",
    "HEADER_MIN_SIZE",
    "INTERNAL_HEADER",
    "INTERNAL_HEADER_FAST",
    "FIRST_AMAP",
]

ReadableBuffer = bytes | bytearray | memoryview | mmap  # what struct unpacks in place

HEADER_MAGIC = b"!BDN"  # dwMagic §2.2.2.6
FIRST_AMAP = 0x4400  # §2.2.2.7.2: the first AMap page follows the header area
CLIENT_PST = b"SM"
CLIENT_OST = b"SO"
CLIENT_PAB = b"AB"

# §2.2.2.7.1 page types
PTYPE_BBT = 0x80
PTYPE_NBT = 0x81
PTYPE_PMAP = 0x83
PTYPE_AMAP = 0x84

# §2.2.2.8.3.2 btype of internal blocks
BTYPE_XBLOCK = 0x01  # XBLOCK (cLevel 1) and XXBLOCK (cLevel 2)
BTYPE_SLBLOCK = 0x02  # SLBLOCK (cLevel 0) and SIBLOCK (cLevel 1)
XBLOCK_LEVEL, XXBLOCK_LEVEL = 1, 2  # cLevel of the internal blocks
SLBLOCK_LEVEL, SIBLOCK_LEVEL = 0, 1

# §2.2.2.1 nidType
NID_TYPE_HID = 0x00
NID_TYPE_NORMAL_FOLDER = 0x02
NID_TYPE_SEARCH_FOLDER = 0x03
NID_TYPE_NORMAL_MESSAGE = 0x04
NID_TYPE_ATTACHMENT = 0x05
NID_TYPE_ASSOC_MESSAGE = 0x08
NID_TYPE_HIERARCHY_TABLE = 0x0D
NID_TYPE_CONTENTS_TABLE = 0x0E
NID_TYPE_ASSOC_CONTENTS_TABLE = 0x0F
NID_TYPE_LTP = 0x1F

# §2.4.1 special NIDs
NID_MESSAGE_STORE = 0x21
NID_NAME_TO_ID_MAP = 0x61
NID_ROOT_FOLDER = 0x122
NID_SEARCH_MANAGEMENT_QUEUE = 0x1E1
NID_SEARCH_ACTIVITY_LIST = 0x201
NID_HIERARCHY_TABLE_TEMPLATE = 0x60D
NID_CONTENTS_TABLE_TEMPLATE = 0x60E
NID_ASSOC_CONTENTS_TABLE_TEMPLATE = 0x60F
NID_SEARCH_CONTENTS_TABLE_TEMPLATE = 0x610
NID_ATTACHMENT_TABLE = 0x671
NID_RECIPIENT_TABLE = 0x692

# Initial rgnid[] values for a new file (§2.2.2.6 / ms-pst-map §1).
RGNID_INITIAL = tuple(
    {0x03: 0x4000, 0x04: 0x10000, 0x08: 0x8000}.get(nid_t, 0x400) for nid_t in range(32)
)


# §2.2.2.1 NID: nidType in the low bits, nidIndex above them.
NID_TYPE_BITS = 5
NID_TYPE_MASK = (1 << NID_TYPE_BITS) - 1
NID_INDEX_MASK = (1 << (32 - NID_TYPE_BITS)) - 1
NID_MASK = 0xFFFFFFFF  # a NID is 32 bits, zero-extended to 64 in Unicode NBT/SL entries

# §2.2.2.2 BID: bit 0 reserved (A), bit 1 internal (B), bidIndex above them.
BID_RESERVED = 0x1
BID_INTERNAL = 0x2
BID_INDEX_SHIFT = 2


def nid_type(nid: int) -> int:
    """nidType: the low 5 bits of a NID (§2.2.2.1)."""
    return nid & NID_TYPE_MASK


def nid_index(nid: int) -> int:
    """nidIndex: the NID without its type bits (§2.2.2.1)."""
    return (nid >> NID_TYPE_BITS) & NID_INDEX_MASK


def make_nid(nid_type_value: int, index: int) -> int:
    """A NID from its type and index."""
    return ((index & NID_INDEX_MASK) << NID_TYPE_BITS) | (nid_type_value & NID_TYPE_MASK)


def nid_of(value: int) -> int:
    """The NID of an entry field wider than a NID (Unicode NBTENTRY and SLENTRY)."""
    return value & NID_MASK


def bid_is_internal(bid: int) -> bool:
    """Whether a BID names an internal block (XBLOCK, XXBLOCK, SLBLOCK, SIBLOCK): never
    encoded, and the only kind that may hold a tree (§2.2.2.2, bit B)."""
    return bool(bid & BID_INTERNAL)


def bid_key(bid: int) -> int:
    """The BID as the BBT keys it: the reserved bit 0 cleared (readers ignore it)."""
    return bid & ~BID_RESERVED


def make_bid(index: int, internal: bool) -> int:
    """A BID from its bidIndex and its internal flag."""
    return (index << BID_INDEX_SHIFT) | (BID_INTERNAL if internal else 0)


# ---------------------------------------------------------------- reading declarations


def offset_of(declaration: Struct, name: str) -> int:
    """Byte offset of the field ``name`` in a Struct whose earlier fields are fixed-size."""
    offset = 0
    for sub in declaration.subcons:
        if sub.name == name:
            return offset
        offset += sub.sizeof()
    raise KeyError(name)


def _field(declaration: Struct, name: str) -> Construct:
    for sub in declaration.subcons:
        if sub.name == name:
            return sub
    raise KeyError(name)


def field_size(declaration: Struct, name: str) -> int:
    """Size of the fixed-size field ``name`` of a Struct."""
    return int(_field(declaration, name).sizeof())


def item_size(declaration: Struct, name: str) -> int:
    """Size of one item of the array field ``name`` of a Struct (an XBLOCK's rgbid)."""
    return int(_field(declaration, name).subcon.subcon.sizeof())  # Renamed -> Array -> item


def fixed_prefix(declaration: Struct) -> Struct:
    """The fixed-size head of a Struct: its fields up to the first one of variable size
    (the header of an XBLOCK, SLBLOCK or HNPAGEMAP before its array)."""
    head: list[Construct] = []
    for sub in declaration.subcons:
        try:
            sub.sizeof()
        except SizeofError:  # a size known only when parsing
            break
        head.append(sub)
    return Struct(*head)


def _zero(size: int) -> Construct:
    """A reserved or padding field that builds as zeros when not given."""
    return Default(Bytes(size), bytes(size))


# ---------------------------------------------------------------- HEADER / ROOT


def _root(wide: bool) -> Struct:
    """ROOT §2.2.2.5 (Unicode 72 bytes, ANSI 40)."""
    ib = Int64ul if wide else Int32ul
    return Struct(
        "dwReserved" / Default(Int32ul, 0),  # 0
        "ibFileEof" / ib,  # 4
        "ibAMapLast" / ib,  # 12 | 8
        "cbAMapFree" / ib,  # 20 | 12
        "cbPMapFree" / ib,  # 28 | 16
        "BREFNBT" / _bref(wide),  # 36 | 20
        "BREFBBT" / _bref(wide),  # 52 | 28
        "fAMapValid" / Int8ul,  # 68 | 36
        "bReserved" / Default(Int8ul, 0),  # 69 | 37
        "wReserved" / Default(Int16ul, 0),  # 70 | 38
    )


def _bref(wide: bool) -> Struct:
    """BREF §2.2.2.4: a block or page BID and its absolute file offset."""
    word = Int64ul if wide else Int32ul
    return Struct("bid" / word, "ib" / word)


def _header_start() -> list[Construct]:
    """The first 24 bytes, laid out alike in both variants."""
    return [
        "dwMagic" / Const(HEADER_MAGIC),  # 0
        "dwCRCPartial" / Int32ul,  # 4: CRC of bytes 8..478
        "wMagicClient" / Bytes(2),  # 8: "SM" PST, "SO" OST, "AB" PAB
        "wVer" / Int16ul,  # 10
        "wVerClient" / Int16ul,  # 12
        "bPlatformCreate" / Int8ul,  # 14
        "bPlatformAccess" / Int8ul,  # 15
        "dwReserved1" / Default(Int32ul, 0),  # 16
        "dwReserved2" / Default(Int32ul, 0),  # 20
    ]


def _header_unicode() -> Struct:
    """HEADER §2.2.2.6.2 (Unicode, also used by OST and the 4K OST): 564 bytes."""
    return Struct(
        *_header_start(),
        "bidUnused" / Default(Int64ul, 0),  # 24
        "bidNextP" / Int64ul,  # 32
        "dwUnique" / Int32ul,  # 40
        "rgnid" / Array(32, Int32ul),  # 44
        "qwUnused" / Default(Int64ul, 0),  # 172
        "root" / _root(True),  # 180
        "dwAlign" / Default(Int32ul, 0),  # 252
        "rgbFM" / Default(Bytes(128), b"\xff" * 128),  # 256
        "rgbFP" / Default(Bytes(128), b"\xff" * 128),  # 384
        "bSentinel" / Int8ul,  # 512: 0x80
        "bCryptMethod" / Int8ul,  # 513
        "rgbReserved" / _zero(2),  # 514
        "bidNextB" / Int64ul,  # 516
        "dwCRCFull" / Int32ul,  # 524: CRC of bytes 8..523
        "rgbReserved2" / _zero(3),  # 528
        "bReserved" / Default(Int8ul, 0),  # 531
        "rgbReserved3" / _zero(32),  # 532
    )  # 564


def _header_ansi() -> Struct:
    """HEADER §2.2.2.6.1 (ANSI): 512 bytes; no dwCRCFull."""
    return Struct(
        *_header_start(),
        "bidNextB" / Int32ul,  # 24
        "bidNextP" / Int32ul,  # 28
        "dwUnique" / Int32ul,  # 32
        "rgnid" / Array(32, Int32ul),  # 36
        "root" / _root(False),  # 164
        "rgbFM" / Default(Bytes(128), b"\xff" * 128),  # 204
        "rgbFP" / Default(Bytes(128), b"\xff" * 128),  # 332
        "bSentinel" / Int8ul,  # 460: 0x80
        "bCryptMethod" / Int8ul,  # 461
        "rgbReserved" / _zero(2),  # 462
        "ullReserved" / Default(Int64ul, 0),  # 464
        "dwReserved" / Default(Int32ul, 0),  # 472
        "rgbReserved2" / _zero(3),  # 476
        "bReserved" / Default(Int8ul, 0),  # 479
        "rgbReserved3" / _zero(32),  # 480
    )  # 512


HEADER_PREFIX = Struct(*_header_start())  # what identifies a file before its variant is known
HEADER_SENTINEL = 0x80  # bSentinel

# The header CRCs cover fixed byte ranges of the raw header (§2.2.2.6): dwCRCPartial the
# 471 bytes from wMagicClient, dwCRCFull every byte from there up to itself.
_CRC_START = offset_of(HEADER_PREFIX, "wMagicClient")
_CRC_FULL_END = offset_of(_header_unicode(), "dwCRCFull")


def header_crc_partial(raw: bytes) -> int:
    """dwCRCPartial: CRC of the 471 bytes from wMagicClient (both variants)."""
    return crc32(bytes(raw[_CRC_START : _CRC_START + 471]))


def header_crc_full(raw: bytes) -> int:
    """dwCRCFull (Unicode only): CRC of the 516 bytes from wMagicClient."""
    return crc32(bytes(raw[_CRC_START:_CRC_FULL_END]))


# ---------------------------------------------------------------- pages


def _pagetrailer(variant: str) -> Struct:
    """PAGETRAILER §2.2.2.7.1; ptypeRepeat must equal ptype."""
    if variant == "ansi":
        fields = [
            "ptype" / Int8ul,  # 0 (page offset 500)
            "ptypeRepeat" / Int8ul,  # 1
            "wSig" / Int16ul,  # 2
            "bid" / Int32ul,  # 4 (504)
            "dwCRC" / Int32ul,  # 8 (508): CRC of page bytes 0..499
        ]
    else:
        fields = [
            "ptype" / Int8ul,  # 0 (page offset 496 | 4072)
            "ptypeRepeat" / Int8ul,  # 1
            "wSig" / Int16ul,  # 2
            "dwCRC" / Int32ul,  # 4: CRC of page bytes 0..495 | 0..4071
            "bid" / Int64ul,  # 8
        ]
        if variant == "4k":
            fields.append("qwUnknown" / Default(Int64ul, 0))  # 16 (libpff: unknown)
    fields.append(Check(this.ptype == this.ptypeRepeat))
    return Struct(*fields)


def _btpage(variant: str) -> Struct:
    """BTPAGE §2.2.2.7.7.1: entries as raw bytes (stride cbEnt), then the counts.

    Offsets (ANSI | Unicode | 4K from libpff, UNCONFIRMED): rgentries 0, cEnt 496 | 488 |
    4056, cEntMax 497 | 489 | 4058, cbEnt 498 | 490 | 4060, cLevel 499 | 491 | 4061,
    padding - | 492 (4) | 4062 (10), pageTrailer 500 | 496 | 4072.
    """
    entries, count, padding = {
        "ansi": (496, Int8ul, 0),
        "unicode": (488, Int8ul, 4),
        "4k": (4056, Int16ul, 10),
    }[variant]
    fields = [
        "rgentries" / FixedSized(entries, GreedyBytes),
        "cEnt" / count,
        "cEntMax" / count,
        "cbEnt" / Int8ul,
        "cLevel" / Int8ul,
    ]
    if padding:
        fields.append("dwPadding" / _zero(padding))
    fields.append("pageTrailer" / _pagetrailer(variant))
    return Struct(*fields)


def _btentry(wide: bool) -> Struct:
    """BTENTRY §2.2.2.7.7.2 (intermediate pages): lowest key of the child page + BREF."""
    return Struct(
        "btkey" / (Int64ul if wide else Int32ul),  # 0
        "BREF" / _bref(wide),  # 8 | 4
    )


def _bbtentry(variant: str) -> Struct:
    """BBTENTRY §2.2.2.7.7.3 (BBT leaf)."""
    if variant == "ansi":
        return Struct("BREF" / _bref(False), "cb" / Int16ul, "cRef" / Int16ul)  # 12
    if variant == "unicode":
        return Struct(
            "BREF" / _bref(True),  # 0
            "cb" / Int16ul,  # 16
            "cRef" / Int16ul,  # 18
            "dwPadding" / Default(Int32ul, 0),  # 20
        )  # 24
    # 4K: libpst reads an inflated size at 18 (libpff calls it cRef); UNCONFIRMED.
    return Struct(
        "BREF" / _bref(True),  # 0
        "cb" / Int16ul,  # 16: stored (possibly compressed) size
        "cbInflated" / Int16ul,  # 18
        "cRef" / Int16ul,  # 20
        "wPadding" / Default(Int16ul, 0),  # 22
    )  # 24


def _nbtentry(wide: bool) -> Struct:
    """NBTENTRY §2.2.2.7.7.4 (NBT leaf). The NID is zero-extended to 8 bytes in Unicode."""
    if not wide:
        return Struct(
            "nid" / Int32ul,  # 0
            "bidData" / Int32ul,  # 4
            "bidSub" / Int32ul,  # 8
            "nidParent" / Int32ul,  # 12
        )  # 16
    return Struct(
        "nid" / Int64ul,  # 0
        "bidData" / Int64ul,  # 8
        "bidSub" / Int64ul,  # 16
        "nidParent" / Int32ul,  # 24
        "dwPadding" / Default(Int32ul, 0),  # 28
    )  # 32


def _mappage(variant: str) -> Struct:
    """AMap §2.2.2.7.2 / PMap §2.2.2.7.3: a bitmap then the page trailer."""
    if variant == "ansi":
        return Struct(
            "dwPadding" / Default(Int32ul, 0),  # 0
            "rgbBits" / Bytes(496),  # 4
            "pageTrailer" / _pagetrailer(variant),  # 500
        )
    size = 4072 if variant == "4k" else 496
    return Struct("rgbBits" / Bytes(size), "pageTrailer" / _pagetrailer(variant))


# ---------------------------------------------------------------- blocks


def _blocktrailer(variant: str) -> Struct:
    """BLOCKTRAILER §2.2.2.8.1; dwCRC covers the cb stored bytes."""
    if variant == "ansi":
        return Struct(
            "cb" / Int16ul,  # 0
            "wSig" / Int16ul,  # 2
            "bid" / Int32ul,  # 4
            "dwCRC" / Int32ul,  # 8
        )  # 12
    fields = [
        "cb" / Int16ul,  # 0
        "wSig" / Int16ul,  # 2
        "dwCRC" / Int32ul,  # 4
        "bid" / Int64ul,  # 8
    ]
    if variant == "4k":  # libpff (UNCONFIRMED by MS)
        fields += [
            "wUnknown" / Default(Int16ul, 0),  # 16 (libpff has seen 2)
            "cbInflated" / Int16ul,  # 18: size after zlib inflation
            "dwUnknown" / Default(Int32ul, 0),  # 20
        ]
    return Struct(*fields)  # 16 | 24


def _internal_head(btype: int | None = None, level: int | None = None) -> list[Construct]:
    """The 4 bytes every internal block starts with (§2.2.2.8.3.2, §2.2.2.8.3.3)."""
    return [
        "btype" / (Int8ul if btype is None else Const(btype, Int8ul)),  # 0
        "cLevel" / (Int8ul if level is None else Const(level, Int8ul)),  # 1
        "cEnt" / Int16ul,  # 2
    ]


# Any internal block's head, read before its kind is known (fast path below).
INTERNAL_HEADER = Struct(*_internal_head())


def _xblock(wide: bool, level: int) -> Struct:
    """XBLOCK (cLevel 1) §2.2.2.8.3.2.1 / XXBLOCK (cLevel 2) §2.2.2.8.3.2.2."""
    bid = Int64ul if wide else Int32ul
    return Struct(
        *_internal_head(BTYPE_XBLOCK, level),
        "lcbTotal" / Int32ul,  # 4: bytes of data the tree holds
        "rgbid" / Array(this.cEnt, bid),  # 8
    )


def _slentry(wide: bool) -> Struct:
    """SLENTRY §2.2.2.8.3.3.1.1: a subnode, its data and its own subnodes."""
    word = Int64ul if wide else Int32ul
    return Struct("nid" / word, "bidData" / word, "bidSub" / word)  # 24 | 12


def _sientry(wide: bool) -> Struct:
    """SIENTRY §2.2.2.8.3.3.2.1: lowest NID of a child SLBLOCK and its BID."""
    word = Int64ul if wide else Int32ul
    return Struct("nid" / word, "bid" / word)  # 16 | 8


def _sublock(wide: bool, level: int, entry: Struct) -> Struct:
    """SLBLOCK (cLevel 0) §2.2.2.8.3.3.1 / SIBLOCK (cLevel 1) §2.2.2.8.3.3.2."""
    fields = _internal_head(BTYPE_SLBLOCK, level)
    if wide:
        fields.append("dwPadding" / Default(Int32ul, 0))  # 4
    fields.append("rgentries" / Array(this.cEnt, entry))  # 8 | 4
    return Struct(*fields)


@dataclass(frozen=True)
class NdbFormat:
    """The NDB declarations of one variant (ANSI, Unicode, Unicode 4K) and the sizes a
    reader or writer needs, each derived from a declaration where one states it."""

    name: str
    wide: bool  # 64-bit BIDs and offsets
    wver: int  # the wVer a writer stamps (readers accept format_for_version's ranges)
    page_size: int
    block_align: int
    max_block_size: int  # data + padding + trailer
    HEADER: Struct
    ROOT: Struct
    BREF: Struct
    PAGETRAILER: Struct
    BTPAGE: Struct
    BTENTRY: Struct
    BBTENTRY: Struct
    NBTENTRY: Struct
    AMAPPAGE: Struct
    PMAPPAGE: Struct
    BLOCKTRAILER: Struct
    XBLOCK: Struct
    XXBLOCK: Struct
    SLENTRY: Struct
    SIENTRY: Struct
    SLBLOCK: Struct
    SIBLOCK: Struct
    page_crc_size: int = field(init=False)  # bytes of a page the trailer's dwCRC covers
    block_trailer_size: int = field(init=False)
    bid_size: int = field(init=False)
    btentries_size: int = field(init=False)  # bytes available to rgentries
    xblock_header_size: int = field(init=False)  # bytes before an XBLOCK's rgbid (8)
    internal_header_size: int = field(init=False)  # before SLBLOCK/SIBLOCK entries (8 | 4)
    amap_range: int = field(init=False)  # bytes one AMap describes: a bit per block_align
    max_block_data: int = field(init=False)  # largest cb of one block (8176 Unicode, 8180 ANSI)

    def __post_init__(self) -> None:
        derived = {
            "page_crc_size": self.page_size - self.PAGETRAILER.sizeof(),
            "block_trailer_size": self.BLOCKTRAILER.sizeof(),
            "bid_size": field_size(self.BREF, "bid"),
            "btentries_size": field_size(self.BTPAGE, "rgentries"),
            "xblock_header_size": fixed_prefix(self.XBLOCK).sizeof(),
            "internal_header_size": fixed_prefix(self.SLBLOCK).sizeof(),
            "amap_range": field_size(self.AMAPPAGE, "rgbBits") * 8 * self.block_align,
            "max_block_data": self.max_block_size - self.BLOCKTRAILER.sizeof(),
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)  # frozen: set once, here


def _format(name: str) -> NdbFormat:
    wide = name != "ansi"
    big = name == "4k"
    sl = _slentry(wide)
    si = _sientry(wide)
    return NdbFormat(
        name=name,
        wide=wide,
        wver=36 if big else (23 if wide else 14),
        page_size=4096 if big else 512,
        block_align=512 if big else 64,
        max_block_size=65536 if big else 8192,
        HEADER=_header_unicode() if wide else _header_ansi(),
        ROOT=_root(wide),
        BREF=_bref(wide),
        PAGETRAILER=_pagetrailer(name),
        BTPAGE=_btpage(name),
        BTENTRY=_btentry(wide),
        BBTENTRY=_bbtentry(name),
        NBTENTRY=_nbtentry(wide),
        AMAPPAGE=_mappage(name),
        PMAPPAGE=_mappage(name),
        BLOCKTRAILER=_blocktrailer(name),
        XBLOCK=_xblock(wide, XBLOCK_LEVEL),
        XXBLOCK=_xblock(wide, XXBLOCK_LEVEL),
        SLENTRY=sl,
        SIENTRY=si,
        SLBLOCK=_sublock(wide, SLBLOCK_LEVEL, sl),
        SIBLOCK=_sublock(wide, SIBLOCK_LEVEL, si),
    )


ANSI = _format("ansi")
UNICODE = _format("unicode")
UNICODE_4K = _format("4k")
FORMATS = {"ansi": ANSI, "unicode": UNICODE, "4k": UNICODE_4K}
HEADER_MIN_SIZE = min(f.HEADER.sizeof() for f in FORMATS.values())  # ANSI's 512 bytes


def format_for_version(wver: int) -> NdbFormat | None:
    """The layout a header's wVer announces (libpff's ranges), or None if unknown."""
    if wver in (14, 15):
        return ANSI
    if 21 <= wver <= 35:
        return UNICODE
    if wver == 36:
        return UNICODE_4K
    return None


def page_crc(fmt: NdbFormat, page: bytes) -> int:
    """The dwCRC a page trailer should hold: CRC of the bytes before the trailer."""
    return crc32(bytes(page[: fmt.page_crc_size]))


def block_size(fmt: NdbFormat, cb: int) -> int:
    """On-disk size of a block holding ``cb`` bytes: data + trailer, rounded up."""
    align = fmt.block_align
    return (cb + fmt.block_trailer_size + align - 1) // align * align


# ---------------------------------------------------------------- fast path


def _flatten(struct_: Struct, prefix: str = "") -> tuple[list[str], list[str]]:
    """Field names and struct codes of a fixed-size Struct of integers and byte strings."""
    names: list[str] = []
    codes: list[str] = []
    for sub in struct_.subcons:
        if isinstance(sub, Check):
            continue  # integrity rules are the caller's to apply on the fast path
        name = sub.name
        inner = sub.subcon if hasattr(sub, "subcon") else sub
        while isinstance(inner, (Default, Const)):
            inner = inner.subcon  # a Const's value is the caller's to check, as Check rules
        if isinstance(inner, Struct):
            more_names, more_codes = _flatten(inner, f"{prefix}{name}_")
            names += more_names
            codes += more_codes
        elif isinstance(inner, FormatField):
            if inner.fmtstr[0] != "<":
                raise TypeError(f"{name}: only little-endian fields have a fast path")
            names.append(prefix + name)
            codes.append(inner.fmtstr[1:])
        elif type(inner).__name__ == "StringEncoded" or not hasattr(inner, "length"):
            raise TypeError(f"{name}: {type(inner).__name__} has no fast path")
        else:
            names.append(prefix + name)
            codes.append(f"{inner.length}s")
    return names, codes


class FastRecord:
    """A fixed-size declaration unpacked with :mod:`struct`, for hot loops.

    Derived from the declaration itself (so names and layout cannot drift); nested Structs
    are flattened with ``_`` (``BREF_bid``). Results are namedtuples. Only integer and
    fixed byte-string fields are accepted. ``Check`` rules are skipped, so a caller using
    the fast path on a structure that has them (BTPAGE's ptypeRepeat) applies them itself.
    """

    def __init__(self, declaration: Struct, name: str = "Record") -> None:
        names, codes = _flatten(declaration)
        self.declaration = declaration
        self.struct = struct.Struct("<" + "".join(codes))
        self.size = self.struct.size
        record_type = namedtuple(name, names)  # type: ignore[misc]  # fields known at run time
        self.fields: tuple[str, ...] = tuple(names)
        self._make: Callable[[Iterable[Any]], Any] = record_type._make
        declared = declaration.sizeof()
        if declared != self.size:
            raise TypeError(f"fast layout is {self.size} bytes, declaration {declared}")

    def columns(self, *wanted: str) -> struct.Struct:
        """A struct unpacking only the ``wanted`` fields (in layout order), the rest skipped:
        for hot loops that need two numbers of a record (``iter_unpack`` gives plain tuples)."""
        names, codes = _flatten(self.declaration)
        missing = set(wanted) - set(names)
        if missing:
            raise KeyError(f"no field {sorted(missing)} in the declaration")
        return struct.Struct(
            "<"
            + "".join(
                code if name in wanted else f"{struct.calcsize('<' + code)}x"
                for name, code in zip(names, codes, strict=True)
            )
        )

    def parse(self, data: ReadableBuffer, offset: int = 0) -> Any:
        """One record at ``offset``."""
        return self._make(self.struct.unpack_from(data, offset))

    def parse_many(self, data: bytes, count: int, stride: int | None = None) -> list[Any]:
        """``count`` records from the start of ``data``, ``stride`` bytes apart."""
        make = self._make
        if stride is None or stride == self.size:
            view = memoryview(data)[: count * self.size]
            return [make(t) for t in self.struct.iter_unpack(view)]
        unpack = self.struct.unpack_from
        return [make(unpack(data, i * stride)) for i in range(count)]


INTERNAL_HEADER_FAST = FastRecord(INTERNAL_HEADER, "INTERNAL_HEADER")  # btype, cLevel, cEnt
