"""The block layer of a PST/OST: blocks (checked, inflated, decoded), data trees and
subnode trees.

Why its own module: every byte of a message comes through here, so each block is checked
against its BBT entry and its trailer (bounds, BID, size, CRC, signature) before it is
decoded, and trees are walked with their depth bounded and cycles refused; what is wrong
becomes a finding in the caller's list. Layouts: :mod:`uidl_inspector.schemas.ndb`.
"""

from __future__ import annotations

import zlib
from typing import Any

from uidl_inspector.findings import Finding
from uidl_inspector.schemas import ndb as s
from uidl_inspector.schemas.encoding import compute_sig, crc32, decode_block
from uidl_inspector.store.byteview import ByteView
from uidl_inspector.store.ndb_btree import Lru, NbtEntry, NdbBtrees
from uidl_inspector.store.ndb_header import Mapped, NdbHeader, Recorder

__all__ = [
    "NdbBlocks",
    "internal_header",
    "sl_entries",
    "MAX_DATA_TREE_DEPTH",
    "MAX_SUBNODE_DEPTH",
    "MAX_SUBNODES",
]

MAX_DATA_TREE_DEPTH = 2  # XXBLOCK -> XBLOCK -> data
MAX_SUBNODE_DEPTH = 2  # SIBLOCK -> SLBLOCK
MAX_SUBNODES = 1 << 20  # entries of one subnode tree
_BLOCK_CACHE = 256
# s.bid_key and s.bid_is_internal inlined on the per-block path (a few calls per block
# cost 4% of a full read of every message), from the same declarations.
_NOT_RESERVED = ~s.BID_RESERVED
_INTERNAL = s.BID_INTERNAL


class NdbBlocks:
    """Blocks of a store found through its BBT (``btrees``) and read through the same reader;
    ``data`` is the store's bytes, whose block trailers are unpacked in place."""

    def __init__(self, header: NdbHeader, data: Mapped, btrees: NdbBtrees) -> None:
        self.fmt = fmt = header.fmt
        self.crypt_method = header.crypt_method
        self.size = btrees.size
        self.data = data
        self._read = btrees.read
        self._btrees = btrees
        self._blocks: Lru[int, bytes] = Lru(_BLOCK_CACHE)
        self._block_ib: Lru[int, int] = Lru(_BLOCK_CACHE * 8)
        self.trailer_fast = s.FastRecord(fmt.BLOCKTRAILER, "BLOCKTRAILER")
        self._slentry_fast = s.FastRecord(fmt.SLENTRY, "SLENTRY")
        self._sientry_fast = s.FastRecord(fmt.SIENTRY, "SIENTRY")

    def read_block(self, bid: int, sink: list[Finding]) -> bytes | None:
        """The bytes of one block, checked, inflated (4K) and decoded; None if unusable."""
        bid &= _NOT_RESERVED  # s.bid_key
        cached = self._blocks.get(bid)
        if cached is not None:
            return cached
        record = Recorder(sink)
        entry = self._btrees.block_entry(bid, sink)
        if entry is None:
            record("block_not_found", None, f"block {bid:#x} is not in the BBT")
            return None
        fmt = self.fmt
        ib, cb = entry.ib, entry.cb
        total = s.block_size(fmt, cb)
        if cb > fmt.max_block_data or ib <= 0 or ib + total > self.size:
            record("block_out_of_bounds", ib, f"block {bid:#x} ({cb} bytes) is outside the file")
            return None
        tail = ib + total - fmt.block_trailer_size
        if isinstance(self.data, ByteView):  # a stream: read the trailer's bytes
            trailer = self.trailer_fast.parse(self.data[tail : tail + fmt.block_trailer_size])
        else:  # the mmap fast path: unpack in place
            trailer = self.trailer_fast.parse(self.data, tail)
        if trailer.bid & _NOT_RESERVED != bid:
            record("block_bid_mismatch", tail, f"trailer bid {trailer.bid:#x}, expected {bid:#x}")
            return None
        if trailer.cb != cb:
            record("block_size_mismatch", tail, f"block {bid:#x}: trailer cb {trailer.cb} != {cb}")
            return None
        self._block_ib.put(bid, ib)
        stored = self._read(ib, cb)
        if trailer.dwCRC != crc32(stored):
            record("block_crc_mismatch", ib, f"block {bid:#x} CRC does not match its data")
        if trailer.wSig != compute_sig(ib, entry.bid):
            record("block_sig_mismatch", tail, f"block {bid:#x} signature does not match")
        data = stored
        inflated = getattr(trailer, "cbInflated", 0)
        if fmt is s.UNICODE_4K and inflated > cb:  # zlib (UNCONFIRMED), to at most cbInflated
            try:
                data = zlib.decompressobj().decompress(stored, inflated)
            except zlib.error as error:
                record("block_inflate_failed", ib, f"block {bid:#x}: {error}")
                return None
            if len(data) != inflated:
                detail = f"block {bid:#x}: {len(data)} != {inflated} bytes"
                record("block_inflate_failed", ib, detail)
        if not bid & _INTERNAL:  # external blocks are the only kind encoded
            data = decode_block(data, self.crypt_method, bid)
        self._blocks.put(bid, data)
        return data

    def block_offset(self, bid: int) -> int | None:
        """File offset of a block read earlier (for findings), if still remembered."""
        return self._block_ib.get(s.bid_key(bid))

    def _visit(self, bid: int, seen: set[int], sink: list[Finding], cycle: str) -> bytes | None:
        """A tree's block, once: a second visit is a cycle (finding ``cycle``)."""
        if bid in seen:
            Recorder(sink)(cycle, None, f"block {bid:#x} appears twice in one tree")
            return None
        seen.add(bid)
        return self.read_block(bid, sink)

    def read_tree(self, bid: int, sink: list[Finding]) -> list[tuple[int, bytes]]:
        """The data blocks of a data tree (one block, XBLOCK or XXBLOCK) as (bid, bytes)."""
        out: list[tuple[int, bytes]] = []
        if bid:
            self._collect(bid, MAX_DATA_TREE_DEPTH, set(), out, sink)
        return out

    def _collect(
        self,
        bid: int,
        depth: int,
        seen: set[int],
        out: list[tuple[int, bytes]],
        sink: list[Finding],
    ) -> None:
        record = Recorder(sink)
        bid &= _NOT_RESERVED
        data = self._visit(bid, seen, sink, "data_tree_cycle")
        if data is None:
            return
        if not bid & _INTERNAL:
            out.append((bid, data))
            return
        fmt = self.fmt
        head = internal_header(data, fmt.xblock_header_size)
        if (
            depth <= 0
            or head is None
            or head.btype != s.BTYPE_XBLOCK
            or head.cLevel not in (s.XBLOCK_LEVEL, s.XXBLOCK_LEVEL)
        ):
            record("data_tree_bad_block", None, f"block {bid:#x} is not a usable XBLOCK")
            return
        upper = head.cLevel == s.XXBLOCK_LEVEL  # an XXBLOCK: its children are XBLOCKs
        count = head.cEnt
        if fmt.xblock_header_size + count * fmt.bid_size > len(data) or (
            upper and depth < MAX_DATA_TREE_DEPTH
        ):
            record("data_tree_bad_block", None, f"block {bid:#x}: {count} entries do not fit")
            return
        xblock = (fmt.XXBLOCK if upper else fmt.XBLOCK).parse(data)
        start = len(out)
        for child in xblock.rgbid:
            if s.bid_is_internal(child) != upper:  # an XXBLOCK lists XBLOCKs, an XBLOCK data
                what = "XXBLOCK lists data block" if upper else f"XBLOCK {bid:#x} lists internal"
                record("data_tree_bad_block", None, f"{what} {child:#x}")
                continue
            self._collect(child, int(upper), seen, out, sink)
        got = sum(len(b) for _, b in out[start:])
        if got != xblock.lcbTotal:
            detail = f"tree {bid:#x}: {got} of {xblock.lcbTotal} bytes"
            record("data_tree_size_mismatch", None, detail)

    def read_subnodes(self, bid: int, sink: list[Finding]) -> dict[int, NbtEntry]:
        """The entries of a subnode tree (SLBLOCK, or SIBLOCK of SLBLOCKs) by NID."""
        out: dict[int, NbtEntry] = {}
        if bid:
            self._subnodes(bid, MAX_SUBNODE_DEPTH, set(), out, sink)
        return out

    def _subnodes(
        self, bid: int, depth: int, seen: set[int], out: dict[int, NbtEntry], sink: list[Finding]
    ) -> None:
        record = Recorder(sink)
        bid = s.bid_key(bid)
        data = self._visit(bid, seen, sink, "subnode_cycle")
        if data is None:
            return
        head_size = self.fmt.internal_header_size
        head = internal_header(data, head_size)
        if (
            not s.bid_is_internal(bid)
            or head is None
            or head.btype != s.BTYPE_SLBLOCK
            or head.cLevel not in (s.SLBLOCK_LEVEL, s.SIBLOCK_LEVEL)
        ):
            record("subnode_bad_block", None, f"block {bid:#x} is not an SLBLOCK/SIBLOCK")
            return
        upper, count = head.cLevel == s.SIBLOCK_LEVEL, head.cEnt
        entry = self._sientry_fast if upper else self._slentry_fast
        if head_size + count * entry.size > len(data) or (upper and depth < MAX_SUBNODE_DEPTH):
            record("subnode_bad_block", None, f"subnode block {bid:#x}: bad count or depth")
            return
        entries = entry.parse_many(data[head_size:], count)
        if upper:
            for child in entries:
                self._subnodes(child.bid, depth - 1, seen, out, sink)
            return
        for sl in entries:
            if len(out) >= MAX_SUBNODES:
                break
            nid = s.nid_of(sl.nid)
            out[nid] = NbtEntry(nid, sl.bidData, sl.bidSub, 0)


def internal_header(data: bytes, size: int) -> Any | None:
    """btype, cLevel and cEnt of an internal block whose head takes ``size`` bytes (the
    format's XBLOCK or SLBLOCK head), or None when ``data`` is shorter."""
    return s.INTERNAL_HEADER_FAST.parse(data) if len(data) >= size else None


def sl_entries(fmt: s.NdbFormat, data: bytes) -> list[Any] | None:
    """The SLENTRYs of an SLBLOCK (nid, bidData, bidSub), or None when ``data`` is not one
    whose entries fit (recovery reads surviving subnode blocks with it)."""
    head = internal_header(data, fmt.internal_header_size)
    if head is None or head.btype != s.BTYPE_SLBLOCK or head.cLevel != s.SLBLOCK_LEVEL:
        return None
    entry = s.FastRecord(fmt.SLENTRY, "SLENTRY")
    if fmt.internal_header_size + head.cEnt * entry.size > len(data):
        return None
    return entry.parse_many(data[fmt.internal_header_size :], head.cEnt)
