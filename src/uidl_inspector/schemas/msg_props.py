"""The MSG property stream ``__properties_version1.0`` ([MS-OXMSG] 2.4).

Declared once, used by the olefile fallback reader to parse and by tests and the synthetic
writer to build. The stream is a header whose size depends on the storage that holds it
(top-level message 32 bytes, embedded message 24, attachment or recipient 8), then 16-byte
property entries until the end of the stream.
"""

from __future__ import annotations

from construct import Bytes, GreedyRange, Int16ul, Int32ul, Padding, Struct

__all__ = [
    "PropertyEntry",
    "TopLevelHeader",
    "EmbeddedHeader",
    "AttachmentHeader",
    "PROPERTY_STREAM",
    "property_stream",
    "HEADER_SIZES",
]

PROPERTY_STREAM = "__properties_version1.0"

# [MS-OXMSG] 2.4.2.1: a property tag is (type, id) stored little-endian, so the type comes
# first on disk. For fixed-size types the 8-byte value holds the value; for variable-size
# types it holds the stream size (4 bytes) and 4 reserved bytes.
PropertyEntry = Struct(
    "prop_type" / Int16ul, "prop_id" / Int16ul, "flags" / Int32ul, "value" / Bytes(8)
)

# [MS-OXMSG] 2.4.1.2: header of an embedded message's property stream.
EmbeddedHeader = Struct(
    Padding(8),
    "next_recipient_id" / Int32ul,
    "next_attachment_id" / Int32ul,
    "recipient_count" / Int32ul,
    "attachment_count" / Int32ul,
)

# [MS-OXMSG] 2.4.1.1: the top-level message's is the same with 8 more reserved bytes.
TopLevelHeader = Struct(*EmbeddedHeader.subcons, Padding(8))

# [MS-OXMSG] 2.4.1.3: attachment and recipient objects: 8 reserved bytes.
AttachmentHeader = Struct(Padding(8))

_HEADERS = {"top": TopLevelHeader, "embedded": EmbeddedHeader, "attachment": AttachmentHeader}
HEADER_SIZES = {kind: header.sizeof() for kind, header in _HEADERS.items()}  # 32, 24, 8


def property_stream(kind: str) -> Struct:
    """The whole property stream of a ``top``, ``embedded`` or ``attachment`` storage."""
    return Struct("header" / _HEADERS[kind], "entries" / GreedyRange(PropertyEntry))
