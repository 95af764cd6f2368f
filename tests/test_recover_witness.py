"""Witness: libpff's own item recovery (``libpff_file_recover_items``, through its C API).

libpff recovers items from index entries left in unused space. Wherever it recovers a
Message Manager (by class, or by the NID of a store's manager), ours must report that
manager too (``deleted_manager``). On the real lab stores libpff recovers, among others,
an associated item: NID 0x100048, an earlier state of the store's
``IPM.Configuration.Autocomplete`` message (found by hand with ``hidden``; in six of the
seven stores), whose values it
cannot read; it recovers no manager there, and nothing from our synthetic deleted
manager, whose index entries the writer never wrote.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REAL_SAMPLES
from libpff_oracle import recovered_items
from uidl_inspector.pipeline import scan_evidence
from uidl_inspector.synth.scenarios import scenario
from uidl_inspector.synth.truth import write_evidence

POP3 = sorted((REAL_SAMPLES / "pop3").glob("*.pst"))
IGNORE_ALLOCATION = 1  # LIBPFF_RECOVERY_FLAG_IGNORE_ALLOCATION_DATA


def _check(path: Path) -> list:
    report = scan_evidence([str(path)]).report
    ours = {
        i.extra.get("subject") for i in report.extra["recovered"] if i.kind == "deleted_manager"
    }
    manager_nids = {m["nid"] for m in report.extra["message_managers"]}
    theirs = recovered_items(path, IGNORE_ALLOCATION)
    for item in theirs:
        if item.message_class == "IPM.MessageManager" or item.nid in manager_nids:
            assert item.subject in ours, f"libpff recovered manager {item.nid:#x}"
    return theirs


@pytest.mark.parametrize("path", POP3, ids=lambda p: p.name)
def test_libpff_recovered_managers_are_ours_too_real(path: Path) -> None:
    theirs = _check(path)
    associated = {i.nid for i in theirs if i.nid & 0x1F == 0x08}
    assert associated <= {0x100048}


@pytest.mark.parametrize("name", ["deleted-manager", "evolving"])
def test_libpff_recovered_managers_are_ours_too_synth(tmp_path, name) -> None:
    evidence = write_evidence(tmp_path, scenario(name), encoding="permute")
    assert _check(evidence.store) == []
