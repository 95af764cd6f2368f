"""BLOB seeds, built with the project's own builder (``history.build_blob``).

Variety matters more than volume: every operation and content character, escapes of every
kind, non-ASCII and over-long UIDs, an empty history, a large one, and BLOBs that are
already anomalous (count mismatch, trailing bytes, bad version), so that mutations start
from both sides of every check. BLOBs held by the committed samples are added when the
locator can read them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

__all__ = ["blob_seeds", "DOC_TAG"]

# The first tag of the example BLOB in Microsoft's "Parsing the message download history".
DOC_TAG = b"+b201209061311380BC535DB$2dEA63$2d11E1$2dA75C$2d00215AD7BB74"


def blob_seeds() -> list[tuple[str, bytes]]:
    from uidl_inspector.history import build_blob

    t0 = datetime(2012, 9, 6, 13, 11, 38)  # noqa: DTZ001 - the BLOB records no zone
    ops, contents = ("get", "delete", "get-and-delete"), ("none", "header", "body")
    uids = [
        "0BC535DB-EA63-11E1-A75C-00215AD7BB74",
        "1",
        "UID+with/every!char~" * 3,
        "\u00e9t\u00e9-\u65e5\u672c",
        "x" * 200,
        "0000abcd",
        "a$b c\tz",
        "".join(chr(c) for c in range(0x21, 0x7F)),
    ]
    mixed = [
        (ops[i % 3], contents[(i // 3) % 3], t0 + timedelta(minutes=7 * i), uids[i % len(uids)])
        for i in range(27)
    ]
    many = [
        ("get", "body", t0 + timedelta(seconds=i), f"{i:08X}-{i * 7919:08x}") for i in range(600)
    ]
    seeds = [
        ("doc-example", build_blob([DOC_TAG])),
        ("empty", build_blob([])),
        ("mixed-27", build_blob(mixed)),
        ("many-600", build_blob(many)),
        ("count-mismatch", build_blob(mixed[:5], count=9)),
        ("trailing", build_blob(mixed[:3], trailing=b"\x00\xffjunk")),
        ("bad-version", build_blob(mixed[:4], version=2)),
        (
            "bad-fields",
            build_blob(
                [b"?x20129999996161abc", b"+b20120906131138", *mixed[:2]],
                count=5,
                trailing=b"-h2012",
            ),
        ),
    ]
    seeds += _sample_blobs()
    return seeds


def _sample_blobs() -> list[tuple[str, bytes]]:
    """BLOBs found in the committed synthetic samples (``samples/``), when readable."""
    repo = Path(__file__).resolve().parents[1]
    samples = repo / "samples"
    if not samples.is_dir():
        return []
    try:
        from uidl_inspector.locate import locate
        from uidl_inspector.store.pst import open_pst
    except ImportError:
        return []
    out: list[tuple[str, bytes]] = []
    seen: set[bytes] = set()
    for path in sorted(samples.rglob("*.pst")):
        if path.stat().st_size > 4 << 20:
            continue
        store = open_pst(str(path))
        try:
            for record in locate(store).histories:
                # a Message Manager without history has no BLOB (record.blob is None)
                if record.blob is not None and record.blob not in seen and len(out) < 40:
                    seen.add(record.blob)
                    out.append((f"{path.name}#{len(out)}", record.blob))
        finally:
            store.close()
    return out
