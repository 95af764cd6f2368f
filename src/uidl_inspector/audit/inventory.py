"""The store's messages as the audit needs them: identity, place and times, nothing else.

Walking a store follows the file's own folder pointers, so the walk (the locator's
``walk_folders``) is bounded by depth and a visited set, and a folder that cannot be opened
becomes a finding, not a stop.
"""

from __future__ import annotations

import functools
import hashlib
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Protocol, TypeVar, runtime_checkable

from uidl_inspector.exceptions import UidlInspectorError
from uidl_inspector.findings import Finding
from uidl_inspector.locate import is_manager_class
from uidl_inspector.schemas.mapi import PropId
from uidl_inspector.store.model import Folder, Message, Store, walk_folders

__all__ = [
    "StoreMessage",
    "HiddenMessage",
    "Inventory",
    "take_inventory",
    "normalise_headers",
    "headers_digest",
]

Item = TypeVar("Item")
PROGRESS_EVERY = 500  # messages between two progress reports
_FOLD = re.compile(r"\r?\n[ \t]+")
_SPACE = re.compile(r"[ \t]+")
# A Received line (with its folded continuation) that says the hop was a POP3 fetch.
POP3_RECEIVED = re.compile(
    r"^Received:(?:[^\n]|\n[ \t])*?\bwith\s+POP3?\b", re.IGNORECASE | re.MULTILINE
)


@dataclass(frozen=True, slots=True)
class StoreMessage:
    """One normal message of a store (slots: a 100,000-message store holds 100,000 of them;
    folder, source and sender strings are shared between records)."""

    source: str
    folder: str
    nid: int | None
    internet_message_id: str | None
    delivery_time: datetime | None  # UTC-aware
    submit_time: datetime | None
    subject: str | None
    sender: str | None
    # The transport headers are not kept (100,000 of them weigh hundreds of MB), only what
    # the audit asks of them: a digest of their normalised form and whether a Received
    # line names a POP3 fetch.
    headers_sha256: str | None = None
    pop3_received: bool = False

    def ref(self) -> dict[str, Any]:
        """The reference used as evidence in findings and links."""
        return {
            "source": self.source,
            "folder": self.folder,
            "nid": self.nid,
            "internet_message_id": self.internet_message_id,
            "delivery_time": iso_utc(self.delivery_time),
        }


@dataclass(frozen=True, slots=True)
class HiddenMessage:
    """One associated (hidden) message of class IPM.MessageManager."""

    source: str
    folder: str
    nid: int | None
    subject: str | None
    attachments: int

    def ref(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Inventory:
    messages: tuple[StoreMessage, ...]
    managers: tuple[HiddenMessage, ...]
    findings: tuple[Finding, ...]


def normalise_headers(headers: str) -> str:
    """Headers with folding undone, runs of blanks collapsed, names lower-cased."""
    out = []
    # One pass over the whole text collapses blanks line by line (the pattern never spans
    # a newline), instead of one regex call per line.
    for line in _SPACE.sub(" ", _FOLD.sub(" ", headers.replace("\r\n", "\n"))).split("\n"):
        line = line.strip()
        if not line:
            continue
        name, sep, value = line.partition(":")
        out.append(f"{name.strip().lower()}{sep}{value.strip()}" if sep else line)
    return "\n".join(out)


def headers_digest(headers: str) -> str:
    """SHA-256 of the normalised headers: the duplicate key of a mail with no Message-ID."""
    return hashlib.sha256(normalise_headers(headers).encode("utf-8", "surrogatepass")).hexdigest()


def iso_utc(value: datetime | None) -> str | None:
    """ISO 8601 with an explicit offset; a naive value from a store is taken as UTC."""
    utc = _time(value)
    return None if utc is None else utc.isoformat()


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


# What the audit asks of a message that a contents table can hold (the headers never are).
TABLE_COLUMNS = frozenset(
    {
        PropId.INTERNET_MESSAGE_ID,
        PropId.MESSAGE_DELIVERY_TIME,
        PropId.CLIENT_SUBMIT_TIME,
        PropId.SUBJECT,
    }
)


@runtime_checkable
class TabledFolder(Protocol):
    """A folder that gives each message with its contents-table row (a PST's)."""

    def message_rows(
        self, columns: frozenset[int]
    ) -> Iterator[tuple[Message, Mapping[int, Any] | None]]: ...


def _message_id(value: Any) -> str | None:
    return (_text(value) or "").strip() or None


def store_message(
    source: str,
    folder: str,
    message: Message,
    row: Mapping[int, Any] | None = None,
    headers: bool = True,
) -> StoreMessage:
    """The audit's view of one message. From its contents-table ``row`` (the cells of
    :data:`TABLE_COLUMNS`) when there is one, the message has a Message-ID and its
    transport headers are not wanted (``headers``: the store has no history, so
    ``history_missing`` asks whether its mail came by POP3); else from its own properties,
    the headers read only when wanted or when they must stand in for a missing
    Message-ID as the duplicate key."""
    message_id = None if row is None else _message_id(row.get(PropId.INTERNET_MESSAGE_ID))
    sender = text = None
    props: Mapping[int, Any]
    if row is not None and message_id is not None and not headers:
        props = row
    else:
        props = message.props  # the message's PC: opened only now
        message_id = _message_id(props.get(PropId.INTERNET_MESSAGE_ID))
        sender = _text(props.get(PropId.SENDER_EMAIL_ADDRESS)) or _text(
            props.get(PropId.SENT_REPRESENTING_EMAIL)
        )
        if headers or message_id is None:
            text = _text(props.get(PropId.TRANSPORT_MESSAGE_HEADERS))
    has_headers = bool(text and text.strip())
    return StoreMessage(
        source=source,
        folder=folder,
        nid=message.nid,
        internet_message_id=message_id,
        delivery_time=_time(props.get(PropId.MESSAGE_DELIVERY_TIME)),
        submit_time=_time(props.get(PropId.CLIENT_SUBMIT_TIME)),
        subject=_text(props.get(PropId.SUBJECT)),
        sender=sys.intern(sender) if sender else sender,
        headers_sha256=headers_digest(text) if text and has_headers else None,
        pop3_received=bool(text and has_headers and POP3_RECEIVED.search(text)),
    )


def _messages(folder: Folder) -> Iterator[tuple[Message, Mapping[int, Any] | None]]:
    """A folder's normal messages, each with its contents-table row where the store gives
    one."""
    if isinstance(folder, TabledFolder):
        return folder.message_rows(TABLE_COLUMNS)
    return ((message, None) for message in folder.messages())


def _safe_iter(
    items: Callable[[], Iterable[Item]], path: str, what: str, findings: list[Finding]
) -> Iterator[Item]:
    try:  # the call too: a store may raise as soon as the table is asked for
        yield from items()
    except UidlInspectorError as error:
        findings.append(
            Finding("unreadable", getattr(error, "offset", None), f"{path}: {what}: {error}")
        )


def _content_total(folders: Iterable[Folder]) -> int | None:
    """The messages the folders say they hold (PidTagContentCount), for progress only;
    None when a folder does not say."""
    total = 0
    for folder in folders:
        try:
            count = folder.props.get(PropId.CONTENT_COUNT)
        except UidlInspectorError:
            return None
        if not isinstance(count, int) or isinstance(count, bool):
            return None
        total += count
    return total


def take_inventory(
    store: Store,
    source: str | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    headers: bool = True,
) -> Inventory:
    """All normal messages and every Message Manager of a store. ``progress`` is told the
    messages read so far and, when the folders say it, how many there are. ``headers``
    False: the store has a history, so only a message without Message-ID needs its
    transport headers (its duplicate key), and the others are read from the contents
    tables alone."""
    source = sys.intern(source or store.path)
    findings: list[Finding] = []
    messages: list[StoreMessage] = []
    managers: list[HiddenMessage] = []
    try:
        root = store.root_folder()
    except UidlInspectorError as error:
        return Inventory((), (), (Finding("store_unreadable", None, str(error)),))
    # The total comes from a walk of its own, so that findings keep their order.
    total = _content_total(walk_folders(root, [])) if progress is not None else None
    for folder in walk_folders(root, findings):
        path = sys.intern(folder.path)
        rows = functools.partial(_messages, folder)
        for message, row in _safe_iter(rows, path, "contents", findings):
            messages.append(store_message(source, path, message, row, headers))
            if progress is not None and not len(messages) % PROGRESS_EVERY:
                progress(len(messages), total)
        for hidden in _safe_iter(folder.associated, path, "associated contents", findings):
            if not is_manager_class(hidden.message_class):
                continue
            try:
                count = len(hidden.attachments())
            except UidlInspectorError:
                count = 0
            managers.append(HiddenMessage(source, path, hidden.nid, hidden.subject, count))
    if progress is not None:
        progress(len(messages), total)
    return Inventory(tuple(messages), tuple(managers), tuple(findings))
