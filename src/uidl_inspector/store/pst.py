"""Open a PST or OST store read-only: ``open_pst(path) -> PstStore``.

The store is the entry point of the native reader: the message store properties, the root
folder and, when asked, walks over every node of a type (for carving and orphan sweeps).
Wrong magic raises NotAStoreError, an unknown version or encoding UnsupportedVersionError,
and a file whose B-trees cannot be read CorruptStructureError; anything less is a finding
and reading goes on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any, BinaryIO

from uidl_inspector.exceptions import CorruptStructureError
from uidl_inspector.findings import Finding
from uidl_inspector.schemas import ndb as s
from uidl_inspector.store.messaging import PstFolder, props_of
from uidl_inspector.store.model import MAX_FOLDER_DEPTH
from uidl_inspector.store.ndb import NbtEntry, NdbFile, Node

__all__ = ["PstStore", "open_pst"]


class PstStore:
    """A PST/OST store opened read-only (see ``store.model.Store``)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        check_parents: bool = False,
        stream: BinaryIO | None = None,
    ) -> None:
        self.ndb = NdbFile(path, stream)
        self.path = self.ndb.path
        self.variant = self.ndb.variant
        self.encryption = self.ndb.encryption
        self.four_k = self.ndb.fmt is s.UNICODE_4K
        self.check_parents = check_parents
        self.findings: list[Finding] = self.ndb.findings
        self._children: dict[int, list[NbtEntry]] | None = None

    def __enter__(self) -> PstStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.ndb.close()

    @cached_property
    def props(self) -> Mapping[int, Any]:
        """The message store's properties (NID 0x21)."""
        entry = self.ndb.btrees.node_entry(s.NID_MESSAGE_STORE)
        if entry is None:
            self.findings.append(Finding("store_properties_missing", None, "no node 0x21"))
            return {}
        return props_of(Node(self.ndb, entry, self.findings), self.four_k, self.findings)

    def root_folder(self) -> PstFolder:
        """The root folder (NID 0x122); its path is empty."""
        entry = self.ndb.btrees.node_entry(s.NID_ROOT_FOLDER)
        if entry is None:
            raise CorruptStructureError(f"{self.path}: the root folder (0x122) is missing")
        return PstFolder(self, entry, "")

    def iter_nodes(self, nid_type: int | None = None) -> Iterator[NbtEntry]:
        """Every NBT node of one NID type (or all): walks the whole NBT, so only on demand."""
        return self.ndb.btrees.iter_nodes(nid_type)

    def children_of(self, nid: int) -> list[NbtEntry]:
        """Nodes whose nidParent is ``nid`` (an index of the whole NBT, built on first use)."""
        if self._children is None:
            index: dict[int, list[NbtEntry]] = {}
            for entry in self.ndb.btrees.iter_nodes():
                index.setdefault(entry.nid_parent, []).append(entry)
            self._children = index
        return self._children.get(nid, [])

    def folder_path(self, nid: int) -> str:
        """Display names from below the root down to folder ``nid``, joined with '/'."""
        names: list[str] = []
        seen: set[int] = set()
        while nid != s.NID_ROOT_FOLDER and nid not in seen and len(seen) < MAX_FOLDER_DEPTH:
            seen.add(nid)
            entry = self.ndb.btrees.node_entry(nid)
            if entry is None:
                break
            names.append(PstFolder(self, entry, "").name)
            nid = entry.nid_parent
        return "/".join(reversed(names))


def open_pst(
    path: str | os.PathLike[str], check_parents: bool = False, stream: BinaryIO | None = None
) -> PstStore:
    """Open a PST/OST read-only; ``check_parents`` also checks tables against nidParent.

    ``stream``: read the store from this read-only stream (a file inside a disk image)
    instead of the file at ``path``, which then only names it.
    """
    return PstStore(path, check_parents, stream)
