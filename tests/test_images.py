"""Disk images end to end: the stores inside them give the same histories as loose files.

The images are built by tests/disk_images.py with Debian's tools (no mounting); the real
ones are plaso's test images in ../shared/samples/real/images.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import disk_images
from conftest import REAL_SAMPLES, REQUIRE_PEERS, need_peer
from disk_images import DISK_FAT_LIVE, FAT_DELETED, FAT_LIVE, NTFS_LIVE, SYNTHETIC
from uidl_inspector.cli import app
from uidl_inspector.locate import hidden_inventory
from uidl_inspector.pipeline import scan_evidence
from uidl_inspector.store import image as image_module
from uidl_inspector.store.byteview import ByteView, RawReader
from uidl_inspector.store.detect import detect_kind, walk_inputs
from uidl_inspector.store.image import ImageOptions, ImageScan, data_ranges, open_path_spec
from uidl_inspector.store.pst import open_pst

REAL_IMAGES = REAL_SAMPLES / "images"
VSS_IMAGE = REAL_IMAGES / "plaso-vsstest.qcow2"
EXT_IMAGE = REAL_IMAGES / "plaso-image.E01"
runner = CliRunner()


def _real(path: Path) -> Path:
    if not path.is_file():
        message = f"real image not found: {path}"
        if REQUIRE_PEERS:
            pytest.fail(message)
        pytest.skip(message)
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _histories(report: dict) -> dict[str, list[dict]]:
    """Histories by source, without the source name (the only part a location changes)."""
    out: dict[str, list[dict]] = {}
    for record in report["histories"]:
        out.setdefault(record["source"], []).append(
            {k: v for k, v in record.items() if k != "source"}
        )
    return out


def _loose(name: str) -> list[dict]:
    path = SYNTHETIC / name
    return _histories(scan_evidence([str(path)]).report.to_dict())[str(path)]


def _scan(*paths: Path, **options) -> dict:
    outcome = scan_evidence([str(p) for p in paths], images=ImageOptions(**options))
    return {"failed": outcome.failed, **outcome.report.to_dict()}


def _by_path(report: dict) -> dict[str, dict]:
    return {s["container"]["path"]: s for s in report["sources"] if "container" in s}


def test_detect_images_by_content(images):
    assert detect_kind(images.fat) == "image"
    for path in (images.disk, *images.wrapped.values()):
        assert detect_kind(path) == "image", path
    assert detect_kind(SYNTHETIC / "single-account-unicode-none.pst") == "pst"


def test_random_file_stays_unknown(tmp_path):
    noise = tmp_path / "noise.dd"  # a raw-image name, but no volume in it
    noise.write_bytes(os.urandom(1 << 20))
    assert detect_kind(noise) == "unknown"
    assert [item.kind for item in walk_inputs([tmp_path])] == ["unknown"]


def test_fat_volume_image(images):
    report = _scan(images.fat)
    assert report["failed"] == []
    found = _by_path(report)
    assert sorted(found) == ["/OUTLOOK.PST", "/USERS/BOB/MGR.DAT", "/USERS/BOB/_LD.PST"]
    for inside in ("/OUTLOOK.PST", "/USERS/BOB/MGR.DAT"):
        source = found[inside]
        assert source["path"] == f"{images.fat}::{inside}"
        assert source["container"]["deleted"] is False
        assert source["container"]["partition"] is None
        assert source["container"]["snapshot"] is None
        assert source["sha256"] == _sha256(SYNTHETIC / FAT_LIVE[inside])
        assert _histories(report)[source["path"]] == _loose(FAT_LIVE[inside])
    image = report["sources"][0]
    assert image["kind"] == "image" and image["path"] == str(images.fat)
    assert image["sha256"] == _sha256(images.fat) and image["hashed"] is True
    assert image["examined"] == {
        "partitions": 0,
        "snapshots": 0,
        "file_systems": 1,
        "files": 4,
        "stores": 4,
    }


def test_identical_stores_read_once_and_listed_everywhere(images):
    report = _scan(images.fat)
    source = _by_path(report)["/OUTLOOK.PST"]
    assert [place["path"] for place in source["also_in"]] == ["/USERS/ALICE/COPY.PST"]
    assert json.loads(source["also_in"][0]["path_spec"])["type_indicator"] == "FAT"
    assert not [s for s in report["sources"] if s["path"].endswith("COPY.PST")]
    assert len(_histories(report)[source["path"]]) == len(_loose(FAT_LIVE["/OUTLOOK.PST"]))


def test_deleted_store_on_fat_found_and_marked(images):
    report = _scan(images.fat)
    source = _by_path(report)["/USERS/BOB/_LD.PST"]
    assert source["container"]["deleted"] is True
    assert "(deleted, inode " in source["path"]
    assert source["sha256"] == _sha256(SYNTHETIC / FAT_DELETED[1])
    assert _histories(report)[source["path"]] == _loose(FAT_DELETED[1])
    without = _scan(images.fat, deleted=False)
    assert "/USERS/BOB/_LD.PST" not in _by_path(without)
    assert without["sources"][0]["examined"]["files"] == 3


@pytest.mark.parametrize("fmt", ["raw", "ewf", "vmdk", "qcow2", "vpc", "vhdx"])
def test_partitioned_disk_in_every_format(images, fmt):
    path = images.wrapped[fmt]
    report = _scan(path)
    assert report["failed"] == []
    found = _by_path(report)
    expected = {
        **{k: ("p1", v) for k, v in NTFS_LIVE.items()},
        **{k: ("p2", v) for k, v in DISK_FAT_LIVE.items()},
    }
    assert sorted(found) == sorted(expected)
    for inside, (partition, name) in expected.items():
        source = found[inside]
        assert source["path"] == f"{path}::{partition}::{inside}"
        assert source["container"]["partition"] == partition
        assert source["container"]["image"] == str(path)
        assert source["sha256"] == _sha256(SYNTHETIC / name)
        assert _histories(report)[source["path"]] == _loose(name)
    image = report["sources"][0]
    assert image["examined"]["partitions"] == 2 and image["examined"]["file_systems"] == 2
    assert (
        image["format"]
        == {
            "raw": "raw",
            "ewf": "ewf",
            "vmdk": "vmdk",
            "qcow2": "qcow",
            "vpc": "vhdi",
            "vhdx": "vhdi",
        }[fmt]
    )


def test_split_e01_read_once_from_its_first_segment(images):
    segments = sorted(images.split.iterdir())
    assert len(segments) > 2 and all(detect_kind(p) == "segment" for p in segments[1:])
    report = _scan(images.split)
    assert report["failed"] == []
    assert [s["path"] for s in report["sources"] if s["kind"] == "image"] == [str(segments[0])]
    assert len(_by_path(report)) == 3
    image = report["sources"][0]
    assert [(s["path"], s["sha256"]) for s in image["segments"]] == [
        (str(p), _sha256(p)) for p in segments
    ]
    assert (image["size"], image["sha256"]) == (segments[0].stat().st_size, _sha256(segments[0]))
    result = runner.invoke(app, ["scan", str(segments[1]), "-f", "json"])
    assert result.exit_code == 1
    assert f"a later segment of the split image {segments[0]}" in result.stderr


def test_split_raw_read_once_with_every_segment_hashed(images):
    folder = images.folder / "splitraw"
    parts = sorted(folder.iterdir())
    assert len(parts) == 3
    report = _scan(folder)
    assert report["failed"] == []
    image = report["sources"][0]
    assert image["path"] == str(parts[0]) and image["format"] == "raw"
    assert [s["sha256"] for s in image["segments"]] == [_sha256(p) for p in parts]
    assert sorted(_by_path(report)) == ["/DOCS/ANOMAL.PST", "/embedded.pst", "/general.pst"]
    assert [s["kind"] for s in report["sources"]].count("image") == 1


def test_partition_selection(images):
    report = _scan(images.disk, partitions=("2",))
    assert sorted(_by_path(report)) == ["/DOCS/ANOMAL.PST"]
    assert report["sources"][0]["examined"]["partitions"] == 1
    missing = _scan(images.disk, partitions=("3",))
    assert len(missing["failed"]) == 1 and "p3" in missing["failed"][0]
    assert "--partitions" in missing["failed"][0]


def test_store_read_through_a_stream_equals_mmap():
    path = SYNTHETIC / "embedded-ansi-permute.pst"
    with open_pst(path) as mapped:
        ours = hidden_inventory(mapped)
    with open_pst(path, stream=io.BufferedReader(open(path, "rb"))) as streamed:
        assert isinstance(streamed.ndb._map, ByteView)
        assert hidden_inventory(streamed) == ours


def test_verify_cross_checks_stores_inside_images(images):
    outcome = scan_evidence([str(images.wrapped["qcow2"])], verify=True)
    checks = outcome.report.extra["cross_check"]
    assert len(checks) == 3
    for check in checks:
        assert "error" not in check and check["agreed"] > 0
        assert not check["disagreements"] and not check["only_ours"]


def test_cli_scan_and_audit_on_an_image(images):
    result = runner.invoke(app, ["scan", str(images.wrapped["ewf"]), "-f", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [s["kind"] for s in report["sources"]] == ["image", "pst", "pst", "pst"]
    result = runner.invoke(app, ["audit", str(images.fat), "-f", "json", "--no-hash-images"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    image = report["sources"][0]
    assert image["hashed"] is False and image["sha256"] == "" and image["size"] > 0
    assert report["audit"]["summary"]["histories"] == len(report["histories"]) > 0
    assert report["audit"]["summary"]["messages"] > 0  # inventories read inside the image


def test_progress_says_files_examined_and_bytes_hashed(images):
    said: list = []
    scan_evidence([str(images.disk)], progress=said.append)
    lines = [s for s in said if isinstance(s, str)]
    total = images.disk.stat().st_size >> 20
    assert any("p2 (2 of 2)" in line and "files examined" in line for line in lines)
    assert lines[-1].endswith(f"hashing the image, {total} of {total} MiB")


def test_bad_selection_is_a_usage_error(images):
    result = runner.invoke(app, ["scan", str(images.fat), "--vss", "first"])
    assert result.exit_code == 2


def test_vss_image_every_snapshot_walked():
    path = _real(VSS_IMAGE)
    scan = ImageScan(str(path))
    volumes = scan.volumes()
    assert [(v.partition, v.snapshot, v.file_system) for v in volumes] == [
        (None, None, "NTFS"),
        (None, 1, "NTFS"),
        (None, 2, "NTFS"),
    ]
    assert list(scan.stores()) == []
    assert scan.examined["snapshots"] == 2 and scan.examined["file_systems"] == 3
    assert scan.errors == []
    # each snapshot's own files were listed: vss1 has syslog, vss2 another_file
    for snapshot, name in ((1, "syslog"), (2, "another_file")):
        spec = next(v.spec for v in volumes if v.snapshot == snapshot)
        from dfvfs.resolver import resolver

        root = resolver.Resolver.OpenFileSystem(spec).GetRootFileEntry()
        assert name in {e.name for e in root.sub_file_entries}


def test_vss_selection():
    path = _real(VSS_IMAGE)
    none = _scan(path, snapshots=("none",))["sources"][0]["examined"]
    assert none["snapshots"] == 0 and none["file_systems"] == 1
    one = _scan(path, snapshots=("2",))["sources"][0]["examined"]
    assert one["snapshots"] == 1 and one["file_systems"] == 2
    missing = _scan(path, snapshots=("3",))
    assert len(missing["failed"]) == 1 and "vss3" in missing["failed"][0]


def test_real_ext_e01():
    path = _real(EXT_IMAGE)
    report = _scan(path)
    assert report["failed"] == []
    image = report["sources"][0]
    assert image["format"] == "ewf" and image["sha256"] == _sha256(path)
    assert image["examined"] == {
        "partitions": 0,
        "snapshots": 0,
        "file_systems": 1,
        "files": 3,
        "stores": 0,
    }


def test_damaged_image_gives_what_can_be_read(images, tmp_path):
    damaged = tmp_path / "cut.img"
    data = bytearray(images.fat.read_bytes())
    # cut the FAT image just inside the deleted store's data: its tail is gone
    deleted = next(r for r in data_ranges(str(images.fat)) if r.what == "deleted_file")
    with deleted.open() as stream:
        head = stream.read(4096)
    cut = data.find(head)
    assert cut > 0
    damaged.write_bytes(bytes(data[: cut + 8192]))
    report = _scan(damaged)
    found = _by_path(report)
    assert "/OUTLOOK.PST" in found and found["/OUTLOOK.PST"]["errors"] == []
    assert _histories(report)[found["/OUTLOOK.PST"]["path"]] == _loose(FAT_LIVE["/OUTLOOK.PST"])
    # whatever happened to the cut store, it is said, not raised
    cut_store = found.get("/USERS/BOB/_LD.PST")
    assert cut_store is not None, sorted(found)
    assert cut_store["errors"] or cut_store.get("findings")


def test_truncated_container_is_one_line(images, tmp_path):
    cut = tmp_path / "half.qcow2"
    cut.write_bytes(images.wrapped["qcow2"].read_bytes()[: 1 << 20])
    result = runner.invoke(app, ["scan", str(cut), "-f", "json"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "dfVFS cannot read the image" in lines[0]
    assert len(lines[0]) < 400
    image = json.loads(result.stdout)["sources"][0]
    assert image["kind"] == "image" and image["errors"]


def test_damaged_partition_is_a_finding_and_the_others_are_read(images, tmp_path):
    damaged = tmp_path / "mft.raw"
    data = bytearray(images.disk.read_bytes())
    mft = data.find(b"FILE0", 2048 * 512)
    data[mft : mft + 16384] = bytes(16384)  # the first MFT entries ($MFT itself) are gone
    damaged.write_bytes(bytes(data))
    report = _scan(damaged)
    image = report["sources"][0]
    assert [f["code"] for f in image["findings"]] == ["partition_without_file_system"]
    assert image["findings"][0]["detail"].startswith("p1:")
    assert sorted(_by_path(report)) == ["/DOCS/ANOMAL.PST"]


def test_back_end_errors_while_reading_are_read_errors():
    class Failing:
        def __init__(self, data):
            self.data, self.at, self.reads = data, 0, 0

        def get_size(self):
            return len(self.data)

        def seek(self, offset, whence=0):
            self.at = offset

        def read(self, size):
            self.reads += 1
            if self.reads > 1:
                raise RuntimeError("libewf_handle_read_buffer: unable to read chunk")
            return self.data[self.at : self.at + size]

        def close(self):
            pass

    data = (SYNTHETIC / "single-account-unicode-none.pst").read_bytes()
    view = ByteView(io.BufferedReader(RawReader(Failing(data)), 512))
    assert view[0:4] == b"!BDN"
    with pytest.raises(OSError, match="unable to read chunk"):
        view[100_000:200_000]


def test_one_store_failing_does_not_end_the_image(images, monkeypatch):
    import uidl_inspector.pipeline as pipeline_module

    real = pipeline_module._read_one

    def flaky(name, *args, **kwargs):
        if name.endswith("/general.pst"):
            raise ValueError("a bug")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(pipeline_module, "_read_one", flaky)
    report = _scan(images.disk)
    found = _by_path(report)
    assert "internal error: ValueError: a bug" in found["/general.pst"]["errors"][0]
    assert found["/embedded.pst"]["errors"] == [] and found["/DOCS/ANOMAL.PST"]["errors"] == []
    assert len(report["failed"]) == 1


def test_encrypted_volume_one_line(tmp_path):
    cryptsetup = need_peer("cryptsetup")
    path = tmp_path / "luks.img"
    with open(path, "wb") as handle:
        handle.truncate(4 << 20)
    subprocess.run(
        [
            cryptsetup,
            "luksFormat",
            "--batch-mode",
            "--type",
            "luks1",
            "--pbkdf-force-iterations",
            "1000",
            str(path),
            "-",
        ],
        input=b"secret-pass",
        check=True,
        capture_output=True,
        timeout=120,
    )
    result = runner.invoke(app, ["scan", str(path), "-f", "json"])
    assert result.exit_code == 1
    line = [x for x in result.stderr.splitlines() if "error" in x]
    assert len(line) == 1 and "LUKS" in line[0] and "--credential password:" in line[0]
    result = runner.invoke(
        app, ["scan", str(path), "-f", "json", "--credential", "password:secret-pass"]
    )
    assert result.exit_code == 0, result.output


def test_without_dfvfs_one_line_says_what_to_install(images, monkeypatch):
    monkeypatch.setattr(image_module, "dfvfs_available", lambda: False)
    result = runner.invoke(app, ["scan", str(images.wrapped["qcow2"]), "-f", "json"])
    assert result.exit_code == 1
    assert "pip install 'uidl-inspector[images]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_images_are_never_written(images):
    before = {p: (_sha256(p), p.stat().st_mtime_ns) for p in (images.fat, images.disk)}
    _scan(images.fat, images.disk)
    assert before == {p: (_sha256(p), p.stat().st_mtime_ns) for p in before}


def test_data_ranges_for_a_carver(images):
    ranges = list(data_ranges(str(images.disk)))
    kinds = {r.what for r in ranges}
    assert {"unallocated", "outside_partitions"} <= kinds
    size = images.disk.stat().st_size
    raw = images.disk.read_bytes()
    spans = sorted((r.offset, r.offset + r.length) for r in ranges if r.offset is not None)
    for (start, end), (next_start, _) in zip(spans, spans[1:], strict=False):
        assert 0 <= start < end <= next_start <= size
    outside = [r for r in ranges if r.what == "outside_partitions"]
    assert [(r.offset, r.length) for r in outside] == [(0, 2048 * 512)]
    for item in ranges[:20]:
        if item.offset is not None:
            with item.open() as stream:
                assert stream.read() == raw[item.offset : item.offset + item.length]
    # unallocated NTFS clusters lie inside partition 1 and hold no file's bytes
    p1 = (2048 * 512, (2048 + 12288) * 512)
    unallocated = [r for r in ranges if r.what == "unallocated" and r.partition == "p1"]
    assert unallocated and all(
        p1[0] <= r.offset and r.offset + r.length <= p1[1] for r in unallocated
    )
    for name in NTFS_LIVE.values():
        first = (SYNTHETIC / name).read_bytes()[:4096]
        assert all(first not in raw[r.offset : r.offset + r.length] for r in unallocated)
    # ntfs-3g, an independent reader of the same volume, counts the same free clusters
    info = subprocess.run(
        [need_peer("ntfsinfo"), "-m", str(images.folder / "p1.ntfs")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    cluster = int(re.search(r"Cluster Size: (\d+)", info).group(1))
    free = int(re.search(r"Free Clusters: (\d+)", info).group(1))
    assert sum(r.length for r in unallocated) == free * cluster


def test_fat_unallocated_holds_the_deleted_store_not_the_live_ones(images):
    raw = images.fat.read_bytes()
    unallocated = [r for r in data_ranges(str(images.fat)) if r.what == "unallocated"]
    assert unallocated
    free = b"".join(raw[r.offset : r.offset + r.length] for r in unallocated)
    assert (SYNTHETIC / FAT_DELETED[1]).read_bytes()[:65536] in free  # mdel frees clusters
    for name in set(FAT_LIVE.values()):
        assert (SYNTHETIC / name).read_bytes()[:4096] not in free
    for item in unallocated[:5]:
        with item.open() as stream:
            assert stream.read() == raw[item.offset : item.offset + item.length]
    # mtools, an independent reader of the same FAT, counts the same free bytes
    listing = subprocess.run(
        [need_peer("mdir"), "-i", str(images.fat), "::"], check=True, capture_output=True, text=True
    ).stdout
    free_bytes = int(re.search(r"([\d ]+) bytes free", listing).group(1).replace(" ", ""))
    assert sum(r.length for r in unallocated) == free_bytes
    disk = [r for r in data_ranges(str(images.disk)) if r.what == "unallocated"]
    p2 = (14336 * 512, (14336 + 8192) * 512)
    assert any(p2[0] <= r.offset and r.offset + r.length <= p2[1] for r in disk)


def test_deleted_file_data_range(images):
    deleted = [r for r in data_ranges(str(images.fat)) if r.what == "deleted_file"]
    assert len(deleted) == 1 and deleted[0].place.deleted
    with deleted[0].open() as stream:
        assert stream.read() == (SYNTHETIC / FAT_DELETED[1]).read_bytes()


def test_open_path_spec_round_trip(images):
    report = _scan(images.fat)
    source = _by_path(report)["/OUTLOOK.PST"]
    with open_path_spec(source["container"]["path_spec"]) as stream:
        assert hashlib.sha256(stream.read()).hexdigest() == source["sha256"]


def test_carve_an_image_reads_its_unused_space(tmp_path):
    """`carve IMAGE` finds histories in deleted files' clusters at their offsets in the
    decoded image, in a raw FAT volume and in the same volume wrapped as E01."""
    history = (disk_images.SAMPLES / "demo-history.blob").read_bytes()
    fat = tmp_path / "carve.img"
    disk_images._fat(
        fat, 2 * disk_images.MIB, {"/KEEP.TXT": "../README.md", "/GONE.BIN": "../demo-history.blob"}
    )
    disk_images._run(need_peer("mdel"), "-i", str(fat), "::/GONE.BIN")
    at = fat.read_bytes().find(history)  # mdel frees the clusters, it does not wipe them
    assert at > 0
    ewf = tmp_path / "carve"
    disk_images._run(
        need_peer("ewfacquire"), "-u", "-q", "-t", str(ewf), "-c", "deflate:fast", str(fat)
    )
    for image in (fat, tmp_path / "carve.E01"):
        result = runner.invoke(app, ["carve", str(image), "-f", "json"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["sources"][0]["kind"] == "image"
        assert report["sources"][0]["examined"]["unallocated"] >= 1
        blobs = [i for i in report["recovered"] if i["kind"] == "blob"]
        in_media = [i for i in blobs if i["source"] == str(image)]
        assert [(i["offset"], i["blob"]["declared_count"]) for i in in_media] == [(at, 25)]
        assert in_media[0]["blob"]["sha256"] == hashlib.sha256(history).hexdigest()
        # the deleted file's own data holds it too, at offset 0 of that file (FAT keeps a
        # deleted name without its first character)
        in_file = [i for i in blobs if i["source"].endswith("::/_ONE.BIN (deleted, inode 4)")]
        assert [i["offset"] for i in in_file] == [0]


def test_hidden_lists_the_stores_inside_an_image(images):
    """`hidden IMAGE`: the image as a source, each PST/OST in it with its container, and
    its hidden messages equal to those of the loose store it was copied from."""
    result = runner.invoke(app, ["hidden", str(images.wrapped["qcow2"]), "-f", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["sources"][0]["kind"] == "image"
    inside = {s["container"]["path"]: s for s in report["sources"] if "container" in s}
    assert set(inside) == set(NTFS_LIVE) | set(DISK_FAT_LIVE)  # no MSG in this disk
    for path, name in {**NTFS_LIVE, **DISK_FAT_LIVE}.items():
        rows = [
            {k: v for k, v in r.items() if k != "source"}
            for r in report["hidden"]
            if r["source"] == inside[path]["path"]
        ]
        with open_pst(SYNTHETIC / name) as store:
            loose, _ = hidden_inventory(store)
        assert rows == json.loads(json.dumps(loose)), path
        assert inside[path]["sha256"] == _sha256(SYNTHETIC / name)
