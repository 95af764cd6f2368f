"""What the history says about each server UID, per account.

A UID's state is the last operation recorded for it across the account's histories (by
time, then BLOB order): ``get`` leaves the message on the server, ``delete`` and
``get-and-delete`` remove it. Against a server listing every server UID is ``downloaded``
(in the history, kept on the server), ``deleted`` (the history says it was deleted, yet the
server lists it), or ``new`` (absent from the history: Outlook would download it at the
next sync); every history UID the server does not list is ``history_only``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from uidl_inspector.audit.entries import DELETE_OPERATIONS, EntryRef
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
    stamp = ref.timestamp.isoformat() if ref.timestamp else ""
    return (ref.timestamp is not None, stamp, ref.history, ref.index)


def uid_states(entries: Sequence[EntryRef]) -> dict[str, str]:
    """UID -> last recorded operation, in first-seen order of the UIDs."""
    first_seen: dict[str, int] = {}
    for position, ref in enumerate(entries):
        if ref.uid is not None:
            first_seen.setdefault(ref.uid, position)
    last: dict[str, str] = {}
    for ref in sorted(entries, key=_order):
        if ref.uid is not None and ref.operation is not None:
            last[ref.uid] = ref.operation
    return {uid: last.get(uid, "unknown") for uid in sorted(first_seen, key=first_seen.get)}


def classify_account(account: str, entries: Sequence[EntryRef],
                     listing: ServerListing | None) -> AccountClassification:
    """Classify one account's history (and the server's UIDs when a listing is given)."""
    states = uid_states(entries)
    operations: dict[str, int] = {}
    for ref in entries:
        key = ref.operation or "unknown"
        operations[key] = operations.get(key, 0) + 1
    histories = tuple(sorted({ref.history for ref in entries}))
    common = dict(account=account, histories=histories, listing=listing,
                  history_uids=len(states), operations=tuple(sorted(operations.items())))
    if listing is None:
        return AccountClassification(**common)
    on_server = set(listing.uids)
    downloaded, deleted, new = [], [], []
    for uid in listing.uids:
        state = states.get(uid)
        if state is None:
            new.append(uid)
        elif state in DELETE_OPERATIONS:
            deleted.append(uid)
        else:
            downloaded.append(uid)
    history_only = [uid for uid in states if uid not in on_server]
    return AccountClassification(
        **common, downloaded=tuple(downloaded), deleted=tuple(deleted), new=tuple(new),
        history_only=tuple(history_only),
    )
