"""[MS-PST] lists, tables and properties (LTP) layer, declared once with Construct: the
heap-on-node (§2.3.1) and its HIDs, the BTree-on-heap (§2.3.2), the property context
(§2.3.3), the table context (§2.3.4) and the name-to-ID map's NAMEID (§2.4.7), with the
sizes readers and writers share and the ``*_FAST`` records
(:class:`uidl_inspector.schemas.ndb.FastRecord`) hot loops unpack. The 4K OST's wider
hidIndex (``four_k=True``) is from libpff, UNCONFIRMED by Microsoft.
"""

from __future__ import annotations

from construct import (
    Array,
    BitsInteger,
    BitStruct,
    Bytes,
    ByteSwapped,
    Const,
    Flag,
    Int8ul,
    Int16ul,
    Int32ul,
    Struct,
    this,
)

from uidl_inspector.schemas.ndb import (
    NID_TYPE_BITS,
    NID_TYPE_HID,
    NID_TYPE_MASK,
    FastRecord,
    field_size,
    fixed_prefix,
    item_size,
)

__all__ = [
    "HN_SIGNATURE",
    "CLIENT_SIG_TC",
    "CLIENT_SIG_BTH",
    "CLIENT_SIG_PC",
    "BTH_TYPE",
    "TC_TYPE",
    "HNHDR",
    "HNPAGEHDR",
    "HNBITMAPHDR",
    "HNPAGEMAP",
    "BTHHEADER",
    "bth_index_record",
    "PCBTH",
    "PTYPOBJECT",
    "MV_VARIABLE_HEADER",
    "TCOLDESC",
    "TCINFO",
    "TCROWID_UNICODE",
    "TCROWID_ANSI",
    "TCI_4B",
    "TCI_2B",
    "TCI_1B",
    "TCI_BM",
    "NAMEID",
    "PCBTH_FAST",
    "HNHDR_FAST",
    "BTHHEADER_FAST",
    "TCROWID_UNICODE_FAST",
    "TCROWID_ANSI_FAST",
    "TCROWID_KEY_SIZE",
    "MAX_HEAP_ITEM",
    "HNPAGEMAP_HEAD_FAST",
    "HNPAGEMAP_ITEM_SIZE",
    "PC_KEY_SIZE",
    "HNID_SIZE",
    "BTH_KEY_SIZES",
    "BTH_MAX_ENT",
    "TC_INLINE_MAX",
    "tag_parts",
    "make_tag",
    "PC_DATA_SIZE",
    "BTH_INDEX_DATA_SIZE",
    "MV_VARIABLE_HEAD_FAST",
    "MV_VARIABLE_ITEM_SIZE",
    "is_hid",
    "hid_index",
    "hid_block_index",
    "hid_max_index",
    "hid_fields",
    "HID_TYPE_MASK",
    "make_hid",
    "hnpm_first_bitmap_block",
]

HN_SIGNATURE = 0xEC  # HNHDR.bSig
CLIENT_SIG_TC = 0x7C
CLIENT_SIG_BTH = 0xB5
CLIENT_SIG_PC = 0xBC
BTH_TYPE = 0xB5  # BTHHEADER.bType
TC_TYPE = 0x7C  # TCINFO.bType
MAX_HEAP_ITEM = 3580  # §2.3.3.3: larger values go to a subnode

# §2.3.1.2 HNHDR: first block of a heap-on-node (12 bytes)
HNHDR = Struct(
    "ibHnpm" / Int16ul,  # 0: offset of the HNPAGEMAP in this block
    "bSig" / Const(HN_SIGNATURE, Int8ul),  # 2
    "bClientSig" / Int8ul,  # 3: 0x7C TC, 0xB5 BTH, 0xBC PC
    "hidUserRoot" / Int32ul,  # 4
    "rgbFillLevel" / Bytes(4),  # 8
)

# §2.3.1.3 HNPAGEHDR: blocks 1-7 and every block except 8 + 128k (2 bytes)
HNPAGEHDR = Struct("ibHnpm" / Int16ul)

# §2.3.1.4 HNBITMAPHDR: blocks 8, 136, 264, ... (66 bytes)
HNBITMAPHDR = Struct(
    "ibHnpm" / Int16ul,  # 0
    "rgbFillLevel" / Bytes(64),  # 2
)

# §2.3.1.5 HNPAGEMAP: at ibHnpm; item n (1-based) spans rgibAlloc[n-1]..rgibAlloc[n]
HNPAGEMAP = Struct(
    "cAlloc" / Int16ul,  # 0
    "cFree" / Int16ul,  # 2
    "rgibAlloc" / Array(this.cAlloc + 1, Int16ul),  # 4
)


def hnpm_first_bitmap_block(block_index: int) -> bool:
    """Whether heap block ``block_index`` starts with an HNBITMAPHDR (8, 136, 264, ...)."""
    return block_index >= 8 and (block_index - 8) % 128 == 0


# §2.3.1.1 HID: hidType (5 bits, always NID_TYPE_HID = 0), hidIndex (11 bits; 14 in the 4K
# OST per libpff, UNCONFIRMED), hidBlockIndex above. Per layout: (index shift, index mask,
# block shift), for loops that split many HIDs without a call each.
_HID_FIELDS = {
    four_k: (NID_TYPE_BITS, (1 << bits) - 1, NID_TYPE_BITS + bits)
    for four_k, bits in ((False, 11), (True, 14))
}
HID_TYPE_MASK = NID_TYPE_MASK  # a HNID whose bits here are NID_TYPE_HID is a HID
if NID_TYPE_HID != 0:
    raise AssertionError("is_hid tests for hidType 0")


def is_hid(hnid: int) -> bool:
    """Whether a HNID (§2.3.3.2) names a heap item rather than a subnode."""
    return not hnid & HID_TYPE_MASK


def hid_fields(four_k: bool = False) -> tuple[int, int, int]:
    """(index shift, index mask, block shift): index = hid >> shift & mask, block = hid >>
    block shift."""
    return _HID_FIELDS[four_k]


def hid_max_index(four_k: bool = False) -> int:
    """The largest hidIndex: how many items one heap block can hold."""
    return _HID_FIELDS[four_k][1]


def hid_index(hid: int, four_k: bool = False) -> int:
    """hidIndex (1-based) of a HID (§2.3.1.1); 14 bits in the 4K OST (libpff)."""
    shift, mask, _ = _HID_FIELDS[four_k]
    return (hid >> shift) & mask


def hid_block_index(hid: int, four_k: bool = False) -> int:
    """hidBlockIndex: which block of the heap's data tree holds the item."""
    return hid >> _HID_FIELDS[four_k][2]


def make_hid(block_index: int, index: int, four_k: bool = False) -> int:
    """A HID (hidType 0) from its block index and 1-based item index."""
    shift, mask, block_shift = _HID_FIELDS[four_k]
    return (block_index << block_shift) | ((index & mask) << shift)


# §2.3.2.1 BTHHEADER (8 bytes)
BTH_KEY_SIZES = (2, 4, 8, 16)  # the cbKey values allowed
BTH_MAX_ENT = 32  # cbEnt is 1..32
BTHHEADER = Struct(
    "bType" / Const(BTH_TYPE, Int8ul),  # 0
    "cbKey" / Int8ul,  # 1: 2, 4, 8 or 16
    "cbEnt" / Int8ul,  # 2: 1..32
    "bIdxLevels" / Int8ul,  # 3: 0 = hidRoot holds leaf records
    "hidRoot" / Int32ul,  # 4: 0 = empty
)


def bth_index_record(cb_key: int) -> Struct:
    """§2.3.2.2 intermediate BTH record: key (cbKey bytes) + hidNextLevel."""
    return Struct("key" / Bytes(cb_key), "hidNextLevel" / Int32ul)


# §2.3.3.3 PC BTH record (cbKey 2, cbEnt 6)
PCBTH = Struct(
    "wPropId" / Int16ul,  # 0: the BTH key
    "wPropType" / Int16ul,  # 2
    "dwValueHnid" / Int32ul,  # 4: value (<= 4 bytes), HID, or subnode NID
)

# §2.3.3.5 PtypObject value in a PC: points at a subnode
PTYPOBJECT = Struct("Nid" / Int32ul, "ulSize" / Int32ul)

# §2.3.3.4.2 multi-valued property of variable-size items
MV_VARIABLE_HEADER = Struct(
    "ulCount" / Int32ul,  # 0
    "rgulDataOffsets" / Array(this.ulCount, Int32ul),  # 4: from the value's start
)

# §2.3.4.2 TCOLDESC (8 bytes)
TCOLDESC = Struct(
    "tag" / Int32ul,  # 0: property type (low word) and id (high word)
    "ibData" / Int16ul,  # 4: offset of the cell in the row
    "cbData" / Int8ul,  # 6: size of the cell
    "iBit" / Int8ul,  # 7: bit of the cell in the CEB
)

# §2.3.4.4.1 a TC cell holds a fixed-size value of up to 8 bytes itself, else a HNID
TC_INLINE_MAX = 8


def tag_parts(tag: int) -> tuple[int, int]:
    """(property id, property type) of a TCOLDESC's tag: the id in the high word, the type in
    the low word ([MS-OXCDATA] 2.9 property tag)."""
    return tag >> 16, tag & 0xFFFF


def make_tag(prop_id: int, prop_type: int) -> int:
    """A TCOLDESC tag from a property id and type."""
    return (prop_id << 16) | prop_type


# §2.3.4.1 TCINFO
TCI_4B, TCI_2B, TCI_1B, TCI_BM = 0, 1, 2, 3  # ends of the cell groups; TCI_BM = row size
TCINFO = Struct(
    "bType" / Const(TC_TYPE, Int8ul),  # 0
    "cCols" / Int8ul,  # 1
    "rgib" / Array(4, Int16ul),  # 2
    "hidRowIndex" / Int32ul,  # 10: BTH of TCROWIDs
    "hnidRows" / Int32ul,  # 14: row matrix, HID or subnode NID
    "hidIndex" / Int32ul,  # 18: deprecated, 0
    "rgTCOLDESC" / Array(this.cCols, TCOLDESC),  # 22
)

# §2.3.4.3.1 TCROWID: the RowIndex BTH records (cbKey 4, cbEnt 4 Unicode / 2 ANSI)
TCROWID_UNICODE = Struct("dwRowID" / Int32ul, "dwRowIndex" / Int32ul)
TCROWID_ANSI = Struct("dwRowID" / Int32ul, "dwRowIndex" / Int16ul)

# §2.4.7.1 NAMEID: the wGuid word holds N in bit 0 and wGuid in bits 1-15
NAMEID = Struct(
    "dwPropertyID" / Int32ul,  # 0: LID, or offset in the string stream when N is set
    "guid" / ByteSwapped(BitStruct("wGuid" / BitsInteger(15), "N" / Flag)),  # 4
    "wPropIdx" / Int16ul,  # 6: named property id = 0x8000 + wPropIdx
)

PCBTH_FAST = FastRecord(PCBTH, "PCBTH")
PC_KEY_SIZE = field_size(PCBTH, "wPropId")  # the PC BTH's cbKey (2)
HNID_SIZE = field_size(PCBTH, "dwValueHnid")  # a HNID: a PC value of <= 4 bytes held inline
PC_DATA_SIZE = PCBTH.sizeof() - PC_KEY_SIZE  # and its cbEnt (6)
BTH_INDEX_DATA_SIZE = field_size(bth_index_record(2), "hidNextLevel")  # after each key
HNPAGEMAP_HEAD_FAST = FastRecord(fixed_prefix(HNPAGEMAP), "HNPAGEMAP")  # cAlloc, cFree
HNPAGEMAP_ITEM_SIZE = item_size(HNPAGEMAP, "rgibAlloc")  # one rgibAlloc offset
MV_VARIABLE_HEAD_FAST = FastRecord(fixed_prefix(MV_VARIABLE_HEADER), "MV")  # ulCount
MV_VARIABLE_ITEM_SIZE = item_size(MV_VARIABLE_HEADER, "rgulDataOffsets")
HNHDR_FAST = FastRecord(HNHDR, "HNHDR")  # bSig is the caller's to check (HN_SIGNATURE)
BTHHEADER_FAST = FastRecord(BTHHEADER, "BTHHEADER")  # bType likewise (BTH_TYPE)
TCROWID_UNICODE_FAST = FastRecord(TCROWID_UNICODE, "TCROWID")
TCROWID_ANSI_FAST = FastRecord(TCROWID_ANSI, "TCROWID")
TCROWID_KEY_SIZE = field_size(TCROWID_UNICODE, "dwRowID")  # the RowIndex BTH's cbKey
