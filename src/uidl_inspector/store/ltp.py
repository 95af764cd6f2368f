"""Read-only LTP layer: heap-on-node, BTree-on-heap, property contexts and table contexts.

Why: messages, folders and attachments are property contexts, and folder contents,
hierarchies and attachment lists are table contexts. Values may sit in the heap or, when
large, in a subnode of the owning node; both are followed here. A broken structure raises
:class:`LtpError` (carrying a stable finding code); a broken single value becomes a finding
and the other values are still read. Layouts come from :mod:`uidl_inspector.schemas.ltp`.
"""

from __future__ import annotations

import struct
from collections.abc import Container, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from construct import ConstructError

from uidl_inspector.exceptions import CorruptStructureError
from uidl_inspector.findings import Finding
from uidl_inspector.schemas import ltp as s
from uidl_inspector.schemas.mapi import FIXED_SIZE as _FIXED
from uidl_inspector.schemas.mapi import MV_FLAG, PropType, decode_fixed, decode_string
from uidl_inspector.schemas.ndb import field_size, offset_of
from uidl_inspector.store.ndb import Node

__all__ = [
    "LtpError",
    "HeapNode",
    "Heap",
    "PropertyContext",
    "TableContext",
    "SubnodeRef",
    "decode_value",
    "read_page_map",
    "heap_header",
    "MAX_BTH_DEPTH",
]

MAX_BTH_DEPTH = 8
_HID_TYPE_MASK = s.HID_TYPE_MASK  # hot paths test s.is_hid inline


class HeapNode(Protocol):
    """What the LTP readers need of a node: a store's :class:`Node`, or a lone recovered
    block read as one (recover/managers.py)."""

    findings: list[Finding]

    @property
    def nid(self) -> int: ...

    def blocks(self) -> list[bytes]: ...

    def block_offset(self, index: int) -> int | None: ...

    def subnode(self, nid: int, findings: list[Finding] | None = None) -> Node | None: ...


_HNID_SIZE, _TC_INLINE_MAX = s.HNID_SIZE, s.TC_INLINE_MAX  # read once per value
_PTYPOBJECT_SIZE = s.PTYPOBJECT.sizeof()
# The RowIndex BTH's (cbKey, cbEnt) -> its record: cbEnt 4 in Unicode, 2 in ANSI.
_TCROWIDS = {
    (s.TCROWID_KEY_SIZE, fast.size - s.TCROWID_KEY_SIZE): fast
    for fast in (s.TCROWID_UNICODE_FAST, s.TCROWID_ANSI_FAST)
}
MAX_ROWS = 1 << 22  # absurd-count guard for one table
_ANSI_CODEC = "cp1252"


class LtpError(CorruptStructureError):
    """A heap, BTH, PC or TC structure cannot be used; ``code`` is the finding code."""

    def __init__(self, code: str, detail: str, offset: int | None = None) -> None:
        super().__init__(detail, offset)
        self.code = code
        self.detail = detail

    def finding(self) -> Finding:
        return Finding(self.code, self.offset, self.detail)


@dataclass(frozen=True, slots=True)
class SubnodeRef:
    """A PtypObject value (§2.3.3.5): the subnode holding the object, and its size."""

    nid: int
    size: int


_PAGEMAP_HEAD = s.HNPAGEMAP_HEAD_FAST.size
_PAGEMAP_ITEM = s.HNPAGEMAP_ITEM_SIZE
# Once per heap block, one field each: read as ints at their declared places (a record,
# or even a struct's tuple, per block makes the garbage collector run measurably more).
_C_ALLOC_AT = offset_of(s.HNPAGEMAP, "cAlloc")
_C_ALLOC_END = _C_ALLOC_AT + field_size(s.HNPAGEMAP, "cAlloc")
_IB_HNPM_END = offset_of(s.HNPAGEHDR, "ibHnpm") + field_size(s.HNPAGEHDR, "ibHnpm")


def read_page_map(block: bytes, ib_hnpm: int) -> list[int]:
    """rgibAlloc of the HNPAGEMAP at ``ib_hnpm`` (fast path of ``schemas.ltp.HNPAGEMAP``)."""
    if ib_hnpm + _PAGEMAP_HEAD > len(block) or ib_hnpm % _PAGEMAP_ITEM:
        raise ValueError(f"page map offset {ib_hnpm} outside the block")
    c_alloc = int.from_bytes(block[ib_hnpm + _C_ALLOC_AT : ib_hnpm + _C_ALLOC_END], "little")
    start = ib_hnpm + _PAGEMAP_HEAD
    if start + _PAGEMAP_ITEM * (c_alloc + 1) > len(block):
        raise ValueError(f"page map of {c_alloc} items overruns the block")
    return list(struct.unpack_from(f"<{c_alloc + 1}H", block, start))


def heap_header(block: bytes) -> Any | None:
    """The HNHDR opening ``block`` (``schemas.ltp.HNHDR``'s fast path, its bSig checked),
    or None when the block does not start a heap-on-node."""
    if len(block) < s.HNHDR_FAST.size:
        return None
    header = s.HNHDR_FAST.parse(block)
    return header if header.bSig == s.HN_SIGNATURE else None


class Heap:
    """The heap-on-node of a node (§2.3.1): items by HID across the data tree's blocks."""

    def __init__(self, node: HeapNode, four_k: bool = False) -> None:
        self.node = node
        self._hid_fields = s.hid_fields(four_k)
        self.blocks = node.blocks()
        if not self.blocks:
            raise LtpError("heap_missing", f"node {node.nid:#x} has no data")
        header = heap_header(self.blocks[0])
        if header is None:
            detail = f"node {node.nid:#x}: no heap signature"
            raise LtpError("heap_bad_signature", detail, node.block_offset(0))
        self.header = header
        self._maps: dict[int, list[int]] = {}

    def _map(self, index: int) -> list[int]:
        found = self._maps.get(index)
        if found is not None:
            return found
        block = self.blocks[index]
        try:
            ib_hnpm = int.from_bytes(block[:_IB_HNPM_END], "little")  # opens every block
            alloc = read_page_map(block, ib_hnpm)
            if any(a > b for a, b in zip(alloc, alloc[1:], strict=False)) or alloc[-1] > ib_hnpm:
                raise ValueError("allocations out of order")
        except ValueError as error:
            detail = f"node {self.node.nid:#x} heap block {index}: {error}"
            raise LtpError("heap_bad_page_map", detail, self.node.block_offset(index)) from None
        self._maps[index] = alloc
        return alloc

    def item(self, hid: int) -> bytes:
        """The bytes of heap item ``hid``; HID 0 is the empty value."""
        if hid == 0:
            return b""
        if hid & _HID_TYPE_MASK:  # not s.is_hid(hid), without a call per item
            raise LtpError("heap_bad_hid", f"node {self.node.nid:#x}: {hid:#x} is not a HID")
        shift, mask, block_shift = self._hid_fields
        block_index = hid >> block_shift
        index = (hid >> shift) & mask
        if block_index >= len(self.blocks):
            detail = f"node {self.node.nid:#x}: HID {hid:#x} names a missing block"
            raise LtpError("heap_bad_hid", detail)
        alloc = self._map(block_index)
        if not 1 <= index < len(alloc):
            raise LtpError("heap_bad_hid", f"node {self.node.nid:#x}: HID {hid:#x} not allocated")
        return self.blocks[block_index][alloc[index - 1] : alloc[index]]

    def bth(self, hid: int) -> tuple[int, int, list[tuple[bytes, bytes]]]:
        """A BTree-on-heap at ``hid``: (cbKey, cbEnt, leaf records as (key, data))."""
        raw = self.item(hid)
        header = s.BTHHEADER_FAST.parse(raw) if len(raw) >= s.BTHHEADER_FAST.size else None
        if header is None or header.bType != s.BTH_TYPE:  # the declaration's Const
            raise LtpError("bth_bad_header", f"node {self.node.nid:#x}: bad BTH at {hid:#x}")
        cb_key, cb_ent = header.cbKey, header.cbEnt
        if cb_key not in s.BTH_KEY_SIZES or not 1 <= cb_ent <= s.BTH_MAX_ENT:
            detail = f"node {self.node.nid:#x}: key {cb_key}, data {cb_ent}"
            raise LtpError("bth_bad_header", detail)
        if header.bIdxLevels > MAX_BTH_DEPTH:
            raise LtpError("bth_too_deep", f"node {self.node.nid:#x}: {header.bIdxLevels} levels")
        out: list[tuple[bytes, bytes]] = []
        if header.hidRoot:
            self._bth_walk(header.hidRoot, header.bIdxLevels, cb_key, cb_ent, set(), out)
        return cb_key, cb_ent, out

    def _bth_walk(
        self,
        hid: int,
        level: int,
        cb_key: int,
        cb_ent: int,
        seen: set[int],
        out: list[tuple[bytes, bytes]],
    ) -> None:
        if hid in seen:
            raise LtpError("bth_cycle", f"node {self.node.nid:#x}: BTH item {hid:#x} seen twice")
        seen.add(hid)
        raw = self.item(hid)
        size = cb_key + (s.BTH_INDEX_DATA_SIZE if level else cb_ent)
        if len(raw) % size:
            detail = f"node {self.node.nid:#x}: BTH item {hid:#x}"
            self.node.findings.append(Finding("bth_bad_record", None, detail))
        for at in range(0, len(raw) - size + 1, size):
            if level:
                child = int.from_bytes(raw[at + cb_key : at + size], "little")
                self._bth_walk(child, level - 1, cb_key, cb_ent, seen, out)
            else:
                out.append((raw[at : at + cb_key], raw[at + cb_key : at + size]))

    def value_bytes(self, hnid: int, findings: list[Finding]) -> bytes | None:
        """A HNID's bytes: a heap item, or the data of the owning node's subnode."""
        if not hnid & _HID_TYPE_MASK:  # s.is_hid, inlined: once per value
            return self.item(hnid)
        sub = self.node.subnode(hnid, findings)
        if sub is None:
            detail = f"node {self.node.nid:#x}: no subnode {hnid:#x}"
            findings.append(Finding("subnode_missing", None, detail))
            return None
        return sub.data()


def decode_value(ptype: int, raw: bytes) -> Any:
    """Decode a property value from its bytes (already fetched from heap or subnode).

    Raises ValueError when the bytes do not fit the type.
    """
    if ptype & MV_FLAG:
        return _decode_mv(ptype & ~MV_FLAG, raw)
    if ptype in (PropType.STRING8, PropType.UNICODE):
        return decode_string(ptype, raw, _ANSI_CODEC)
    if ptype not in _FIXED:
        return bytes(raw)  # Binary, Object, or an unknown type: the bytes
    return decode_fixed(ptype, raw)


def _decode_mv(base: int, raw: bytes) -> list[Any]:
    size = _FIXED.get(base)
    if size is not None:
        if len(raw) % size:
            raise ValueError(f"multi-valued {base:#06x}: {len(raw)} bytes")
        return [decode_fixed(base, raw[i : i + size]) for i in range(0, len(raw), size)]
    head = s.MV_VARIABLE_HEAD_FAST
    if len(raw) < head.size:
        raise ValueError("multi-valued value shorter than its count")
    count = head.parse(raw).ulCount
    first = head.size + s.MV_VARIABLE_ITEM_SIZE * count  # where the values start
    if first > len(raw):
        raise ValueError(f"multi-valued count {count} overruns {len(raw)} bytes")
    offsets = list(s.MV_VARIABLE_HEADER.parse(raw).rgulDataOffsets) + [len(raw)]
    items = []
    for start, end in zip(offsets, offsets[1:], strict=False):
        if not first <= start <= end <= len(raw):
            raise ValueError("multi-valued offsets out of order")
        items.append(decode_value(base, raw[start:end]))
    return items


def _client_heap(node: HeapNode, four_k: bool, client_sig: int, code: str) -> Heap:
    """The node's heap, refused (``code``) unless its client signature is ``client_sig``."""
    heap = Heap(node, four_k)
    if heap.header.bClientSig != client_sig:
        raise LtpError(code, f"node {node.nid:#x}: heap client {heap.header.bClientSig:#x}")
    return heap


class LazyProps(Mapping[int, Any]):
    """The decoded properties of a :class:`PropertyContext`, decoded on first access.

    Empty values and values that cannot be decoded are absent, as if never stored.
    """

    __slots__ = ("_pc", "_cache")

    def __init__(self, pc: PropertyContext) -> None:
        self._pc = pc
        self._cache: dict[int, Any] = {}

    def __getitem__(self, prop_id: int) -> Any:
        try:
            value = self._cache[prop_id]
        except KeyError:
            if prop_id not in self._pc.types:
                raise
            value = self._cache[prop_id] = self._pc.decode(prop_id)
        if value is None:
            raise KeyError(prop_id)
        return value

    def __iter__(self) -> Iterator[int]:
        return (pid for pid in list(self._pc.types) if self.get(pid) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class PropertyContext:
    """A node's property context (§2.3.3): ``props`` by property id, ``types`` beside.

    The BTH records are read at once; each value is decoded the first time it is asked for
    (a reader that wants seven properties of a message pays for seven). A value that cannot
    be decoded becomes a ``pc_bad_value`` finding when it is first asked for, and is absent.
    """

    def __init__(self, node: HeapNode, four_k: bool = False) -> None:
        self.node = node
        self.findings = node.findings
        self.heap = heap = _client_heap(node, four_k, s.CLIENT_SIG_PC, "pc_wrong_client")
        cb_key, cb_ent, records = heap.bth(heap.header.hidUserRoot)
        if (cb_key, cb_ent) != (s.PC_KEY_SIZE, s.PC_DATA_SIZE):
            raise LtpError("pc_bad_bth", f"node {node.nid:#x}: PC BTH key {cb_key}, data {cb_ent}")
        self.types: dict[int, int] = {}
        self._hnids: dict[int, int] = {}
        unpack = s.PCBTH_FAST.struct.unpack  # wPropId, wPropType, dwValueHnid
        types, hnids = self.types, self._hnids
        for key, data in records:
            prop_id, prop_type, hnid = unpack(key + data)
            if prop_id not in types:
                types[prop_id] = prop_type
                hnids[prop_id] = hnid
        self.props: Mapping[int, Any] = LazyProps(self)

    def decode(self, prop_id: int) -> Any:
        """The value of ``prop_id``, or None when it is empty or cannot be decoded."""
        try:
            return self._value(self.types[prop_id], self._hnids[prop_id])
        except (LtpError, ValueError, OverflowError) as error:
            detail = f"node {self.node.nid:#x} property {prop_id:#06x}: {error}"
            self.findings.append(Finding("pc_bad_value", None, detail))
            return None

    def _value(self, ptype: int, hnid: int) -> Any:
        size = _FIXED.get(ptype)
        if size is not None and size <= _HNID_SIZE:  # the value is dwValueHnid itself
            return decode_fixed(ptype, hnid.to_bytes(_HNID_SIZE, "little"))
        if ptype == PropType.OBJECT:
            raw = self.heap.item(hnid) if not hnid & _HID_TYPE_MASK else None
            if raw is None or len(raw) < _PTYPOBJECT_SIZE:
                raise ValueError("PtypObject without its {Nid, ulSize} record")
            obj = s.PTYPOBJECT.parse(raw)
            return SubnodeRef(obj.Nid, obj.ulSize)
        raw = self.heap.value_bytes(hnid, self.findings)
        return None if raw is None else decode_value(ptype, raw)


class TableContext:
    """A node's table context (§2.3.4): columns, row index and rows decoded lazily."""

    def __init__(self, node: HeapNode, four_k: bool = False) -> None:
        self.node = node
        self.findings = node.findings
        self.heap = heap = _client_heap(node, four_k, s.CLIENT_SIG_TC, "tc_wrong_client")
        try:
            info = s.TCINFO.parse(heap.item(heap.header.hidUserRoot))
        except ConstructError:
            raise LtpError("tc_bad_info", f"node {node.nid:#x}: unreadable TCINFO") from None
        self.info = info
        self.row_size = info.rgib[s.TCI_BM]
        # (tag, property id, property type, ibData, cbData, iBit) of each column
        self.columns = [
            (c.tag, *s.tag_parts(c.tag), c.ibData, c.cbData, c.iBit) for c in info.rgTCOLDESC
        ]
        for tag, _, _, ib, cb, bit in self.columns:
            if ib + cb > self.row_size or bit // 8 >= self.row_size - info.rgib[s.TCI_1B]:
                raise LtpError("tc_bad_info", f"node {node.nid:#x}: column {tag:#010x} outside row")
        self._rows: list[tuple[bytes, int]] | None = None

    def row_index(self) -> list[tuple[int, int]]:
        """(dwRowID, dwRowIndex) records of the RowIndex BTH, in key order."""
        if not self.info.hidRowIndex:
            return []
        cb_key, cb_ent, records = self.heap.bth(self.info.hidRowIndex)
        record = _TCROWIDS.get((cb_key, cb_ent))
        if record is None:
            detail = f"node {self.node.nid:#x}: key {cb_key} data {cb_ent}"
            raise LtpError("tc_bad_row_index", detail)
        unpack = record.struct.unpack
        return [unpack(key + data) for key, data in records]

    def _matrix(self) -> list[tuple[bytes, int]]:
        """Every physical row as (block bytes, offset), rows never spanning blocks."""
        if self._rows is not None:
            return self._rows
        hnid = self.info.hnidRows
        size = self.row_size
        rows: list[tuple[bytes, int]] = []
        if hnid and size:
            if s.is_hid(hnid):
                blocks = [self.heap.item(hnid)]
            else:
                sub = self.node.subnode(hnid)
                if sub is None:
                    raise LtpError("subnode_missing", f"node {self.node.nid:#x}: no rows {hnid:#x}")
                blocks = sub.blocks()
            for block in blocks:
                rows += [(block, at) for at in range(0, len(block) - size + 1, size)]
                if len(rows) > MAX_ROWS:
                    raise LtpError("tc_too_many_rows", f"node {self.node.nid:#x}")
        self._rows = rows
        return rows

    def _indexed(self) -> Iterator[tuple[int, int]]:
        """(dwRowID, row number) in row order, rows the matrix lacks reported and skipped."""
        count = len(self._matrix())
        for row_id, row_number in sorted(self.row_index(), key=lambda pair: pair[1]):
            if row_number >= count:
                detail = f"node {self.node.nid:#x}: row {row_number} of {count} (id {row_id:#x})"
                self.findings.append(Finding("tc_row_out_of_range", None, detail))
                continue
            yield row_id, row_number

    def row_ids(self) -> list[int]:
        """dwRowID of each row, in row order, without decoding any cell."""
        return [row_id for row_id, _ in self._indexed()]

    def rows(self, only: Container[int] | None = None) -> Iterator[tuple[int, dict[int, Any]]]:
        """(dwRowID, properties) of each row the row index names, in row order; ``only``:
        of these property ids alone (the other cells are not decoded)."""
        matrix = self._matrix()
        columns = self.columns
        if only is not None:
            columns = [c for c in columns if c[1] in only]
        for row_id, row_number in self._indexed():
            block, at = matrix[row_number]
            yield row_id, self._cells(block[at : at + self.row_size], columns)

    def _cells(
        self, row: bytes, columns: list[tuple[int, int, int, int, int, int]]
    ) -> dict[int, Any]:
        ceb = row[self.info.rgib[s.TCI_1B] :]
        out: dict[int, Any] = {}
        for tag, prop_id, ptype, ib, cb, bit in columns:
            if not ceb[bit // 8] & (0x80 >> (bit % 8)):
                continue
            cell = row[ib : ib + cb]
            try:
                size = _FIXED.get(ptype)
                if size is not None and size <= _TC_INLINE_MAX:
                    value = decode_fixed(ptype, cell.ljust(size, b"\0"))
                else:
                    hnid = int.from_bytes(cell[:_HNID_SIZE], "little")
                    raw = self.heap.value_bytes(hnid, self.findings)
                    if raw is None:
                        continue
                    value = decode_value(ptype, raw)
            except (LtpError, ValueError, OverflowError) as error:
                detail = f"node {self.node.nid:#x} {tag:#010x}: {error}"
                self.findings.append(Finding("tc_bad_cell", None, detail))
                continue
            out[prop_id] = value
        return out
