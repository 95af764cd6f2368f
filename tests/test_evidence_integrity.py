"""Evidence is never altered: every command over every sample leaves it as it was.

Each evidence file (real Outlook stores and MSG files, every committed synthetic sample,
a raw BLOB and its hex text) is copied with its times into a directory of its own, made
read-only, and each command runs over it with ``--output`` elsewhere. Afterwards the
content hash, size, mtime and ctime are unchanged, no file has appeared or vanished beside
the evidence, Python never opened an evidence path for writing, and every source in the
JSON report carries the file's own SHA-256, MD5 and size.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from fuzz.targets import has_command, run_cli  # noqa: E402

from conftest import REAL_MSGS, REAL_PSTS, SAMPLES  # noqa: E402

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def _stores() -> list[Path]:
    found = [*REAL_PSTS, *sorted(SAMPLES.rglob("*.pst")), *sorted(SAMPLES.rglob("*.ost"))]
    return [p for p in found if p.stat().st_size <= 8 << 20]


def _msgs() -> list[Path]:
    return [*REAL_MSGS, *sorted(SAMPLES.rglob("*.msg"))]


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def _state(folder: Path) -> dict[str, tuple[str, int, int, int]]:
    out = {}
    for path in sorted(folder.iterdir()):
        st = path.stat()
        with open(path, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        out[path.name] = (digest, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    return out


class _OpenSpy:
    """Records every Python-level open of a path under ``root`` that asks for writing."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.writes: list[tuple[str, str]] = []

    def _check(self, path: object, how: str, writing: bool) -> None:
        if isinstance(path, (str, os.PathLike)):
            text = os.path.abspath(os.fspath(path))
            if text.startswith(self.root) and writing:
                self.writes.append((text, how))

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_open, real_os_open = builtins.open, os.open

        def spy_open(file, mode="r", *args, **kwargs):
            self._check(file, mode, any(c in mode for c in "wax+"))
            return real_open(file, mode, *args, **kwargs)

        def spy_os_open(path, flags, *args, **kwargs):
            self._check(path, hex(flags), bool(flags & WRITE_FLAGS))
            return real_os_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", spy_open)
        monkeypatch.setattr(io, "open", spy_open)
        monkeypatch.setattr(os, "open", spy_os_open)


@pytest.fixture()
def evidence_dir(tmp_path):
    """A directory for evidence copies, made read-only once filled; restored afterwards."""
    folder = tmp_path / "evidence"
    folder.mkdir()
    yield folder
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)


def _place(folder: Path, sources: list[Path]) -> list[Path]:
    copies = []
    for source in sources:
        target = folder / source.name
        shutil.copy2(source, target)  # content and times, like a forensic copy
        target.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        copies.append(target)
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    return copies


def _run_over(
    monkeypatch, tmp_path: Path, folder: Path, args: list[str], json_out: bool = True
) -> dict | None:
    """Run one command with a spy on writes; assert the evidence did not change."""
    if not has_command(args[0]):
        pytest.fail(f"the {args[0]!r} command has not landed")
    before = _state(folder)
    out = tmp_path / "out" / f"report-{len(list(tmp_path.glob('out/*')))}.json"
    out.parent.mkdir(exist_ok=True)
    spy = _OpenSpy(folder)
    with monkeypatch.context() as patch:
        spy.install(patch)
        extra = ["--format", "json", "--output", str(out)] if json_out else []
        result = run_cli([*args, *extra])
    assert result is not None
    code, _, err = result
    assert code == 0, err
    assert spy.writes == [], spy.writes
    assert _state(folder) == before  # same names, hashes, sizes, mtimes and ctimes
    return json.loads(out.read_text(encoding="utf-8")) if json_out else None


def _assert_sources_hashed(report: dict, copies: list[Path]) -> None:
    by_name = {Path(s["path"]).name: s for s in report["sources"]}
    for path in copies:
        data = path.read_bytes()
        source = by_name[path.name]
        assert source["size"] == len(data), path.name
        assert source["sha256"] == hashlib.sha256(data).hexdigest(), path.name
        assert source["md5"] == hashlib.md5(data).hexdigest(), path.name


@pytest.mark.parametrize("store", _stores(), ids=_ids(_stores()))
def test_scan_and_hidden_leave_stores_untouched(monkeypatch, tmp_path, evidence_dir, store):
    (copy,) = _place(evidence_dir, [store])
    report = _run_over(monkeypatch, tmp_path, evidence_dir, ["scan", str(copy)])
    _assert_sources_hashed(report, [copy])
    _run_over(monkeypatch, tmp_path, evidence_dir, ["hidden", str(copy)])


@pytest.mark.parametrize("store", _stores(), ids=_ids(_stores()))
def test_scan_verify_leaves_stores_untouched(monkeypatch, tmp_path, evidence_dir, store):
    """--verify also opens the store with libpff (C code: only the state check sees it)."""
    (copy,) = _place(evidence_dir, [store])
    report = _run_over(monkeypatch, tmp_path, evidence_dir, ["scan", str(copy), "--verify"])
    _assert_sources_hashed(report, [copy])


def test_scan_of_a_directory_leaves_every_file_untouched(monkeypatch, tmp_path, evidence_dir):
    """Every sample at once (recursive directory input), real and synthetic."""
    copies = _place(evidence_dir, [*_stores(), *_msgs()])
    report = _run_over(monkeypatch, tmp_path, evidence_dir, ["scan", str(evidence_dir)])
    _assert_sources_hashed(report, copies)


@pytest.mark.parametrize("msg", _msgs(), ids=_ids(_msgs()))
def test_scan_leaves_msg_files_untouched(monkeypatch, tmp_path, evidence_dir, msg):
    (copy,) = _place(evidence_dir, [msg])
    report = _run_over(monkeypatch, tmp_path, evidence_dir, ["scan", str(copy)])
    _assert_sources_hashed(report, [copy])


def test_blob_command_leaves_binary_and_hex_blobs_untouched(monkeypatch, tmp_path, evidence_dir):
    from uidl_inspector.history import build_blob

    staging = tmp_path / "staging"
    staging.mkdir()
    blob = build_blob(
        [("get", "body", "20240301093000", "uid-1"), ("delete", "none", "20240301093100", "uid-2")]
    )
    (staging / "history.bin").write_bytes(blob)
    (staging / "history.hex").write_text("0x" + " ".join(f"{b:02X}" for b in blob) + "\n")
    copies = _place(evidence_dir, sorted(staging.iterdir()))
    for copy in copies:
        report = _run_over(monkeypatch, tmp_path, evidence_dir, ["blob", str(copy)])
        (source,) = report["sources"]
        data = copy.read_bytes()
        assert (source["size"], source["sha256"], source["md5"]) == (
            len(data),
            hashlib.sha256(data).hexdigest(),
            hashlib.md5(data).hexdigest(),
        )


def _listings() -> list[tuple[Path, Path]]:
    pairs = []
    for truth in sorted(SAMPLES.rglob("*.truth.json")):
        stem = truth.name[: -len(".truth.json")]
        store, listing = truth.with_name(stem + ".pst"), truth.with_name(stem + ".uidl.txt")
        if store.exists() and listing.exists():
            pairs.append((store, listing))
    return pairs


@pytest.mark.parametrize(("store", "listing"), _listings(), ids=[p.name for p, _ in _listings()])
@pytest.mark.parametrize("fmt", ["json", "html"])
def test_audit_leaves_store_and_server_listing_untouched(
    monkeypatch, tmp_path, evidence_dir, store, listing, fmt
):
    store_copy, listing_copy = _place(evidence_dir, [store, listing])
    if fmt == "json":
        report = _run_over(
            monkeypatch,
            tmp_path,
            evidence_dir,
            ["audit", str(store_copy), "--server-uidl", str(listing_copy)],
        )
        _assert_sources_hashed(report, [store_copy])
    else:
        out = tmp_path / "audit.html"
        _run_over(
            monkeypatch,
            tmp_path,
            evidence_dir,
            [
                "audit",
                str(store_copy),
                "--server-uidl",
                str(listing_copy),
                "--format",
                "html",
                "--output",
                str(out),
            ],
            json_out=False,
        )
        assert out.stat().st_size > 0


def test_the_state_check_sees_a_change(monkeypatch, tmp_path, evidence_dir):
    """The checks above can fail: touching a copy's mtime, adding a file beside it, or
    opening it for writing are each caught."""
    (copy,) = _place(evidence_dir, REAL_PSTS[:1])
    before = _state(evidence_dir)
    evidence_dir.chmod(0o755)
    copy.chmod(0o644)
    os.utime(copy, ns=(copy.stat().st_atime_ns, copy.stat().st_mtime_ns + 1))
    assert _state(evidence_dir) != before
    before = _state(evidence_dir)
    (evidence_dir / "copy.pst.lock").write_bytes(b"")
    assert _state(evidence_dir) != before
    spy = _OpenSpy(evidence_dir)
    with monkeypatch.context() as patch:
        spy.install(patch)
        with open(copy, "r+b"):
            pass
    assert spy.writes and spy.writes[0][0] == str(copy)
