"""In-memory stand-ins for the history, store and records the audit reads (tests only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from fakes_store import FakeFolder, FakeStore
from uidl_inspector.findings import Finding
from uidl_inspector.history import PopHistory
from uidl_inspector.records import Account, HistoryRecord, Location, Profile
from uidl_inspector.schemas.mapi import PropId

OPS = {"+": "get", "-": "delete", "&": "get-and-delete"}


@dataclass(frozen=True)
class FakeEntry:
    index: int
    offset: int
    operation: str
    content: str
    timestamp: datetime | None
    raw_uid: str
    uid: str

    def to_dict(self):
        return {"index": self.index, "uid": self.uid}


@dataclass(frozen=True)
class FakeHistory:
    entries: tuple
    anomalies: tuple = ()
    version: int = 3
    declared_count: int = 0
    slack: bytes | None = None

    blob_dict = PopHistory.blob_dict  # reads only the fields above

    def slack_dict(self):
        return None if self.slack is None else {"size": len(self.slack)}

    def entry_dicts(self):
        yield [e.to_dict() for e in self.entries]


def history(
    tags,
    *,
    account="user@example.org",
    source="store.pst",
    nid=0x200008,
    folder="Top of Personal Folders/Inbox",
    profile="Outlook",
    key="00" * 16,
    anomalies=(),
    blob=None,
):
    """tags: (op char, naive local datetime or None, uid)."""
    entries = tuple(
        FakeEntry(i, 4 + 30 * i, OPS[op], "body", ts, uid, uid)
        for i, (op, ts, uid) in enumerate(tags)
    )
    blob = blob if blob is not None else repr((account, nid, tags)).encode()
    return HistoryRecord(
        source=source,
        history=FakeHistory(entries, tuple(anomalies), 3, len(entries)),
        blob=blob,
        location=Location(
            folder=folder,
            message_nid=nid,
            message_class="IPM.MessageManager",
            subject=f"Outlook Message Manager ({profile}) (KEY: {key})",
            attachment_index=0,
            attachment_name=f"BlobPOP{account}",
            match_rule="subject",
            attachment_rule="long_filename",
        ),
        account=Account(email=account),
        profile=Profile(name=profile, search_key=key),
    )


@dataclass
class FakeMessage:
    nid: int | None
    props: dict
    findings: list = field(default_factory=list)
    message_class: str | None = "IPM.Note"

    @property
    def subject(self):
        return self.props.get(PropId.SUBJECT)

    def attachments(self):
        return []


def mail(nid, message_id, delivered, subject="Hello", sender="a@example.net", headers=None):
    props = {
        PropId.SUBJECT: subject,
        PropId.SENDER_EMAIL_ADDRESS: sender,
        PropId.MESSAGE_DELIVERY_TIME: delivered,
        PropId.CLIENT_SUBMIT_TIME: delivered,
    }
    if message_id is not None:
        props[PropId.INTERNET_MESSAGE_ID] = message_id
    if headers is not None:
        props[PropId.TRANSPORT_MESSAGE_HEADERS] = headers
    elif message_id is not None:
        props[PropId.TRANSPORT_MESSAGE_HEADERS] = f"Message-ID: {message_id}\r\n"
    return FakeMessage(nid, props)


def store(path, inbox_messages, other=None, managers=()):
    """A store whose root has Top of Personal Folders with Inbox (and one other folder)."""
    inbox = FakeFolder(
        0x8022,
        "Inbox",
        "Top of Personal Folders/Inbox",
        normal=list(inbox_messages),
        hidden=list(managers),
    )
    archive = FakeFolder(
        0x8042, "Archive", "Top of Personal Folders/Archive", normal=list(other or [])
    )
    top = FakeFolder(
        0x8062, "Top of Personal Folders", "Top of Personal Folders", children=[inbox, archive]
    )
    root = FakeFolder(0x122, "", "", children=[top])
    return FakeStore(root, path)


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


def mailbox(
    start,
    count,
    offset_minutes,
    *,
    uid=lambda n: f"{n:08x}ABCD0123",
    gap_h=3,
    id_prefix="m",
    first_nid=0x200004,
):
    """count messages delivered about gap_h hours apart (irregularly, so that no wrong
    offset aligns by periodicity) from start (UTC), each with its get tag written on a
    clock offset_minutes east of UTC, 1 s after delivery."""
    messages, tags = [], []
    for n in range(count):
        delivered = start + timedelta(hours=gap_h * n, minutes=(n * 37) % 53, seconds=n % 7)
        messages.append(mail(first_nid + 32 * n, f"<{id_prefix}{n}@example.net>", delivered))
        local = (delivered + timedelta(seconds=1, minutes=offset_minutes)).replace(tzinfo=None)
        tags.append(("+", local, uid(n)))
    return messages, tags


__all__ = ["history", "mail", "store", "utc", "mailbox", "FakeMessage", "Finding"]
