"""Timeline export: Timesketch's documented requirements, zones, CSV neutralisation."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta

import pytest

from audit_fakes import history, mail, mailbox, store, utc
from uidl_inspector.audit import run_audit, take_inventory
from uidl_inspector.report.model import Report, Source
from uidl_inspector.report.timeline import (
    CSV_COLUMNS,
    TimelineError,
    resolve_zone,
    timeline_events,
    to_jsonl,
    to_timeline_csv,
)

SHA = "ab" * 32
# Timesketch (docs/guides/user/import-from-json-csv.md): message, datetime (ISO 8601 with
# an offset) and timestamp_desc are required; timestamp is microseconds; _id/_type/_index/
# _source are reserved; years outside 1700-9999 are dropped.
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$")


def check_timesketch(event):
    for key in ("message", "datetime", "timestamp_desc"):
        assert isinstance(event[key], str) and event[key], key
    assert ISO_WITH_OFFSET.match(event["datetime"]), event["datetime"]
    moment = datetime.fromisoformat(event["datetime"])
    assert 1700 <= moment.year <= 9999
    assert event["timestamp"] == round(moment.timestamp() * 1_000_000)
    assert not {"_id", "_type", "_index", "_source"} & set(event)
    assert re.fullmatch(r"[a-z0-9_]+(:[a-z0-9_]+)+", event["data_type"])
    for key in ("parser", "display_name", "sha256_hash"):
        assert event[key]


def build(offset=120, tags_extra=()):
    msgs, tags = mailbox(utc(2025, 3, 3, 8), 6, offset)
    dup = mail(0x9004, "<m2@example.net>", utc(2025, 4, 1, 8))
    st = store("s.pst", msgs + [dup])
    rec = history(list(tags) + list(tags_extra), source="s.pst")
    report = Report(sources=[Source("s.pst", "pst", 10, SHA, "cd" * 16)], histories=[rec])
    audit = run_audit([rec], [take_inventory(st, "s.pst")], [])
    return report, audit, tags


def test_events_meet_timesketch_requirements():
    report, audit, tags = build()
    zone = resolve_zone("inferred", audit["clock"])
    events, skipped = timeline_events(report, audit, zone)
    assert skipped == {"undated_entries": 0, "out_of_range": 0}
    assert len(events) == 6 + 2  # six entries, two copies of one duplicate
    for event in events:
        check_timesketch(event)
    lines = to_jsonl(events).splitlines()
    assert [json.loads(line) for line in lines] == events
    assert all(list(json.loads(line)) == sorted(json.loads(line)) for line in lines)
    first = events[0]
    assert first["datetime"] == "2025-03-03T10:00:01+02:00"
    assert first["timestamp_desc"] == "POP3 Download Time"
    assert first["data_type"] == "outlook:pop3:uidl_history"
    assert first["blob_time"] == tags[0][1].isoformat()
    assert first["sha256_hash"] == SHA and first["display_name"] == "PST:s.pst"
    assert first["nid"] == 0x200008 and first["offset"] == 4
    copies = [e for e in events if e["data_type"] == "outlook:pop3:duplicate_copy"]
    assert [c["timestamp_desc"] for c in copies] == ["Message Delivery Time"] * 2
    assert [c["nid"] for c in copies] == [0x200004 + 64, 0x9004]


def test_iana_zone_with_daylight_saving():
    report, audit, _ = build(
        tags_extra=[
            ("-", datetime(2025, 7, 1, 12, 0, 0), "summer"),
            ("+", datetime(2025, 3, 30, 2, 30, 0), "gap"),  # skipped wall time in Berlin
            ("+", datetime(2025, 10, 26, 2, 30, 0), "twice"),  # repeated wall time
        ]
    )
    events, _ = timeline_events(report, audit, resolve_zone("Europe/Berlin", audit["clock"]))
    by_uid = {e.get("uid"): e for e in events}
    assert by_uid["summer"]["datetime"] == "2025-07-01T12:00:00+02:00"
    assert by_uid["summer"]["timestamp_desc"] == "POP3 Delete Time"
    assert by_uid["00000000ABCD0123"]["datetime"].endswith("+01:00")
    assert "nonexistent" in by_uid["gap"]["zone_note"]
    assert "ambiguous" in by_uid["twice"]["zone_note"]
    assert by_uid["summer"]["zone_note"] is None


def test_undated_and_out_of_range_entries_are_counted_not_written():
    report, audit, _ = build(
        tags_extra=[("+", None, "nodate"), ("+", datetime(1601, 1, 1), "ancient")]
    )
    events, skipped = timeline_events(report, audit, resolve_zone("UTC", None))
    assert skipped == {"undated_entries": 1, "out_of_range": 1}
    assert not {"nodate", "ancient"} & {e.get("uid") for e in events}


def test_default_zone_is_utc_with_its_basis():
    # Outlook writes UTC: without --tz the times are read as UTC and every event says why.
    report, audit, tags = build(offset=0)
    assert audit["clock"]["status"] == "consistent"
    events, _ = timeline_events(report, audit, resolve_zone(None, audit["clock"]))
    history_events = [e for e in events if e["data_type"] == "outlook:pop3:uidl_history"]
    assert history_events[0]["datetime"] == tags[0][1].isoformat() + "+00:00"
    assert {e["time_zone"] for e in history_events} == {"UTC"}
    assert {e["timezone_basis"] for e in history_events} == {audit["clock"]["explanation"]}
    assert "this store confirms it" in audit["clock"]["explanation"]
    copies = [e for e in events if e["data_type"] == "outlook:pop3:duplicate_copy"]
    assert all("PidTagMessageDeliveryTime" in c["timezone_basis"] for c in copies)


def test_default_zone_without_evidence_is_assumed_utc():
    report, audit, tags = build(offset=0)
    thin = run_audit(report.histories, [], [])  # no store messages: nothing to check against
    assert thin["clock"]["status"] == "insufficient_evidence"
    zone = resolve_zone(None, thin["clock"])
    assert zone.label == "UTC" and zone.basis.startswith("UTC assumed")
    with pytest.raises(TimelineError, match="insufficient evidence"):
        resolve_zone("inferred", thin["clock"])


def test_default_zone_follows_the_evidence_on_a_mismatch():
    report, audit, tags = build(offset=-345)
    assert audit["clock"]["status"] == "mismatch"
    zone = resolve_zone(None, audit["clock"])
    assert zone.label == "UTC-05:45" and "clock_mismatch" in zone.basis
    events, _ = timeline_events(report, audit, zone)
    first = next(e for e in events if e["data_type"] == "outlook:pop3:uidl_history")
    assert first["datetime"] == tags[0][1].isoformat() + "-05:45"
    assert resolve_zone("inferred", audit["clock"]).label == "inferred UTC-05:45"
    berlin = resolve_zone("Europe/Berlin", audit["clock"])  # --tz ZONE overrides
    assert berlin.label == "Europe/Berlin" and berlin.basis.endswith("--tz Europe/Berlin")


def test_unknown_zone_refused():
    with pytest.raises(TimelineError, match="not a known IANA"):
        resolve_zone("Mars/Olympus", None)


def test_output_is_stable():
    report, audit, _ = build()
    zone = resolve_zone("UTC", None)
    assert to_jsonl(timeline_events(report, audit, zone)[0]) == to_jsonl(
        timeline_events(report, audit, zone)[0]
    )


def test_csv_columns_and_neutralisation():
    report, audit, _ = build(
        tags_extra=[
            ("+", datetime(2025, 3, 9, 9), "=HYPERLINK(1)"),
            ("+", datetime(2025, 3, 9, 10), "-2d-uid"),
        ]
    )
    events, _ = timeline_events(report, audit, resolve_zone("UTC", None))
    text, changed = to_timeline_csv(events)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert changed == 2
    uids = {r["uid"] for r in rows}
    assert "'=HYPERLINK(1)" in uids and "'-2d-uid" in uids
    assert all(not r[c].startswith(("=", "+", "-", "@")) for r in rows for c in CSV_COLUMNS)
    for row in rows:
        assert ISO_WITH_OFFSET.match(row["datetime"])
    assert (
        datetime.fromisoformat(rows[0]["datetime"]) - datetime.fromisoformat(rows[-1]["datetime"])
    ) <= timedelta(0)
