"""Recovery equals the writer's truth: every version of ``evolving`` in every variant and
encoding, and the deleted Message Manager's history of ``deleted-manager``."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest

from uidl_inspector.pipeline import scan_evidence
from uidl_inspector.synth.scenarios import scenario, stored_tags
from uidl_inspector.synth.truth import write_evidence

VARIANTS = ("unicode", "ansi")
ENCODINGS = ("none", "permute", "cyclic")
COMBOS = [(v, e) for v in VARIANTS for e in ENCODINGS]


@pytest.fixture(scope="module")
def evolving_sets(tmp_path_factory):
    out = tmp_path_factory.mktemp("evolving")
    story = scenario("evolving")
    return {(v, e): write_evidence(out, story, variant=v, encoding=e) for v, e in COMBOS}


def _tag_rows(item):
    return [
        (e.offset, [e.uid, e.timestamp.isoformat() if e.timestamp else None, e.raw_operation])
        for e in item.history.entries
    ]


@pytest.mark.parametrize(("variant", "encoding"), COMBOS)
def test_evolving_versions_recovered_exactly(evolving_sets, variant, encoding) -> None:
    evidence = evolving_sets[(variant, encoding)]
    versions = evidence.document["versions"]
    assert Counter(v["survives"] for v in versions) == {"complete": 3 + 1, "partial": 2, "none": 1}
    report = scan_evidence([str(evidence.store)]).report
    items = [i for i in report.extra["recovered"] if i.kind in ("blob", "fragment")]
    blobs = {i.places[0].offset: i for i in items if i.kind == "blob"}
    recovered_tags = {}
    for item in items:
        for offset, row in _tag_rows(item):
            recovered_tags[offset] = row
    written_tags = set()
    for version in versions:
        at, size = version["byte_ranges"][0]
        for tag in version["surviving_tags"]:
            written_tags.add(tuple(tag))
        if version["live"]:
            assert at not in blobs  # the live BLOB is the live history, not a recovery
            continue
        if version["survives"] == "complete":
            item = blobs[at]
            assert item.places[0].length == size
            assert item.history.declared_count == version["count"]
            assert [row for _, row in _tag_rows(item)] == version["surviving_tags"]
            assert item.relation == "earlier_version"
            assert item.account.email == version["account"]
            assert item.places[0].allocated is False and item.places[0].referenced is False
        else:
            inside = [row for offset, row in recovered_tags.items() if at <= offset < at + size]
            assert sorted(inside) == sorted(version["surviving_tags"])
    # nothing that the writer did not write
    assert {tuple(row) for row in recovered_tags.values()} <= written_tags
    # earlier versions of the account are ordered by their latest tag
    latest = [i.latest for i in items]
    assert latest == sorted(latest)


def test_evolving_lost_entries_are_the_expired_tags(evolving_sets) -> None:
    evidence = evolving_sets[("unicode", "permute")]
    report = scan_evidence([str(evidence.store)]).report
    live = {e.raw_tag for e in report.histories[0].history.entries}
    lost = {e.raw_tag for i in report.extra["recovered"] for e in i.lost}
    recovered = {e.raw_tag for i in report.extra["recovered"] for e in i.history.entries}
    assert lost and lost == recovered - live


@pytest.mark.parametrize(("variant", "encoding"), COMBOS)
def test_deleted_manager_history_recovered(tmp_path, variant, encoding) -> None:
    story = scenario("deleted-manager")
    evidence = write_evidence(tmp_path, story, variant=variant, encoding=encoding)
    [deleted] = evidence.document["deleted"]
    [old] = [m for m in story.managers if m.deleted]
    expected = [s.text for s in stored_tags(old.histories[0])]
    report = scan_evidence([str(evidence.store)]).report
    [item] = [i for i in report.extra["recovered"] if i.kind == "blob"]
    place = item.places[0]
    assert any(ib <= place.offset < ib + size for ib, size in deleted["block_ranges"])
    assert [e.raw_tag.decode() for e in item.history.entries] == expected
    assert item.history.declared_count == len(expected)
    assert item.account.email == deleted["blobs"][0]["account"]
    # reset: the live history re-fetched the same UIDs later, so no tag is shared
    assert item.relation == "unrelated"
    assert {e.uid for e in item.history.entries} <= {
        e.uid for e in report.histories[0].history.entries
    }
    assert isinstance(item.latest, datetime)
    # the deleted manager itself, from its surviving heap blocks
    [manager] = [i.to_dict() for i in report.extra["recovered"] if i.kind == "deleted_manager"]
    assert manager["subject"] == deleted["subject"]
    assert manager["profile"]["name"] == deleted["profile"]
    account = deleted["blobs"][0]["account"]
    # the history attachment, then the empty Restags companion the writer puts beside it
    assert manager["attachments"] == [f"BlobPOP{account}", f"RestagsPOP{account}"]
    assert manager["relation"] == "unrelated"  # another profile's manager than the live one
    # the writer leaves no node entry for it: its subnode list is the nearest surviving one
    assert (manager["nid"], manager["attachments_from"]) == (None, "nearest_subnode_list")
    assert any(ib <= manager["offset"] < ib + size for ib, size in deleted["block_ranges"])


@pytest.mark.parametrize(("variant", "encoding"), COMBOS)
def test_evolving_earlier_managers(evolving_sets, variant, encoding) -> None:
    evidence = evolving_sets[(variant, encoding)]
    report = scan_evidence([str(evidence.store)]).report
    managers = [i for i in report.extra["recovered"] if i.kind == "deleted_manager"]
    earlier = [v for v in evidence.document["versions"] if not v["live"]]
    assert len(managers) == len(earlier)
    assert {m.relation for m in managers} == {"earlier_version"}
