"""Synthetic evidence, checked by readers we did not write.

Every scenario x variant x encoding is written once per session; then libpff (pypff for
folders, messages and hidden items; its C API through tests/libpff_oracle.py for the
BLOBs), readpst (normal messages) and extract-msg / olefile (the exported MSG files) must
each find exactly what the truth file says.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import extract_msg
import olefile
import pypff
import pytest
from typer.testing import CliRunner

import libpff_oracle
from conftest import SAMPLES, need_peer
from uidl_inspector.history import parse_blob
from uidl_inspector.schemas.encoding import permute_encode
from uidl_inspector.synth.scenarios import SCENARIOS, history_blob, scenario
from uidl_inspector.synth.truth import truth_bytes, write_evidence

VARIANTS = ("unicode", "ansi")
ENCODINGS = ("none", "permute", "cyclic")
COMBOS = [(s, v, e) for s in SCENARIOS for v in VARIANTS for e in ENCODINGS]
LARGE_MESSAGES = 300
CLOCK_OFFSET = 120  # +02:00: BLOB times two hours ahead of the UTC delivery times
_written: dict[tuple[str, str, str], object] = {}


@pytest.fixture(scope="session")
def evidence_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("synth")


def evidence(directory: Path, combo: tuple[str, str, str]):
    """The evidence set of one combination, written on first use."""
    if combo not in _written:
        name, variant, encoding = combo
        story = scenario(name, seed=7, clock_offset=CLOCK_OFFSET, messages=LARGE_MESSAGES)
        _written[combo] = write_evidence(
            directory, story, variant=variant, encoding=encoding, msg=True
        )
    return _written[combo]


def _ids(combo: tuple[str, str, str]) -> str:
    return "-".join(combo)


def _entries(item: object) -> dict[int, object]:
    return {e.entry_type: e for e in item.get_record_set(0).entries}


def _string(entries: dict, prop_id: int) -> str | None:
    entry = entries.get(prop_id)
    if entry is None:
        return None
    return entry.get_data_as_string() if entry.data else ""


def _binary(entries: dict, prop_id: int) -> str | None:
    entry = entries.get(prop_id)
    return entry.data.hex() if entry is not None else None


def _walk(folder: object, path: str, out: dict) -> None:
    out[path] = folder
    for sub in folder.sub_folders:
        _walk(sub, f"{path}/{sub.name}" if path else sub.name, out)


@pytest.mark.parametrize("combo", COMBOS, ids=_ids)
def test_libpff_sees_the_truths_folders_messages_and_hidden_items(evidence_dir, combo):
    written = evidence(evidence_dir, combo)
    doc = written.document
    pst = pypff.file()
    pst.open(str(written.store))
    try:
        folders: dict[str, object] = {}
        for top in pst.root_folder.sub_folders:
            _walk(top, top.name, folders)
        top = doc["store"]["top_name"]
        # The IPM subtree is the scenario's; beside it the writer adds only "Search Root",
        # whose folders hold no messages (checked below: every message and item is compared).
        assert sorted(p for p in folders if p.split("/")[0] == top) == sorted(
            [top] + [f["path"] for f in doc["folders"]]
        )
        messages, hidden = [], []
        for path, folder in folders.items():
            for message in folder.sub_messages:
                entries = _entries(message)
                messages.append(
                    {
                        "folder": path,
                        "nid": message.identifier,
                        "subject": message.subject,
                        "internet_message_id": _string(entries, 0x1035),
                        "delivery_time": message.delivery_time.isoformat() + "+00:00",
                    }
                )
            for item in folder.sub_items:
                if item.identifier & 0x1F != 0x08:
                    continue
                entries = _entries(item)
                hidden.append(
                    {
                        "folder": path,
                        "nid": item.identifier,
                        "message_class": _string(entries, 0x001A),
                        "subject": _string(entries, 0x0037),
                        "conversation_key": _binary(entries, 0x000B),
                        "search_key": _binary(entries, 0x300B),
                    }
                )
    finally:
        pst.close()
    want = [
        {k: m[k] for k in ("folder", "nid", "subject", "internet_message_id", "delivery_time")}
        for m in doc["messages"]
    ]
    assert sorted(messages, key=lambda m: m["nid"]) == sorted(want, key=lambda m: m["nid"])
    want_hidden = [
        {
            k: h[k]
            for k in ("folder", "nid", "message_class", "subject", "conversation_key", "search_key")
        }
        for h in doc["hidden"]
    ]
    assert sorted(hidden, key=lambda h: h["nid"]) == sorted(want_hidden, key=lambda h: h["nid"])


def _oracle_attachments(attachments: tuple) -> list[dict]:
    rows = []
    for a in attachments:
        row = {
            "index": a.index,
            "size": None if a.data is None else len(a.data),
            "sha256": None if a.data is None else hashlib.sha256(a.data).hexdigest(),
        }
        if a.kind == "item":
            row["embedded"] = _oracle_attachments(a.embedded)
        rows.append(row)
    return rows


def _truth_attachments(attachments: list[dict]) -> list[dict]:
    rows = []
    for a in attachments:
        row = {"index": a["index"], "size": a["size"], "sha256": a["sha256"]}
        if "embedded" in a:
            row["embedded"] = _truth_attachments(a["embedded"]["attachments"])
        rows.append(row)
    return rows


@pytest.mark.parametrize("combo", COMBOS, ids=_ids)
def test_libpff_c_api_returns_every_blob_byte_for_byte(evidence_dir, combo):
    written = evidence(evidence_dir, combo)
    doc = written.document
    found = {h.nid: h for h in libpff_oracle.hidden_messages(written.store)}
    assert sorted(found) == sorted(h["nid"] for h in doc["hidden"])
    for row in doc["hidden"]:
        seen = found[row["nid"]]
        assert (seen.message_class, seen.subject or None) == (row["message_class"], row["subject"])
        assert _oracle_attachments(seen.attachments) == _truth_attachments(row["attachments"])
    assert doc["histories"], "every scenario holds at least one live history"
    for record in doc["histories"]:
        location = record["location"]
        blobs = found[location["message_nid"]].blobs()
        if record["blob"] is None:  # a Message Manager without history: no attachment
            assert blobs == {}
            continue
        data = blobs[(*location["embedded_path"], location["attachment_index"])]
        assert len(data) == record["blob"]["size"]
        assert hashlib.sha256(data).hexdigest() == record["blob"]["sha256"]


_MESSAGE_ID = re.compile(r"^Message-ID:\s*(\S+)", re.MULTILINE | re.IGNORECASE)


@pytest.mark.peers
@pytest.mark.parametrize("combo", COMBOS, ids=_ids)
def test_readpst_exports_the_normal_messages(evidence_dir, tmp_path, combo):
    readpst = need_peer("readpst")
    written = evidence(evidence_dir, combo)
    doc = written.document
    # -j 0: readpst's parallel jobs (its default) race on -S file names and now and then
    # overwrite a message's file (measured: 296-297 of 300 files in 3 of 12 runs).
    done = subprocess.run(
        [readpst, "-q", "-j", "0", "-S", "-o", str(tmp_path), str(written.store)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    exported: Counter[tuple[str, str]] = Counter()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            text = path.read_text("utf-8", errors="replace")
            head = text.split("\n\n", 1)[0]
            for ident in _MESSAGE_ID.findall(head):
                exported[(path.parent.name, ident)] += 1
    top = doc["store"]["top_name"] + "/"
    want = Counter(
        (m["folder"].removeprefix(top), m["internet_message_id"]) for m in doc["messages"]
    )
    assert exported == want


def _msg_blobs(message: object, prefix: tuple[int, ...]) -> dict[tuple[int, ...], str]:
    """SHA-256 of every data attachment, keyed by its path of attachment indexes."""
    found = {}
    for index, attachment in enumerate(message.attachments):
        data = attachment.data
        if isinstance(data, bytes):
            found[(*prefix, index)] = hashlib.sha256(data).hexdigest()
        else:
            found.update(_msg_blobs(data, (*prefix, index)))
    return found


@pytest.mark.parametrize("combo", [c for c in COMBOS if c[2] == "none"], ids=_ids)
def test_msg_exports_open_in_extract_msg_and_olefile_with_exact_blobs(evidence_dir, combo):
    written = evidence(evidence_dir, combo)
    doc = written.document

    def data_attachments(rows, prefix):  # every by-value attachment: histories, Restags
        found = {}
        for row in rows:
            if "embedded" in row:
                found.update(
                    data_attachments(row["embedded"]["attachments"], (*prefix, row["index"]))
                )
            elif row["sha256"] is not None:
                found[(*prefix, row["index"])] = row["sha256"]
        return found

    managers = {r["location"]["message_nid"] for r in doc["histories"]}
    by_nid = {
        h["nid"]: data_attachments(h["attachments"], ())
        for h in doc["hidden"]
        if h["nid"] in managers
    }
    for record in doc["histories"]:  # each history among them, byte for byte
        if record["blob"] is None:  # a manager without history: no attachment at all
            assert by_nid[record["location"]["message_nid"]] == {}
            continue
        location = record["location"]
        key = (*location["embedded_path"], location["attachment_index"])
        assert by_nid[location["message_nid"]][key] == record["blob"]["sha256"]
    exported = doc["files"]["msg"]
    assert len(exported) == len(by_nid) == len(written.msgs)
    for row in exported:
        path = written.store.parent / row["file"]
        with olefile.OleFileIO(str(path), raise_defects=olefile.DEFECT_INCORRECT) as ole:
            assert ole.parsing_issues == []
            assert ole.exists("__nameid_version1.0")
        msg = extract_msg.openMsg(str(path), strict=False)
        try:
            assert msg.classType == "IPM.MessageManager"
            found = _msg_blobs(msg, ())
        finally:
            msg.close()
        assert found == by_nid[row["message_nid"]]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_truth_entries_and_anomalies_agree_with_the_blob_decoder(evidence_dir, name):
    doc = evidence(evidence_dir, (name, "unicode", "none")).document
    story = scenario(name, seed=7, clock_offset=CLOCK_OFFSET, messages=LARGE_MESSAGES)
    blobs = [history_blob(h) for m in story.managers if not m.deleted for h in m.histories]
    records = [r for r in doc["histories"] if r["blob"] is not None]
    assert len(blobs) == len(records)
    for blob, record in zip(blobs, records, strict=True):
        decoded = parse_blob(blob).to_dict()
        assert record["entries"] == decoded["entries"]
        assert record["anomalies"] == [
            {"code": a["code"], "offset": a["offset"]} for a in decoded["anomalies"]
        ]
        assert (
            record["blob"]["version"],
            record["blob"]["declared_count"],
            record["blob"]["parsed_count"],
        ) == (decoded["version"], decoded["declared_count"], decoded["parsed_count"])
        assert record["blob"]["slack"] == decoded["slack"]  # size, bytes and text


def test_writer_shows_real_outlooks_traits(evidence_dir):
    """Slack of count + 4 bytes (some with text), Blob/BlobPOP names on one attachment with
    an empty Restags companion, UTC tags after delivery (some sharing a second), pruning."""
    texts = 0
    shared = 0
    for name in SCENARIOS:
        doc = evidence(evidence_dir, (name, "unicode", "none")).document
        for record in doc["histories"]:
            if record["blob"] is None:
                continue
            slack = record["blob"]["slack"]
            if "count_mismatch" in doc["expected"]["anomaly_codes"][
                doc["histories"].index(record)
            ] or any(not e["complete"] for e in record["entries"]):
                assert slack is None
                continue
            assert slack["size"] == record["blob"]["declared_count"] + 4
            texts += bool(slack["text"])
            stamps = [e["timestamp"] for e in record["entries"]]
            shared += sum(1 for x, y in zip(stamps, stamps[1:], strict=False) if x == y)
    assert texts >= 3 and shared >= 3
    single = evidence(evidence_dir, ("single-account", "unicode", "none")).document
    [manager] = [h for h in single["hidden"] if h["message_class"] == "IPM.MessageManager"]
    blob, restags = manager["attachments"]
    account = single["expected"]["accounts"][0]
    assert blob["name"] == f"BlobPOP{account['email']}"
    assert restags["name"] == f"RestagsPOP{account['email']}" and restags["size"] == 0
    written = evidence(evidence_dir, ("single-account", "unicode", "none"))
    msg = extract_msg.openMsg(str(written.msgs[0]), strict=False)  # an independent reader
    try:
        found = {
            i: (a.shortFilename, a.longFilename, len(a.data)) for i, a in enumerate(msg.attachments)
        }
        extra = [a.getStream("__substg1.0_370F0102") for a in msg.attachments]
    finally:
        msg.close()
    mini = account["mini_uid"]
    assert found == {
        0: (f"Blob{mini}", f"BlobPOP{account['email']}", blob["size"]),
        1: (f"Restags{mini}", f"RestagsPOP{account['email']}", 0),
    }
    assert extra == [int(mini, 16).to_bytes(4, "little")] * 2  # AttachAdditionalInformation
    # Webmail deleted a message; the next send/receive dropped its tag; its copy stays.
    [pruned] = single["expected"]["pruned_uids"]
    assert pruned in {m["uid"] for m in single["messages"]}
    assert pruned not in {e["uid"] for r in single["histories"] for e in r["entries"]}
    assert pruned not in {lk["uid"] for lk in single["expected"]["links"]}


def test_anomalous_scenario_holds_each_kind_of_damage(evidence_dir):
    doc = evidence(evidence_dir, ("anomalous", "ansi", "cyclic")).document
    codes = {
        code for record in doc["histories"] for code in (a["code"] for a in record["anomalies"])
    }
    assert {"count_mismatch", "truncated", "bad_uid_escape", "bad_timestamp"} <= codes


def test_get_tags_follow_their_delivery_by_outlooks_lag_in_the_writers_zone(evidence_dir):
    for name in SCENARIOS:
        doc = evidence(evidence_dir, (name, "unicode", "none")).document
        delivered = {
            (m["nid"]): datetime.fromisoformat(m["delivery_time"]) for m in doc["messages"]
        }
        gets = sum(
            1
            for r in doc["histories"]
            for e in r["entries"]
            if e["operation"] in ("get", "get-and-delete") and e["timestamp"]
        )
        assert len(doc["expected"]["links"]) == gets, name
        for link in doc["expected"]["links"]:
            entry = doc["histories"][link["history"]]["entries"][link["entry"]]
            local = datetime.fromisoformat(entry["timestamp"])
            utc = delivered[link["nid"]].replace(tzinfo=None)
            # Real Outlook: 3-16 s after the delivery, now and then up to 30 s; never
            # before the previous tag, so a shared second can stretch the lag up to 30 s.
            lag = local - utc - timedelta(minutes=CLOCK_OFFSET)
            assert timedelta(seconds=3) <= lag <= timedelta(seconds=30), (name, link)


def test_duplicates_story_refetches_the_server_messages_after_the_reset(evidence_dir):
    doc = evidence(evidence_dir, ("duplicates", "unicode", "none")).document
    reset = datetime.fromisoformat(doc["expected"]["history_reset_at"])
    groups = doc["expected"]["duplicates"]
    assert groups and len(groups) == doc["expected"]["burst_size"]
    assert (
        sorted(g["internet_message_id"] for g in groups)
        == doc["expected"]["duplicated_message_ids"]
    )
    for group in groups:
        first, second = sorted(datetime.fromisoformat(c["delivery_time"]) for c in group["copies"])
        assert first < reset <= second
    history = doc["histories"][0]["entries"]
    starts = datetime.fromisoformat(history[0]["timestamp"]) - timedelta(minutes=CLOCK_OFFSET)
    assert starts >= reset.replace(tzinfo=None)


def test_two_profiles_have_different_keys_and_overlapping_uids(evidence_dir):
    doc = evidence(evidence_dir, ("two-profiles", "unicode", "none")).document
    profiles = doc["expected"]["profiles"]
    assert len(profiles) == 3 and len({p["search_key"] for p in profiles}) == 3
    old, new, unused = ({e["uid"] for e in r["entries"]} for r in doc["histories"])
    # The third profile never fetched mail: its manager is reported without history.
    assert unused == set() and doc["histories"][2]["blob"] is None
    assert doc["histories"][2]["anomalies"] == [{"code": "no_history_attachment", "offset": None}]
    assert doc["histories"][2]["profile"]["name"] == "Petra (test)"
    assert old & new and sorted(old & new) == doc["expected"]["shared_uids"]
    assert {r["location"]["match_rule"] for r in doc["histories"]} == {
        "subject",
        "conversation_key",
    }


def test_general_key_and_localized_and_embedded_locations(evidence_dir):
    general = evidence(evidence_dir, ("general-key", "unicode", "none")).document
    record = general["histories"][0]
    assert record["location"]["match_rule"] == "general_key"
    # As every real General Key manager: empty parentheses, profile name "".
    assert record["profile"] == {"name": "", "search_key": b"General Key\0".hex()}
    assert (
        record["location"]["subject"]
        == "Outlook Message Manager () (KEY: 47656E6572616C204B657900)"
    )
    localized = evidence(evidence_dir, ("localized", "ansi", "none")).document
    assert localized["histories"][0]["location"]["folder"] == "Top of Personal Folders/Posteingang"
    embedded = evidence(evidence_dir, ("embedded", "unicode", "none")).document
    assert embedded["histories"][0]["location"]["embedded_path"] == [0]
    multi = evidence(evidence_dir, ("multi-account", "unicode", "none")).document
    rules = [(r["location"]["attachment_rule"], r["account"]) for r in multi["histories"]]
    assert [rule for rule, _ in rules] == ["long_filename", "mini_uid", "display_name"]
    assert rules[1][1]["email"] is None and re.fullmatch(r"[0-9a-f]{8}", rules[1][1]["mini_uid"])


@pytest.mark.parametrize("encoding", ["none", "permute"])
def test_deleted_manager_bytes_lie_in_its_recorded_block_ranges(evidence_dir, encoding):
    written = evidence(evidence_dir, ("deleted-manager", "unicode", encoding))
    doc = written.document
    (deleted,) = doc["deleted"]
    data = written.store.read_bytes()
    story = scenario("deleted-manager", seed=7, clock_offset=CLOCK_OFFSET)
    old = next(m for m in story.managers if m.deleted)
    blob = history_blob(old.histories[0])
    stored = blob if encoding == "none" else permute_encode(blob)
    assert hashlib.sha256(blob).hexdigest() == deleted["blobs"][0]["sha256"]
    at = data.find(stored)
    assert at > 0
    assert any(
        start <= at and at + len(stored) <= start + size for start, size in deleted["block_ranges"]
    )
    live = {h.nid for h in libpff_oracle.hidden_messages(written.store)}
    assert deleted["nid"] not in live


def test_same_seed_same_bytes_other_seed_other_story(tmp_path):
    a = write_evidence(tmp_path / "a", scenario("two-profiles", seed=3), msg=True)
    b = write_evidence(tmp_path / "b", scenario("two-profiles", seed=3), msg=True)
    c = write_evidence(tmp_path / "c", scenario("two-profiles", seed=4))
    for left, right in [
        (a.store, b.store),
        (a.truth_file, b.truth_file),
        *zip(a.msgs, b.msgs, strict=True),
    ]:
        assert left.read_bytes() == right.read_bytes()
    assert a.store.read_bytes() != c.store.read_bytes()
    assert truth_bytes(a.document) == a.truth_file.read_bytes()


def test_clock_offset_shifts_blob_times_only(tmp_path):
    utc = scenario("single-account", seed=5, clock_offset=0)
    west = scenario("single-account", seed=5, clock_offset=-330)
    assert [m.delivery_time for m in utc.messages] == [m.delivery_time for m in west.messages]
    for left, right in zip(
        utc.managers[0].histories[0].tags, west.managers[0].histories[0].tags, strict=True
    ):
        assert left.timestamp - right.timestamp == timedelta(minutes=330)


def test_large_scenario_has_the_requested_number_of_messages():
    story = scenario("large", messages=1234)
    assert len(story.messages) == 1234
    assert len(story.managers[0].histories[0].tags) == 1234


def test_committed_samples_regenerate_byte_identically():
    spec = importlib.util.spec_from_file_location("regenerate", SAMPLES / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.differences(SAMPLES) == []
    demo = json.loads((SAMPLES / "demo.truth.json").read_text("utf-8"))
    assert demo["scenario"] == "duplicates" and demo["expected"]["duplicates"]
    for name in ("demo.pst", "demo.truth.json", "demo.uidl.txt"):
        assert (SAMPLES / name).stat().st_size < 1 << 20


def _synth_cli(*args: str):
    from uidl_inspector.cli import app

    return CliRunner().invoke(app, ["synth", *args])


def test_cli_writes_the_set_and_refuses_to_overwrite(tmp_path):
    args = (
        str(tmp_path),
        "--scenario",
        "multi-account",
        "--variant",
        "ansi",
        "--encoding",
        "permute",
        "--clock-offset",
        "-05:30",
        "--seed",
        "9",
        "--msg",
    )
    first = _synth_cli(*args)
    assert first.exit_code == 0, first.output
    base = tmp_path / "multi-account-ansi-permute"
    doc = json.loads(base.with_suffix(".truth.json").read_text("utf-8"))
    assert doc["clock_offset_minutes"] == -330 and doc["variant"] == "ansi"
    listing = base.with_suffix(".uidl.txt").read_bytes().decode("ascii").split("\r\n")
    uids = [uid for _, uid in doc["server_uidl"]["j.doe@example.com"]]
    assert listing[0] == f"+OK {len(uids)} messages"
    assert listing[1:-2] == [f"{n} {uid}" for n, uid in enumerate(uids, 1)]
    assert listing[-2:] == [".", ""]
    assert (tmp_path / "multi-account-ansi-permute.manager-1.msg").exists()
    before = base.with_suffix(".pst").read_bytes()
    again = _synth_cli(*args)
    assert again.exit_code == 1 and "--force" in again.output
    forced = _synth_cli(*args, "--force")
    assert forced.exit_code == 0 and base.with_suffix(".pst").read_bytes() == before


def test_cli_rejects_bad_offsets_and_scenarios(tmp_path):
    assert (
        _synth_cli(str(tmp_path), "--scenario", "large", "--clock-offset", "+15:00").exit_code == 2
    )
    assert _synth_cli(str(tmp_path), "--scenario", "nope").exit_code == 2
    assert not any(tmp_path.iterdir())


def _directory(data: bytes) -> list:
    """Every directory entry of a compound file, parsed with the declared schema."""
    from uidl_inspector.schemas.cfb import CfbHeader, DirectoryEntry, SectorOfIds

    header = CfbHeader.parse(data)
    fat = [
        i
        for s in header.difat[: header.fat_sectors]
        for i in SectorOfIds.parse(data[512 + s * 512 : 1024 + s * 512])
    ]
    entries, sector, seen = [], header.first_directory_sector, set()
    while sector < 0xFFFFFFFA and sector not in seen:
        seen.add(sector)
        block = data[512 + sector * 512 : 1024 + sector * 512]
        entries += [DirectoryEntry.parse(block[i : i + 128]) for i in range(0, 512, 128)]
        sector = fat[sector]
    return entries


def _check_siblings(entries: list, node: int, low, high) -> int:
    """Assert the sibling tree under ``node`` is a red-black BST in [MS-CFB] name order;
    return its black height."""
    if node == 0xFFFFFFFF:
        return 1
    entry = entries[node]
    name = entry.name[: entry.name_length - 2].decode("utf-16-le")
    key = (len(name), name.upper())
    assert (low is None or low < key) and (high is None or key < high)
    if entry.color == "red":
        for child in (entry.left_sibling, entry.right_sibling):
            assert child == 0xFFFFFFFF or entries[child].color == "black"
    left = _check_siblings(entries, entry.left_sibling, low, key)
    right = _check_siblings(entries, entry.right_sibling, key, high)
    assert left == right
    return left + (entry.color == "black")


@pytest.mark.parametrize("count", [1, 2, 3, 7, 8, 40])
def test_compound_file_directory_is_a_red_black_tree_in_name_order(count):
    from uidl_inspector.synth.msg_writer import CompoundFile, Storage, Stream

    names = [f"s{i:0{1 + i % 3}d}" for i in range(count)]
    inner = Storage("inner", [Stream(n, bytes([i % 256]) * (i * 97)) for i, n in enumerate(names)])
    data = CompoundFile(Storage("Root Entry", [inner, Stream("big", bytes(5000))])).to_bytes()
    entries = _directory(data)
    storages = [e for e in entries if e.object_type in ("storage", "root")]
    for storage in storages:
        if storage.child != 0xFFFFFFFF:
            assert entries[storage.child].color == "black"
            _check_siblings(entries, storage.child, None, None)
    import io

    with olefile.OleFileIO(io.BytesIO(data), raise_defects=olefile.DEFECT_INCORRECT) as ole:
        for i, name in enumerate(names):
            assert ole.openstream(f"inner/{name}").read() == bytes([i % 256]) * (i * 97)
        assert ole.openstream("big").read() == bytes(5000)
