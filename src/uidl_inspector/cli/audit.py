"""``uidl-inspector audit``: the scan report plus what happened to the mailbox."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from uidl_inspector import __version__
from uidl_inspector.cli.app import PANEL_INPUT, PANEL_OUTPUT, app, examples
from uidl_inspector.cli.common import (
    EXIT_INPUT,
    ForceOpt,
    JobsOpt,
    NoRecoverOpt,
    OutputOpt,
    SchedulerOpt,
    error,
    guarded,
    jobs_or_default,
    note,
    on_terminal,
    refuse_output_early,
    takes_image_options,
    usage_error,
)
from uidl_inspector.cli.runlog import terminal_safe
from uidl_inspector.report.model import Report
from uidl_inspector.report.output import STDOUT, write_output
from uidl_inspector.report.timeline import TimelineError, check_zone_name
from uidl_inspector.synth.demo import DEMO_STORE, demo_path, samples_dir
from uidl_inspector.versions import TOOL_NAME

if TYPE_CHECKING:  # the audit package is imported when the command runs
    from rich.console import Console  # rich and the tables: for the table format only

    from uidl_inspector.audit import AuditResult

__all__ = ["audit", "AuditFormat", "parse_listing_option"]

DEMO_LISTING = "demo.uidl.txt"


class AuditFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    jsonl = "jsonl"
    timeline_csv = "timeline-csv"
    html = "html"


TIMELINE_FORMATS = (AuditFormat.jsonl, AuditFormat.timeline_csv)


def parse_listing_option(value: str) -> tuple[str | None, str]:
    """``FILE`` or ``ACCOUNT=FILE`` (a path that exists as given is always a file)."""
    if os.path.exists(value) or "=" not in value:
        return None, value
    account, _, path = value.partition("=")
    return (account or None), path


def _run_meta(report: Report) -> dict[str, Any]:
    return {"tool": TOOL_NAME, "version": __version__, **report.run.to_dict()}


def _audit_table(audit: AuditResult, console: Console) -> None:
    from rich.text import Text

    from uidl_inspector.report.table_report import data_table

    summary = audit.summary
    console.print(
        Text(
            f"Audit: {summary.histories} histories, {summary.entries} entries, "
            f"{summary.messages} messages, {summary.duplicate_groups} duplicate groups "
            f"({summary.duplicate_copies} copies), {summary.linked_entries} entries linked"
        )
    )
    console.print(Text(f"Clock: {terminal_safe(audit.clock.explanation)}"))
    numbers = ("histories", "history UIDs", "downloaded", "deleted", "new", "history only")
    table = data_table(
        "account", *numbers, title="Accounts against the server listing", numeric=numbers
    )
    classes = ("downloaded", "deleted", "new", "history_only")
    for account in audit["accounts"]:  # the dict form: the counts as the report has them
        counts = (account["server"] or {}).get("counts")
        server = [counts[c] for c in classes] if counts else ["-"] * len(classes)
        values = (len(account["histories"]), account["history_uids"], *server)
        table.add_row(terminal_safe(account["account"]), *map(str, values))
    console.print(table)
    for finding in audit["findings"]:  # with severity and alternatives, as reported
        console.print(
            Text.assemble(
                (finding["code"], "bold yellow"),
                f" [{finding['severity']}] ",
                terminal_safe(finding["explanation"]),
            )
        )
        for alt in finding["alternatives"]:
            console.print(
                Text(
                    f"  or: {terminal_safe(alt['explanation'])} Would settle it: "
                    f"{terminal_safe(alt['would_settle'])}"
                )
            )
    if not audit.findings:
        console.print(Text("No cause finding."))


def _tables(report: Report, console: Console) -> None:
    from uidl_inspector.report.lineage_views import lineage_tables
    from uidl_inspector.report.table_report import render_table

    lineage_tables(report.extra["audit"], console)  # each history's life first
    render_table(report, console)
    _audit_table(report.extra["audit"], console)


def _render(report: Report, fmt: AuditFormat, tz: str | None) -> str | Iterator[bytes]:
    from uidl_inspector.report.audit_csv import audit_csv
    from uidl_inspector.report.json_report import json_chunks

    audit: AuditResult = report.extra["audit"]  # pipeline.audit_report puts it there
    if fmt is AuditFormat.json:
        return json_chunks(report)
    if fmt is AuditFormat.csv:
        return audit_csv(audit, _run_meta(report))
    if fmt is AuditFormat.html:
        from uidl_inspector.report.html_report import to_html

        return to_html(report)
    if fmt in TIMELINE_FORMATS:
        from uidl_inspector.report.timeline import (
            resolve_zone,
            run_event,
            timeline_events,
            to_jsonl,
            to_timeline_csv,
        )

        section = audit.to_dict()  # the timeline is built whole: it is sorted by time
        zone = resolve_zone(tz, section["clock"])
        events, skipped = timeline_events(report, section, zone)
        events.insert(0, run_event(_run_meta(report)))
        if any(skipped.values()):
            note(
                f"note: left out of the timeline: {skipped['undated_entries']} entries "
                f"without a valid time, {skipped['out_of_range']} outside years 1700-9999"
            )
        if fmt is AuditFormat.jsonl:
            return to_jsonl(events)
        text, changed = to_timeline_csv(events)
        if changed:
            note(
                f"note: {changed} CSV cells that could start a formula were prefixed "
                "with ' (exact values: --format jsonl)"
            )
        return text
    from uidl_inspector.report.table_report import plain_text

    return plain_text(functools.partial(_tables, report))


@app.command(
    epilog=examples(
        "uidl-inspector audit mailbox.pst --server-uidl uidl.txt",
        "uidl-inspector audit a.pst b.pst --server-uidl alice@example.com=alice.txt",
        "uidl-inspector audit mailbox.pst -f html -o audit.html --log-file audit.log",
        "uidl-inspector audit mailbox.pst -f jsonl -o timeline.jsonl   # times read as UTC",
        "uidl-inspector audit mailbox.pst -f jsonl --tz Europe/Berlin -o timeline.jsonl",
        "uidl-inspector audit                 # the bundled demo store and its listing",
    )
)
@guarded
@takes_image_options
def audit(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="PATH",
            help="PST/OST stores, MSG files, BLOBs, disk images or directories. None: the "
            "bundled demo.",
        ),
    ] = None,
    server_uidl: Annotated[
        list[str] | None,
        typer.Option(
            "--server-uidl",
            metavar="[ACCOUNT=]FILE",
            rich_help_panel=PANEL_INPUT,
            help="The server's UIDL listing (raw transcript or one UID per line); repeat for "
            "several accounts. ACCOUNT= names its account, else it is matched by UIDs.",
        ),
    ] = None,
    fmt: Annotated[
        AuditFormat | None,
        typer.Option(
            "--format",
            "-f",
            case_sensitive=False,
            rich_help_panel=PANEL_OUTPUT,
            help="table (default on a terminal), json (default otherwise), csv, jsonl, "
            "timeline-csv or html.",
        ),
    ] = None,
    tz: Annotated[
        str | None,
        typer.Option(
            "--tz",
            metavar="ZONE|inferred",
            rich_help_panel=PANEL_OUTPUT,
            help="How to read the history's zoneless times in a timeline. Default: UTC, as "
            "Outlook writes them, unless the store's evidence supports another offset "
            "(clock_mismatch). An IANA zone name overrides; 'inferred' takes the offset the "
            "evidence supports and is refused without it.",
        ),
    ] = None,
    output: OutputOpt = None,
    force: ForceOpt = False,
    no_recover: NoRecoverOpt = False,
    images: Any = None,
    jobs: JobsOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Audit POP3 downloads: server classes, duplicate messages, clock, findings."""
    if fmt in TIMELINE_FORMATS:
        try:
            check_zone_name(tz)
        except TimelineError as exc:
            raise usage_error(str(exc)) from None
    demo = not paths
    inputs = [str(p) for p in paths or []]
    listing_args = list(server_uidl or [])
    if demo:
        found = demo_path()
        if found is None or found.name != DEMO_STORE:
            error("no PATH given and the bundled demo store is not installed")
            raise typer.Exit(EXIT_INPUT)
        inputs = [str(found)]
        folder = samples_dir()
        if not listing_args and folder is not None and (folder / DEMO_LISTING).is_file():
            listing_args = [str(folder / DEMO_LISTING)]
        note(
            f"demo: auditing the bundled demo evidence {found} with the server "
            f"listing {', '.join(listing_args) or '(none)'}; give a PATH to audit your own"
        )
    named = [parse_listing_option(v) for v in listing_args]
    protect = [*inputs, *(path for _, path in named)]
    refuse_output_early(output, force, protect)
    from uidl_inspector.audit import read_server_listing
    from uidl_inspector.cli.scan import progress_on_stderr  # here: keeps the help's order
    from uidl_inspector.pipeline import audit_report

    listings = [read_server_listing(path, account) for account, path in named]
    with progress_on_stderr() as progress:
        report, failed = audit_report(
            inputs, listings, progress, not no_recover, images, jobs_or_default(jobs), scheduler
        )
    report.demo = demo
    for line in failed:
        error(line)
    chosen = fmt or (AuditFormat.table if on_terminal(output) else AuditFormat.json)
    if chosen is AuditFormat.table and output in (None, STDOUT):
        from rich.console import Console

        _tables(report, Console(highlight=False, markup=False, emoji=False))
    else:
        write_output(_render(report, chosen, tz), output or STDOUT, force=force, protect=protect)
    if failed:
        raise typer.Exit(EXIT_INPUT)
