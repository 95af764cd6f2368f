"""Small disk images built with Debian's own tools, holding the synthetic stores.

Nothing is mounted: mtools writes the FAT volumes (``mdel`` deletes one store), ntfs-3g's
``mkntfs``/``ntfscp`` the NTFS one, ``sfdisk`` the partition table of a two-partition disk,
``ewfacquire -u`` wraps the disk as E01 (also split in 1 MiB segments) and
``qemu-img convert`` as VMDK, QCOW2, VHD and VHDX; the raw disk is also split in 4 MiB
``.001``... files. Built once per session (a few MB each) under pytest's temporary
directory.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from conftest import SAMPLES, need_peer

SYNTHETIC = SAMPLES / "synthetic"
MIB = 1 << 20

# name inside the image -> synthetic store it holds
FAT_LIVE = {
    "/OUTLOOK.PST": "single-account-unicode-none.pst",
    "/USERS/BOB/MGR.DAT": "single-account-unicode-none.manager-1.msg",
    "/USERS/ALICE/COPY.PST": "single-account-unicode-none.pst",  # same bytes as /OUTLOOK.PST
}
FAT_DELETED = ("/USERS/BOB/OLD.PST", "multi-account-ansi-cyclic.pst")
NTFS_LIVE = {
    "/general.pst": "general-key-unicode-permute.pst",
    "/embedded.pst": "embedded-ansi-permute.pst",
}
DISK_FAT_LIVE = {"/DOCS/ANOMAL.PST": "anomalous-unicode-cyclic.pst"}
DISK_PARTITIONS = ((2048, 12288, "7"), (14336, 8192, "6"))  # start, sectors, MBR type


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def _fat(path: Path, size: int, files: dict[str, str]) -> None:
    with open(path, "wb") as handle:
        handle.truncate(size)
    mformat = need_peer("mformat")
    _run(mformat, "-i", str(path), "-T", str(size // 512), "-h", "4", "-s", "32", "::")
    made = set()
    for inside, name in files.items():
        parts = inside.strip("/").split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folder = "::/" + "/".join(parts[:depth])
            if folder not in made:
                _run(need_peer("mmd"), "-i", str(path), folder)
                made.add(folder)
        _run(need_peer("mcopy"), "-i", str(path), str(SYNTHETIC / name), "::" + inside)


def _ntfs(path: Path, size: int, files: dict[str, str]) -> None:
    with open(path, "wb") as handle:
        handle.truncate(size)
    _run(need_peer("mkntfs"), "-F", "-Q", "-q", str(path))
    for inside, name in files.items():
        _run(need_peer("ntfscp"), "-f", str(path), str(SYNTHETIC / name), inside)


@dataclass
class Images:
    folder: Path
    fat: Path  # a FAT volume without partition table, one store deleted
    disk: Path  # raw disk: p1 NTFS, p2 FAT
    wrapped: dict[str, Path] = field(default_factory=dict)  # format -> image of ``disk``
    split: Path | None = None  # a folder holding ``disk`` as a split E01 (E01, E02...)


def build(folder: Path) -> Images:
    """Every test image, in ``folder``."""
    fat = folder / "fat.img"
    _fat(fat, 4 * MIB, {**FAT_LIVE, FAT_DELETED[0]: FAT_DELETED[1]})
    _run(need_peer("mdel"), "-i", str(fat), "::" + FAT_DELETED[0])

    ntfs, fat2, disk = folder / "p1.ntfs", folder / "p2.fat", folder / "disk.raw"
    _ntfs(ntfs, DISK_PARTITIONS[0][1] * 512, NTFS_LIVE)
    _fat(fat2, DISK_PARTITIONS[1][1] * 512, DISK_FAT_LIVE)
    end = DISK_PARTITIONS[-1][0] + DISK_PARTITIONS[-1][1]
    with open(disk, "wb") as handle:
        handle.truncate(end * 512)
    table = "label: dos\n" + "".join(
        f"start={s}, size={n}, type={t}\n" for s, n, t in DISK_PARTITIONS
    )
    subprocess.run(
        [need_peer("sfdisk"), "-q", str(disk)],
        input=table.encode(),
        check=True,
        capture_output=True,
        timeout=60,
    )
    with open(disk, "r+b") as handle:
        for (start, _, _), part in zip(DISK_PARTITIONS, (ntfs, fat2), strict=True):
            handle.seek(start * 512)
            handle.write(part.read_bytes())
    images = Images(folder, fat, disk)

    target = folder / "disk"
    _run(need_peer("ewfacquire"), "-u", "-q", "-t", str(target), "-c", "deflate:fast", str(disk))
    images.wrapped["ewf"] = folder / "disk.E01"
    (folder / "split").mkdir()
    _run(
        need_peer("ewfacquire"),
        "-u",
        "-q",
        "-t",
        str(folder / "split" / "disk"),
        "-c",
        "none",
        "-S",
        "1MiB",
        str(disk),
    )
    images.split = folder / "split"
    (folder / "splitraw").mkdir()
    data = disk.read_bytes()
    for number, start in enumerate(range(0, len(data), 4 * MIB), 1):  # disk.001, disk.002...
        (folder / "splitraw" / f"disk.{number:03d}").write_bytes(data[start : start + 4 * MIB])
    qemu = need_peer("qemu-img")
    for fmt, suffix in (("vmdk", "vmdk"), ("qcow2", "qcow2"), ("vpc", "vhd"), ("vhdx", "vhdx")):
        out = folder / f"disk.{suffix}"
        _run(qemu, "convert", "-f", "raw", "-O", fmt, str(disk), str(out))
        images.wrapped[fmt] = out
    shutil.copyfile(disk, folder / "disk.bin")  # a raw disk under a name dfVFS cannot guess
    images.wrapped["raw"] = folder / "disk.bin"
    return images
