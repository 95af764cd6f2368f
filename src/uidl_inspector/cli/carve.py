"""``uidl-inspector carve``: POP3 histories in any binary (image, unallocated space, dump)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

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
)
from uidl_inspector.cli.runlog import quiet
from uidl_inspector.recover.carve import carve
from uidl_inspector.report.model import Report, Source, source_path

__all__ = ["carve_command", "byte_progress"]

LONG_INPUT = 64 << 20  # inputs at least this big get a progress bar (on a terminal)


@contextlib.contextmanager
def byte_progress(name: str, size: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar of bytes read on stderr, for long inputs and only on a terminal."""
    if size < LONG_INPUT or not sys.stderr.isatty() or quiet():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True),
                  transient=True) as progress:
        task = progress.add_task(f"carving {name}", total=size)
        yield lambda done: progress.update(task, completed=done)


@app.command("carve", epilog=examples(
    "uidl-inspector carve unallocated.bin                 # a table on the terminal",
    "uidl-inspector carve disk.dd pagefile.sys -f json -o carved.json",
    "uidl-inspector carve damaged.pst --log-file carve.log"))
@guarded
def carve_command(
    paths: Annotated[list[Path], typer.Argument(
        metavar="FILE", help="Any binary: raw disk image, unallocated-space export, "
        "pagefile, memory dump, a damaged store. Read only, streamed.")],
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    force: ForceOpt = False,
) -> None:
    """Carve POP3 history BLOBs and runs of tags out of any binary, plain or PST-permute-encoded.

    Finds are reported in ``recovered`` with absolute offsets. An input that cannot be
    read gets one line on stderr and the others are still carved; the exit code is then 1.
    """
    report = Report()
    report.extra["recovered"] = found = []
    failed = False
    for path in paths:
        where = source_path(path)
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                with byte_progress(path.name, size) as progress:
                    result = carve(handle, where, progress=progress)
        except OSError as exc:
            message = f"{where}: {exc.strerror or exc}"
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
