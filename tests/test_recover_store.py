"""In-store recovery: earlier histories in free space of real and synthetic stores.

Expected values for the real lab stores come from a hand inspection (permute-decoding each
whole file, searching for ``03 00 cc 00 +b``, then locating each hit against the BBT with
the NDB reader and against the AMap bit by hand), not from the engine's output: three of
the seven stores keep the previous version (one tag fewer) in a free, unreferenced block.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from conftest import REAL_MSGS, REAL_PSTS, REAL_SAMPLES
from uidl_inspector.pipeline import scan_evidence
from uidl_inspector.recover import recover_store
from uidl_inspector.recover.finder import find_runs
from uidl_inspector.store.ndb import NdbFile

POP3 = sorted((REAL_SAMPLES / "pop3").glob("*.pst"))
# store -> (file offset of the earlier BLOB's header, its Count), found by hand
EARLIER = {
    "tghanem-user1-20170612-39ba6b10.pst": (0x9312, 5),
    "tghanem-user1-20170613-d94af90c.pst": (0x14892, 7),
    "tghanem-user1-20170617-3b2b9c93.pst": (0xB812, 8),
}


def _scan(path: Path, recover: bool = True):
    return scan_evidence([str(path)], recover=recover).report


@pytest.mark.parametrize("path", POP3, ids=lambda p: p.name)
def test_real_lab_store_previous_version(path: Path) -> None:
    report = _scan(path)
    items = [i for i in report.extra["recovered"] if i.kind != "deleted_manager"]
    if path.name not in EARLIER:
        assert items == []
        return
    offset, count = EARLIER[path.name]
    [item] = items
    live = report.histories[0]
    d = item.to_dict()
    assert (d["kind"], d["offset"], d["relation"]) == ("blob", offset, "earlier_version")
    assert d["blob"]["declared_count"] == count == d["blob"]["parsed_count"]
    # the whole BLOB as Outlook wrote it, its count + 4 bytes of slack included: the freed
    # heap's allocation for it is that long (103 bytes in 39ba6b10, 160 in 3b2b9c93)
    assert d["length"] == 4 + sum(len(e.raw_tag) + 1 for e in item.history.entries) + count + 4
    assert d["allocated"] is False and d["referenced"] is False
    assert d["encoding"] == "permute"
    assert d["account"]["email"] == "user1@test.lab"
    # its tags are exactly the live history's first tags, and nothing was lost
    assert [e.raw_tag for e in item.history.entries] == [e.raw_tag for e in live.history.entries][
        :count
    ]
    assert d["lost_entries"] == []
    assert d["entries"][0]["offset"] == offset + 4


# store -> (file offset, bid) of a free block holding an earlier state of the live
# manager's property context, and the attachment names its earlier subnode list leads to.
# Found by hand: UTF-16 "IPM.MessageManager" in the permute-decoded file at a block start
# that no BBT entry covers; and a node entry for the manager's NID (0x100028) with that
# bidData in an NBT leaf page lying in free space (its bidSub names the subnode list).
BOTH = ["BlobPOPuser1@test.lab", "RestagsPOPuser1@test.lab"]
EARLIER_MANAGER = {
    "tghanem-user1-20170612-39ba6b10.pst": (30720, 3776, BOTH),
    "tghanem-user1-20170617-3b2b9c93.pst": (42432, 7764, BOTH),
    "tghanem-user1-20170625-cb6a8618.pst": (43520, 9060, ["RestagsPOPuser1@test.lab"]),
}


@pytest.mark.parametrize("path", POP3, ids=lambda p: p.name)
def test_real_lab_store_earlier_manager(path: Path) -> None:
    from uidl_inspector.schemas.encoding import permute_decode

    report = _scan(path)
    managers = [i.to_dict() for i in report.extra["recovered"] if i.kind == "deleted_manager"]
    if path.name not in EARLIER_MANAGER:
        assert managers == []
        return
    offset, bid, attachments = EARLIER_MANAGER[path.name]
    [d] = managers
    live = report.extra["message_managers"][0]
    assert (d["offset"], d["bid"], d["relation"]) == (offset, bid, "earlier_version")
    assert (d["nid"], d["attachments"]) == (live["nid"], attachments)
    assert d["attachments_from"] == "stale_node_entry"
    assert d["subject"] == live["subject"] and d["profile"] == live["profile"]
    assert d["allocated"] is False and d["referenced"] is False
    raw = permute_decode(path.read_bytes()[offset : offset + d["length"]])
    assert "IPM.MessageManager".encode("utf-16-le") in raw


def test_no_recover_leaves_the_section_out() -> None:
    report = _scan(POP3[2], recover=False)
    assert "recovered" not in report.extra
    assert report.histories


@pytest.mark.parametrize("path", REAL_PSTS, ids=lambda p: p.name)
def test_no_false_positive_on_real_stores_without_history(path: Path) -> None:
    ndb = NdbFile(path)
    try:
        items, _ = recover_store(ndb, str(path))
    finally:
        ndb.close()
    assert items == []


@pytest.mark.parametrize("path", REAL_PSTS + REAL_MSGS, ids=lambda p: p.name)
def test_no_tag_run_in_real_files_without_history(path: Path) -> None:
    from uidl_inspector.schemas.encoding import permute_decode

    data = path.read_bytes()
    assert list(find_runs(data)) == []
    assert list(find_runs(permute_decode(data))) == []


def test_no_tag_run_in_random_bytes() -> None:
    from uidl_inspector.schemas.encoding import permute_decode

    data = random.Random(10).randbytes(4 << 20)
    assert list(find_runs(data)) == []
    assert list(find_runs(permute_decode(data))) == []


def test_fast_columns_agree_with_the_declaration() -> None:
    from uidl_inspector.schemas import ndb as s

    for fmt in s.FORMATS.values():
        record = s.FastRecord(fmt.BBTENTRY)
        raw = random.Random(fmt.name).randbytes(record.size)
        full = record.parse(raw)
        assert record.columns("BREF_ib", "cb").unpack(raw) == (full.BREF_ib, full.cb)
        with pytest.raises(KeyError):
            record.columns("nope")


def test_relation_rules() -> None:
    from datetime import datetime, timedelta

    from uidl_inspector.history import build_blob, make_tag, parse_blob
    from uidl_inspector.records import Account, HistoryRecord
    from uidl_inspector.recover.items import Place, collect, relate

    t0 = datetime(2024, 2, 1, 9, 0, 0)

    def tag(uid: str, minutes: int) -> bytes:
        return make_tag("get", "body", t0 + timedelta(minutes=minutes), uid)

    a, b, c = tag("a", 0), tag("b", 1), tag("c", 2)
    live_blob = build_blob([a, b, c]) + bytes(7)  # slack after the tags, as real BLOBs
    live = HistoryRecord(
        "s.pst", parse_blob(live_blob), live_blob, account=Account(email="x@example.org")
    )
    pieces = {
        "earlier": build_blob([a, b]),
        "same": build_blob([a, b, c]),
        "reset": build_blob([tag("a", 500), tag("b", 501)]),
        "stranger": build_blob([tag("zz", 3)]),
        "newer": build_blob([a, tag("d", 900)]),
    }
    found = []
    for n, (_, data) in enumerate(pieces.items()):
        [run] = list(find_runs(data))
        found.append((run, data, Place(1000 * n, len(data)), None))
    items = {i.places[0].offset // 1000: i for i in relate(collect(found, "s.pst"), [live])}
    earlier, same, reset, stranger, newer = (items[n] for n in range(5))
    assert (earlier.relation, earlier.related_history, earlier.lost) == ("earlier_version", 0, ())
    assert earlier.account_from == "uid_overlap"
    assert (same.relation, same.lost) == ("same_as_live", ())
    assert (reset.relation, reset.related_history) == ("unrelated", None)
    assert reset.account.email == "x@example.org" and len(reset.lost) == 2
    assert (stranger.relation, stranger.account) == ("unrelated", None)
    assert (newer.relation, newer.related_history) == ("unrelated", 0)
    assert [e.uid for e in newer.lost] == ["d"]


def test_cli_scan_recovers_by_default_and_no_recover_turns_it_off() -> None:
    import json

    from typer.testing import CliRunner

    from uidl_inspector.cli import app

    path = str(REAL_SAMPLES / "pop3" / "tghanem-user1-20170617-3b2b9c93.pst")
    runner = CliRunner()
    on = json.loads(runner.invoke(app, ["scan", path, "-f", "json"]).stdout)
    off = json.loads(runner.invoke(app, ["scan", path, "-f", "json", "--no-recover"]).stdout)
    assert [r["kind"] for r in on["recovered"]] == ["blob", "deleted_manager"]
    assert "recovered" not in off and off["histories"] == on["histories"]
    table = runner.invoke(app, ["scan", path, "-f", "table"]).stdout
    assert "Recovered (2)" in table
