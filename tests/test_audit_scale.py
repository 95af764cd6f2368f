"""Issue 12: the audit's store reading at scale (progress, released mapping pages)."""

from __future__ import annotations

import pytest

from uidl_inspector.audit import inventory as inv_mod
from uidl_inspector.audit import take_inventory
from uidl_inspector.store import ndb
from uidl_inspector.store.pst import open_pst
from uidl_inspector.synth.scenarios import scenario
from uidl_inspector.synth.truth import write_evidence


@pytest.fixture(scope="module")
def large_store(tmp_path_factory):
    out = tmp_path_factory.mktemp("large")
    sc = scenario("large", messages=1200, clock_offset=60)
    return write_evidence(out, sc, variant="ansi", encoding="cyclic")


def test_progress_counts_up_to_the_folders_total(large_store, monkeypatch):
    monkeypatch.setattr(inv_mod, "PROGRESS_EVERY", 100)
    seen: list[tuple[int, int | None]] = []
    with open_pst(large_store.store) as pst:
        quiet = take_inventory(pst, "x")
    with open_pst(large_store.store) as pst:
        told = take_inventory(pst, "x", lambda count, total: seen.append((count, total)))
    assert told == quiet  # progress changes nothing in the result
    counts = [c for c, _ in seen]
    assert counts == sorted(counts) and counts[0] == 100
    assert seen[-1] == (len(told.messages), len(large_store.document["messages"]))
    assert {t for _, t in seen} == {len(large_store.document["messages"])}


def test_releasing_mapped_pages_reads_the_same(large_store, monkeypatch):
    with open_pst(large_store.store) as pst:
        kept = take_inventory(pst, "x")
    released = []
    real = ndb.NdbFile._read

    def counting(self, start, size):
        before = self._touched
        data = real(self, start, size)
        if self._touched < before + size:
            released.append(start)
        return data

    monkeypatch.setattr(ndb, "RELEASE_EVERY", 4096)
    monkeypatch.setattr(ndb.NdbFile, "_read", counting)
    with open_pst(large_store.store) as pst:
        again = take_inventory(pst, "x")
    assert released, "the mapping was never released"
    assert again == kept
    assert [m.internet_message_id for m in kept.messages] == [
        m["internet_message_id"] for m in large_store.document["messages"]
    ]


def test_contents_tables_give_what_the_message_pcs_give(large_store, monkeypatch):
    """With a history in the store, the audit reads its messages from the contents tables
    and opens no message's PC; every field it then uses equals the PC's."""
    from uidl_inspector.store import messaging

    with open_pst(large_store.store) as pst:
        full = take_inventory(pst, "x")  # headers wanted: every message's PC is read
    opened = []
    real = messaging.props_of

    def counting(node, four_k, findings):
        opened.append(node.nid)
        return real(node, four_k, findings)

    monkeypatch.setattr(messaging, "props_of", counting)
    with open_pst(large_store.store) as pst:
        lean = take_inventory(pst, "x", headers=False)
    keyed = [m for m in full.messages if m.internet_message_id]
    assert len(keyed) == len(full.messages) > 1000
    assert not {m.nid for m in keyed} & set(opened)  # no normal message's PC was opened
    assert lean.findings == full.findings and lean.managers == full.managers
    fields = ("source", "folder", "nid", "internet_message_id", "delivery_time")
    fields += ("submit_time", "subject")
    assert [[getattr(m, f) for f in fields] for m in lean.messages] == [
        [getattr(m, f) for f in fields] for m in full.messages
    ]
    assert all(m.headers_sha256 for m in full.messages)  # the full read has them
    assert not any(m.headers_sha256 or m.pop3_received for m in lean.messages)


def test_a_message_without_message_id_is_still_keyed_by_its_headers(tmp_path):
    """From the contents table alone a message without Message-ID would have no duplicate
    key: its PC is opened for its transport headers (and sender)."""
    from datetime import datetime, timezone

    from uidl_inspector.schemas.mapi import PropId
    from uidl_inspector.schemas.mapi import PropType as T
    from uidl_inspector.synth.pst_writer import MessageSpec, Prop, StoreSpec, write_pst

    spec = StoreSpec()
    inbox = next(f for f in spec.folders if f.name == "Inbox")
    when = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
    for mid in ("<a@example.org>", None):
        props = {
            PropId.MESSAGE_CLASS: Prop(T.UNICODE, "IPM.Note"),
            PropId.SUBJECT: Prop(T.UNICODE, "Hello"),
            PropId.MESSAGE_DELIVERY_TIME: Prop(T.TIME, when),
            PropId.SENDER_EMAIL_ADDRESS: Prop(T.UNICODE, "bob@example.org"),
            PropId.TRANSPORT_MESSAGE_HEADERS: Prop(
                T.UNICODE, "Received: from a by b with POP3\r\nSubject: Hello\r\n"
            ),
        }
        if mid:
            props[PropId.INTERNET_MESSAGE_ID] = Prop(T.UNICODE, mid)
        inbox.messages.append(MessageSpec(props))
    path = tmp_path / "s.pst"
    write_pst(spec, path)
    with open_pst(str(path)) as pst:
        full = take_inventory(pst, "s")
    with open_pst(str(path)) as pst:
        lean = take_inventory(pst, "s", headers=False)
    (keyed_full, bare_full), (keyed, bare) = full.messages, lean.messages
    assert bare.internet_message_id is None and bare == bare_full
    assert bare.headers_sha256 and bare.sender == "bob@example.org" and bare.pop3_received
    assert keyed.internet_message_id == keyed_full.internet_message_id == "<a@example.org>"
    assert keyed.headers_sha256 is None and keyed_full.headers_sha256
