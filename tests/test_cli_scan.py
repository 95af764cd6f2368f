"""`scan` and `hidden` end to end: synthetic truth, real stores against libpff, damage."""

from __future__ import annotations

import json
from pathlib import Path

import pypff
import pytest
from typer.testing import CliRunner

from conftest import REAL_PSTS, SAMPLES
from libpff_oracle import hidden_messages
from uidl_inspector.cli import app
from uidl_inspector.pipeline import scan_evidence
from uidl_inspector.synth.scenarios import GENERAL_KEY, SCENARIOS, ManagerSpec, scenario
from uidl_inspector.synth.truth import write_evidence

VARIANTS = ("unicode", "ansi")
ENCODINGS = ("none", "permute", "cyclic")
MATRIX = [(s, v, e) for s in SCENARIOS for v in VARIANTS for e in ENCODINGS]

runner = CliRunner()


def _invoke(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """Every scenario x variant x encoding, small, with its truth and MSG exports."""
    out = tmp_path_factory.mktemp("synthetic")
    for name, variant, encoding in MATRIX:
        write_evidence(
            out, scenario(name, seed=7, messages=40), variant=variant, encoding=encoding, msg=True
        )
    return out


def _key(record: dict) -> tuple:
    loc = record["location"]
    return (loc["message_nid"] or 0, loc["embedded_path"], loc["attachment_index"])


def _as_truth(record: dict, truth: dict) -> dict:
    """Our record with anomalies reduced to the keys the truth states (code, offset)."""
    out = dict(record)
    keys = {k for a in truth["anomalies"] for k in a} or {"code", "offset"}
    out["anomalies"] = [{k: a[k] for k in keys} for a in record["anomalies"]]
    return out


@pytest.mark.parametrize(("name", "variant", "encoding"), MATRIX, ids=["-".join(m) for m in MATRIX])
def test_scan_equals_truth(synthetic, name, variant, encoding):
    stem = f"{name}-{variant}-{encoding}"
    store = synthetic / f"{stem}.pst"
    truth = json.loads((synthetic / f"{stem}.truth.json").read_text())
    outcome = scan_evidence([str(store)])
    assert outcome.failed == []
    [source] = outcome.report.to_dict()["sources"]
    assert (source["kind"], source["variant"], source["encryption"]) == ("pst", variant, encoding)
    ours = sorted((h.to_dict() for h in outcome.report.histories), key=_key)
    expected = sorted(truth["histories"], key=_key)
    assert len(ours) == len(expected)
    for mine, want in zip(ours, expected, strict=True):
        mine["source"] = want["source"]  # the truth names the store by its file name
        assert _as_truth(mine, want) == want


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_msg_export_yields_the_store_history(synthetic, name):
    stem = f"{name}-unicode-none"
    msgs = sorted(synthetic.glob(f"{stem}.manager-*.msg"))
    if not msgs:
        pytest.skip(f"scenario {name} exports no Message Manager")
    from_store = scan_evidence([str(synthetic / f"{stem}.pst")]).report.histories
    from_msgs = [h for m in msgs for h in scan_evidence([str(m)]).report.histories]
    assert from_msgs

    def essence(record):
        loc = record.location
        return (
            record.blob,
            record.account,
            record.profile,
            loc.subject,
            loc.message_class,
            loc.attachment_index,
            loc.attachment_name,
            loc.match_rule,
            loc.attachment_rule,
            loc.embedded_path,
            [e.to_dict() for e in record.history.entries],
        )

    store_set = [essence(h) for h in from_store]
    for record in from_msgs:
        assert record.location.message_nid is None and record.location.folder is None
        assert essence(record) in store_set


@pytest.mark.parametrize("path", REAL_PSTS, ids=lambda p: p.name)
def test_hidden_equals_pypff_on_real_stores(path):
    result = _invoke("hidden", str(path), "--format", "json")
    assert result.exit_code == 0, result.output
    ours = json.loads(result.stdout)["hidden"]

    handle = pypff.file()
    handle.open(str(path))
    try:
        theirs, stack, seen = [], [handle.get_root_folder()], set()
        while stack:
            folder = stack.pop()
            if folder.identifier in seen:
                continue
            seen.add(folder.identifier)
            for item in folder.sub_items:
                if item.identifier & 0x1F == 8:
                    entry = item.get_record_set(0).get_entry_by_type(0x001A)
                    cls = entry.data.decode(
                        "utf-16-le" if entry.value_type == 0x1F else "cp1252"
                    ).rstrip("\0")
                    theirs.append((item.identifier, cls))
            stack.extend(folder.sub_folders)
    finally:
        handle.close()
    assert sorted((r["nid"], r["message_class"]) for r in ours) == sorted(theirs)


@pytest.mark.parametrize("path", REAL_PSTS, ids=lambda p: p.name)
def test_hidden_attachments_equal_libpff_c_api(path):
    ours = json.loads(_invoke("hidden", str(path), "--format", "json").stdout)["hidden"]
    oracle = {m.nid: m for m in hidden_messages(path)}
    assert sorted(oracle) == sorted(r["nid"] for r in ours)
    for row in ours:
        assert len(row["attachments"]) == len(oracle[row["nid"]].attachments)


def test_verify_agrees_with_libpff(synthetic):
    store = synthetic / "multi-account-ansi-cyclic.pst"
    result = _invoke("scan", str(store), "--verify", "--format", "json")
    assert result.exit_code == 0, result.output
    [check] = json.loads(result.stdout)["cross_check"]
    assert check["engine"] == f"libpff {pypff.get_version()}"
    assert check["agreed"] >= 2
    assert (check["disagreements"], check["only_ours"], check["only_libpff"]) == ([], [], [])


def test_verify_reports_disagreements(monkeypatch, synthetic):
    import uidl_inspector.crosscheck as verify
    import uidl_inspector.workers as workers

    real = verify.libpff_hidden

    def altered(path, codec="cp1252", errors=None):
        rows = real(path, codec, errors)
        rows[0]["subject"] = "changed"
        return (
            rows[1:]
            + [rows[0]]
            + [
                {
                    "nid": 0x7777,
                    "folder": "x",
                    "message_class": "y",
                    "subject": None,
                    "conversation_key": None,
                    "search_key": None,
                }
            ]
        )

    monkeypatch.setattr(verify, "libpff_hidden", altered)
    # --verify runs libpff out of process; the altered reader exists in this one only
    monkeypatch.setattr(workers, "runs_here", lambda *args: True)
    store = synthetic / "single-account-unicode-none.pst"
    [check] = json.loads(_invoke("scan", str(store), "--verify", "--format", "json").stdout)[
        "cross_check"
    ]
    assert [d["field"] for d in check["disagreements"]] == ["subject"]
    assert check["disagreements"][0]["libpff"] == "changed"
    assert [r["nid"] for r in check["only_libpff"]] == [0x7777]


def test_demo_is_said(tmp_path):
    result = _invoke("scan", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["demo"] is True
    assert "demo" in result.stderr.splitlines()[0]
    assert len(result.stderr.splitlines()) == 1
    assert report["histories"] and report["sources"][0]["path"].endswith(
        ("demo.pst", "demo-history.blob")
    )


def test_bad_inputs_do_not_stop_the_others(synthetic, tmp_path):
    good = synthetic / "single-account-unicode-permute.pst"
    data = good.read_bytes()
    truncated = tmp_path / "truncated.pst"
    truncated.write_bytes(data[:600])
    halved = tmp_path / "halved.pst"
    halved.write_bytes(data[: len(data) // 2])
    scrambled = tmp_path / "scrambled.pst"
    damaged = bytearray(data)
    damaged[0x4400:0x8400] = b"\xa5" * 0x4000
    scrambled.write_bytes(bytes(damaged))
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not evidence\n")
    paths = [truncated, halved, scrambled, garbage, tmp_path / "missing.pst", good]
    result = _invoke("scan", *map(str, paths), "--format", "json")
    assert result.exit_code == 1
    assert "Traceback" not in result.output + result.stderr
    report = json.loads(result.stdout)
    assert [Path(s["path"]).name for s in report["sources"]] == [p.name for p in paths]
    errors = result.stderr.strip().splitlines()
    for source in report["sources"]:
        for error in source["errors"]:
            assert "\n" not in error
            assert any(error in line for line in errors)
    by_name = {Path(s["path"]).name: s for s in report["sources"]}
    assert by_name["truncated.pst"]["errors"] and by_name["notes.txt"]["errors"]
    assert by_name["missing.pst"]["errors"]
    for name in ("halved.pst", "scrambled.pst"):  # an error, or a partial read with findings
        assert (
            by_name[name]["errors"]
            or by_name[name].get("findings")
            or any(h["source"].endswith(name) for h in report["histories"])
        )
    assert by_name[good.name]["errors"] == []
    assert any(h["source"] == str(good) for h in report["histories"])


def test_directory_scan_and_output_file(synthetic, tmp_path):
    out = tmp_path / "report.json"
    result = _invoke("scan", str(synthetic), "--format", "json", "--output", str(out))
    assert result.exit_code == 0, result.stderr
    report = json.loads(out.read_text())
    kinds = {s["kind"] for s in report["sources"]}
    assert kinds == {"pst", "msg"}  # truth and listing files are skipped
    again = _invoke("scan", str(synthetic), "--format", "json", "--output", str(out))
    assert again.exit_code == 1 and "exists" in again.stderr
    forced = _invoke("scan", str(synthetic), "--format", "csv", "--output", str(out), "--force")
    assert forced.exit_code == 0
    assert out.read_text().startswith("source,")


def test_formats_and_strict(synthetic):
    store = synthetic / "anomalous-unicode-none.pst"
    table = _invoke("scan", str(store), "--format", "table")
    assert table.exit_code == 0 and "user1@broken.example" in table.stdout
    csv_out = _invoke("scan", str(store), "--format", "csv").stdout
    header = csv_out.splitlines()[0].split(",")
    assert {"source", "folder", "match_rule", "attachment_rule", "uid"} <= set(header)
    strict = _invoke("scan", str(store), "--strict", "--format", "json")
    assert strict.exit_code == 1 and "strict:" in strict.stderr
    clean = _invoke(
        "scan", str(synthetic / "single-account-unicode-none.pst"), "--strict", "--format", "json"
    )
    assert clean.exit_code == 0
    assert _invoke("scan", "--format", "xml").exit_code == 2


@pytest.mark.parametrize("stem", ["multi-account-unicode-none", "multi-account-ansi-cyclic"])
def test_hidden_row_of_an_exported_msg_is_the_stores_row(synthetic, stem):
    exported = json.loads((synthetic / f"{stem}.truth.json").read_text())["files"]["msg"]
    assert exported
    paths = [str(synthetic / f"{stem}.pst"), *(str(synthetic / e["file"]) for e in exported)]
    result = _invoke("hidden", *paths, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [s["kind"] for s in data["sources"]] == ["pst"] + ["msg"] * len(exported)
    rows = {(r["source"], r["nid"]): r for r in data["hidden"]}
    for entry, source in zip(exported, data["sources"][1:], strict=True):
        from_msg = rows.pop((source["path"], None))
        from_store = rows[(data["sources"][0]["path"], entry["message_nid"])]
        assert from_msg["folder"] is None and from_msg["attachments"]
        same = ("message_class", "subject", "conversation_key", "search_key", "attachments")
        assert _without_nids({k: from_msg[k] for k in same}) == _without_nids(
            {k: from_store[k] for k in same}
        )


def test_hidden_reads_an_msg_only_when_named(synthetic, tmp_path):
    """In a directory, MSG files are mostly ordinary mail: hidden lists the stores there,
    and an MSG only when the analyst names it."""
    import shutil

    stem = "multi-account-unicode-none"
    [exported] = json.loads((synthetic / f"{stem}.truth.json").read_text())["files"]["msg"][:1]
    folder = tmp_path / "evidence"
    folder.mkdir()
    shutil.copy(synthetic / f"{stem}.pst", folder / "box.pst")
    shutil.copy(synthetic / exported["file"], folder / "mgr.msg")
    walked = json.loads(_invoke("hidden", str(folder), "--format", "json").stdout)
    assert [s["kind"] for s in walked["sources"]] == ["pst"]
    named = json.loads(_invoke("hidden", str(folder / "mgr.msg"), "--format", "json").stdout)
    assert [s["kind"] for s in named["sources"]] == ["msg"] and len(named["hidden"]) == 1


def _without_nids(value):
    """A hidden row without its NIDs, which only a store has."""
    if isinstance(value, list):
        return [_without_nids(v) for v in value]
    if isinstance(value, dict):
        return {k: _without_nids(v) for k, v in value.items() if k != "nid"}
    return value


def test_hidden_rejects_non_stores(tmp_path):
    other = tmp_path / "x.bin"
    other.write_bytes(b"\x03\x00\x00\x00")
    result = _invoke("hidden", str(other))
    assert result.exit_code == 1 and result.stderr.count("\n") == 1


def test_samples_demo_is_where_demo_py_looks():
    from uidl_inspector.synth.demo import demo_path

    found = demo_path()
    assert found is not None and found.parent.resolve() == SAMPLES.resolve()


def test_verify_survives_what_libpff_cannot_read(tmp_path):
    # one byte of a node's data changed: pypff raises MemoryError ("unable to create sub
    # item object") for that item; the cross-check records it and goes on (fuzzer finding)
    data = bytearray((SAMPLES / "synthetic" / "embedded-ansi-permute.pst").read_bytes())
    data[0x82C0] = 221
    damaged = tmp_path / "damaged.pst"
    damaged.write_bytes(bytes(data))
    result = _invoke("scan", str(damaged), "--verify", "--format", "json")
    assert "Traceback" not in result.output + result.stderr
    [check] = json.loads(result.stdout)["cross_check"]
    assert check.get("libpff_errors") or check.get("error")
    assert all("\n" not in line for line in check.get("libpff_errors", []))


def test_a_written_manager_without_history_is_reported_as_truth_says(tmp_path):
    """End to end: a store (and its MSG export) holding a General Key manager with no
    attachment, next to a normal one; libpff sees the same empty manager."""
    story = scenario("single-account", seed=7, messages=20)
    story.managers.append(ManagerSpec(GENERAL_KEY, (), ("conversation_key", "subject")))
    written = write_evidence(tmp_path, story, variant="unicode", encoding="none", msg=True)
    truth = json.loads(written.truth_file.read_text())
    outcome = scan_evidence([str(written.store)])
    ours = sorted((h.to_dict() for h in outcome.report.histories), key=_key)
    expected = sorted(truth["histories"], key=_key)
    assert [h["blob"] is None for h in expected] == [False, True]
    for mine, want in zip(ours, expected, strict=True):
        mine["source"] = want["source"]
        assert _as_truth(mine, want) == want
    empty = next(h for h in outcome.report.histories if h.blob is None)
    [oracle] = [m for m in hidden_messages(written.store) if m.nid == empty.location.message_nid]
    assert (oracle.message_class, oracle.attachments) == ("IPM.MessageManager", ())
    from_msg = [
        h for m in written.msgs for h in scan_evidence([str(m)]).report.histories if h.blob is None
    ]
    assert [(h.profile, h.location.match_rule) for h in from_msg] == [
        (empty.profile, empty.location.match_rule)
    ]
    strict = _invoke("scan", str(written.store), "--strict", "--format", "json")
    assert strict.exit_code == 0, strict.stderr  # no_history_attachment is info


def test_progress_keeps_one_line_per_step_on_a_terminal(monkeypatch) -> None:
    """Hashing runs beside reading and recovery: each step keeps a line of its own (its
    text without the numbers), the latest three shown; nothing off a terminal."""
    import io
    import sys

    import rich.progress

    from uidl_inspector.cli.scan import progress_on_stderr

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    class Display:  # records what rich's Progress would show
        def __init__(self, *columns, **options) -> None:
            self.lines: dict[int, str] = {}
            self.added = 0

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            pass

        def add_task(self, description: str, total=None) -> int:
            self.added += 1
            self.lines[self.added] = description
            return self.added

        def update(self, task: int, description: str) -> None:
            self.lines[task] = description

        def remove_task(self, task: int) -> None:
            del self.lines[task]

    shown: list[Display] = []
    monkeypatch.setattr(
        rich.progress, "Progress", lambda *a, **k: shown.append(Display()) or shown[-1]
    )
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with progress_on_stderr() as show:
        assert show is None  # not a terminal
    monkeypatch.setattr(sys, "stderr", Terminal())
    with progress_on_stderr() as show:
        assert show is not None
        show(5)
        show("x.pst: hashing, 1 of 215 MiB")
        show("x.pst: hashing, 2 of 215 MiB")
        show(6)
        assert sorted(shown[0].lines.values()) == [
            "6 messages examined",
            "x.pst: hashing, 2 of 215 MiB",
        ]
        show("x.pst: looking for earlier histories in free space, 0 of 1 MiB")
        show(12, 40, "messages read")
        assert sorted(shown[0].lines.values()) == [
            "12 of 40 messages read",
            "x.pst: hashing, 2 of 215 MiB",
            "x.pst: looking for earlier histories in free space, 0 of 1 MiB",
        ]  # the oldest step (messages examined) made room


def test_hidden_table_text_keeps_the_evidence_text(tmp_path):
    """The table written as text shows a subject as stored: no ``:name:`` becomes an emoji."""
    from uidl_inspector.schemas.mapi import PropType as T
    from uidl_inspector.synth.pst_writer import MessageSpec, Prop, StoreSpec, write_pst

    spec = StoreSpec()
    inbox = next(f for f in spec.folders if f.name == "Inbox")
    subject = "Outlook :smile: :thumbs_up:"
    inbox.associated.append(
        MessageSpec({0x1A: Prop(T.UNICODE, "IPM.Note"), 0x37: Prop(T.UNICODE, subject)})
    )
    write_pst(spec, tmp_path / "box.pst")
    result = _invoke("hidden", str(tmp_path / "box.pst"), "--format", "table")
    assert result.exit_code == 0, result.output
    assert subject in result.stdout
