"""MAPI property identifiers and types used across layers ([MS-OXPROPS], [MS-OXCDATA]).

Properties are keyed by their 16-bit identifier (the high word of a property tag); the
type is kept beside the value where it matters (String8 vs Unicode in ANSI stores).
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone
from enum import IntEnum
from typing import Any

__all__ = [
    "PropId",
    "PropType",
    "AttachMethod",
    "FILETIME_EPOCH",
    "filetime_to_datetime",
    "datetime_to_filetime",
    "FIXED_SIZE",
    "MV_FLAG",
    "decode_fixed",
    "FixedValue",
    "encode_fixed",
    "decode_string",
    "encode_string",
]


class PropType(IntEnum):
    """Property types ([MS-OXCDATA] 2.11.1)."""

    NULL = 0x0001
    INT16 = 0x0002
    INT32 = 0x0003
    FLOAT32 = 0x0004
    FLOAT64 = 0x0005
    CURRENCY = 0x0006
    FLOATING_TIME = 0x0007
    ERROR = 0x000A
    BOOLEAN = 0x000B
    OBJECT = 0x000D
    INT64 = 0x0014
    STRING8 = 0x001E
    UNICODE = 0x001F
    TIME = 0x0040
    GUID = 0x0048
    BINARY = 0x0102
    MV_STRING8 = 0x101E
    MV_UNICODE = 0x101F
    MV_BINARY = 0x1102


class PropId(IntEnum):
    """Property identifiers this tool reads or writes."""

    CONVERSATION_KEY = 0x000B
    IMPORTANCE = 0x0017
    MESSAGE_CLASS = 0x001A
    SUBJECT = 0x0037
    CLIENT_SUBMIT_TIME = 0x0039
    SENT_REPRESENTING_NAME = 0x0042
    SENT_REPRESENTING_EMAIL = 0x0065
    TRANSPORT_MESSAGE_HEADERS = 0x007D
    SENDER_NAME = 0x0C1A
    SENDER_EMAIL_ADDRESS = 0x0C1F
    DISPLAY_TO = 0x0E04
    MESSAGE_DELIVERY_TIME = 0x0E06
    MESSAGE_FLAGS = 0x0E07
    MESSAGE_SIZE = 0x0E08
    HASATTACH = 0x0E1B
    MESSAGE_STATUS = 0x0E17
    ATTACH_SIZE = 0x0E20
    RECORD_KEY = 0x0FF9
    STORE_RECORD_KEY = 0x0FFA  # on a message: the record key of the store that held it
    BODY = 0x1000
    INTERNET_MESSAGE_ID = 0x1035
    DISPLAY_NAME = 0x3001
    CREATION_TIME = 0x3007
    LAST_MODIFICATION_TIME = 0x3008
    SEARCH_KEY = 0x300B
    IPM_SUBTREE_ENTRYID = 0x35E0
    IPM_WASTEBASKET_ENTRYID = 0x35E3
    FINDER_ENTRYID = 0x35E7
    CONTENT_COUNT = 0x3602
    CONTENT_UNREAD_COUNT = 0x3603
    SUBFOLDERS = 0x360A
    CONTAINER_CLASS = 0x3613
    ASSOC_CONTENT_COUNT = 0x3617
    ATTACH_DATA = 0x3701  # PidTagAttachDataBinary / PidTagAttachDataObject
    ATTACH_FILENAME = 0x3704
    ATTACH_METHOD = 0x3705
    ATTACH_LONG_FILENAME = 0x3707
    RENDERING_POSITION = 0x370B
    MESSAGE_CODEPAGE = 0x3FFD  # the code page of the message's String8 values


class AttachMethod(IntEnum):
    """PidTagAttachMethod values this tool reads or writes ([MS-OXCMSG] 2.2.2.9)."""

    BY_VALUE = 1
    EMBEDDED_MESSAGE = 5


FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=timezone.utc)


def filetime_to_datetime(value: int) -> datetime:
    """A PtypTime FILETIME (100 ns ticks since 1601, UTC) as an aware datetime.

    Raises OverflowError past datetime's range (year 9999); callers decide whether that is
    a finding or a raw value.
    """
    return FILETIME_EPOCH + timedelta(microseconds=value // 10)


def datetime_to_filetime(value: datetime | int) -> int:
    """A UTC-aware datetime (or a raw FILETIME, returned as is) as 100 ns ticks since 1601."""
    if isinstance(value, int):
        return value
    if value.tzinfo is None:
        raise ValueError("PtypTime values must be timezone-aware (UTC)")
    delta = value - FILETIME_EPOCH
    return (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


# -- the value codec: one decode and one encode per fixed-size PtypXxx --------------------
# [MS-OXCDATA] 2.11.1 defines PtypInteger16/32/64 and PtypCurrency as signed (two's
# complement) and PtypErrorCode as an unsigned 32-bit code; PtypBoolean is one byte. Every
# reader and writer goes through these, so a value reads the same from a PST and an MSG.

MV_FLAG = 0x1000
_CODEC: dict[int, struct.Struct] = {  # type: struct of exactly the stored bytes
    PropType.INT16: struct.Struct("<h"),
    PropType.INT32: struct.Struct("<i"),
    PropType.FLOAT32: struct.Struct("<f"),
    PropType.FLOAT64: struct.Struct("<d"),
    PropType.CURRENCY: struct.Struct("<q"),
    PropType.FLOATING_TIME: struct.Struct("<d"),
    PropType.ERROR: struct.Struct("<I"),
    PropType.BOOLEAN: struct.Struct("<B"),
    PropType.INT64: struct.Struct("<q"),
    PropType.TIME: struct.Struct("<Q"),
}
# Integer types, which wrap to their width when encoded.
_INTEGERS = {PropType.INT16, PropType.INT32, PropType.CURRENCY, PropType.INT64, PropType.ERROR}
FIXED_SIZE: dict[int, int] = {**{t: c.size for t, c in _CODEC.items()}, PropType.GUID: 16}


# What decode_fixed gives: int (integers, currency, error codes), float (floating and
# PtypFloatingTime), bool, datetime (PtypTime, UTC) or bytes (PtypGuid).
FixedValue = int | float | bool | datetime | bytes


def decode_fixed(ptype: int, raw: bytes) -> FixedValue:
    """A fixed-size value from its first ``FIXED_SIZE[ptype]`` bytes.

    Raises ValueError on too few bytes or a type that is not fixed-size, OverflowError on a
    PtypTime past datetime's range (callers decide: finding or raw FILETIME).
    """
    if ptype == PropType.GUID:
        if len(raw) < 16:
            raise ValueError(f"{len(raw)} bytes for a GUID")
        return bytes(raw[:16])
    codec = _CODEC.get(ptype)
    if codec is None:
        raise ValueError(f"type {ptype:#06x} is not fixed-size")
    if len(raw) < codec.size:
        raise ValueError(f"{len(raw)} bytes for a {codec.size}-byte type {ptype:#06x}")
    value: int | float = codec.unpack_from(raw)[0]
    if ptype == PropType.BOOLEAN:
        return value != 0
    if ptype == PropType.TIME:
        return filetime_to_datetime(int(value))  # "<Q": an int already
    return value


def encode_fixed(ptype: int, value: Any) -> bytes:
    """The stored bytes of a fixed-size value; integers wrap to the type's width (a value
    given unsigned, such as 0xFFFFFFFF for PtypInteger32, is stored as the same bits)."""
    if ptype == PropType.GUID:
        if len(value) != 16:
            raise ValueError("a GUID value is 16 bytes")
        return bytes(value)
    codec = _CODEC[ptype]
    if ptype == PropType.TIME:
        value = datetime_to_filetime(value)
    elif ptype == PropType.BOOLEAN:
        value = 1 if value else 0
    elif ptype in _INTEGERS:
        bits = codec.size * 8
        value = int(value) & ((1 << bits) - 1)
        if ptype != PropType.ERROR and value >> (bits - 1):
            value -= 1 << bits
    return codec.pack(value)


def decode_string(ptype: int, raw: bytes, codec: str) -> str:
    """A PtypString (UTF-16LE) or PtypString8 (``codec``) value, trailing NULs dropped."""
    if ptype == PropType.UNICODE:
        return raw[: len(raw) - len(raw) % 2].decode("utf-16-le", errors="replace").rstrip("\0")
    return raw.decode(codec, errors="replace").rstrip("\0")


def encode_string(ptype: int, value: str, codec: str) -> bytes:
    """The stored bytes of a PtypString or PtypString8 value, without a terminator."""
    if ptype == PropType.UNICODE:
        return value.encode("utf-16-le")
    return value.encode(codec, errors="replace")
