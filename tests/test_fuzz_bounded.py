"""The bounded fuzz stage of CI: hostile inputs end in a result or our own error, in time.

Each example is a mutant drawn by hypothesis (derandomised, so CI is reproducible) through
the harness's mutators, and runs in a worker process of ``fuzz.run`` under an address-space
limit, a per-input alarm, a watchdog and a per-input peak-RSS limit. The assertion is the
contract of issue 6: every input ends ``ok`` (a result, possibly with findings) or
``rejected`` (a ``UidlInspectorError``); through the CLI, exit code 0 or 1 with a one-line
error and no traceback (checked inside the targets, ``fuzz.targets.run_cli``).
The long campaign (``python -m fuzz.run``) is recorded in docs/validation.md.
"""

from __future__ import annotations

import json
import sys
import time
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # fuzz/ is a harness at the repository root, not installed
    sys.path.insert(0, str(REPO))

from fuzz import targets as fuzz_targets  # noqa: E402
from fuzz.mutators import Layout, mutant_rng, mutate  # noqa: E402
from fuzz.run import Outcome, WorkerPool, campaign  # noqa: E402
from fuzz.targets import TARGETS, Target  # noqa: E402

TIMEOUT = 10.0  # seconds per input; the slowest seen in the long campaign is far below
MEMORY = 1 << 30  # RLIMIT_AS of a worker
MAX_RSS = 512 << 20  # per-input peak resident set


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )


@pytest.fixture(scope="module")
def pool():
    with WorkerPool(1, MEMORY, TIMEOUT, MAX_RSS) as workers:
        yield workers


def _explain(outcome: Outcome, steps: tuple[str, ...]) -> str:
    return (
        f"{outcome.status} {outcome.error_type} at {outcome.site}: {outcome.message}\n"
        f"mutation: {'; '.join(steps)}\n{outcome.detail}"
    )


def _check(pool: WorkerPool, target: str, data: bytes, steps: tuple[str, ...]) -> Outcome:
    outcome = pool.run(target, data)
    assert outcome.status in ("ok", "rejected"), _explain(outcome, steps)
    return outcome


_SEEDS: dict[str, list] = {}


def _seeds(name: str) -> list:
    if name not in _SEEDS:
        _SEEDS[name] = TARGETS[name].seeds()
    return _SEEDS[name]


# --- BLOB: a few thousand mutants --------------------------------------------------------


@_settings(3000)
@given(pick=st.integers(0, 1 << 16), rng=st.randoms(use_true_random=False))
def test_blob_mutants_end_in_a_result(pool, pick, rng):
    seeds = _seeds("blob")
    seed = seeds[pick % len(seeds)]
    mutant = mutate(seed.data, seed.layout, rng)
    outcome = _check(pool, "blob", mutant.data, mutant.steps)
    # parse_blob is lenient: it never refuses a BLOB, it reports anomalies.
    assert outcome.status == "ok", _explain(outcome, mutant.steps)


def test_blob_seeds_cover_every_anomaly_kind_they_should():
    """The seeds start on both sides of the decoder's checks (clean and anomalous)."""
    from uidl_inspector.history import parse_blob

    codes = {a.code for seed in _seeds("blob") for a in parse_blob(seed.data).anomalies}
    clean = [s.name for s in _seeds("blob") if not parse_blob(s.data).anomalies]
    assert {
        "count_mismatch",
        "trailing_data",
        "bad_version",
        "truncated",
        "bad_operation",
        "bad_content",
        "bad_timestamp",
    } <= codes
    assert "doc-example" in clean and "many-600" in clean


# --- stores and MSG: a few hundred mutants each ------------------------------------------


@pytest.mark.parametrize("target", ["pst", "msg"])
@_settings(250)
@given(pick=st.integers(0, 1 << 16), rng=st.randoms(use_true_random=False))
def test_store_mutants_end_in_a_result_or_our_error(pool, target, pick, rng):
    seeds = _seeds(target)
    seed = seeds[pick % len(seeds)]
    mutant = mutate(seed.data, seed.layout, rng)
    _check(pool, target, mutant.data, mutant.steps)


# --- the harness itself: its layouts are right, its runs reproducible, its limits hold ----


def test_pst_layout_agrees_with_the_real_files(real_psts):
    """Recomputing every checksum the layout located (header, every B-tree page, every
    block) leaves each real file unchanged, and every encoded region decodes and encodes
    back: the structure-aware mutators hit the fields they name."""
    from fuzz.mutators import _fix_checksums

    for path in real_psts:
        data = path.read_bytes()
        layout = fuzz_targets.pst_layout(data)
        assert len(layout.checksums) > 10 and layout.of_kind("pointer")
        assert any(f.loops for f in layout.fields), path.name
        copy = bytearray(data)
        assert _fix_checksums(copy, layout.checksums) == len(layout.checksums)
        assert bytes(copy) == data, path.name
        for codec in layout.codecs:
            region = data[codec.start : codec.start + codec.length]
            assert codec.encode(codec.decode(region)) == region
            assert codec.decode(region)[2] == 0xEC  # a heap-on-node first block


def test_mutants_are_reproducible_from_seed_and_index():
    seed = _seeds("blob")[2]
    first = [mutate(seed.data, seed.layout, mutant_rng(7, i)) for i in range(50)]
    again = [mutate(seed.data, seed.layout, mutant_rng(7, i)) for i in range(50)]
    assert first == again
    assert len({m.data for m in first}) > 40


def _hang(data: bytes, scratch: Path) -> int:
    if data == b"hang":
        while True:
            pass
    if data == b"hog":
        hog = [bytearray(64 << 20) for _ in range(64)]  # 4 GiB: over RLIMIT_AS
        return len(hog)
    if data == b"die":
        import os

        os._exit(3)
    if data == b"bug":
        raise KeyError("not our error")
    return 1


@pytest.fixture()
def hostile_target(monkeypatch):
    seed_data = [b"fine", b"hang", b"hog", b"die", b"bug"]
    target = Target(
        "hostile", lambda: [fuzz_targets.Seed("s", d, Layout()) for d in seed_data], _hang
    )
    monkeypatch.setitem(TARGETS, "hostile", target)
    return target


def test_one_hostile_input_does_not_stop_the_others(hostile_target):
    """A hang, an allocation over the limit, a dying worker and a foreign exception are
    each counted as what they are, and the inputs after them still run."""
    # 3 s: the hang must be cut, while a 4 GiB allocation refused on a loaded machine is not.
    with WorkerPool(1, 512 << 20, 3.0, MAX_RSS) as workers:
        jobs = [
            (i, "hostile", d)
            for i, d in enumerate(
                [b"fine", b"hang", b"fine", b"hog", b"fine", b"die", b"fine", b"bug", b"fine"]
            )
        ]
        start = time.monotonic()
        results = dict(workers.map(jobs))
        took = time.monotonic() - start
    statuses = [results[i].status for i in range(len(jobs))]
    assert statuses == ["ok", "timeout", "ok", "memory", "ok", "died", "ok", "crash", "ok"]
    assert results[7].error_type == "KeyError"
    assert took < 30


def _sometimes_bug(data: bytes, scratch: Path) -> int:
    if zlib.crc32(data) % 3 == 0:
        raise KeyError("not our error")
    return 0


def test_campaign_counts_and_saves_crashers(monkeypatch, tmp_path):
    target = Target(
        "flaky", lambda: [fuzz_targets.Seed("s", b"seed data", Layout())], _sometimes_bug
    )
    monkeypatch.setitem(TARGETS, "flaky", target)
    stats = campaign(
        target,
        seconds=60,
        seed=1,
        max_inputs=30,
        timeout=1.0,
        memory=512 << 20,
        crash_dir=tmp_path,
        keep_per_site=2,
    )
    assert stats.inputs == 30
    assert stats.statuses["ok"] + stats.statuses["crash"] == 30
    assert stats.statuses["crash"] > 0
    saved = sorted(p.name for p in (tmp_path / "flaky").glob("*.txt"))
    assert len(saved) == 2 and all(p.startswith("crash-") for p in saved)
    text = (tmp_path / "flaky" / saved[0]).read_text()
    assert "run seed: 1" in text and "replay: python -m fuzz.run" in text


# --- through the CLI: several inputs, one hostile ----------------------------------------


def test_scan_reports_the_other_inputs_when_one_is_hostile(tmp_path, real_psts):
    """A truncated store and a garbage file among good inputs: exit 0 or 1 with no
    traceback, and every good input is still in the report."""
    good_pst = tmp_path / "good.pst"
    good_pst.write_bytes(real_psts[0].read_bytes())
    truncated = tmp_path / "cut.pst"
    truncated.write_bytes(real_psts[0].read_bytes()[:700])
    garbage = tmp_path / "noise.bin"
    garbage.write_bytes(bytes(range(256)) * 8)
    good_msg = tmp_path / "good.msg"
    good_msg.write_bytes(next((REPO.parent / "shared/samples/real/msg").glob("*.msg")).read_bytes())
    out = tmp_path / "report.json"
    code, _, err = fuzz_targets.run_cli(
        [
            "scan",
            str(good_pst),
            str(truncated),
            str(garbage),
            str(good_msg),
            "--format",
            "json",
            "--output",
            str(out),
        ],
        inputs=4,
    ) or (None, "", "")
    assert code in (0, 1), "scan has not landed"
    report = json.loads(out.read_text())
    by_path = {Path(s["path"]).name: s for s in report["sources"]}
    assert {"good.pst", "cut.pst", "noise.bin", "good.msg"} <= set(by_path)
    assert not by_path["good.pst"]["errors"] and not by_path["good.msg"]["errors"]
    assert by_path["cut.pst"]["errors"] or by_path["cut.pst"].get("findings")
    assert by_path["noise.bin"]["errors"]


# --- regressions: inputs the fuzzer found, each fixed at the reader ----------------------


def _msg_with_attachment(method: int, data: bytes | None) -> bytes:
    from uidl_inspector.schemas.mapi import PropId, PropType
    from uidl_inspector.synth.msg_writer import msg_bytes
    from uidl_inspector.synth.pst_writer import AttachmentSpec, MessageSpec, Prop

    return msg_bytes(
        MessageSpec(
            props={PropId.MESSAGE_CLASS: Prop(PropType.UNICODE, "IPM.Note")},
            attachments=[
                AttachmentSpec(
                    props={
                        PropId.ATTACH_METHOD: Prop(PropType.INT32, method),
                        PropId.ATTACH_LONG_FILENAME: Prop(
                            PropType.UNICODE, r"\\server\share\f.txt"
                        ),
                    },
                    data=data,
                )
            ],
        )
    )


@pytest.mark.parametrize("method", [0, 2, 4, 5])
def test_msg_attachment_without_data_is_read(tmp_path, method):
    """extract-msg raises NotImplementedError on attachments by reference (2, 4), of
    method none (0) or an embedded message without its storage (5): store.msg now falls
    back to its olefile reader instead of letting that escape (found by fuzz seed 1)."""
    from uidl_inspector.store.msg import open_msg

    path = tmp_path / "by-reference.msg"
    path.write_bytes(_msg_with_attachment(method, None))
    message = open_msg(str(path))
    (attachment,) = message.attachments()
    assert attachment.props[0x3705] == method
    assert attachment.data is None
    assert message.findings[0].code == "extract_msg_rejected"


@pytest.mark.parametrize("shift", [0x1370, 0x43, 5])
def test_msg_with_absurd_mini_sector_shift_is_refused(tmp_path, shift):
    """A mini-sector shift of 0x1370 made olefile try a 2**4976-byte read (OverflowError);
    now a CorruptStructureError (found by fuzz seed 1, 'absurd size mini shift')."""
    from uidl_inspector.exceptions import CorruptStructureError
    from uidl_inspector.store.msg import open_msg

    data = bytearray(_msg_with_attachment(1, b"x" * 100))
    data[0x20:0x22] = shift.to_bytes(2, "little")
    path = tmp_path / "shift.msg"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptStructureError):
        open_msg(str(path))


def _cfb_entry(data: bytes, name: str) -> tuple[int, int]:
    """(offset of the directory entry named ``name``, its start sector) in a v3 CFB."""
    import olefile

    ole = olefile.OleFileIO(data)
    try:
        sect, index = ole.first_dir_sector, 0
        while sect < 0xFFFFFFFA:
            for k in range(4):
                at = (sect + 1) * 512 + 128 * k
                length = int.from_bytes(data[at + 0x40 : at + 0x42], "little")
                if data[at : at + max(length - 2, 0)].decode("utf-16-le") == name:
                    return at, int.from_bytes(data[at + 0x74 : at + 0x78], "little")
                index += 1
            sect = ole.fat[sect]
    finally:
        ole.close()
    raise KeyError(name)


def _loop_stream(data: bytes, name: str) -> bytes:
    """Declare stream ``name`` 0xFFFFFFFF bytes long and point its first FAT entry at
    itself: olefile in lenient mode then reads the same sector until memory runs out."""
    out = bytearray(data)
    at, start = _cfb_entry(data, name)
    out[at + 0x78 : at + 0x80] = (0xFFFFFFFF).to_bytes(8, "little")  # not 0x7FFFFFFF: "unknown"
    fat_sector = int.from_bytes(data[0x4C:0x50], "little")
    fat_at = (fat_sector + 1) * 512 + 4 * start
    out[fat_at : fat_at + 4] = start.to_bytes(4, "little")
    return bytes(out)


def test_msg_stream_size_beyond_the_file_is_bounded(pool, tmp_path):
    """A 5 KB MSG whose mini stream (root entry) or a big stream claims 4 GiB over a
    self-looping sector chain made olefile allocate until MemoryError (found by fuzz seed
    11: 'cycle FAT next; absurd size dir stream size'). Now: CorruptStructureError for the
    root, a stream_beyond_file finding for a stream, in bounded memory."""
    from uidl_inspector.exceptions import CorruptStructureError
    from uidl_inspector.store.msg import read_msg_olefile

    small = _msg_with_attachment(1, b"x" * 100)
    path = tmp_path / "root.msg"
    path.write_bytes(_loop_stream(small, "Root Entry"))
    with pytest.raises(CorruptStructureError):
        read_msg_olefile(str(path))
    assert pool.run("msg", path.read_bytes()).status == "rejected"

    big = _msg_with_attachment(1, bytes(range(256)) * 20)  # 5120 bytes: a regular stream
    path = tmp_path / "stream.msg"
    path.write_bytes(_loop_stream(big, "__substg1.0_37010102"))
    message = read_msg_olefile(str(path))
    (attachment,) = message.attachments()
    assert attachment.data is None
    codes = [f.code for f in attachment.findings + message.findings]
    assert "stream_beyond_file" in codes
    outcome = pool.run("msg", path.read_bytes())
    assert outcome.status == "ok" and outcome.peak_rss_kib < 256 << 10


# --- truncation at every structure boundary, exhaustively on small seeds -----------------

SWEPT_STORES = ["outlookpstrs-empty-unicode.pst", "pstsdk-test-ansi.pst"]


@pytest.mark.parametrize("name", SWEPT_STORES)
def test_store_truncated_at_every_boundary(pool, real_psts, name):
    """Every page, block, entry and heap boundary the layout knows (each a place where a
    copy or a carve can end): a result or our error, every time."""
    (path,) = [p for p in real_psts if p.name == name]
    data = path.read_bytes()
    cuts = fuzz_targets.pst_layout(data).boundaries
    assert len(cuts) > 400
    statuses = {}
    for cut, outcome in pool.map((b, "pst", data[:b]) for b in cuts):
        assert outcome.status in ("ok", "rejected"), (cut, _explain(outcome, ()))
        statuses[cut] = outcome.status
    assert set(statuses.values()) == {"ok", "rejected"}


def test_msg_and_blobs_truncated_at_every_boundary(pool):
    from uidl_inspector.history import parse_blob

    for seed in _seeds("blob"):
        if len(seed.data) > 4096:  # many-600: its 4,800 boundaries repeat one tag shape
            continue
        for cut in seed.layout.boundaries:
            parse_blob(seed.data[:cut])  # lenient: never raises
    msg = min(_seeds("msg"), key=lambda s: len(s.data))
    for cut, outcome in pool.map((b, "msg", msg.data[:b]) for b in msg.layout.boundaries):
        assert outcome.status in ("ok", "rejected"), (cut, _explain(outcome, ()))


@pytest.mark.parametrize("shift", [0x25, 0x1F])
def test_msg_with_absurd_sector_shift_is_refused_in_bounded_memory(pool, shift):
    """A sector shift of 0x25 made olefile's constructor read one 128 GiB sector
    (MemoryError; found by the campaign, seed 2026, 'absurd size sector shift'): the
    olefile fallback must refuse the header before olefile reads a sector."""
    data = bytearray(_msg_with_attachment(1, b"x" * 100))
    data[0x1E:0x20] = shift.to_bytes(2, "little")
    outcome = pool.run("msg", bytes(data))
    assert outcome.status == "rejected", _explain(outcome, ())
    assert outcome.peak_rss_kib < 256 << 10


def test_a_late_alarm_never_escapes_the_harness(tmp_path):
    """The alarm may fire while a handler classifies the target's exception; it must then be
    ignored, not raised through the worker (the flaky 'died' seen under load)."""
    import signal

    from fuzz import run as fuzz_run

    class SlowToDescribe(KeyError):
        def __str__(self) -> str:
            time.sleep(0.05)  # the handler is still describing it when the alarm fires
            return "slow"

    def late(data: bytes, scratch: Path) -> int:
        signal.setitimer(signal.ITIMER_REAL, 0.01)
        raise SlowToDescribe()

    target = Target("late", lambda: [], late)
    outcome = fuzz_run.run_one(target, b"x", tmp_path, 5.0)
    assert outcome.status == "crash" and outcome.error_type == "SlowToDescribe"
    assert fuzz_run._ARMED is False
