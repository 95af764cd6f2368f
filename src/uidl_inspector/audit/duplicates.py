"""Messages present more than once in the evidence, grouped by what identifies a mail.

The key is the Internet Message-ID; a message without one falls back to a hash of its
normalised transport headers, then to subject + sender + submit time. A message with none of
these cannot be compared and is left out (counted).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from uidl_inspector.audit.inventory import StoreMessage, iso_utc, normalise_headers

__all__ = ["DuplicateGroup", "find_duplicates", "message_key", "normalise_headers"]

_LATEST = datetime.max.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class DuplicateGroup:
    """Copies of one mail: ``key_method`` says which identity joined them."""

    key_method: str  # message_id | transport_headers | subject_sender_submit
    key: str
    internet_message_id: str | None
    copies: tuple[StoreMessage, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "internet_message_id": self.internet_message_id,
            "key_method": self.key_method,
            "key": self.key,
            "subject": next((c.subject for c in self.copies if c.subject), None),
            # each copy's reference, the Message-ID (the group's) said once above
            "copies": [
                {k: v for k, v in c.ref().items() if k != "internet_message_id"}
                for c in self.copies
            ],
        }


def message_key(message: StoreMessage) -> tuple[str, str] | None:
    """(method, key) identifying the mail, or None when nothing identifies it."""
    if message.internet_message_id:
        return "message_id", message.internet_message_id.strip().strip("<>").strip()
    if message.headers_sha256:
        return "transport_headers", message.headers_sha256
    if message.subject and message.sender and message.submit_time:
        basis = "\0".join(
            (
                message.subject.strip(),
                message.sender.strip().lower(),
                iso_utc(message.submit_time) or "",
            )
        )
        return "subject_sender_submit", hashlib.sha256(basis.encode()).hexdigest()
    return None


def _copy_order(message: StoreMessage) -> tuple[datetime, str, str, int]:
    return (message.delivery_time or _LATEST, message.source, message.folder, message.nid or -1)


def find_duplicates(messages: Iterable[StoreMessage]) -> tuple[list[DuplicateGroup], int]:
    """Groups of two or more copies (stable order), and how many messages had no key."""
    groups: dict[tuple[str, str], list[StoreMessage]] = {}
    keyless = 0
    for message in messages:
        found = message_key(message)
        if found is None:
            keyless += 1
            continue
        groups.setdefault(found, []).append(message)
    out = []
    for (method, key), copies in groups.items():
        if len(copies) < 2:
            continue
        copies.sort(key=_copy_order)
        message_id = copies[0].internet_message_id if method == "message_id" else None
        out.append(DuplicateGroup(method, key, message_id, tuple(copies)))
    out.sort(key=lambda g: (_copy_order(g.copies[0]), g.key_method, g.key))
    return out, keyless
