"""Carve POP3 histories out of any binary: raw images, unallocated space, pagefiles, dumps.

Streamed in chunks with an overlap (the input may be many gigabytes), hashed on a second
thread, and searched for the century digits of a tag's date in plain and permute-encoded
bytes: docs/recovery.md ("carve") says how and what is not carved. The carver takes a
file-like object and the absolute offset of its first byte, so a disk image's unallocated
ranges can be fed one by one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Protocol

from uidl_inspector.recover.finder import (
    MAX_TAG_SIZE,
    Run,
    dated_tag_starts,
    decode_window,
    encoding_at,
    run_at,
)
from uidl_inspector.recover.items import Found, Place, RecoveredItem, account_near, collect, relate
from uidl_inspector.schemas.popblob import MAX_TAGS

if TYPE_CHECKING:
    from uidl_inspector.store.image import ImageOptions

__all__ = ["CHUNK", "Carving", "ImageCarving", "carve", "carve_image", "carve_runs"]

CHUNK = 8 << 20
_MARGIN = MAX_TAG_SIZE + 4  # a run starting this close to a chunk's end waits for the next
_MAX_RUN = 4 + MAX_TAGS * MAX_TAG_SIZE  # the longest BLOB: a run longer is cut there
_WINDOW = 1 << 16
_NEAR = 8192


@dataclass
class Carving:
    """What carving one input gave: the items and the input's size and hashes."""

    items: list[RecoveredItem]
    size: int = 0
    sha256: str = ""
    md5: str = ""


def _runs_at(buf: memoryview, p: int, permuted: bool, final: bool) -> tuple[list[Run], int, bool]:
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


class Hasher(Protocol):
    """What ``carve_runs`` feeds the bytes it reads to (a hashlib object)."""

    def update(self, data: memoryview, /) -> None: ...


def _update(hashers: Sequence[Hasher], data: memoryview) -> None:
    for h in hashers:
        h.update(data)


def _round(buf: memoryview, start: int, final: bool) -> tuple[list[Found], int]:
    """The finds of one buffer and how many of its bytes are done with.

    A run that starts in the last _MARGIN bytes, or that reaches the end of the buffer
    (it may go on), is left for the next round with the 4 bytes before it (its header).
    """
    limit = len(buf) if final else max(0, len(buf) - _MARGIN)
    found: list[Found] = []
    pos = 0  # end of the last run read: candidates before it are inside it
    for p in dated_tag_starts(buf):
        if p < pos:
            continue
        if p >= limit:
            return found, max(0, p - 4)
        permuted = encoding_at(buf, p)
        if permuted is None:
            continue
        runs, end, reaches = _runs_at(buf, p, permuted, final)
        if reaches:
            return found, max(0, p - 4)
        for run in runs:
            core = decode_window(buf[run.offset : run.offset + run.size], permuted)
            near = decode_window(
                buf[max(0, run.offset - _NEAR) : run.offset + run.size + _NEAR], permuted
            )
            place = Place(start + run.offset, run.size, encoding="permute" if permuted else "none")
            found.append((run, core, place, account_near(near)))
        pos = max(end, p + 1)
    return found, min(len(buf), max(limit, pos))


def _fill(fh: BinaryIO, view: memoryview) -> int:
    """Read into ``view`` until it is full or the input ends (a short read is not the end)."""
    got = 0
    readinto = getattr(fh, "readinto", None)
    while got < len(view):
        if readinto is not None:
            n = readinto(view[got:])
        else:  # a reader without readinto: read, then copy
            data = fh.read(len(view) - got)
            n = len(data)
            view[got : got + n] = data
        if not n:
            break
        got += n
    return got


def carve_runs(
    fh: BinaryIO,
    base: int = 0,
    chunk: int = CHUNK,
    progress: Callable[[int], None] | None = None,
    hashers: Sequence[Hasher] = (),
) -> Iterator[Found]:
    """Every run of tags in ``fh`` (read to its end), at absolute offsets from ``base``.

    ``hashers`` (hashlib objects) are fed every byte read, in order. Each chunk is read
    into one reused buffer after the bytes carried over from the last (no copy of the
    chunk itself), hashed there on a second thread (hashlib releases the GIL on large
    buffers) while it is searched on this one.
    """
    area = bytearray(chunk + _MARGIN)
    carry = 0  # bytes at the start of area kept from the last round
    start = base  # absolute offset of area[0]
    done = 0
    final = False
    with ThreadPoolExecutor(1) as pool:
        hashing: Future[None] | None = None
        while not final:
            if hashing is not None:
                hashing.result()  # the hasher reads area: wait before writing to it
                hashing = None
            if len(area) < carry + chunk:
                area = area[:carry] + bytearray(chunk)
            view = memoryview(area)
            got = _fill(fh, view[carry : carry + chunk])
            final = got < chunk
            if hashers and got:
                hashing = pool.submit(_update, hashers, view[carry : carry + got])
            done += got
            buf = view[: carry + got]
            found, keep = _round(buf, start, final)
            yield from found
            start += keep
            carry = len(buf) - keep
            area[:carry] = buf[keep:].tobytes() if carry else b""
            del buf, view
            if progress is not None:
                progress(done)
        if hashing is not None:
            hashing.result()


def carve(
    fh: BinaryIO,
    source: str,
    base: int = 0,
    chunk: int = CHUNK,
    progress: Callable[[int], None] | None = None,
) -> Carving:
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


@dataclass
class ImageCarving:
    """What carving a disk image's unallocated space gave: items per place, and counts."""

    items: list[RecoveredItem]
    ranges: dict[str, int] = field(default_factory=dict)  # what -> count of ranges read
    carved_bytes: int = 0
    errors: list[str] = field(default_factory=list)


def carve_image(
    path: str,
    source: str,
    options: ImageOptions | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImageCarving:
    """Carve the space a disk image's file systems do not use: unallocated clusters (NTFS,
    FAT), the space outside partitions, and deleted files' data (store.image.data_ranges).

    Offsets of unallocated and outside-partition finds are offsets in the decoded media
    (what an E01/QCOW2/VMDK holds), under ``source``; a deleted file's finds are offsets in
    that file, under its full location in the image. A range that cannot be read is one
    error line; the others are still carved.
    """
    from uidl_inspector.exceptions import UidlInspectorError
    from uidl_inspector.store.image import data_ranges

    media: list[Found] = []
    deleted: dict[str, list[Found]] = {}
    out = ImageCarving([])

    def counted(n: int) -> None:
        if progress is not None:
            progress(out.carved_bytes + n)

    try:
        for part in data_ranges(path, options):
            out.ranges[part.what] = out.ranges.get(part.what, 0) + 1
            where = part.place.location if part.place is not None else source
            try:
                with part.open() as stream:
                    found = list(carve_runs(stream, part.offset or 0, progress=counted))
            except (OSError, UidlInspectorError) as exc:
                out.errors.append(
                    f"{where}: cannot read {part.what} at "
                    f"{part.offset if part.offset is not None else 0}: {exc}"
                )
                continue
            out.carved_bytes += part.length
            (deleted.setdefault(where, []) if part.place is not None else media).extend(found)
    except UidlInspectorError as exc:
        out.errors.append(f"{source}: {' '.join(str(exc).split())}")
    out.items = relate(collect(media, source), ())
    for where, found in deleted.items():
        out.items += relate(collect(found, where), ())
    return out
