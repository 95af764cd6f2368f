"""``uidl-inspector blob`` through typer's runner: formats, inputs, exit codes, no tracebacks."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import SAMPLES
from uidl_inspector.cli import app
from uidl_inspector.history import build_blob
from uidl_inspector.store.detect import decode_hex_text

WHEN = datetime(2012, 9, 6, 13, 11, 38)
EXAMPLE_UID = "0BC535DB-EA63-11E1-A75C-00215AD7BB74"
CLEAN = build_blob([("get", "body", WHEN, EXAMPLE_UID), ("delete", "none", WHEN, "x-2")])
ANOMALOUS = build_blob([("get", "body", WHEN, EXAMPLE_UID)], count=5)

runner = CliRunner()


def run(*args: str, stdin: bytes | None = None):
    return runner.invoke(app, ["blob", *args], input=stdin, catch_exceptions=False)


@pytest.fixture
def blobs(tmp_path: Path) -> dict[str, Path]:
    files = {"clean": CLEAN, "anomalous": ANOMALOUS}
    out = {}
    for name, data in files.items():
        out[name] = tmp_path / f"{name}.bin"
        out[name].write_bytes(data)
    return out


def entries(result) -> list[dict]:
    return [e for h in json.loads(result.stdout)["histories"] for e in h["entries"]]


def test_json_is_the_default_off_a_terminal(blobs):
    result = run(str(blobs["clean"]))
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["sources"][0]["kind"] == "blob"
    assert data["sources"][0]["size"] == len(CLEAN)
    assert [e["uid"] for e in entries(result)] == [EXAMPLE_UID, "x-2"]


def test_table_format(blobs):
    result = run(str(blobs["clean"]), "--format", "table")
    assert result.exit_code == 0
    assert "0BC535DB" in result.stdout and "delete" in result.stdout
    assert not result.stdout.lstrip().startswith("{")


def test_csv_format(blobs):
    result = run(str(blobs["clean"]), "-f", "csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    assert [r["uid"] for r in rows] == [EXAMPLE_UID, "x-2"]
    assert rows[0]["source"] == str(blobs["clean"])


def test_anomalies_are_findings_not_failures(blobs):
    result = run(str(blobs["anomalous"]))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["histories"][0]["anomalies"][0]["code"] == "count_mismatch"


def test_strict_fails_the_anomalous_input_only(blobs):
    result = run(str(blobs["clean"]), str(blobs["anomalous"]), "--strict")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "count_mismatch" in result.stderr
    data = json.loads(result.stdout)
    assert [h["source"] for h in data["histories"]] == [str(blobs["clean"])]
    assert data["sources"][1]["errors"] and "count_mismatch" in data["sources"][1]["errors"][0]


def test_a_bad_input_does_not_stop_the_others(blobs, tmp_path):
    missing = tmp_path / "missing.bin"
    result = run(str(missing), str(blobs["clean"]))
    assert result.exit_code == 1
    assert result.stderr == f"uidl-inspector: error: {missing}: No such file or directory\n"
    data = json.loads(result.stdout)
    assert len(data["histories"]) == 1
    assert data["sources"][0]["errors"] == ["No such file or directory"]


HEX_FORMS = {
    "plain": CLEAN.hex(),
    "spaced": " ".join(f"{b:02X}" for b in CLEAN) + "\n",
    "lines": "\n".join(CLEAN[i : i + 16].hex(" ") for i in range(0, len(CLEAN), 16)),
    "0x": ", ".join(f"0x{b:02x}" for b in CLEAN),
    "0x-once": "0x" + CLEAN.hex(),
    "mfcmapi": f"cb: {len(CLEAN)} lpb: {CLEAN.hex().upper()}",
}


@pytest.mark.parametrize("form", sorted(HEX_FORMS))
def test_hex_text_is_detected(form, tmp_path):
    path = tmp_path / "blob.txt"
    path.write_text(HEX_FORMS[form])
    for extra in ([], ["--hex"]):
        result = run(str(path), *extra)
        assert result.exit_code == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["sources"][0]["kind"] == "hex"
        assert data["histories"][0]["blob"]["size"] == len(CLEAN)
        assert [e["uid"] for e in entries(result)] == [EXAMPLE_UID, "x-2"]


def test_mfcmapi_count_disagreeing_is_noted(tmp_path):
    path = tmp_path / "blob.txt"
    path.write_text(f"cb: {len(CLEAN) + 1} lpb: {CLEAN.hex()}")
    result = run(str(path))
    assert result.exit_code == 0
    assert "cb: says" in json.loads(result.stdout)["sources"][0]["errors"][0]


def test_decode_hex_text_rejects_non_hex():
    assert decode_hex_text(b"hello") == (None, None)
    assert decode_hex_text(b"abc") == (None, None)  # odd number of digits
    assert decode_hex_text(b"") == (None, None)
    assert decode_hex_text(CLEAN) == (None, None)  # a binary BLOB is not hex text


def test_hex_flag_on_binary_input_is_an_input_error(blobs):
    result = run(str(blobs["clean"]), "--hex")
    assert result.exit_code == 1
    assert "not hex text" in result.stderr and result.stderr.count("\n") == 1


def test_stdin(blobs):
    result = run("-", stdin=CLEAN)
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["sources"][0]["path"] == "-" and len(entries(result)) == 2
    result = run("-", "-f", "csv", stdin=CLEAN.hex().encode())
    assert result.exit_code == 0 and EXAMPLE_UID in result.stdout


def test_output_file_force_and_no_overwrite(blobs, tmp_path):
    out = tmp_path / "report.csv"
    assert run(str(blobs["clean"]), "-f", "csv", "-o", str(out)).exit_code == 0
    first = out.read_text()
    assert EXAMPLE_UID in first
    result = run(str(blobs["anomalous"]), "-f", "csv", "-o", str(out))
    assert result.exit_code == 1 and "exists" in result.stderr
    assert out.read_text() == first
    assert run(str(blobs["anomalous"]), "-f", "csv", "-o", str(out), "--force").exit_code == 0
    assert out.read_text() != first


def test_output_defaults_to_json_and_never_over_an_input(blobs, tmp_path):
    out = tmp_path / "report"
    assert run(str(blobs["clean"]), "-o", str(out)).exit_code == 0
    assert json.loads(out.read_text())["histories"]
    result = run(str(blobs["clean"]), "-o", str(blobs["clean"]), "--force")
    assert result.exit_code == 1 and "input" in result.stderr
    assert blobs["clean"].read_bytes() == CLEAN


def test_table_to_a_file(blobs, tmp_path):
    out = tmp_path / "report.txt"
    assert run(str(blobs["clean"]), "-f", "table", "-o", str(out)).exit_code == 0
    assert "0BC535DB" in out.read_text() and "\x1b" not in out.read_text()


@pytest.mark.parametrize("args", [[], ["--format", "xml", "x"], ["--bogus", "x"]])
def test_usage_errors_exit_2(args):
    result = runner.invoke(app, ["blob", *args])
    assert result.exit_code == 2


def test_unexpected_errors_give_one_line_not_a_traceback(blobs, monkeypatch):
    import uidl_inspector.cli.blob as blob_cli

    def boom(*_args, **_kwargs):
        raise RuntimeError("kaboom\nsecond line")

    monkeypatch.setattr(blob_cli, "parse_blob", boom)
    result = run(str(blobs["clean"]))
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.count("\n") == 1 and "RuntimeError: kaboom" in result.stderr


def test_demo_blob_decodes_cleanly_and_rebuilds_byte_identically():
    demo = SAMPLES / "demo-history.blob"
    result = run(str(demo))
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    history = data["histories"][0]
    assert history["anomalies"] == [] and 20 <= history["blob"]["parsed_count"] <= 30
    first = history["entries"][0]
    assert (first["raw_uid"], first["timestamp"]) == (
        "0BC535DB$2dEA63$2d11E1$2dA75C$2d00215AD7BB74",
        "2012-09-06T13:11:38",
    )
    check = subprocess.run(
        [sys.executable, str(SAMPLES / "make_demo_blob.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
