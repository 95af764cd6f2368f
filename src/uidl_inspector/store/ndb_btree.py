"""The page layer of a PST/OST: BT pages and the node (NBT) and block (BBT) B-trees.

Why its own module: a lookup reads only the pages on one path from the root, checked
(bounds, page type, trailer BID, CRC, signature, level, counts, key order) and cached, so
a question costs a few pages whatever the size of the store; a whole-tree walk is asked
for, never the default. Layouts: :mod:`uidl_inspector.schemas.ndb`.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from uidl_inspector.findings import Finding
from uidl_inspector.schemas import ndb as s
from uidl_inspector.schemas.encoding import compute_sig
from uidl_inspector.store.ndb_header import NdbHeader, Recorder

__all__ = ["NdbBtrees", "NbtEntry", "BbtEntry", "Lru", "MAX_BTREE_DEPTH"]

MAX_BTREE_DEPTH = 8  # intermediate levels of the NBT/BBT (ms-pst-map §6)
_PAGE_CACHE = 512
_NID_MASK = s.NID_MASK  # s.nid_of inlined on the per-lookup path
_NID_TYPE_MASK = s.NID_TYPE_MASK

K = TypeVar("K")
V = TypeVar("V")


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


@dataclass(frozen=True, slots=True)
class _Page:
    level: int
    key_list: list[int]
    entries: list[Any]  # FastRecord namedtuples: BTENTRY, NBTENTRY or BBTENTRY


class Lru(OrderedDict[K, V], Generic[K, V]):
    """A small LRU map for decoded pages and blocks."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: K, value: V) -> None:
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)


class NdbBtrees:
    """The NBT and BBT of a store, read through ``read(offset, size)`` (the file's bytes);
    structural findings go to ``record`` (into the store's findings), once per page."""

    def __init__(
        self, header: NdbHeader, size: int, read: Callable[[int, int], bytes], record: Recorder
    ) -> None:
        self.fmt = fmt = header.fmt
        self.roots = header.roots
        self.size = size
        self.findings = record.sink
        self.read = read
        self._record = record
        self._pages: Lru[tuple[int, int, int], _Page] = Lru(_PAGE_CACHE)
        self.nbt_fast = s.FastRecord(fmt.NBTENTRY, "NBTENTRY")
        self.bbt_fast = s.FastRecord(fmt.BBTENTRY, "BBTENTRY")
        self.bt_fast = s.FastRecord(fmt.BTENTRY, "BTENTRY")
        self._leaf_fast = {s.PTYPE_NBT: self.nbt_fast, s.PTYPE_BBT: self.bbt_fast}
        self.page_fast = s.FastRecord(fmt.BTPAGE, "BTPAGE")

    def roots_readable(self) -> bool:
        """Whether either root page can be read (a store with neither cannot be opened)."""
        pages = [self.page(ib, bid, ptype, None) for ptype, (ib, bid) in self.roots.items()]
        return any(page is not None for page in pages)

    def page(self, ib: int, bid: int, ptype: int, level: int | None) -> _Page | None:
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
        raw = self.read(ib, size)
        page = self.page_fast.parse(raw)  # BTPAGE, its Check applied just below
        if page.pageTrailer_ptype != page.pageTrailer_ptypeRepeat:
            record("page_bad_trailer", ib, f"page {bid:#x}: ptype and ptypeRepeat differ")
            return None
        if page.pageTrailer_ptype != ptype:
            record("page_type_mismatch", ib, f"page {bid:#x} has ptype {page.pageTrailer_ptype:#x}")
            return None
        if page.pageTrailer_bid != bid:
            detail = f"trailer bid {page.pageTrailer_bid:#x}, expected {bid:#x}"
            record("page_bid_mismatch", ib, detail)
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
        decl = self.bt_fast if page.cLevel else self._leaf_fast[ptype]
        if page.cbEnt < decl.size or page.cEnt * page.cbEnt > fmt.btentries_size:
            detail = f"page {bid:#x}: {page.cEnt} entries of {page.cbEnt} bytes do not fit"
            record("page_bad_counts", ib, detail)
            return None
        if page.cEnt > page.cEntMax:
            record("page_bad_counts", ib, f"page {bid:#x}: cEnt {page.cEnt} > {page.cEntMax}")
        entries = decl.parse_many(page.rgentries, page.cEnt, page.cbEnt)
        keys = [e[0] for e in entries]  # each entry opens with its key: btkey, nid or BREF.bid
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
        ib, bid = self.roots[ptype]
        level = None
        for _ in range(MAX_BTREE_DEPTH + 1):
            page = self.page(ib, bid, ptype, level)
            if page is None:
                return None
            pos = bisect.bisect_right(page.key_list, key) - 1
            if pos < 0:
                return None
            entry = page.entries[pos]
            if page.level == 0:
                return entry if page.key_list[pos] == key else None
            ib, bid, level = entry.BREF_ib, entry.BREF_bid, page.level - 1
        Recorder(sink)("btree_too_deep", ib, "B-tree deeper than allowed")
        return None

    def node_entry(self, nid: int, sink: list[Finding] | None = None) -> NbtEntry | None:
        """The NBT entry of ``nid``, or None."""
        entry = self._lookup(s.PTYPE_NBT, nid, self.findings if sink is None else sink)
        if entry is None:
            return None
        return NbtEntry(entry.nid & _NID_MASK, entry.bidData, entry.bidSub, entry.nidParent)

    def block_entry(self, bid: int, sink: list[Finding] | None = None) -> BbtEntry | None:
        """The BBT entry of ``bid`` (its reserved bit cleared), or None."""
        entry = self._lookup(s.PTYPE_BBT, s.bid_key(bid), self.findings if sink is None else sink)
        return None if entry is None else BbtEntry(entry.BREF_bid, entry.BREF_ib, entry.cb)

    def iter_entries(self, ptype: int, sink: list[Finding] | None = None) -> Iterator[Any]:
        """Every leaf entry of the NBT or BBT in key order (reads the whole tree)."""
        sink = self.findings if sink is None else sink
        root_ib, root_bid = self.roots[ptype]
        seen: set[int] = set()
        stack: list[tuple[int, int, int | None, int]] = [(root_ib, root_bid, None, 0)]
        while stack:
            ib, bid, level, depth = stack.pop()
            if ib in seen:
                Recorder(sink)("btree_cycle", ib, f"page at {ib:#x} visited twice")
                continue
            seen.add(ib)
            if depth > MAX_BTREE_DEPTH:
                Recorder(sink)("btree_too_deep", ib, "B-tree deeper than allowed")
                continue
            page = self.page(ib, bid, ptype, level)
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
            nid = entry.nid & _NID_MASK  # s.nid_of and s.nid_type inlined: every node
            if nid_type is None or nid & _NID_TYPE_MASK == nid_type:
                yield NbtEntry(nid, entry.bidData, entry.bidSub, entry.nidParent)
