"""Read-only NDB layer of a PST/OST: one object for the header, the B-trees and the blocks.

Why this shape: evidence is opened read-only (mmap, ACCESS_READ) and only the pages a
question needs are read, so a lookup costs a few pages whatever the size of the store. Every
pointer the file gives is checked (bounds, page type, trailer BID, sizes, CRC, depth,
cycles); what is wrong becomes a :class:`~uidl_inspector.findings.Finding` on the object
concerned and reading goes on. :class:`NdbFile` owns the file and its mapping and hands
the work to three layers, each its own module: the header
(:mod:`~uidl_inspector.store.ndb_header`), the page/B-tree layer
(:mod:`~uidl_inspector.store.ndb_btree`) and the block layer
(:mod:`~uidl_inspector.store.ndb_blocks`). Layouts come from
:mod:`uidl_inspector.schemas.ndb`.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from uidl_inspector.exceptions import CorruptStructureError
from uidl_inspector.findings import Finding
from uidl_inspector.schemas import ndb as s
from uidl_inspector.store.byteview import ByteView
from uidl_inspector.store.ndb_blocks import MAX_SUBNODES, NdbBlocks
from uidl_inspector.store.ndb_btree import MAX_BTREE_DEPTH, BbtEntry, NbtEntry, NdbBtrees
from uidl_inspector.store.ndb_header import Mapped, NdbHeader, Recorder

__all__ = ["NdbFile", "Node", "NbtEntry", "BbtEntry", "MAX_BTREE_DEPTH", "MAX_SUBNODES"]

RELEASE_EVERY = 16 << 20  # bytes read from the mapping between two releases of its pages
_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)  # absent on Windows


class NdbFile:
    """A PST/OST file opened read-only at the NDB level."""

    def __init__(self, path: str | os.PathLike[str], stream: BinaryIO | None = None) -> None:
        """Open ``path`` (mmapped), or read ``stream`` (a store inside an image) in place.

        ``path`` then only names the store in messages; the stream is closed by close().
        """
        self.path = os.fspath(path)
        self.findings: list[Finding] = []
        self._record = Recorder(self.findings)
        self._file: BinaryIO | None = stream or open(self.path, "rb")  # noqa: SIM115
        self._touched = 0  # bytes read through the mapping since it was last released
        try:
            if stream is not None:
                self._map: Mapped = ByteView(stream)
                self.size = len(self._map)
            else:
                self.size = os.fstat(self._file.fileno()).st_size
                self._map = (
                    mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ) if self.size else b""
                )
            head = NdbHeader(self._map, self.size, self.path, self._record)
        except BaseException:
            self.close()
            raise
        self.fmt: s.NdbFormat = head.fmt
        self.header: Any = head.fields  # the HEADER as parsed
        self.variant, self.encryption = head.variant, head.encryption
        self.crypt_method = head.crypt_method
        self.btrees = NdbBtrees(head, self.size, self._read, self._record)
        self.blocks = NdbBlocks(head, self._map, self.btrees)
        if not self.btrees.roots_readable():
            self.close()
            raise CorruptStructureError(f"{self.path}: neither B-tree root page can be read")

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

    def read_at(self, offset: int, size: int) -> bytes:
        """``size`` bytes at ``offset`` (fewer at the end), without keeping them mapped: for
        a walk over pages spread across the file (recovery's B-tree walk), which through
        the map would keep a page of memory resident for every page read."""
        if (
            isinstance(self._map, mmap.mmap) and self._file is not None and offset >= 0 and size > 0
        ):  # otherwise a slice's meaning, as a damaged store may ask
            return os.pread(self._file.fileno(), size, offset)
        return bytes(self._map[offset : offset + size])

    def close(self) -> None:
        """Release the mapping and the file handle."""
        mapped = getattr(self, "_map", None)
        if isinstance(mapped, mmap.mmap):
            mapped.close()
        self._map = b""
        handle = getattr(self, "_file", None)
        if handle is not None:
            handle.close()
            self._file = None


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
            self._tree = self.ndb.blocks.read_tree(self.entry.bid_data, self.findings)
        return [data for _, data in self._tree]

    def block_offset(self, index: int) -> int | None:
        """File offset of data block ``index`` (for findings)."""
        self.blocks()
        if self._tree is None or not 0 <= index < len(self._tree):
            return None
        return self.ndb.blocks.block_offset(self._tree[index][0])

    def data(self) -> bytes:
        """All of the node's data."""
        return b"".join(self.blocks())

    def subnode(self, nid: int, findings: list[Finding] | None = None) -> Node | None:
        """The subnode ``nid`` of this node (its findings go to ``findings`` if given)."""
        if self._subs is None:
            self._subs = self.ndb.blocks.read_subnodes(self.entry.bid_sub, self.findings)
        entry = self._subs.get(nid)
        if entry is None:
            return None
        return Node(self.ndb, entry, self.findings if findings is None else findings)
