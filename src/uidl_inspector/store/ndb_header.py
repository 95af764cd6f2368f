"""The header of a PST/OST file: its format, block encoding, B-tree roots and stated size.

Why its own module: the header is read once, before anything else, and decides how every
other structure is read (the variant's declarations, the encoding of blocks, where the
two B-trees start). What is wrong in it but still usable (CRCs, sentinel, size) becomes a
finding; what makes the file unreadable raises. Layout: :mod:`uidl_inspector.schemas.ndb`.
"""

from __future__ import annotations

import mmap
from typing import Any

from uidl_inspector.exceptions import CorruptStructureError, NotAStoreError, UnsupportedVersionError
from uidl_inspector.findings import Finding
from uidl_inspector.schemas import ndb as s
from uidl_inspector.schemas.encoding import CRYPT_NAMES
from uidl_inspector.store.byteview import ByteView

__all__ = ["NdbHeader", "Recorder", "Mapped"]

Mapped = mmap.mmap | ByteView | bytes  # the bytes of a store, sliceable in place

_PREFIX_FAST = s.FastRecord(s.HEADER_PREFIX, "HEADER_PREFIX")
_CRC_PARTIAL_AT = s.offset_of(s.UNICODE.HEADER, "dwCRCPartial")  # same in both variants
_CRC_FULL_AT = s.offset_of(s.UNICODE.HEADER, "dwCRCFull")


class Recorder:
    """Collects findings once each (same code, offset and detail) into a list."""

    def __init__(self, sink: list[Finding]) -> None:
        self.sink = sink
        self._seen: set[tuple[str, int | None, str]] = set()

    def __call__(self, code: str, offset: int | None, detail: str) -> None:
        key = (code, offset, detail)
        if key not in self._seen:
            self._seen.add(key)
            self.sink.append(Finding(code, offset, detail))


class NdbHeader:
    """The parsed HEADER of a store of ``size`` bytes (``data`` its bytes, ``path`` its name
    in messages); findings go to ``record``."""

    def __init__(self, data: Mapped, size: int, path: str, record: Recorder) -> None:
        if size < len(s.HEADER_MAGIC) or bytes(data[: len(s.HEADER_MAGIC)]) != s.HEADER_MAGIC:
            raise NotAStoreError(f"{path}: not a PST/OST file (no !BDN magic)")
        if size < s.HEADER_MIN_SIZE:
            raise CorruptStructureError(f"{path}: header truncated ({size} bytes)", 0)
        prefix = _PREFIX_FAST.parse(bytes(data[: _PREFIX_FAST.size]))
        client, wver = prefix.wMagicClient, prefix.wVer
        fmt = s.format_for_version(wver)
        if fmt is None:
            raise UnsupportedVersionError(f"{path}: unsupported PST/OST version wVer={wver}")
        if client not in (s.CLIENT_PST, s.CLIENT_OST, s.CLIENT_PAB):
            raise UnsupportedVersionError(f"{path}: unknown client magic {client!r}")
        size_of_header = fmt.HEADER.sizeof()
        if size < size_of_header:
            raise CorruptStructureError(f"{path}: header truncated ({size} bytes)", 0)
        raw = bytes(data[:size_of_header])
        fields = fmt.HEADER.parse(raw)  # cannot fail: the magic is checked, the rest is sized
        if fields.bCryptMethod not in CRYPT_NAMES:
            raise UnsupportedVersionError(
                f"{path}: unsupported block encoding bCryptMethod={fields.bCryptMethod:#x}"
            )
        self.fmt: s.NdbFormat = fmt
        self.fields: Any = fields  # the HEADER as parsed (a construct Container)
        self.crypt_method: int = fields.bCryptMethod
        self.encryption = CRYPT_NAMES[self.crypt_method]  # the encoding's name: none, permute, ...
        self.variant = _variant(fmt, client)
        root = fields.root
        self.roots: dict[int, tuple[int, int]] = {  # B-tree page type -> (ib, bid) of its root
            s.PTYPE_NBT: (root.BREFNBT.ib, root.BREFNBT.bid),
            s.PTYPE_BBT: (root.BREFBBT.ib, root.BREFBBT.bid),
        }
        self._check(raw, size, record)

    def _check(self, raw: bytes, size: int, record: Recorder) -> None:
        """The CRCs, the sentinel and the stated file size: findings, not failures."""
        fields, fmt = self.fields, self.fmt
        if fields.dwCRCPartial != s.header_crc_partial(raw):
            record("header_crc_mismatch", _CRC_PARTIAL_AT, "dwCRCPartial does not match the header")
        if fmt.wide and fields.dwCRCFull != s.header_crc_full(raw):
            record("header_crc_mismatch", _CRC_FULL_AT, "dwCRCFull does not match the header")
        if fields.bSentinel != s.HEADER_SENTINEL:
            record("header_bad_sentinel", None, f"bSentinel is {fields.bSentinel:#x}")
        eof = fields.root.ibFileEof
        if eof > size:
            record("file_truncated", size, f"header says {eof} bytes, file has {size}")
        elif eof != size:
            record("file_size_mismatch", eof, f"header says {eof} bytes, file has {size}")


def _variant(fmt: s.NdbFormat, client: bytes) -> str:
    """The variant name reports use: ansi, unicode, ost or ost4k."""
    if fmt is s.UNICODE_4K:
        return "ost4k"
    if client == s.CLIENT_OST:
        return "ost"
    return "ansi" if fmt is s.ANSI else "unicode"
