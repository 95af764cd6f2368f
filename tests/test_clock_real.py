"""The clock and the links on the real lab stores (tghanem-user1-*, Outlook over POP3).

Expected links are written by hand from what libpff (pypff) shows of the messages: their
node ids and delivery times, and the tag times of the history (``+b<yyyyMMddhhmmss><uid>``).
Each tag follows its message's delivery by 3-16 s in UTC, so every message whose copy is
still in the store is linked at offset 0. Test1 was copied to a second folder (same
delivery time); its tag goes to the copy Outlook delivered (the lower node id).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pypff
import pytest

from conftest import REAL_SAMPLES, REQUIRE_PEERS
from uidl_inspector.cli.audit import audit_report

LAB = REAL_SAMPLES / "pop3"
# Tag time (UTC, as written in the BLOB) per UID of the lab mailbox.
TAGS = {"1": "20170605203421", "2": "20170605203421", "3": "20170605203421",
        "4": "20170605203421", "5": "20170606192351", "6": "20170612143250",
        "7": "20170613161929", "8": "20170613182626", "9": "20170617142103"}
# UID -> node id of the message it fetched (libpff's identifier); UIDs 1-4 left no copy.
FETCHED = {"5": 2097380, "6": 2097476, "7": 2097572, "8": 2097668, "9": 2097764}
# Store -> the UIDs its history holds, in BLOB order (Outlook pruned 1-5 by 25 June).
STORES = {
    "tghanem-user1-20170606-219b27d7.pst": "12345",
    "tghanem-user1-20170612-186cefc2.pst": "12345",
    "tghanem-user1-20170612-39ba6b10.pst": "123456",
    "tghanem-user1-20170613-b3882ec8.pst": "1234567",
    "tghanem-user1-20170613-d94af90c.pst": "12345678",
    "tghanem-user1-20170617-3b2b9c93.pst": "123456789",
    "tghanem-user1-20170625-cb6a8618.pst": "6789",
}


def pypff_deliveries(path):
    """node id -> delivery time (UTC) of every normal message, through libpff."""
    found = {}
    handle = pypff.file()
    handle.open(str(path))
    try:
        stack = [handle.root_folder]
        while stack:
            folder = stack.pop()
            for i in range(folder.number_of_sub_messages):
                message = folder.get_sub_message(i)
                found[message.identifier] = message.delivery_time.replace(tzinfo=timezone.utc)
            stack.extend(folder.get_sub_folder(i) for i in range(folder.number_of_sub_folders))
    finally:
        handle.close()
    return found


@pytest.fixture(scope="module")
def lab_stores():
    paths = [LAB / name for name in STORES]
    if not all(p.is_file() for p in paths):
        message = f"real lab stores not found under {LAB}"
        if REQUIRE_PEERS:
            pytest.fail(message)
        pytest.skip(message)
    return paths


@pytest.mark.parametrize("name", sorted(STORES))
def test_every_message_in_the_store_is_linked_at_utc(lab_stores, name):
    path = LAB / name
    report, failed = audit_report([str(path)], [])
    assert failed == []
    audit = report.extra["audit"]
    deliveries = pypff_deliveries(path)
    uids = list(STORES[name])
    expected = []
    for index, uid in enumerate(uids):
        nid = FETCHED.get(uid)
        if nid is None or nid not in deliveries:
            continue
        tag = datetime.strptime(TAGS[uid], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
        lag = (tag - deliveries[nid]).total_seconds()
        assert 3 <= lag <= 16, (uid, lag)  # what the real stores show
        expected.append((index, uid, nid, lag))
    got = [(lk["entry"]["entry"], lk["entry"]["uid"], lk["message"]["nid"],
            lk["delta_seconds"]) for lk in audit["links"]]
    assert got == expected
    assert audit["clock"]["offset_minutes"] == 0
    assert "clock_mismatch" not in audit["summary"]["findings"]
    # Three or more linked downloads confirm UTC; fewer leave it assumed.
    assert audit["clock"]["status"] == ("consistent" if len(expected) >= 3
                                        else "insufficient_evidence")


def test_lab_timeline_is_utc_with_its_basis(lab_stores):
    from uidl_inspector.report.timeline import resolve_zone, timeline_events

    report, _ = audit_report([str(LAB / "tghanem-user1-20170617-3b2b9c93.pst")], [])
    audit = report.extra["audit"]
    events, _ = timeline_events(report, audit, resolve_zone(None, audit["clock"]))
    history = [e for e in events if e["data_type"] == "outlook:pop3:uidl_history"]
    assert [e["datetime"] for e in history][-1] == "2017-06-17T14:21:03+00:00"
    assert {e["time_zone"] for e in history} == {"UTC"}
    assert all("this store confirms it" in e["timezone_basis"] for e in history)
