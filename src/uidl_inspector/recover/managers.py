"""Deleted Message Managers: ``IPM.MessageManager`` property contexts in surviving free blocks.

A deleted or rewritten manager's heap blocks keep its subject (profile name and KEY) and,
in its attachments' heaps, the ``BlobPOP<smtp>`` names: who the history belonged to. A
surviving block is read as a one-block node by the same LTP reader as live ones; how its
subnode list and attachments are found is in docs/recovery.md (``deleted_manager``).
Values kept in subnodes of their own (large ones) are gone with the node and not read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from uidl_inspector.findings import Finding
from uidl_inspector.history import PopHistory
from uidl_inspector.locate import MANAGER_CLASS, attachment_rule, is_manager_class, message_rules
from uidl_inspector.recover.items import Place, RecoveredItem
from uidl_inspector.schemas import ndb as s
from uidl_inspector.schemas.ltp import CLIENT_SIG_PC
from uidl_inspector.schemas.mapi import PropId
from uidl_inspector.store.ltp import LtpError, PropertyContext, heap_header
from uidl_inspector.store.ndb_blocks import sl_entries

if TYPE_CHECKING:  # instore imports this module to run it
    from uidl_inspector.recover.instore import Block

__all__ = ["deleted_managers", "Surviving"]

Surviving = tuple["Block", bytes, Place]  # (a found block, its decoded data, where it lies)


class _BlockNode:
    """One surviving block seen as a node by the LTP readers; its subnodes did not survive."""

    nid = 0

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.findings: list[Finding] = []

    def blocks(self) -> list[bytes]:
        return [self._data]

    def block_offset(self, index: int) -> int | None:
        return None

    def subnode(self, nid: int, findings: list[Finding] | None = None) -> None:
        return None


def _props(data: bytes) -> Mapping[int, Any] | None:
    """The properties of a block holding a whole property context, else None."""
    header = heap_header(data)
    if header is None or header.bClientSig != CLIENT_SIG_PC:
        return None
    try:
        return PropertyContext(_BlockNode(data)).props
    except (LtpError, ValueError, IndexError):
        return None


def _subnode_lists(fmt: s.NdbFormat, surviving: Sequence[Surviving]) -> list[tuple[int, Any]]:
    """(offset, SLBLOCK entries) of surviving subnode blocks that list an attachment table."""
    out = []
    for block, data, _ in surviving:
        entries = sl_entries(fmt, data) if s.bid_is_internal(block.bid) else None
        if entries and any(s.nid_of(e.nid) == s.NID_ATTACHMENT_TABLE for e in entries):
            out.append((block.start, entries))
    return out


def deleted_managers(
    fmt: s.NdbFormat,
    surviving: Sequence[Surviving],
    source: str,
    live_subjects: set[str],
    stale: dict[int, tuple[int, int]],
    live_block: Callable[[int], bytes | None],
) -> list[RecoveredItem]:
    """A ``deleted_manager`` item per surviving Message Manager property context.

    ``live_subjects``: subjects of the store's live managers; a surviving one with the same
    subject is an earlier state of a live manager (relation ``earlier_version``).
    ``stale``: bidData -> (nid, bidSub) of node entries left in free B-tree pages: they
    name the node and its subnode list exactly (else the nearest surviving list is taken).
    ``live_block``: reads a block the BBT still references (a subnode list or attachment
    the earlier version shares with the live one).
    """
    by_bid = {s.bid_key(block.bid): data for block, data, _ in surviving}

    def block(bid: int) -> bytes | None:
        found = by_bid.get(s.bid_key(bid))
        return found if found is not None else live_block(bid)

    lists = _subnode_lists(fmt, surviving)
    items = []
    for found, data, place in surviving:
        if s.bid_is_internal(found.bid):
            continue
        props = _props(data)
        if props is None or not is_manager_class(props.get(PropId.MESSAGE_CLASS)):
            continue
        rules, profile = message_rules(props)
        subject = props.get(PropId.SUBJECT)
        nid, bid_sub = stale.get(s.bid_key(found.bid), (None, 0))
        listed = block(bid_sub) if bid_sub else None
        entries = sl_entries(fmt, listed) if listed is not None else None
        linked = "stale_node_entry" if entries is not None else None
        if entries is None and lists:
            entries = min(lists, key=lambda sl: abs(sl[0] - found.start))[1]
            linked = "nearest_subnode_list"
        names: list[str] = []
        account = None
        for entry in entries or ():
            if s.nid_type(entry.nid) != s.NID_TYPE_ATTACHMENT:
                continue
            raw = block(entry.bidData)
            attachment = _props(raw) if raw is not None else None
            if attachment is None:
                continue
            rule, name, named = attachment_rule(attachment)
            if name:
                names.append(name)
            if rule and account is None:
                account = named
        item = RecoveredItem(
            source,
            "deleted_manager",
            b"",
            PopHistory(None, None, (), ()),
            [place],
            account,
            "attachment_name" if account else None,
            relation="earlier_version" if subject in live_subjects else "unrelated",
        )
        item.extra = {
            "message_class": MANAGER_CLASS,
            "subject": subject,
            "rules": list(rules),
            "profile": profile.to_dict(),
            "nid": nid,
            "attachments": names,
            "attachments_from": linked,
        }
        items.append(item)
    return items
