"""History entries flattened with the history they came from, as the audit reasons on them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from uidl_inspector.records import HistoryRecord

__all__ = ["EntryRef", "entry_refs", "iso", "GET_OPERATIONS", "DELETE_OPERATIONS"]

GET_OPERATIONS = frozenset({"get", "get-and-delete"})
DELETE_OPERATIONS = frozenset({"delete", "get-and-delete"})


def iso(value: datetime | None) -> str | None:
    """A BLOB time (zoneless, as the BLOB records it) as report text."""
    return value.isoformat() if value else None


@dataclass(frozen=True)
class EntryRef:
    """One history entry and where it sits: ``history`` indexes the report's histories."""

    history: int
    index: int
    offset: int | None
    operation: str | None
    content: str | None
    timestamp: datetime | None  # naive: the BLOB records no zone
    uid: str | None
    account: str
    source: str

    def ref(self) -> dict[str, Any]:
        return {
            "history": self.history,
            "entry": self.index,
            "offset": self.offset,
            "operation": self.operation,
            "uid": self.uid,
            "timestamp": iso(self.timestamp),
        }


def entry_refs(histories: Sequence[HistoryRecord]) -> list[EntryRef]:
    """Every entry of every history, in report order then BLOB order."""
    out: list[EntryRef] = []
    for h_index, record in enumerate(histories):
        label = record.account.label
        out.extend(
            EntryRef(
                history=h_index,
                index=entry.index,
                offset=entry.offset,
                operation=entry.operation,
                content=entry.content,
                timestamp=entry.timestamp,
                uid=entry.uid,
                account=label,
                source=record.source,
            )
            for entry in record.history.entries
        )
    return out
