"""Read-only NDB layer of a PST/OST: header, node and block B-trees, blocks, data and subnode trees.

Why this shape: evidence is opened read-only (mmap, ACCESS_READ) and only the pages a
question needs are read, so a lookup costs a few pages whatever the size of the store. Every
pointer the file gives is checked (bounds, page type, trailer BID, sizes, CRC, depth,
cycles); what is wrong becomes a :class:`~uidl_inspector.findings.Finding` on the object
concerned and reading goes on. Layouts come from :mod:`uidl_inspector.schemas.ndb`.
"""

from __future__ import annotations

import bisect
import mmap
import os
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from construct import ConstructError

from uidl_inspector.exceptions import CorruptStructureError, NotAStoreError, UnsupportedVersionError
from uidl_inspector.findings import Finding
from uidl_inspector.schemas import ndb as s
from uidl_inspector.schemas.encoding import CRYPT_NAMES, compute_sig, crc32, decode_block
from uidl_inspector.store.byteview import ByteView

__all__ = ["NdbFile", "Node", "NbtEntry", "BbtEntry", "MAX_BTREE_DEPTH", "MAX_SUBNODES"]

MAX_BTREE_DEPTH = 8  # intermediate levels of the NBT/BBT (ms-pst-map §6)
MAX_DATA_TREE_DEPTH = 2  # XXBLOCK -> XBLOCK -> data
MAX_SUBNODE_DEPTH = 2  # SIBLOCK -> SLBLOCK
MAX_SUBNODES = 1 << 20  # entries of one subnode tree
_PAGE_CACHE = 512
_BLOCK_CACHE = 256
RELEASE_EVERY = 16 << 20  # bytes read from the mapping between two releases of its pages
_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)  # absent on Windows


@dataclass(frozen=True, slots=True)
class NbtEntry:
    """A node of the NBT (or of a subnode tree): its data tree and its subnode tree."""

    nid: int
    bid_data: int
    bid_sub: int
    nid_parent: int


@dataclass(frozen=True, slots=True)
class BbtEntry:
    """A block of the BBT: where it is and how many bytes it stores."""

    bid: int
    ib: int
    cb: int
    cref: int
    cb_inflated: int = 0  # 4K OST only (libpst reading)


@dataclass(frozen=True, slots=True)
class _Page:
    level: int
    key_list: list[int]
    entries: list[Any]


class _Recorder:
    """Collects findings once each (same code and offset) into a list."""

    def __init__(self, sink: list[Finding]) -> None:
        self.sink = sink
        self._seen: set[tuple[str, int | None, str]] = set()

    def __call__(self, code: str, offset: int | None, detail: str) -> None:
        key = (code, offset, detail)
        if key not in self._seen:
            self._seen.add(key)
            self.sink.append(Finding(code, offset, detail))


class _Lru(OrderedDict):
    """A small LRU map for decoded pages and blocks."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)


class NdbFile:
    """A PST/OST file opened read-only at the NDB level."""

    def __init__(self, path: str | os.PathLike[str], stream: BinaryIO | None = None) -> None:
        """Open ``path`` (mmapped), or read ``stream`` (a store inside an image) in place.

        ``path`` then only names the store in messages; the stream is closed by close().
        """
        self.path = os.fspath(path)
        self.findings: list[Finding] = []
        self._record = _Recorder(self.findings)
        self._file: BinaryIO | None = stream or open(self.path, "rb")  # noqa: SIM115
        try:
            if stream is not None:
                self._map: mmap.mmap | ByteView | bytes = ByteView(stream)
                self.size = len(self._map)
            else:
                self.size = os.fstat(self._file.fileno()).st_size
                self._map = (
                    mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ) if self.size else b""
                )
            self._read_header()
        except BaseException:
            self.close()
            raise
        self._touched = 0  # bytes read through the mapping since it was last released
        self._pages: _Lru = _Lru(_PAGE_CACHE)
        self._blocks: _Lru = _Lru(_BLOCK_CACHE)
        self._block_ib: _Lru = _Lru(_BLOCK_CACHE * 8)
        self._nbt_fast = s.FastRecord(self.fmt.NBTENTRY, "NBTENTRY")
        self._bbt_fast = s.FastRecord(self.fmt.BBTENTRY, "BBTENTRY")
        self._bt_fast = s.FastRecord(self.fmt.BTENTRY, "BTENTRY")
        self._page_fast = s.FastRecord(self.fmt.BTPAGE, "BTPAGE")
        self._trailer_fast = s.FastRecord(self.fmt.BLOCKTRAILER, "BLOCKTRAILER")
        root = self.header.root
        self._roots = {
            s.PTYPE_NBT: (root.BREFNBT.ib, root.BREFNBT.bid),
            s.PTYPE_BBT: (root.BREFBBT.ib, root.BREFBBT.bid),
        }
        self._check_roots()

    def _read(self, start: int, size: int) -> bytes:
        """Bytes of the file. The mapped pages read are released to the page cache every
        RELEASE_EVERY bytes: a walk over every message of a 50 GB store would otherwise keep
        each page it touched in this process's resident set."""
        data = bytes(self._map[start : start + size])
        self._touched += size
        if (
            self._touched >= RELEASE_EVERY
            and _DONTNEED is not None
            and isinstance(self._map, mmap.mmap)
        ):
            self._map.madvise(_DONTNEED)
            self._touched = 0
        return data

    # ------------------------------------------------------------ header

    def read_at(self, offset: int, size: int) -> bytes:
        """``size`` bytes at ``offset`` (fewer at the end), without keeping them mapped: for
        a walk over pages spread across the file (recovery's B-tree walk), which through
        the map would keep a page of memory resident for every page read."""
        if (
            isinstance(self._map, mmap.mmap) and self._file is not None and offset >= 0 and size > 0
        ):  # otherwise a slice's meaning, as a damaged store may ask
            return os.pread(self._file.fileno(), size, offset)
        return bytes(self._map[offset : offset + size])

    def _read_header(self) -> None:
        data = self._map
        if self.size < 4 or bytes(data[:4]) != s.HEADER_MAGIC:
            raise NotAStoreError(f"{self.path}: not a PST/OST file (no !BDN magic)")
        if self.size < 512:
            raise CorruptStructureError(f"{self.path}: header truncated ({self.size} bytes)", 0)
        client = bytes(data[8:10])
        wver = int.from_bytes(data[10:12], "little")
        fmt = s.format_for_version(wver)
        if fmt is None:
            raise UnsupportedVersionError(f"{self.path}: unsupported PST/OST version wVer={wver}")
        if client not in (s.CLIENT_PST, s.CLIENT_OST, s.CLIENT_PAB):
            raise UnsupportedVersionError(f"{self.path}: unknown client magic {client!r}")
        if self.size < fmt.HEADER.sizeof():
            raise CorruptStructureError(f"{self.path}: header truncated ({self.size} bytes)", 0)
        raw = bytes(data[: fmt.HEADER.sizeof()])
        try:
            header = fmt.HEADER.parse(raw)
        except ConstructError as error:  # only the magic is checked; kept for safety
            raise CorruptStructureError(f"{self.path}: unreadable header: {error}", 0) from None
        self.fmt: s.NdbFormat = fmt
        self.header = header
        self.wver = wver
        self.client = client
        if header.bCryptMethod not in CRYPT_NAMES:
            raise UnsupportedVersionError(
                f"{self.path}: unsupported block encoding bCryptMethod={header.bCryptMethod:#x}"
            )
        self.crypt_method = header.bCryptMethod
        if fmt is s.UNICODE_4K:
            self.variant = "ost4k"
        elif client == s.CLIENT_OST:
            self.variant = "ost"
        else:
            self.variant = "ansi" if fmt is s.ANSI else "unicode"
        if header.dwCRCPartial != s.header_crc_partial(raw):
            self._record("header_crc_mismatch", 4, "dwCRCPartial does not match the header")
        if fmt.wide and header.dwCRCFull != s.header_crc_full(raw):
            self._record("header_crc_mismatch", 524, "dwCRCFull does not match the header")
        if header.bSentinel != 0x80:
            self._record("header_bad_sentinel", None, f"bSentinel is {header.bSentinel:#x}")
        eof = header.root.ibFileEof
        if eof > self.size:
            self._record(
                "file_truncated", self.size, f"header says {eof} bytes, file has {self.size}"
            )
        elif eof != self.size:
            self._record(
                "file_size_mismatch", eof, f"header says {eof} bytes, file has {self.size}"
            )

    def _check_roots(self) -> None:
        root = self.header.root
        nbt = self._page(root.BREFNBT.ib, root.BREFNBT.bid, s.PTYPE_NBT, None)
        bbt = self._page(root.BREFBBT.ib, root.BREFBBT.bid, s.PTYPE_BBT, None)
        if nbt is None and bbt is None:
            raise CorruptStructureError(f"{self.path}: neither B-tree root page can be read")

    @property
    def encryption(self) -> str:
        return CRYPT_NAMES[self.crypt_method]

    def close(self) -> None:
        """Release the mapping and the file handle."""
        if isinstance(getattr(self, "_map", None), mmap.mmap):
            self._map.close()
        self._map = b""
        if getattr(self, "_file", None) is not None:
            self._file.close()
            self._file = None

    # ------------------------------------------------------------ pages

    def _page(self, ib: int, bid: int, ptype: int, level: int | None) -> _Page | None:
        """A checked BT page; None when it cannot be used.

        A page is a structure of the store: its findings go to the store's own list, once
        per page, however many lookups cross it (a page that cannot be used is not cached,
        so each lookup checks it again; recording it in each lookup's list reported one
        damaged page several times).
        """
        key = (ib, bid, ptype)
        record = self._record
        cached = self._pages.get(key)
        if cached is not None:
            if level is not None and cached.level != level:
                record("page_level_mismatch", ib, f"page {bid:#x} reached at two levels")
                return None
            return cached
        fmt = self.fmt
        size = fmt.page_size
        if ib % size or ib + size > self.size or ib <= 0:
            record("page_out_of_bounds", ib, f"page {bid:#x} at {ib:#x} is outside the file")
            return None
        raw = self._read(ib, size)
        page = self._page_fast.parse(raw)  # BTPAGE, its Check applied just below
        if page.pageTrailer_ptype != page.pageTrailer_ptypeRepeat:
            record("page_bad_trailer", ib, f"page {bid:#x}: ptype and ptypeRepeat differ")
            return None
        if page.pageTrailer_ptype != ptype:
            record("page_type_mismatch", ib, f"page {bid:#x} has ptype {page.pageTrailer_ptype:#x}")
            return None
        if page.pageTrailer_bid != bid:
            record(
                "page_bid_mismatch", ib, f"trailer bid {page.pageTrailer_bid:#x}, expected {bid:#x}"
            )
            return None
        if page.pageTrailer_dwCRC != s.page_crc(fmt, raw):
            record("page_crc_mismatch", ib, f"page {bid:#x} CRC does not match")
        if page.pageTrailer_wSig != compute_sig(ib, bid):
            record("page_sig_mismatch", ib, f"page {bid:#x} signature does not match")
        if level is not None and page.cLevel != level:
            record("page_level_mismatch", ib, f"page {bid:#x} level {page.cLevel}, want {level}")
            return None
        if page.cLevel > MAX_BTREE_DEPTH:
            record("btree_too_deep", ib, f"page {bid:#x} claims level {page.cLevel}")
            return None
        if page.cLevel:
            decl = self._bt_fast
        else:
            decl = self._nbt_fast if ptype == s.PTYPE_NBT else self._bbt_fast
        if page.cbEnt < decl.size or page.cEnt * page.cbEnt > fmt.btentries_size:
            record(
                "page_bad_counts",
                ib,
                f"page {bid:#x}: {page.cEnt} entries of {page.cbEnt} bytes do not fit",
            )
            return None
        if page.cEnt > page.cEntMax:
            record("page_bad_counts", ib, f"page {bid:#x}: cEnt {page.cEnt} > {page.cEntMax}")
        entries = decl.parse_many(page.rgentries, page.cEnt, page.cbEnt)
        if page.cLevel:
            keys = [e.btkey for e in entries]
        elif ptype == s.PTYPE_NBT:
            keys = [e.nid for e in entries]
        else:
            keys = [e.BREF_bid for e in entries]
        if any(a >= b for a, b in zip(keys, keys[1:], strict=False)):
            record("btree_key_order", ib, f"page {bid:#x}: keys are not ascending")
            order = sorted(range(len(keys)), key=keys.__getitem__)
            keys = [keys[i] for i in order]
            entries = [entries[i] for i in order]
        result = _Page(page.cLevel, keys, entries)
        self._pages.put(key, result)
        return result

    def _lookup(self, ptype: int, key: int, sink: list[Finding]) -> Any | None:
        """The leaf entry with exactly ``key`` in the NBT or BBT, walking one path down.

        Each step must reach a page one level lower, so the walk ends within
        MAX_BTREE_DEPTH + 1 pages even when pages point back up.
        """
        ib, bid = self._roots[ptype]
        level = None
        for _ in range(MAX_BTREE_DEPTH + 1):
            page = self._page(ib, bid, ptype, level)
            if page is None:
                return None
            pos = bisect.bisect_right(page.key_list, key) - 1
            if pos < 0:
                return None
            entry = page.entries[pos]
            if page.level == 0:
                return entry if page.key_list[pos] == key else None
            ib, bid, level = entry.BREF_ib, entry.BREF_bid, page.level - 1
        _Recorder(sink)("btree_too_deep", ib, "B-tree deeper than allowed")
        return None

    def node_entry(self, nid: int, sink: list[Finding] | None = None) -> NbtEntry | None:
        """The NBT entry of ``nid``, or None."""
        entry = self._lookup(s.PTYPE_NBT, nid, self.findings if sink is None else sink)
        if entry is None:
            return None
        return NbtEntry(entry.nid & 0xFFFFFFFF, entry.bidData, entry.bidSub, entry.nidParent)

    def block_entry(self, bid: int, sink: list[Finding] | None = None) -> BbtEntry | None:
        """The BBT entry of ``bid`` (bit 0 cleared), or None."""
        entry = self._lookup(s.PTYPE_BBT, bid & ~1, self.findings if sink is None else sink)
        if entry is None:
            return None
        return BbtEntry(
            entry.BREF_bid, entry.BREF_ib, entry.cb, entry.cRef, getattr(entry, "cbInflated", 0)
        )

    def iter_entries(self, ptype: int, sink: list[Finding] | None = None) -> Iterator[Any]:
        """Every leaf entry of the NBT or BBT in key order (reads the whole tree)."""
        sink = self.findings if sink is None else sink
        root_ib, root_bid = self._roots[ptype]
        seen: set[int] = set()
        stack: list[tuple[int, int, int | None, int]] = [(root_ib, root_bid, None, 0)]
        while stack:
            ib, bid, level, depth = stack.pop()
            if ib in seen:
                _Recorder(sink)("btree_cycle", ib, f"page at {ib:#x} visited twice")
                continue
            seen.add(ib)
            if depth > MAX_BTREE_DEPTH:
                _Recorder(sink)("btree_too_deep", ib, "B-tree deeper than allowed")
                continue
            page = self._page(ib, bid, ptype, level)
            if page is None:
                continue
            if page.level == 0:
                yield from page.entries
                continue
            for entry in reversed(page.entries):
                stack.append((entry.BREF_ib, entry.BREF_bid, page.level - 1, depth + 1))

    def iter_nodes(
        self, nid_type: int | None = None, sink: list[Finding] | None = None
    ) -> Iterator[NbtEntry]:
        """Every NBT node, or those of one NID type (a whole-tree walk: asked for, not default)."""
        for entry in self.iter_entries(s.PTYPE_NBT, sink):
            nid = entry.nid & 0xFFFFFFFF
            if nid_type is None or nid & 0x1F == nid_type:
                yield NbtEntry(nid, entry.bidData, entry.bidSub, entry.nidParent)

    # ------------------------------------------------------------ blocks

    def read_block(self, bid: int, sink: list[Finding]) -> bytes | None:
        """The bytes of one block, checked, inflated (4K) and decoded; None if unusable."""
        bid &= ~1
        cached = self._blocks.get(bid)
        if cached is not None:
            return cached
        record = _Recorder(sink)
        entry = self.block_entry(bid, sink)
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
        if isinstance(self._map, ByteView):  # a stream: read the trailer's bytes
            trailer = self._trailer_fast.parse(self._map[tail : tail + fmt.block_trailer_size])
        else:  # the mmap fast path: unpack in place
            trailer = self._trailer_fast.parse(self._map, tail)
        if trailer.bid & ~1 != bid:
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
        if fmt is s.UNICODE_4K and inflated > cb:
            data = self._inflate(stored, inflated, ib, bid, record)
            if data is None:
                return None
        if not bid & 2:  # external block: the only kind that is encoded
            data = decode_block(data, self.crypt_method, bid)
        self._blocks.put(bid, data)
        return data

    @staticmethod
    def _inflate(
        stored: bytes, inflated: int, ib: int, bid: int, record: Callable[..., None]
    ) -> bytes | None:
        """zlib-inflate a 4K OST block to at most its announced size (UNCONFIRMED format)."""
        try:
            inflater = zlib.decompressobj()
            data = inflater.decompress(stored, inflated)
        except zlib.error as error:
            record("block_inflate_failed", ib, f"block {bid:#x}: {error}")
            return None
        if len(data) != inflated:
            record("block_inflate_failed", ib, f"block {bid:#x}: {len(data)} != {inflated} bytes")
        return data

    def block_offset(self, bid: int) -> int | None:
        """File offset of a block read earlier (for findings), if still remembered."""
        return self._block_ib.get(bid & ~1)

    def _visit(self, bid: int, seen: set[int], sink: list[Finding], cycle: str) -> bytes | None:
        """A tree's block, once: a second visit is a cycle (finding ``cycle``)."""
        if bid in seen:
            _Recorder(sink)(cycle, None, f"block {bid:#x} appears twice in one tree")
            return None
        seen.add(bid)
        return self.read_block(bid, sink)

    def read_tree(self, bid: int, sink: list[Finding]) -> list[tuple[int, bytes]]:
        """The data blocks of a data tree (one block, XBLOCK or XXBLOCK) as (bid, bytes)."""
        if bid == 0:
            return []
        out: list[tuple[int, bytes]] = []
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
        record = _Recorder(sink)
        bid &= ~1
        data = self._visit(bid, seen, sink, "data_tree_cycle")
        if data is None:
            return
        if not bid & 2:
            out.append((bid, data))
            return
        fmt = self.fmt
        if depth <= 0 or len(data) < 8 or data[0] != s.BTYPE_XBLOCK or data[1] not in (1, 2):
            record("data_tree_bad_block", None, f"block {bid:#x} is not a usable XBLOCK")
            return
        decl = fmt.XBLOCK if data[1] == 1 else fmt.XXBLOCK
        count = int.from_bytes(data[2:4], "little")
        if 8 + count * fmt.bid_size > len(data) or (data[1] == 2 and depth < 2):
            record("data_tree_bad_block", None, f"block {bid:#x}: {count} entries do not fit")
            return
        xblock = decl.parse(data)
        start = len(out)
        for child in xblock.rgbid:
            if data[1] == 2:
                self._collect_x(child, seen, out, sink)
            else:
                if child & 2:
                    record(
                        "data_tree_bad_block", None, f"XBLOCK {bid:#x} lists internal {child:#x}"
                    )
                    continue
                self._collect(child, 0, seen, out, sink)
        got = sum(len(b) for _, b in out[start:])
        if got != xblock.lcbTotal:
            record(
                "data_tree_size_mismatch", None, f"tree {bid:#x}: {got} of {xblock.lcbTotal} bytes"
            )

    def _collect_x(
        self, bid: int, seen: set[int], out: list[tuple[int, bytes]], sink: list[Finding]
    ) -> None:
        """An XXBLOCK's child must be an XBLOCK."""
        if not bid & 2:
            _Recorder(sink)("data_tree_bad_block", None, f"XXBLOCK lists data block {bid:#x}")
            return
        self._collect(bid, 1, seen, out, sink)

    # ------------------------------------------------------------ subnodes

    def read_subnodes(self, bid: int, sink: list[Finding]) -> dict[int, NbtEntry]:
        """The entries of a subnode tree (SLBLOCK, or SIBLOCK of SLBLOCKs) by NID."""
        out: dict[int, NbtEntry] = {}
        if bid:
            self._subnodes(bid, MAX_SUBNODE_DEPTH, set(), out, sink)
        return out

    def _subnodes(
        self, bid: int, depth: int, seen: set[int], out: dict[int, NbtEntry], sink: list[Finding]
    ) -> None:
        record = _Recorder(sink)
        bid &= ~1
        data = self._visit(bid, seen, sink, "subnode_cycle")
        if data is None:
            return
        fmt = self.fmt
        head = fmt.internal_header_size
        if not bid & 2 or len(data) < head or data[0] != s.BTYPE_SLBLOCK or data[1] > 1:
            record("subnode_bad_block", None, f"block {bid:#x} is not an SLBLOCK/SIBLOCK")
            return
        level = data[1]
        count = int.from_bytes(data[2:4], "little")
        decl = fmt.SIBLOCK if level else fmt.SLBLOCK
        entry_size = (fmt.SIENTRY if level else fmt.SLENTRY).sizeof()
        if head + count * entry_size > len(data) or (level and depth < 2):
            record("subnode_bad_block", None, f"subnode block {bid:#x}: bad count or depth")
            return
        block = decl.parse(data)
        for entry in block.rgentries:
            if level:
                self._subnodes(entry.bid, depth - 1, seen, out, sink)
            elif len(out) < MAX_SUBNODES:
                nid = entry.nid & 0xFFFFFFFF
                out[nid] = NbtEntry(nid, entry.bidData, entry.bidSub, 0)


@dataclass
class Node:
    """A node (top-level or subnode) with its data tree and its own subnode tree.

    Findings about the node's blocks go to ``findings`` (shared with the object that owns
    the node, so a broken attachment block is reported on the attachment).
    """

    ndb: NdbFile
    entry: NbtEntry
    findings: list[Finding] = field(default_factory=list)
    _tree: list[tuple[int, bytes]] | None = field(default=None, repr=False)
    _subs: dict[int, NbtEntry] | None = field(default=None, repr=False)

    @property
    def nid(self) -> int:
        return self.entry.nid

    def blocks(self) -> list[bytes]:
        """The decoded data blocks of the node's data tree."""
        if self._tree is None:
            self._tree = self.ndb.read_tree(self.entry.bid_data, self.findings)
        return [data for _, data in self._tree]

    def block_offset(self, index: int) -> int | None:
        """File offset of data block ``index`` (for findings)."""
        self.blocks()
        if self._tree is None or not 0 <= index < len(self._tree):
            return None
        return self.ndb.block_offset(self._tree[index][0])

    def data(self) -> bytes:
        """All of the node's data."""
        return b"".join(self.blocks())

    def subnode_entries(self) -> dict[int, NbtEntry]:
        if self._subs is None:
            self._subs = self.ndb.read_subnodes(self.entry.bid_sub, self.findings)
        return self._subs

    def subnode(self, nid: int, findings: list[Finding] | None = None) -> Node | None:
        """The subnode ``nid`` of this node (its findings go to ``findings`` if given)."""
        entry = self.subnode_entries().get(nid)
        if entry is None:
            return None
        return Node(self.ndb, entry, self.findings if findings is None else findings)
