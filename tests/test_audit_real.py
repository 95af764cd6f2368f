"""The audit on the real Outlook stores: no spurious finding, duplicates libpff agrees with."""

from __future__ import annotations

import re

import pypff

from conftest import REAL_SAMPLES
from uidl_inspector.pipeline import audit_report


def pypff_messages(path):
    """Every normal message of a store, through libpff (the file stays open meanwhile)."""
    handle = pypff.file()
    handle.open(str(path))
    try:
        stack = [handle.root_folder]
        while stack:
            folder = stack.pop()
            for i in range(folder.number_of_sub_messages):
                yield folder.get_sub_message(i)
            stack.extend(folder.get_sub_folder(i) for i in range(folder.number_of_sub_folders))
    finally:
        handle.close()


def pypff_message_ids(path):
    """(nid, Message-ID from the transport headers) of every message, through libpff."""
    found = []
    for message in pypff_messages(path):
        match = re.search(r"(?im)^Message-ID:\s*(\S+)", message.transport_headers or "")
        found.append((message.identifier, match.group(1) if match else None))
    return found


def test_real_stores(real_psts):
    report, failed = audit_report([str(REAL_SAMPLES / "pst")], [])
    assert failed == []
    audit = report.extra["audit"]
    # None of these stores holds a POP3 history or a reason to expect one.
    assert audit["findings"] == [] and report.histories == []
    assert audit["clock"]["status"] == "insufficient_evidence" and audit["links"] == []
    by_id = [g for g in audit["duplicates"] if g["key_method"] == "message_id"]
    assert by_id, "the two pstsdk samples hold one mail with one Message-ID"
    for group in by_id:
        for copy in group["copies"]:
            assert (copy["nid"], group["internet_message_id"]) in pypff_message_ids(copy["source"])
    # The same mail in a folder and in a recovered-items folder of one store.
    libyal = [
        g
        for g in audit["duplicates"]
        if {c["folder"].rsplit("/", 1)[1] for c in g["copies"]} == {"Inbox", "Recovered_Group2"}
    ]
    assert len(libyal) == 1 and libyal[0]["key_method"] == "subject_sender_submit"


def test_real_contents_tables_agree_with_the_messages(monkeypatch):
    """On the real POP3 stores (each with a history) the audit reads its messages from the
    contents tables alone, and every value it takes from them equals the message's own."""
    from uidl_inspector.audit import take_inventory
    from uidl_inspector.store import messaging
    from uidl_inspector.store.pst import open_pst

    stores = sorted((REAL_SAMPLES / "pop3").glob("*.pst"))
    assert stores, f"real POP3 samples not found under {REAL_SAMPLES}"
    opened = []
    real = messaging.props_of
    monkeypatch.setattr(
        messaging, "props_of", lambda node, *a: opened.append(node.nid) or real(node, *a)
    )
    fields = ("nid", "internet_message_id", "delivery_time", "submit_time", "subject")
    for path in stores:
        with open_pst(str(path)) as store:
            full = take_inventory(store, str(path))
        opened.clear()
        with open_pst(str(path)) as store:
            lean = take_inventory(store, str(path), headers=False)
        assert lean.messages, path
        assert not [nid for nid in opened if nid & 0x1F == 0x04], path  # no message PC
        assert [[getattr(m, f) for f in fields] for m in lean.messages] == [
            [getattr(m, f) for f in fields] for m in full.messages
        ], path
