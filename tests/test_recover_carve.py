"""``carve``: BLOBs and runs of tags planted in seeded random bytes are found at their offsets,
whatever the chunking, plain or permute-encoded; nothing is found where nothing was put."""

from __future__ import annotations

import io
import json
import random
from datetime import datetime, timedelta

import pytest
from typer.testing import CliRunner

from conftest import REAL_MSGS, REAL_PSTS, REAL_SAMPLES
from uidl_inspector.cli import app
from uidl_inspector.history import build_blob, make_tag
from uidl_inspector.recover.carve import carve
from uidl_inspector.schemas.encoding import permute_encode

T0 = datetime(2021, 5, 1, 8, 0, 0)


def _tags(n: int, first: int = 0) -> list[bytes]:
    return [
        make_tag("get", "body", T0 + timedelta(minutes=i), f"<{i}.{i * 7}@pop.example>")
        for i in range(first, first + n)
    ]


def _image(plants: list[tuple[int, bytes]], size: int = 3 << 20, seed: int = 5) -> bytes:
    image = bytearray(random.Random(seed).randbytes(size))
    for offset, data in plants:
        image[offset : offset + len(data)] = data
    return bytes(image)


def _places(items):
    return sorted(
        (p.offset, p.length, p.encoding, it.kind, it.core) for it in items for p in it.places
    )


BLOB_A = build_blob(_tags(12))
BLOB_B = build_blob(_tags(2000, 100))  # ~70 KB: longer than the small chunks below
SLACK = bytes(range(16))  # what real BLOBs carry after the last tag
FRAGMENT = b"\0".join(_tags(3, 5000)) + b"\0"


@pytest.mark.parametrize("chunk", [1 << 20, 1 << 16, 4096, 1000])
def test_planted_blobs_found_at_their_offsets(chunk: int) -> None:
    plants = [
        (7, BLOB_A + SLACK),
        ((1 << 20) - 30, permute_encode(BLOB_A)),  # across the first 1 MB boundary
        (1_500_000, BLOB_B + SLACK),
        (2_400_001, permute_encode(BLOB_B)),
        (2_900_000, b"x" * 9 + FRAGMENT),  # a run without its header (lost)
    ]
    image = _image(plants)
    result = carve(io.BytesIO(image), "img", chunk=chunk)
    expected = sorted(
        [
            (7, len(BLOB_A), "none", "blob", BLOB_A),
            ((1 << 20) - 30, len(BLOB_A), "permute", "blob", BLOB_A),
            (1_500_000, len(BLOB_B), "none", "blob", BLOB_B),
            (2_400_001, len(BLOB_B), "permute", "blob", BLOB_B),
            (2_900_009, len(FRAGMENT), "none", "fragment", FRAGMENT),
        ]
    )
    assert _places(result.items) == expected
    assert len(result.items) == 3  # identical copies are one item with two places
    assert result.size == len(image)
    blob_b = next(it for it in result.items if it.core == BLOB_B)
    assert [e.offset for e in blob_b.history.entries][:1] == [1_500_004]
    assert {p.offset for p in blob_b.places} == {1_500_000, 2_400_001}


def test_base_offset_makes_offsets_absolute() -> None:
    image = _image([(100, BLOB_A)], size=1 << 16)
    result = carve(io.BytesIO(image), "range", base=1 << 40)
    assert [p.offset for it in result.items for p in it.places] == [(1 << 40) + 100]


def test_header_count_smaller_than_run_splits_it() -> None:
    tags = _tags(5)
    data = build_blob(tags[:3]) + b"\0".join(tags[3:]) + b"\0"
    result = carve(io.BytesIO(_image([(64, data)], size=1 << 16)), "x")
    kinds = sorted((it.kind, len(it.history.entries)) for it in result.items)
    assert kinds == [("blob", 3), ("fragment", 2)]


def test_random_bytes_give_nothing() -> None:
    assert carve(io.BytesIO(random.Random(99).randbytes(6 << 20)), "r").items == []


@pytest.mark.parametrize("path", REAL_PSTS + REAL_MSGS, ids=lambda p: p.name)
def test_real_files_without_history_give_nothing(path) -> None:
    with open(path, "rb") as handle:
        assert carve(handle, str(path)).items == []


def test_real_lab_store_carved_like_a_raw_image() -> None:
    # live BLOB (count 9) and the earlier one (count 8) of the hand inspection
    path = REAL_SAMPLES / "pop3" / "tghanem-user1-20170617-3b2b9c93.pst"
    with open(path, "rb") as handle:
        result = carve(handle, str(path), chunk=4096)
    found = sorted(
        (p.offset, it.history.declared_count, p.encoding) for it in result.items for p in it.places
    )
    assert found == [(0xB812, 8, "permute"), (0xF492, 9, "permute")]
    assert {it.account.email for it in result.items} == {"user1@test.lab"}


def test_cli_carve_json_and_bad_input(tmp_path) -> None:
    image = tmp_path / "unalloc.bin"
    image.write_bytes(_image([(4096, permute_encode(BLOB_A))], size=1 << 18))
    result = CliRunner().invoke(app, ["carve", str(image), str(tmp_path / "missing"), "-f", "json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [s["size"] for s in report["sources"]] == [1 << 18, 0]
    [item] = report["recovered"]
    assert (item["offset"], item["kind"], item["encoding"]) == (4096, "blob", "permute")
    assert item["blob"]["declared_count"] == 12
    assert "missing" in result.stderr and result.stderr.count("\n") == 1


def test_text_full_of_dates_gives_only_the_planted_blob() -> None:
    text = b"2020-01-02 20:20 +b20 -h2020 " * 20000
    data = text + BLOB_A + text
    result = carve(io.BytesIO(data), "log.txt", chunk=1 << 16)
    assert _places(result.items) == [(len(text), len(BLOB_A), "none", "blob", BLOB_A)]
