"""What every command shares: --format/--output/--force, one-line errors, exit codes.

Exit codes (docs/exit-codes.md): 0 success, anomalies included (they are findings, not
failures); 1 an input could not be processed, or the report could not be written;
2 a usage error (typer's own, for bad options, and :func:`usage_error`). :func:`guarded`
wraps a command so that nothing it raises reaches the user as a traceback.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
from collections.abc import Callable, Iterable
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from uidl_inspector.cli.app import PANEL_INPUT, PANEL_OUTPUT, PANEL_PERFORMANCE
from uidl_inspector.cli.runlog import PROG, SHOWN, quiet, terminal_safe
from uidl_inspector.exceptions import UidlInspectorError, internal_error
from uidl_inspector.report.output import STDOUT, check_target, write_output

if TYPE_CHECKING:  # the writers are imported by emit(), not by a command's --help
    from uidl_inspector.report.model import Report

__all__ = [
    "EXIT_INPUT",
    "EXIT_USAGE",
    "Format",
    "FormatOpt",
    "OutputOpt",
    "ForceOpt",
    "NoRecoverOpt",
    "error",
    "note",
    "usage_error",
    "guarded",
    "resolve_format",
    "on_terminal",
    "emit",
    "takes_image_options",
    "JobsOpt",
    "SchedulerOpt",
    "jobs_or_default",
]

EXIT_INPUT, EXIT_USAGE = 1, 2
log = logging.getLogger(__name__)


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


FormatOpt = Annotated[
    Format | None,
    typer.Option(
        "--format",
        "-f",
        case_sensitive=False,
        rich_help_panel=PANEL_OUTPUT,
        help="Report format (default: table on a terminal, json otherwise).",
    ),
]
OutputOpt = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        rich_help_panel=PANEL_OUTPUT,
        help="Write the report to FILE ('-' = stdout).",
    ),
]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        rich_help_panel=PANEL_OUTPUT,
        help="Replace the --output (or --log-file) file if it exists.",
    ),
]
NoRecoverOpt = Annotated[
    bool,
    typer.Option(
        "--no-recover",
        rich_help_panel=PANEL_INPUT,
        help="Do not look for earlier histories in "
        "the stores' free and orphaned space (the 'recovered' section).",
    ),
]


PartitionsOpt = Annotated[
    str,
    typer.Option(
        "--partitions",
        metavar="all|N,...",
        rich_help_panel=PANEL_INPUT,
        help="Disk images: the partitions to examine (numbers from 1).",
    ),
]
VssOpt = Annotated[
    str,
    typer.Option(
        "--vss",
        metavar="all|none|N,...",
        rich_help_panel=PANEL_INPUT,
        help="Disk images: the Volume Shadow Copies to examine (numbers from 1).",
    ),
]
DeletedOpt = Annotated[
    bool,
    typer.Option(
        "--deleted/--no-deleted",
        rich_help_panel=PANEL_INPUT,
        help="Disk images: also read deleted files where the file system keeps them.",
    ),
]
CredentialOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--credential",
        metavar="TYPE:VALUE",
        rich_help_panel=PANEL_INPUT,
        help="Disk images: unlock BitLocker, FileVault or LUKS volumes (TYPE: password, "
        "recovery_password, startup_key or key_data); repeat for several.",
    ),
]
JobsOpt = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        min=1,
        metavar="N",
        rich_help_panel=PANEL_PERFORMANCE,
        help="Worker processes, one input each; the report is the same for any N "
        "(default: the number of CPUs).",
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="ADDRESS",
        envvar="DASK_SCHEDULER_ADDRESS",
        rich_help_panel=PANEL_PERFORMANCE,
        help="Run the per-input tasks on this Dask distributed cluster instead "
        "(tcp://host:8786; the inputs must be readable by its workers at the same paths).",
    ),
]
NoHashImagesOpt = Annotated[
    bool,
    typer.Option(
        "--no-hash-images",
        rich_help_panel=PANEL_PERFORMANCE,
        help="Disk images: do not hash the image files themselves (the report says so).",
    ),
]


# The disk-image options every command that reads evidence takes, with their defaults.
IMAGE_PARAMETERS = (
    ("partitions", PartitionsOpt, "all"),
    ("vss", VssOpt, "all"),
    ("deleted", DeletedOpt, True),
    ("no_hash_images", NoHashImagesOpt, False),
    ("credential", CredentialOpt, None),
)


def takes_image_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command the disk-image options (declared once, above); it receives them as
    one ``images`` argument (store.image.ImageOptions), checked like any usage error."""
    names = [name for name, _, _ in IMAGE_PARAMETERS]
    signature = inspect.signature(command, eval_str=True)  # typer reads objects, not strings
    own = [p for p in signature.parameters.values() if p.name != "images"]
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
        for name, kind, default in IMAGE_PARAMETERS
    ]

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        from uidl_inspector.store.image import ImageOptions, parse_credential, parse_selection

        partitions, vss, deleted, no_hash_images, credentials = (kwargs.pop(n) for n in names)
        try:
            images = ImageOptions(
                parse_selection(partitions),
                parse_selection(vss, allow_none=True),
                deleted,
                not no_hash_images,
                tuple(parse_credential(c) for c in credentials or ()),
            )
        except ValueError as exc:
            raise usage_error(f"invalid image option: {exc}") from None
        return command(*args, images=images, **kwargs)

    run.__signature__ = signature.replace(parameters=[*own, *extra])  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in [*own, *extra]}
    run.__annotations__["return"] = signature.return_annotation
    return run


def jobs_or_default(jobs: int | None) -> int:
    """``--jobs``, else the number of CPUs this process may use."""
    from uidl_inspector.workers import default_jobs

    return jobs or default_jobs()


def error(message: str) -> None:
    """One line on stderr, whatever the message holds; the same line in the run log."""
    line = terminal_safe(message)  # a newline in it shows as \x0a: one line
    sys.stderr.write(f"{PROG}: error: {line}\n")
    sys.stderr.flush()
    log.error("%s", message, extra={SHOWN: True})


def note(message: str) -> None:
    """A note for the analyst on stderr (not an error), unless -q/--quiet; and in the log."""
    if not quiet():
        sys.stderr.write(f"{PROG}: {terminal_safe(message)}\n")
        sys.stderr.flush()
    log.info("%s", message, extra={SHOWN: True})


def usage_error(message: str) -> typer.Exit:
    """Say what is wrong with the command line; raise the result (exit code 2)."""
    error(message)
    return typer.Exit(EXIT_USAGE)


F = TypeVar("F", bound=Callable[..., Any])


def guarded(command: F) -> F:
    """Run ``command`` so that any error ends in one line on stderr and exit code 1."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):  # typer's own exits
            raise
        except KeyboardInterrupt:
            error("interrupted")
            raise typer.Exit(130) from None
        except UidlInspectorError as exc:
            error(str(exc))
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            error(f"{where}{exc.strerror or exc}")
        except Exception as exc:  # noqa: BLE001 - the promise is: never a traceback
            error(internal_error(exc))
        raise typer.Exit(EXIT_INPUT)

    return run  # type: ignore[return-value]


def refuse_output_early(output: str | None, force: bool, inputs: Iterable[str]) -> None:
    """Refuse a report target that would be refused at the end (an input, an existing file
    without --force, a directory) before the run spends its time."""
    if output is not None and output != STDOUT:
        check_target(output, force, inputs)


def on_terminal(output: str | None) -> bool:
    """Whether the report goes to stdout and that is a terminal: a table by default."""
    return output in (None, STDOUT) and sys.stdout.isatty()


def resolve_format(fmt: Format | None, output: str | None) -> Format:
    """The format asked for, else table when the report goes to a terminal, else json."""
    return fmt or (Format.table if on_terminal(output) else Format.json)


def emit(
    report: Report, fmt: Format | None, output: str | None, force: bool, inputs: Iterable[str] = ()
) -> None:
    """Render ``report`` and write it where asked (stdout by default)."""
    chosen = resolve_format(fmt, output)
    target = output or STDOUT
    text: str | Iterable[bytes]
    if chosen is Format.table:  # rich and the table writer: for this format only
        from rich.console import Console

        from uidl_inspector.report.table_report import render_table, to_table_text

        if target == STDOUT:
            render_table(report, Console(highlight=False, markup=False, emoji=False))
            return
        text = to_table_text(report)
    elif chosen is Format.csv:
        from uidl_inspector.report.csv_report import csv_chunks

        text = csv_chunks(report)
    else:
        from uidl_inspector.report.json_report import json_chunks

        text = json_chunks(report)
    write_output(text, target, force=force, protect=inputs)
