"""Recovery of POP3 histories outside the live ones: store free space, deleted managers, carving.

- :mod:`.finder`: BLOBs and runs of tags in any bytes (plain or permute-encoded).
- :mod:`.instore`: a store's unreferenced space, read block by block through the NDB
  declarations, marked allocated or free from the AMaps.
- :mod:`.items`: one record per distinct content, related to the live histories.
- :mod:`.managers`: deleted Message Managers from their surviving heap blocks.
- :mod:`.carve`: any binary, streamed in chunks with overlap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from uidl_inspector.findings import Finding
from uidl_inspector.records import HistoryRecord
from uidl_inspector.recover.instore import StoreSpace, find_in_store
from uidl_inspector.recover.items import RecoveredItem, collect, relate
from uidl_inspector.recover.managers import deleted_managers
from uidl_inspector.store.ndb import NdbFile

__all__ = ["recover_store", "RecoveredItem"]


def recover_store(
    ndb: NdbFile,
    source: str,
    histories: Sequence[HistoryRecord] = (),
    live_subjects: Iterable[str] = (),
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[RecoveredItem], list[Finding]]:
    """Histories, fragments and deleted Message Managers in a store's unreferenced space,
    related to its live histories (and managers, by ``live_subjects``). ``progress`` gets
    the bytes of that space read so far and their total."""
    space = StoreSpace(ndb)
    found, surviving, findings = find_in_store(ndb, space, progress)
    items = relate(collect(found, source), histories, source)
    if surviving:
        items += deleted_managers(
            ndb.fmt,
            surviving,
            source,
            set(live_subjects),
            space.stale_nodes(),
            lambda bid: ndb.blocks.read_block(bid, []),
        )
    return items, findings
