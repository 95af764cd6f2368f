"""``uidl-inspector hidden``: every associated (hidden) message of a store, in every folder;
an MSG file (a hidden message exported) as one row of the same shape, to compare the two.

readpst and pffexport skip these messages; this lists them with their attachments so an
analyst sees what the store hides before anything is interpreted.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from enum import Enum
from typing import Annotated, Any

import typer
from rich.console import Console

from uidl_inspector.cli.app import PANEL_OUTPUT, app, examples
from uidl_inspector.cli.common import (
    EXIT_INPUT,
    ForceOpt,
    JobsOpt,
    OutputOpt,
    SchedulerOpt,
    error,
    guarded,
    jobs_or_default,
    on_terminal,
    refuse_output_early,
    takes_image_options,
)
from uidl_inspector.pipeline import hidden_evidence
from uidl_inspector.report.json_report import json_chunks
from uidl_inspector.report.model import Report, Source
from uidl_inspector.report.output import STDOUT, write_output
from uidl_inspector.report.table_report import data_table, image_line, plain_text, terminal_safe

__all__ = ["hidden", "HiddenFormat"]
log = logging.getLogger(__name__)


class HiddenFormat(str, Enum):
    table = "table"
    json = "json"


def _attachments_text(attachments: list[dict[str, Any]]) -> str:
    parts = []
    for a in attachments:
        name = a["name"] or f"#{a['index']}"
        parts.append(name if a["size"] is None else f"{name} ({a['size']} B)")
        if "embedded" in a:
            inner = _attachments_text(a["embedded"]["attachments"])
            parts[-1] += f" [embedded {a['embedded']['message_class']}: {inner}]"
    return ", ".join(parts)


def _table(source: Source, rows: list[dict[str, Any]], console: Console) -> None:
    title = f"Hidden messages of {terminal_safe(source.path)}"
    columns = ("folder", "nid", "message_class", "subject", "attachments")
    table = data_table(*columns, title=title, numeric=("nid",))
    for row in rows:
        if row["source"] == source.path:
            cells = (row["folder"], row["nid"], row["message_class"] or "", row["subject"] or "")
            table.add_row(*map(terminal_safe, (*cells, _attachments_text(row["attachments"]))))
    console.print(table)
    for finding in source.findings:
        console.print(f"finding {finding.severity} {finding.code}: {terminal_safe(finding.detail)}")


def _tables(report: Report, console: Console) -> None:
    for source in report.sources:
        if source.kind == "image":  # what was examined in it; its stores follow
            console.print(image_line(source))
        for problem in source.errors:
            console.print(f"{terminal_safe(source.path)}: {terminal_safe(problem)}")
        if source.kind != "image" and not source.errors:
            _table(source, report.extra["hidden"], console)


def envelope(report: Report) -> dict[str, Any]:
    """The scan's envelope (tool, run, sources...) with ``hidden[]`` instead of histories."""
    data = report.to_dict()
    del data["histories"]
    return data


@app.command(
    "hidden",
    epilog=examples(
        "uidl-inspector hidden mailbox.pst",
        "uidl-inspector hidden mailbox.ost -f json -o hidden.json",
        "uidl-inspector hidden mailbox.pst exported.msg  # a store's rows beside an exported one",
        "uidl-inspector hidden evidence/ backup.pst    # every store below evidence/, and one more",
        "uidl-inspector hidden disk.E01 --vss none     # the stores in a disk image's live volumes",
    ),
)
@guarded
@takes_image_options
def hidden(
    paths: Annotated[
        list[str],
        typer.Argument(
            metavar="PATH",
            help="PST/OST stores, MSG files, disk images or "
            "directories, walked recursively (for their stores and images; an MSG is read "
            "when named).",
        ),
    ],
    fmt: Annotated[
        HiddenFormat | None,
        typer.Option(
            "--format",
            "-f",
            case_sensitive=False,
            rich_help_panel=PANEL_OUTPUT,
            help="table (default on a terminal) or json (default otherwise).",
        ),
    ] = None,
    output: OutputOpt = None,
    force: ForceOpt = False,
    images: Any = None,
    jobs: JobsOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """List every associated (hidden) message of every folder, with its attachments.

    A bad input gets one line on stderr and the others are still listed; the exit code is
    then 1.
    """
    refuse_output_early(output, force, paths)
    from uidl_inspector.cli.scan import progress_on_stderr  # here: keeps the help's order

    with progress_on_stderr("hidden messages") as progress:
        outcome = hidden_evidence(paths, images, jobs_or_default(jobs), scheduler, progress)
    for line in outcome.failed:
        error(line)
    for source in outcome.report.sources:
        log.info(
            "hidden %s: %d hidden messages",
            source.path,
            sum(1 for row in outcome.report.extra["hidden"] if row["source"] == source.path),
        )
    to_terminal = on_terminal(output)
    chosen = fmt or (HiddenFormat.table if to_terminal else HiddenFormat.json)
    text: str | Iterator[bytes]
    if chosen is HiddenFormat.table and to_terminal:
        _tables(outcome.report, Console(highlight=False, markup=False, emoji=False))
    else:
        if chosen is HiddenFormat.json:
            text = json_chunks(envelope(outcome.report))
        else:
            text = plain_text(functools.partial(_tables, outcome.report), width=160)
        write_output(text, output or STDOUT, force=force, protect=paths)
    if outcome.failed:
        raise typer.Exit(EXIT_INPUT)
