"""The result records: one decoded history BLOB, where it sat and whose it was.

They are built by ``locate``, ``recover`` and ``audit`` and written by ``report``, so they
live below all of them (docs/architecture.md); each ``to_dict`` yields exactly the keys
docs/report-schema.md documents.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from uidl_inspector.history import PopHistory

__all__ = [
    "Companion",
    "Location",
    "Account",
    "Profile",
    "HistoryRecord",
    "HiddenRow",
    "AttachmentRow",
    "EmbeddedRow",
]


@dataclass(frozen=True)
class Companion:
    """Another attachment of the message that holds a history (real Outlook writes an empty
    ``Restags<8 hex>`` / ``RestagsPOP<email>`` beside each BLOB); anything else is unusual."""

    index: int
    long_filename: str | None = None
    filename: str | None = None
    display_name: str | None = None
    size: int | None = None  # None when the attachment holds no readable bytes
    sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Location:
    """Where a history BLOB sits in its container, and which documented rule found it."""

    folder: str | None = None
    message_nid: int | None = None
    message_class: str | None = None
    subject: str | None = None
    attachment_index: int | None = None
    attachment_name: str | None = None
    match_rule: str | None = None  # conversation_key | search_key | subject | general_key | content
    # long_filename | filename | display_name | mini_uid | content
    attachment_rule: str | None = None
    embedded_path: tuple[int, ...] = ()  # attachment indexes of embedded messages, outermost first
    companions: tuple[Companion, ...] = ()  # the holding message's other attachments

    def to_dict(self) -> dict[str, Any]:
        return {  # the report's arrays as lists
            **asdict(self),
            "embedded_path": list(self.embedded_path),
            "companions": [c.to_dict() for c in self.companions],
        }


@dataclass(frozen=True)
class Account:
    email: str | None = None
    mini_uid: str | None = None  # 8 lowercase hex digits, as in the Blob%.8x name

    @property
    def label(self) -> str:
        return self.email or (f"mini-uid:{self.mini_uid}" if self.mini_uid else "unknown")

    def to_dict(self) -> dict[str, Any]:
        return {"email": self.email, "mini_uid": self.mini_uid}


@dataclass(frozen=True)
class Profile:
    name: str | None = None
    search_key: str | None = None  # hex

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "search_key": self.search_key}


@dataclass(frozen=True)
class HistoryRecord:
    """One decoded history BLOB with its provenance.

    ``blob`` is None for a Message Manager that holds no history attachment: it is still
    reported (an account was configured), with no entry and an ``info`` anomaly.
    """

    source: str
    history: PopHistory
    blob: bytes | None = field(repr=False)
    location: Location = Location()
    account: Account = Account()
    profile: Profile = Profile()
    # hex of the store's PidTagRecordKey (for an MSG, the PidTagStoreRecordKey it carries):
    # the store's identity, kept by every copy of it (audit lineages group by it)
    store_key: str | None = None
    # the entries as the JSON report writes them, when a worker process made the record:
    # encoding them there spares the parent (which writes every input's report) that work
    entries_json: bytes | None = field(default=None, repr=False, compare=False)

    def to_dict(self, entries: bool = True) -> dict[str, Any]:
        """The record; ``entries=False`` leaves ``entries`` empty for a writer that
        streams them (:meth:`PopHistory.entry_dicts`)."""
        h = self.history
        return {
            "source": self.source,
            "store_key": self.store_key,
            "location": self.location.to_dict(),
            "account": self.account.to_dict(),
            "profile": self.profile.to_dict(),
            "blob": None
            if self.blob is None
            else {**h.blob_dict(self.blob), "slack": h.slack_dict()},
            "entries": [d for batch in h.entry_dicts() for d in batch] if entries else [],
            "anomalies": [a.to_dict() for a in h.anomalies],
        }


class _AttachmentFields(TypedDict):
    index: int
    nid: int | None
    name: str | None
    method: int | None
    size: int | None
    sha256: str | None


class AttachmentRow(_AttachmentFields, total=False):
    """One attachment of a ``hidden`` row (``hidden[].attachments[]``)."""

    embedded: EmbeddedRow  # only when the attachment holds an embedded message


class EmbeddedRow(TypedDict):
    message_class: str | None
    subject: str | None
    attachments: list[AttachmentRow]


class HiddenRow(TypedDict):
    """One associated (hidden) message, or an MSG file, as ``hidden`` reports it and
    ``crosscheck`` compares it (docs/report-schema.md, ``hidden[]`` less ``source``)."""

    folder: str | None
    nid: int | None
    message_class: str | None
    subject: str | None
    conversation_key: str | None  # hex
    search_key: str | None  # hex
    attachments: list[AttachmentRow]
