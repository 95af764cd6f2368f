"""The Compound File Binary format ([MS-CFB]) as the MSG writer needs it: version 3.

Declared once: the header (2.2), a directory entry (2.6) and a FAT or mini FAT sector
(2.3, 2.4). The MSG writer builds with these declarations; the MSG reader and tests can
parse with them. Offsets in the comments are from the start of each structure.
"""

from __future__ import annotations

from construct import Array, Bytes, Const, Enum, Int8ul, Int16ul, Int32ul, Int64ul, Struct

__all__ = [
    "SIGNATURE",
    "SECTOR_SIZE",
    "MINI_SECTOR_SIZE",
    "MINI_STREAM_CUTOFF",
    "DIFAT_IN_HEADER",
    "ENTRY_SIZE",
    "FREESECT",
    "ENDOFCHAIN",
    "FATSECT",
    "NOSTREAM",
    "CfbHeader",
    "DirectoryEntry",
    "SectorOfIds",
    "ObjectType",
    "Color",
]

SIGNATURE = bytes.fromhex("d0cf11e0a1b11ae1")
SECTOR_SIZE = 512  # version 3: sector shift 9
MINI_SECTOR_SIZE = 64  # mini sector shift 6
MINI_STREAM_CUTOFF = 0x1000  # streams smaller than this live in the mini stream
DIFAT_IN_HEADER = 109
ENTRY_SIZE = 128

# Special sector numbers (2.1).
FATSECT = 0xFFFFFFFD
ENDOFCHAIN = 0xFFFFFFFE
FREESECT = 0xFFFFFFFF
NOSTREAM = 0xFFFFFFFF  # "no sibling / child" in directory entries

ObjectType = Enum(Int8ul, unknown=0, storage=1, stream=2, root=5)
Color = Enum(Int8ul, red=0, black=1)

CfbHeader = Struct(
    "signature" / Const(SIGNATURE),  # 0
    "clsid" / Const(bytes(16)),  # 8
    "minor_version" / Int16ul,  # 24: 0x003E
    "major_version" / Const(3, Int16ul),  # 26
    "byte_order" / Const(0xFFFE, Int16ul),  # 28
    "sector_shift" / Const(9, Int16ul),  # 30
    "mini_sector_shift" / Const(6, Int16ul),  # 32
    "reserved" / Const(bytes(6)),  # 34
    "directory_sectors" / Const(0, Int32ul),  # 40: always 0 in version 3
    "fat_sectors" / Int32ul,  # 44
    "first_directory_sector" / Int32ul,  # 48
    "transaction_signature" / Int32ul,  # 52
    "mini_stream_cutoff" / Const(MINI_STREAM_CUTOFF, Int32ul),  # 56
    "first_minifat_sector" / Int32ul,  # 60
    "minifat_sectors" / Int32ul,  # 64
    "first_difat_sector" / Int32ul,  # 68
    "difat_sectors" / Int32ul,  # 72
    "difat" / Array(DIFAT_IN_HEADER, Int32ul),  # 76..512
)

DirectoryEntry = Struct(
    "name" / Bytes(64),  # 0: UTF-16LE, NUL-terminated, zero-padded
    "name_length" / Int16ul,  # 64: bytes including the terminator; 0 for an unused entry
    "object_type" / ObjectType,  # 66
    "color" / Color,  # 67
    "left_sibling" / Int32ul,  # 68
    "right_sibling" / Int32ul,  # 72
    "child" / Int32ul,  # 76
    "clsid" / Bytes(16),  # 80
    "state_bits" / Int32ul,  # 96
    "creation_time" / Int64ul,  # 100
    "modified_time" / Int64ul,  # 108
    "start_sector" / Int32ul,  # 116
    "stream_size" / Int64ul,  # 120: version 3 readers use the low 32 bits
)

SectorOfIds = Array(SECTOR_SIZE // 4, Int32ul)  # a FAT, mini FAT or DIFAT sector
