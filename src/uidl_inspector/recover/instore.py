"""In-store recovery: histories left in a PST/OST's free and orphaned space.

Every send/receive frees the old BLOB's blocks without wiping them. This reads every byte
no BBT entry references, finds block trailers, decodes as the store's bCryptMethod says,
hands the bytes to the finder and marks each find from the AMaps; the steps, and why, are
in docs/recovery.md ("How a store is read"). The live blocks hold the live histories.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

from uidl_inspector.findings import Finding
from uidl_inspector.recover.finder import Run, find_runs
from uidl_inspector.recover.items import Found, Place, account_near
from uidl_inspector.recover.managers import Surviving
from uidl_inspector.schemas import ndb as s
from uidl_inspector.schemas.encoding import (
    CRYPT_CYCLIC,
    CRYPT_NAMES,
    compute_sig,
    crc32,
    decode_block,
)
from uidl_inspector.schemas.ltp import CLIENT_SIG_PC
from uidl_inspector.schemas.popblob import slack_size
from uidl_inspector.store.ltp import heap_header
from uidl_inspector.store.ndb import MAX_BTREE_DEPTH, NdbFile
from uidl_inspector.store.ndb_blocks import internal_header

__all__ = ["Block", "StoreSpace", "find_in_store"]

_NEAR = 8192  # how far around a find without a trailer to look for the account name


@dataclass(frozen=True)
class Block:
    """A block found by its trailer in unreferenced space."""

    start: int
    end: int  # of the trailer
    bid: int
    cb: int
    crc_ok: bool


class StoreSpace:
    """Which bytes of a store are referenced (BBT) and allocated (AMap), and the gaps."""

    def __init__(self, ndb: NdbFile) -> None:
        self.ndb = ndb
        self.fmt = ndb.fmt
        self.findings: list[Finding] = []
        self._amap = self._read_amaps()
        blocks, pages = self._walk(s.PTYPE_BBT, leaves=True)
        pages += self._walk(s.PTYPE_NBT, leaves=False)[1]
        whole_page = self.fmt.page_size - self.fmt.block_trailer_size  # a "cb" spanning a page
        self._refs = sorted(blocks + [(ib, whole_page) for ib in pages + list(self._amap)])
        # [start, end) spans after the header area that no live block or page covers
        self.gaps = self._find_gaps()
        self._bounds: tuple[list[int], list[int]] | None = None

    def _walk(self, ptype: int, leaves: bool) -> tuple[list[tuple[int, int]], list[int]]:
        """A B-tree's live pages and (``leaves``) its blocks' (ib, cb).

        Why not ``NdbFile.iter_entries``: recovery needs two numbers per block, so leaf
        entries are unpacked as plain (ib, cb) tuples through a fast layout derived from the
        declaration (a 100,000-message store has 300,000 of them). Pages that fail their
        checks are left out; the store reader reports them.
        """
        ndb, fmt = self.ndb, self.fmt
        read, size, page_size = ndb.read_at, ndb.size, fmt.page_size
        leaf, inner = ndb.btrees.bbt_fast, ndb.btrees.bt_fast
        leaf_cols = leaf.columns("BREF_ib", "cb")
        inner_cols = inner.columns("BREF_bid", "BREF_ib")
        head = ndb.btrees.page_fast.columns(
            "cEnt",
            "cbEnt",
            "cLevel",
            "pageTrailer_ptype",
            "pageTrailer_ptypeRepeat",
            "pageTrailer_bid",
        )
        blocks: list[tuple[int, int]] = []
        pages: list[int] = []
        seen: set[int] = set()
        stack = [(*ndb.btrees.roots[ptype], 0)]
        while stack:
            ib, bid, depth = stack.pop()
            if ib in seen or depth > MAX_BTREE_DEPTH or ib <= 0 or ib + page_size > size:
                continue
            seen.add(ib)
            page = read(ib, page_size)
            count, stride, level, kind, again, own = head.unpack_from(page)
            rec, cols = (inner, inner_cols) if level else (leaf, leaf_cols)
            if (
                kind != ptype
                or again != ptype
                or own != bid
                or stride < rec.size
                or count * stride > fmt.btentries_size
            ):
                continue
            pages.append(ib)
            if not level and not leaves:
                continue
            raw = page[: count * stride]  # rgentries open the page (BTPAGE)
            rows = (
                cols.iter_unpack(raw)
                if stride == rec.size
                else (cols.unpack_from(raw, i * stride) for i in range(count))
            )
            if level:
                stack.extend((child_ib, child_bid, depth + 1) for child_bid, child_ib in rows)
            else:
                blocks.extend(rows)
        return blocks, pages

    # -- AMap ----------------------------------------------------------------------

    def _read_amaps(self) -> dict[int, bytes]:
        """rgbBits of each AMap page by its offset; a page that fails its checks is left out."""
        fmt, size = self.fmt, self.ndb.size
        out: dict[int, bytes] = {}
        if fmt is s.UNICODE_4K:  # where its AMaps lie is not documented: not guessed
            return out
        if not self.ndb.header.root.fAMapValid:
            self.findings.append(
                Finding("amap_not_valid", None, "fAMapValid is 0: allocation state not trusted")
            )
            return out
        # Pages past the header's last AMap are not AMaps (bytes appended to the file, which
        # file_size_mismatch already reports).
        last = self.ndb.header.root.ibAMapLast
        ib = s.FIRST_AMAP
        # rgbBits, ptype and dwCRC of each page, unpacked with struct (a 100,000-message
        # store has 888 AMap pages: 5 ms instead of 45 ms through Construct)
        amap = s.FastRecord(fmt.AMAPPAGE, "AMAPPAGE").columns(
            "rgbBits", "pageTrailer_ptype", "pageTrailer_dwCRC"
        )
        while ib <= last and ib + fmt.page_size <= size:
            raw = self.ndb.read_at(ib, fmt.page_size)
            bits, ptype, crc = amap.unpack_from(raw)
            if ptype == s.PTYPE_AMAP and crc == s.page_crc(fmt, raw):
                out[ib] = bits
            else:
                self.findings.append(Finding("amap_unreadable", ib, "AMap page fails its checks"))
            ib += fmt.amap_range
        return out

    def allocated(self, offset: int) -> bool | None:
        """The AMap's bit for ``offset`` (None when its page is missing or unusable)."""
        span = self.fmt.amap_range  # bytes one AMap page describes
        base = s.FIRST_AMAP + (offset - s.FIRST_AMAP) // span * span
        bits = self._amap.get(base)
        if bits is None or offset < s.FIRST_AMAP:
            return None
        bit = (offset - base) // self.fmt.block_align
        return bool(bits[bit >> 3] & (0x80 >> (bit & 7)))

    def place(self, offset: int, length: int, block: Block | None, encoding: str) -> Place:
        """Where ``length`` bytes at ``offset`` lie: the block whose trailer survives, if
        any, and the AMap's and the BBT's view of them."""
        return Place(
            offset,
            length,
            block.bid if block else None,
            block.crc_ok if block else None,
            self.allocated(offset),
            self.referenced(offset),
            encoding,
        )

    # -- gaps and trailers ---------------------------------------------------------

    def _end(self, ib: int, cb: int) -> int:
        align = self.fmt.block_align
        return ib + (cb + self.fmt.block_trailer_size + align - 1) // align * align

    def _find_gaps(self) -> list[tuple[int, int]]:
        pos, size, out = s.FIRST_AMAP, self.ndb.size, []
        align, extra = self.fmt.block_align, self.fmt.block_trailer_size + self.fmt.block_align - 1
        for ib, cb in self._refs:
            if ib > pos:
                out.append((pos, min(ib, size)))
            end = ib + (cb + extra) // align * align
            if end > pos:
                pos = end
        if pos < size:
            out.append((pos, size))
        return out

    def referenced(self, offset: int) -> bool:
        """Whether a live block or page covers ``offset``."""
        if self._bounds is None:  # built on first use: most stores have few finds
            self._bounds = (
                [ib for ib, _ in self._refs],
                [self._end(ib, cb) for ib, cb in self._refs],
            )
        starts, ends = self._bounds
        i = bisect.bisect_right(starts, offset) - 1
        return i >= 0 and starts[i] <= offset < ends[i]

    def stale_nodes(self) -> dict[int, tuple[int, int]]:
        """bidData -> (nid, bidSub) of the node entries in NBT leaf pages left in free space
        (page type and CRC checked): what the nodes pointed to before they were rewritten."""
        ndb, fmt = self.ndb, self.fmt
        size, record = fmt.page_size, ndb.btrees.nbt_fast
        cols = record.columns("nid", "bidData", "bidSub")
        out: dict[int, tuple[int, int]] = {}
        for start, end in self.gaps:
            for ib in range(-(-start // size) * size, end - size + 1, size):
                raw = ndb.read_at(ib, size)
                page = ndb.btrees.page_fast.parse(raw)
                if (
                    page.pageTrailer_ptype != s.PTYPE_NBT
                    or page.cLevel
                    or page.pageTrailer_ptypeRepeat != s.PTYPE_NBT
                    or page.cbEnt < record.size
                    or page.cEnt * page.cbEnt > fmt.btentries_size
                    or page.pageTrailer_dwCRC != s.page_crc(fmt, raw)
                ):
                    continue
                for i in range(page.cEnt):
                    nid, bid_data, bid_sub = cols.unpack_from(page.rgentries, i * page.cbEnt)
                    out.setdefault(s.bid_key(bid_data), (s.nid_of(nid), bid_sub))
        return out

    def blocks(self, start: int, end: int) -> list[Block]:
        """Blocks whose trailer survives in [start, end): size and signature hold.

        A block may begin before ``start``: a newer, smaller block then overwrote its head
        (its CRC fails) but its tail, and its bid, survive here.
        """
        fmt, read = self.fmt, self.ndb.read_at
        trailer = self.ndb.blocks.trailer_fast
        size, align = fmt.block_trailer_size, fmt.block_align
        out: list[Block] = []
        first = -(-(start + size) // align) * align
        base = first - size
        window = read(base, end - base)  # one read
        for tail_end in range(first, end + 1, align):
            t = trailer.parse(window, tail_end - size - base)
            if not 0 < t.cb <= fmt.max_block_data or not t.bid:
                continue
            begin = tail_end - s.block_size(fmt, t.cb)
            if begin < s.FIRST_AMAP or t.wSig != compute_sig(begin, t.bid):
                continue
            ok = t.dwCRC == crc32(read(begin, t.cb))
            out.append(Block(begin, tail_end, t.bid, t.cb, ok))
        return out


def _holder(blocks: list[Block], offset: int) -> Block | None:
    """The smallest surviving block whose data holds ``offset``."""
    holding = [b for b in blocks if b.start <= offset < b.start + b.cb]
    return min(holding, key=lambda b: b.cb, default=None)


def _keep(block: Block, data: bytes) -> bool:
    """A block worth keeping for the deleted-manager search: a heap or a subnode list."""
    if s.bid_is_internal(block.bid):
        head = internal_header(data, s.INTERNAL_HEADER_FAST.size)
        return head is not None and head.btype == s.BTYPE_SLBLOCK
    header = heap_header(data)
    return header is not None and header.bClientSig == CLIENT_SIG_PC


def find_in_store(
    ndb: NdbFile, space: StoreSpace, progress: Callable[[int, int], None] | None = None
) -> tuple[list[Found], list[Surviving], list[Finding]]:
    """Every run of tags in the store's unreferenced space, decoded as the store encodes.

    Returns the finds, the surviving blocks that may belong to a deleted message (property
    contexts and subnode lists, decoded), and the findings about the allocation maps.
    ``progress`` gets the bytes of unreferenced space read so far and their total (told
    at most once per MiB: a large store has tens of thousands of gaps).
    """
    method = ndb.crypt_method
    name = CRYPT_NAMES[method]
    read = ndb.read_at  # not through the map: the gaps lie all over the file
    out: list[Found] = []
    kept: list[Surviving] = []

    def keep(block: Block, decoded: bytes) -> None:
        if block.start >= s.FIRST_AMAP and _keep(block, decoded):
            kept.append((block, decoded, space.place(block.start, block.cb, block, name)))

    def add(run: Run, data: bytes, offset: int, block: Block | None, near: bytes) -> None:
        """Record a find. A whole BLOB's place takes in the ``count + 4`` bytes of slack
        that Outlook writes after its last tag when its block still holds them."""
        length = run.size
        if run.complete and block is not None and run.header is not None:
            with_slack = length + slack_size(run.header[1])
            if offset + with_slack <= block.start + block.cb:
                length = with_slack
        place = space.place(offset, length, block, name)
        out.append((run, run.core(data), place, account_near(near)))

    total, done, told = sum(end - start for start, end in space.gaps), 0, -1
    for start, end in space.gaps:
        if progress is not None and done >> 20 != told:
            told = done >> 20
            progress(done, total)
        done += end - start
        blocks = space.blocks(start, end)
        if method == CRYPT_CYCLIC:  # each block decodes with its own bid: trailer needed
            for block in blocks:
                stored = read(block.start, block.cb)
                if s.bid_is_internal(block.bid):
                    keep(block, stored)
                    continue
                plain = decode_block(stored, method, block.bid)
                keep(block, plain)
                for run in find_runs(plain, max(0, start - block.start)):
                    add(run, plain, block.start + run.offset, block, plain)
            continue
        plain = decode_block(read(start, end - start), method, 0)
        for block in blocks:
            if block.start >= start:
                own = (
                    read(block.start, block.cb)
                    if s.bid_is_internal(block.bid)
                    else plain[block.start - start : block.start - start + block.cb]
                )
                keep(block, own)
        for run in find_runs(plain):
            offset = start + run.offset
            holder = _holder(blocks, offset)
            lo, hi = (
                (holder.start, holder.start + holder.cb)
                if holder
                else (max(start, offset - _NEAR), min(end, offset + _NEAR))
            )
            add(run, plain, offset, holder, plain[lo - start : hi - start])
    if progress is not None:
        progress(total, total)
    return out, kept, space.findings
