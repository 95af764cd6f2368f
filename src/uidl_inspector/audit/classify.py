"""What the history says about each server UID, per account.

A UID's state is the last operation recorded for it across the account's histories (by
time, then BLOB order): ``get`` leaves the message on the server, ``delete`` and
``get-and-delete`` remove it. Against a server listing the UIDs of both sides fall in four
classes: ``downloaded`` (listed, and the history's last word is a get: kept on the server),
``deleted`` (the history's last word is a delete), ``new`` (listed, absent from the
history: Outlook would download it at the next sync) and ``history_only`` (a get in the
history, no longer listed: removed by someone else). ``deleted_but_listed`` picks out the
deleted UIDs the server still lists (a DELE that did not take effect).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from uidl_inspector.audit.entries import DELETE_OPERATIONS, EntryRef, iso
from uidl_inspector.audit.server_listing import ServerListing

__all__ = ["AccountClassification", "classify_account", "uid_states", "CLASSES"]

CLASSES = ("downloaded", "deleted", "new", "history_only")


@dataclass(frozen=True)
class AccountClassification:
    account: str
    histories: tuple[int, ...]
    listing: ServerListing | None
    downloaded: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    new: tuple[str, ...] = ()
    history_only: tuple[str, ...] = ()
    deleted_but_listed: tuple[str, ...] = ()
    history_uids: int = 0
    operations: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        server: dict[str, Any] | None = None
        if self.listing is not None:
            server = {
                "listing": self.listing.path,
                "listed": len(self.listing.uids),
                "counts": {name: len(getattr(self, name)) for name in CLASSES},
                **{name: list(getattr(self, name)) for name in CLASSES},
                "deleted_but_listed": list(self.deleted_but_listed),
            }
        return {
            "account": self.account,
            "histories": list(self.histories),
            "history_uids": self.history_uids,
            "operations": dict(self.operations),
            "server": server,
        }


def _order(ref: EntryRef) -> tuple[bool, str, int, int]:
    # Entries without a time sort first: any dated operation on the UID is more recent.
    return (ref.timestamp is not None, iso(ref.timestamp) or "", ref.history, ref.index)


def uid_states(entries: Sequence[EntryRef]) -> dict[str, str]:
    """UID -> last recorded operation, in first-seen order of the UIDs."""
    first_seen = dict.fromkeys(ref.uid for ref in entries if ref.uid is not None)
    last: dict[str, str] = {}
    for ref in sorted(entries, key=_order):
        if ref.uid is not None and ref.operation is not None:
            last[ref.uid] = ref.operation
    return {uid: last.get(uid, "unknown") for uid in first_seen}


def classify_account(
    account: str, entries: Sequence[EntryRef], listing: ServerListing | None
) -> AccountClassification:
    """Classify one account's history (and the server's UIDs when a listing is given)."""
    states = uid_states(entries)
    operations = Counter(ref.operation or "unknown" for ref in entries)
    histories = tuple(sorted({ref.history for ref in entries}))
    base = AccountClassification(
        account=account,
        histories=histories,
        listing=listing,
        history_uids=len(states),
        operations=tuple(sorted(operations.items())),
    )
    if listing is None:
        return base
    on_server = set(listing.uids)
    downloaded = [u for u in listing.uids if u in states and states[u] not in DELETE_OPERATIONS]
    new = [u for u in listing.uids if u not in states]
    deleted = sorted(u for u, state in states.items() if state in DELETE_OPERATIONS)
    history_only = sorted(
        u for u, state in states.items() if state not in DELETE_OPERATIONS and u not in on_server
    )
    return replace(
        base,
        downloaded=tuple(downloaded),
        deleted=tuple(deleted),
        new=tuple(new),
        history_only=tuple(history_only),
        deleted_but_listed=tuple(u for u in deleted if u in on_server),
    )
