"""The audit: what happened to a POP3 mailbox, from its history, its store and its server.

:func:`run_audit` returns the report's ``audit`` section (docs/report-schema.md) as an
:class:`AuditResult`: per-account classification against the server's UIDL listing,
duplicate messages, the BLOB's clock (UTC, checked against the store), links from history
entries to the messages they produced, and cause findings.
Everything is ordered deterministically, so identical input gives identical output.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

from uidl_inspector.audit.causes import AuditContext, AuditFinding, derive_findings
from uidl_inspector.audit.classify import AccountClassification, classify_account
from uidl_inspector.audit.clock import ClockInference, Link, clock_and_links
from uidl_inspector.audit.duplicates import DuplicateGroup, find_duplicates
from uidl_inspector.audit.entries import GET_OPERATIONS, EntryRef, entry_refs, iso
from uidl_inspector.audit.inventory import Inventory, take_inventory
from uidl_inspector.audit.lineage import (
    Lineage,
    Observation,
    build_lineages,
    observations,
    recovered_observations,
)
from uidl_inspector.audit.server_listing import (
    ServerListing,
    parse_server_listing,
    read_server_listing,
)
from uidl_inspector.findings import Finding
from uidl_inspector.records import HistoryRecord

__all__ = [
    "run_audit",
    "AuditResult",
    "AuditSummary",
    "take_inventory",
    "Inventory",
    "ServerListing",
    "parse_server_listing",
    "read_server_listing",
]

NO_HISTORY = "(no history)"


@dataclass(frozen=True, slots=True)
class AuditSummary:
    """The counts of an audit (the section's ``summary``), in the report's key order."""

    histories: int
    histories_without_blob: int
    entries: int
    get_entries: int
    messages: int
    messages_without_key: int
    duplicate_groups: int
    duplicate_copies: int
    linked_entries: int
    lineages: int
    findings: tuple[str, ...]  # the finding codes raised, sorted

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "findings": list(self.findings)}


@dataclass(frozen=True, eq=False)
class AuditResult(Mapping[str, Any]):
    """The ``audit`` section: typed results, and :meth:`to_dict` for the documented form.

    It is also a read-only mapping of that form, section by section (each section built
    when it is asked for), so that a renderer reading the report's sections generically
    (HTML, timeline) reads it as it reads any other; :meth:`json_sections` gives the
    sections for a streaming writer, each list an iterator of its items' dicts.
    """

    summary: AuditSummary
    lineages: tuple[Lineage, ...]
    listings: tuple[dict[str, Any], ...]  # the listings and the account each was matched to
    accounts: tuple[AccountClassification, ...]
    duplicates: tuple[DuplicateGroup, ...]
    clock: ClockInference
    links: tuple[Link, ...]
    findings: tuple[AuditFinding, ...]
    inventory_findings: tuple[Finding, ...]
    recovered: tuple[dict[str, Any], ...]  # per account: recovered versions, lost entries

    KEYS: ClassVar[tuple[str, ...]]  # the section keys in report order: the fields

    def json_sections(self) -> Iterator[tuple[str, Any]]:
        """(key, value) in report order: ``summary`` and ``clock`` as dicts, every list
        section as an iterator of its items' dicts."""
        for key in self.KEYS:
            yield key, self._section(key)

    def _section(self, key: str) -> Any:
        value = getattr(self, key)
        if isinstance(value, tuple):
            return (item if isinstance(item, dict) else item.to_dict() for item in value)
        return value.to_dict()

    def to_dict(self) -> dict[str, Any]:
        return {key: self[key] for key in self.KEYS}

    def __getitem__(self, key: str) -> Any:
        if key not in self.KEYS:
            raise KeyError(key)
        section = self._section(key)
        return list(section) if isinstance(section, Iterator) else section

    def __iter__(self) -> Iterator[str]:
        return iter(self.KEYS)

    def __len__(self) -> int:
        return len(self.KEYS)


AuditResult.KEYS = tuple(f.name for f in fields(AuditResult))


def _assign_listings(
    labels: Sequence[str], entries: Sequence[EntryRef], listings: Sequence[ServerListing]
) -> tuple[dict[str, ServerListing], list[dict[str, Any]]]:
    """Which account each listing belongs to: the account named with it; else the account
    whose history shares most UIDs with it (the only account when there is one); else, when
    one listing and one account are left over, each other ("by elimination")."""
    uids: dict[str, set[str]] = {label: set() for label in labels}
    for ref in entries:
        if ref.uid:
            uids[ref.account].add(ref.uid)
    assigned: dict[str, ServerListing] = {}
    how: dict[int, str] = {}
    for n, listing in enumerate(listings):
        if listing.account is None:
            continue
        wanted = listing.account.lower()
        match = next((label for label in labels if label.lower() == wanted), None)
        if match is not None and match not in assigned:
            assigned[match], how[n] = listing, "named"
    for n, listing in enumerate(listings):
        if n in how or listing.account is not None:
            continue
        free = [label for label in labels if label not in assigned]
        listed = set(listing.uids)
        best = max(free, key=lambda label: len(listed & uids[label]), default=None)  # ties: first
        if len(labels) == 1 and free:
            assigned[free[0]], how[n] = listing, "only account"
        elif best is not None and listed & uids[best]:
            assigned[best], how[n] = listing, "shared UIDs"
    left = [n for n in range(len(listings)) if n not in how]
    free = [label for label in labels if label not in assigned]
    if len(left) == 1 and len(free) == 1 and listings[left[0]].account is None:
        assigned[free[0]], how[left[0]] = listings[left[0]], "by elimination"
    if not labels and listings:
        assigned[NO_HISTORY], how[0] = listings[0], "no history"
    owner = {id(listing): label for label, listing in assigned.items()}
    notes = []
    for n, listing in enumerate(listings):
        label = owner.get(id(listing))
        note = None if label else "not matched to any account; not used"
        notes.append(
            {**listing.to_dict(), "account": label, "matched_by": how.get(n), "note": note}
        )
    return assigned, notes


def _recovered(items: Sequence[Any]) -> list[dict[str, Any]]:
    """Per account: the recovered versions and the entries no live history holds."""
    by_account: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(items):
        if item.kind == "deleted_manager" or item.relation == "same_as_live":
            continue
        label = item.account.label if item.account else "unknown"
        row = by_account.setdefault(label, {"account": label, "versions": [], "lost_entries": []})
        row["versions"].append(
            {
                "recovered": index,
                "kind": item.kind,
                "source": item.source,
                "offset": item.places[0].offset,
                "relation": item.relation,
                "latest": iso(item.latest),
                "entries": len(item.history.entries),
            }
        )
        for entry in item.lost:
            row["lost_entries"].append(
                {
                    "recovered": index,
                    "offset": entry.offset,
                    "uid": entry.uid,
                    "operation": entry.operation,
                    "content": entry.content,
                    "timestamp": iso(entry.timestamp),
                }
            )
    return [by_account[k] for k in sorted(by_account)]


def run_audit(
    histories: Sequence[HistoryRecord],
    inventories: Sequence[Inventory] = (),
    listings: Sequence[ServerListing] = (),
    sources: Sequence[Any] = (),
    extra_versions: Sequence[Observation] = (),
    recovered: Sequence[Any] = (),
) -> AuditResult:
    """The ``audit`` section for these histories, store inventories and server listings.

    ``sources`` are the report's sources: a history read from an MSG or a bare BLOB is a
    ``copy`` in its lineage, one from a store in a volume snapshot a ``snapshot``.
    ``extra_versions`` are histories seen elsewhere (recovered from free space:
    ``lineage.recovered_observation``). ``recovered``: the scan's recovered items; their
    lost entries are listed per account and cited by ``history_reset``.
    """
    entries = entry_refs(histories)
    # A Message Manager without history attachment names no account: it is counted in the
    # summary (a configured account), not classified against the server.
    labels = list(dict.fromkeys(h.account.label for h in histories if h.blob is not None))
    assigned, listing_notes = _assign_listings(labels, entries, listings)
    accounts: list[AccountClassification] = [
        classify_account(label, [r for r in entries if r.account == label], assigned.get(label))
        for label in labels
    ]
    if NO_HISTORY in assigned:
        accounts.append(classify_account(NO_HISTORY, [], assigned[NO_HISTORY]))

    messages = [m for inv in inventories for m in inv.messages]
    groups, keyless = find_duplicates(messages)
    clock, links = clock_and_links(entries, messages)
    newest: dict[str, Any] = {}
    for m in messages:
        if m.delivery_time is not None:
            t = m.delivery_time.replace(tzinfo=None)
            newest[m.source] = max(newest.get(m.source, t), t)
    lineages = build_lineages(
        [
            *observations(histories, sources),
            *extra_versions,
            *recovered_observations(recovered, histories),
        ],
        newest,
        {a.account: set(a.listing.uids) for a in accounts if a.listing is not None},
    )
    ctx = AuditContext(
        histories, entries, inventories, groups, clock, links, accounts, recovered, lineages
    )
    findings = derive_findings(ctx)
    gets = sum(1 for r in entries if r.operation in GET_OPERATIONS)
    summary = AuditSummary(
        histories=len(histories),
        histories_without_blob=sum(1 for h in histories if h.blob is None),
        entries=len(entries),
        get_entries=gets,
        messages=len(messages),
        messages_without_key=keyless,
        duplicate_groups=len(groups),
        duplicate_copies=sum(len(g.copies) for g in groups),
        linked_entries=len(links),
        lineages=len(lineages),
        findings=tuple(sorted({f.code for f in findings})),
    )
    return AuditResult(
        summary,
        tuple(lineages),
        tuple(listing_notes),
        tuple(accounts),
        tuple(groups),
        clock,
        tuple(links),
        tuple(findings),
        tuple(f for inv in inventories for f in inv.findings),
        tuple(_recovered(recovered)),
    )
