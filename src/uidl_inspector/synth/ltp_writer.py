"""LTP writer: heap-on-node, BTree-on-heap, property contexts and table contexts.

Everything here produces the bytes of one node: a list of heap blocks (the node's data
tree, one heap page per block) plus the subnodes it needed, which the caller hands to the
NDB writer. Structures are built with the shared declarations of ``schemas/ltp.py``
([MS-PST] 2.3; ms-pst-map section 3).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from uidl_inspector.schemas import ltp
from uidl_inspector.schemas.mapi import FIXED_SIZE, MV_FLAG, PropType, encode_fixed, encode_string
from uidl_inspector.synth.ndb_writer import FastBuild, compiled

__all__ = [
    "SubnodeSink",
    "HeapWriter",
    "build_bth",
    "encode_value",
    "cell_size",
    "build_pc",
    "Column",
    "Row",
    "build_tc",
]

_MAX_ITEMS_PER_BLOCK = ltp.hid_max_index()  # hidIndex has 11 bits
_PAGEMAP_HEAD, _PAGEMAP_ITEM = ltp.HNPAGEMAP_HEAD_FAST.size, ltp.HNPAGEMAP_ITEM_SIZE


class SubnodeSink(Protocol):
    """Where a node's large values go: a subnode (NID type 0x1F) holding a data tree."""

    def add_value(self, data: bytes | list[bytes]) -> int:
        """Store ``data`` in a new subnode and return its NID."""


# -- heap-on-node ------------------------------------------------------------------

# Hot-path builders: struct packers derived from fixed-size declarations, and construct's
# compile() for the others; tests/test_pst_writer.py proves both build the declared bytes.
_PCBTH = FastBuild(ltp.PCBTH).pack
_TCROWID = {True: FastBuild(ltp.TCROWID_UNICODE).pack, False: FastBuild(ltp.TCROWID_ANSI).pack}
_HNHDR = compiled(ltp.HNHDR)
_HNPAGEHDR = compiled(ltp.HNPAGEHDR)
_HNBITMAPHDR = compiled(ltp.HNBITMAPHDR)
_HNPAGEMAP = compiled(ltp.HNPAGEMAP)
_BTHHEADER = compiled(ltp.BTHHEADER)
_PTYPOBJECT = compiled(ltp.PTYPOBJECT)
_TCINFO = compiled(ltp.TCINFO)
_HNHDR_SIZE = int(ltp.HNHDR.sizeof())
_HNPAGEHDR_SIZE = int(ltp.HNPAGEHDR.sizeof())
_HNBITMAPHDR_SIZE = int(ltp.HNBITMAPHDR.sizeof())
_BTHHEADER_SIZE = int(ltp.BTHHEADER.sizeof())
_BTH_INDEX = {n: FastBuild(ltp.bth_index_record(n)).pack for n in (2, 4, 8, 16)}


def _fill_level(free: int) -> int:
    """§2.3.1.2 fill level nibble of a block with ``free`` bytes left."""
    for level, floor in enumerate(
        (3584, 2560, 2048, 1792, 1536, 1280, 1024, 768, 512, 256, 128, 64, 32, 16, 8)
    ):
        if free >= floor:
            return level
    return 15


class HeapWriter:
    """Allocates heap items into blocks of at most ``block_max`` bytes (§2.3.1).

    An item never spans blocks; a new block starts when the next item, its page-map slot
    and the page map no longer fit.
    """

    def __init__(self, client_sig: int, block_max: int) -> None:
        self.client_sig = client_sig
        self.block_max = block_max
        self.user_root = 0
        # per block: the items' bytes back to back and where each item ends in them
        self._bodies: list[bytearray] = [bytearray()]
        self._ends: list[list[int]] = [[]]
        self._head = _HNHDR_SIZE  # header size of the last block

    @staticmethod
    def _header_size(block_index: int) -> int:
        if block_index == 0:
            return _HNHDR_SIZE
        if ltp.hnpm_first_bitmap_block(block_index):
            return _HNBITMAPHDR_SIZE
        return _HNPAGEHDR_SIZE

    def _free(self, block_index: int) -> int:
        """Bytes left in a block, its page map counted (for its fill level)."""
        used = self._header_size(block_index) + len(self._bodies[block_index])
        slots = len(self._ends[block_index])
        return self.block_max - (
            used + used % _PAGEMAP_ITEM + _PAGEMAP_HEAD + _PAGEMAP_ITEM * (slots + 1)
        )

    def alloc(self, data: bytes) -> int:
        """Store one item; return its HID."""
        size = len(data)
        if size > ltp.MAX_HEAP_ITEM:
            raise ValueError(f"heap item of {size} bytes exceeds {ltp.MAX_HEAP_ITEM}")
        b = len(self._bodies) - 1
        ends = self._ends[b]
        used = self._head + len(self._bodies[b]) + size
        # room for the item, 2-byte alignment, cAlloc/cFree and one more rgibAlloc slot
        if len(ends) >= _MAX_ITEMS_PER_BLOCK or (
            used + _PAGEMAP_ITEM - 1 + _PAGEMAP_HEAD + _PAGEMAP_ITEM * (len(ends) + 2)
            > self.block_max
        ):
            b += 1
            self._bodies.append(bytearray())
            self._ends.append([])
            self._head = self._header_size(b)
            ends = self._ends[b]
        body = self._bodies[b]
        body += data
        ends.append(len(body))
        return ltp.make_hid(b, len(ends))

    def replace(self, hid: int, data: bytes) -> None:
        """Overwrite an item with bytes of the same size (headers filled in late)."""
        b, i = ltp.hid_block_index(hid), ltp.hid_index(hid) - 1
        ends = self._ends[b]
        start = ends[i - 1] if i else 0
        if ends[i] - start != len(data):
            raise ValueError("a replaced heap item must keep its size")
        self._bodies[b][start : ends[i]] = data

    def blocks(self) -> list[bytes]:
        """The heap as one byte string per data block, page maps included."""
        out = []
        levels = [_fill_level(self._free(b)) for b in range(len(self._bodies))]
        for b, body in enumerate(self._bodies):
            head_size = self._header_size(b)
            ib_hnpm = head_size + len(body)
            ib_hnpm += ib_hnpm % _PAGEMAP_ITEM  # the page map is WORD-aligned
            offsets = [head_size] + [head_size + e for e in self._ends[b]]
            pagemap = _HNPAGEMAP.build(
                {"cAlloc": len(offsets) - 1, "cFree": 0, "rgibAlloc": offsets}
            )
            if b == 0:
                fill = _nibbles(levels[0:8], 4)
                head = _HNHDR.build(
                    {
                        "ibHnpm": ib_hnpm,
                        "bClientSig": self.client_sig,
                        "hidUserRoot": self.user_root,
                        "rgbFillLevel": fill,
                    }
                )
            elif ltp.hnpm_first_bitmap_block(b):
                head = _HNBITMAPHDR.build(
                    {"ibHnpm": ib_hnpm, "rgbFillLevel": _nibbles(levels[b : b + 128], 64)}
                )
            else:
                head = _HNPAGEHDR.build({"ibHnpm": ib_hnpm})
            raw = head + body
            out.append(bytes(raw) + bytes(ib_hnpm - len(raw)) + pagemap)
        return out


def _nibbles(levels: Sequence[int], size: int) -> bytes:
    out = bytearray(size)
    for i, lv in enumerate(levels[: size * 2]):
        out[i // 2] |= lv << (4 * (i % 2))
    return bytes(out)


# -- BTree-on-heap -----------------------------------------------------------------


def build_bth(
    heap: HeapWriter,
    cb_key: int,
    cb_ent: int,
    records: Sequence[bytes],
    *,
    max_levels: int | None = None,
    header_hid: int | None = None,
) -> int:
    """Write a BTH of sorted ``records`` (key + data bytes); return the BTHHEADER's HID.

    ``header_hid``: a header item the caller allocated first (a PC's is HID 0x20).
    """
    if header_hid is None:
        header_hid = heap.alloc(bytes(_BTHHEADER_SIZE))
    levels = 0
    root = 0
    if records:
        rec = cb_key + cb_ent
        per = ltp.MAX_HEAP_ITEM // rec
        groups = [records[i : i + per] for i in range(0, len(records), per)]
        hids = [heap.alloc(b"".join(g)) for g in groups]
        index_rec = _BTH_INDEX[cb_key]
        while len(hids) > 1:
            levels += 1
            if max_levels is not None and levels > max_levels:
                raise ValueError(f"{len(records)} records need more than {max_levels} BTH levels")
            keys = [g[0][:cb_key] for g in groups]
            level_recs = [index_rec(k, h) for k, h in zip(keys, hids, strict=True)]
            per = ltp.MAX_HEAP_ITEM // (cb_key + ltp.BTH_INDEX_DATA_SIZE)
            groups = [level_recs[i : i + per] for i in range(0, len(level_recs), per)]
            hids = [heap.alloc(b"".join(g)) for g in groups]
        root = hids[0]
    heap.replace(
        header_hid,
        _BTHHEADER.build({"cbKey": cb_key, "cbEnt": cb_ent, "bIdxLevels": levels, "hidRoot": root}),
    )
    return header_hid


# -- property values ---------------------------------------------------------------

_FIXED = {t: n for t, n in FIXED_SIZE.items() if n <= ltp.TC_INLINE_MAX}  # in the cell itself


def cell_size(ptype: int) -> int:
    """Bytes of a TC cell: the value itself up to 8 bytes, else a 4-byte HNID."""
    return _FIXED.get(ptype, ltp.HNID_SIZE)


def value_size(ptype: int, value: Any) -> int:
    """Stored size of a value without encoding it (for PidTagMessageSize)."""
    fixed = FIXED_SIZE.get(ptype)
    if fixed:
        return fixed
    if ptype == PropType.UNICODE:
        return len(value.encode("utf-16-le")) if not value.isascii() else 2 * len(value)
    if ptype in (PropType.STRING8, PropType.BINARY, PropType.GUID):
        return len(value)
    return len(encode_value(ptype, value))


def encode_value(ptype: int, value: Any) -> bytes:
    """The stored bytes of a property value ([MS-OXCDATA] 2.11.1, [MS-PST] 2.3.3.4)."""
    if ptype in FIXED_SIZE:
        return encode_fixed(ptype, value)
    if ptype in (PropType.STRING8, PropType.UNICODE):
        return encode_string(ptype, value, "cp1252")
    if ptype in (PropType.BINARY, PropType.OBJECT):
        return bytes(value)
    if ptype & MV_FLAG:
        base = ptype & ~MV_FLAG
        if base in FIXED_SIZE:
            return b"".join(encode_value(base, v) for v in value)
        items = [encode_value(base, v) for v in value]
        offsets = []
        pos = ltp.MV_VARIABLE_HEAD_FAST.size + ltp.MV_VARIABLE_ITEM_SIZE * len(items)
        for it in items:
            offsets.append(pos)
            pos += len(it)
        head = ltp.MV_VARIABLE_HEADER.build({"ulCount": len(items), "rgulDataOffsets": offsets})
        return bytes(head) + b"".join(items)
    raise ValueError(f"property type {ptype:#06x} is not supported by the writer")


def _variable_hnid(heap: HeapWriter, data: bytes, sink: SubnodeSink) -> int:
    """HID when it fits a heap item, else a subnode; empty values are HNID 0 (as Outlook)."""
    if not data:
        return 0
    if len(data) <= ltp.MAX_HEAP_ITEM:
        return heap.alloc(data)
    return sink.add_value(data)


# -- property context --------------------------------------------------------------


def build_pc(
    props: Iterable[tuple[int, int, Any]], sink: SubnodeSink, block_max: int
) -> list[bytes]:
    """A property context of (prop id, type, value) triples; return its heap blocks.

    PtypObject values are given as (subnode NID, size) and written as §2.3.3.5 says. The
    BTH stays one level (libpst reads hidRoot as a flat array), so at most 447 properties.
    """
    heap = HeapWriter(ltp.CLIENT_SIG_PC, block_max)
    header_hid = heap.alloc(bytes(_BTHHEADER_SIZE))
    records: list[bytes] = []
    for pid, ptype, value in sorted(props, key=lambda p: p[0]):
        if ptype == PropType.OBJECT:
            nid, size = value
            hnid = heap.alloc(_PTYPOBJECT.build({"Nid": nid, "ulSize": size}))
        elif ptype in _FIXED and cell_size(ptype) <= ltp.HNID_SIZE:
            hnid = int.from_bytes(encode_fixed(ptype, value).ljust(ltp.HNID_SIZE, b"\0"), "little")
        elif ptype in FIXED_SIZE:
            hnid = heap.alloc(encode_value(ptype, value))
        else:
            hnid = _variable_hnid(heap, encode_value(ptype, value), sink)
        records.append(_PCBTH(pid, ptype, hnid))
    build_bth(heap, ltp.PC_KEY_SIZE, ltp.PC_DATA_SIZE, records, max_levels=0, header_hid=header_hid)
    heap.user_root = header_hid
    return heap.blocks()


# -- table context -----------------------------------------------------------------

Column = tuple[int, int]  # (prop id, prop type)
Row = tuple[int, dict[int, Any]]  # (dwRowID, {prop id: value})
ROW_ID = (0x67F2, PropType.INT32)  # PidTagLtpRowId
ROW_VER = (0x67F3, PropType.INT32)  # PidTagLtpRowVer


class _RowLayout:
    """Where each column's cell sits in a row (§2.3.4.4.1) and the TCOLDESCs."""

    def __init__(self, columns: Sequence[Column]) -> None:
        cols = sorted(c for c in set(columns) if c[0] not in (ROW_ID[0], ROW_VER[0]))
        # column, ibData, cbData, iBit; cells grouped by size, largest first
        self.cells: list[tuple[Column, int, int, int]] = [(ROW_ID, 0, 4, 0), (ROW_VER, 4, 4, 1)]
        pos = 8
        ends = []  # where each size group ends; TCINFO.rgib takes the 4-, 2- and 1-byte ones
        for size in (8, 4, 2, 1):
            for c in [col for col in cols if cell_size(col[1]) == size]:
                self.cells.append((c, pos, size, len(self.cells)))
                pos += size
            ends.append(pos)
        self.n_cols = len(self.cells)
        self.ceb_at = pos
        self.row_size = pos + (self.n_cols + 7) // 8
        self.rgib = [*ends[1:], self.row_size]

    def coldescs(self) -> list[dict[str, int]]:
        descs = [
            {"tag": ltp.make_tag(*c), "ibData": ib, "cbData": cb, "iBit": bit}
            for c, ib, cb, bit in self.cells
        ]
        return sorted(descs, key=lambda d: d["tag"])


def build_tc(
    columns: Sequence[Column],
    rows: Iterable[Row],
    sink: SubnodeSink,
    block_max: int,
    *,
    unicode: bool = True,
) -> list[bytes]:
    """A table context; ``rows`` are (dwRowID, {prop id: value}); return its heap blocks.

    Rows are consumed one at a time (a contents table of 100,000 messages is never held
    as Python objects). The row matrix is a heap item when it fits, else a subnode whose
    blocks hold whole rows (§2.3.4.4).
    """
    layout = _RowLayout(columns)
    heap = HeapWriter(ltp.CLIENT_SIG_TC, block_max)
    # The TCINFO first (Outlook's hidUserRoot is 0x20), sized now and filled in last.
    info_hid = heap.alloc(bytes(len(_tcinfo(layout, 0, 0))))
    matrix = bytearray()
    row_ids = array("I")
    for i, (row_id, values) in enumerate(rows):
        matrix += _row_bytes(layout, i, row_id, values, heap, sink)
        row_ids.append(row_id)
    if not unicode and len(row_ids) > 0xFFFF:
        raise ValueError(f"an ANSI table holds at most 65,535 rows, not {len(row_ids)}")
    rowid = _TCROWID[unicode]
    recs = [rowid(row_ids[i], i) for i in sorted(range(len(row_ids)), key=row_ids.__getitem__)]
    cb_ent = (ltp.TCROWID_UNICODE if unicode else ltp.TCROWID_ANSI).sizeof() - ltp.TCROWID_KEY_SIZE
    index_hid = build_bth(heap, ltp.TCROWID_KEY_SIZE, cb_ent, recs)
    del recs
    hnid_rows = 0
    if matrix and len(matrix) <= ltp.MAX_HEAP_ITEM:
        hnid_rows = heap.alloc(bytes(matrix))
    elif matrix:
        step = block_max // layout.row_size * layout.row_size
        hnid_rows = sink.add_value(
            [bytes(matrix[i : i + step]) for i in range(0, len(matrix), step)]
        )
    heap.replace(info_hid, _tcinfo(layout, index_hid, hnid_rows))
    heap.user_root = info_hid
    return heap.blocks()


def _tcinfo(layout: _RowLayout, index_hid: int, hnid_rows: int) -> bytes:
    return bytes(
        _TCINFO.build(
            {
                "cCols": layout.n_cols,
                "rgib": layout.rgib,
                "hidRowIndex": index_hid,
                "hnidRows": hnid_rows,
                "hidIndex": 0,
                "rgTCOLDESC": layout.coldescs(),
            }
        )
    )


def _row_bytes(
    layout: _RowLayout,
    row_version: int,
    row_id: int,
    values: dict[int, Any],
    heap: HeapWriter,
    sink: SubnodeSink,
) -> bytes:
    row = bytearray(layout.row_size)
    ceb = bytearray(layout.row_size - layout.ceb_at)
    for (pid, ptype), ib, cb, bit in layout.cells:
        if pid == ROW_ID[0]:
            value: Any = row_id
        elif pid == ROW_VER[0]:
            value = row_version
        elif pid in values and values[pid] is not None:
            value = values[pid]
        else:
            continue
        if ptype in _FIXED:
            row[ib : ib + cb] = encode_fixed(ptype, value)
        else:
            hnid = _variable_hnid(heap, encode_value(ptype, value), sink)
            row[ib : ib + ltp.HNID_SIZE] = hnid.to_bytes(ltp.HNID_SIZE, "little")
        ceb[bit // 8] |= 0x80 >> (bit % 8)
    row[layout.ceb_at :] = ceb
    return bytes(row)
