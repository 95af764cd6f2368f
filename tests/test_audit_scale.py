"""Issue 12: the audit's store reading at scale (progress, released mapping pages)."""

from __future__ import annotations

import pytest

from uidl_inspector.audit import inventory as inv_mod
from uidl_inspector.audit import take_inventory
from uidl_inspector.store import ndb
from uidl_inspector.store.pst import open_pst
from uidl_inspector.synth.scenarios import scenario
from uidl_inspector.synth.truth import write_evidence


@pytest.fixture(scope="module")
def large_store(tmp_path_factory):
    out = tmp_path_factory.mktemp("large")
    sc = scenario("large", messages=1200, clock_offset=60)
    return write_evidence(out, sc, variant="ansi", encoding="cyclic")


def test_progress_counts_up_to_the_folders_total(large_store, monkeypatch):
    monkeypatch.setattr(inv_mod, "PROGRESS_EVERY", 100)
    seen: list[tuple[int, int | None]] = []
    with open_pst(large_store.store) as pst:
        quiet = take_inventory(pst, "x")
    with open_pst(large_store.store) as pst:
        told = take_inventory(pst, "x", lambda count, total: seen.append((count, total)))
    assert told == quiet  # progress changes nothing in the result
    counts = [c for c, _ in seen]
    assert counts == sorted(counts) and counts[0] == 100
    assert seen[-1] == (len(told.messages), len(large_store.document["messages"]))
    assert {t for _, t in seen} == {len(large_store.document["messages"])}


def test_releasing_mapped_pages_reads_the_same(large_store, monkeypatch):
    with open_pst(large_store.store) as pst:
        kept = take_inventory(pst, "x")
    released = []
    real = ndb.NdbFile._read

    def counting(self, start, size):
        before = self._touched
        data = real(self, start, size)
        if self._touched < before + size:
            released.append(start)
        return data

    monkeypatch.setattr(ndb, "RELEASE_EVERY", 4096)
    monkeypatch.setattr(ndb.NdbFile, "_read", counting)
    with open_pst(large_store.store) as pst:
        again = take_inventory(pst, "x")
    assert released, "the mapping was never released"
    assert again == kept
    assert [m.internet_message_id for m in kept.messages] == [
        m["internet_message_id"] for m in large_store.document["messages"]
    ]
