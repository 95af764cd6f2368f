"""The ``evolving`` story: a history rewritten session after session, as Outlook does it.

Why: recovery must be proved on files whose every earlier version is known. Each
send/receive rewrites the Message Manager: new blocks are written and the old ones are
freed without being wiped (here: written as orphans, unreferenced and free in the AMap).
Later allocations then overwrite part of the freed space (here: after the store is
written, chosen versions' BLOB bytes are overwritten in place with other bytes, wholly or
in part). The truth's ``versions[]`` says, for each BLOB written, where it went, whether
it survives and which of its tags are intact.

The BLOB's place in the file is read back through the writer's own block ranges, block
trailer declaration and encoding (cyclic needs each block's id), not through the recovery
code under test.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime
from pathlib import Path
from typing import Any

from uidl_inspector.schemas.encoding import decode_block
from uidl_inspector.schemas.ndb import bid_is_internal
from uidl_inspector.synth.ndb_writer import CRYPT, format_for
from uidl_inspector.synth.scenarios import (
    BuiltStore,
    HistorySpec,
    ManagerSpec,
    Scenario,
    _one_account,
    _one_account_scenario,
    _profile,
    history_blob,
    stored_tags,
    tag_spans,
)

__all__ = ["evolving", "SESSIONS", "FATES", "rewrite_freed"]

SESSIONS = 7
# What later allocations did to each earlier version, oldest first (the last one is live).
FATES = ("none", "partial_head", "complete", "partial_middle", "complete", "complete")
_EXPIRE_AT = 4  # the session after which the server drops its oldest messages


def evolving(seed: int, clock_offset: int, **_options: object) -> Scenario:
    """One account, SESSIONS send/receives; every earlier BLOB stays in free space."""
    box = _one_account("evolving", seed, clock_offset, "k.osei@example.net", "Kwame Osei", 0)
    rng = box.rng
    profile = _profile(rng, "Outlook")
    written: list[tuple[HistorySpec, datetime]] = []
    for session in range(SESSIONS):
        box.arrive(rng.randint(2, 4))
        box.sync()
        if session == _EXPIRE_AT:  # Outlook forgets the UIDs the server no longer lists
            box.expire(keep=len(box.on_server) - 3)
        written.append((box.history(), box.now))
        box.idle(rng.uniform(1, 6))
    managers = [ManagerSpec(profile, (h,), deleted=True, created=t) for h, t in written[:-1]]
    managers.append(ManagerSpec(profile, (written[-1][0],), created=written[-1][1]))
    return _one_account_scenario("evolving", seed, box, managers, after_write=rewrite_freed)


def _blob_offset(
    handle: Any, ranges: list[tuple[int, int]], blob: bytes, variant: str, encoding: str
) -> int | None:
    """Where the writer put ``blob``: decode each of the message's blocks and look."""
    fmt = format_for(variant)
    size = fmt.block_trailer_size
    for ib, length in ranges:
        handle.seek(ib)
        raw = handle.read(length)
        trailer = fmt.BLOCKTRAILER.parse(raw[-size:])
        if bid_is_internal(trailer.bid):  # never encoded: holds no BLOB bytes
            continue
        at = decode_block(raw[: trailer.cb], CRYPT[encoding], trailer.bid).find(blob)
        if at >= 0:
            return ib + at
    return None


def _cut(fate: str, spans: list[tuple[int, int]], size: int) -> tuple[int, int] | None:
    """The BLOB bytes a later allocation overwrote, for each fate."""
    if fate == "none":
        return 0, size
    if fate == "partial_head":  # the header and the first tags, ending inside a tag
        return 0, spans[2][0] + 5
    if fate == "partial_middle":  # two tags in the middle, from inside one to inside the next
        k = len(spans) // 2
        return spans[k][0] + 3, spans[k + 1][0] + 7
    return None


def rewrite_freed(store: Path, built: BuiltStore, variant: str, encoding: str) -> dict[str, Any]:
    """Overwrite freed versions as FATES says; return the truth's ``versions``."""
    rng = random.Random(f"evolving/{variant}/{encoding}")
    versions: list[dict[str, Any]] = []
    earlier = [(m, spec, FATES[i]) for i, (m, spec) in enumerate(built.deleted)]
    live = [(m, spec, "live") for m, spec in built.managers]
    with open(store, "r+b") as handle:
        for manager, spec, fate in earlier + live:
            history = manager.histories[0]
            blob = history_blob(history)
            at = _blob_offset(handle, spec.block_ranges, blob, variant, encoding)
            stored = stored_tags(history)
            spans = tag_spans(stored)
            cut = None if at is None or fate == "live" else _cut(fate, spans, len(blob))
            if cut is not None and at is not None:
                handle.seek(at + cut[0])
                handle.write(rng.randbytes(cut[1] - cut[0]))
            intact = [not (cut and a < cut[1] and b > cut[0]) for a, b in spans]
            tags = [s.tag for s in stored]
            survives = "complete" if cut is None else "none" if not any(intact) else "partial"
            versions.append(
                {
                    "account": history.account.smtp,
                    "written_at": manager.created.replace(microsecond=0).isoformat(),
                    "count": len(tags),
                    "sha256": hashlib.sha256(blob).hexdigest(),
                    "size": len(blob),
                    "live": fate == "live",
                    "survives": survives,
                    "byte_ranges": [[at, len(blob)]] if at is not None else [],
                    "overwritten": [at + cut[0], cut[1] - cut[0]]
                    if cut and at is not None
                    else None,
                    "surviving_tags": [
                        [t.uid, t.timestamp.isoformat() if t.timestamp else None, t.operation]
                        for t, ok in zip(tags, intact, strict=True)
                        if ok
                    ],
                }
            )
    return {"versions": versions}
