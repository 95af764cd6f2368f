"""Recovered histories: one record per distinct content, with every place it was found.

The same earlier BLOB often survives in several free blocks, and an analyst needs it once,
with each place as evidence. Each item is related to the live histories of the report
(``same_as_live``, ``earlier_version``, ``unrelated``, ``lost_entries``: docs/recovery.md).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from uidl_inspector.findings import Finding
from uidl_inspector.history import Entry, PopHistory, build_blob, parse_blob
from uidl_inspector.records import Account, HistoryRecord
from uidl_inspector.recover.finder import Run
from uidl_inspector.store.ltp import heap_header, read_page_map

__all__ = ["Found", "Place", "RecoveredItem", "collect", "relate", "account_near"]

# The history attachment's name, "BlobPOP<smtp>", as UTF-16LE or 8-bit text in a heap.
_BLOBPOP_WIDE = re.compile(rb"B\x00l\x00o\x00b\x00P\x00O\x00P\x00((?:[\x21-\x7e]\x00){3,254})")
_BLOBPOP_NARROW = re.compile(rb"BlobPOP([\x21-\x7e]{3,254})")


@dataclass(frozen=True)
class Place:
    """Where one copy lies: file offset and length, the block holding it and its state."""

    offset: int
    length: int
    bid: int | None = None  # from a surviving block trailer
    crc_ok: bool | None = None  # None: no trailer, nothing to check
    allocated: bool | None = None  # the AMap's view; None outside a store
    referenced: bool | None = None  # a BBT entry covers it; None outside a store
    encoding: str = "none"  # none | permute | cyclic: how these bytes were stored

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RecoveredItem:
    """A BLOB or run of tags found outside any live history."""

    source: str
    kind: str  # blob | fragment | deleted_manager
    core: bytes = field(repr=False)  # decoded header and tags (no slack)
    history: PopHistory
    places: list[Place]
    account: Account | None = None
    account_from: str | None = None  # attachment_name | uid_overlap
    relation: str = "unrelated"
    related_history: int | None = None  # index in the report's histories
    lost: tuple[Entry, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # kind-specific facts

    @property
    def latest(self) -> datetime | None:
        """The latest tag time: how earlier versions of one account are ordered."""
        return self.history.latest()

    def to_dict(self) -> dict[str, Any]:
        first = self.places[0]
        h = self.history
        listed = self.relation != "same_as_live"
        out: dict[str, Any] = {
            "source": self.source,
            "kind": self.kind,
            **first.to_dict(),
            "copies": len(self.places),
            "places": [p.to_dict() for p in self.places],
            "blob": h.blob_dict(self.core) if self.kind == "blob" else None,
            "latest": self.latest.isoformat() if self.latest else None,
            "account": self.account.to_dict() if self.account else None,
            "account_from": self.account_from,
            "relation": self.relation,
            "related_history": self.related_history,
            "entries": [e.to_dict() for e in h.entries] if listed else [],
            "anomalies": [a.to_dict() for a in h.anomalies] if listed else [],
            "lost_entries": [e.to_dict() for e in self.lost],
        }
        out.update(self.extra)
        return out


def _history(run: Run, core: bytes, offset: int) -> PopHistory:
    """The run decoded as a BLOB, entries and anomalies placed at file offsets."""
    if run.header is None:  # a fragment: decoded behind a made-up header, then unshifted
        parsed = parse_blob(build_blob(run.tags))
        shift, version, count = offset - 4, None, None
    else:
        parsed = parse_blob(core)
        shift, (version, count) = offset, run.header
    entries = tuple(replace(e, offset=e.offset + shift) for e in parsed.entries)
    anomalies = tuple(
        Finding(a.code, None if a.offset is None else a.offset + shift, a.detail)
        for a in parsed.anomalies
        if not (run.header is None and a.offset == 2)
    )
    return PopHistory(version, count, entries, anomalies)


def _heap_items(block: bytes) -> list[bytes] | None:
    """A heap block's items (§2.3.1), so a name is read to its item's end; None if no heap."""
    header = heap_header(block)
    if header is None:
        return None
    try:
        alloc = read_page_map(block, header.ibHnpm)
    except (ValueError, struct.error):
        return None
    return [block[a:b] for a, b in zip(alloc, alloc[1:], strict=False) if 0 <= a <= b]


def account_near(data: bytes) -> Account | None:
    """The account a surviving heap names: its ``BlobPOP<smtp>`` attachment name.

    ``data`` is a block's decoded bytes (its heap items are then searched one by one: an
    8-bit name has no terminator of its own) or any bytes around a find.
    """
    for part in _heap_items(data) or [data]:
        match = _BLOBPOP_WIDE.search(part)
        if match:
            return Account(email=match[1].decode("utf-16-le"))
        match = _BLOBPOP_NARROW.search(part)
        if match:
            return Account(email=match[1].decode("ascii"))
    return None


# One raw find: the run of tags, its decoded core (header and tags), where it lies, and the
# account named near it. The in-store search and the carver both produce these.
Found = tuple[Run, bytes, Place, Account | None]


def collect(found: Iterable[Found], source: str) -> list[RecoveredItem]:
    """Items from raw finds ``(run, core, place, account)``; copies merged."""
    items: dict[tuple[str, bytes], RecoveredItem] = {}
    for run, core, place, account in found:
        kind = "blob" if run.complete else "fragment"
        item = items.get((kind, core))
        if item is None:
            item = RecoveredItem(
                source,
                kind,
                core,
                _history(run, core, place.offset),
                [place],
                account,
                "attachment_name" if account else None,
            )
            items[(kind, core)] = item
        elif place not in item.places:
            item.places.append(place)
            if item.account is None and account is not None:
                item.account, item.account_from = account, "attachment_name"
    return list(items.values())


def _live_core(history: PopHistory, blob: bytes) -> bytes:
    counted = history.raw_tags(counted=True)
    return bytes(blob[: 4 + sum(map(len, counted)) + len(counted)])


def relate(
    items: list[RecoveredItem], histories: Sequence[HistoryRecord], source: str | None = None
) -> list[RecoveredItem]:
    """Set relation, account and lost entries against the live histories; order in time.

    Only histories of the same ``source`` are compared when one is given (an earlier
    version lies in the store whose history it was).
    """
    if not items:  # nothing found: the live histories' tag and UID sets are not needed
        return items
    live = [
        (i, h)
        for i, h in enumerate(histories)
        if h.blob is not None and (source is None or h.source == source)
    ]
    tags = {i: set(h.history.raw_tags()) for i, h in live}
    uids = {i: h.history.uids() for i, h in live}
    cores = {i: _live_core(h.history, h.blob) for i, h in live if h.blob is not None}
    latest = {i: h.history.latest() for i, h in live}
    every = set().union(*tags.values()) if tags else set()
    for item in items:
        own = [e.raw_tag for e in item.history.entries]
        item.lost = tuple(e for e in item.history.entries if e.raw_tag not in every)
        same = [i for i, _ in live if item.kind == "blob" and cores[i] == item.core]
        if same:
            item.relation, item.related_history = "same_as_live", same[0]
            item.lost = ()
            continue
        overlap = {i: len(tags[i].intersection(own)) for i, _ in live}
        best = max(overlap, key=lambda i: (overlap[i], -i), default=None)
        if best is not None and overlap[best]:
            mine, theirs = item.latest, latest[best]
            if mine is None or theirs is None or mine <= theirs:
                item.relation = "earlier_version"
            item.related_history = best
        else:  # no tag in common: the same UIDs (a reset history) still name the account
            mine_uids = {e.uid for e in item.history.entries}
            shared = {i: len(uids[i] & mine_uids) for i, _ in live}
            best = max(shared, key=lambda i: (shared[i], -i), default=None)
            if best is None or not shared[best]:
                continue
        if item.account is None:
            item.account, item.account_from = histories[best].account, "uid_overlap"
    items.sort(
        key=lambda it: (
            (it.account.label if it.account else "~"),
            it.latest is not None,
            it.latest or 0,
            it.places[0].offset,
        )
    )
    return items
