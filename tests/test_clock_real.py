"""The clock and the links on the real lab stores (tghanem-user1-*, Outlook over POP3).

Expected links are written by hand from what libpff (pypff) shows of the messages: their
node ids and delivery times, and the tag times of the history (``+b<yyyyMMddhhmmss><uid>``).
Each tag follows its message's delivery by 3-16 s in UTC, so every message whose copy is
still in the store is linked at offset 0. Test1 was copied to a second folder (same
delivery time); its tag goes to the copy Outlook delivered (the lower node id).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from conftest import REAL_SAMPLES
from test_audit_real import pypff_messages
from test_real_pop3 import EXPECTED, TAG_TIME, pop3_dir  # noqa: F401 (fixture)
from uidl_inspector.pipeline import audit_report

LAB = REAL_SAMPLES / "pop3"
# UID -> node id of the message it fetched (libpff's identifier); UIDs 1-4 left no copy.
FETCHED = {"5": 2097380, "6": 2097476, "7": 2097572, "8": 2097668, "9": 2097764}
pytestmark = pytest.mark.usefixtures("pop3_dir")  # skip (fail in CI) without the samples


def pypff_deliveries(path):
    """node id -> delivery time (UTC) of every normal message, through libpff."""
    return {
        m.identifier: m.delivery_time.replace(tzinfo=timezone.utc) for m in pypff_messages(path)
    }


@pytest.mark.parametrize("name", sorted(EXPECTED))  # histories per store: UIDs first
def test_every_message_in_the_store_is_linked_at_utc(name):
    path = LAB / name
    report, failed = audit_report([str(path)], [])
    assert failed == []
    audit = report.extra["audit"]
    deliveries = pypff_deliveries(path)
    uids = list(EXPECTED[name][0])  # in BLOB order; Outlook pruned 1-5 by 25 June
    expected = []
    for index, uid in enumerate(uids):
        nid = FETCHED.get(uid)
        if nid is None or nid not in deliveries:
            continue
        tag = datetime.strptime(TAG_TIME[uid], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
        lag = (tag - deliveries[nid]).total_seconds()
        assert 3 <= lag <= 16, (uid, lag)  # what the real stores show
        expected.append((index, uid, nid, lag))
    got = [
        (lk["entry"]["entry"], lk["entry"]["uid"], lk["message"]["nid"], lk["delta_seconds"])
        for lk in audit["links"]
    ]
    assert got == expected
    assert audit["clock"]["offset_minutes"] == 0
    assert "clock_mismatch" not in audit["summary"]["findings"]
    # Three or more linked downloads confirm UTC; fewer leave it assumed.
    assert audit["clock"]["status"] == (
        "consistent" if len(expected) >= 3 else "insufficient_evidence"
    )


def test_lab_timeline_is_utc_with_its_basis():
    from uidl_inspector.report.timeline import resolve_zone, timeline_events

    report, _ = audit_report([str(LAB / "tghanem-user1-20170617-3b2b9c93.pst")], [])
    audit = report.extra["audit"]
    events, _ = timeline_events(report, audit, resolve_zone(None, audit["clock"]))
    history = [e for e in events if e["data_type"] == "outlook:pop3:uidl_history"]
    assert [e["datetime"] for e in history][-1] == "2017-06-17T14:21:03+00:00"
    assert {e["time_zone"] for e in history} == {"UTC"}
    assert all("this store confirms it" in e["timezone_basis"] for e in history)
