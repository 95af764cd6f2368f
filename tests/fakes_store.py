"""Small in-memory implementations of the store protocol (store/model.py) for tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from uidl_inspector.exceptions import CorruptStructureError
from uidl_inspector.findings import Finding


@dataclass
class FakeAttachment:
    index: int
    props: dict[int, Any]
    blob: bytes | None = None
    inner: FakeMessage | None = None
    nid: int | None = None
    findings: list[Finding] = field(default_factory=list)
    broken: bool = False

    @property
    def data(self) -> bytes | None:
        if self.broken:
            raise CorruptStructureError("attachment data block missing", 0x4400)
        return self.blob

    def embedded(self) -> FakeMessage | None:
        return self.inner


@dataclass
class FakeMessage:
    nid: int | None
    props: dict[int, Any]
    attachment_list: list[FakeAttachment] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def message_class(self) -> str | None:
        return self.props.get(0x001A)

    @property
    def subject(self) -> str | None:
        return self.props.get(0x0037)

    def attachments(self) -> list[FakeAttachment]:
        return list(self.attachment_list)


@dataclass
class FakeFolder:
    nid: int
    name: str
    path: str
    hidden: list[FakeMessage] = field(default_factory=list)
    normal: list[FakeMessage] = field(default_factory=list)
    children: list[FakeFolder] = field(default_factory=list)
    props: dict[int, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    broken_contents: bool = False

    def subfolders(self):
        return iter(self.children)

    def messages(self):
        if self.broken_contents:
            raise CorruptStructureError("contents table unreadable", 0x8000)
        return iter(self.normal)

    def associated(self):
        return iter(self.hidden)


@dataclass
class FakeStore:
    root: FakeFolder
    path: str = "fake.pst"
    variant: str = "unicode"
    encryption: str = "none"
    findings: list[Finding] = field(default_factory=list)
    closed: bool = False

    def root_folder(self) -> FakeFolder:
        return self.root

    def close(self) -> None:
        self.closed = True


def folder_tree(*folders: FakeFolder) -> FakeFolder:
    """A root ("") with "Top of Personal Folders" holding ``folders``."""
    top = FakeFolder(
        0x8022, "Top of Personal Folders", "Top of Personal Folders", children=list(folders)
    )
    return FakeFolder(0x122, "", "", children=[top])
