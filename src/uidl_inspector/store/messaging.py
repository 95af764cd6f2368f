"""Messaging layer of a PST/OST (§2.4): folders, messages, attachments, embedded messages.

Implements the protocols of :mod:`uidl_inspector.store.model`. Folders list their children
through their hierarchy, contents and associated-contents tables (what Outlook shows), so a
scan reads only what it visits. With ``check_parents`` the store also compares each table
with the nodes whose nidParent is the folder (a whole-NBT index, built once when asked) and
reports, and yields, children that the table omits. Every problem is a finding on the
object concerned; nothing here raises on bad data except through ``open_pst``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any, Protocol

from uidl_inspector.findings import Finding
from uidl_inspector.schemas import ndb as s
from uidl_inspector.schemas.mapi import AttachMethod, PropId
from uidl_inspector.store.ltp import LtpError, PropertyContext, SubnodeRef, TableContext
from uidl_inspector.store.model import MAX_FOLDER_DEPTH, MessageAccessors, embedding_refused
from uidl_inspector.store.ndb import NbtEntry, NdbFile, Node

__all__ = ["PstFolder", "PstMessage", "PstAttachment", "PstParts", "props_of"]


class PstParts(Protocol):
    """What the messaging layer needs of an open PST (``store.pst.PstStore``), so that it
    does not import the module that builds on it."""

    ndb: NdbFile
    four_k: bool
    check_parents: bool

    def children_of(self, nid: int) -> list[NbtEntry]: ...

    def folder_path(self, nid: int) -> str: ...


def props_of(node: Node, four_k: bool, findings: list[Finding]) -> Mapping[int, Any]:
    """The properties of a node's PC, decoded lazily; an unusable PC costs a finding and
    gives none."""
    try:
        return PropertyContext(node, four_k).props
    except LtpError as error:
        findings.append(error.finding())
        return {}


class _PropsMixin:
    """Lazy properties of a node."""

    node: Node
    findings: list[Finding]
    store: PstParts

    @cached_property
    def props(self) -> Mapping[int, Any]:
        """Properties by id, decoded (see ``store.model``), the PC opened on first use."""
        return props_of(self.node, self.store.four_k, self.findings)


class PstAttachment(_PropsMixin):
    """One row of a message's attachment table, opened on its subnode's PC."""

    def __init__(
        self, store: PstParts, index: int, node: Node, row: dict[int, Any], depth: int = 0
    ) -> None:
        self.store = store
        self.index = index
        self.depth = depth  # the embedding depth of the message holding it
        self.nid: int | None = node.nid
        self.node = node
        self.row = row
        self.findings = node.findings

    @property
    def method(self) -> int | None:
        value = self.props.get(PropId.ATTACH_METHOD, self.row.get(PropId.ATTACH_METHOD))
        return value if isinstance(value, int) else None

    @property
    def data(self) -> bytes | None:
        """PidTagAttachDataBinary when the attachment holds bytes."""
        value = self.props.get(PropId.ATTACH_DATA)
        return value if isinstance(value, bytes) else None

    def embedded(self) -> PstMessage | None:
        """The embedded message when the attach method is 5 (PtypObject -> subnode)."""
        if self.method != AttachMethod.EMBEDDED_MESSAGE:
            return None
        if embedding_refused(self.depth, f"attachment {self.nid:#x}", self.findings):
            return None  # refused before opening, as the MSG reader does
        ref = self.props.get(PropId.ATTACH_DATA)
        if not isinstance(ref, SubnodeRef):
            detail = f"attachment {self.nid:#x}: no PtypObject"
            self.findings.append(Finding("embedded_missing", None, detail))
            return None
        sub = self.node.subnode(ref.nid, [])
        if sub is None:
            detail = f"attachment {self.nid:#x}: no subnode {ref.nid:#x}"
            self.findings.append(Finding("embedded_missing", None, detail))
            return None
        return PstMessage(self.store, sub, depth=self.depth + 1)


class PstMessage(_PropsMixin, MessageAccessors):
    """A message (normal, associated or embedded) and its attachment table."""

    def __init__(
        self, store: PstParts, node: Node, folder: PstFolder | None = None, depth: int = 0
    ) -> None:
        self.store = store
        self.node = node
        self.nid: int | None = node.nid
        self.folder = folder
        self.findings = node.findings
        self._depth = depth

    def _table_rows(self, nid: int) -> list[tuple[int, dict[int, Any]]]:
        """The rows of the TC in subnode ``nid``; a missing table gives no rows, an unusable
        one a finding and no rows."""
        table = self.node.subnode(nid)
        try:
            return [] if table is None else list(TableContext(table, self.store.four_k).rows())
        except LtpError as error:
            self.findings.append(error.finding())
            return []

    def attachments(self) -> list[PstAttachment]:
        """Attachments in attachment-table order, each opened on its subnode."""
        out: list[PstAttachment] = []
        for index, (row_id, row) in enumerate(self._table_rows(s.NID_ATTACHMENT_TABLE)):
            attachment_findings: list[Finding] = []
            sub = self.node.subnode(row_id, attachment_findings)
            if sub is None:
                detail = f"message {self.nid:#x}: attachment row {row_id:#x} has no subnode"
                self.findings.append(Finding("attachment_missing", None, detail))
                continue
            out.append(PstAttachment(self.store, index, sub, row, self._depth))
        return out

    def recipients(self) -> list[dict[int, Any]]:
        """Rows of the recipient table (0x692), properties by id."""
        return [row for _, row in self._table_rows(s.NID_RECIPIENT_TABLE)]


class PstFolder(_PropsMixin):
    """A folder: its PC, and its children through its three tables."""

    def __init__(
        self,
        store: PstParts,
        entry: NbtEntry,
        path: str | None = None,
        ancestors: frozenset[int] = frozenset(),
    ) -> None:
        self.store = store
        self.findings: list[Finding] = []
        self.node = Node(store.ndb, entry, self.findings)
        self.nid = entry.nid
        self._path = path
        self._ancestors = ancestors

    @property
    def name(self) -> str:
        value = self.props.get(PropId.DISPLAY_NAME)
        return value if isinstance(value, str) else ""

    @property
    def path(self) -> str:
        """Display names from the root folder's children down to this one, joined with '/'."""
        if self._path is None:
            self._path = self.store.folder_path(self.nid)
        return self._path

    def _note(self, code: str, detail: str) -> None:
        """A finding on this folder, its detail after the folder's NID."""
        self.findings.append(Finding(code, None, f"folder {self.nid:#x}: {detail}"))

    def _table(self, nid_type: int) -> TableContext | None:
        if s.nid_type(self.nid) == s.NID_TYPE_SEARCH_FOLDER:
            return None  # a search folder holds a search contents table of others' items
        nid = s.make_nid(nid_type, s.nid_index(self.nid))  # §2.4.4: the folder's own index
        entry = self.store.ndb.btrees.node_entry(nid, self.findings)
        if entry is None:
            self._note("folder_table_missing", f"no table {nid:#x}")
            return None
        try:
            return TableContext(Node(self.store.ndb, entry, self.findings), self.store.four_k)
        except LtpError as error:
            self.findings.append(error.finding())
            return None

    def _rows(self, nid_type: int) -> list[int]:
        table = self._table(nid_type)
        try:
            return [] if table is None else table.row_ids()
        except LtpError as error:
            self.findings.append(error.finding())
            return []

    def _children(
        self, nid_type: int, kinds: tuple[int, ...], row_ids: list[int] | None = None
    ) -> Iterator[NbtEntry]:
        """Children listed in one table (``row_ids`` when already read), checked; then
        unlisted nidParent children if asked."""
        listed: set[int] = set()
        for row_id in self._rows(nid_type) if row_ids is None else row_ids:
            if row_id in listed:
                self._note("folder_row_duplicate", f"{row_id:#x} twice")
                continue
            listed.add(row_id)
            entry = self.store.ndb.btrees.node_entry(row_id, self.findings)
            if entry is None:
                self._note("folder_row_node_missing", f"table row {row_id:#x} has no node")
                continue
            if entry.nid_parent != self.nid:
                detail = f"{row_id:#x} has nidParent {entry.nid_parent:#x}"
                self._note("folder_row_parent_mismatch", detail)
            yield entry
        if self.store.check_parents:
            for entry in self.store.children_of(self.nid):
                if (
                    s.nid_type(entry.nid) in kinds
                    and entry.nid not in listed
                    and entry.nid != self.nid
                ):
                    self._note("folder_child_unlisted", f"child {entry.nid:#x} is not in its table")
                    yield entry

    def subfolders(self) -> Iterator[PstFolder]:
        """Child folders (normal and search) from the hierarchy table."""
        if len(self._ancestors) >= MAX_FOLDER_DEPTH:
            self.findings.append(Finding("folder_too_deep", None, f"folder {self.nid:#x}"))
            return
        ancestors = self._ancestors | {self.nid}
        kinds = (s.NID_TYPE_NORMAL_FOLDER, s.NID_TYPE_SEARCH_FOLDER)
        for entry in self._children(s.NID_TYPE_HIERARCHY_TABLE, kinds):
            if entry.nid in ancestors:
                detail = f"folder {self.nid:#x} lists ancestor {entry.nid:#x}"
                self.findings.append(Finding("folder_cycle", None, detail))
                continue
            child = PstFolder(self.store, entry, None, ancestors)
            child._path = f"{self.path}/{child.name}" if self.path else child.name
            yield child

    def messages(self) -> Iterator[PstMessage]:
        """Normal contents (contents table)."""
        for entry in self._children(s.NID_TYPE_CONTENTS_TABLE, (s.NID_TYPE_NORMAL_MESSAGE,)):
            yield PstMessage(self.store, Node(self.store.ndb, entry), self)

    def message_rows(
        self, columns: frozenset[int]
    ) -> Iterator[tuple[PstMessage, Mapping[int, Any] | None]]:
        """Normal contents as :meth:`messages`, each with its contents-table row: the cells
        of ``columns`` (property ids) that the row holds, or None when the table has no such
        column or does not list the message. What the table keeps costs no message PC."""
        table = self._table(s.NID_TYPE_CONTENTS_TABLE)
        cells: dict[int, dict[int, Any] | None] = {}
        order: list[int] = []
        if table is not None:
            have = {prop_id for _, prop_id, *_ in table.columns}
            wanted = columns <= have
            try:
                for row_id, row in table.rows(columns if wanted else ()):
                    order.append(row_id)
                    if wanted:
                        cells.setdefault(row_id, row)
            except LtpError as error:
                self.findings.append(error.finding())
        kinds = (s.NID_TYPE_NORMAL_MESSAGE,)
        for entry in self._children(s.NID_TYPE_CONTENTS_TABLE, kinds, order):
            yield PstMessage(self.store, Node(self.store.ndb, entry), self), cells.get(entry.nid)

    def associated(self) -> Iterator[PstMessage]:
        """Hidden contents (associated contents table, NID type 0x08)."""
        kinds = (s.NID_TYPE_ASSOC_MESSAGE,)
        for entry in self._children(s.NID_TYPE_ASSOC_CONTENTS_TABLE, kinds):
            yield PstMessage(self.store, Node(self.store.ndb, entry), self)
