"""The audit against the synthetic scenarios' ground truth.

Two feeds: (1) the truth-fed audit builds history records from the scenario's BLOB bytes
(decoded with history.parse_blob) and store messages from the truth's message list, so the
audit's reasoning is checked without any reader; (2) the file-fed audit reads the written
PST through the project's own reader and locator (skipped until those land).
"""

from __future__ import annotations

from datetime import datetime

import pytest

from uidl_inspector.audit import run_audit
from uidl_inspector.audit.inventory import Inventory, StoreMessage
from uidl_inspector.audit.server_listing import read_server_listing
from uidl_inspector.findings import Finding
from uidl_inspector.history import PopHistory, parse_blob
from uidl_inspector.records import Account, Companion, HistoryRecord, Location, Profile
from uidl_inspector.synth.scenarios import history_blob, scenario
from uidl_inspector.synth.truth import write_evidence


def evidence(tmp_path, name, offset=0, **kw):
    sc = scenario(name, seed=kw.pop("seed", 0), clock_offset=offset, **kw)
    return sc, write_evidence(tmp_path, sc, force=True)


def truth_fed(sc, ev):
    """History records and an inventory from the scenario and its truth (no reader)."""
    doc = ev.document
    source = doc["files"]["store"]
    blobs = iter([history_blob(h) for m in sc.managers if not m.deleted for h in m.histories])
    histories = []
    for rec in doc["histories"]:
        loc = dict(
            rec["location"],
            embedded_path=tuple(rec["location"]["embedded_path"]),
            companions=tuple(Companion(**c) for c in rec["location"]["companions"]),
        )
        if rec["blob"] is None:  # a Message Manager without history
            blob, decoded = (
                None,
                PopHistory(
                    None,
                    None,
                    (),
                    tuple(Finding(a["code"], a["offset"], "") for a in rec["anomalies"]),
                ),
            )
        else:
            blob = next(blobs)
            decoded = parse_blob(blob)
        histories.append(
            HistoryRecord(
                source=source,
                history=decoded,
                blob=blob,
                location=Location(**loc),
                account=Account(**rec["account"]),
                profile=Profile(**rec["profile"]),
            )
        )
    assert next(blobs, None) is None
    messages = tuple(
        StoreMessage(
            source=source,
            folder=m["folder"],
            nid=m["nid"],
            internet_message_id=m["internet_message_id"],
            delivery_time=datetime.fromisoformat(m["delivery_time"]),
            submit_time=None,
            subject=m["subject"],
            sender=m["sender_email"],
            headers_sha256="0" * 64,
        )
        for m in doc["messages"]
    )
    listings = [read_server_listing(p) for p in ev.listings.values()]
    return histories, [Inventory(messages, (), ())], listings


def audit_of(tmp_path, name, offset=0, **kw):
    sc, ev = evidence(tmp_path, name, offset, **kw)
    histories, inventories, listings = truth_fed(sc, ev)
    return ev.document, run_audit(histories, inventories, listings)


def codes(result):
    return [f["code"] for f in result["findings"]]


def with_clock(want, offset):
    """Outlook writes UTC: a history written at another offset adds clock_mismatch."""
    return list(want) + (["clock_mismatch"] if offset else [])


def check_links(doc, result):
    ours = sorted(
        (lk["entry"]["history"], lk["entry"]["entry"], lk["message"]["nid"])
        for lk in result["links"]
    )
    theirs = sorted((lk["history"], lk["entry"], lk["nid"]) for lk in doc["expected"]["links"])
    assert ours == theirs


def check_common(doc, result):
    """Duplicate groups, clock and links equal what the scenario built."""
    expected = doc["expected"]
    assert [
        {
            "internet_message_id": g["internet_message_id"],
            "copies": [{k: c[k] for k in ("folder", "nid", "delivery_time")} for c in g["copies"]],
        }
        for g in sorted(result["duplicates"], key=lambda g: g["internet_message_id"])
    ] == expected["duplicates"]
    offset = expected["clock_offset_minutes"]
    assert result["clock"]["offset_minutes"] == offset
    assert result["clock"]["status"] == ("consistent" if offset == 0 else "mismatch")
    check_links(doc, result)


def check_server(doc, result):
    """Each account's classes equal the truth of its latest history."""
    accounts = {i: a for a in result["accounts"] for i in a["histories"]}
    latest = {}
    for row in doc["expected"]["server"]:
        latest[id(accounts[row["history"]])] = row
    assert len(latest) == len(result["accounts"])  # a manager without history names none
    for row in latest.values():
        server = accounts[row["history"]]["server"]
        for cls in ("downloaded", "deleted", "new", "history_only"):
            assert server[cls] == row[cls], (row["account"], cls)


def test_duplicates_scenario(tmp_path):
    doc, result = audit_of(tmp_path, "duplicates", 0)
    check_common(doc, result)
    check_server(doc, result)
    assert codes(result) == ["history_reset"]
    ev = result["findings"][0]["evidence"]
    expected = doc["expected"]
    refetched = sorted(g["internet_message_id"] for g in ev["redownloaded"])
    assert refetched == expected["duplicated_message_ids"]
    assert ev["first_session"]["gets"] == expected["burst_size"]
    start_utc = datetime.fromisoformat(ev["history_start_utc"].replace("Z", "+00:00"))
    reset = datetime.fromisoformat(expected["history_reset_at"])
    # The reset happens between two send/receives; the next one (10 minutes later in the
    # scenario) starts the new history.
    assert 0 <= (start_utc - reset).total_seconds() <= 11 * 60


def test_two_profiles_scenario(tmp_path):
    doc, result = audit_of(tmp_path, "two-profiles", 0)
    check_common(doc, result)
    check_server(doc, result)
    assert codes(result) == ["multiple_managers"]
    ev = result["findings"][0]["evidence"]
    expected = doc["expected"]
    assert [o["shared_uids"] for o in ev["overlaps"]] == [len(expected["shared_uids"])]
    # The unused profile's manager has no history, hence no span: it sorts first.
    used = [r["profile"]["name"] for r in doc["histories"] if r["entries"]]
    unused = [r["profile"]["name"] for r in doc["histories"] if r["blob"] is None]
    assert [s["profile"] for s in ev["spans"] if s["first"] is None] == unused == ["Petra (test)"]
    assert [s["profile"] for s in ev["spans"] if s["first"]] == used
    assert used + unused == [p["name"] for p in expected["profiles"]]
    refetched = {g["internet_message_id"] for g in result["duplicates"]}
    assert refetched == set(expected["refetched_message_ids"])


@pytest.mark.parametrize(
    "name", ["single-account", "multi-account", "general-key", "embedded", "localized"]
)
def test_clean_scenarios_have_no_finding(tmp_path, name):
    doc, result = audit_of(tmp_path, name, 0)
    check_common(doc, result)
    check_server(doc, result)
    assert codes(result) == []


def test_single_account_history_only(tmp_path):
    doc, result = audit_of(tmp_path, "single-account")
    assert result["accounts"][0]["server"]["history_only"] == doc["expected"]["history_only"]


def test_anomalous_scenario_reports_each_damaged_blob(tmp_path):
    doc, result = audit_of(tmp_path, "anomalous", 0)
    found = [f for f in result["findings"] if f["code"] == "blob_anomaly"]
    assert len(found) == len(doc["histories"])
    for finding, want in zip(found, doc["expected"]["anomaly_codes"], strict=True):
        assert sorted({a["code"] for a in finding["evidence"]["anomalies"]}) == want
    assert set(codes(result)) == {"blob_anomaly"}


def test_deleted_manager_looks_like_a_reset(tmp_path):
    # Only the new Message Manager is reachable; the old one's blocks are unreferenced.
    doc, result = audit_of(tmp_path, "deleted-manager", 0)
    assert codes(result) == ["history_reset"]


@pytest.mark.parametrize("offset", [0, 60, -300, 345, -570, 780])
def test_clock_offset_recovered(tmp_path, offset):
    # A history written at another offset than UTC is read at the offset the evidence
    # supports, and reported.
    doc, result = audit_of(tmp_path, "duplicates", offset)
    assert result["clock"]["offset_minutes"] == offset
    check_common(doc, result)
    assert codes(result) == with_clock(["history_reset"], offset)


@pytest.mark.parametrize("offset", [0, 330])
def test_large_store_clock_and_links(tmp_path, offset):
    doc, result = audit_of(tmp_path, "large", offset, messages=400)
    check_common(doc, result)
    assert codes(result) == with_clock([], offset)


# --- file-fed: the written PST through the project's reader and locator ----------------


@pytest.mark.parametrize(
    ("name", "variant", "encoding", "offset", "want"),
    [
        ("duplicates", "unicode", "permute", 0, ["history_reset"]),
        ("two-profiles", "ansi", "none", -300, ["multiple_managers", "clock_mismatch"]),
        ("single-account", "unicode", "cyclic", 0, []),
        ("multi-account", "ansi", "permute", -570, ["clock_mismatch"]),
    ],
)
def test_audit_of_written_store(tmp_path, name, variant, encoding, offset, want):
    from uidl_inspector.pipeline import audit_report

    sc = scenario(name, seed=3, clock_offset=offset)
    ev = write_evidence(tmp_path, sc, variant=variant, encoding=encoding)
    listings = [read_server_listing(p) for p in ev.listings.values()]
    report, failed = audit_report([str(ev.store)], listings)
    assert failed == []
    result = report.extra["audit"]
    doc = ev.document
    assert codes(result) == want
    check_server(doc, result)
    # The reader names the source by its path; the truth by its file name.
    assert result["clock"]["offset_minutes"] == offset
    check_links(doc, result)
    groups = sorted(
        (g["internet_message_id"], [c["nid"] for c in g["copies"]]) for g in result["duplicates"]
    )
    assert groups == sorted(
        (g["internet_message_id"], [c["nid"] for c in g["copies"]])
        for g in doc["expected"]["duplicates"]
    )


SWEEP = {
    "single-account": [],
    "multi-account": [],
    "general-key": [],
    "embedded": [],
    "localized": [],
    "duplicates": ["history_reset"],
    "two-profiles": ["multiple_managers"],
    "deleted-manager": ["history_reset"],
    "anomalous": ["blob_anomaly"] * 4,
}


@pytest.mark.parametrize("name", sorted(SWEEP))
def test_seed_sweep_findings_right_and_clock_never_wrong(tmp_path, name):
    """Across seeds, in UTC (as Outlook writes) and at another offset: exactly the expected
    findings; an inferred offset is always the writer's; links equal the truth whenever the
    clock is read right (except where a damaged BLOB lost the tag that would compete for a
    message)."""
    for seed in range(6):
        for offset in (0, 345):
            sc, ev = evidence(tmp_path / f"{seed}{offset}", name, offset, seed=seed)
            result = run_audit(*truth_fed(sc, ev))
            clock = result["clock"]
            found = clock["status"] != "insufficient_evidence"
            assert codes(result) == with_clock(SWEEP[name], offset if found else 0), (seed, offset)
            if found:
                assert clock["offset_minutes"] == offset, (seed, offset)
            else:
                assert clock["offset_minutes"] == 0  # read as UTC
                assert clock["considered"] < 8, (seed, offset, clock)  # only thin evidence
            if name != "anomalous" and clock["offset_minutes"] == offset:
                check_links(ev.document, result)
