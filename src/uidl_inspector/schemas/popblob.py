"""Outlook's POP3 download-history BLOB, declared once for parsing and for building.

Layout ("Parsing the message download history for a POP3 account", Outlook auxiliary
reference): Version (uint16 LE, 3), Count (uint16 LE), then Count NUL-terminated resource
tags ``O c yyyyMMddhhmmss uid``. Field values stay raw bytes here, so that the same
declaration builds deliberately broken BLOBs; what the values mean and what is wrong with
them is decided in :mod:`uidl_inspector.history`.

Construct's generic ``Array(count, NullTerminated(ResourceTag))`` takes well over a second
for 65,535 tags (``benchmarks/bench_blob.py --generic``). :class:`ResourceTags` keeps that
declaration (:attr:`ResourceTags.declared`, the checked reference) and adds a fast path
that splits on NUL and slices each tag at the field bounds read from :data:`ResourceTag`;
``tests/test_popblob.py`` proves they agree.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import accumulate
from typing import Any, overload

from construct import (
    Array,
    Bytes,
    Construct,
    Container,
    GreedyBytes,
    Int16ul,
    ListContainer,
    NullTerminated,
    SizeofError,
    Struct,
    Terminated,
    this,
)
from construct.core import evaluate, stream_read_entire, stream_seek, stream_tell, stream_write

__all__ = [
    "PBLOB_VERSION",
    "MAX_TAGS",
    "OPERATIONS",
    "CONTENTS",
    "ResourceTag",
    "TAG_FIELDS",
    "FIXED_TAG_SIZE",
    "ResourceTags",
    "TagList",
    "PopBlobHeader",
    "HEADER_SIZE",
    "PopBlob",
    "PopBlobChecked",
    "slack_size",
]

PBLOB_VERSION = 3
MAX_TAGS = 0xFFFF  # Count is a uint16
TERMINATOR = b"\0"

# What the one-character fields of a resource tag mean.
OPERATIONS = {b"+": "get", b"-": "delete", b"&": "get-and-delete"}
CONTENTS = {b" ": "none", b"h": "header", b"b": "body"}

ResourceTag = Struct(
    "operation" / Bytes(1),  # + get, - delete, & get-and-delete
    "content" / Bytes(1),  # ' ' none, h header, b body
    "timestamp" / Bytes(14),  # yyyyMMddhhmmss, no time zone
    "uid" / GreedyBytes,  # the UID, every non-alphanumeric byte written as $xx
)


def _field_bounds(struct: Struct) -> tuple[tuple[str, int, int | None], ...]:
    """(name, start, end) of each field; end is None for the greedy last field."""
    bounds: list[tuple[str, int, int | None]] = []
    pos = 0
    for sub in struct.subcons:
        try:
            size = sub.sizeof()
        except SizeofError:
            bounds.append((sub.name, pos, None))
            break
        bounds.append((sub.name, pos, pos + size))
        pos += size
    return tuple(bounds)


TAG_FIELDS = _field_bounds(ResourceTag)
FIXED_TAG_SIZE = TAG_FIELDS[-1][1]  # bytes before the UID
_SLICES = tuple((name, slice(start, end)) for name, start, end in TAG_FIELDS)


def tag_fields(raw: bytes) -> Container:
    """The declared fields of one tag's bytes (short tags give short or empty fields)."""
    return Container((name, raw[bounds]) for name, bounds in _SLICES)


class TagList(Sequence[Container]):
    """Parsed resource tags, kept as the raw bytes of each tag; fields are sliced on access.

    ``raws`` holds each tag without its NUL. ``complete`` is True when all ``declared`` tags
    were NUL-terminated; ``cut`` is True when the data ended inside a tag (the last raw tag
    then lacks its NUL).
    """

    __slots__ = ("raws", "start", "declared", "complete", "cut", "_offsets")

    def __init__(self, raws: list[bytes], start: int, count: int, cut: bool) -> None:
        self.raws = raws
        self.start = start
        self.declared = count  # the header's Count (``count`` is Sequence's method)
        self.cut = cut
        self.complete = not cut and len(raws) == count
        self._offsets: list[int] | None = None

    @property
    def offsets(self) -> list[int]:
        """Absolute offset of each tag in the parsed data."""
        if self._offsets is None:
            ends = accumulate((len(raw) + 1 for raw in self.raws), initial=self.start)
            self._offsets = list(ends)[:-1]
        return self._offsets

    def __len__(self) -> int:
        return len(self.raws)

    @overload
    def __getitem__(self, index: int) -> Container: ...

    @overload
    def __getitem__(self, index: slice) -> ListContainer: ...

    def __getitem__(self, index: int | slice) -> Container | ListContainer:
        if isinstance(index, slice):
            return ListContainer(tag_fields(raw) for raw in self.raws[index])
        return tag_fields(self.raws[index])

    def __iter__(self) -> Iterator[Container]:
        return (tag_fields(raw) for raw in self.raws)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TagList({len(self.raws)} of {self.declared} tags, cut={self.cut})"


_FIXED_SIZES = tuple((name, end - start) for name, start, end in TAG_FIELDS if end is not None)
_GREEDY = TAG_FIELDS[-1][0]


def _join_tags(tags: list[Any]) -> bytes | None:
    """The bytes the declared builder would write, or None when it would refuse a field."""
    out: list[bytes] = []
    for tag in tags:
        for name, size in _FIXED_SIZES:
            value = tag[name]
            if type(value) is not bytes or len(value) != size:
                return None
            out.append(value)
        value = tag[_GREEDY]
        if type(value) is not bytes:
            return None
        out.append(value)
        out.append(TERMINATOR)
    return b"".join(out)


class ResourceTags(Construct):  # type: ignore[misc]  # construct ships no type hints
    """``count`` NUL-terminated resource tags, with a fast tolerant parse.

    Parsing never raises on data: it returns a :class:`TagList` with what is there and says
    whether all ``count`` tags were terminated. Building writes what the declared
    ``NullTerminated(ResourceTag)`` writes (joined in one go when every field fits, through
    the declaration otherwise) and, unlike ``Array``, as many tags as given, so that a BLOB
    whose Count disagrees with its tags can be made on purpose.
    """

    def __init__(self, count: Any) -> None:
        super().__init__()
        self.count = count
        self.tag = NullTerminated(ResourceTag, term=TERMINATOR)
        self.declared = Array(count, self.tag)
        self.flagbuildnone = False

    def _parse(self, stream: Any, context: Any, path: str) -> TagList:
        count = evaluate(self.count, context)
        start = stream_tell(stream, path)
        rest = stream_read_entire(stream, path)
        parts = rest.split(TERMINATOR, count)
        tail = parts.pop()  # what follows the count-th NUL, or an unterminated last tag
        cut = len(parts) < count and bool(tail)
        if len(parts) < count:
            if tail:
                parts.append(tail)
            tail = b""
        stream_seek(stream, start + len(rest) - len(tail), 0, path)
        return TagList(parts, start, count, cut)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        tags = list(obj)
        joined = _join_tags(tags)
        if joined is None:  # some field does not fit: the declared path says which
            for tag in tags:
                self.tag._build(tag, stream, context, path)
        else:
            stream_write(stream, joined, len(joined), path)
        return tags

    def _sizeof(self, context: Any, path: str) -> int:
        raise SizeofError("resource tags have variable length", path=path)


_TAGS = ResourceTags(this.count)


def slack_size(count: int) -> int:
    """How many bytes real Outlook writes after the Count-th tag: ``count + 4``.

    Real Outlook sizes its buffer too large and writes it whole: every real BLOB (9 from
    three origins) ends with exactly this much leftover memory, which Microsoft's pages do
    not mention. It is kept in ``trailing``; the decoder calls it slack when its length is
    exactly this, trailing data otherwise.
    """
    return count + 4


PopBlobHeader = Struct(
    "version" / Int16ul,  # PBLOB_VERSION_NUM, 3
    "count" / Int16ul,  # number of resource tags
)
HEADER_SIZE = PopBlobHeader.sizeof()

PopBlob = Struct(
    *PopBlobHeader.subcons,
    "tags" / _TAGS,
    "trailing" / GreedyBytes,  # slack_size(count) bytes from real Outlook, else nothing
)

# The same declaration parsed by Construct's generic, checked path: every one of Count tags
# must be NUL-terminated and hold the fixed fields, and nothing may follow. Slow; used in
# tests as the reference the fast path is proved against.
PopBlobChecked = Struct("version" / Int16ul, "count" / Int16ul, "tags" / _TAGS.declared, Terminated)
