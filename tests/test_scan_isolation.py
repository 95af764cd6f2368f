"""A bug met on one input becomes that input's error; the other inputs are still reported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import SAMPLES
from uidl_inspector import audit, pipeline
from uidl_inspector.cli.app import app
from uidl_inspector.exceptions import DEBUG_ENV

REAL_READ_ONE = pipeline._read_one


@pytest.fixture
def two_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    good, bad = tmp_path / "good.pst", tmp_path / "bad.pst"
    shutil.copyfile(SAMPLES / "demo.pst", good)
    shutil.copyfile(SAMPLES / "demo.pst", bad)

    def read_one(name, *args, **kwargs):
        if Path(name).name == "bad.pst":
            raise IndexError("simulated reader bug")
        return REAL_READ_ONE(name, *args, **kwargs)

    monkeypatch.setattr(pipeline, "_read_one", read_one)
    return good, bad


def test_unexpected_error_is_kept_to_its_input(two_stores, monkeypatch) -> None:
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    good, bad = two_stores
    result = CliRunner().invoke(
        app, ["scan", str(bad), str(good), "--format", "json", "--jobs", "1"]
    )  # the simulated bug is in this process
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    by_path = {Path(s["path"]).name: s for s in report["sources"]}
    assert by_path["bad.pst"]["errors"] == [
        f"internal error: IndexError: simulated reader bug (set {DEBUG_ENV}=1 to see the "
        "traceback, and please report it)"
    ]
    assert by_path["good.pst"]["errors"] == []
    assert [Path(h["source"]).name for h in report["histories"]] == ["good.pst"]
    assert "Traceback" not in result.output


def test_debug_mode_lets_the_bug_propagate(two_stores, monkeypatch) -> None:
    monkeypatch.setenv(DEBUG_ENV, "1")
    _, bad = two_stores
    with pytest.raises(IndexError):
        pipeline.scan_evidence([str(bad)])


def test_audit_goes_on_when_a_store_cannot_be_listed(two_stores, monkeypatch) -> None:
    from uidl_inspector.exceptions import CorruptStructureError

    monkeypatch.setattr(pipeline, "_read_one", REAL_READ_ONE)  # both stores scan cleanly
    good, bad = two_stores
    real = audit.take_inventory  # imported by the pipeline where it runs

    def take_inventory(store, source=None, progress=None, headers=True):
        if Path(str(source)).name == "bad.pst":
            raise CorruptStructureError("simulated: node B-tree unreadable while listing")
        return real(store, source, progress, headers)

    monkeypatch.setattr(audit, "take_inventory", take_inventory)
    result = CliRunner().invoke(
        app, ["audit", str(bad), str(good), "--format", "json", "--jobs", "1"]
    )  # the simulated bug is in this process
    assert result.exit_code == 1
    assert "cannot list its messages: simulated" in result.stderr
    report = json.loads(result.stdout)
    assert report["audit"]["summary"]["messages"] > 0  # the good store was still audited


def test_hashing_stops_when_reading_the_input_fails(monkeypatch) -> None:
    """A file that fails to open is not hashed to its end on the side (its failed Source
    hashes it afresh): the hashing thread stops at its next progress step."""
    import threading

    from uidl_inspector.store.detect import EvidenceFile

    hashing, steps = threading.Event(), []

    def slow_hash(path, progress=None):
        for step in range(1_000_000):
            progress(f"{step} MiB")  # raises once the reading has failed
            steps.append(step)
            hashing.set()
        return 0, "", ""

    def failing_read():
        hashing.wait()
        raise OSError("simulated: unreadable")

    monkeypatch.setattr(pipeline, "hash_file", slow_hash)
    with pytest.raises(OSError, match="simulated"):
        pipeline._hashed_while(EvidenceFile("x.pst", "pst"), failing_read, None)
    assert 0 < len(steps) < 1_000_000
