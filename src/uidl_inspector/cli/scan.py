"""``uidl-inspector scan``: every POP3 history in PST/OST/MSG/BLOB evidence, one report."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import typer

from uidl_inspector.cli.app import PANEL_CHECKS, PANEL_INPUT, app, examples
from uidl_inspector.cli.common import (
    EXIT_INPUT,
    ForceOpt,
    Format,
    FormatOpt,
    JobsOpt,
    NoRecoverOpt,
    OutputOpt,
    SchedulerOpt,
    emit,
    error,
    guarded,
    jobs_or_default,
    note,
    refuse_output_early,
    resolve_format,
    takes_image_options,
)
from uidl_inspector.cli.runlog import quiet
from uidl_inspector.findings import above_info
from uidl_inspector.synth.demo import demo_path

__all__ = ["scan", "progress_on_stderr"]


_STEP_LINES = 3  # steps shown at once (hashing runs beside reading and recovery)
_NUMBERS = re.compile(r"\d[\d,]*")


@contextlib.contextmanager
def progress_on_stderr(what: str = "messages examined") -> Iterator[Callable[..., None] | None]:
    """A live count (``count``, or ``count, total, what`` for a step that knows its total or
    counts something else) or a step's status (a str, such as ``"x.pst: hashing, 12 of 215
    MiB"``) on stderr, only when stderr is a terminal and not ``-q``.

    Each step keeps a line of its own (a status's step is its text without the numbers),
    so that hashing, which runs on a thread beside the reading and recovery, does not hide
    them; the last few steps are shown."""
    if quiet() or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn

    lines: dict[str, TaskID] = {}

    def line(step: str, text: str) -> None:
        task = lines.get(step)
        if task is None:
            if len(lines) >= _STEP_LINES:
                progress.remove_task(lines.pop(next(iter(lines))))
            task = lines[step] = progress.add_task(text, total=None)
        progress.update(task, description=text)

    def show(count: int | str, total: int | None = None, counted: str = what) -> None:
        if isinstance(count, str):
            line(_NUMBERS.sub("#", count), count)
            return
        of = f" of {total}" if total is not None else ""
        line(counted, f"{count}{of} {counted}")

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        yield show


@app.command(
    "scan",
    epilog=examples(
        "uidl-inspector scan mailbox.pst                      # a table on the terminal",
        "uidl-inspector scan evidence/ -f json -o scan.json   # every store below evidence/",
        "uidl-inspector scan mailbox.pst --verify --log-file scan.log",
        "uidl-inspector scan                                  # the bundled demo evidence",
    ),
)
@guarded
@takes_image_options
def scan(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="PATH",
            help="PST/OST stores, MSG files, BLOBs (binary or hex text), "
            "disk images or directories, walked recursively. None: the bundled demo.",
        ),
    ] = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    force: ForceOpt = False,
    deep: Annotated[
        bool,
        typer.Option(
            "--deep",
            rich_help_panel=PANEL_INPUT,
            help="Also sweep every normal message (cost grows with the store).",
        ),
    ] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            rich_help_panel=PANEL_CHECKS,
            help="Cross-check the hidden messages with libpff (a second full read of each store).",
        ),
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            rich_help_panel=PANEL_CHECKS,
            help="Exit 1 if any history anomaly or "
            "container finding is a warning or an error (info is not; the report is still "
            "written).",
        ),
    ] = False,
    no_recover: NoRecoverOpt = False,
    images: Any = None,
    jobs: JobsOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Find and decode every POP3 download history (UIDL BLOB) in the evidence.

    The input type comes from the content, not the extension. A bad input gets one line on
    stderr and the others are still reported; the exit code is then 1.
    """
    from uidl_inspector.pipeline import histories_ahead, scan_evidence  # not for --help

    demo = not paths
    if not paths:
        found = demo_path()
        if found is None:
            error("no PATH given and the bundled demo evidence is not installed")
            raise typer.Exit(EXIT_INPUT)
        note(f"demo: scanning the bundled demo evidence {found} (give a PATH to scan your own)")
        paths = [str(found)]
    refuse_output_early(output, force, paths)
    as_json = resolve_format(fmt, output) is Format.json
    with histories_ahead(output if as_json else None) as ahead:
        with progress_on_stderr() as progress:
            outcome = scan_evidence(
                paths,
                deep=deep,
                verify=verify,
                progress=progress,
                recover=not no_recover,
                images=images,
                jobs=jobs_or_default(jobs),
                scheduler=scheduler,
                json_entries=as_json,
                arrived=None if ahead is None else ahead.arrived,
                parts=None if ahead is None else ahead.spool.parts,
            )
        outcome.report.demo = demo
        for line in outcome.failed:
            error(line)
        if ahead is None:
            emit(outcome.report, fmt, output, force, inputs=paths)
        else:
            ahead.write(outcome.report, force, inputs=paths)
    problems = 0
    if strict:
        problems = sum(len(above_info(h.history.anomalies)) for h in outcome.report.histories)
        problems += sum(len(above_info(s.findings)) for s in outcome.report.sources)
        if problems:
            error(f"strict: {problems} anomalies or findings of severity warning or error")
    if outcome.failed or problems:
        raise typer.Exit(EXIT_INPUT)
