"""Cause findings on small in-memory stories: each code fires on its trace and only there."""

from __future__ import annotations

from datetime import timedelta

from audit_fakes import FakeMessage, Finding, history, mail, mailbox, store, utc
from uidl_inspector.audit import run_audit, take_inventory
from uidl_inspector.audit.causes import uid_shape
from uidl_inspector.audit.server_listing import parse_server_listing
from uidl_inspector.findings import SEVERITY

START = utc(2025, 3, 3, 8)
OFFSET = 0  # Outlook writes its tags in UTC


def audit(histories, st=None, listings=()):
    inventories = [take_inventory(st, st.path)] if st is not None else []
    return run_audit(histories, inventories, listings)


def codes(result):
    return [f["code"] for f in result["findings"]]


def by_code(result, code):
    return [f for f in result["findings"] if f["code"] == code]


def refetch(msgs, tags, at, offset=OFFSET, first_nid=0x300004):
    """Every message fetched again from `at` (UTC), 2 s apart: new copies and new tags."""
    copies, new_tags = [], []
    for n, (m, (_, _, uid)) in enumerate(zip(msgs, tags, strict=True)):
        delivered = at + timedelta(seconds=2 * n)
        copies.append(mail(first_nid + 32 * n, m.props[0x1035], delivered))
        new_tags.append(
            ("+", (delivered + timedelta(seconds=1, minutes=offset)).replace(tzinfo=None), uid)
        )
    return copies, new_tags


def test_clean_single_account_has_no_finding():
    msgs, tags = mailbox(START, 25, OFFSET)
    result = audit([history(tags, source="s.pst")], store("s.pst", msgs))
    assert codes(result) == []
    assert result["clock"]["offset_minutes"] == OFFSET


def test_delete_tags_do_not_look_like_a_reset():
    # "Remove from server after N days": the oldest tags became '-' at deletion time.
    msgs, tags = mailbox(START, 25, OFFSET, gap_h=20)
    later = tags[-1][1] + timedelta(hours=2)
    tags = [
        ("-", later + timedelta(seconds=n), uid) for n, (_, _, uid) in enumerate(tags[:3])
    ] + tags[3:]
    result = audit([history(tags, source="s.pst")], store("s.pst", msgs))
    assert "history_reset" not in codes(result)


def test_history_reset_from_refetched_duplicates():
    msgs, tags = mailbox(START, 20, OFFSET)
    copies, new_tags = refetch(msgs, tags, START + timedelta(days=5))
    st = store("s.pst", msgs + copies)
    result = audit([history(new_tags, source="s.pst")], st)
    assert codes(result) == ["history_reset"]
    (f,) = by_code(result, "history_reset")
    ev = f["evidence"]
    assert ev["redownloaded_total"] == 20
    assert ev["first_session"]["gets"] == 20
    assert ev["history_start"] == new_tags[0][1].isoformat()
    assert ev["histories"][0]["message_nid"] == 0x200008
    assert "downloads it again" in f["explanation"]
    assert len(result["duplicates"]) == 20


def test_history_reset_found_without_a_clock():
    # Too few entries to infer the zone: the wide margin still sees the older copies.
    msgs, tags = mailbox(START, 2, OFFSET)
    copies, new_tags = refetch(msgs, tags, START + timedelta(days=5))
    result = audit([history(new_tags, source="s.pst")], store("s.pst", msgs + copies))
    assert result["clock"]["status"] == "insufficient_evidence"
    assert codes(result) == ["history_reset"]


def test_clock_mismatch_when_the_store_supports_another_offset():
    # A history written on a clock one hour ahead of UTC: not as Outlook writes it.
    msgs, tags = mailbox(START, 25, 60)
    result = audit([history(tags, source="s.pst")], store("s.pst", msgs))
    assert codes(result) == ["clock_mismatch"]
    (f,) = by_code(result, "clock_mismatch")
    assert f["severity"] == "warning" == SEVERITY["clock_mismatch"]
    assert f["evidence"]["offset_minutes"] == 60 and f["evidence"]["offset"] == "+01:00"
    assert f["evidence"]["support"] == 25 == f["evidence"]["considered"]
    assert f["evidence"]["links_total"] == 25  # linked at the offset the evidence supports
    assert "UTC+01:00" in f["explanation"]


def test_no_clock_mismatch_on_utc_or_thin_evidence():
    msgs, tags = mailbox(START, 25, 0)
    assert "clock_mismatch" not in codes(
        audit([history(tags, source="s.pst")], store("s.pst", msgs))
    )
    msgs, tags = mailbox(START, 2, 60)  # two downloads prove nothing
    assert "clock_mismatch" not in codes(
        audit([history(tags, source="s.pst")], store("s.pst", msgs))
    )


def test_two_profiles_is_multiple_managers_not_reset():
    msgs, tags = mailbox(START, 15, OFFSET)
    copies, new_tags = refetch(msgs, tags, START + timedelta(days=8))
    old = history(tags, source="s.pst", nid=0x200008, profile="Outlook", key="11" * 16)
    new = history(new_tags, source="s.pst", nid=0x200028, profile="New", key="22" * 16)
    result = audit([old, new], store("s.pst", msgs + copies))
    assert codes(result) == ["multiple_managers"]
    (f,) = by_code(result, "multiple_managers")
    ev = f["evidence"]
    assert [s["profile"] for s in ev["spans"]] == ["Outlook", "New"]
    assert ev["overlaps"] == [
        {"histories": [0, 1], "shared_uids": 15, "examples": sorted(u for _, _, u in tags)[:10]}
    ]
    assert {p["name"] for p in ev["profiles"]} == {"Outlook", "New"}


def test_same_uid_in_two_concurrent_histories():
    msgs, tags = mailbox(START, 10, OFFSET)
    a = history(tags, source="s.pst", account="one@x", nid=0x200008)
    b = history(
        [(op, ts + timedelta(seconds=30), u) for op, ts, u in tags[2:]],
        source="s.pst",
        account="one@x",
        nid=0x200028,
        profile="Laptop",
        key="33" * 16,
    )
    result = audit([a, b], store("s.pst", msgs))
    assert "same_uid_in_two_histories" in codes(result)
    (f,) = by_code(result, "same_uid_in_two_histories")
    assert f["evidence"]["concurrent"] is True and f["evidence"]["shared_uids_total"] == 8


def test_same_blob_twice_is_not_two_histories():
    msgs, tags = mailbox(START, 10, OFFSET)
    a = history(tags, source="s.pst", blob=b"same")
    b = history(tags, source="export.msg", nid=None, blob=b"same")
    result = audit([a, b], store("s.pst", msgs))
    assert "same_uid_in_two_histories" not in codes(result)


def test_uid_scheme_change():
    msgs, tags = mailbox(START, 12, OFFSET)
    tags = tags[:6] + [(op, ts, f"{1000 + n}.{n * 7919}") for n, (op, ts, _) in enumerate(tags[6:])]
    result = audit([history(tags, source="s.pst")], store("s.pst", msgs))
    assert codes(result) == ["uid_scheme_change"]
    sw = by_code(result, "uid_scheme_change")[0]["evidence"]["switch"]
    assert sw["at"] == tags[6][1].isoformat()
    assert sw["before"]["count"] == 6 and sw["after"]["count"] == 6
    assert sw["before"]["shape"].startswith("hexadecimal")
    assert sw["after"]["shape"].startswith("decimal")


def test_uid_scheme_change_from_one_message_under_two_uids():
    msgs, tags = mailbox(START, 3, OFFSET)
    copies, new_tags = refetch(msgs, tags, START + timedelta(days=2))
    new_tags = [(op, ts, f"NEW-{u}") for op, ts, u in new_tags]
    result = audit([history(tags + new_tags, source="s.pst")], store("s.pst", msgs + copies))
    found = by_code(result, "uid_scheme_change")
    assert found and found[0]["evidence"]["duplicates_total"] == 3


def test_uid_shape_tolerates_all_digit_hex():
    assert uid_shape("0000000100000002")[0] == "digits"
    msgs, tags = mailbox(START, 8, OFFSET, uid=lambda n: f"{n:08x}{n + 0xABC:08x}")
    tags[3] = (tags[3][0], tags[3][1], "1234567812345678")  # random hex that is all digits
    result = audit([history(tags, source="s.pst")], store("s.pst", msgs))
    assert "uid_scheme_change" not in codes(result)


def test_get_without_delete():
    msgs, tags = mailbox(START, 10, OFFSET)
    tags = [("&", ts, u) for _, ts, u in tags]
    tags[4] = ("+",) + tags[4][1:]
    result = audit([history(tags, source="s.pst")], store("s.pst", msgs))
    assert codes(result) == ["get_without_delete"]
    ev = by_code(result, "get_without_delete")[0]["evidence"]
    assert [e["uid"] for e in ev["entries"]] == [tags[4][2]]
    assert ev["get_and_delete_entries"] == 9


def test_leave_on_server_and_delete_on_download_accounts_are_normal():
    msgs, tags = mailbox(START, 10, OFFSET)
    keep = history(tags[:5], source="s.pst", account="keep@x")
    delete = history([("&", ts, u) for _, ts, u in tags[5:]], source="s.pst", account="del@x")
    result = audit([keep, delete], store("s.pst", msgs))
    assert codes(result) == []


def test_blob_anomaly():
    msgs, tags = mailbox(START, 5, OFFSET)
    bad = history(tags, source="s.pst", anomalies=[Finding("count_mismatch", 2, "declared 7")])
    result = audit([bad], store("s.pst", msgs))
    assert codes(result) == ["blob_anomaly"]
    ev = by_code(result, "blob_anomaly")[0]["evidence"]
    assert ev["anomalies"] == [
        {"code": "count_mismatch", "severity": "warning", "offset": 2, "detail": "declared 7"}
    ]


def test_history_missing_needs_a_pop3_reason():
    msgs, _ = mailbox(START, 5, OFFSET)
    # Internet mail alone (an IMAP or Exchange store holds it too) is no reason.
    assert codes(audit([], store("s.pst", msgs))) == []
    # A server listing for an account that has no history is.
    listed = audit([], store("s.pst", msgs), [parse_server_listing("u1\nu2\n", "l.txt")])
    assert codes(listed) == ["history_missing"]
    ev = by_code(listed, "history_missing")[0]["evidence"]
    assert ev["messages_total"] == 5 and ev["listings"] == ["l.txt"]
    # So is a Message Manager in the store, or a Received header naming a POP3 fetch.
    manager = FakeMessage(
        0x200008,
        {0x0037: "Outlook Message Manager (x) (KEY: 00)"},
        message_class="IPM.MessageManager",
    )
    assert codes(audit([], store("s.pst", msgs, managers=[manager]))) == ["history_missing"]
    fetched = mail(
        0x300004,
        "<p@x>",
        START,
        headers=(
            "Received: from pop.example.net\r\n\tby host with POP3 (fetchmail-6.4)\r\n"
            "Message-ID: <p@x>\r\n"
        ),
    )
    found = audit([], store("s.pst", msgs + [fetched]))
    assert codes(found) == ["history_missing"]
    assert [
        m["nid"] for m in by_code(found, "history_missing")[0]["evidence"]["pop3_received"]
    ] == [0x300004]


def test_no_internet_mail_no_history_is_silent():
    result = audit([], store("s.pst", []))
    assert codes(result) == []


def test_coincidental_links_are_no_uid_scheme_change():
    # Eight mails were copied by a rule a day later. Two copies land seconds before the
    # download tag of a message the user has since deleted, so those downloads link to the
    # copies: two groups "under two UIDs" out of eight is coincidence, not a renaming server.
    msgs, tags = mailbox(START, 40, OFFSET)
    copies, deleted = [], set()
    for k, n in enumerate(range(0, 40, 5)):
        if k < 2:  # the copy falls 4 s before message n+1's tag; n+1 was deleted
            at = msgs[n + 1].props[0x0E06] - timedelta(seconds=3)
            deleted.add(n + 1)
        else:
            at = msgs[n].props[0x0E06] + timedelta(hours=25, minutes=7)
        copies.append(mail(0x500004 + 32 * k, msgs[n].props[0x1035], at))
    kept = [m for i, m in enumerate(msgs) if i not in deleted]
    result = audit([history(tags, source="s.pst")], store("s.pst", kept + copies))
    assert len(result["duplicates"]) == 8
    two_uids = [
        g
        for g in result["duplicates"]
        if len(
            {
                lk["entry"]["uid"]
                for lk in result["links"]
                if lk["message"]["internet_message_id"] == g["internet_message_id"]
            }
        )
        == 2
    ]
    assert len(two_uids) == 2  # the coincidences are there ...
    assert "uid_scheme_change" not in codes(result)  # ... and are not taken for a renaming
