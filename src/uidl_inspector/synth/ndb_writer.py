"""Node database writer: blocks, data trees, subnode trees, B-tree pages, maps and header.

Why a streaming design: a 100,000-message store must be written in bounded memory, so
blocks go to the file as soon as they are added (at offsets that only grow) and only the
NBT/BBT entries stay in memory until :meth:`NdbWriter.finish` lays out the B-tree pages,
the allocation maps and the header ([MS-PST] 2.2.2; ms-pst-map sections 1-2).
"""

from __future__ import annotations

import functools
import io
import re
from array import array
from collections.abc import Sequence
from typing import Any, BinaryIO

from construct import Struct

from uidl_inspector.schemas.encoding import CRYPT_NAMES, compute_sig, crc32, encode_block
from uidl_inspector.schemas.ndb import (
    CLIENT_PST,
    FIRST_AMAP,
    FORMATS,
    HEADER_SENTINEL,
    PTYPE_AMAP,
    PTYPE_BBT,
    PTYPE_NBT,
    PTYPE_PMAP,
    UNICODE,
    FastRecord,
    NdbFormat,
    block_size,
    field_size,
    header_crc_full,
    header_crc_partial,
    make_bid,
    page_crc,
)

__all__ = ["NdbWriter", "FastBuild", "compiled", "AMAP_RANGE", "FIRST_AMAP", "format_for"]

# The written variants (ANSI, Unicode) share their page size, block alignment and AMap reach.
PAGE = UNICODE.page_size
ALIGN = UNICODE.block_align  # also the bytes one AMap bit stands for
AMAP_RANGE = UNICODE.amap_range  # bytes one AMap page describes (253,952)
PMAP_EVERY = 8  # one PMap per 8 AMaps, on the page after the AMap
MAX_BLOCK = UNICODE.max_block_size
MAX_CREF = (1 << 8 * field_size(UNICODE.BBTENTRY, "cRef")) - 1  # a WORD: 65,535
CRYPT = {name: method for method, name in CRYPT_NAMES.items()}  # "none" -> 0, ...
BlockRanges = list[tuple[int, int]]  # (offset, size) of each block written for one message


def format_for(variant: str) -> NdbFormat:
    """The shared declarations of ``unicode`` or ``ansi`` (the 4K OST is not written)."""
    if variant not in ("unicode", "ansi"):
        raise ValueError(f"unknown PST variant {variant!r} (unicode or ansi)")
    return FORMATS[variant]


def _roundup(n: int, k: int) -> int:
    return (n + k - 1) // k * k


class NdbWriter:
    """Writes blocks as they come and the NBT, BBT, AMaps, PMaps and header at the end.

    ``out`` must be a seekable binary file opened for writing, positioned at 0.
    """

    def __init__(self, out: BinaryIO, variant: str = "unicode", encoding: str = "none") -> None:
        if encoding not in CRYPT:
            raise ValueError(f"unknown block encoding {encoding!r} (none, permute or cyclic)")
        self.fmt = fmt = format_for(variant)
        if (fmt.page_size, fmt.block_align, fmt.amap_range) != (PAGE, ALIGN, AMAP_RANGE):
            raise AssertionError(f"{variant}: page layout differs from the writer's")
        self.block_max = fmt.max_block_data
        self.x_max = (self.block_max - fmt.xblock_header_size) // fmt.bid_size
        self.sl_max = (self.block_max - fmt.internal_header_size) // fmt.SLENTRY.sizeof()
        self.si_max = (self.block_max - fmt.internal_header_size) // fmt.SIENTRY.sizeof()
        self._pages = _BtPageBuilder(fmt)
        self._crypt = CRYPT[encoding]
        self._out = out
        self._end = 0  # bytes already written to the file
        self._pos = FIRST_AMAP + 2 * PAGE  # next free offset: after the first AMap and PMap
        self._next_block = 1  # bidIndex of the next block BID
        self._next_page = 1
        # Entries kept as columns of machine integers: 100,000 messages make ~300,000 blocks.
        self._bbt = (array("Q"), array("Q"), array("H"), array("H"))  # bid, ib, cb, cRef
        self._bbt_at: dict[int, int] = {}  # shared bid -> index in the BBT columns
        self._nbt = (array("Q"), array("Q"), array("Q"), array("Q"))  # nid, data, sub, parent
        self._shared: dict[object, int] = {}
        self._slots = bytearray()  # one byte per ALIGN bytes from FIRST_AMAP: b"1" allocated
        self._trailer = FastBuild(fmt.BLOCKTRAILER)
        self._zero = bytes(MAX_BLOCK)

    # -- allocation -------------------------------------------------------------------

    @staticmethod
    def _reserved_end(k: int) -> int:
        base = FIRST_AMAP + k * AMAP_RANGE
        return base + (2 * PAGE if k % PMAP_EVERY == 0 else PAGE)

    def _alloc(self, size: int, align: int) -> int:
        pos = _roundup(self._pos, align)
        k = (pos - FIRST_AMAP) // AMAP_RANGE
        pos = max(pos, self._reserved_end(k))
        if pos + size > FIRST_AMAP + (k + 1) * AMAP_RANGE:
            pos = self._reserved_end(k + 1)
        self._pos = pos + size
        return pos

    def _write_at(self, ib: int, data: bytes) -> None:
        if ib < self._end:
            raise AssertionError("writer offsets must grow")  # internal invariant
        gap = ib - self._end
        while gap:
            n = min(gap, MAX_BLOCK)
            self._out.write(self._zero[:n])
            gap -= n
        self._out.write(data)
        self._end = ib + len(data)

    # -- blocks -----------------------------------------------------------------------

    def write_block(
        self,
        payload: bytes,
        *,
        internal: bool = False,
        orphan: bool = False,
        ranges: BlockRanges | None = None,
    ) -> int:
        """Write one block (encoded when external) with its trailer; return its BID.

        An orphan block gets a valid trailer but no BBT entry and stays free in the AMap.
        """
        if len(payload) > self.block_max:
            raise ValueError(f"block payload of {len(payload)} bytes exceeds {self.block_max}")
        bid = make_bid(self._next_block, internal)
        self._next_block += 1
        encode = self._crypt != CRYPT["none"] and not internal
        stored = encode_block(payload, self._crypt, bid) if encode else payload
        cb = len(stored)
        size = block_size(self.fmt, cb)
        ib = self._alloc(size, ALIGN)
        trailer = self._trailer(cb=cb, wSig=compute_sig(ib, bid), dwCRC=crc32(stored), bid=bid)
        pad = size - cb - len(trailer)
        self._write_at(ib, stored + self._zero[:pad] + trailer)
        if not orphan:
            for column, value in zip(self._bbt, (bid, ib, cb, 2), strict=True):
                column.append(value)
            self._mark(ib, size)
        if ranges is not None:
            ranges.append((ib, size))
        return bid

    def add_data(
        self,
        data: bytes | list[bytes],
        *,
        orphan: bool = False,
        ranges: BlockRanges | None = None,
        share: object = None,
    ) -> int:
        """Write a data tree and return its root BID (0 for no data).

        ``data`` as a list gives the block boundaries (heap-on-node pages, row blocks); as
        bytes it is cut into full blocks. One block, else an XBLOCK, else an XXBLOCK.
        ``share`` names identical content that may be stored once (single instancing).
        """
        if share is not None and not orphan and share in self._shared:
            bid = self._shared[share]
            at = self._bbt_at[bid]
            if self._bbt[3][at] < MAX_CREF:
                self._bbt[3][at] += 1
                return bid
            del self._shared[share]  # cRef is a WORD: a full block gets a fresh copy
        m = self.block_max
        chunks = (
            data if isinstance(data, list) else [data[i : i + m] for i in range(0, len(data), m)]
        )
        if not chunks:
            return 0
        # a shared block belongs to no single message: keep it out of their block ranges
        kept = None if share is not None else ranges
        bids = [self.write_block(c, orphan=orphan, ranges=kept) for c in chunks]
        if len(bids) == 1:
            root = bids[0]
        else:
            total = sum(len(c) for c in chunks)
            xm = self.x_max
            if len(bids) <= xm:
                root = self._xblock(1, bids, total, orphan, kept)
            else:
                starts = range(0, len(bids), xm)
                if len(starts) > xm:
                    raise ValueError(f"data of {total} bytes is too large for an XXBLOCK tree")
                groups = [(bids[i : i + xm], chunks[i : i + xm]) for i in starts]
                xbids = [self._xblock(1, b, sum(map(len, c)), orphan, kept) for b, c in groups]
                root = self._xblock(2, xbids, total, orphan, kept)
        if share is not None and not orphan:
            self._shared[share] = root
            self._bbt_at[root] = len(self._bbt[0]) - 1
        return root

    def _xblock(
        self, level: int, bids: list[int], total: int, orphan: bool, ranges: BlockRanges | None
    ) -> int:
        decl = self.fmt.XBLOCK if level == 1 else self.fmt.XXBLOCK
        payload = compiled(decl).build({"cEnt": len(bids), "lcbTotal": total, "rgbid": bids})
        return self.write_block(bytes(payload), internal=True, orphan=orphan, ranges=ranges)

    def add_subnodes(
        self,
        entries: list[tuple[int, int, int]],
        *,
        orphan: bool = False,
        ranges: BlockRanges | None = None,
    ) -> int:
        """Write a subnode tree of (nid, bidData, bidSub) entries; return its BID (0 if none).

        SLBLOCKs only while they fit (libpst cannot read SIBLOCKs); beyond one SLBLOCK an
        SIBLOCK level is written.
        """
        if not entries:
            return 0
        entries = sorted(entries)
        sm = self.sl_max
        leaves = [entries[i : i + sm] for i in range(0, len(entries), sm)]
        leaf_bids = [
            self.write_block(_slblock(self.fmt, g), internal=True, orphan=orphan, ranges=ranges)
            for g in leaves
        ]
        if len(leaf_bids) == 1:
            return leaf_bids[0]
        if len(leaf_bids) > self.si_max:
            raise ValueError("too many subnodes for a two-level subnode tree")
        rows = [{"nid": g[0][0], "bid": b} for g, b in zip(leaves, leaf_bids, strict=True)]
        payload = bytes(self.fmt.SIBLOCK.build({"cEnt": len(rows), "rgentries": rows}))
        return self.write_block(payload, internal=True, orphan=orphan, ranges=ranges)

    def add_node(self, nid: int, bid_data: int, bid_sub: int, nid_parent: int) -> None:
        """Register a node in the NBT."""
        for column, value in zip(self._nbt, (nid, bid_data, bid_sub, nid_parent), strict=True):
            column.append(value)

    # -- B-trees, maps, header ------------------------------------------------------

    def _mark(self, ib: int, size: int) -> None:
        """Mark [ib, ib + size) allocated for the AMaps."""
        a = (ib - FIRST_AMAP) // ALIGN
        n = size // ALIGN
        if len(self._slots) < a + n:
            self._slots.extend(b"0" * (a + n - len(self._slots)))
        self._slots[a : a + n] = b"1" * n

    def _build_btree(self, ptype: int, leaf: _Rows | list[tuple[int, ...]]) -> tuple[int, int]:
        """Pages bottom-up, leaves full; each BTENTRY key is its child's first key."""
        level = 0
        entries: _Rows | list[tuple[int, ...]] = leaf
        while True:
            per = self._pages.capacity(ptype, level)
            refs: list[tuple[int, ...]] = []
            for start in range(0, max(len(entries), 1), per):
                g = entries[start : start + per]
                ib = self._alloc(PAGE, PAGE)
                bid = self._next_page
                self._next_page += 1
                self._write_at(ib, self._pages.build(ptype, level, g, bid, ib))
                self._mark(ib, PAGE)
                refs.append((g[0][0] if g else 0, bid, ib))
            if len(refs) == 1:
                return refs[0][1], refs[0][2]
            entries = refs
            level += 1

    def finish(self, *, rgnid: list[int], dw_unique: int = 1) -> int:
        """Write NBT, BBT, AMaps, PMaps and the header; return the file size."""
        nids = self._nbt[0]
        order = sorted(range(len(nids)), key=nids.__getitem__)
        for a, b in zip(order, order[1:], strict=False):
            if nids[a] == nids[b]:
                raise ValueError(f"NID {nids[a]:#x} written twice")
        nbt = _Rows(self._nbt, order)
        bids = self._bbt[0]
        if any(bids[i] >= bids[i + 1] for i in range(len(bids) - 1)):
            raise AssertionError("block BIDs are allocated in writing order")  # invariant
        bbt = _Rows(self._bbt, range(len(bids)))
        nbt_ref = self._build_btree(PTYPE_NBT, nbt)
        bbt_ref = self._build_btree(PTYPE_BBT, bbt)
        n_amaps = max(1, -(-(self._pos - FIRST_AMAP) // AMAP_RANGE))
        eof = FIRST_AMAP + n_amaps * AMAP_RANGE
        if not self.fmt.wide and eof > 0x7FFFFFFF:
            raise ValueError("an ANSI PST cannot exceed 2 GB")
        slots = self._slots
        per = AMAP_RANGE // ALIGN  # AMap bits per page
        slots.extend(b"0" * (n_amaps * per - len(slots)))
        for k in range(n_amaps):
            base = (self._reserved_end(k) - FIRST_AMAP - k * AMAP_RANGE) // ALIGN
            a = k * per
            slots[a : a + base] = b"1" * base
        free = slots.count(b"0") * ALIGN
        if self._end < eof:
            self._write_at(eof - 1, b"\0")
        for k in range(n_amaps):
            ib = FIRST_AMAP + k * AMAP_RANGE
            bits = int(slots[k * per : (k + 1) * per], 2).to_bytes(per // 8, "big")
            self._out.seek(ib)
            self._out.write(_map_page(self.fmt, PTYPE_AMAP, bits, ib))
            if k % PMAP_EVERY == 0:
                self._out.seek(ib + PAGE)
                self._out.write(_map_page(self.fmt, PTYPE_PMAP, b"\xff" * len(bits), ib + PAGE))
        fields: dict[str, object] = {
            "wMagicClient": CLIENT_PST,
            "wVer": self.fmt.wver,
            "wVerClient": 19,
            "bPlatformCreate": 1,
            "bPlatformAccess": 1,
            "bidNextB": make_bid(self._next_block, False),
            "bidNextP": self._next_page,
            "dwUnique": dw_unique,
            "rgnid": list(rgnid),
            "root": {
                "ibFileEof": eof,
                "ibAMapLast": FIRST_AMAP + (n_amaps - 1) * AMAP_RANGE,
                "cbAMapFree": free,
                "cbPMapFree": 0,
                "BREFNBT": {"bid": nbt_ref[0], "ib": nbt_ref[1]},
                "BREFBBT": {"bid": bbt_ref[0], "ib": bbt_ref[1]},
                "fAMapValid": 2,
            },
            "bSentinel": HEADER_SENTINEL,
            "bCryptMethod": self._crypt,
        }
        self._out.seek(0)
        self._out.write(_with_header_crcs(self.fmt, fields))
        self._out.seek(0, io.SEEK_END)
        return eof


class _Rows:
    """Entries of a B-tree level read from integer columns in a given order (sliceable)."""

    def __init__(self, columns: tuple[array[int], ...], order: Sequence[int]) -> None:
        self.columns = columns
        self.order = order

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, index: slice) -> list[tuple[int, ...]]:
        cols = self.columns
        return [tuple(c[i] for c in cols) for i in self.order[index]]


# -- building with the shared declarations (schemas/ndb.py) -------------------------


class FastBuild:
    """Build a fixed-size declaration with :mod:`struct`, the layout derived from it.

    A hot-path twin of ``declaration.build`` (``FastRecord``'s field order and codes);
    tests prove both give the same bytes. Fields not given build as zeros.
    """

    def __init__(self, declaration: Struct) -> None:
        fast = FastRecord(declaration)
        self.fields = fast.fields
        self.pack = fast.struct.pack  # takes every field in declaration order (fastest)
        codes = fast.struct.format.lstrip("<")
        self._defaults = tuple(
            b"" if c.endswith("s") else 0 for c in re.findall(r"\d*[a-zA-Z]", codes)
        )

    def __call__(self, **values: int | bytes) -> bytes:
        return self.pack(
            *[values.get(n, d) for n, d in zip(self.fields, self._defaults, strict=True)]
        )


@functools.cache
def compiled(declaration: Struct) -> Any:
    """construct's compile() of a declaration, once (tests prove it builds the same bytes)."""
    return declaration.compile()


def _slblock(fmt: NdbFormat, entries: list[tuple[int, int, int]]) -> bytes:
    rows = [{"nid": n, "bidData": d, "bidSub": s} for n, d, s in entries]
    return bytes(compiled(fmt.SLBLOCK).build({"cEnt": len(rows), "rgentries": rows}))


def _trailer(ptype: int, sig: int, bid: int, crc: int = 0) -> dict[str, int]:
    return {"ptype": ptype, "ptypeRepeat": ptype, "wSig": sig, "dwCRC": crc, "bid": bid}


def _with_page_crc(fmt: NdbFormat, decl: Struct, fields: dict[str, object]) -> bytes:
    """Build a page twice: the trailer's dwCRC covers the bytes before it."""
    raw = decl.build(fields)
    fields["pageTrailer"]["dwCRC"] = page_crc(fmt, raw)  # type: ignore[index]
    return bytes(decl.build(fields))


def _map_page(fmt: NdbFormat, ptype: int, bits: bytes, ib: int) -> bytes:
    decl = fmt.AMAPPAGE if ptype == PTYPE_AMAP else fmt.PMAPPAGE
    return _with_page_crc(fmt, decl, {"rgbBits": bits, "pageTrailer": _trailer(ptype, 0, ib)})


class _BtPageBuilder:
    """BTPAGEs of one variant: entry builders and cEntMax as Outlook writes them."""

    def __init__(self, fmt: NdbFormat) -> None:
        self.fmt = fmt
        self.index = FastBuild(fmt.BTENTRY).pack
        self.nbt = FastBuild(fmt.NBTENTRY).pack
        self.bbt = FastBuild(fmt.BBTENTRY).pack
        self.leaf_pad = (0,) if fmt.wide else ()  # the wide leaf entries' padding field

    def entry_size(self, ptype: int, level: int) -> int:
        if level:
            return int(self.fmt.BTENTRY.sizeof())
        return int((self.fmt.NBTENTRY if ptype == PTYPE_NBT else self.fmt.BBTENTRY).sizeof())

    def capacity(self, ptype: int, level: int) -> int:
        return self.fmt.btentries_size // self.entry_size(ptype, level)

    def build(
        self, ptype: int, level: int, entries: list[tuple[int, ...]], bid: int, ib: int
    ) -> bytes:
        if level:
            rows = [self.index(*e) for e in entries]
        else:
            pack = self.nbt if ptype == PTYPE_NBT else self.bbt
            rows = [pack(*e, *self.leaf_pad) for e in entries]
        fields = {
            "rgentries": b"".join(rows),
            "cEnt": len(entries),
            "cEntMax": self.capacity(ptype, level),
            "cbEnt": self.entry_size(ptype, level),
            "cLevel": level,
            "pageTrailer": _trailer(ptype, compute_sig(ib, bid), bid),
        }
        return _with_page_crc(self.fmt, self.fmt.BTPAGE, fields)


def _with_header_crcs(fmt: NdbFormat, fields: dict[str, object]) -> bytes:
    """HEADER + ROOT built twice: the CRCs cover the bytes built the first time (§2.2.2.6)."""
    fields["dwCRCPartial"] = 0
    if fmt.wide:
        fields["dwCRCFull"] = 0
    raw = fmt.HEADER.build(fields)
    fields["dwCRCPartial"] = header_crc_partial(raw)
    if fmt.wide:
        fields["dwCRCFull"] = header_crc_full(raw)
    return bytes(fmt.HEADER.build(fields))
