"""The messaging-level view that every evidence reader offers to the locator.

The PST/OST reader (``store.messaging``) and the MSG reader (``store.msg``) both produce
objects of these shapes, so the locator and the audit never see the container format.
Properties are a mapping from 16-bit property id (``mapi.PropId``) to a decoded value:
``str`` for String8/Unicode, ``bytes`` for Binary, ``int`` for integers, ``bool``,
``datetime`` (timezone-aware UTC) for PtypTime, ``list`` for multi-valued types.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from uidl_inspector.findings import Finding
from uidl_inspector.mapi import PropId

__all__ = ["Attachment", "Message", "MessageAccessors", "Folder", "Store"]


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

    props: Mapping[int, Any]

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
        if value[:1] == "\x01" and len(value) >= 2:
            return value[2:]
        return value


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
