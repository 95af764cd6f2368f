"""Disk images read through dfVFS: which inputs are images, and the stores inside them.

Analysts hold images (E01, raw/dd, VMDK, VHD/VHDX, QCOW2...), not exported stores. dfVFS
(with its libyal back ends and pytsk3) opens the image, its partitions, Volume Shadow
Copies and file systems; here every file system is walked and each file whose content (not
name) is a PST, OST or MSG is handed to the readers as a read-only file-like object: nothing
is mounted, extracted or written. Deleted files are listed through The Sleuth Kit (dfVFS's
own listings skip them) where it reads the file system. :func:`data_ranges` gives a carver
the unallocated space and deleted files' data, with image offsets.

dfVFS is the optional ``images`` extra: without it an input that looks like an image gets
one line saying what to install (:data:`INSTALL_HINT`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO

from uidl_inspector.exceptions import UidlInspectorError
from uidl_inspector.findings import Finding
from uidl_inspector.schemas import fat
from uidl_inspector.store.byteview import RawReader, hash_stream, stream_size

__all__ = [
    "INSTALL_HINT",
    "EWF_MAGIC",
    "ImageError",
    "ImageOptions",
    "Place",
    "FoundFile",
    "ImageScan",
    "DistinctStore",
    "distinct_stores",
    "DataRange",
    "dfvfs_available",
    "image_format",
    "looks_like_image",
    "parse_selection",
    "parse_credential",
    "segments",
    "CREDENTIAL_TYPES",
    "open_path_spec",
    "data_ranges",
    "MAX_DIR_DEPTH",
]

INSTALL_HINT = (
    "a disk image; reading images needs dfVFS: python -m pip install 'uidl-inspector[images]'"
)
MAX_DIR_DEPTH = 128
STORE_KINDS = ("pst", "ost", "msg")
_HEAD = 4096
_MIN_STORE = 512  # a PST header; an MSG is at least 1,536 bytes
_ENCRYPTED = {"BDE": "BitLocker", "FVDE": "FileVault", "LUKSDE": "LUKS"}

# Container and volume signatures (offset, bytes) in a file's first 4 KiB. Strong ones
# decide without dfVFS (so that an image is not called "unknown"); weak ones only decide
# whether dfVFS's slower scan is worth running on a file.
EWF_MAGIC = (b"EVF\x09\r\n\xff\x00", b"EVF2\r\n\x81\x00", b"LVF\x09\r\n\xff\x00")
_MAGIC = (
    *((0, magic) for magic in EWF_MAGIC),
    (0, b"KDMV"),
    (0, b"# Disk DescriptorFile"),
    (0, b"QFI\xfb"),
    (0, b"vhdxfile"),
    (0, b"conectix"),
    (512, b"EFI PART"),
    (3, b"NTFS    "),
    (3, b"EXFAT   "),
    (3, b"-FVE-FS-"),
    (0, b"LUKS\xba\xbe"),
    (32, b"NXSB"),
    (0, b"XFSB"),
    (512, b"LABELONE"),
    (0, b"WithoutFreeSpace"),
    (0, b"WithouFreSpacExt"),
    (0x36, b"FAT12   "),
    (0x36, b"FAT16   "),
    (0x52, b"FAT32   "),
)
_WEAK_MAGIC = ((1080, b"\x53\xef"), (1024, b"H+"), (1024, b"HX"), (510, b"\x55\xaa"))


class ImageError(UidlInspectorError):
    """An image, or a part of it, that cannot be read (one line)."""


def dfvfs_available() -> bool:
    """Whether the ``images`` extra (dfVFS) is installed."""
    try:
        import dfvfs  # noqa: F401
    except ImportError:
        return False
    return True


def looks_like_image(head: bytes, weak: bool = False) -> bool:
    """A container or volume signature in the first bytes: the verdict without dfVFS, and
    (``weak``, also 2-byte signatures) the test before asking dfVFS."""
    found = any(head[at : at + len(magic)] == magic for at, magic in _MAGIC)
    if found or not weak:
        return found or (
            len(head) >= 512
            and head[510:512] == b"\x55\xaa"
            and head[446] in (0, 0x80)
            and head[450] != 0
        )  # an MBR's first entry
    return any(head[at : at + len(magic)] == magic for at, magic in _WEAK_MAGIC)


def image_format(path: str) -> str | None:
    """What dfVFS's source scanner makes of ``path``: its format ("qcow", "ewf", "raw"...)
    when it is a storage media image, else None. Content decides; names only help dfVFS
    find the segments of a split image."""
    from dfvfs.helpers import source_scanner
    from dfvfs.lib import definitions

    context = source_scanner.SourceScannerContext()
    context.OpenSourcePath(path)
    try:
        source_scanner.SourceScanner().Scan(context)
    except _read_errors(ValueError):
        return None
    if context.source_type != definitions.SOURCE_TYPE_STORAGE_MEDIA_IMAGE:
        return None
    node = context.GetRootScanNode()
    if not node.sub_nodes:
        return None
    kind = node.sub_nodes[0].type_indicator
    return "raw" if kind not in definitions.STORAGE_MEDIA_IMAGE_TYPE_INDICATORS else kind.lower()


CREDENTIAL_TYPES = ("password", "recovery_password", "startup_key", "key_data")


def parse_credential(value: str) -> tuple[str, str]:
    """``TYPE:VALUE`` for dfVFS's unlocking of BitLocker, FileVault and LUKS volumes."""
    kind, sep, secret = value.partition(":")
    if not sep or kind not in CREDENTIAL_TYPES:
        raise ValueError(f"expected TYPE:VALUE with TYPE one of {', '.join(CREDENTIAL_TYPES)}")
    return kind, secret


def segments(path: str) -> list[str]:
    """Every file of the (possibly split) image ``path`` belongs to, first segment first:
    EWF sets (``.E01``, ``.E02``...) and split raw images (``.001``, ``.002``...) as the
    libyal globbing dfVFS itself uses finds them; ``[path]`` when not split."""
    import pyewf
    import pysmraw

    for glob in (pyewf.glob, pysmraw.glob):
        try:
            found = glob(path)
        except (OSError, RuntimeError, ValueError, TypeError):
            continue
        if len(found) > 1 and any(os.path.abspath(f) == os.path.abspath(path) for f in found):
            return list(found)
    return [path]


def parse_selection(value: str, allow_none: bool = False) -> tuple[str, ...]:
    """``all`` (``none`` too when allowed) or comma-separated numbers from 1, for dfVFS."""
    text = value.strip().lower()
    if text == "all" or (allow_none and text == "none"):
        return (text,)
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() and int(part) > 0 for part in parts):
        choices = "all, none or" if allow_none else "all or"
        raise ValueError(f"{value!r}: expected {choices} numbers from 1, comma-separated")
    return tuple(str(int(part)) for part in parts)


@dataclass(frozen=True)
class ImageOptions:
    """What to examine in images: partitions, VSS snapshots, deleted files; hashing."""

    partitions: tuple[str, ...] = ("all",)
    snapshots: tuple[str, ...] = ("all",)
    deleted: bool = True
    hash_images: bool = True
    credentials: tuple[tuple[str, str], ...] = ()  # (type, value) for encrypted volumes


@dataclass(frozen=True)
class Place:
    """Where a file sits in an image; ``location`` is its full, readable name."""

    image: str
    partition: str | None  # "p1", "p2/apfs1"...; None for an image that is one volume
    snapshot: int | None  # VSS store number from 1 (dfVFS's /vssN), None for the live volume
    path: str  # inside the file system, "/" separated
    deleted: bool
    path_spec: str  # dfVFS's serialised path specification
    inode: int | None = None

    @property
    def location(self) -> str:
        snapshot = None if self.snapshot is None else f"vss{self.snapshot}"
        text = "::".join(part for part in (self.image, self.partition, snapshot, self.path) if part)
        return f"{text} (deleted, inode {self.inode})" if self.deleted else text

    def to_dict(self) -> dict[str, Any]:
        """Every field but ``inode`` (which ``location`` shows)."""
        return {key: value for key, value in asdict(self).items() if key != "inode"}


@dataclass(frozen=True)
class FoundFile:
    """A file of the image whose content is a store kind, ready to be opened read-only."""

    place: Place
    kind: str  # pst | ost | msg
    size: int
    spec: Any = field(repr=False)  # the dfVFS path specification

    def open(self) -> BinaryIO:
        return open_path_spec(self.spec)


def open_path_spec(spec: Any) -> BinaryIO:
    """A read-only buffered stream of the file a dfVFS path spec (or its JSON) names."""
    from dfvfs.resolver import resolver
    from dfvfs.serializer import json_serializer

    if isinstance(spec, str):
        spec = json_serializer.JsonPathSpecSerializer.ReadSerialized(spec)
    handle = resolver.Resolver.OpenFileObject(spec)
    return io.BufferedReader(RawReader(handle), buffer_size=64 << 10)


def _short(exc: BaseException, limit: int = 200) -> str:
    """One line of a back end's message: dfVFS wraps the libyal error, which chains every
    layer's complaint; the innermost binding's first complaint says what failed."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if "with error: '" in text:
        text = text.rsplit("with error: '", 1)[1].split(". ")[0].rstrip("'.")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_errors(*more: type[Exception]) -> tuple[type[Exception], ...]:
    """What dfVFS and its back ends (libyal, TSK) raise on a part they cannot read."""
    from dfvfs.lib import errors as dfvfs_errors

    return (dfvfs_errors.Error, OSError, RuntimeError, *more)


@dataclass(frozen=True)
class _Volume:
    partition: str | None
    snapshot: int | None
    file_system: str  # dfVFS type indicator: NTFS, FAT, EXT, HFS, APFS, TSK...
    spec: Any


def _volume(spec: Any) -> _Volume:
    """Partition and snapshot of a file system's path spec, from its chain of parents."""
    from dfvfs.lib import definitions

    partition: list[str] = []
    snapshot = None
    node = spec.parent
    while node is not None:
        location = (getattr(node, "location", None) or "").strip("/")
        if node.type_indicator == definitions.TYPE_INDICATOR_VSHADOW:
            snapshot = node.store_index + 1
        elif node.type_indicator in definitions.VOLUME_SYSTEM_TYPE_INDICATORS and location:
            partition.insert(0, location)
        node = node.parent
    return _Volume("/".join(partition) or None, snapshot, spec.type_indicator, spec)


def _mediator() -> Any:
    """A dfVFS mediator that never asks: selections come from the options, and a choice
    dfVFS cannot make from them becomes an :class:`ImageError`."""
    from dfvfs.helpers import volume_scanner

    class Mediator(volume_scanner.VolumeScannerMediator):  # type: ignore[misc]  # dfVFS: no types
        def __init__(self) -> None:
            super().__init__()
            self.locked: list[str] = []  # type indicators of volumes left locked

        def PrintWarning(self, warning: str) -> None:  # (dfVFS's method names)
            raise ImageError(f"{warning.rstrip('.')} (see --partitions and --vss)")

        def GetPartitionIdentifiers(self, volume_system: Any, ids: list[str]) -> list[str]:
            return list(ids)

        GetVolumeIdentifiers = GetVolumeSnapshotIdentifiers = GetPartitionIdentifiers

        def UnlockEncryptedVolume(self, scanner: Any, context: Any, node: Any, creds: Any) -> bool:
            self.locked.append(node.type_indicator)
            return False

    return Mediator()


class ImageScan:
    """One image: its volumes, walked for stores, with counts of what was examined.

    ``errors`` gets one line per part that could not be read (an encrypted volume, a file
    system dfVFS cannot open); ``findings`` what was read with trouble. Both leave the
    rest of the image examined.
    """

    def __init__(
        self,
        path: str,
        options: ImageOptions | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self.options = options or ImageOptions()
        self.progress = progress
        self.format: str | None = None
        self.examined = dict.fromkeys(
            ("partitions", "snapshots", "file_systems", "files", "stores"), 0
        )
        self.errors: list[str] = []
        self.findings: list[Finding] = []

    def volumes(self) -> list[_Volume]:
        """Every file system to walk, live volumes before their snapshots (oldest first)."""
        from dfvfs.helpers import volume_scanner
        from dfvfs.lib import definitions

        options = volume_scanner.VolumeScannerOptions()
        options.partitions = list(self.options.partitions)
        options.snapshots = list(self.options.snapshots)
        options.volumes = ["all"]
        options.credentials = list(self.options.credentials)
        mediator = _mediator()
        scanner = volume_scanner.VolumeScanner(mediator=mediator)
        try:
            specs = scanner.GetBasePathSpecs(self.path, options)
        except _read_errors() as exc:
            raise ImageError(f"{self.path}: dfVFS cannot read the image: {_short(exc)}") from None
        # A source dfVFS does not take for an image comes back as the host file itself:
        # never walk the host's file system.
        specs = [spec for spec in specs if spec.type_indicator != definitions.TYPE_INDICATOR_OS]
        self.format = image_format(self.path)
        for kind in mediator.locked:
            name = _ENCRYPTED.get(kind, kind)
            hint = (
                "could not be unlocked with the --credential given"
                if self.options.credentials
                else "is locked: pass --credential password:SECRET (or recovery_password:, "
                "startup_key:, key_data:)"
            )
            self.errors.append(f"{self.path}: a {name} encrypted volume {hint}")
        if not specs:
            specs = self._whole_media_file_system()
        if not specs and not mediator.locked:
            self._note("image_no_file_system", "dfVFS found no file system it can read")
        volumes = sorted(
            (_volume(spec) for spec in specs), key=lambda v: (v.partition or "", v.snapshot or 0)
        )
        self._unread_partitions(volumes)
        self.examined["partitions"] = len({v.partition for v in volumes if v.partition})
        self.examined["snapshots"] = sum(1 for v in volumes if v.snapshot is not None)
        return volumes

    def _unread_partitions(self, volumes: list[_Volume]) -> None:
        """A finding for each selected partition in which no file system was found."""
        try:
            extents = _partition_extents(volumes)
        except _read_errors():
            return
        chosen = self.options.partitions
        seen = {(v.partition or "").split("/")[0] for v in volumes}
        for name in sorted(set(extents) - seen):
            if chosen == ("all",) or name.lstrip("p") in chosen:
                why = "no file system dfVFS can read (damaged, encrypted or unsupported)"
                self._note("partition_without_file_system", f"{name}: {why}", extents[name][0])

    def _whole_media_file_system(self) -> list[Any]:
        """A file system on the whole media when no volume yielded one (a FAT volume image
        whose boot sector also reads as a partition table that points past the image)."""
        from dfvfs.helpers import source_scanner

        scanner = source_scanner.SourceScanner()
        context = source_scanner.SourceScannerContext()
        context.OpenSourcePath(self.path)
        try:
            scanner.Scan(context, auto_recurse=False)
            node = context.GetRootScanNode()
            media = node.sub_nodes[0].path_spec if node.sub_nodes else node.path_spec
            found = scanner.ScanForFileSystem(media)
        except _read_errors():
            found = None
        return [found] if found is not None and found.parent is not None else []

    def stores(self) -> Iterator[FoundFile]:
        """Every PST, OST and MSG of every selected volume (live files, then deleted)."""
        from dfvfs.resolver import resolver

        volumes = self.volumes()
        for number, volume in enumerate(volumes, 1):
            snapshot = f"vss{volume.snapshot}" if volume.snapshot else None
            label = "::".join(p for p in (volume.partition, snapshot) if p) or "volume"
            self._say(f"{label} ({number} of {len(volumes)})")
            try:
                file_system = resolver.Resolver.OpenFileSystem(volume.spec)
            except _read_errors() as exc:
                why = f"cannot open its {volume.file_system} file system: {_short(exc)}"
                self.errors.append(f"{self.path}: {label}: {why}")
                continue
            self.examined["file_systems"] += 1
            yield from self._live(volume, file_system, label)
            if self.options.deleted:
                yield from self._deleted(volume, label)

    def _note(self, code: str, detail: str, offset: int | None = None) -> None:
        self.findings.append(Finding(code, offset, detail))

    def _say(self, where: str) -> None:
        if self.progress is not None:
            self.progress(
                f"{self.path}: {where}: {self.examined['files']} files examined, "
                f"{self.examined['stores']} stores found"
            )

    def _found(
        self,
        volume: _Volume,
        path: str,
        spec: Any,
        size: int,
        inode: int | None,
        label: str,
        everything: bool = False,
    ) -> FoundFile | None:
        """The file as a FoundFile when its first bytes say it is a store (``everything``:
        whatever it holds, kind "data", for a carver); ``inode`` is a deleted file's."""
        from dfvfs.serializer import json_serializer

        from uidl_inspector.store.detect import sniff

        self.examined["files"] += 1
        if self.examined["files"] % 256 == 0:
            self._say(label)
        kind = "data"
        if not everything:
            if size < _MIN_STORE:
                return None
            try:
                with open_path_spec(spec) as handle:
                    kind = sniff(handle.read(_HEAD), size)
            except _read_errors(ValueError) as exc:
                self._note("image_file_unreadable", f"{label}:{path}: {_short(exc)}")
                return None
            if kind not in STORE_KINDS:
                return None
            self.examined["stores"] += 1
        serialised = json_serializer.JsonPathSpecSerializer.WriteSerialized(spec)
        place = Place(
            self.path, volume.partition, volume.snapshot, path, inode is not None, serialised, inode
        )
        return FoundFile(place, kind, size, spec)

    def _live(self, volume: _Volume, file_system: Any, label: str) -> Iterator[FoundFile]:
        separator = file_system.PATH_SEPARATOR
        stack = [(file_system.GetRootFileEntry(), 0)]
        while stack:
            entry, depth = stack.pop()
            try:
                children = sorted(entry.sub_file_entries, key=lambda e: e.name or "")
            except _read_errors() as exc:
                where = _location(entry, separator)
                self._note("image_directory_unreadable", f"{label}:{where}: {_short(exc)}")
                continue
            directories = []
            for child in children:
                try:
                    if child.IsLink():
                        continue
                    if child.IsDirectory():
                        if depth < MAX_DIR_DEPTH:
                            directories.append((child, depth + 1))
                        continue
                    if not child.IsFile():
                        continue
                    path, size = _location(child, separator), child.size or 0
                except _read_errors() as exc:
                    self._note("image_file_unreadable", f"{label}:{child.name}: {_short(exc)}")
                    continue
                found = self._found(volume, path, child.path_spec, size, None, label)
                if found is not None:
                    yield found
            stack.extend(reversed(directories))

    def _deleted(
        self, volume: _Volume, label: str, everything: bool = False
    ) -> Iterator[FoundFile]:
        """Deleted regular files whose metadata is still unallocated (not reused), through
        The Sleuth Kit over the same volume: names left in directories and TSK's orphans."""
        import pytsk3
        from dfvfs.resolver import resolver

        if volume.file_system not in ("NTFS", "FAT", "EXT", "HFS", "TSK"):
            return
        try:
            info = resolver.Resolver.OpenFileSystem(_tsk_spec(volume)).GetFsInfo()
        except _read_errors() as exc:
            why = f"The Sleuth Kit cannot read this {volume.file_system}: {_short(exc)}"
            self._note("deleted_files_not_listed", f"{label}: {why}")
            return
        stack = [(info.info.root_inum, "", 0)]
        directories, files = {info.info.root_inum}, set()
        while stack:
            inode, path, depth = stack.pop()
            try:
                listing = list(info.open_dir(inode=inode))
            except OSError:
                continue
            for item in listing:
                name, meta = getattr(item.info, "name", None), getattr(item.info, "meta", None)
                if name is None or meta is None:
                    continue
                text = name.name.decode("utf-8", "replace")
                if text in (".", ".."):
                    continue
                child = f"{path}/{text}"
                if meta.type == pytsk3.TSK_FS_META_TYPE_DIR:
                    if meta.addr not in directories and depth < MAX_DIR_DEPTH:
                        directories.add(meta.addr)
                        stack.append((meta.addr, child, depth + 1))
                    continue
                unallocated = (
                    int(name.flags) & pytsk3.TSK_FS_NAME_FLAG_UNALLOC
                    and int(meta.flags) & pytsk3.TSK_FS_META_FLAG_UNALLOC
                )
                if (
                    meta.type != pytsk3.TSK_FS_META_TYPE_REG
                    or not unallocated
                    or meta.addr in files
                ):
                    continue
                files.add(meta.addr)
                spec = _tsk_spec(volume, child, inode=meta.addr)
                found = self._found(
                    volume, child, spec, int(meta.size), meta.addr, label, everything
                )
                if found is not None:
                    yield found


@dataclass
class DistinctStore:
    """A store with its hashes; ``also_in`` grows with every later place holding the same
    bytes, until the walk ends. ``error``: its bytes could not be read to be hashed."""

    found: FoundFile
    size: int
    sha256: str
    md5: str
    also_in: list[Place] = field(default_factory=list)
    error: str | None = None


def distinct_stores(scan: ImageScan) -> Iterator[DistinctStore]:
    """Each store of the image once: every store is hashed (its own bytes, one pass) and
    one whose bytes were already seen (the same file unchanged in the live volume and in
    snapshots, or a copy) is added to the first one's ``also_in`` instead of yielded."""
    first: dict[str, DistinctStore] = {}
    for found in scan.stores():
        try:
            with found.open() as stream:
                size, sha256, md5 = hash_stream(stream)
        except _read_errors() as exc:
            yield DistinctStore(found, found.size, "", "", error=f"cannot read: {_short(exc)}")
            continue
        if sha256 in first:
            first[sha256].also_in.append(found.place)
            continue
        first[sha256] = DistinctStore(found, size, sha256, md5)
        yield first[sha256]


def _tsk_spec(volume: _Volume, location: str = "/", **more: Any) -> Any:
    """The Sleuth Kit's path spec for ``location`` on the same volume as ``volume``'s."""
    from dfvfs.lib import definitions
    from dfvfs.path import factory

    return factory.Factory.NewPathSpec(
        definitions.TYPE_INDICATOR_TSK, location=location, parent=volume.spec.parent, **more
    )


def _location(entry: Any, separator: str) -> str:
    """The entry's path in its file system, "/" separated whatever the file system uses."""
    location = getattr(entry.path_spec, "location", None) or f"/{entry.name}"
    return location.replace(separator, "/") if separator != "/" else location


# ---------------------------------------------------------------------------------------
# Data ranges for a carver: unallocated space and deleted files' data, with image offsets


@dataclass(frozen=True)
class DataRange:
    """A run of bytes a carver should read: ``offset`` and ``length`` in the image's media
    (after EWF/QCOW/VMDK decoding), or, for a deleted file, its data (``offset`` None)."""

    what: str  # unallocated | outside_partitions | deleted_file
    offset: int | None
    length: int
    partition: str | None
    place: Place | None = None  # the deleted file
    spec: Any = field(default=None, repr=False)

    def open(self) -> BinaryIO:
        """A read-only stream of exactly this range's bytes."""
        stream = open_path_spec(self.spec)
        if self.offset is None:
            return stream
        return io.BufferedReader(RawReader(stream, self.offset, self.length))


def data_ranges(path: str, options: ImageOptions | None = None) -> Iterator[DataRange]:
    """Unallocated clusters of each live NTFS and FAT12/16/32 volume, the space outside
    partitions, and every deleted file's data (what :class:`ImageScan` lists, whatever its
    content)."""
    scan = ImageScan(path, options)
    volumes = scan.volumes()
    media = _media_spec(volumes)
    extents = _partition_extents(volumes)
    if media is not None:
        yield from _outside_partitions(media, extents)
        for volume in volumes:
            start = extents.get(volume.partition or "", (0, 0))[0]
            if volume.snapshot is None and volume.file_system == "NTFS":
                yield from _ntfs_unallocated(volume, media, start)
            elif volume.file_system == "FAT":
                yield from _fat_unallocated(volume, media, start)
    if scan.options.deleted:
        for volume in volumes:
            for found in scan._deleted(volume, volume.partition or "volume", everything=True):
                yield DataRange(
                    "deleted_file", None, found.size, volume.partition, found.place, found.spec
                )


def _media_spec(volumes: list[_Volume]) -> Any:
    """The storage media layer (EWF, QCOW, VMDK, RAW... or the file itself) under the
    volumes: the stream whose offsets are the image offsets."""
    from dfvfs.lib import definitions

    media = {*definitions.STORAGE_MEDIA_IMAGE_TYPE_INDICATORS, definitions.TYPE_INDICATOR_OS}
    node = volumes[0].spec.parent if volumes else None
    while node is not None:
        if node.type_indicator in media:
            return node
        node = node.parent
    return None


def _partition_extents(volumes: list[_Volume]) -> dict[str, tuple[int, int]]:
    """Offset and size of every partition (first-level volume) in the media."""
    from dfvfs.lib import definitions
    from dfvfs.path import factory
    from dfvfs.volume import factory as volume_factory

    tables = (definitions.TYPE_INDICATOR_TSK_PARTITION, definitions.TYPE_INDICATOR_GPT)
    extents: dict[str, tuple[int, int]] = {}
    opened: set[str] = set()
    for volume in volumes:
        node = volume.spec.parent
        while node is not None and not (
            node.type_indicator in tables and getattr(node, "location", "/") != "/"
        ):
            node = node.parent
        if node is None:
            continue
        root = factory.Factory.NewPathSpec(node.type_indicator, location="/", parent=node.parent)
        if root.comparable in opened:
            continue
        opened.add(root.comparable)
        system = volume_factory.Factory.NewVolumeSystem(node.type_indicator)
        system.Open(root)
        for part in system.volumes:
            if part.extents:
                extents[part.identifier] = (part.extents[0].offset, part.extents[0].size)
    return extents


def _outside_partitions(media: Any, extents: dict[str, tuple[int, int]]) -> Iterator[DataRange]:
    if not extents:
        return
    with open_path_spec(media) as stream:
        size = stream.seek(0, 2)
    at = 0
    for offset, length in sorted(extents.values()) + [(size, 0)]:
        if offset > at:
            yield DataRange("outside_partitions", at, offset - at, None, spec=media)
        at = max(at, offset + length)


def _fat_unallocated(volume: _Volume, media: Any, start: int) -> Iterator[DataRange]:
    """Runs of free clusters of a FAT12/16/32 volume (its first FAT), as image offsets."""
    with open_path_spec(volume.spec.parent) as stream:
        size = stream_size(stream)
        geo = fat.geometry(stream.read(512))
        if geo is None:  # exFAT keeps an allocation bitmap instead: not listed yet
            return
        stream.seek(geo.fat_offset)
        table = stream.read(geo.fat_bytes)
    for offset, length in fat.free_cluster_runs(table, geo):
        length = min(length, size - offset)
        if length > 0:
            yield DataRange("unallocated", start + offset, length, volume.partition, spec=media)


def _ntfs_unallocated(volume: _Volume, media: Any, start: int) -> Iterator[DataRange]:
    """Runs of clear bits of the live NTFS's $Bitmap, as image offsets."""
    import re

    from dfvfs.resolver import resolver

    cluster = resolver.Resolver.OpenFileSystem(_tsk_spec(volume)).GetFsInfo().info.block_size
    with open_path_spec(_tsk_spec(volume, "/$Bitmap")) as stream:
        bitmap = stream.read()
    with open_path_spec(volume.spec.parent) as stream:
        clusters = stream.seek(0, 2) // cluster
    run_start = None
    for match in re.finditer(rb"[^\xff]+", bitmap):
        end = min(match.end() * 8, clusters)  # a match ends at a 0xff byte or the bitmap's end
        for index in range(match.start() * 8, end + 1):
            free = index < end and not bitmap[index >> 3] >> (index & 7) & 1
            if free and run_start is None:
                run_start = index
            elif not free and run_start is not None:
                size = (index - run_start) * cluster
                yield DataRange(
                    "unallocated", start + run_start * cluster, size, volume.partition, spec=media
                )
                run_start = None
