"""Classification, duplicate groups, clock inference and links on small in-memory stores."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from audit_fakes import FakeMessage, history, mail, mailbox, store, utc
from uidl_inspector.audit import run_audit, take_inventory
from uidl_inspector.audit.classify import classify_account
from uidl_inspector.audit.clock import clock_and_links
from uidl_inspector.audit.duplicates import find_duplicates, message_key, normalise_headers
from uidl_inspector.audit.entries import entry_refs
from uidl_inspector.audit.inventory import store_message
from uidl_inspector.audit.server_listing import parse_server_listing
from uidl_inspector.findings import Finding
from uidl_inspector.history import PopHistory
from uidl_inspector.schemas.mapi import PropId

T = datetime(2025, 3, 3, 9, 0, 0)


# --- classification ------------------------------------------------------------------


def test_classes_against_listing():
    h = history(
        [
            ("+", T, "a"),
            ("&", T + timedelta(minutes=1), "b"),
            ("-", T + timedelta(minutes=2), "c"),
            ("+", T + timedelta(minutes=3), "d"),
        ]
    )
    refs = entry_refs([h])
    listing = parse_server_listing("+OK\r\n1 a\r\n2 b\r\n3 new1\r\n4 new2\r\n.\r\n")
    result = classify_account("user@example.org", refs, listing)
    assert result.downloaded == ("a",)
    assert result.deleted == ("b", "c")
    assert result.deleted_but_listed == ("b",)  # the history says deleted, the server lists it
    assert result.new == ("new1", "new2")
    assert result.history_only == ("d",)
    server = result.to_dict()["server"]
    assert server["counts"] == {"downloaded": 1, "deleted": 2, "new": 2, "history_only": 1}
    assert result.to_dict()["operations"] == {"delete": 1, "get": 2, "get-and-delete": 1}


def test_last_operation_wins_across_histories():
    old = history([("+", T, "x")], nid=1)
    new = history([("-", T + timedelta(days=1), "x")], nid=2)
    refs = entry_refs([new, old])  # report order must not matter, time does
    result = classify_account("u", refs, parse_server_listing("x\n"))
    assert result.deleted == ("x",) and result.downloaded == ()


def test_without_listing_server_is_none():
    result = classify_account("u", entry_refs([history([("+", T, "x")])]), None)
    assert result.to_dict()["server"] is None


def test_listings_assigned_by_uid_overlap():
    a = history([("+", T, "a1"), ("+", T, "a2")], account="a@x")
    b = history([("+", T, "b1")], account="b@x", nid=9)
    out = run_audit(
        [a, b], [], [parse_server_listing("b1\nb9\n", "lb"), parse_server_listing("a1\n", "la")]
    )
    by = {acc["account"]: acc["server"] for acc in out["accounts"]}
    assert by["a@x"]["listing"] == "la" and by["a@x"]["history_only"] == ["a2"]
    assert by["b@x"]["listing"] == "lb" and by["b@x"]["new"] == ["b9"]


def test_listing_with_no_history_is_all_new():
    out = run_audit([], [], [parse_server_listing("u1\nu2\n")])
    assert out["accounts"][0]["account"] == "(no history)"
    assert out["accounts"][0]["server"]["new"] == ["u1", "u2"]


def test_a_manager_without_history_is_counted_not_classified():
    base = history([("+", None, "u1")], source="s.pst")
    empty = replace(
        base,
        blob=None,
        history=PopHistory(
            None, None, (), (Finding("no_history_attachment", None, "no attachment"),)
        ),
    )
    listing = parse_server_listing("u1\nu2\n")
    out = run_audit([base, empty], [], [listing])
    assert out["summary"]["histories"] == 2 and out["summary"]["histories_without_blob"] == 1
    [account] = out["accounts"]  # the listing still goes to the only account with a history
    assert account["account"] == "user@example.org" and account["server"]["new"] == ["u2"]
    assert out["findings"] == []  # info is not a blob_anomaly
    alone = run_audit([empty], [], [listing])
    assert alone["accounts"][0]["account"] == "(no history)"
    assert alone["summary"]["histories_without_blob"] == 1


# --- duplicates --------------------------------------------------------------------------


def test_groups_by_message_id_across_folders():
    d1, d2 = utc(2025, 3, 1, 8), utc(2025, 3, 5, 8)
    st = store(
        "s.pst",
        [mail(0x24, "<a@x>", d1), mail(0x44, "<b@x>", d1), mail(0x64, " <a@x> ", d2)],
        other=[mail(0x84, "a@x", d2 + timedelta(hours=1))],
    )
    groups, keyless = find_duplicates(take_inventory(st).messages)
    assert keyless == 0 and len(groups) == 1
    g = groups[0].to_dict()
    assert g["internet_message_id"] == "<a@x>" and g["key_method"] == "message_id"
    assert [(c["folder"].rsplit("/", 1)[1], c["nid"]) for c in g["copies"]] == [
        ("Inbox", 0x24),
        ("Inbox", 0x64),
        ("Archive", 0x84),
    ]
    assert g["copies"][0]["delivery_time"] == "2025-03-01T08:00:00+00:00"


def test_fallback_headers_then_subject_sender_submit():
    d = utc(2025, 3, 1, 8)
    h1 = "Subject: hi\r\nX-Long: one\r\n  two\r\n"
    h2 = "subject:   hi\nX-LONG: one two\n"
    assert normalise_headers(h1) == normalise_headers(h2)
    a = mail(1, None, d, headers=h1)
    b = mail(2, None, d + timedelta(days=1), headers=h2)
    c = FakeMessage(
        3, {PropId.SUBJECT: "s", PropId.SENDER_EMAIL_ADDRESS: "A@x", PropId.CLIENT_SUBMIT_TIME: d}
    )
    e = FakeMessage(
        4,
        {
            PropId.SUBJECT: "s",
            PropId.SENDER_EMAIL_ADDRESS: "a@x",
            PropId.CLIENT_SUBMIT_TIME: d,
            PropId.MESSAGE_DELIVERY_TIME: d,
        },
    )
    nothing = FakeMessage(5, {PropId.SUBJECT: "only a subject"})
    msgs = [store_message("s", "f", m) for m in (a, b, c, e, nothing)]
    assert message_key(msgs[0])[0] == "transport_headers"
    assert message_key(msgs[2])[0] == "subject_sender_submit"
    groups, keyless = find_duplicates(msgs)
    assert keyless == 1
    assert sorted(g.key_method for g in groups) == ["subject_sender_submit", "transport_headers"]
    assert all(g.internet_message_id is None for g in groups)


def test_duplicate_order_is_stable():
    d = utc(2025, 3, 1, 8)
    msgs = [mail(n, f"<{n % 3}@x>", d + timedelta(hours=n)) for n in range(9)]
    one = [g.to_dict() for g in find_duplicates(take_inventory(store("s", msgs)).messages)[0]]
    two = [
        g.to_dict()
        for g in find_duplicates(take_inventory(store("s", list(reversed(msgs)))).messages)[0]
    ]
    assert one == two and len(one) == 3


# --- clock -------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [0, 120, -300, 345, -570, 840, -720])
def test_clock_recovers_offset(offset):
    msgs, tags = mailbox(utc(2025, 3, 3, 8), 30, offset)
    inv = take_inventory(store("s.pst", msgs))
    refs = entry_refs([history(tags)])
    clock, links = clock_and_links(refs, inv.messages)
    # Outlook writes UTC: the evidence confirms it, or contradicts it (a mismatch).
    assert clock.status == ("consistent" if offset == 0 else "mismatch")
    assert clock.offset_minutes == offset == clock.inferred_minutes
    assert clock.support == 30 and clock.considered == 30
    assert len(links) == 30
    for link in links:
        assert link.message.internet_message_id == f"<m{link.entry.index}@example.net>"
        assert link.delta_seconds == pytest.approx(1.0)
        assert 0.9 < link.confidence <= 1.0


def test_clock_insufficient_when_thin():
    msgs, tags = mailbox(utc(2025, 3, 3, 8), 2, 60)
    inv = take_inventory(store("s.pst", msgs))
    refs = entry_refs([history(tags)])
    clock, links = clock_and_links(refs, inv.messages)
    assert clock.status == "insufficient_evidence" and clock.inferred_minutes is None
    assert clock.offset_minutes == 0  # read as UTC, as Outlook writes
    # Written an hour ahead: read as UTC, no tag follows a delivery within 30 s.
    assert links == []
    assert "insufficient evidence" in clock.to_dict()["explanation"]
    assert clock.to_dict()["explanation"].startswith("UTC assumed")


def test_thin_evidence_still_links_as_utc():
    # Two downloads cannot prove the clock, but Outlook writes UTC: they are linked.
    msgs, tags = mailbox(utc(2025, 3, 3, 8), 2, 0)
    inv = take_inventory(store("s.pst", msgs))
    refs = entry_refs([history(tags)])
    clock, links = clock_and_links(refs, inv.messages)
    assert clock.status == "insufficient_evidence"
    assert [(lk.entry.index, lk.message.nid) for lk in links] == [(0, 0x200004), (1, 0x200024)]


def test_tag_must_follow_its_delivery():
    # A tag is written after the message is stored: up to 30 s after, never well before.
    d = utc(2025, 3, 3, 8)
    local = d.replace(tzinfo=None)
    msgs = [
        mail(1, "<a@x>", d),
        mail(2, "<b@x>", d + timedelta(hours=2)),
        mail(3, "<c@x>", d + timedelta(hours=4)),
    ]
    tags = [
        ("+", local + timedelta(seconds=29), "a"),  # 29 s after: linked
        ("+", local + timedelta(hours=2, seconds=-5), "b"),  # 5 s before: not
        ("+", local + timedelta(hours=4, seconds=31), "c"),
    ]  # 31 s after: not
    inv = take_inventory(store("s", msgs))
    refs = entry_refs([history(tags)])
    _, links = clock_and_links(refs, inv.messages)
    assert [(lk.entry.uid, lk.message.nid, lk.delta_seconds) for lk in links] == [("a", 1, 29.0)]


def test_clock_insufficient_when_nothing_aligns():
    msgs, _ = mailbox(utc(2025, 3, 3, 8), 20, 0)
    tags = [
        ("+", datetime(2025, 6, 1, 0, 7, 13) + timedelta(hours=5 * n, seconds=n * 11), f"u{n}")
        for n in range(20)
    ]
    clock, _ = clock_and_links(
        entry_refs([history(tags)]), take_inventory(store("s", msgs)).messages
    )
    assert clock.inferred_minutes is None and clock.support == 0


def test_clock_ignores_deletes_and_undated():
    msgs, tags = mailbox(utc(2025, 3, 3, 8), 10, 60)
    tags = [("-", ts, u) for _, ts, u in tags[:5]] + tags[5:] + [("+", None, "nodate")]
    clock, _ = clock_and_links(
        entry_refs([history(tags)]), take_inventory(store("s", msgs)).messages
    )
    assert clock.offset_minutes == 60 and clock.considered == 5 and clock.support == 5


def test_links_are_one_to_one_and_ambiguity_lowers_confidence():
    d = utc(2025, 3, 3, 8)
    msgs = [
        mail(5, "<f@x>", d - timedelta(seconds=4)),  # eligible, but produced by no entry
        mail(1, "<a@x>", d),
        mail(2, "<b@x>", d + timedelta(seconds=3)),
        mail(3, "<c@x>", d + timedelta(hours=5)),
        mail(4, "<e@x>", d + timedelta(hours=9)),
    ]
    local = d.replace(tzinfo=None)
    tags = [
        ("+", local + timedelta(seconds=5), "u1"),
        ("+", local + timedelta(seconds=8), "u2"),
        ("+", local + timedelta(hours=5), "u3"),
        ("+", local + timedelta(hours=9), "u4"),
    ]
    inv = take_inventory(store("s", msgs))
    refs = entry_refs([history(tags)])
    clock, links = clock_and_links(refs, inv.messages)
    assert [lk.message.nid for lk in links] == [1, 2, 3, 4]
    # Three deliveries precede the first tag within 30 s; one (f) stays free beside it.
    assert links[0].candidates == 3
    assert links[0].confidence == pytest.approx(round((1 - 0.5 * 5 / 30) / 2, 3))
    assert links[2].candidates == 1 and links[2].confidence == pytest.approx(1.0)


def test_copies_with_one_delivery_time_link_the_first_allocated():
    # A message copied to another folder keeps its delivery time: the tag goes to the copy
    # with the lower node id (the one Outlook delivered), whatever the walk order.
    d = utc(2025, 3, 3, 8)
    local = d.replace(tzinfo=None)
    msgs = [mail(0x200024, "<a@x>", d), mail(0x200004, "<a@x>", d)]
    refs = entry_refs([history([("+", local + timedelta(seconds=7), "a")])])
    inv = take_inventory(store("s", msgs))
    _, links = clock_and_links(refs, inv.messages)
    assert [lk.message.nid for lk in links] == [0x200004]


# --- whole audit -------------------------------------------------------------------------


def small_audit():
    """A twelve-message mailbox with one re-delivered copy, audited with a listing."""
    msgs, tags = mailbox(utc(2025, 3, 3, 8), 12, 90)
    dup = mail(0x9004, "<m3@example.net>", utc(2025, 4, 1, 8))
    inv = take_inventory(store("s.pst", msgs + [dup]))
    listing = parse_server_listing("+OK\r\n1 00000000ABCD0123\r\n.\r\n")
    return run_audit([history(tags, source="s.pst")], [inv], [listing])


def test_run_audit_is_deterministic_and_has_documented_keys():
    one = small_audit()
    assert one == small_audit()
    assert {"accounts", "duplicates", "clock", "links", "findings"} <= set(one)
    assert set(one["accounts"][0]) >= {"account", "server"}
    assert set(one["duplicates"][0]) >= {"internet_message_id", "copies"}
    assert set(one["duplicates"][0]["copies"][0]) >= {"folder", "nid", "delivery_time"}
    assert set(one["clock"]) >= {"offset_minutes", "support", "method"}
    assert set(one["links"][0]) >= {"entry", "message", "confidence"}
    assert one["clock"]["offset_minutes"] == 90


def test_audit_result_is_typed_frozen_and_written_in_pieces_as_its_dict():
    from dataclasses import FrozenInstanceError

    from report_text import to_json
    from uidl_inspector.audit import AuditResult, AuditSummary
    from uidl_inspector.report.audit_csv import audit_csv
    from uidl_inspector.report.json_report import json_chunks

    one = small_audit()
    assert isinstance(one, AuditResult) and isinstance(one.summary, AuditSummary)
    assert one.clock.offset_minutes == 90 and one.summary.linked_entries == len(one.links) > 0
    with pytest.raises(FrozenInstanceError):
        one.links = ()  # type: ignore[misc]
    section = one.to_dict()
    assert list(section) == list(AuditResult.KEYS) == list(one)
    assert section["links"] == [link.to_dict() for link in one.links] == one["links"]
    assert section["summary"]["findings"] == list(one.summary.findings)
    # streamed section by section and item by item, the bytes of the whole dict's encoding
    pieces = list(json_chunks({"audit": one}))
    assert len(pieces) > len(one.links)
    assert b"".join(pieces).decode("ascii") == to_json({"audit": section})
    rows = list(audit_csv(one))
    assert b"".join(rows).decode("utf-8").count("\r\nlink,") == len(one.links)


def test_links_keep_the_order_of_a_burst():
    # Fetched 1 s apart, tags written 2 s after each delivery: nearest-time pairing would
    # give each tag the next message; the order-preserving pairing gives each its own.
    d = utc(2025, 3, 3, 8)
    msgs = [mail(0x100 + n, f"<{n}@x>", d + timedelta(seconds=n)) for n in range(8)]
    early = mail(0x99, "<early@x>", d - timedelta(seconds=4))  # no tag: its tag was lost
    local = d.replace(tzinfo=None)
    tags = [("+", local + timedelta(seconds=n + 2), f"u{n}") for n in range(8)]
    later = [timedelta(hours=3 * h, minutes=17 * h, seconds=h * 7) for h in range(1, 6)]
    tags += [("+", local + t, f"v{h}") for h, t in enumerate(later)]
    msgs += [mail(0x200 + h, f"<v{h}@x>", d + t) for h, t in enumerate(later)]
    inv = take_inventory(store("s", [early] + msgs))
    refs = entry_refs([history(tags)])
    clock, links = clock_and_links(refs, inv.messages)
    assert clock.offset_minutes == 0
    assert [lk.message.nid for lk in links[:8]] == [0x100 + n for n in range(8)]
    assert all(lk.delta_seconds == 2.0 for lk in links[:8])


def test_links_follow_fetch_order_when_tag_times_cross():
    # Fetched at :00 and :01; the first tag written 2 s late, the second at once: the tags'
    # times cross, their BLOB order does not.
    d = utc(2025, 3, 3, 8)
    local = d.replace(tzinfo=None)
    msgs = [mail(1, "<a@x>", d), mail(2, "<b@x>", d + timedelta(seconds=1))]
    tags = [("+", local + timedelta(seconds=2), "a"), ("+", local + timedelta(seconds=1), "b")]
    later = [timedelta(hours=3 * h, minutes=17 * h, seconds=h * 7) for h in range(1, 6)]
    tags += [("+", local + t, f"v{h}") for h, t in enumerate(later)]
    msgs += [mail(0x200 + h, f"<v{h}@x>", d + t) for h, t in enumerate(later)]
    inv = take_inventory(store("s", msgs))
    refs = entry_refs([history(tags)])
    _, links = clock_and_links(refs, inv.messages)
    assert [(lk.entry.uid, lk.message.nid) for lk in links[:2]] == [("a", 1), ("b", 2)]


def test_listing_named_for_an_account_and_by_elimination():
    a = history([("+", T, "a1")], account="a@x")
    b = history([("&", T, "b1")], account="b@x", nid=9)
    c = history([("+", T, "c1")], account="c@x", nid=10)
    out = run_audit(
        [a, b, c],
        [],
        [
            parse_server_listing("zz\n", "named", account="A@X"),  # shares nothing, but named
            parse_server_listing("c1\n", "overlap"),
            parse_server_listing("b7\n", "leftover"),  # b@x deleted everything it fetched
        ],
    )
    by = {acc["account"]: acc["server"]["listing"] for acc in out["accounts"]}
    assert by == {"a@x": "named", "b@x": "leftover", "c@x": "overlap"}
    assert [n["matched_by"] for n in out["listings"]] == ["named", "shared UIDs", "by elimination"]


def test_unmatched_listing_is_reported_not_used():
    a = history([("+", T, "a1")], account="a@x")
    b = history([("+", T, "b1")], account="b@x", nid=9)
    out = run_audit(
        [a, b], [], [parse_server_listing("q1\n", "l1"), parse_server_listing("q2\n", "l2")]
    )
    assert all(acc["server"] is None for acc in out["accounts"])
    assert [n["account"] for n in out["listings"]] == [None, None]


def test_inventory_survives_cycles_and_unreadable_folders():
    from uidl_inspector.exceptions import CorruptStructureError

    d = utc(2025, 3, 1, 8)
    st = store("s.pst", [mail(1, "<a@x>", d)])
    top = st.root.children[0]
    top.children.append(top)  # a folder that lists its own parent again

    class Broken:
        nid, name, path, props, findings = 0x9992, "Bad", "Top of Personal Folders/Bad", {}, []

        def subfolders(self):
            raise CorruptStructureError("hierarchy table damaged", 0x4400)

        def messages(self):
            yield mail(2, "<b@x>", d)
            raise CorruptStructureError("contents table damaged", 0x4800)

        def associated(self):
            return iter(())

    top.children.append(Broken())
    inv = take_inventory(st)
    assert sorted(m.internet_message_id for m in inv.messages) == ["<a@x>", "<b@x>"]
    found = {f.code for f in inv.findings}
    assert {"folder_cycle", "unreadable"} <= found
    assert any(f.offset == 0x4800 for f in inv.findings)
