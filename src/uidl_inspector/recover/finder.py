"""Find POP3 history BLOBs and runs of resource tags in raw bytes, wherever they lie.

Why a finder of its own: a history found in free space, in a deleted file's clusters or in
a memory dump has no container to say where it starts or ends. What identifies it is its
content: resource tags (``O c yyyyMMddhhmmss uid\\0``: 16 fixed characters from tiny
alphabets, a UID of letters, digits and ``$xx`` escapes, then a NUL) follow one another,
and a complete BLOB has the 4-byte header (Version 3, Count) just before its first tag.
Nothing is assumed after the last tag: real BLOBs carry ``count + 4`` bytes of leftover
memory there, and free space holds whatever came next.

The same matcher serves the in-store engine (on decoded free blocks) and ``carve`` (on
plain and on PST-permute-encoded bytes, told apart by a one-pass prefilter).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from uidl_inspector.schemas.encoding import MPBBCRYPT, permute_decode
from uidl_inspector.schemas.popblob import CONTENTS, MAX_TAGS, OPERATIONS, PBLOB_VERSION

__all__ = ["Run", "find_runs", "run_at", "TAG", "MAX_TAG_SIZE", "PREFILTER", "is_permuted"]

MAX_UID_STORED = 256  # RFC 1939 allows 70 characters, escaped at most 210
MAX_TAG_SIZE = 16 + MAX_UID_STORED + 1
_HEADER = struct.Struct("<HH")  # Version, Count: as schemas.popblob.PopBlob declares them


def _chars(values: object) -> bytes:
    return b"".join(re.escape(v) for v in values)  # type: ignore[attr-defined]


_OPS = _chars(OPERATIONS)
_CTS = _chars(CONTENTS)
# One well-formed tag: the fixed fields, then a non-empty stored UID, then its NUL.
TAG = (b"[" + _OPS + b"][" + _CTS + b"][0-9]{14}[0-9A-Za-z$]{1,%d}\\x00" % MAX_UID_STORED)
_RUN = re.compile(b"(?:" + TAG + b")+")

# A tag's first four bytes, in plain text or as the permutation of §5.1 encodes them: one
# pass of this over raw bytes finds every place a run could start in either encoding.
_R = MPBBCRYPT[:256]


def _encoded_class(chars: bytes) -> bytes:
    return b"".join(re.escape(bytes([_R[c]])) for c in chars)


_DIGITS = b"0123456789"
_OP_BYTES = b"".join(OPERATIONS)
_CT_BYTES = b"".join(CONTENTS)
PREFILTER = re.compile(
    b"[" + _OPS + b"][" + _CTS + b"][0-9]{4}"
    + b"|[" + _encoded_class(_OP_BYTES) + b"][" + _encoded_class(_CT_BYTES) + b"]["
    + _encoded_class(_DIGITS) + b"]{4}")
_PLAIN_OPS = frozenset(_OP_BYTES)


def is_permuted(first_byte: int) -> bool:
    """Whether a prefilter hit starting with this byte is permute-encoded."""
    return first_byte not in _PLAIN_OPS


@dataclass(frozen=True)
class Run:
    """Consecutive whole tags at ``offset`` in the searched bytes, maybe with a header.

    ``header`` is (Version, Count) when the 4 bytes before the first tag are Version 3 and
    a Count of at least one; ``tags`` are the raw tags without their NUL, at most Count of
    them when a header claims fewer than follow (the rest start a new run).
    """

    offset: int  # of the header when there is one, else of the first tag
    tags: tuple[bytes, ...]
    header: tuple[int, int] | None
    size: int  # bytes from offset to the last tag's NUL, included

    @property
    def complete(self) -> bool:
        """A header whose Count equals the tags found: a whole BLOB (slack not included)."""
        return self.header is not None and self.header[1] == len(self.tags)

    def core(self, data: bytes, start: int = 0) -> bytes:
        """The run's bytes (header and tags) out of ``data`` searched from ``start``."""
        return bytes(data[self.offset - start:self.offset - start + self.size])


def _header_before(data: bytes, tag_start: int, lo: int) -> tuple[int, int] | None:
    if tag_start - 4 < lo:
        return None
    version, count = _HEADER.unpack_from(data, tag_start - 4)
    if version != PBLOB_VERSION or not 1 <= count <= MAX_TAGS:
        return None
    return version, count


def _split(data: bytes, start: int, end: int, lo: int) -> Iterator[Run]:
    """The runs of a match [start, end): cut after Count tags when a header says so."""
    pos = start
    while pos < end:
        header = _header_before(data, pos, lo)
        tags: list[bytes] = []
        cursor = pos
        limit = header[1] if header else MAX_TAGS
        while cursor < end and len(tags) < limit:
            nul = data.index(b"\0", cursor)
            tags.append(bytes(data[cursor:nul]))
            cursor = nul + 1
        begin = pos - 4 if header else pos
        yield Run(begin, tuple(tags), header, cursor - begin)
        pos = cursor


def find_runs(data: bytes, start: int = 0, end: int | None = None) -> Iterator[Run]:
    """Every run of whole tags in ``data[start:end]`` (offsets are into ``data``)."""
    end = len(data) if end is None else end
    for match in _RUN.finditer(data, start, end):
        yield from _split(data, match.start(), match.end(), start)


def run_at(data: bytes, pos: int, end: int | None = None) -> list[Run]:
    """The runs of the match starting exactly at ``pos`` (none when no tag starts there)."""
    match = _RUN.match(data, pos, len(data) if end is None else end)
    if match is None:
        return []
    return list(_split(data, match.start(), match.end(), 0))


def decode_window(raw: bytes, permuted: bool) -> bytes:
    """The bytes as the finder reads them: decoded when permute-encoded."""
    return permute_decode(raw) if permuted else bytes(raw)
