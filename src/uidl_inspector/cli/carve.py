"""``uidl-inspector carve``: POP3 histories in any binary (image, unallocated space, dump)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from uidl_inspector.cli.app import app, examples
from uidl_inspector.cli.common import (
    EXIT_INPUT,
    ForceOpt,
    FormatOpt,
    OutputOpt,
    emit,
    error,
    guarded,
    refuse_output_early,
    takes_image_options,
)
from uidl_inspector.cli.runlog import quiet
from uidl_inspector.exceptions import UidlInspectorError
from uidl_inspector.report.model import Report, Source, source_path
from uidl_inspector.store.image import ImageOptions  # at run time: typer reads the annotation

if TYPE_CHECKING:
    from uidl_inspector.recover.items import RecoveredItem

__all__ = ["carve_command", "byte_progress"]

LONG_INPUT = 64 << 20  # inputs at least this big get a progress bar (on a terminal)


@contextlib.contextmanager
def byte_progress(name: str, size: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar of bytes read on stderr, for long inputs and only on a terminal."""
    if size < LONG_INPUT or not sys.stderr.isatty() or quiet():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task(f"carving {name}", total=size)
        yield lambda done: progress.update(task, completed=done)


@app.command(
    "carve",
    epilog=examples(
        "uidl-inspector carve unallocated.bin                 # a table on the terminal",
        "uidl-inspector carve disk.dd pagefile.sys -f json -o carved.json",
        "uidl-inspector carve damaged.pst --log-file carve.log",
        "uidl-inspector carve disk.E01     # unallocated space, outside partitions, deleted files",
    ),
)
@guarded
@takes_image_options
def carve_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE",
            help="Any binary: unallocated-space export, pagefile, memory dump, "
            "a damaged store, or a disk image (its unallocated space). Read only, streamed.",
        ),
    ],
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    force: ForceOpt = False,
    images: ImageOptions | None = None,
) -> None:
    """Carve POP3 history BLOBs and runs of tags out of any binary, plain or PST-permute-encoded.

    Finds are reported in ``recovered`` with absolute offsets. A disk image (E01, raw with
    a partition table or file system, VMDK, VHD, QCOW2) is carved where its file systems
    keep no live file: unallocated clusters (NTFS, FAT), the space outside partitions and
    the deleted files' data, at offsets in the decoded image. An input that cannot be read
    gets one line on stderr and the others are still carved; the exit code is then 1.
    """
    from uidl_inspector.recover.carve import carve
    from uidl_inspector.store.detect import detect_kind

    refuse_output_early(output, force, [str(p) for p in paths])
    report = Report()
    found: list[RecoveredItem] = []
    report.extra["recovered"] = found
    failed = False
    for path in paths:
        where = source_path(path)
        try:
            if detect_kind(path) == "image":
                failed |= _carve_image(str(path), where, images, report, found)
                continue
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                with byte_progress(path.name, size) as progress:
                    result = carve(handle, where, progress=progress)
        except (OSError, UidlInspectorError) as exc:
            message = f"{where}: {getattr(exc, 'strerror', None) or exc}"
            error(message)
            report.sources.append(Source(where, "raw", 0, "", "", (message,)))
            failed = True
            continue
        report.sources.append(Source(where, "raw", result.size, result.sha256, result.md5))
        found.extend(result.items)
    report.run.finish()
    emit(report, fmt, output, force, inputs=[str(p) for p in paths])
    if failed:
        raise typer.Exit(EXIT_INPUT)


def _carve_image(
    path: str, where: str, options: ImageOptions | None, report: Report, found: list[RecoveredItem]
) -> bool:
    """Carve one disk image into ``report``; True when some of it could not be read."""
    from uidl_inspector.recover.carve import carve_image
    from uidl_inspector.report.model import hash_file
    from uidl_inspector.store.image import INSTALL_HINT, dfvfs_available, image_format

    if not dfvfs_available():
        raise UidlInspectorError(INSTALL_HINT)
    hashed = options.hash_images if options is not None else True
    size, sha256, md5 = hash_file(path) if hashed else (os.path.getsize(path), "", "")
    with byte_progress(Path(path).name, size) as progress:
        result = carve_image(path, where, options, progress)
    for line in result.errors:
        error(line)
    report.sources.append(
        Source(
            where,
            "image",
            size,
            sha256,
            md5,
            tuple(result.errors),
            hashed=hashed,
            image_format=image_format(path),
            examined={
                "carved_ranges": sum(result.ranges.values()),
                **result.ranges,
                "carved_bytes": result.carved_bytes,
            },
        )
    )
    found.extend(result.items)
    return bool(result.errors)
