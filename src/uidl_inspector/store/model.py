"""The messaging-level view that every evidence reader offers to the locator.

The PST/OST reader (``store.messaging``) and the MSG reader (``store.msg``) both produce
objects of these shapes, so the locator and the audit never see the container format.
Properties are a mapping from 16-bit property id (``mapi.PropId``) to a decoded value:
``str`` for String8/Unicode, ``bytes`` for Binary, ``int`` for integers, ``bool``,
``datetime`` (timezone-aware UTC) for PtypTime, ``list`` for multi-valued types.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from uidl_inspector.exceptions import UidlInspectorError
from uidl_inspector.findings import Finding
from uidl_inspector.schemas.mapi import PropId

__all__ = [
    "Attachment",
    "Message",
    "MessageAccessors",
    "Folder",
    "Store",
    "walk_folders",
    "read_error",
    "MAX_FOLDER_DEPTH",
    "MAX_EMBED_DEPTH",
    "embedding_refused",
]

# Bounds every reader and the locator share, against loops and hostile nesting.
MAX_FOLDER_DEPTH = 64  # folders below the root
# Messages embedded down to this many levels are read (by both readers and the locator);
# one deeper is not, and costs an ``embedding_too_deep`` finding.
MAX_EMBED_DEPTH = 8


def embedding_refused(depth: int, where: str, findings: list[Finding]) -> bool:
    """Whether the message embedded in an attachment of a message at ``depth`` is past the
    bound; if so it costs ``embedding_too_deep`` on ``findings`` (the attachment's)."""
    if depth < MAX_EMBED_DEPTH:
        return False
    findings.append(Finding("embedding_too_deep", None, f"{where}: deeper than {MAX_EMBED_DEPTH}"))
    return True


class Attachment(Protocol):
    """One row of a message's attachment table, opened."""

    index: int  # position in the attachment table, 0-based
    nid: int | None  # attachment subnode NID in a PST; None in an MSG
    props: Mapping[int, Any]
    findings: list[Finding]

    @property
    def data(self) -> bytes | None:
        """PidTagAttachDataBinary when the attachment holds bytes (method by value)."""

    def embedded(self) -> Message | None:
        """The embedded message when PidTagAttachMethod is 5, else None."""


class Message(Protocol):
    nid: int | None  # NID in a PST (type 0x04 normal, 0x08 associated); None in an MSG
    props: Mapping[int, Any]
    findings: list[Finding]

    @property
    def message_class(self) -> str | None: ...

    @property
    def subject(self) -> str | None: ...

    def attachments(self) -> list[Attachment]: ...


class MessageAccessors:
    """The class and subject of a message from its ``props``, the same for every reader."""

    if TYPE_CHECKING:  # read-only here: a reader gives a property or a plain attribute

        @property
        def props(self) -> Mapping[int, Any]: ...

    @property
    def message_class(self) -> str | None:
        value = self.props.get(PropId.MESSAGE_CLASS)
        return value if isinstance(value, str) else None

    @property
    def subject(self) -> str | None:
        """PidTagSubject without its prefix marker (0x01 + prefix length) when present."""
        value = self.props.get(PropId.SUBJECT)
        if not isinstance(value, str):
            return None
        return value[2:] if value[:1] == "\x01" and len(value) >= 2 else value


class Folder(Protocol):
    nid: int
    name: str
    path: str  # display names joined with "/", from the store's root folder
    props: Mapping[int, Any]
    findings: list[Finding]

    def subfolders(self) -> Iterator[Folder]: ...

    def messages(self) -> Iterator[Message]:
        """Normal contents (contents table)."""

    def associated(self) -> Iterator[Message]:
        """Hidden contents (associated contents table, NID type 0x08)."""


class Store(Protocol):
    path: str
    variant: str  # unicode | ansi | ost | ost4k
    encryption: str  # none | permute | cyclic | <other, as found>
    findings: list[Finding]

    def root_folder(self) -> Folder: ...

    def close(self) -> None: ...


def read_error(where: str, what: str, exc: UidlInspectorError) -> Finding:
    """The ``unreadable`` finding for a part of a store that could not be read."""
    return Finding("unreadable", getattr(exc, "offset", None), f"{where}: {what}: {exc}")


def walk_folders(root: Folder, findings: list[Finding]) -> Iterator[Folder]:
    """Every folder below and including ``root``, depth-first, bounded, each once.

    The one folder walk of the package (locate, hidden, audit inventories): a cycle, a
    folder deeper than :data:`MAX_FOLDER_DEPTH` or unreadable subfolders cost a finding
    appended to ``findings``, never the walk."""
    seen: set[int] = set()
    stack: list[tuple[Folder, int]] = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        if folder.nid in seen:
            detail = f"folder nid {folder.nid:#x} reached twice"
            findings.append(Finding("folder_cycle", None, detail))
            continue
        seen.add(folder.nid)
        yield folder
        if depth >= MAX_FOLDER_DEPTH:
            detail = f"{folder.path}: deeper than {MAX_FOLDER_DEPTH}"
            findings.append(Finding("folder_too_deep", None, detail))
            continue
        try:
            children = list(folder.subfolders())
        except UidlInspectorError as exc:
            findings.append(read_error(folder.path, "subfolders", exc))
            continue
        stack.extend((child, depth + 1) for child in reversed(children))
