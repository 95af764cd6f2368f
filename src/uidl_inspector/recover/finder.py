"""Find POP3 history BLOBs and runs of resource tags in raw bytes, wherever they lie.

A history in free space, in a deleted file's clusters or in a memory dump has no container
to say where it starts or ends: it is found by its content, one resource tag
(``O c yyyyMMddhhmmss uid\\0``) after another, with the 4-byte header (Version 3, Count)
just before the first tag of a complete BLOB (docs/recovery.md, "What is recovered"). The
same matcher serves the in-store engine and ``carve``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from uidl_inspector.schemas.encoding import MPBBCRYPT, permute_decode
from uidl_inspector.schemas.popblob import CONTENTS, MAX_TAGS, OPERATIONS, PBLOB_VERSION, PopBlob

__all__ = [
    "Run",
    "find_runs",
    "run_at",
    "tag_starts",
    "dated_tag_starts",
    "encoding_at",
    "decode_window",
    "TAG",
    "MAX_TAG_SIZE",
    "PLAIN_DIGITS",
    "CENTURY_NEEDLES",
]

MAX_UID_STORED = 256  # RFC 1939 allows 70 characters, escaped at most 210
MAX_TAG_SIZE = 16 + MAX_UID_STORED + 1


_OP_BYTES = b"".join(OPERATIONS)
_CT_BYTES = b"".join(CONTENTS)


def _one_of(chars: bytes) -> bytes:
    return b"[" + re.escape(chars) + b"]"


# One well-formed tag: the fixed fields, then a non-empty stored UID, then its NUL.
TAG = _one_of(_OP_BYTES) + _one_of(_CT_BYTES) + b"[0-9]{14}[0-9A-Za-z$]{1,%d}\\x00" % MAX_UID_STORED
_RUN = re.compile(b"(?:" + TAG + b")+")

# In-store candidates are found without a regular expression: one ``bytes.translate``
# marks every digit "D" (every other byte "x"), then ``bytes.find`` looks for a tag's 14
# timestamp digits, both at C speed. A tag starts two bytes before its timestamp (its
# operation and content are never digits).
_R = MPBBCRYPT[:256]
_TIMESTAMP = b"D" * 14
PLAIN_DIGITS = bytes(ord("D") if chr(c).isdigit() and c < 128 else ord("x") for c in range(256))
_PLAIN_START = (frozenset(_OP_BYTES), frozenset(_CT_BYTES))
_ENCODED_START = (frozenset(_R[c] for c in _OP_BYTES), frozenset(_R[c] for c in _CT_BYTES))


def tag_starts(data: bytes, start: int = 0) -> Iterator[int]:
    """Offsets in ``data[start:]`` where a tag may start (checked later), ascending."""
    marks = data[start:].translate(PLAIN_DIGITS)
    pos = 0
    while (i := marks.find(_TIMESTAMP, pos)) >= 0:
        if i >= 2:
            yield start + i - 2
        rest = marks.find(b"x", i + len(_TIMESTAMP))  # past the rest of this run of digits
        pos = len(marks) if rest < 0 else rest


# The century of a tag's date, plain and permute-encoded: a literal that ``re`` finds at
# memchr speed, one pass each; a look-behind (checked in C) keeps only those preceded by
# an operation and a content, so text full of "20" costs no Python step. Outlook writes
# the time of the download: 20xx.
CENTURY_NEEDLES = (b"20", bytes(_R[b] for b in b"20"))


def _century(needle: bytes, ops: bytes, cts: bytes) -> re.Pattern[bytes]:
    lit = re.escape(needle)
    return re.compile(lit + b"(?<=" + _one_of(ops) + _one_of(cts) + lit + b")")


_CENTURY_SEARCH = (
    _century(CENTURY_NEEDLES[0], _OP_BYTES, _CT_BYTES),
    _century(CENTURY_NEEDLES[1], bytes(_R[c] for c in _OP_BYTES), bytes(_R[c] for c in _CT_BYTES)),
)


def dated_tag_starts(data: bytes | memoryview) -> list[int]:
    """Where a tag dated 2000-2099 may start, plain or permute-encoded, ascending.

    Two literal passes instead of a translate: the fast path of ``carve`` on gigabytes. A
    run's later tags may hold any date; its first tag must be dated 20xx to be found.
    """
    return sorted([m.start() - 2 for search in _CENTURY_SEARCH for m in search.finditer(data, 2)])


def encoding_at(data: bytes | memoryview, pos: int) -> bool | None:
    """Whether a tag at ``pos`` would be plain (False) or permute-encoded (True); None if
    its first two bytes are neither."""
    op, ct = data[pos], data[pos + 1]
    if op in _PLAIN_START[0] and ct in _PLAIN_START[1]:
        return False
    if op in _ENCODED_START[0] and ct in _ENCODED_START[1]:
        return True
    return None


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

    def core(self, data: bytes) -> bytes:
        """The run's bytes (header and tags) out of the searched ``data``."""
        return bytes(data[self.offset : self.offset + self.size])


def _header_before(data: bytes, tag_start: int, lo: int) -> tuple[int, int] | None:
    if tag_start - 4 < lo:
        return None
    head = PopBlob.parse(bytes(data[tag_start - 4 : tag_start]))  # Version, Count, no tag
    version, count = head.version, head.count
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


def find_runs(data: bytes, start: int = 0) -> Iterator[Run]:
    """Every run of whole tags in ``data[start:]`` (offsets are into ``data``)."""
    pos = start
    for p in tag_starts(data, start):
        if p < pos:
            continue
        match = _RUN.match(data, p)
        if match is not None:
            yield from _split(data, match.start(), match.end(), start)
            pos = match.end()


def run_at(data: bytes, pos: int) -> list[Run]:
    """The runs of the match starting exactly at ``pos`` (none when no tag starts there)."""
    match = _RUN.match(data, pos)
    return [] if match is None else list(_split(data, match.start(), match.end(), 0))


def decode_window(raw: bytes | memoryview, permuted: bool) -> bytes:
    """The bytes as the finder reads them: decoded when permute-encoded."""
    return permute_decode(bytes(raw)) if permuted else bytes(raw)
