"""An Outlook MSG file (OLE compound file, [MS-OXMSG]) as a Message of the store protocol.

An analyst often receives the hidden Message Manager exported on its own (MFCMAPI can save
it as .msg). extract-msg reads it first (``strict=False``: it refuses unfamiliar message
classes such as ``IPM.MessageManager`` otherwise); files it rejects are read again through
olefile and our own declaration of the property stream (``schemas.msg_props``). Both paths
give the same property mapping, which tests check on every real sample.

Everything is read eagerly and the file is closed before returning: MSG files are small, and
evidence must not stay open behind the caller's back.
"""

from __future__ import annotations

import codecs
import io
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import construct
import olefile

from uidl_inspector.exceptions import CorruptStructureError, NotAStoreError
from uidl_inspector.findings import Finding
from uidl_inspector.schemas import mapi
from uidl_inspector.schemas.mapi import FIXED_SIZE, MV_FLAG, PropId, PropType, filetime_to_datetime
from uidl_inspector.schemas.msg_props import HEADER_SIZES, PROPERTY_STREAM, property_stream
from uidl_inspector.store.model import MessageAccessors, embedding_refused

__all__ = [
    "MsgMessage",
    "MsgAttachment",
    "open_msg",
    "read_msg_olefile",
    "read_msg_extract",
    "OLE_MAGIC",
]

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MAX_ATTACHMENTS = 4096
_EMBEDDED_STORAGE = "__substg1.0_3701000D"
_STREAM_RE = re.compile(r"^__substg1\.0_([0-9A-Fa-f]{4})([0-9A-Fa-f]{4})$")
_ATTACH_RE = re.compile(r"^__attach_version1\.0_#([0-9A-Fa-f]{8})$")
_FLOATING_EPOCH = datetime(1899, 12, 30, tzinfo=timezone.utc)
_VARIABLE = {PropType.STRING8, PropType.UNICODE, PropType.BINARY, PropType.OBJECT, PropType.GUID}
# Windows code pages whose Python codec name is not "cp<N>".
_CODEPAGES = {
    20127: "ascii",
    1200: "utf-16-le",
    28591: "latin-1",
    28592: "iso8859-2",
    28595: "iso8859-5",
    28597: "iso8859-7",
    28599: "iso8859-9",
    28605: "iso8859-15",
    50220: "iso2022_jp",
    51932: "euc_jp",
    54936: "gb18030",
    20866: "koi8-r",
}


@dataclass
class MsgAttachment:
    """One ``__attach_version1.0_#N`` storage, read."""

    index: int
    storage: str
    props: dict[int, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    embedded_message: MsgMessage | None = None
    nid: int | None = None

    @property
    def data(self) -> bytes | None:
        value = self.props.get(PropId.ATTACH_DATA)
        return value if isinstance(value, bytes) else None

    def embedded(self) -> MsgMessage | None:
        return self.embedded_message


@dataclass
class MsgMessage(MessageAccessors):
    """A message read from an MSG file (the file itself or an embedded message in it)."""

    path: str
    storage: str  # "" for the top-level message, else the OLE storage path
    backend: str  # extract-msg | olefile
    props: dict[int, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    attachment_list: list[MsgAttachment] = field(default_factory=list)
    nid: int | None = None

    def attachments(self) -> list[MsgAttachment]:
        return list(self.attachment_list)


# ---------------------------------------------------------------------------------------
# Value decoding shared by both back ends


def string8_codec(props: dict[int, Any]) -> str:
    """The codec for String8 values: PidTagMessageCodepage, else ISO-8859-15.

    [MS-OXMSG] 2.1.2: without PidTagMessageCodepage a reader uses ISO-8859-15 (extract-msg
    does the same, which the tests check on the real samples).
    """
    page = props.get(PropId.MESSAGE_CODEPAGE)
    if isinstance(page, int) and page:
        try:
            return codecs.lookup(_CODEPAGES.get(page, f"cp{page}")).name
        except LookupError:
            pass
    return codecs.lookup("iso8859-15").name


def decode_fixed(prop_type: int, raw: bytes) -> Any:
    """A fixed-size value from the 8 value bytes of a property entry (through mapi's codec)."""
    if prop_type == PropType.NULL:
        return None
    if prop_type not in FIXED_SIZE:
        return bytes(raw)
    try:
        return mapi.decode_fixed(prop_type, raw)
    except OverflowError:  # a FILETIME past datetime's range: keep the raw integer
        return int.from_bytes(raw[:8], "little")


def filetime(value: int) -> datetime | int:
    """A FILETIME as an aware UTC datetime; the raw integer when out of datetime's range."""
    try:
        return filetime_to_datetime(value)
    except OverflowError:
        return value


def mv_fixed(ptype: int, data: bytes) -> list[Any]:
    """A multi-valued property of a fixed-size base type: values packed in one stream."""
    base = ptype & ~MV_FLAG
    size = FIXED_SIZE.get(base, 8)
    return [decode_fixed(base, data[i : i + size]) for i in range(0, len(data) - size + 1, size)]


def mv_variable(
    read: Callable[[str], bytes | None], name: str, count: int, ptype: int, codec: str
) -> list[Any]:
    """A multi-valued property of a variable-size base type: value ``i`` in the stream
    ``{name}-{i:08X}``, ``count`` of them (the length stream's), up to the first missing."""
    out = []
    for i in range(count):
        item = read(f"{name}-{i:08X}")
        if item is None:
            break
        out.append(decode_variable(ptype & ~MV_FLAG, item, codec)[0])
    return out


def decode_variable(prop_type: int, data: bytes, codec: str) -> tuple[Any, str | None]:
    """A variable-size value from its stream; the second item names a decoding problem."""
    if prop_type not in (PropType.UNICODE, PropType.STRING8):
        return bytes(data), None
    text = mapi.decode_string(prop_type, data, codec)
    if prop_type == PropType.UNICODE:
        problem = "invalid UTF-16" if "\ufffd" in text and b"\xfd\xff" not in data else None
    else:
        problem = f"invalid {codec}" if "\ufffd" in text else None
    return text, problem


# ---------------------------------------------------------------------------------------
# olefile back end: our own reading of the property stream


class _OleReader:
    """Reads storages of one open OLE file, bounded in depth and attachment count."""

    def __init__(self, ole: olefile.OleFileIO[str], path: str, file_size: int) -> None:
        self.ole = ole
        self.path = path
        self.file_size = file_size
        self.entries = [tuple(e) for e in ole.listdir(streams=True, storages=True)]

    def children(self, parent: tuple[str, ...]) -> list[str]:
        depth = len(parent)
        return sorted({e[depth] for e in self.entries if len(e) > depth and e[:depth] == parent})

    def read(self, parts: tuple[str, ...], findings: list[Finding]) -> bytes | None:
        """A whole stream, or None (with a finding when the file cut it short)."""
        name = "/".join(parts)
        if self.ole.get_type(name) != olefile.STGTY_STREAM:
            return None
        declared = self.ole.get_size(name)
        # Lenient olefile follows a cyclic sector chain as far as the declared size: bound it.
        if declared > self.file_size:
            detail = f"{name}: declares {declared} bytes in a {self.file_size}-byte file"
            findings.append(Finding("stream_beyond_file", None, detail))
            return None
        with self.ole.openstream(name) as stream:
            data = stream.read()
        if len(data) < declared:
            detail = f"{name}: {len(data)} of {declared} bytes readable"
            findings.append(Finding("truncated_stream", None, detail))
            return None
        return data

    def message(self, parts: tuple[str, ...], depth: int) -> MsgMessage:
        msg = MsgMessage(self.path, "/".join(parts), "olefile")
        kind = "top" if not parts else "embedded"
        msg.props = self.properties(parts, kind, msg.findings, None)
        codec = string8_codec(msg.props)
        attachments = [name for name in self.children(parts) if _ATTACH_RE.match(name)]
        if len(attachments) > MAX_ATTACHMENTS:
            why = f"{len(attachments)} attachment storages; the first {MAX_ATTACHMENTS} are read"
            msg.findings.append(Finding("too_many_attachments", None, why))
        for index, name in enumerate(attachments[:MAX_ATTACHMENTS]):
            apath = (*parts, name)
            att = MsgAttachment(index, "/".join(apath))
            att.props = self.properties(apath, "attachment", att.findings, codec)
            if _EMBEDDED_STORAGE in self.children(apath):
                if not embedding_refused(depth, att.storage, att.findings):
                    att.embedded_message = self.message((*apath, _EMBEDDED_STORAGE), depth + 1)
            msg.attachment_list.append(att)
        return msg

    def properties(
        self, parts: tuple[str, ...], kind: str, findings: list[Finding], codec: str | None
    ) -> dict[int, Any]:
        """Property stream entries with their values, then streams the stream forgot."""
        where = "/".join(parts) or "(root)"
        raw = self.read((*parts, PROPERTY_STREAM), findings)
        entries: list[Any] = []
        if raw is None:
            findings.append(Finding("missing_property_stream", None, where))
        else:
            try:
                parsed = property_stream(kind).parse(raw)
            except construct.ConstructError as exc:
                detail = " ".join(str(exc).split())
                findings.append(Finding("bad_property_stream", None, f"{where}: {detail}"))
            else:
                entries = list(parsed.entries)
                extra = (len(raw) - HEADER_SIZES[kind]) % 16  # the parse needed a whole header
                if extra:
                    detail = f"{where}: {extra} bytes after the last entry"
                    findings.append(Finding("trailing_data", len(raw) - extra, detail))
        streams = {key: name for name in self.children(parts) if (key := _stream_key(name))}
        props: dict[int, Any] = {}
        wanted = []
        for e in entries:
            if e.prop_type in _VARIABLE or e.prop_type & MV_FLAG:
                wanted.append((e.prop_id, e.prop_type))
            else:
                props[e.prop_id] = decode_fixed(e.prop_type, e.value)
        codec = codec or string8_codec(props)
        wanted += [key for key in sorted(streams) if key not in wanted]
        for pid, ptype in wanted:
            if pid in props or ptype == PropType.OBJECT:
                continue
            value = self.variable(parts, streams, pid, ptype, codec, findings)
            if value is not None:
                props[pid] = value
        return props

    def variable(
        self,
        parts: tuple[str, ...],
        streams: dict[tuple[int, int], str],
        pid: int,
        ptype: int,
        codec: str,
        findings: list[Finding],
    ) -> Any:
        name = streams.get((pid, ptype))
        if name is None:
            where = "/".join(parts) or "(root)"
            detail = f"{where}: no stream for property {pid:04X}{ptype:04X}"
            findings.append(Finding("missing_value_stream", None, detail))
            return None
        data = self.read((*parts, name), findings)
        if data is None:
            return None
        if ptype & MV_FLAG:  # [MS-OXMSG] 2.1.4.2.2: packed, or one stream per value
            if ptype & ~MV_FLAG in FIXED_SIZE:
                return mv_fixed(ptype, data)
            width = 8 if ptype == PropType.MV_BINARY else 4
            count = min(len(data) // width, MAX_ATTACHMENTS)
            return mv_variable(
                lambda item: self.read((*parts, item), findings), name, count, ptype, codec
            )
        value, problem = decode_variable(ptype, data, codec)
        if problem:
            findings.append(Finding("bad_string", None, f"{name}: {problem}"))
        return value


def _stream_key(name: str) -> tuple[int, int] | None:
    """(property id, type) of a ``__substg1.0_IIIITTTT`` value stream's name, else None."""
    match = _STREAM_RE.match(name)
    return (int(match.group(1), 16), int(match.group(2), 16)) if match else None


def _content(path: str, data: bytes | None) -> bytes:
    """The MSG's bytes: ``data`` when given (a file inside an image), else the file's."""
    if data is None:
        with open(path, "rb") as handle:
            data = handle.read()
    # isOleFile also wants the minimal size: olefile takes shorter bytes for a file name.
    if not olefile.isOleFile(data=data):
        raise NotAStoreError(f"{path}: not an OLE compound file")
    return data


def read_msg_olefile(path: str, data: bytes | None = None) -> MsgMessage:
    """Read an MSG with olefile and our property-stream declaration."""
    data = _content(path, data)
    try:
        # olefile reads a whole sector at once: from an in-memory copy a read cannot ask for
        # more than the file holds, whatever the header's sector shift says.
        ole = olefile.OleFileIO(io.BytesIO(data))
    except (OSError, ValueError, struct.error) as exc:  # olefile raises these on damage
        raise CorruptStructureError(f"{path}: unreadable OLE compound file: {exc}") from exc
    try:
        # olefile only logs a wrong sector shift; a 2**4976-byte sector cannot be read.
        # (types-olefile omits the sizes olefile sets when it reads the header.)
        sector: int = ole.sector_size  # type: ignore[attr-defined]
        mini: int = ole.mini_sector_size  # type: ignore[attr-defined]
        if sector not in (512, 4096) or mini != 64:
            raise CorruptStructureError(f"{path}: sector sizes {sector}/{mini} are not [MS-CFB]'s")
        root = ole.root
        mini_stream: int = root.size if root is not None else 0  # type: ignore[attr-defined]
        if mini_stream > len(data):  # the mini stream holds every small stream
            raise CorruptStructureError(
                f"{path}: mini stream of {mini_stream} bytes is larger than the file"
            )
        reader = _OleReader(ole, path, len(data))
        if not any(e == (PROPERTY_STREAM,) for e in reader.entries):
            raise NotAStoreError(f"{path}: OLE file without an MSG property stream")
        return reader.message((), 0)
    except (OSError, ValueError, struct.error) as exc:
        raise CorruptStructureError(f"{path}: damaged OLE compound file: {exc}") from exc
    finally:
        ole.close()


# ---------------------------------------------------------------------------------------
# extract-msg back end


def _normalise(prop_type: int, value: Any) -> Any:
    """extract-msg's decoded fixed values in the protocol's conventions."""
    if isinstance(value, datetime):
        if hasattr(value, "filetime"):  # extract-msg's NullDate: keep the raw FILETIME
            return filetime(value.filetime)
        if prop_type == PropType.FLOATING_TIME:
            return (value.replace(tzinfo=timezone.utc) - _FLOATING_EPOCH) / timedelta(days=1)
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
    if isinstance(value, Decimal):
        return int(value * 10000)
    if isinstance(value, int) and not isinstance(value, bool):
        if prop_type in FIXED_SIZE:  # extract-msg reads them unsigned
            return mapi.decode_fixed(prop_type, mapi.encode_fixed(prop_type, value))
        return int(value)  # ErrorCodeType and other IntEnums
    return value


def _extract_message(source: Any, path: str, storage: str, depth: int) -> MsgMessage:
    import extract_msg

    msg = MsgMessage(path, storage, "extract-msg")
    msg.props = _extract_props(source, source.props, msg.findings, None)
    codec = string8_codec(msg.props)
    for index, att in enumerate(source.attachments[:MAX_ATTACHMENTS]):
        out = MsgAttachment(index, f"{storage}/{att.dir}".lstrip("/"))
        out.props = _extract_props(att, att.props, out.findings, codec)
        if att.type == extract_msg.enums.AttachmentType.MSG:
            if not embedding_refused(depth, out.storage, out.findings):
                out.embedded_message = _extract_message(
                    att.data, path, f"{out.storage}/{_EMBEDDED_STORAGE}", depth + 1
                )
        elif att.type not in (extract_msg.enums.AttachmentType.DATA,):
            detail = f"{out.storage}: extract-msg type {att.type.name}"
            out.findings.append(Finding("attachment_type", None, detail))
        msg.attachment_list.append(out)
    return msg


def _extract_props(
    owner: Any, store: Any, findings: list[Finding], codec: str | None
) -> dict[int, Any]:
    """Properties of a message (``codec`` None: from its own code page) or attachment."""
    props: dict[int, Any] = {}
    listed: list[tuple[int, int]] = []
    for key, prop in store.items():
        pid, ptype = int(key[:4], 16), int(key[4:], 16)
        if ptype in _VARIABLE or ptype & MV_FLAG:
            listed.append((pid, ptype))
        else:
            props[pid] = _normalise(ptype, prop.value)
    # Stream paths below ``owner``: extract-msg gives a message's with its prefix unless told.
    relative = {"includePrefix": False} if hasattr(owner, "prefixList") else {}
    streams = [
        key
        for entry in owner.listDir(True, False, **relative)
        if len(entry) == 1 and (key := _stream_key(entry[0]))
    ]
    codec = codec or string8_codec(props)
    for pid, ptype in listed + [k for k in sorted(streams) if k not in listed]:
        if pid in props or ptype == PropType.OBJECT:
            continue
        name = f"__substg1.0_{pid:04X}{ptype:04X}"
        if ptype == PropType.MV_BINARY:
            value = owner.getMultipleBinary(f"__substg1.0_{pid:04X}")
        elif ptype in (PropType.MV_STRING8, PropType.MV_UNICODE):
            count = len(owner.getStream(name) or b"") // 4
            value = mv_variable(owner.getStream, name, count, ptype, codec)
        elif ptype & MV_FLAG:
            value = mv_fixed(ptype, owner.getStream(name) or b"")
        else:
            data = owner.getStream(name)
            if data is None:
                detail = f"no stream for property {pid:04X}{ptype:04X}"
                findings.append(Finding("missing_value_stream", None, detail))
                continue
            value, problem = decode_variable(ptype, data, codec)
            if problem:
                findings.append(Finding("bad_string", None, f"{name}: {problem}"))
        if value is not None:
            props[pid] = value
    return props


def read_msg_extract(path: str, data: bytes | None = None) -> MsgMessage:
    """Read an MSG through extract-msg (raises its own exceptions on files it rejects)."""
    import extract_msg

    handle = extract_msg.openMsg(
        path if data is None else data, strict=False, delayAttachments=False
    )
    try:
        return _extract_message(handle, path, "", 0)
    finally:
        handle.close()


def open_msg(path: str, data: bytes | None = None) -> MsgMessage:
    """The MSG at ``path`` (or its bytes ``data``, ``path`` then only names it):
    extract-msg first, olefile for files extract-msg rejects."""
    import extract_msg

    data = _content(path, data)
    # NotImplementedError: extract-msg refuses attachments by reference or without data.
    rejected = (
        extract_msg.exceptions.ExMsgBaseException,
        OSError,
        ValueError,
        KeyError,
        IndexError,
        TypeError,
        AttributeError,
        struct.error,
        NotImplementedError,
    )
    try:
        return read_msg_extract(path, data)
    except rejected as exc:
        message = read_msg_olefile(path, data)
        message.findings.insert(
            0, Finding("extract_msg_rejected", None, f"{type(exc).__name__}: {exc}"[:300])
        )
        return message
