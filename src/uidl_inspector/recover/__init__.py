"""Recovery of POP3 histories outside the live ones: store free space, deleted managers, carving.

- :mod:`.finder`: BLOBs and runs of tags in any bytes (plain or permute-encoded).
- :mod:`.instore`: a store's unreferenced space, read block by block through the NDB
  declarations, marked allocated or free from the AMaps.
- :mod:`.items`: one record per distinct content, related to the live histories.
- :mod:`.carve`: any binary, streamed in chunks with overlap.
"""

from __future__ import annotations

from collections.abc import Sequence

from uidl_inspector.findings import Finding
from uidl_inspector.recover.instore import find_in_store
from uidl_inspector.recover.items import RecoveredItem, collect, relate
from uidl_inspector.report.model import HistoryRecord
from uidl_inspector.store.ndb import NdbFile

__all__ = ["recover_store", "RecoveredItem"]


def recover_store(ndb: NdbFile, source: str, histories: Sequence[HistoryRecord] = ()
                  ) -> tuple[list[RecoveredItem], list[Finding]]:
    """Histories and fragments in a store's unreferenced space, related to its live ones."""
    found, findings = find_in_store(ndb)
    return relate(collect(found, source), histories, source), findings
