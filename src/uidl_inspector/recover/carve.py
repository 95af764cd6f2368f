"""Carve POP3 histories out of any binary: raw images, unallocated space, pagefiles, dumps.

Why streaming: the input may be many gigabytes, so it is read in chunks with an overlap
(memory stays at one chunk plus, at worst, one BLOB still being read), hashed on the way
(the report ties its finds to the exact bytes), and searched once by a prefilter that sees
a tag's first bytes in plain text and in the PST permutation at the same time; each hit
is then decoded locally and read by the same matcher as in-store recovery. A PST block
lying in unallocated disk space keeps its encoding: permute decodes anywhere, cyclic needs
the block's id from its trailer and is not carved here (see docs/recovery.md).

The carver takes a binary file-like object and the absolute offset of its first byte, so
a disk image's unallocated ranges can be fed one by one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from uidl_inspector.recover.finder import (
    MAX_TAG_SIZE,
    PREFILTER,
    Run,
    decode_window,
    run_at,
)
from uidl_inspector.recover.items import Place, RecoveredItem, account_near, collect, relate
from uidl_inspector.report.model import Account
from uidl_inspector.schemas.popblob import MAX_TAGS

__all__ = ["CHUNK", "Carving", "carve", "carve_runs"]

CHUNK = 8 << 20
_MARGIN = MAX_TAG_SIZE + 4  # a run starting this close to a chunk's end waits for the next
_MAX_RUN = 4 + MAX_TAGS * MAX_TAG_SIZE  # the longest BLOB: a run longer is cut there
_WINDOW = 1 << 16
_NEAR = 8192
_PLAIN_OPS = frozenset(b"+&-")

Found = tuple[Run, bytes, Place, Account | None]


@dataclass
class Carving:
    """What carving one input gave: the items and the input's size and hashes."""

    items: list[RecoveredItem]
    size: int = 0
    sha256: str = ""
    md5: str = ""
    hashes: dict[str, str] = field(default_factory=dict)


def _runs_at(buf: bytes, p: int, permuted: bool, final: bool) -> tuple[list[Run], int, bool]:
    """Runs starting at ``buf[p]`` read through a growing decoded window.

    Returns the runs (offsets into ``buf``), the end of the last one, and whether the last
    one reaches the end of ``buf`` (it may go on in bytes not read yet).
    """
    lo = max(0, p - 4)
    size = _WINDOW
    while True:
        hi = min(len(buf), p + size)
        window = decode_window(buf[lo:hi], permuted)
        runs = run_at(window, p - lo)
        end = lo + runs[-1].offset + runs[-1].size if runs else p
        open_end = bool(runs) and hi - end < MAX_TAG_SIZE and hi < len(buf)
        if not open_end or size >= _MAX_RUN:
            break
        size *= 4
    reaches = bool(runs) and not final and len(buf) - end < MAX_TAG_SIZE and size < _MAX_RUN
    shifted = [Run(r.offset + lo, r.tags, r.header, r.size) for r in runs]
    return shifted, end, reaches


def carve_runs(fh: BinaryIO, base: int = 0, chunk: int = CHUNK,
               progress: Callable[[int], None] | None = None,
               hashers: tuple = ()) -> Iterator[Found]:
    """Every run of tags in ``fh`` (read to its end), at absolute offsets from ``base``."""
    buf = b""
    start = base  # absolute offset of buf[0]
    done = 0
    final = False
    while not final:
        new = fh.read(chunk)
        final = len(new) < chunk
        for h in hashers:
            h.update(new)
        done += len(new)
        buf = buf + new if buf else new
        limit = len(buf) if final else max(0, len(buf) - _MARGIN)
        keep: int | None = None  # where the next round starts when a run must wait
        pos = 0  # end of the last run read: hits before it are inside it
        for match in PREFILTER.finditer(buf):
            p = match.start()
            if p < pos:
                continue
            if p >= limit:
                keep = max(0, p - 4)
                break
            permuted = buf[p] not in _PLAIN_OPS
            runs, end, reaches = _runs_at(buf, p, permuted, final)
            if reaches:  # it may go on in the next chunk: read it whole then
                keep = max(0, p - 4)
                break
            for run in runs:
                core = decode_window(buf[run.offset:run.offset + run.size], permuted)
                near = decode_window(buf[max(0, run.offset - _NEAR):run.offset + run.size
                                         + _NEAR], permuted)
                place = Place(start + run.offset, run.size,
                              encoding="permute" if permuted else "none")
                yield run, core, place, account_near(near)
            pos = max(end, p + 1)
        if keep is None:
            keep = min(len(buf), max(limit, pos))
        start += keep
        buf = buf[keep:]
        if progress is not None:
            progress(done)


def carve(fh: BinaryIO, source: str, base: int = 0, chunk: int = CHUNK,
          progress: Callable[[int], None] | None = None) -> Carving:
    """Items carved from ``fh``, copies merged, with the size and hashes of what was read."""
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    size = 0

    def counted(n: int) -> None:
        nonlocal size
        size = n
        if progress is not None:
            progress(n)

    found = list(carve_runs(fh, base, chunk, counted, (sha256, md5)))
    items = relate(collect(found, source), ())
    return Carving(items, size, sha256.hexdigest(), md5.hexdigest())
