"""The FAT12/16/32 boot sector and allocation table, as far as finding free clusters needs.

Declared once, from Microsoft's FAT specification ("FAT: General Overview of On-Disk
Format"): the BIOS Parameter Block at the start of the volume, and the rules that derive
the data area, the cluster count (which decides FAT12/16/32) and each cluster's table
entry. Used by store.image to list a FAT volume's unallocated clusters for a carver.
"""

from __future__ import annotations

from dataclasses import dataclass

from construct import Bytes, Int8ul, Int16ul, Int32ul, Struct

__all__ = ["BOOT_SECTOR", "FatGeometry", "geometry", "free_cluster_runs"]

# Offsets from the start of the volume (the BPB, then the FAT32 extension's first field).
BOOT_SECTOR = Struct(
    "jump" / Bytes(3),
    "oem_name" / Bytes(8),
    "bytes_per_sector" / Int16ul,  # 11
    "sectors_per_cluster" / Int8ul,  # 13
    "reserved_sectors" / Int16ul,  # 14
    "fat_count" / Int8ul,  # 16
    "root_entries" / Int16ul,  # 17: 32-byte entries of the fixed root (0 on FAT32)
    "total_sectors_16" / Int16ul,  # 19
    "media" / Int8ul,  # 21
    "fat_size_16" / Int16ul,  # 22: sectors per FAT (0 on FAT32)
    "sectors_per_track" / Int16ul,  # 24
    "heads" / Int16ul,  # 26
    "hidden_sectors" / Int32ul,  # 28
    "total_sectors_32" / Int32ul,  # 32
    "fat_size_32" / Int32ul,  # 36: FAT32 only
)


@dataclass(frozen=True)
class FatGeometry:
    """Where the first FAT and the data area are, in bytes from the volume's start."""

    bits: int  # 12, 16 or 32
    fat_offset: int
    fat_bytes: int
    data_offset: int
    cluster_bytes: int
    clusters: int  # data clusters, numbered from 2


def geometry(boot: bytes) -> FatGeometry | None:
    """The volume's geometry, or None when the BPB is not a FAT one (or is absurd)."""
    if len(boot) < BOOT_SECTOR.sizeof():
        return None
    bpb = BOOT_SECTOR.parse(boot)
    sector, per_cluster = bpb.bytes_per_sector, bpb.sectors_per_cluster
    if (
        sector not in (512, 1024, 2048, 4096)
        or per_cluster == 0
        or per_cluster & (per_cluster - 1)
        or bpb.fat_count == 0
    ):
        return None
    fat_sectors = bpb.fat_size_16 or bpb.fat_size_32
    total = bpb.total_sectors_16 or bpb.total_sectors_32
    root_sectors = (bpb.root_entries * 32 + sector - 1) // sector
    first_data = bpb.reserved_sectors + bpb.fat_count * fat_sectors + root_sectors
    if fat_sectors == 0 or total <= first_data:
        return None
    clusters = (total - first_data) // per_cluster
    bits = 12 if clusters < 4085 else 16 if clusters < 65525 else 32
    return FatGeometry(
        bits,
        bpb.reserved_sectors * sector,
        fat_sectors * sector,
        first_data * sector,
        per_cluster * sector,
        clusters,
    )


def _entries(table: bytes, bits: int, count: int) -> list[int]:
    """Table entries of clusters 2 .. count + 1 (the high 4 bits of FAT32's are reserved)."""
    if bits == 12:
        out = []
        for cluster in range(2, count + 2):
            at = cluster + cluster // 2
            if at + 2 > len(table):
                break
            pair = table[at] | table[at + 1] << 8
            out.append(pair >> 4 if cluster & 1 else pair & 0xFFF)
        return out
    width = bits // 8
    view = memoryview(table)[: len(table) // width * width].cast("H" if bits == 16 else "I")
    values = view[2 : count + 2].tolist()
    return [v & 0x0FFFFFFF for v in values] if bits == 32 else values


def free_cluster_runs(table: bytes, geo: FatGeometry) -> list[tuple[int, int]]:
    """(byte offset in the volume, length) of each run of free clusters (entry 0)."""
    runs: list[tuple[int, int]] = []
    start = None
    size = geo.cluster_bytes
    entries = _entries(table, geo.bits, geo.clusters)
    for index, value in enumerate([*entries, 1]):  # a used sentinel closes the last run
        if value == 0 and start is None:
            start = index
        elif value != 0 and start is not None:
            runs.append((geo.data_offset + start * size, (index - start) * size))
            start = None
    return runs
