"""What an input is, decided from its content (never its extension), and opening it.

Analysts point the tool at exports whose names lie (``.dat``, no extension, a renamed
``.ost``), so each file is sniffed: PST/OST by the ``!BDN`` magic, MSG by the OLE magic, a
raw POP3 history by a version-3 header followed by a well-formed first tag, and hex text of
such a BLOB as copied from MFCMAPI; a file of none of these kinds is a disk image
(``image``) when dfVFS recognises one (store.image). Directories are walked recursively in
sorted order without following symbolic links, so two runs over the same tree list the
same inputs.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from uidl_inspector.exceptions import NotAStoreError
from uidl_inspector.findings import Finding
from uidl_inspector.schemas.ndb import (
    CLIENT_OST,
    CLIENT_PAB,
    CLIENT_PST,
    HEADER_MAGIC,
    HEADER_PREFIX,
    FastRecord,
    field_size,
    offset_of,
)
from uidl_inspector.schemas.popblob import (
    CONTENTS,
    FIXED_TAG_SIZE,
    HEADER_SIZE,
    OPERATIONS,
    PBLOB_VERSION,
    PopBlobHeader,
    ResourceTag,
    slack_size,
)
from uidl_inspector.store.msg import OLE_MAGIC

__all__ = [
    "EvidenceFile",
    "Evidence",
    "sniff",
    "detect_kind",
    "looks_like_pop_blob",
    "decode_hex_text",
    "walk_inputs",
    "open_evidence",
    "MAX_BLOB_FILE",
    "MAX_WALK_DEPTH",
]

_CLIENT_AT = offset_of(HEADER_PREFIX, "wMagicClient")
_CLIENT_END = _CLIENT_AT + field_size(HEADER_PREFIX, "wMagicClient")
MAX_BLOB_FILE = 64 << 20  # a 65,535-tag BLOB is a few MB; its hex text twice that
MAX_WALK_DEPTH = 64
_SNIFF = 4096
_CLIENT_KINDS = {CLIENT_PST: "pst", CLIENT_OST: "ost", CLIENT_PAB: "pst"}
_PRINTABLE = re.compile(rb"^[\x20-\x7e\r\n\t]*$")  # what hex text (and MFCMAPI's) is made of
_BLOB_HEADER = FastRecord(PopBlobHeader, "PopBlobHeader")
_BLOB_HEAD_END = HEADER_SIZE + FIXED_TAG_SIZE  # the header and a first tag's fixed fields
_TAG_HEAD = re.compile(
    rb"^[%s][%s][0-9]{%d}"
    % (
        re.escape(b"".join(OPERATIONS)),
        re.escape(b"".join(CONTENTS)),
        field_size(ResourceTag, "timestamp"),
    )
)


def looks_like_pop_blob(data: bytes | None) -> bool:
    """A version-3 header whose first tag (if any) starts like a resource tag.

    ``data`` is the whole BLOB when it has no tag (a 0-tag BLOB of real Outlook is 8 bytes).

    A cheap test that keeps the locator's content sweep and the directory walk from
    decoding arbitrary attachments or files; the decoder itself is ``history.parse_blob``.
    """
    if data is None or len(data) < HEADER_SIZE:
        return False
    header = _BLOB_HEADER.parse(data)
    if header.version != PBLOB_VERSION:
        return False
    if header.count == 0:  # the bare header, or the header and real Outlook's 4 bytes of slack
        return len(data) in (HEADER_SIZE, HEADER_SIZE + slack_size(0))
    return bool(_TAG_HEAD.match(data[HEADER_SIZE:_BLOB_HEAD_END]))


_MFCMAPI_PREFIX = re.compile(rb"\A\s*cb:\s*([0-9]+)\s*lpb:", re.IGNORECASE)
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_SEPARATORS = b" \t\r\n\v\f,"


def decode_hex_text(text: bytes) -> tuple[bytes | None, str | None]:
    """Bytes from hex text, and a note when MFCMAPI's ``cb:`` disagrees with them.

    Spaces, newlines, commas, ``0x`` prefixes and MFCMAPI's ``cb: N lpb:`` prefix are
    allowed. Returns ``(None, None)`` when the text is not hex. Linear time: no regex
    runs over the digits.
    """
    declared = None
    prefix = _MFCMAPI_PREFIX.match(text)
    if prefix:
        declared, text = int(prefix[1]), text[prefix.end() :]
    digits = text.replace(b"0x", b"").replace(b"0X", b"").translate(None, _SEPARATORS)
    if not digits or len(digits) % 2 or digits.translate(None, _HEX_DIGITS):
        return None, None
    data = bytes.fromhex(digits.decode("ascii"))
    if declared is not None and declared != len(data):
        return data, f"MFCMAPI cb: says {declared} bytes, lpb: holds {len(data)}"
    return data, None


def sniff(head: bytes, size: int, read_all: Any = None) -> str:
    """The kind of a file from its first bytes: pst | ost | msg | blob | hex | unknown.

    ``read_all`` (a callable returning the whole content) is only called for files small
    enough to be a BLOB or its hex text, when the first bytes do not settle it.
    """
    if head.startswith(HEADER_MAGIC):
        return _CLIENT_KINDS.get(head[_CLIENT_AT:_CLIENT_END], "pst")
    if head.startswith(OLE_MAGIC):
        return "msg"
    if looks_like_pop_blob(head[:_BLOB_HEAD_END]):
        return "blob"
    if size <= MAX_BLOB_FILE and read_all is not None and _PRINTABLE.match(head[:_SNIFF]):
        decoded, _ = decode_hex_text(read_all())
        if looks_like_pop_blob(decoded):
            return "hex"
    return "unknown"


def detect_kind(path: str | os.PathLike[str]) -> str:
    """The kind of the file at ``path`` (opened read-only); ``image`` for a disk image."""
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF)
        size = os.fstat(handle.fileno()).st_size

        def read_all() -> bytes:
            handle.seek(0)
            return handle.read(MAX_BLOB_FILE + 1)

        kind = sniff(head, size, read_all)
    return _image_kind(str(path), head) if kind == "unknown" else kind


def _image_kind(path: str, head: bytes) -> str:
    """``image``, ``segment`` (a later segment of a split EWF image) or ``unknown``.

    dfVFS decides when it is installed, but is only asked about files with a signature of
    some image, volume or file system in their first 4 KiB (a walked directory of ordinary
    files costs no scan); a strong signature makes an image even when dfVFS cannot read
    it (damaged: the scan then says why), and decides alone without dfVFS.
    """
    from uidl_inspector.store import image

    if not image.dfvfs_available():
        return "image" if image.looks_like_image(head) else "unknown"
    if head.startswith(image.EWF_MAGIC) and image.segments(path)[0] != path:
        return "segment"
    if image.looks_like_image(head) or (
        image.looks_like_image(head, weak=True) and image.image_format(path) is not None
    ):
        return "image"
    return "unknown"


@dataclass(frozen=True)
class EvidenceFile:
    """One input found on the command line or in a walked directory."""

    path: str
    kind: str | None  # pst | ost | msg | blob | hex | image | segment | unknown; None: unreadable
    error: str | None = None  # one line: why it could not be read
    from_directory: bool = False  # found by walking (unknown files there are skipped)


def _classify(path: str, from_directory: bool) -> EvidenceFile:
    from uidl_inspector.store import image

    try:
        kind = detect_kind(path)
        error = None
        if kind == "image" and not image.dfvfs_available():
            error = image.INSTALL_HINT
        elif kind == "segment":
            first = image.segments(path)[0]
            error = f"a later segment of the split image {first}: give that file"
    except OSError as exc:
        return EvidenceFile(path, None, f"cannot read: {exc.strerror or exc}", from_directory)
    return EvidenceFile(path, kind, error, from_directory)


def walk_inputs(paths: Iterable[str | os.PathLike[str]]) -> Iterator[EvidenceFile]:
    """Every file named or found below a named directory, in a deterministic order.

    Symbolic links inside directories are not followed (a link given by name is); special
    files and unreadable entries come back with an ``error`` instead of stopping the walk.
    """
    for given in paths:
        path = str(given)
        try:
            info = os.stat(path)
        except OSError as exc:
            yield EvidenceFile(path, None, f"cannot read: {exc.strerror or exc}")
            continue
        if stat.S_ISDIR(info.st_mode):
            yield from _walk_directory(path, 0, {(info.st_dev, info.st_ino)})
        elif stat.S_ISREG(info.st_mode):
            yield _classify(path, False)
        else:
            yield EvidenceFile(path, None, "not a regular file")


def _walk_directory(path: str, depth: int, seen: set[tuple[int, int]]) -> Iterator[EvidenceFile]:
    if depth >= MAX_WALK_DEPTH:
        yield EvidenceFile(path, None, f"directory nesting deeper than {MAX_WALK_DEPTH}", True)
        return
    try:
        with os.scandir(path) as listing:
            entries = sorted(listing, key=lambda e: e.name)
    except OSError as exc:
        yield EvidenceFile(path, None, f"cannot list: {exc.strerror or exc}", True)
        return
    for entry in entries:
        if entry.is_symlink():
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError as exc:
            yield EvidenceFile(entry.path, None, f"cannot read: {exc.strerror or exc}", True)
            continue
        if stat.S_ISDIR(info.st_mode):
            key = (info.st_dev, info.st_ino)
            if key not in seen:  # bind mounts can loop even without links
                seen.add(key)
                yield from _walk_directory(entry.path, depth + 1, seen)
        elif stat.S_ISREG(info.st_mode):
            yield _classify(entry.path, True)


@dataclass
class Evidence:
    """An opened input: exactly one of ``store``, ``message`` or ``blob`` is set."""

    path: str
    kind: str
    variant: str | None = None  # unicode | ansi | ost | ost4k | msg | blob
    encryption: str | None = None
    store: Any = None  # store.model.Store
    message: Any = None  # store.model.Message (an MSG file)
    blob: bytes | None = None
    findings: list[Finding] = field(default_factory=list)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()

    def __enter__(self) -> Evidence:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def open_evidence(
    path: str | os.PathLike[str], kind: str | None = None, stream: BinaryIO | None = None
) -> Evidence:
    """Open ``path`` read-only as what its content says it is.

    ``stream`` (with ``kind``): read the content from this read-only stream, a file inside
    a disk image, which is never extracted; ``path`` then only names it. Raises
    :class:`NotAStoreError` for content of no known kind, and the readers' own
    :class:`~uidl_inspector.exceptions.UidlInspectorError` subclasses when a known format
    is too damaged to open.
    """
    path = str(path)
    kind = kind or detect_kind(path)
    data = None
    if stream is not None and kind not in ("pst", "ost"):
        with stream:  # MSGs and BLOBs are small and read whole
            data = stream.read()
    if kind in ("pst", "ost"):
        from uidl_inspector.store.pst import open_pst

        store = open_pst(path, stream=stream)
        return Evidence(
            path, kind, store.variant, store.encryption, store=store, findings=list(store.findings)
        )
    if kind == "msg":
        from uidl_inspector.store.msg import open_msg

        message = open_msg(path, data)
        return Evidence(path, kind, "msg", None, message=message, findings=list(message.findings))
    if kind in ("blob", "hex"):
        data = Path(path).read_bytes() if data is None else data
        findings = []
        if kind == "hex":
            decoded, note = decode_hex_text(data)
            if decoded is None:
                raise NotAStoreError(f"{path}: not hex text of a POP3 history BLOB")
            if note:
                findings.append(Finding("hex_length_mismatch", None, note))
            data = decoded
        return Evidence(path, kind, "blob", None, blob=data, findings=findings)
    raise NotAStoreError(f"{path}: not a PST/OST store, an MSG file or a POP3 history BLOB")
