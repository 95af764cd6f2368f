"""Cause findings: which known reason for duplicate (or missing) downloads the traces fit.

Each rule reads only the evidence (histories, store messages, Message Managers, duplicate
groups, the inferred clock and the entry-to-message links) and returns findings with a
stable ``code``, a plain-language ``explanation`` and the ``evidence`` that supports it.
The traces each code looks for are listed in docs/audit.md.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from itertools import combinations
from typing import Any

from uidl_inspector.audit.alternatives import alternatives_of
from uidl_inspector.audit.classify import AccountClassification
from uidl_inspector.audit.clock import ClockInference, Link, format_offset
from uidl_inspector.audit.duplicates import DuplicateGroup
from uidl_inspector.audit.entries import GET_OPERATIONS, EntryRef, iso
from uidl_inspector.audit.inventory import Inventory, StoreMessage
from uidl_inspector.audit.lineage import Lineage
from uidl_inspector.findings import above_info, severity_of
from uidl_inspector.records import HistoryRecord

__all__ = ["AuditFinding", "AuditContext", "derive_findings", "CODES", "uid_shape"]

EVIDENCE_LIMIT = 50
SESSION_GAP = timedelta(seconds=60)  # gets closer than this belong to one send/receive
UNKNOWN_ZONE_MARGIN = timedelta(hours=15)  # any UTC offset is within -14:00..+14:00
KNOWN_ZONE_MARGIN = timedelta(minutes=1)
FAR = timedelta(days=1)
_ALNUM = re.compile(r"[0-9A-Za-z]+")
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")
_HEX_ONLY = re.compile(r"[0-9A-Fa-f]+")


@dataclass(frozen=True)
class AuditFinding:
    code: str
    explanation: str
    evidence: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": severity_of(self.code),
            "explanation": self.explanation,
            "alternatives": alternatives_of(self.code),
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class AuditContext:
    histories: Sequence[HistoryRecord]
    entries: Sequence[EntryRef]
    inventories: Sequence[Inventory]
    duplicates: Sequence[DuplicateGroup]
    clock: ClockInference
    links: Sequence[Link]
    accounts: Sequence[AccountClassification]
    recovered: Sequence[Any] = ()  # recover.RecoveredItem: earlier states from free space
    lineages: Sequence[Lineage] = ()

    @cached_property
    def by_history(self) -> dict[int, list[EntryRef]]:
        """Each history's entries, built once for every rule that asks."""
        out: dict[int, list[EntryRef]] = {i: [] for i in range(len(self.histories))}
        for ref in self.entries:
            out[ref.history].append(ref)
        return out

    @cached_property
    def uids(self) -> dict[int, set[str]]:
        return {i: {r.uid for r in refs if r.uid} for i, refs in self.by_history.items()}


def _capped(name: str, refs: Sequence[Any]) -> dict[str, Any]:
    """At most EVIDENCE_LIMIT references, and how many there were."""
    return {name: list(refs[:EVIDENCE_LIMIT]), f"{name}_total": len(refs)}


def _history_ref(ctx: AuditContext, index: int) -> dict[str, Any]:
    record = ctx.histories[index]
    loc = record.location
    return {
        "history": index,
        "source": record.source,
        "account": record.account.label,
        "folder": loc.folder,
        "message_nid": loc.message_nid,
        "subject": loc.subject,
        "attachment_name": loc.attachment_name,
        "match_rule": loc.match_rule,
        "profile": record.profile.name,
        "search_key": record.profile.search_key,
        "blob_sha256": None if record.blob is None else hashlib.sha256(record.blob).hexdigest(),
    }


def _mailboxes(ctx: AuditContext) -> list[list[int]]:
    """Histories of one mailbox: same account label, or most UIDs of the smaller in common."""
    uids = ctx.uids
    parent = list(range(len(ctx.histories)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in combinations(range(len(ctx.histories)), 2):
        same_label = ctx.histories[i].account.label == ctx.histories[j].account.label
        shared = len(uids[i] & uids[j])
        smaller = min(len(uids[i]), len(uids[j]))
        if same_label or (shared >= 3 and shared * 2 >= smaller):
            parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(ctx.histories)):
        groups.setdefault(root(i), []).append(i)
    return sorted(groups.values())


def _scope(ctx: AuditContext, indexes: Sequence[int]) -> list[StoreMessage]:
    """The store messages a mailbox's histories should cover: those of the Message
    Manager's folder (where POP3 mail is delivered), else all of the same source."""
    sources = {ctx.histories[i].source for i in indexes}
    folders = {ctx.histories[i].location.folder for i in indexes}
    messages = [m for inv in ctx.inventories for m in inv.messages if m.source in sources]
    in_folder = [m for m in messages if m.folder in folders]
    return in_folder or messages


def _first_session(gets: Sequence[tuple[datetime, EntryRef]]) -> list[tuple[datetime, EntryRef]]:
    """The earliest send/receive: dated gets no more than SESSION_GAP apart."""
    ordered = sorted(gets, key=lambda tr: (tr[0], tr[1].history, tr[1].index))
    session = ordered[:1]
    for prev, cur in zip(ordered, ordered[1:], strict=False):
        if cur[0] - prev[0] > SESSION_GAP:
            break
        session.append(cur)
    return session


def _lineage_resets(ctx: AuditContext, indexes: Sequence[int]) -> list[dict[str, Any]]:
    """The resets the lineages of these histories show: a version that kept none of the
    tags of the version before it (direct evidence that the chain broke)."""
    wanted = set(indexes)
    return [
        {
            "lineage": n,
            "version": v,
            "before": [s.to_dict() for s in lineage.versions[v - 1].sightings],
            "after": [s.to_dict() for s in lineage.versions[v].sightings],
            "removed": len(lineage.versions[v].removed),
            "added": len(lineage.versions[v].added),
        }
        for n, lineage in enumerate(ctx.lineages)
        if wanted & set(lineage.histories)
        for v in lineage.resets
    ]


def history_reset(ctx: AuditContext) -> list[AuditFinding]:
    """The mailbox's history begins after mail it should already cover and that mail was
    downloaded again, or a lineage shows a version that kept none of the tags before it.
    Older mail without a tag and without a second download is what Outlook's pruning leaves
    too: that alone is ``older_mail_untagged`` (info), not a reset."""
    out = []
    known = ctx.clock.inferred_minutes is not None  # the store's evidence fixed it
    margin = KNOWN_ZONE_MARGIN if known else UNKNOWN_ZONE_MARGIN
    linked = {id(link.message) for link in ctx.links}
    for indexes in _mailboxes(ctx):
        refs = [r for i in indexes for r in ctx.by_history[i]]
        gets = [
            (r.timestamp, r)
            for r in refs
            if r.operation in GET_OPERATIONS and r.timestamp is not None
        ]
        if not gets:
            continue
        start_local = min(t for t, _ in gets)
        start = start_local - timedelta(minutes=ctx.clock.offset_minutes)  # UTC
        scope = _scope(ctx, indexes)
        scope_ids = {id(m) for m in scope}
        refetched = []
        for group in ctx.duplicates:
            copies = [
                (c.delivery_time.replace(tzinfo=None), c)
                for c in group.copies
                if id(c) in scope_ids and c.delivery_time
            ]
            before = [
                c for t, c in copies if t < start - margin and (not known or id(c) not in linked)
            ]
            after = [c for t, c in copies if t >= start - margin and (not known or id(c) in linked)]
            if before and after:
                refetched.append(group)
        older = [
            m
            for m in scope
            if m.delivery_time is not None
            and id(m) not in linked
            and m.delivery_time.replace(tzinfo=None) < start - margin - FAR
        ]
        # A delete-only tag stands for a download whose own tag time is gone.
        deletes = sum(1 for r in refs if r.operation == "delete")
        unexplained = len(older) - deletes
        resets = _lineage_resets(ctx, indexes)
        if not refetched and not resets and unexplained < 1:
            continue
        session = _first_session(gets)
        label = ctx.histories[indexes[0]].account.label
        why = []
        if refetched:
            why.append(
                f"{len(refetched)} message(s) already in the store before the history's "
                "first download were downloaded again after it"
            )
        if resets:
            why.append(
                f"{len(resets)} version(s) of its lineage kept none of the tags of the "
                "version before"
            )
        if unexplained >= 1:
            why.append(
                f"{len(older)} message(s) in the store are more than a day older than "
                "the history's first download"
            )
        evidence = {
            "histories": [_history_ref(ctx, i) for i in indexes],
            "history_start": start_local.isoformat(),
            "history_start_utc": start.isoformat() + "Z" if known else None,
            "first_session": {
                "gets": len(session),
                "from": iso(session[0][0]),
                "to": iso(session[-1][0]),
                "entries": [r.ref() for _, r in session[:EVIDENCE_LIMIT]],
            },
            **_capped("redownloaded", [g.to_dict() for g in refetched]),
            **_capped("older_messages", [m.ref() for m in older]),
            "delete_entries": deletes,
            "lineage_resets": resets,
        }
        proof = _earlier_versions(ctx, label, start_local)
        if proof:
            evidence["recovered_versions"] = proof
        if not refetched and not resets:
            explanation = (
                f"The download history of {label} begins at {start_local.isoformat()} (BLOB "
                f"clock), and {len(older)} message(s) in the store are more than a day older, "
                "with no tag and no second download. Outlook drops the tags of messages that "
                "left the server, so this is what a pruned history looks like; a reset while "
                "the server no longer held them would look the same (and caused no duplicate)."
            )
            out.append(AuditFinding("older_mail_untagged", explanation, evidence))
            continue
        explanation = (
            f"The download history of {label} begins at {start_local.isoformat()} (BLOB "
            f"clock), later than mail it should cover: {'; '.join(why)}. This is the trace "
            "of a history that was lost, reset or recreated; Outlook then treats every message "
            "still on the server as new and downloads it again. The first send/receive of the "
            f"history fetched {len(session)} message(s) within "
            f"{(session[-1][0] - session[0][0]).total_seconds():.0f} s."
        )
        if proof:
            explanation += (
                f" {len(proof)} earlier version(s) of the history recovered from "
                "the store's free space hold downloads the live history has lost."
            )
        out.append(AuditFinding("history_reset", explanation, evidence))
    return out


def _earlier_versions(ctx: AuditContext, label: str, start: datetime) -> list[dict[str, Any]]:
    """Recovered histories of this account that prove an earlier history: they hold tags
    the live ones lost, dated before the live history begins."""
    return [
        {
            "source": item.source,
            "kind": item.kind,
            "offset": item.places[0].offset,
            "latest": iso(item.latest),
            "entries": len(item.history.entries),
            "lost_before_start": lost,
        }
        for item in ctx.recovered
        if item.account is not None and item.account.label == label
        if (lost := sum(1 for e in item.lost if e.timestamp is not None and e.timestamp < start))
    ][:EVIDENCE_LIMIT]


def _manager_key(record: HistoryRecord) -> tuple[str, Any]:
    loc = record.location
    return (record.source, loc.message_nid if loc.message_nid is not None else loc.subject)


def multiple_managers(ctx: AuditContext) -> list[AuditFinding]:
    """Several Message Managers (or several profile keys, or several BLOBs of one mailbox)
    in one store: the profile or the account was recreated or upgraded."""
    out = []
    uids = ctx.uids
    for source in sorted({h.source for h in ctx.histories}):
        indexes = [i for i, h in enumerate(ctx.histories) if h.source == source]
        managers = {_manager_key(ctx.histories[i]) for i in indexes}
        profiles = {
            (ctx.histories[i].profile.name, ctx.histories[i].profile.search_key) for i in indexes
        } - {(None, None)}
        hidden = [m for inv in ctx.inventories for m in inv.managers if m.source == source]
        overlaps = [
            {"histories": [i, j], "shared_uids": len(shared), "examples": sorted(shared)[:10]}
            for i, j in combinations(indexes, 2)
            if (shared := uids[i] & uids[j])
        ]
        same_manager_overlap = any(
            _manager_key(ctx.histories[i]) == _manager_key(ctx.histories[j])
            for i, j in combinations(indexes, 2)
            if uids[i] & uids[j]
        )
        count = max(len(managers), len({m.nid for m in hidden}))
        if count < 2 and len(profiles) < 2 and not same_manager_overlap:
            continue
        spans = []
        for i in indexes:
            times = [r.timestamp for r in ctx.by_history[i] if r.timestamp is not None]
            first, last = (min(times), max(times)) if times else (None, None)
            profile = ctx.histories[i].profile.name
            spans.append({"history": i, "first": iso(first), "last": iso(last), "profile": profile})
        spans.sort(key=lambda s: (s["first"] or "", s["history"]))
        explanation = (
            f"{source} holds {count} Message Manager(s) with {len(profiles)} distinct "
            f"profile key(s) and {len(indexes)} history BLOB(s)"
            + (f"; {len(overlaps)} pair(s) of histories share UIDs" if overlaps else "")
            + ". Outlook keeps one history per profile (and per account); several mean the "
            "profile or the account was recreated, copied or upgraded (for example Outlook "
            '2010\'s "General Key"), and a new, empty history makes Outlook download '
            "again every message still on the server."
        )
        evidence = {
            "histories": [_history_ref(ctx, i) for i in indexes],
            "hidden": [m.ref() for m in hidden],
            "profiles": sorted(
                [{"name": n, "search_key": k} for n, k in profiles],
                key=lambda p: (p["name"] or "", p["search_key"] or ""),
            ),
            "spans": spans,
            "overlaps": overlaps,
        }
        out.append(AuditFinding("multiple_managers", explanation, evidence))
    return out


def same_uid_in_two_histories(ctx: AuditContext) -> list[AuditFinding]:
    """The same server UID recorded by two lineages (two stores, profiles or clients) that
    were active at the same time. Versions of one lineage (backups, exports, snapshots of
    one store) are one history and never count."""
    out = []
    for i, j in combinations(range(len(ctx.lineages)), 2):
        a, b = ctx.lineages[i], ctx.lineages[j]
        shared = sorted(a.uids & b.uids)
        if not shared:
            continue
        span_a, span_b = a.span, b.span
        if not (span_a and span_b and max(span_a[0], span_b[0]) < min(span_a[1], span_b[1])):
            continue
        histories = [lin.histories[-1] for lin in (a, b) if lin.histories]
        explanation = (
            f"{len(shared)} UID(s) appear in two histories of different stores, profiles or "
            f"accounts that were in use at the same time ({a.account} and {b.account}). One "
            "server mailbox was being downloaded by two accounts, profiles or clients; each "
            "keeps its own history, so each fetches every message once more."
        )
        evidence = {
            "histories": [_history_ref(ctx, h) for h in histories],
            "lineages": [i, j],
            "spans": [[iso(s[0]), iso(s[1])] for s in (span_a, span_b)],
            "concurrent": True,
            **_capped("shared_uids", shared),
        }
        out.append(AuditFinding("same_uid_in_two_histories", explanation, evidence))
    return out


def uid_shape(uid: str) -> tuple[str, str, int | None]:
    """(character class, punctuation skeleton, length for fixed-width forms)."""
    skeleton = _ALNUM.sub("", uid)
    core = _NOT_ALNUM.sub("", uid)
    if core.isdigit():
        return ("digits", skeleton, None)
    if _HEX_ONLY.fullmatch(core):
        return ("hex", skeleton, len(uid))
    return ("text", skeleton, len(uid))


def _shapes(uids: Sequence[str]) -> dict[str, tuple[str, str, int | None]]:
    """Shapes per UID; an all-digit UID that fits a hex form seen in the same account is
    counted as that form (random hex is sometimes all digits)."""
    shapes = {u: uid_shape(u) for u in uids}
    hex_forms = {(s[1], s[2]) for s in shapes.values() if s[0] == "hex"}
    for uid, shape in shapes.items():
        if shape[0] == "digits" and (shape[1], len(uid)) in hex_forms:
            shapes[uid] = ("hex", shape[1], len(uid))
    return shapes


def uid_scheme_change(ctx: AuditContext) -> list[AuditFinding]:
    """The server changed how it names messages: two UID forms with one switch date, or
    mail downloaded again under a different UID (at least two, and at least half of the
    account's duplicate groups, each pair of links with a confidence above 0.5)."""
    out = []
    link_of = {id(link.message): link for link in ctx.links}
    for label in sorted({h.account.label for h in ctx.histories}):
        dated = sorted(
            (
                (r.timestamp, r.uid, r)
                for r in ctx.entries
                if r.account == label and r.uid and r.timestamp is not None
            ),
            key=lambda tur: (tur[0], tur[2].history, tur[2].index),
        )
        refs = [r for _, _, r in dated]
        shapes = _shapes([u for _, u, _ in dated])
        seq = [shapes[u] for _, u, _ in dated]
        switch = None
        changes = [k for k in range(1, len(seq)) if seq[k] != seq[k - 1]]
        if len(changes) == 1 and changes[0] >= 2 and len(seq) - changes[0] >= 2:
            switch = changes[0]
        regrouped = []
        groups = 0
        for group in ctx.duplicates:
            linked = [
                lk for c in group.copies if (lk := link_of.get(id(c))) and lk.entry.account == label
            ]
            if not linked:
                continue
            groups += 1
            sure = [lk for lk in linked if lk.confidence > 0.5]
            if len({lk.entry.uid for lk in sure}) >= 2:
                regrouped.append({**group.to_dict(), "entries": [lk.entry.ref() for lk in sure]})
        # A renaming server makes most re-downloaded mail carry a second UID; a copy that
        # merely fell within seconds of an unrelated download must not count as one.
        if len(regrouped) < 2 or len(regrouped) * 2 < groups:
            regrouped = []
        if switch is None and not regrouped:
            continue
        parts = []
        if switch is not None:
            parts.append(
                f"its UIDs change form once, at {dated[switch][0].isoformat()} "
                f"(BLOB clock), from {_describe(seq[0])} to {_describe(seq[-1])}"
            )
        if regrouped:
            parts.append(
                f"{len(regrouped)} message(s) with one Message-ID were downloaded "
                "under different UIDs"
            )
        explanation = (
            f"For {label}, {' and '.join(parts)}. The server renamed its messages (a mailbox "
            "migration or a change such as Dovecot's pop3_uidl_format): every old message "
            "looked new to Outlook and was downloaded again."
        )
        evidence: dict[str, Any] = {"account": label, **_capped("duplicates", regrouped)}
        if switch is not None:
            evidence["switch"] = {
                "at": dated[switch][0].isoformat(),
                "before": {
                    "shape": _describe(seq[0]),
                    "count": switch,
                    "last": refs[switch - 1].ref(),
                },
                "after": {
                    "shape": _describe(seq[-1]),
                    "count": len(seq) - switch,
                    "first": refs[switch].ref(),
                },
            }
        out.append(AuditFinding("uid_scheme_change", explanation, evidence))
    return out


def _describe(shape: tuple[str, str, int | None]) -> str:
    kind, skeleton, length = shape
    text = {"digits": "decimal", "hex": "hexadecimal", "text": "alphanumeric"}[kind]
    if length is not None:
        text += f", {length} characters"
    if skeleton:
        text += f", separators {skeleton!r}"
    return text


def get_without_delete(ctx: AuditContext) -> list[AuditFinding]:
    """Downloads kept on the server by an account that otherwise deletes on download
    (``&``): the RETR and DELE of an interrupted session were split."""
    out = []
    for index, refs in ctx.by_history.items():
        and_times = [
            r.timestamp for r in refs if r.operation == "get-and-delete" and r.timestamp is not None
        ]
        if not and_times:
            continue
        latest = max(and_times)
        kept = [
            r
            for r in refs
            if r.operation == "get" and r.timestamp is not None and r.timestamp < latest
        ]
        if not kept:
            continue
        record = ctx.histories[index]
        # the UIDs the server still lists among them (one classification per account)
        on_server = {
            u for a in ctx.accounts if a.account == record.account.label for u in a.downloaded
        }
        still = [r.uid for r in kept if r.uid in on_server]
        explanation = (
            f"{record.account.label} deletes messages from the server as it downloads them "
            f"({len(and_times)} get-and-delete entries), yet {len(kept)} earlier download(s) "
            "were recorded as get only: the session was interrupted between RETR and DELE, "
            "or the leave-on-server setting changed. Messages left on the server this way are "
            "downloaded again if the history loses them."
        )
        evidence = {
            "histories": [_history_ref(ctx, index)],
            "get_and_delete_entries": len(and_times),
            **_capped("entries", [r.ref() for r in kept]),
            "still_on_server": still[:EVIDENCE_LIMIT],
        }
        out.append(AuditFinding("get_without_delete", explanation, evidence))
    return out


def blob_anomaly(ctx: AuditContext) -> list[AuditFinding]:
    """The BLOB itself is damaged or was written against the rules."""
    out = []
    for index, record in enumerate(ctx.histories):
        anomalies = above_info(record.history.anomalies)  # info is normal Outlook output
        if not anomalies:
            continue
        codes = sorted({a.code for a in anomalies})
        explanation = (
            f"The history BLOB of {record.account.label} has {len(anomalies)} anomaly(ies) "
            f"({', '.join(codes)}). A damaged history can lose entries; every UID missing from "
            "it is downloaded again at the next send/receive."
        )
        evidence = {
            "histories": [_history_ref(ctx, index)],
            "declared_count": record.history.declared_count,
            "parsed_count": len(record.history.entries),
            **_capped("anomalies", [a.to_dict() for a in anomalies]),
        }
        out.append(AuditFinding("blob_anomaly", explanation, evidence))
    return out


def history_missing(ctx: AuditContext) -> list[AuditFinding]:
    """A store holds Internet mail and there is reason to think it came by POP3, but no
    download history was found in it. Internet mail alone is no such reason (IMAP and
    Exchange stores hold it too): it takes a Message Manager in the store, a server UIDL
    listing given for an account without history, or Received headers that name POP3."""
    out = []
    with_history = {h.source for h in ctx.histories if h.blob is not None}
    unmatched_listing = [
        a.listing.path for a in ctx.accounts if a.listing is not None and not a.histories
    ]
    for inventory in ctx.inventories:
        sources = sorted(
            {m.source for m in inventory.messages} | {m.source for m in inventory.managers}
        )
        for source in sources:
            if source in with_history:
                continue
            mail = [m for m in inventory.messages if m.source == source and m.headers_sha256]
            if not mail:
                continue
            hidden = [m for m in inventory.managers if m.source == source]
            pop3 = [m for m in mail if m.pop3_received]
            reasons = []
            if hidden:
                reasons.append(f"{len(hidden)} Message Manager(s) exist in it")
            if unmatched_listing:
                reasons.append("a server UIDL listing was given and no history matches it")
            if pop3:
                reasons.append(f"{len(pop3)} message(s) have Received headers naming POP3")
            if not reasons:
                continue
            explanation = (
                f"{source} holds {len(mail)} message(s) received from the Internet but no POP3 "
                f"download history, although {'; '.join(reasons)}. The history was deleted, "
                "or the store was replaced or restored (delivery moved to a new store); the "
                "next send/receive would download everything still on the server."
            )
            evidence = {
                "source": source,
                "hidden": [m.ref() for m in hidden],
                "listings": unmatched_listing,
                "pop3_received": [m.ref() for m in pop3[:EVIDENCE_LIMIT]],
                **_capped("messages", [m.ref() for m in mail]),
            }
            out.append(AuditFinding("history_missing", explanation, evidence))
    return out


def clock_mismatch(ctx: AuditContext) -> list[AuditFinding]:
    """The store's delivery times fit the history's times read at an offset other than
    UTC, which Outlook writes: another writer, a tool, an edit, or a clock set wrong."""
    clock = ctx.clock
    if clock.status != "mismatch":
        return []
    offset = format_offset(clock.offset_minutes)
    explanation = (
        f"Outlook writes its POP3 history times in UTC, but {clock.support} of "
        f"{clock.considered} download entries fit message delivery times only when read as "
        f"UTC{offset}. The history was written on a clock set to that offset (a client or "
        "tool other than Outlook, or a machine whose clock was wrong) or its times were "
        f"edited. Links and the timeline read it as UTC{offset}."
    )
    evidence = {
        "offset_minutes": clock.offset_minutes,
        "offset": offset,
        "support": clock.support,
        "considered": clock.considered,
        "candidates": [{"offset_minutes": o, "support": s} for o, s in clock.candidates],
        **_capped("links", [link.to_dict() for link in ctx.links]),
    }
    return [AuditFinding("clock_mismatch", explanation, evidence)]


RULES: tuple[Callable[[AuditContext], list[AuditFinding]], ...] = (
    history_reset,
    multiple_managers,
    same_uid_in_two_histories,
    uid_scheme_change,
    get_without_delete,
    blob_anomaly,
    history_missing,
    clock_mismatch,
)
# Each rule is named for the code it raises; history_reset raises older_mail_untagged too.
CODES = (*(rule.__name__ for rule in RULES), "older_mail_untagged")


def derive_findings(ctx: AuditContext) -> list[AuditFinding]:
    """Every rule's findings, in the fixed order of CODES."""
    return [finding for rule in RULES for finding in rule(ctx)]
