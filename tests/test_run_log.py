"""The processing log (--log-file, -v, -q): what it records, what it must never hold, and
the evidence rules it obeys (no clobbering without --force, never over an input)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from uidl_inspector.audit import read_server_listing
from uidl_inspector.cli import app
from uidl_inspector.history import build_blob
from uidl_inspector.synth.scenarios import scenario
from uidl_inspector.synth.truth import write_evidence

runner = CliRunner()
LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR) \S+: ")


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("runlog")
    found = {}
    for name in ("duplicates", "anomalous", "multi-account"):
        written = write_evidence(out, scenario(name, seed=3, messages=30))
        found[name] = written.store
        found[f"{name}.listing"] = next(iter(written.listings.values()))
    return found


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def evidence_strings(report: dict) -> set[str]:
    """UIDs and message texts the report holds: the log must hold none of them."""
    found = set()
    for history in report["histories"]:
        for entry in history["entries"]:
            found.update(v for v in (entry["uid"], entry["raw_uid"]) if v and len(v) >= 6)
        found.update(v for v in (history["location"]["subject"],) if v)
    for manager in report.get("message_managers", []):
        if manager["subject"]:
            found.add(manager["subject"])
    return found


def test_scan_log_records_inputs_steps_errors_and_exit_code(stores, tmp_path):
    log, out = tmp_path / "scan.log", tmp_path / "scan.json"
    missing = tmp_path / "gone.pst"
    result = run(
        "scan",
        stores["duplicates"],
        stores["anomalous"],
        missing,
        "-f",
        "json",
        "-o",
        out,
        "--log-file",
        log,
    )
    assert result.exit_code == 1
    text = log.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines and all(LINE.match(line) for line in lines), text
    report = json.loads(out.read_text())
    for source in report["sources"]:
        if source["size"]:
            assert (
                f"input {source['path']}: {source['kind']}, {source['size']} bytes, "
                f"sha256 {source['sha256']}, md5 {source['md5']}"
            ) in text
    for store in (stores["duplicates"], stores["anomalous"]):
        assert re.search(rf"scan {re.escape(str(store))}: done in \d+\.\d{{3}} s", text)
        assert re.search(rf"scan {re.escape(str(store))}: \d+ histories", text)
    assert re.search(r"anomalies: \w+ x\d", text)  # the anomalous store's codes
    assert "DEBUG" not in text
    assert f"ERROR cli.common: {missing}" in text  # the error, with its input
    assert "scan run started:" in lines[0] and "libpff" in lines[1]
    assert re.search(r"scan run finished in \d+\.\d{3} s, exit code 1$", lines[-1])
    secrets = evidence_strings(report)
    assert len(secrets) > 10  # the report does hold UIDs and subjects...
    leaked = [s for s in secrets if s in text]
    assert leaked == []  # ...and the log none of them


def test_audit_log_has_each_step_and_the_listing(stores, tmp_path):
    log = tmp_path / "audit.log"
    result = run(
        "audit",
        stores["duplicates"],
        "--server-uidl",
        stores["duplicates.listing"],
        "-f",
        "json",
        "-o",
        tmp_path / "a.json",
        "--log-file",
        log,
    )
    assert result.exit_code == 0, result.stderr
    text = log.read_text(encoding="utf-8")
    for step in ("scan", f"inventory {stores['duplicates']}", "audit"):
        assert re.search(rf"INFO \S+: {re.escape(step)}: done in \d+\.\d{{3}} s", text), step
    assert re.search(
        rf"input {re.escape(str(stores['duplicates.listing']))}: server listing, "
        r"\d+ bytes, sha256 [0-9a-f]{64}",
        text,
    )
    assert re.search(r"audit: \d+ entries, \d+ messages, \d+ duplicate groups, findings: ", text)
    report = json.loads((tmp_path / "a.json").read_text())
    assert [s for s in evidence_strings(report) if s in text] == []
    listing_uids = read_server_listing(stores["duplicates.listing"]).uids
    assert len(listing_uids) > 10 and not [u for u in listing_uids if u in text]


@pytest.mark.parametrize("command", ["blob", "hidden", "synth"])
def test_every_command_writes_a_log(command, stores, tmp_path):
    log = tmp_path / f"{command}.log"
    blob = tmp_path / "h.blob"
    blob.write_bytes(build_blob([("+", "b", "20250303101010", "secret-uid-1")]))
    args = {
        "blob": ["blob", blob, "-f", "json"],
        "hidden": ["hidden", stores["duplicates"], "-f", "json"],
        "synth": ["synth", tmp_path / "out", "--scenario", "single-account"],
    }[command]
    result = run(*args, "--log-file", log)
    assert result.exit_code == 0, result.stderr
    text = log.read_text(encoding="utf-8")
    assert f"{command} run started" in text and text.rstrip().endswith("exit code 0")
    assert "secret-uid-1" not in text
    if command != "synth":
        assert re.search(r"input \S+: \w+, \d+ bytes, sha256 [0-9a-f]{64}", text)


def test_existing_log_kept_without_force_and_never_over_an_input(stores, tmp_path):
    log = tmp_path / "kept.log"
    log.write_text("earlier case notes\n")
    result = run("scan", stores["duplicates"], "-f", "json", "--log-file", log)
    assert result.exit_code == 1 and "exists (use --force" in result.stderr
    assert result.stdout == ""  # refused before any work
    assert log.read_text() == "earlier case notes\n"
    forced = run("scan", stores["duplicates"], "-f", "json", "--log-file", log, "--force")
    assert forced.exit_code == 0 and "scan run started" in log.read_text()
    before = stores["anomalous"].read_bytes()
    over = run(
        "scan", stores["anomalous"], "-f", "json", "--log-file", stores["anomalous"], "--force"
    )
    assert over.exit_code == 1 and "over an input" in over.stderr
    assert stores["anomalous"].read_bytes() == before
    same = run(
        "scan",
        stores["duplicates"],
        "-f",
        "json",
        "-o",
        tmp_path / "one",
        "--log-file",
        tmp_path / "one",
    )
    assert same.exit_code == 2 and not (tmp_path / "one").exists()
    listing = stores["duplicates.listing"]
    kept = listing.read_bytes()
    over = run(
        "audit",
        stores["duplicates"],
        "--server-uidl",
        f"acct={listing}",
        "-f",
        "json",
        "--log-file",
        listing,
        "--force",
    )
    assert over.exit_code == 1 and listing.read_bytes() == kept


def test_hostile_path_cannot_forge_log_lines(tmp_path):
    evil = tmp_path / "evil\n2099-01-01T00:00:00.000Z INFO forged: all clear\x1b[2J.blob"
    evil.write_bytes(build_blob([("+", "b", "20250303101010", "uid-x")]))
    log = tmp_path / "evil.log"
    result = run("blob", evil, "-f", "json", "--log-file", log)
    assert result.exit_code == 0
    lines = log.read_text().splitlines()
    assert all(LINE.match(line) for line in lines)
    assert not any(line.startswith("2099") for line in lines)
    assert "\x1b" not in log.read_text() and "\\x0a2099" in log.read_text()


def test_verbose_shows_the_log_and_quiet_hides_notes(tmp_path):
    blob = tmp_path / "h.blob"
    blob.write_bytes(build_blob([("+", "b", "20250303101010", "uid-v")]))
    missing = tmp_path / "missing.blob"
    verbose = run("blob", blob, missing, "-f", "json", "-v")
    assert verbose.exit_code == 1
    assert "uidl-inspector: info: blob run started" in verbose.stderr
    assert verbose.stderr.count(str(missing)) == 1  # an error is shown once, not twice
    assert "debug:" not in verbose.stderr
    assert "uidl-inspector: debug: " in run("scan", blob, "-f", "json", "-vv").stderr
    demo = run("scan", "-f", "json")
    assert "demo:" in demo.stderr
    quiet = run("scan", "-f", "json", "-q")
    assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout
    both = run("scan", "-q", "-v")
    assert both.exit_code == 2 and "exclude each other" in both.stderr


def test_debug_log_lists_each_anomaly_by_code_and_offset(stores, tmp_path):
    log, out = tmp_path / "debug.log", tmp_path / "debug.json"
    result = run("scan", stores["anomalous"], "-f", "json", "-o", out, "--log-file", log, "-vv")
    assert result.exit_code == 0
    text = log.read_text(encoding="utf-8")
    report = json.loads(out.read_text())
    anomalies = [a for h in report["histories"] for a in h["anomalies"]]
    assert anomalies
    for anomaly in anomalies:
        assert f"{anomaly['code']} at offset {anomaly['offset']}" in text
        assert anomaly["detail"] not in text
    assert [s for s in evidence_strings(report) if s in text] == []


@pytest.mark.parametrize("command", ["scan", "hidden", "audit", "carve"])
def test_a_refused_report_target_costs_no_run(command, stores, tmp_path, monkeypatch):
    """An existing -o without --force is refused before any input is opened, not after
    the whole run (a long scan would otherwise be lost at its end)."""
    import uidl_inspector.pipeline as pipeline
    import uidl_inspector.recover.carve as carving

    def no_work(*args, **kwargs):
        raise AssertionError("the inputs were read before the output was checked")

    for name in ("scan_evidence", "hidden_evidence", "audit_report"):
        monkeypatch.setattr(pipeline, name, no_work)
    monkeypatch.setattr(carving, "carve", no_work)
    monkeypatch.setattr("uidl_inspector.cli.hidden.hidden_evidence", no_work)
    out = tmp_path / "kept.json"
    out.write_text("an earlier report\n")
    result = run(command, stores["duplicates"], "-f", "json", "-o", out)
    assert result.exit_code == 1, result.output
    assert "exists (use --force" in result.stderr
    assert out.read_text() == "an earlier report\n"
    over = run(command, stores["duplicates"], "-f", "json", "-o", stores["duplicates"], "--force")
    assert over.exit_code == 1 and "over an input" in over.stderr
