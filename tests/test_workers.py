"""Many inputs at once: worker processes and a Dask cluster give the report of one process."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REAL_SAMPLES, SAMPLES
from uidl_inspector.cli.app import app
from uidl_inspector.report.json_report import VOLATILE_KEYS
from uidl_inspector.workers import DISTRIBUTED_HINT, SCHEDULER_ENV, run_ordered

POP3 = REAL_SAMPLES / "pop3"


def _inputs(tmp_path: Path) -> list[str]:
    """Real stores with histories, the demo store twice, and a file that is no store."""
    real = sorted(POP3.glob("*.pst"))[:3]
    if not real:
        pytest.skip(f"real samples not found under {POP3}")
    copy = tmp_path / "copy-of-demo.pst"
    shutil.copyfile(SAMPLES / "demo.pst", copy)
    junk = tmp_path / "junk.pst"
    junk.write_bytes(b"!BDN" + b"\0" * 600)
    return [*map(str, real), str(SAMPLES / "demo.pst"), str(junk), str(copy)]


def _report(args: list[str], env: dict[str, str] | None = None) -> tuple[dict, int, str]:
    result = CliRunner().invoke(app, [*args, "--format", "json"], env=env)
    data = json.loads(result.stdout)
    for key in VOLATILE_KEYS:
        data.pop(key)
    return data, result.exit_code, result.stderr


@pytest.mark.parametrize("command", ["scan", "audit", "hidden"])
def test_report_is_the_same_for_any_number_of_jobs(tmp_path, command) -> None:
    inputs = _inputs(tmp_path)
    one, code_one, err_one = _report([command, *inputs, "--jobs", "1"])
    two, code_two, err_two = _report([command, *inputs, "--jobs", "2"])
    assert one == two
    assert code_one == code_two == 1  # junk.pst is that input's one-line error
    assert err_one == err_two
    assert [Path(s["path"]).name for s in one["sources"]] == [Path(p).name for p in inputs]
    assert len(one["histories" if command != "hidden" else "hidden"]) > 3


def test_recovered_items_point_at_the_merged_histories(tmp_path) -> None:
    inputs = _inputs(tmp_path)
    two, _, _ = _report(["scan", *inputs, "--jobs", "2"])
    related = [r for r in two["recovered"] if r.get("related_history") is not None]
    for item in related:  # an index into the whole run's histories, of its own store
        assert two["histories"][item["related_history"]]["source"] == item["source"]


def _square_or_die(n: int) -> int:
    if n == 3:
        os._exit(9)  # what a segfault in a native reader does to its worker
    return n * n


def test_a_crashing_worker_costs_only_its_input() -> None:
    got = list(
        run_ordered(_square_or_die, list(range(6)), jobs=2, crashed=lambda n, why: f"{n}: {why}")
    )
    assert got[:3] == [0, 1, 4] and got[4:] == [16, 25]
    assert got[3].startswith("3: its worker process crashed")


def test_verify_runs_libpff_out_of_process_with_the_same_result(tmp_path) -> None:
    store = sorted(POP3.glob("*.pst"))[:1]
    if not store:
        pytest.skip(f"real samples not found under {POP3}")
    loaded = "pypff" in sys.modules
    report, code, _ = _report(["scan", str(store[0]), "--verify", "--jobs", "1"])
    assert code == 0
    check = report["cross_check"][0]
    assert check["agreed"] > 0 and not check["disagreements"] and "error" not in check
    assert loaded or "pypff" not in sys.modules  # libpff never ran in this process


def test_scheduler_without_distributed_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if not installed
    result = CliRunner().invoke(
        app, ["scan", str(SAMPLES / "demo.pst"), "--scheduler", "tcp://127.0.0.1:1", "-f", "json"]
    )
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [f"uidl-inspector: error: {DISTRIBUTED_HINT}"]


@pytest.mark.parametrize("command", ["scan", "audit"])
def test_a_dask_cluster_gives_the_local_report(tmp_path, command) -> None:
    distributed = pytest.importorskip("distributed")
    inputs = _inputs(tmp_path)
    local, code, _ = _report([command, *inputs, "--jobs", "1"])
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        remote, remote_code, _ = _report(
            [command, *inputs, "--scheduler", cluster.scheduler_address]
        )
        by_env, _, _ = _report([command, *inputs], env={SCHEDULER_ENV: cluster.scheduler_address})
    assert remote == local == by_env
    assert remote_code == code


def test_progress_tells_hashing_recovery_and_inputs_done(tmp_path) -> None:
    from uidl_inspector.pipeline import scan_evidence
    from uidl_inspector.report.model import of_total

    store = SAMPLES / "demo.pst"
    said: list = []
    scan_evidence([str(store)], progress=said.append)
    lines = [s for s in said if isinstance(s, str)]
    size = of_total(store.stat().st_size, store.stat().st_size)
    assert f"{store}: looking for earlier histories in free space" in lines
    assert f"{store}: hashing, {size}" in lines  # hashed while it is read
    done = re.compile(r"free space, ([\d,]+) of \1 KiB$")  # all of it read at the end
    assert any(done.search(line) for line in lines)
    said.clear()
    scan_evidence(_inputs(tmp_path), progress=said.append, jobs=2)
    assert said[-1] == "6 of 6 inputs done"


def test_workers_encode_the_entries_into_the_same_bytes(tmp_path) -> None:
    """A worker hands back its histories' entries as JSON text (the parent only copies
    it): the report's bytes are those of one process, anomalous histories included."""
    from uidl_inspector.pipeline import scan_evidence
    from uidl_inspector.report.json_report import json_chunks
    from uidl_inspector.synth.scenarios import scenario
    from uidl_inspector.synth.truth import write_evidence

    anomalous = write_evidence(tmp_path, scenario("anomalous")).store
    inputs = [*_inputs(tmp_path), str(anomalous)]
    here = scan_evidence(inputs, jobs=1).report
    there = scan_evidence(inputs, jobs=2, json_entries=True).report
    encoded = [h.entries_json for h in there.histories]
    assert all(e is not None for e in encoded) and any(len(e) > 2 for e in encoded)
    assert all(h.entries_json is None for h in here.histories)  # nothing to spare here
    assert any(h.history.anomalies for h in there.histories)
    there.run = here.run
    assert b"".join(json_chunks(there)) == b"".join(json_chunks(here))


def test_a_forked_worker_logs_through_the_parent_only(tmp_path, monkeypatch) -> None:
    """Workers forked from the command's process do not keep its log handlers: each of
    their lines reaches the run's log once (replayed by the parent), in input order."""
    from uidl_inspector import workers

    monkeypatch.setattr(workers.threading, "active_count", lambda: 1)  # fork, whatever
    inputs = _inputs(tmp_path)  # threads earlier tests left behind
    logs = {}
    for jobs in ("1", "2"):
        log = tmp_path / f"run-{jobs}.log"
        result = CliRunner().invoke(
            app, ["scan", *inputs, "--jobs", jobs, "-f", "json", "--log-file", str(log)]
        )
        assert result.exit_code == 1  # junk.pst
        lines = log.read_text(encoding="utf-8").splitlines()
        logs[jobs] = [
            re.sub(r"[0-9.]+ s\b", "T s", line.split(" ", 2)[2])  # no timestamp, no duration
            for line in lines
            if line.split(" ", 2)[2].startswith("pipeline: scan ")
        ]
    assert logs["1"] == logs["2"]
    assert sum(f"scan {inputs[0]}:" in line for line in logs["2"]) >= 1


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_histories_written_ahead_give_the_bytes_of_one_process(tmp_path, jobs) -> None:
    """`-o report.json` writes each input's histories as they arrive, into a nameless
    spool beside the report, then the head, the spool and the rest: the bytes are those
    of the report built whole in memory (stdout), and nothing is left beside it."""
    from uidl_inspector.synth.scenarios import scenario
    from uidl_inspector.synth.truth import write_evidence

    anomalous = write_evidence(tmp_path / "anomalous", scenario("anomalous")).store
    inputs = [*_inputs(tmp_path), str(anomalous)]
    out = tmp_path / "out" / "report.json"
    out.parent.mkdir()
    result = CliRunner().invoke(
        app, ["scan", *inputs, "--jobs", jobs, "-f", "json", "-o", str(out)]
    )
    assert result.exit_code == 1  # junk.pst
    whole = CliRunner().invoke(app, ["scan", *inputs, "--jobs", jobs, "-f", "json"])
    written, built = json.loads(out.read_bytes()), json.loads(whole.stdout)
    for key in VOLATILE_KEYS:
        written.pop(key), built.pop(key)
    assert written == built and len(written["histories"]) > 3
    head = re.compile(rb'\A.*?\n  "demo"', re.S)  # the run's metadata: before "demo"
    assert head.sub(b"", out.read_bytes()) == head.sub(b"", whole.stdout_bytes)
    assert os.listdir(out.parent) == ["report.json"]
    again = CliRunner().invoke(app, ["scan", *inputs, "--jobs", jobs, "-f", "json", "-o", str(out)])
    assert "exists" in again.stderr and os.listdir(out.parent) == ["report.json"]


def test_a_report_with_no_history_written_ahead(tmp_path) -> None:
    """An empty histories list is written as the report built whole writes it."""
    from uidl_inspector.report.json_report import json_chunks, json_chunks_spooled
    from uidl_inspector.report.model import Report

    report = Report()
    spooled = b"".join(
        piece if isinstance(piece, bytes) else b"[]" for piece in json_chunks_spooled(report, 0)
    )
    assert spooled == b"".join(json_chunks(report))


def test_local_workers_write_their_histories_text_beside_the_report(tmp_path) -> None:
    """With ``parts``, a local worker writes its histories' report text to a file there
    and sends back the records without it: the files hold the text one process writes."""
    from uidl_inspector.pipeline import scan_evidence
    from uidl_inspector.report.json_report import history_items

    inputs = _inputs(tmp_path)
    parts = tmp_path / "parts"
    parts.mkdir()
    arrived = []
    scan_evidence(inputs, jobs=2, json_entries=True, parts=str(parts), arrived=arrived.append)
    written = [p for p in arrived if p.histories_file is not None]
    assert len(written) == sum(bool(p.report.histories) for p in arrived) >= 3
    assert all(h.entries_json is None for p in written for h in p.report.histories)
    text = b"".join(Path(p.histories_file).read_bytes() for p in written)
    here = scan_evidence(inputs, jobs=1).report.histories
    assert text == b"".join(history_items(here, first=False))
    assert sorted(os.listdir(parts)) == sorted(Path(p.histories_file).name for p in written)


def test_histories_ahead_without_a_kernel_copy(tmp_path, monkeypatch) -> None:
    """Where the kernel cannot copy between the files (another file system, an old
    kernel), the spool and the workers' text are copied through the process: same bytes."""
    from uidl_inspector.report import output

    def refuse(*args: object) -> int:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(output.os, "copy_file_range", refuse)
    inputs = _inputs(tmp_path)
    out = tmp_path / "report.json"
    CliRunner().invoke(app, ["scan", *inputs, "--jobs", "2", "-f", "json", "-o", str(out)])
    whole = CliRunner().invoke(app, ["scan", *inputs, "--jobs", "2", "-f", "json"])
    head = re.compile(rb'\A.*?\n  "demo"', re.S)
    assert head.sub(b"", out.read_bytes()) == head.sub(b"", whole.stdout_bytes)
    assert len(json.loads(out.read_bytes())["histories"]) > 3


class _SlowToList(list):
    """Items whose first walk pauses before its last item, until the worker that runs
    item 0 has died: the pool breaks while inputs are still being submitted (the race a
    loaded machine hits by chance)."""

    def __init__(self, items, dead) -> None:
        super().__init__(items)
        self.dead, self.walked = dead, False

    def __iter__(self):
        for n, item in enumerate(super().__iter__()):
            if n == len(self) - 1 and not self.walked:
                for _ in range(400):  # the death is seen by polling, not by a time limit
                    if self.dead.exists():
                        break
                    time.sleep(0.01)
                time.sleep(0.3)  # the pool's manager thread marks the pool broken
            yield item
        self.walked = True


def _die_first(path_and_n: tuple[str, int]) -> int:
    path, n = path_and_n
    if n == 0:
        Path(path).touch()
        os._exit(9)
    return n * n


def test_a_worker_dying_while_inputs_are_submitted_costs_only_its_input(tmp_path) -> None:
    dead = tmp_path / "dead"
    items = _SlowToList([(str(dead), n) for n in range(4)], dead)
    got = list(
        run_ordered(_die_first, items, jobs=2, crashed=lambda item, why: f"{item[1]}: {why}")
    )
    assert dead.exists()
    assert got[0].startswith("0: its worker process crashed") and got[1:] == [1, 4, 9]
