"""Lineages: one POP3 history followed across every copy of its store (docs/audit.md,
"Lineages": what one lineage gathers, its versions, their order and diffs).

A place a version was seen is a :class:`Sighting`: ``live``, ``copy`` or ``snapshot`` (see
:func:`observations`) or ``recovered`` (a complete BLOB recovered from free space, which
:func:`recovered_observation` makes an :class:`Observation` like any other).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from uidl_inspector.audit.entries import DELETE_OPERATIONS, iso
from uidl_inspector.history import parse_blob
from uidl_inspector.locate import parse_manager_subject
from uidl_inspector.records import Account, HistoryRecord

__all__ = [
    "Sighting",
    "Observation",
    "Lineage",
    "observations",
    "recovered_observation",
    "build_lineages",
]

_COPY_KINDS = frozenset({"msg", "blob", "hex"})

_NEVER = datetime(1, 1, 1)  # noqa: DTZ001 (BLOB times are zoneless; sorts before every time)
Tag = tuple[str | None, str | None, datetime | None]  # operation, content, time of one UID


@dataclass(frozen=True)
class Sighting:
    """One place a history state was seen: ``history`` indexes the report's histories,
    ``recovered`` the report's recovered items (free-space versions have no history)."""

    kind: str
    source: str
    history: int | None = None
    recovered: int | None = None
    snapshot: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "source": self.source, "history": self.history}
        if self.recovered is not None:
            out["recovered"] = self.recovered
        if self.snapshot is not None:
            out["snapshot"] = self.snapshot
        return out


@dataclass(frozen=True)
class Observation:
    record: HistoryRecord
    sighting: Sighting


def _snapshot(source: Any) -> str | None:
    """The snapshot a source was found in, when its (optional) container names one."""
    snap = (getattr(source, "container", None) or {}).get("snapshot")
    return None if snap is None else str(snap)


def observations(
    histories: Sequence[HistoryRecord], sources: Sequence[Any] = ()
) -> list[Observation]:
    """Every history with a BLOB as an observation: ``snapshot`` when its source came from a
    volume snapshot (``container.snapshot`` set), ``copy`` when the source is an MSG or a
    bare BLOB, else ``live``. ``sources`` are the report's sources (path, kind)."""
    kinds = {s.path: "copy" if s.kind in _COPY_KINDS else "live" for s in sources}
    snaps = {s.path: snap for s in sources if (snap := _snapshot(s)) is not None}
    out = []
    for n, record in enumerate(histories):
        if record.blob is None:
            continue
        kind = "snapshot" if record.source in snaps else kinds.get(record.source, "live")
        out.append(
            Observation(record, Sighting(kind, record.source, n, snapshot=snaps.get(record.source)))
        )
    return out


def recovered_observation(
    index: int,
    source: str,
    blob: bytes,
    *,
    account: Account = Account(),
    like: HistoryRecord | None = None,
) -> Observation:
    """A complete BLOB recovered from free space as a version of its lineage: ``index`` is its
    place in the report's ``recovered[]``. It takes its store key, account, manager and
    folder from ``like`` (the live history of the same source it is an earlier version of)
    when given, else only ``account`` is known."""
    record = HistoryRecord(
        source,
        parse_blob(blob),
        blob,
        like.location if like else HistoryRecord.location,
        like.account if like else account,
        like.profile if like else HistoryRecord.profile,
        like.store_key if like else None,
    )
    return Observation(record, Sighting("recovered", source, None, recovered=index))


def recovered_observations(
    items: Sequence[Any], histories: Sequence[HistoryRecord]
) -> list[Observation]:
    """The whole BLOBs among the scan's recovered items, each a version of its lineage: an
    earlier version (or another place of a live one) takes the identity of the live history
    it was related to; an unrelated one keeps the account found beside it."""
    out = []
    for index, item in enumerate(items):
        if item.kind != "blob":
            continue
        like = histories[item.related_history] if item.related_history is not None else None
        out.append(
            recovered_observation(
                index, item.source, item.core, account=item.account or Account(), like=like
            )
        )
    return out


def manager_key(record: HistoryRecord) -> str | None:
    """The Message Manager's identity: its profile search key, else the KEY of its subject."""
    if record.profile.search_key:
        return record.profile.search_key.lower()
    parsed = parse_manager_subject(record.location.subject)
    return parsed[1].hex() if parsed else record.location.subject


def _state(record: HistoryRecord) -> dict[str, Tag]:
    """UID -> its tag (the last one when a UID repeats), in BLOB order."""
    return {
        e.uid: (e.operation, e.content, e.timestamp)
        for e in record.history.entries
        if e.uid is not None
    }


@dataclass
class Version:
    """One state of the history, every place it was seen, and what changed from the one
    before it (``added``/``changed``/``removed`` are empty for the first)."""

    state: dict[str, Tag]
    sightings: list[Sighting]
    latest: datetime | None
    source_time: datetime | None = None
    added: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    reset: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "sources": [s.to_dict() for s in self.sightings],
            "count": len(self.state),
            "latest_tag": iso(self.latest),
            "reset": self.reset,
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
        }


@dataclass
class Lineage:
    store_key: str | None
    manager: str | None
    account: str
    versions: list[Version]

    @property
    def histories(self) -> list[int]:
        return [s.history for v in self.versions for s in v.sightings if s.history is not None]

    @property
    def uids(self) -> set[str]:
        return {u for v in self.versions for u in v.state}

    @property
    def span(self) -> tuple[datetime, datetime] | None:
        times = [t[2] for v in self.versions for t in v.state.values() if t[2] is not None]
        return (min(times), max(times)) if times else None

    @property
    def resets(self) -> list[int]:
        return [n for n, v in enumerate(self.versions) if v.reset]

    def to_dict(self) -> dict[str, Any]:
        return {
            "store_key": self.store_key,
            "manager": self.manager,
            "account": self.account,
            "versions": [v.to_dict() for v in self.versions],
            "resets": self.resets,
        }


def _tag_dict(uid: str, tag: Tag) -> dict[str, Any]:
    return {"uid": uid, "operation": tag[0], "timestamp": iso(tag[2])}


def _diff(prev: Version, cur: Version, listed: set[str] | None) -> None:
    """What the send/receives between two versions did: tags added (new downloads), changed
    (a later operation on the UID) and removed, each removal with its reason."""
    kept = [u for u in cur.state if prev.state.get(u) == cur.state[u]]
    cur.reset = bool(prev.state) and not kept
    for uid, tag in cur.state.items():
        before = prev.state.get(uid)
        if before is None:
            cur.added.append(_tag_dict(uid, tag))
        elif before != tag:
            cur.changed.append({**_tag_dict(uid, tag), "before": _tag_dict(uid, before)})
    for uid, tag in prev.state.items():
        if uid in cur.state:
            continue
        item = _tag_dict(uid, tag)
        if cur.reset:
            item.update(reason="reset", confirmed=False)
        elif listed is not None and uid in listed:
            item.update(reason="unexplained", confirmed=False)  # still on the server
        else:
            # Outlook drops a tag when its message leaves the server; its own delete tag or
            # a server listing without the UID shows that it did leave.
            item.update(
                reason="pruned", confirmed=tag[0] in DELETE_OPERATIONS or listed is not None
            )
        cur.removed.append(item)


def _join_keyless(
    groups: dict[tuple[str, str | None, str], list[Observation]],
) -> dict[tuple[str, str | None, str], list[Observation]]:
    """A history whose source reveals no store key (a bare BLOB, an MSG without
    PidTagStoreRecordKey) joins the lineage of the same account holding an identical
    state: one history seen in two places (a store and its exported Message Manager)."""
    if not any(key[0].startswith("source:") for key in groups):
        return groups  # every history names its store: nothing to join (states unbuilt)
    states = {
        key: {tuple(_state(o.record).items()) for o in members} - {()}
        for key, members in groups.items()
    }
    keyed = [key for key in groups if not key[0].startswith("source:")]
    out: dict[tuple[str, str | None, str], list[Observation]] = {}
    for key, members in groups.items():
        home = key
        if key[0].startswith("source:"):  # a keyed lineage first, else one joined before
            home = next(
                (o for o in (*keyed, *out) if o[2] == key[2] and states[key] & states[o]), key
            )
        out.setdefault(home, []).extend(members)
    return out


def build_lineages(
    found: Sequence[Observation],
    source_times: Mapping[str, datetime] | None = None,
    listings: Mapping[str, set[str]] | None = None,
) -> list[Lineage]:
    """Group observations into lineages, their identical states into versions, order the
    versions by latest tag (ties: the sources' own times, i.e. their newest message, then the
    smaller state, since Outlook only drops old tags), and diff successive versions.
    ``listings`` maps an account to the UIDs its server listing shows."""
    times = source_times or {}
    groups: dict[tuple[str, str | None, str], list[Observation]] = {}
    for obs in found:
        r = obs.record
        identity = r.store_key or f"source:{r.source}"  # no key: only copies of one file
        groups.setdefault((identity, manager_key(r), r.account.label), []).append(obs)
    out = []
    for (identity, manager, account), members in _join_keyless(groups).items():
        versions: dict[tuple[Any, ...], Version] = {}
        for obs in members:
            state = _state(obs.record)
            key = tuple(state.items())
            version = versions.get(key)
            if version is None:
                stamps = [t[2] for t in state.values() if t[2] is not None]
                version = versions[key] = Version(state, [], max(stamps, default=None))
            version.sightings.append(obs.sighting)
            own = times.get(obs.sighting.source)
            if own is not None and (version.source_time is None or own > version.source_time):
                version.source_time = own
        ordered = sorted(
            versions.values(),
            key=lambda v: (
                v.latest or _NEVER,
                v.source_time or _NEVER,
                -len(v.state),
                min(s.source for s in v.sightings),
            ),
        )
        for prev, cur in zip(ordered, ordered[1:], strict=False):
            _diff(prev, cur, (listings or {}).get(account))
        store_key = None if identity.startswith("source:") else identity
        out.append(Lineage(store_key, manager, account, ordered))
    out.sort(
        key=lambda lin: (
            lin.account,
            lin.store_key or "",
            lin.manager or "",
            min(s.source for v in lin.versions for s in v.sightings),
        )
    )
    return out
