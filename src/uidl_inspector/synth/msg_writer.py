"""MSG files of a hidden message, as an analyst exports one (MFCMAPI "Save as MSG").

Two layers: :class:`CompoundFile` lays out a version-3 compound file ([MS-CFB]) from a tree
of storages and streams, built with the declarations in ``schemas.cfb``; :func:`write_msg`
maps a ``MessageSpec`` (the PST writer's, so one spec serves both containers) onto the
[MS-OXMSG] storages: ``__properties_version1.0`` (``schemas.msg_props``), one
``__substg1.0_TTTTtttt`` stream per variable-size property, ``__attach_version1.0_#N``
storages with their data, embedded messages as ``__substg1.0_3701000D`` storages, and the
named-property map ``__nameid_version1.0``. Output is deterministic: no times, no random.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from construct import Container

from uidl_inspector.schemas.cfb import (
    DIFAT_IN_HEADER,
    ENDOFCHAIN,
    ENTRY_SIZE,
    FATSECT,
    FREESECT,
    MINI_SECTOR_SIZE,
    MINI_STREAM_CUTOFF,
    NOSTREAM,
    SECTOR_SIZE,
    CfbHeader,
    DirectoryEntry,
    SectorOfIds,
)
from uidl_inspector.schemas.mapi import FIXED_SIZE, PropType, encode_fixed, encode_string
from uidl_inspector.schemas.msg_props import PROPERTY_STREAM, property_stream
from uidl_inspector.store.model import MAX_EMBED_DEPTH
from uidl_inspector.synth.pst_writer import MessageSpec, Prop

__all__ = ["Storage", "Stream", "CompoundFile", "msg_bytes", "write_msg"]

# CLSID of an Outlook message storage ({00020D0B-0000-0000-C000-000000000046}).
MSG_CLSID = bytes.fromhex("0b0d020000000000c000000000000046")
_IDS_PER_SECTOR = SECTOR_SIZE // 4
_READABLE_WRITABLE = 0x06  # PROPATTR_READABLE | PROPATTR_WRITABLE ([MS-OXMSG] 2.4.2.1)


@dataclass
class Stream:
    name: str
    data: bytes


@dataclass
class Storage:
    name: str
    children: list[Storage | Stream] = field(default_factory=list)
    clsid: bytes = bytes(16)


# An unused directory entry ([MS-CFB] 2.6.3); the entries written override its fields.
_UNUSED_ENTRY = {
    "name": bytes(64),
    "name_length": 0,
    "object_type": "unknown",
    "color": "red",
    "left_sibling": NOSTREAM,
    "right_sibling": NOSTREAM,
    "child": NOSTREAM,
    "clsid": bytes(16),
    "state_bits": 0,
    "creation_time": 0,
    "modified_time": 0,
    "start_sector": 0,
    "stream_size": 0,
}


def _chain(start: int, count: int, table: list[int]) -> None:
    for i in range(count):
        table[start + i] = start + i + 1 if i + 1 < count else ENDOFCHAIN


class CompoundFile:
    """A compound file laid out in one pass: big streams, mini stream, mini FAT, directory,
    FAT. At most 109 FAT sectors (about 7 MB): enough for any single hidden message."""

    def __init__(self, root: Storage) -> None:
        self.root = root

    def _entries(self) -> list[tuple[Storage | Stream, list[int]]]:
        """Directory order: root first, then each storage's children, depth first."""
        entries: list[tuple[Storage | Stream, list[int]]] = []

        def visit(node: Storage | Stream) -> int:
            index = len(entries)
            entries.append((node, []))
            if isinstance(node, Storage):
                names = [child.name for child in node.children]
                if len(set(n.upper() for n in names)) != len(names):
                    raise ValueError(f"duplicate names in storage {node.name!r}")
                # [MS-CFB] 2.6.4: shorter names first, then by upper-cased UTF-16 code units
                for child in sorted(node.children, key=lambda c: (len(c.name), c.name.upper())):
                    entries[index][1].append(visit(child))
            return index

        visit(self.root)
        return entries

    @staticmethod
    def _tree(children: list[int], links: dict[int, tuple[int, int, int]], depth: int = 0) -> int:
        """A balanced binary search tree over sorted sibling ids; returns its root id and
        records (left, right, depth) per id."""
        if not children:
            return NOSTREAM
        middle = len(children) // 2
        node = children[middle]
        left = CompoundFile._tree(children[:middle], links, depth + 1)
        right = CompoundFile._tree(children[middle + 1 :], links, depth + 1)
        links[node] = (left, right, depth)
        return node

    def to_bytes(self) -> bytes:
        entries = self._entries()
        links: dict[int, tuple[int, int, int]] = {}
        colors: dict[int, str] = {0: "black"}
        child_of: dict[int, int] = {}
        for index, (node, children) in enumerate(entries):
            if isinstance(node, Storage):
                sub: dict[int, tuple[int, int, int]] = {}
                child_of[index] = self._tree(children, sub)
                deepest = max((depth for _, _, depth in sub.values()), default=0)
                for child, (_left, _right, depth) in sub.items():
                    # A median-split tree is full except its last level; colouring that
                    # level red keeps every path's black count equal (a red-black tree).
                    colors[child] = "red" if deepest > 0 and depth == deepest else "black"
                links.update(sub)

        big: list[tuple[int, bytes]] = []
        mini: list[tuple[int, bytes]] = []
        for index, (node, _children) in enumerate(entries):
            if isinstance(node, Stream) and node.data:
                (mini if len(node.data) < MINI_STREAM_CUTOFF else big).append((index, node.data))

        start: dict[int, int] = {}
        mini_fat: list[int] = []
        mini_stream = bytearray()
        for index, data in mini:
            count = -(-len(data) // MINI_SECTOR_SIZE)
            first = len(mini_fat)
            mini_fat.extend([0] * count)
            _chain(first, count, mini_fat)
            start[index] = first
            mini_stream += data + bytes(count * MINI_SECTOR_SIZE - len(data))

        sectors = 0
        for index, data in big:
            start[index] = sectors
            sectors += -(-len(data) // SECTOR_SIZE)
        mini_stream_at, mini_stream_count = sectors, -(-len(mini_stream) // SECTOR_SIZE)
        sectors += mini_stream_count
        mini_fat_at, mini_fat_count = sectors, -(-len(mini_fat) // _IDS_PER_SECTOR)
        sectors += mini_fat_count
        dir_at, dir_count = sectors, -(-len(entries) * ENTRY_SIZE // SECTOR_SIZE)
        sectors += dir_count
        fat_count = 1
        while (sectors + fat_count) > fat_count * _IDS_PER_SECTOR:
            fat_count += 1
        if fat_count > DIFAT_IN_HEADER:
            raise ValueError("compound file too large for a header-only DIFAT")
        fat_at = sectors

        fat = [FREESECT] * (fat_count * _IDS_PER_SECTOR)
        for index, data in big:
            _chain(start[index], -(-len(data) // SECTOR_SIZE), fat)
        _chain(mini_stream_at, mini_stream_count, fat)
        _chain(mini_fat_at, mini_fat_count, fat)
        _chain(dir_at, dir_count, fat)
        fat[fat_at : fat_at + fat_count] = [FATSECT] * fat_count

        directory = bytearray()
        for index, (node, _children) in enumerate(entries):
            name = node.name.encode("utf-16-le") + b"\0\0"
            if len(name) > 64:
                raise ValueError(f"compound file name too long: {node.name!r}")
            left, right, _depth = links.get(index, (NOSTREAM, NOSTREAM, 0))
            if index == 0:
                kind, first = "root", mini_stream_at if mini_stream else ENDOFCHAIN
                size = len(mini_stream)
            elif isinstance(node, Storage):
                kind, first, size = "storage", 0, 0
            else:
                kind = "stream"
                first, size = (start[index], len(node.data)) if node.data else (ENDOFCHAIN, 0)
            fields = {
                **_UNUSED_ENTRY,
                "name": name.ljust(64, b"\0"),
                "name_length": len(name),
                "object_type": kind,
                "color": colors.get(index, "black"),
                "left_sibling": left,
                "right_sibling": right,
                "child": child_of.get(index, NOSTREAM),
                "clsid": node.clsid if isinstance(node, Storage) else bytes(16),
                "start_sector": first,
                "stream_size": size,
            }
            directory += DirectoryEntry.build(Container(fields))
        while len(directory) < dir_count * SECTOR_SIZE:
            directory += DirectoryEntry.build(Container(_UNUSED_ENTRY))

        header = CfbHeader.build(
            Container(
                minor_version=0x003E,
                fat_sectors=fat_count,
                first_directory_sector=dir_at,
                transaction_signature=0,
                first_minifat_sector=mini_fat_at if mini_fat_count else ENDOFCHAIN,
                minifat_sectors=mini_fat_count,
                first_difat_sector=ENDOFCHAIN,
                difat_sectors=0,
                difat=[fat_at + i for i in range(fat_count)]
                + [FREESECT] * (DIFAT_IN_HEADER - fat_count),
            )
        )
        out = bytearray(header)
        for _index, data in big:
            out += data + bytes(-len(data) % SECTOR_SIZE)
        out += mini_stream + bytes(-len(mini_stream) % SECTOR_SIZE)
        mini_fat += [FREESECT] * (mini_fat_count * _IDS_PER_SECTOR - len(mini_fat))
        for i in range(mini_fat_count):
            out += SectorOfIds.build(mini_fat[i * _IDS_PER_SECTOR : (i + 1) * _IDS_PER_SECTOR])
        out += directory
        for i in range(fat_count):
            out += SectorOfIds.build(fat[i * _IDS_PER_SECTOR : (i + 1) * _IDS_PER_SECTOR])
        return bytes(out)


# --- [MS-OXMSG] ------------------------------------------------------------------------


def _value(prop: Prop, ansi_codec: str) -> tuple[bytes, bytes | None]:
    """(8-byte value field, stream bytes or None) of one property ([MS-OXMSG] 2.4.2)."""
    kind = PropType(prop.type)
    if kind in FIXED_SIZE and kind != PropType.GUID:
        return encode_fixed(kind, prop.value).ljust(8, b"\0"), None
    if kind in (PropType.UNICODE, PropType.STRING8):
        data = encode_string(kind, prop.value, ansi_codec)
        return struct.pack("<II", len(data) + (2 if kind == PropType.UNICODE else 1), 0), data
    if kind in (PropType.BINARY, PropType.GUID):
        return struct.pack("<II", len(prop.value), 0), bytes(prop.value)
    raise ValueError(f"property type {kind.name} is not written to MSG files")


def _properties(
    props: dict[int, Prop],
    kind: str,
    header: dict[str, int],
    ansi_codec: str,
    embedded: bool = False,
) -> list[Storage | Stream]:
    """The property stream and the value streams; ``embedded`` adds the PtypObject entry
    of an attachment holding an embedded message (Size 0xFFFFFFFF, 2.4.2.2)."""
    rows, streams = [], []
    for prop_id in sorted(props):
        prop = props[prop_id]
        value, data = _value(prop, ansi_codec)
        rows.append((prop_id, int(prop.type), value))
        if data is not None:
            streams.append(Stream(f"__substg1.0_{prop_id:04X}{int(prop.type):04X}", data))
    if embedded:
        rows.append((0x3701, int(PropType.OBJECT), struct.pack("<II", 0xFFFFFFFF, 0)))
    entries = [
        Container(prop_type=prop_type, prop_id=prop_id, flags=_READABLE_WRITABLE, value=value)
        for prop_id, prop_type, value in sorted(rows, key=lambda row: row[0])
    ]
    stream = property_stream(kind).build(Container(header=Container(**header), entries=entries))
    return [Stream(PROPERTY_STREAM, stream), *streams]


def _message(spec: MessageSpec, kind: str, ansi_codec: str, depth: int) -> list[Storage | Stream]:
    if depth > MAX_EMBED_DEPTH:  # deeper than the readers read
        raise ValueError("embedded messages nested too deeply")
    recipients, attachments = len(spec.recipients), len(spec.attachments)
    header = {
        "next_recipient_id": recipients,
        "next_attachment_id": attachments,
        "recipient_count": recipients,
        "attachment_count": attachments,
    }
    children = _properties(spec.props, kind, header, ansi_codec)
    for index, recipient in enumerate(spec.recipients):
        props = {**recipient, 0x3000: Prop(PropType.INT32, index)}  # PidTagRowid
        streams = _properties(props, "attachment", {}, ansi_codec)
        children.append(Storage(f"__recip_version1.0_#{index:08X}", streams))
    for index, attachment in enumerate(spec.attachments):
        props = {**attachment.props, 0x0E21: Prop(PropType.INT32, index)}  # PidTagAttachNumber
        if attachment.data is not None:
            props[0x3701] = Prop(PropType.BINARY, attachment.data)
        inner = attachment.embedded
        storage = Storage(
            f"__attach_version1.0_#{index:08X}",
            _properties(props, "attachment", {}, ansi_codec, inner is not None),
        )
        if inner is not None:
            embedded = _message(inner, "embedded", ansi_codec, depth + 1)
            storage.children.append(Storage("__substg1.0_3701000D", embedded))
        children.append(storage)
    return children


def msg_bytes(spec: MessageSpec, *, ansi_codec: str = "cp1252") -> bytes:
    """The MSG file of a message; String8 values are encoded with ``ansi_codec``."""
    nameid = Storage(
        "__nameid_version1.0",
        [
            Stream("__substg1.0_00020102", b""),  # GUID stream
            Stream("__substg1.0_00030102", b""),  # entry stream
            Stream("__substg1.0_00040102", b""),  # string stream
        ],
    )
    root = Storage("Root Entry", [nameid, *_message(spec, "top", ansi_codec, 0)], MSG_CLSID)
    return CompoundFile(root).to_bytes()


def write_msg(spec: MessageSpec, path: str | Path, *, ansi_codec: str = "cp1252") -> None:
    """Write the MSG file of a message (the caller decides about overwriting)."""
    Path(path).write_bytes(msg_bytes(spec, ansi_codec=ansi_codec))
