"""Recovered entries in the audit: per account, in the timeline (marked), cited by
history_reset, and on the HTML chart in their own colour."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from uidl_inspector.cli import app
from uidl_inspector.report.timeline import RECOVERED_SUFFIX
from uidl_inspector.synth.scenarios import scenario
from uidl_inspector.synth.truth import write_evidence


@pytest.fixture(scope="module")
def deleted(tmp_path_factory):
    return write_evidence(
        tmp_path_factory.mktemp("dm"), scenario("deleted-manager"), encoding="permute"
    )


@pytest.fixture(scope="module")
def evolving(tmp_path_factory):
    return write_evidence(tmp_path_factory.mktemp("ev"), scenario("evolving"), encoding="cyclic")


def _audit(evidence, *extra):
    listing = next(iter(evidence.listings.values()))
    result = CliRunner().invoke(
        app, ["audit", str(evidence.store), "--server-uidl", str(listing), *extra]
    )
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_history_reset_cites_the_recovered_version(deleted) -> None:
    report = json.loads(_audit(deleted, "-f", "json"))
    [old] = [m for m in scenario("deleted-manager").managers if m.deleted]
    old_uids = {t.uid for t in old.histories[0].tags}
    [reset] = [f for f in report["audit"]["findings"] if f["code"] == "history_reset"]
    [cited] = reset["evidence"]["recovered_versions"]
    blob = next(r for r in report["recovered"] if r["kind"] == "blob")
    assert (cited["offset"], cited["entries"]) == (blob["offset"], len(old_uids))
    assert cited["lost_before_start"] == len(old_uids)
    [account] = report["audit"]["recovered"]
    assert account["account"] == "s.ivanova@example.org"
    assert {e["uid"] for e in account["lost_entries"]} == old_uids


def test_no_recover_leaves_the_audit_without_them(deleted) -> None:
    report = json.loads(_audit(deleted, "-f", "json", "--no-recover"))
    assert "recovered" not in report and report["audit"]["recovered"] == []
    [reset] = [f for f in report["audit"]["findings"] if f["code"] == "history_reset"]
    assert "recovered_versions" not in reset["evidence"]


def test_timeline_marks_recovered_events(evolving) -> None:
    report = json.loads(_audit(evolving, "-f", "json"))
    lost = [(e["offset"], e["uid"]) for r in report["recovered"] for e in r["lost_entries"]]
    assert lost
    events = [
        json.loads(line) for line in _audit(evolving, "-f", "jsonl", "--tz", "UTC").splitlines()
    ]
    marked = [e for e in events if e.get("recovered")]
    assert sorted((e["offset"], e["uid"]) for e in marked) == sorted(lost)
    assert all(e["timestamp_desc"].endswith(RECOVERED_SUFFIX) for e in marked)
    assert not any(
        e["timestamp_desc"].endswith(RECOVERED_SUFFIX) for e in events if not e.get("recovered")
    )


def test_html_shows_recovered_bars_and_table(evolving) -> None:
    html = _audit(evolving, "-f", "html")
    assert 'class="bar-recovered"' in html and "#8250df" in html
    assert '<table id="recovered">' in html


def test_html_without_recovery_has_no_recovered_series(deleted) -> None:
    html = _audit(deleted, "-f", "html", "--no-recover")
    assert 'class="bar-recovered"' not in html and 'id="recovered-none"' in html
