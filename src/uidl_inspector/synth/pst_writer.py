"""Write a PST store (Unicode or ANSI, any block encoding) from a messaging-level spec.

Why: no public store holds a POP3 history, so the project writes its own evidence and
proves it valid with independent readers (libpff, libpst). This module is the messaging
layer ([MS-PST] 2.4): message store, name-to-id map, root folder, IPM subtree, search
root, folders with their hierarchy / contents / associated-contents tables, messages with
recipient and attachment tables, attachments (by value or embedded message) and deleted
("orphan") messages whose blocks stay in the file. ``ltp_writer`` builds the nodes and
``ndb_writer`` the file. Output is a pure function of (spec, variant, encoding, seed).

Not written (no reader we validate against needs them, and Outlook rebuilds them): the
spam search folder 0x2223 and its search criteria, the DList page, FMap/FPMap pages
(deprecated; Outlook would place them past 128 AMaps, about 32 MB), folder templates
0xA1/0xC1. 4K-page OST files are read by the project but never written.
"""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from uidl_inspector.schemas import ndb as s
from uidl_inspector.schemas.encoding import crc32
from uidl_inspector.schemas.ltp import NAMEID
from uidl_inspector.schemas.mapi import AttachMethod, PropId, PropType
from uidl_inspector.synth.ltp_writer import Column, Row, build_pc, build_tc, value_size
from uidl_inspector.synth.ndb_writer import BlockRanges, NdbWriter

__all__ = [
    "Prop",
    "Props",
    "AttachmentSpec",
    "MessageSpec",
    "FolderSpec",
    "StoreSpec",
    "default_folders",
    "write_pst",
]


@dataclass
class Prop:
    """One MAPI property value: str, bytes, int, bool, UTC-aware datetime, list or None."""

    type: PropType
    value: Any


Props = dict[int, Prop]


@dataclass
class AttachmentSpec:
    props: Props
    data: bytes | None = None  # PidTagAttachDataBinary (method 1)
    embedded: MessageSpec | None = None  # method 5: a full embedded message
    nid: int | None = None  # filled in by the writer


@dataclass
class MessageSpec:
    props: Props
    attachments: list[AttachmentSpec] = field(default_factory=list)
    recipients: list[Props] = field(default_factory=list)
    nid: int | None = None  # filled in (type 0x04, or 0x08 when associated)
    block_ranges: BlockRanges = field(default_factory=list)


@dataclass
class FolderSpec:
    name: str
    container_class: str | None = "IPF.Note"
    folders: list[FolderSpec] = field(default_factory=list)
    messages: list[MessageSpec] = field(default_factory=list)  # contents table
    associated: list[MessageSpec] = field(default_factory=list)  # FAI, NID type 0x08
    nid: int | None = None


def default_folders() -> list[FolderSpec]:
    """The folders Outlook creates under "Top of Personal Folders" in a new PST."""
    return [
        FolderSpec("Deleted Items"),
        FolderSpec("Inbox"),
        FolderSpec("Outbox"),
        FolderSpec("Sent Items"),
        FolderSpec("Calendar", "IPF.Appointment"),
        FolderSpec("Contacts", "IPF.Contact"),
        FolderSpec("Drafts"),
        FolderSpec("Journal", "IPF.Journal"),
        FolderSpec("Junk E-mail"),
        FolderSpec("Notes", "IPF.StickyNote"),
        FolderSpec("Tasks", "IPF.Task"),
    ]


@dataclass
class StoreSpec:
    display_name: str = "Personal Folders"
    top_name: str = "Top of Personal Folders"
    folders: list[FolderSpec] = field(default_factory=default_folders)
    # Written into the file (blocks with valid trailers) but referenced by no NBT/BBT
    # entry: deleted messages whose bytes remain. Their NID is type 0x08 unless preset.
    orphans: list[MessageSpec] = field(default_factory=list)
    # The store's identity (PidTagRecordKey, also the provider UID of its entry IDs): kept by
    # every copy of one store; None derives it from the writer's seed.
    record_key: bytes | None = None


# Fixed NIDs of a new store ([MS-PST] 2.7.1, ms-pst-map 5).
NID_IPM_SUBTREE = 0x8022
NID_SEARCH_ROOT = 0x8042
NID_DELETED_ITEMS = 0x8062
TYPE_FOLDER, TYPE_MESSAGE = s.NID_TYPE_NORMAL_FOLDER, s.NID_TYPE_NORMAL_MESSAGE
TYPE_ASSOC = s.NID_TYPE_ASSOC_MESSAGE
MSGFLAG_READ, MSGFLAG_HASATTACH, MSGFLAG_ASSOCIATED = 0x01, 0x10, 0x40
PS_PUBLIC_STRINGS_INDEX = 2
PSETID_COMMON = bytes.fromhex("0820060000000000c000000000000046")  # {00062008-...-46}
NAMEID_BUCKETS = 251

_S = PropType.UNICODE
_STRING_TYPES = {PropType.STRING8, PropType.UNICODE}
HIERARCHY_COLUMNS: list[Column] = [
    (0x3001, _S),
    (0x3602, PropType.INT32),
    (0x3603, PropType.INT32),
    (0x360A, PropType.BOOLEAN),
    (0x3613, _S),
    (0x3617, PropType.INT32),
]
CONTENTS_COLUMNS: list[Column] = [
    (0x0017, PropType.INT32),
    (0x001A, _S),
    (0x0037, _S),
    (0x0039, PropType.TIME),
    (0x0042, _S),
    (0x0E04, _S),
    (0x0E06, PropType.TIME),
    (0x0E07, PropType.INT32),
    (0x0E08, PropType.INT32),
    (0x0E17, PropType.INT32),
    (0x1035, _S),
    (0x3008, PropType.TIME),
]
# The associated contents table: a subset of the contents table's columns.
ASSOC_COLUMNS = [
    c for c in CONTENTS_COLUMNS if c[0] in (0x001A, 0x0037, 0x0E07, 0x0E08, 0x0E17, 0x3008)
]
ATTACHMENT_COLUMNS: list[Column] = [
    (0x0E20, PropType.INT32),
    (0x3704, _S),
    (0x3705, PropType.INT32),
    (0x370B, PropType.INT32),
]
RECIPIENT_COLUMNS: list[Column] = [
    (0x0C15, PropType.INT32),
    (0x0FFE, PropType.INT32),
    (0x3001, _S),
    (0x3002, _S),
    (0x3003, _S),
    (0x3900, PropType.INT32),
]


def write_pst(
    spec: StoreSpec,
    path: str | os.PathLike[str],
    *,
    variant: str = "unicode",
    encoding: str = "none",
    seed: int = 0,
) -> None:
    """Write ``spec`` as a PST at ``path`` (via a temp file in the same directory).

    Fills in each spec object's ``nid`` and each message's ``block_ranges``.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w+b") as out:
            _StoreWriter(spec, out, variant, encoding, seed).write()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a new file would not be
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# Deleted Items as Outlook names it in a few languages, to find it in a localized spec.
DELETED_ITEMS_NAMES = (
    "Deleted Items",
    "Gelöschte Elemente",
    "Éléments supprimés",
    "Elementos eliminados",
    "Posta eliminata",
    "Verwijderde items",
    "Itens Excluídos",
    "Удаленные",
    "已删除邮件",
    "削除済みアイテム",
)


def _deleted_items(top: list[FolderSpec]) -> FolderSpec | None:
    """The top folder that gets NID 0x8062: preset to it, else found by its name."""
    found = [f for f in top if f.nid == NID_DELETED_ITEMS]
    found += [f for f in top if f.name in DELETED_ITEMS_NAMES]
    return found[0] if found else None


class _Subnodes:
    """One node's subnode tree under construction (the SubnodeSink of ltp_writer)."""

    def __init__(self, ndb: NdbWriter, orphan: bool = False, ranges: BlockRanges | None = None):
        self.ndb = ndb
        self.orphan = orphan
        self.ranges = ranges
        self.entries: list[tuple[int, int, int]] = []
        self._next = 0x400

    def new_nid(self, ntype: int) -> int:
        self._next += 1
        return s.make_nid(ntype, self._next)

    def add_value(self, data: bytes | list[bytes]) -> int:
        nid = self.new_nid(s.NID_TYPE_LTP)
        self.entries.append((nid, self.data(data), 0))
        return nid

    def data(self, data: bytes | list[bytes], share: object = None) -> int:
        return self.ndb.add_data(
            data, orphan=self.orphan, ranges=self.ranges, share=None if self.orphan else share
        )

    def seal(self, blocks: list[bytes], share: object = None) -> tuple[int, int]:
        """Write the node's data tree, then this subnode tree: its (bidData, bidSub)."""
        bid_data = self.data(blocks, share)
        return bid_data, self.ndb.add_subnodes(self.entries, orphan=self.orphan, ranges=self.ranges)


class _StoreWriter:
    def __init__(self, spec: StoreSpec, out: Any, variant: str, encoding: str, seed: int):
        self.spec = spec
        self.ndb = NdbWriter(out, variant, encoding)
        self.unicode = variant == "unicode"
        self.block_max = self.ndb.block_max
        self.rng = random.Random(f"uidl-inspector-pst:{seed}")
        uid = self.rng.randbytes(16)  # drawn even when preset, to keep the rng's sequence
        self.uid = uid if spec.record_key is None else spec.record_key
        self.base_time = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(
            seconds=self.rng.randrange(365 * 86400)
        )
        self.last = dict(enumerate(s.RGNID_INITIAL))  # nidType -> last nidIndex used
        self._empty_recipients: list[bytes] | None = None

    # -- helpers ------------------------------------------------------------------

    def new_nid(self, ntype: int) -> int:
        self.last[ntype] += 1
        return s.make_nid(ntype, self.last[ntype])

    def entry_id(self, nid: int) -> bytes:
        return bytes(4) + self.uid + nid.to_bytes(4, "little")

    def adapt(self, props: Iterable[tuple[int, Prop]]) -> list[tuple[int, int, Any]]:
        """(id, type, value) triples; ANSI files store Unicode strings as String8."""
        out = []
        for pid, p in props:
            if p.value is None:
                continue
            ptype = int(p.type)
            if not self.unicode and ptype in (PropType.UNICODE, PropType.MV_UNICODE):
                ptype -= 1  # 0x1F -> 0x1E, 0x101F -> 0x101E
            out.append((pid, ptype, p.value))
        return out

    def columns(self, cols: list[Column]) -> list[Column]:
        if self.unicode:
            return cols
        return [(pid, PropType.STRING8 if t == PropType.UNICODE else t) for pid, t in cols]

    def cells(self, props: dict[int, tuple[int, Any]], cols: list[Column]) -> dict[int, Any]:
        """Row values for the table's columns, where the message's type matches."""
        row = {}
        for pid, ctype in cols:
            got = props.get(pid)
            if got is not None and (got[0] == ctype or {got[0], ctype} == _STRING_TYPES):
                row[pid] = got[1]
        return row

    def put_pc(self, nid: int, props: list[tuple[int, int, Any]], parent: int) -> None:
        """A node that is one property context (the store, the name map, a folder)."""
        subs = _Subnodes(self.ndb)
        self.ndb.add_node(nid, *subs.seal(build_pc(props, subs, self.block_max)), parent)

    def tc(self, cols: list[Column], rows: Iterable[Row], subs: _Subnodes) -> list[bytes]:
        return build_tc(self.columns(cols), rows, subs, self.block_max, unicode=self.unicode)

    # -- the store ----------------------------------------------------------------

    def write(self) -> None:
        spec = self.spec
        top = list(spec.folders)
        deleted = _deleted_items(top)
        if deleted is None:
            top.insert(0, deleted := FolderSpec("Deleted Items"))
        deleted.nid = NID_DELETED_ITEMS
        self.assign_nids(top)
        self.write_store()
        self.write_name_map()
        self.ndb.add_node(s.NID_SEARCH_MANAGEMENT_QUEUE, 0, 0, 0)  # empty, as Outlook writes it
        self.ndb.add_node(s.NID_SEARCH_ACTIVITY_LIST, 0, 0, 0)  # no search folders to list
        self.write_templates()
        ipm = FolderSpec(spec.top_name, None, folders=top, nid=NID_IPM_SUBTREE)
        search = FolderSpec("Search Root", None, nid=NID_SEARCH_ROOT)
        root = FolderSpec("", None, folders=[ipm, search], nid=s.NID_ROOT_FOLDER)
        self.write_folder(root, s.NID_ROOT_FOLDER, recurse=False)
        self.write_folder(ipm, s.NID_ROOT_FOLDER)
        self.write_folder(search, s.NID_ROOT_FOLDER)
        for msg in spec.orphans:
            if msg.nid is None:
                msg.nid = self.new_nid(TYPE_ASSOC)
            self.write_message(msg, orphan=True, assoc=s.nid_type(msg.nid) == TYPE_ASSOC)
        rgnid = [self.last[t] for t in range(32)]
        self.ndb.finish(rgnid=rgnid, dw_unique=1 + self.rng.randrange(1 << 16))

    def assign_nids(self, folders: list[FolderSpec]) -> None:
        """Folder NIDs, depth first; preset NIDs (Deleted Items' fixed one among them) kept."""
        self.last[TYPE_FOLDER] = max(self.last[TYPE_FOLDER], s.nid_index(NID_DELETED_ITEMS))
        every: list[FolderSpec] = []
        stack = list(reversed(folders))
        while stack:
            f = stack.pop()
            every.append(f)
            stack.extend(reversed(f.folders))
        taken = {
            f.nid
            for f in every
            if f.nid is not None
            and s.nid_type(f.nid) == TYPE_FOLDER
            and s.nid_index(f.nid) > s.nid_index(NID_SEARCH_ROOT)
        }
        for f in every:
            if f.nid in taken:
                taken.discard(f.nid)  # a NID given twice is reassigned the second time
                continue
            f.nid = self.new_nid(TYPE_FOLDER)
            while f.nid in taken or any(g.nid == f.nid for g in every if g is not f):
                f.nid = self.new_nid(TYPE_FOLDER)
        self.last[TYPE_FOLDER] = max(
            self.last[TYPE_FOLDER], *(s.nid_index(f.nid) for f in every if f.nid)
        )

    def write_store(self) -> None:
        props = {
            PropId.RECORD_KEY: Prop(PropType.BINARY, self.uid),
            PropId.DISPLAY_NAME: Prop(PropType.UNICODE, self.spec.display_name),
            0x35DF: Prop(PropType.INT32, 0x89),  # PidTagValidFolderMask
            PropId.IPM_SUBTREE_ENTRYID: Prop(PropType.BINARY, self.entry_id(NID_IPM_SUBTREE)),
            PropId.IPM_WASTEBASKET_ENTRYID: Prop(PropType.BINARY, self.entry_id(NID_DELETED_ITEMS)),
            PropId.FINDER_ENTRYID: Prop(PropType.BINARY, self.entry_id(NID_SEARCH_ROOT)),
        }
        self.put_pc(s.NID_MESSAGE_STORE, self.adapt(props.items()), 0)

    def write_name_map(self) -> None:
        """§2.4.7 with one numeric (PSETID_Common) and one string (PS_PUBLIC_STRINGS) name."""
        name = "Keywords".encode("utf-16-le")
        strings = len(name).to_bytes(4, "little") + name
        strings += bytes(-len(strings) % 4)
        entries = [  # (dwPropertyID, wGuid, N, wPropIdx)
            (0x8554, 3, False, 0),
            (0, PS_PUBLIC_STRINGS_INDEX, True, 1),
        ]
        raw = [
            NAMEID.build({"dwPropertyID": pid, "guid": {"wGuid": g, "N": n}, "wPropIdx": idx})
            for pid, g, n, idx in entries
        ]
        buckets: dict[int, bytes] = {}
        for (pid, g, n, _), rec in zip(entries, raw, strict=True):
            key = crc32(name) if n else pid
            bucket = (key ^ ((g << 1) | int(n))) % NAMEID_BUCKETS
            buckets[bucket] = buckets.get(bucket, b"") + rec
        props: list[tuple[int, int, Any]] = [
            (0x0001, PropType.INT32, NAMEID_BUCKETS),
            (0x0002, PropType.BINARY, PSETID_COMMON),
            (0x0003, PropType.BINARY, b"".join(raw)),
            (0x0004, PropType.BINARY, strings),
        ]
        props += [(0x1000 + b, PropType.BINARY, v) for b, v in sorted(buckets.items())]
        self.put_pc(s.NID_NAME_TO_ID_MAP, props, 0)

    def write_templates(self) -> None:
        """The empty table templates new folders and messages copy (§2.4.1, §2.7.1)."""
        for nid, cols in (
            (s.NID_HIERARCHY_TABLE_TEMPLATE, HIERARCHY_COLUMNS),
            (s.NID_CONTENTS_TABLE_TEMPLATE, CONTENTS_COLUMNS),
            (s.NID_ASSOC_CONTENTS_TABLE_TEMPLATE, ASSOC_COLUMNS),
            (s.NID_SEARCH_CONTENTS_TABLE_TEMPLATE, CONTENTS_COLUMNS),
            (s.NID_ATTACHMENT_TABLE, ATTACHMENT_COLUMNS),
            (s.NID_RECIPIENT_TABLE, RECIPIENT_COLUMNS),
        ):
            self.table(nid, s.nid_type(nid), cols, [], empty=True)

    # -- folders ------------------------------------------------------------------

    def folder_props(self, f: FolderSpec) -> Props:
        unread = sum(1 for m in f.messages if not self.flags_of(m, False) & MSGFLAG_READ)
        props: Props = {
            PropId.DISPLAY_NAME: Prop(PropType.UNICODE, f.name),
            PropId.CONTENT_COUNT: Prop(PropType.INT32, len(f.messages)),
            PropId.CONTENT_UNREAD_COUNT: Prop(PropType.INT32, unread),
            PropId.SUBFOLDERS: Prop(PropType.BOOLEAN, bool(f.folders)),
            PropId.ASSOC_CONTENT_COUNT: Prop(PropType.INT32, len(f.associated)),
        }
        if f.container_class is not None:
            props[PropId.CONTAINER_CLASS] = Prop(PropType.UNICODE, f.container_class)
        return props

    def write_folder(self, f: FolderSpec, parent: int, *, recurse: bool = True) -> None:
        nid = f.nid
        assert nid is not None
        self.put_pc(nid, self.adapt(self.folder_props(f).items()), parent)
        rows = []
        for child in f.folders:
            assert child.nid is not None
            values = {pid: (t, v) for pid, t, v in self.adapt(self.folder_props(child).items())}
            rows.append((child.nid, self.cells(values, self.columns(HIERARCHY_COLUMNS))))
        self.table(nid, s.NID_TYPE_HIERARCHY_TABLE, HIERARCHY_COLUMNS, rows, empty=not rows)
        for assoc, msgs, cols, ttype in (
            (False, f.messages, CONTENTS_COLUMNS, s.NID_TYPE_CONTENTS_TABLE),
            (True, f.associated, ASSOC_COLUMNS, s.NID_TYPE_ASSOC_CONTENTS_TABLE),
        ):
            self.table(nid, ttype, cols, self.message_rows(msgs, nid, assoc, cols), empty=not msgs)
        if recurse:
            for child in f.folders:
                self.write_folder(child, nid)

    def message_rows(
        self, msgs: list[MessageSpec], folder: int, assoc: bool, cols: list[Column]
    ) -> Iterator[Row]:
        """Write each message as its contents-table row is asked for (bounded memory)."""
        cols = self.columns(cols)
        for m in msgs:
            m.nid = self.new_nid(TYPE_ASSOC if assoc else TYPE_MESSAGE)
            values = self.write_message(m, parent=folder, assoc=assoc)
            yield m.nid, self.cells(values, cols)

    def table(
        self, folder: int, ttype: int, cols: list[Column], rows: Iterable[Row], *, empty: bool
    ) -> None:
        subs = _Subnodes(self.ndb)
        share = ("empty-table", ttype) if empty else None
        nid = s.make_nid(ttype, s.nid_index(folder))
        self.ndb.add_node(nid, *subs.seal(self.tc(cols, rows, subs), share), 0)

    # -- messages -----------------------------------------------------------------

    def flags_of(self, m: MessageSpec, assoc: bool) -> int:
        given = m.props.get(PropId.MESSAGE_FLAGS)
        flags = MSGFLAG_READ if given is None or given.value is None else int(given.value)
        flags |= MSGFLAG_HASATTACH if m.attachments else 0
        return flags | (MSGFLAG_ASSOCIATED if assoc else 0)

    def write_message(
        self,
        m: MessageSpec,
        *,
        parent: int = 0,
        assoc: bool = False,
        orphan: bool = False,
        subs: _Subnodes | None = None,
    ) -> dict[int, tuple[int, Any]]:
        """Write a message node (or, with ``subs``, an embedded one into that subnode tree).

        Returns the message's final properties as {id: (type, value)}.
        """
        m.block_ranges.clear()
        own = _Subnodes(self.ndb, orphan, m.block_ranges)
        when = self.message_time(m)
        props: Props = {
            PropId.MESSAGE_CLASS: Prop(PropType.UNICODE, "IPM.Note"),
            PropId.MESSAGE_STATUS: Prop(PropType.INT32, 0),
            PropId.CREATION_TIME: Prop(PropType.TIME, when),
            PropId.LAST_MODIFICATION_TIME: Prop(PropType.TIME, when),
            PropId.SEARCH_KEY: Prop(PropType.BINARY, self.rng.randbytes(16)),
        }
        props.update(m.props)
        props[PropId.MESSAGE_FLAGS] = Prop(PropType.INT32, self.flags_of(m, assoc))
        self.write_recipients(m, own)
        if m.attachments:
            props.setdefault(PropId.HASATTACH, Prop(PropType.BOOLEAN, True))
            self.write_attachments(m, own, orphan)
        triples = self.adapt(props.items())
        if PropId.MESSAGE_SIZE not in m.props:
            size = sum(value_size(t, v) for _, t, v in triples) + sum(
                len(a.data or b"") for a in m.attachments
            )
            triples.append((PropId.MESSAGE_SIZE, PropType.INT32, size))
        bid_data, bid_sub = own.seal(build_pc(triples, own, self.block_max))
        if subs is not None:
            subs.entries.append((m.nid or 0, bid_data, bid_sub))
        elif not orphan:
            assert m.nid is not None
            self.ndb.add_node(m.nid, bid_data, bid_sub, parent)
        return {pid: (t, v) for pid, t, v in triples}

    def message_time(self, m: MessageSpec) -> datetime:
        for pid in (PropId.MESSAGE_DELIVERY_TIME, PropId.CLIENT_SUBMIT_TIME):
            p = m.props.get(pid)
            if p is not None and isinstance(p.value, datetime):
                return p.value
        return self.base_time

    def write_recipients(self, m: MessageSpec, own: _Subnodes) -> None:
        cols = list(RECIPIENT_COLUMNS)
        rows = []
        for i, r in enumerate(m.recipients):
            values = {pid: (t, v) for pid, t, v in self.adapt(r.items())}
            known = {c[0] for c in cols}
            cols += [(pid, t) for pid, (t, _) in sorted(values.items()) if pid not in known]
            rows.append((i, values))
        cols = self.columns(cols)
        tsubs = _Subnodes(self.ndb, own.orphan, own.ranges)
        if rows or self._empty_recipients is None:
            table_rows = [(rid, self.cells(values, cols)) for rid, values in rows]
            blocks = build_tc(cols, table_rows, tsubs, self.block_max, unicode=self.unicode)
            if not rows:
                self._empty_recipients = blocks
        else:
            blocks = self._empty_recipients
        share = "empty-recipients" if not rows else None
        own.entries.append((s.NID_RECIPIENT_TABLE, *tsubs.seal(blocks, share)))

    def write_attachments(self, m: MessageSpec, own: _Subnodes, orphan: bool) -> None:
        rows = []
        for a in m.attachments:
            a.nid = own.new_nid(s.NID_TYPE_ATTACHMENT)
            asubs = _Subnodes(self.ndb, orphan, own.ranges)
            emb = a.embedded
            method = AttachMethod.BY_VALUE if emb is None else AttachMethod.EMBEDDED_MESSAGE
            props: Props = {
                PropId.RENDERING_POSITION: Prop(PropType.INT32, 0xFFFFFFFF),
                PropId.ATTACH_METHOD: Prop(PropType.INT32, method),
            }
            props.update(a.props)
            triples = self.adapt(props.items())
            size = len(a.data or b"")
            data: tuple[int, Any] | None = None
            if emb is not None:
                emb.nid = self.new_nid(TYPE_MESSAGE)  # as Outlook: a message NID, as subnode
                values = self.write_message(emb, orphan=orphan, subs=asubs)
                if own.ranges is not None:
                    own.ranges.extend(emb.block_ranges)
                size = int(values.get(PropId.MESSAGE_SIZE, (0, 0))[1])
                data = (PropType.OBJECT, (emb.nid, size))
            elif a.data is not None:
                data = (PropType.BINARY, a.data)
            if data is not None:
                triples = [t for t in triples if t[0] != PropId.ATTACH_DATA]
                triples.append((PropId.ATTACH_DATA, *data))
            if not any(t[0] == PropId.ATTACH_SIZE for t in triples):
                triples.append((PropId.ATTACH_SIZE, PropType.INT32, size))
            own.entries.append((a.nid, *asubs.seal(build_pc(triples, asubs, self.block_max))))
            values = {pid: (t, v) for pid, t, v in triples}
            rows.append((a.nid, self.cells(values, self.columns(ATTACHMENT_COLUMNS))))
        tsubs = _Subnodes(self.ndb, orphan, own.ranges)
        blocks = self.tc(ATTACHMENT_COLUMNS, rows, tsubs)
        own.entries.append((s.NID_ATTACHMENT_TABLE, *tsubs.seal(blocks)))
