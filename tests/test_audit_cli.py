"""`uidl-inspector audit` end to end: demo, formats, determinism, no overwrite, errors."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from typer.testing import CliRunner

from uidl_inspector.cli import app
from uidl_inspector.synth.scenarios import scenario
from uidl_inspector.synth.truth import write_evidence

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, ["audit", *map(str, args)])


@pytest.fixture(scope="module")
def dup_store(tmp_path_factory):
    out = tmp_path_factory.mktemp("audit-cli")
    # Written on a clock 90 minutes ahead of UTC: not as Outlook writes (clock_mismatch).
    return write_evidence(out, scenario("duplicates", seed=5, clock_offset=90))


def stable(document):
    return {k: v for k, v in document.items() if k not in ("run", "generated_at")}


def test_demo_is_announced_and_audited():
    result = invoke("--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "demo: auditing the bundled demo evidence" in result.stderr
    report = json.loads(result.stdout)
    assert report["demo"] is True
    audit = report["audit"]
    assert [f["code"] for f in audit["findings"]] == ["history_reset"]
    assert audit["accounts"][0]["server"]["listing"].endswith("demo.uidl.txt")
    assert audit["clock"]["status"] == "consistent"  # the demo's history is UTC, as Outlook's
    assert set(report["run"]) >= {"command_line", "started_at", "finished_at", "run_id"}
    assert report["tool"]["name"] == "uidl-inspector"


def test_json_identical_for_identical_input_except_run(dup_store):
    listing = next(iter(dup_store.listings.values()))
    one = invoke(dup_store.store, "--server-uidl", listing, "-f", "json")
    two = invoke(dup_store.store, "--server-uidl", listing, "-f", "json")
    assert one.exit_code == two.exit_code == 0
    a, b = json.loads(one.stdout), json.loads(two.stdout)
    assert a["run"]["run_id"] != b["run"]["run_id"]
    assert stable(a) == stable(b)
    assert a["audit"]["accounts"][0]["server"]["counts"]["new"] == 2
    assert a["demo"] is False


@pytest.mark.parametrize("fmt", ["jsonl", "timeline-csv", "html", "csv", "table"])
def test_other_formats_identical_except_run(dup_store, fmt, tmp_path):
    texts = []
    for n in range(2):
        out = tmp_path / f"{n}.out"
        result = invoke(dup_store.store, "-f", fmt, "--tz", "inferred", "-o", out)
        assert result.exit_code == 0, result.stderr
        text = out.read_text(encoding="utf-8")
        run_id = re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text)
        if fmt == "table":
            assert run_id is None
        else:
            assert run_id, "run metadata missing"
        texts.append(text)
    if fmt in ("jsonl", "timeline-csv", "csv"):
        # the run's own line (after the CSV header) is the only one that differs
        skip = 1 if fmt == "jsonl" else 2
        one, two = (t.splitlines() for t in texts)
        assert one[skip - 1] != two[skip - 1]
        assert one[skip:] == two[skip:] and len(one) > skip + 10
    elif fmt == "html":
        masked = [
            re.sub(
                r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00|[0-9a-f-]{36}|uidl-inspector audit .*?<", "X", t
            )
            for t in texts
        ]
        assert masked[0] == masked[1]
    else:
        assert texts[0] == texts[1]


def test_jsonl_events(dup_store):
    result = invoke(dup_store.store, "-f", "jsonl", "--tz", "inferred")
    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[0]["data_type"] == "uidl_inspector:run"
    history = [e for e in events if e["data_type"] == "outlook:pop3:uidl_history"]
    copies = [e for e in events if e["data_type"] == "outlook:pop3:duplicate_copy"]
    truth = dup_store.document
    assert len(history) == len(truth["histories"][0]["entries"])
    assert len(copies) == sum(len(g["copies"]) for g in truth["expected"]["duplicates"])
    assert all(e["datetime"].endswith("+01:30") for e in history)
    assert all(e["time_zone"] == "inferred UTC+01:30" for e in history)


def test_timeline_without_zone_reads_as_the_audit_does(dup_store):
    # No --tz: UTC unless the evidence says otherwise; here it says +01:30, and each event
    # says so.
    result = invoke(dup_store.store, "-f", "jsonl")
    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    history = [e for e in events if e["data_type"] == "outlook:pop3:uidl_history"]
    assert history and all(e["datetime"].endswith("+01:30") for e in history)
    assert all(e["time_zone"] == "UTC+01:30" for e in history)
    assert all("clock_mismatch" in e["timezone_basis"] for e in history)
    bad = invoke(dup_store.store, "-f", "timeline-csv", "--tz", "Nowhere/Atlantis")
    assert bad.exit_code == 2 and "not a known IANA" in bad.stderr


def test_inferred_zone_refused_without_evidence(tmp_path):
    from uidl_inspector.history import build_blob

    blob = tmp_path / "h.blob"
    blob.write_bytes(build_blob([("+", "b", "20250303101010", "uid1")]))
    result = invoke(blob, "-f", "jsonl", "--tz", "inferred")
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "insufficient evidence" in result.stderr
    ok = invoke(blob, "-f", "jsonl", "--tz", "UTC")
    assert ok.exit_code == 0
    assert json.loads(ok.stdout.splitlines()[1])["datetime"] == "2025-03-03T10:10:10+00:00"
    assumed = invoke(blob, "-f", "jsonl")  # no store to check against: UTC assumed
    assert assumed.exit_code == 0, assumed.stderr
    event = json.loads(assumed.stdout.splitlines()[1])
    assert event["datetime"] == "2025-03-03T10:10:10+00:00" and event["time_zone"] == "UTC"
    assert event["timezone_basis"].startswith("UTC assumed")


def test_never_overwrites_without_force(dup_store, tmp_path):
    out = tmp_path / "report.html"
    out.write_text("keep me")
    result = invoke(dup_store.store, "-f", "html", "-o", out)
    assert result.exit_code == 1 and "exists" in result.stderr
    assert out.read_text() == "keep me"
    forced = invoke(dup_store.store, "-f", "html", "-o", out, "--force")
    assert forced.exit_code == 0
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_bad_input_reported_others_audited(dup_store, tmp_path):
    bad = tmp_path / "cut.pst"
    bad.write_bytes(dup_store.store.read_bytes()[:700])
    result = invoke(bad, dup_store.store, "-f", "json")
    assert result.exit_code == 1
    assert "cut.pst" in result.stderr and "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert [f["code"] for f in report["audit"]["findings"]] == ["history_reset", "clock_mismatch"]


def test_listing_errors_and_named_account(dup_store, tmp_path):
    missing = invoke(dup_store.store, "--server-uidl", tmp_path / "nope.txt", "-f", "json")
    assert missing.exit_code == 1 and "nope.txt" in missing.stderr
    assert "Traceback" not in missing.stderr
    hostile = tmp_path / "list.txt"
    hostile.write_text('+OK\r\n1 =HYPERLINK("x")\r\n2 -2d\r\n.\r\n')
    result = invoke(
        dup_store.store, "--server-uidl", f"claims@insurer.example={hostile}", "-f", "csv"
    )
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    new = [r for r in rows if r["kind"] == "new"]
    assert [r["uid"] for r in new] == ['\'=HYPERLINK("x")', "'-2d"]
    assert all(r["neutralised"] == "uid" for r in new)
    assert rows[0]["section"] == "run"
    as_json = json.loads(
        invoke(
            dup_store.store, "--server-uidl", f"claims@insurer.example={hostile}", "-f", "json"
        ).stdout
    )
    assert as_json["audit"]["listings"][0]["matched_by"] == "named"
    assert as_json["audit"]["accounts"][0]["server"]["new"] == ['=HYPERLINK("x")', "-2d"]
