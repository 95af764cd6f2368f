"""``uidl-inspector scan``: every POP3 history in PST/OST/MSG/BLOB evidence, one report."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
from collections.abc import Iterator
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console

from uidl_inspector.cli.app import app
from uidl_inspector.demo import demo_path
from uidl_inspector.locate import scan_evidence
from uidl_inspector.report.model import Report

__all__ = ["scan", "OutputFormat", "write_text", "say"]


def say(err: Console, text: str) -> None:
    """One line on stderr, printed as is (no markup, no wrapping)."""
    err.print(text, markup=False, highlight=False, soft_wrap=True)


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def write_text(text: str, output: Path | None, force: bool, err: Console) -> None:
    """stdout, or ``output`` written atomically and never over a file without --force."""
    if output is None:
        typer.echo(text, nl=False)
        return
    if output.exists() and not force:
        say(err, f"error: {output} exists (use --force to replace it)")
        raise typer.Exit(1)
    temp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, output)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        say(err, f"error: cannot write {output}: {exc.strerror or exc}")
        raise typer.Exit(1) from None


_CSV_RISKY = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def _cell(value: object) -> object:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_CSV_RISKY) else value


def _csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["source", "folder", "message_nid", "attachment_index", "match_rule",
                     "attachment_rule", "account", "profile", "index", "offset", "operation",
                     "content", "timestamp", "uid", "raw_uid"])
    for record in report.histories:
        loc = record.location
        for entry in record.history.entries:
            e = entry.to_dict()
            writer.writerow([_cell(v) for v in (
                record.source, loc.folder, loc.message_nid, loc.attachment_index,
                loc.match_rule, loc.attachment_rule, record.account.label,
                record.profile.name, e["index"], e["offset"], e["operation"], e["content"],
                e["timestamp"], e["uid"], e["raw_uid"])])
    return out.getvalue()


def _table(report: Report, console: Console) -> None:
    from rich.table import Table

    table = Table(title="POP3 download histories" + (" (demo)" if report.demo else ""))
    for column in ("source", "folder", "nid", "att", "rule", "account", "profile",
                   "entries", "anomalies"):
        table.add_column(column)
    for r in report.histories:
        loc = r.location
        table.add_row(r.source, loc.folder or "", "" if loc.message_nid is None
                      else str(loc.message_nid), "" if loc.attachment_index is None
                      else str(loc.attachment_index),
                      f"{loc.match_rule or ''}/{loc.attachment_rule or ''}", r.account.label,
                      r.profile.name or "", str(len(r.history.entries)),
                      str(len(r.history.anomalies)))
    console.print(table)
    for source in report.sources:
        for error in source.errors:
            console.print(f"unprocessed: {source.path}: {error}", markup=False)


def emit_report(report: Report, fmt: OutputFormat | None, output: Path | None, force: bool,
                err: Console) -> None:
    """Render the report in the chosen format to stdout or ``output``."""
    if fmt is None:
        fmt = OutputFormat.table if output is None and sys.stdout.isatty() else OutputFormat.json
    if fmt is OutputFormat.json:
        text = json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
    elif fmt is OutputFormat.csv:
        text = _csv(report)
    else:
        buffer = io.StringIO()
        _table(report, Console(file=buffer, width=160, force_terminal=output is None
                               and sys.stdout.isatty()))
        text = buffer.getvalue()
    write_text(text, output, force, err)


@contextlib.contextmanager
def _progress(err: Console) -> Iterator[object]:
    """A live count of messages examined, on stderr, only when stderr is a terminal."""
    if not err.is_terminal:
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=err,
                  transient=True) as progress:
        task = progress.add_task("scanning", total=None)
        yield lambda count: progress.update(task, description=f"{count} messages examined")


@app.command()
def scan(
    paths: list[Path] = typer.Argument(None, help="PST/OST stores, MSG files, BLOBs or "
                                       "directories (walked recursively). None: the demo."),
    fmt: OutputFormat = typer.Option(None, "--format", help="table (default on a terminal), "
                                     "json (default otherwise) or csv."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the report to FILE."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --output file."),
    deep: bool = typer.Option(False, "--deep", help="Also sweep every normal message "
                              "(cost grows with the store)."),
    verify: bool = typer.Option(False, "--verify", help="Cross-check the hidden messages "
                                "with libpff (a full second read of each store)."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 if any history shows an "
                                "anomaly or any container finding was recorded."),
) -> None:
    """Find and decode every POP3 download history (UIDL BLOB) in the evidence."""
    err = Console(stderr=True)
    demo = not paths
    if demo:
        found = demo_path()
        if found is None:
            say(err, "error: no PATH given and the bundled demo evidence is not installed")
            raise typer.Exit(1)
        say(err, f"demo: scanning the bundled demo evidence {found} (give a PATH to scan "
                  "your own)")
        paths = [found]
    with _progress(err) as progress:
        outcome = scan_evidence([str(p) for p in paths], deep=deep, verify=verify,
                                progress=progress)
    outcome.report.demo = demo
    for line in outcome.failed:
        say(err, f"error: {line}")
    emit_report(outcome.report, fmt, output, force, err)
    problems = 0
    if strict:
        problems = sum(len(h.history.anomalies) for h in outcome.report.histories) + sum(
            len(s.findings) for s in outcome.report.sources)
        if problems:
            say(err, f"strict: {problems} anomalies or findings")
    if outcome.failed or problems:
        raise typer.Exit(1)

