"""``uidl-inspector hidden``: every associated (hidden) message of a store, in every folder.

readpst and pffexport skip these messages; this lists them with their attachments so an
analyst sees what the store hides before anything is interpreted.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console

from uidl_inspector.cli.app import app
from uidl_inspector.cli.scan import say, write_text
from uidl_inspector.exceptions import UidlInspectorError
from uidl_inspector.locate import hidden_inventory
from uidl_inspector.report.model import Source
from uidl_inspector.store.detect import detect_kind, open_evidence

__all__ = ["hidden", "HiddenFormat"]


class HiddenFormat(str, Enum):
    table = "table"
    json = "json"


def _table(source: Source, rows: list[dict]) -> str:
    import io

    from rich.table import Table

    table = Table(title=f"Hidden messages of {source.path}")
    for column in ("folder", "nid", "message_class", "subject", "attachments"):
        table.add_column(column)
    for row in rows:
        names = ", ".join(f"{a['name'] or '#' + str(a['index'])} ({a['size']} B)"
                          if a["size"] is not None else f"{a['name'] or '#' + str(a['index'])}"
                          for a in row["attachments"])
        table.add_row(row["folder"], str(row["nid"]), row["message_class"] or "",
                      row["subject"] or "", names)
    buffer = io.StringIO()
    Console(file=buffer, width=160, force_terminal=sys.stdout.isatty()).print(table)
    return buffer.getvalue()


@app.command()
def hidden(
    path: Path = typer.Argument(..., help="A PST or OST store."),
    fmt: HiddenFormat = typer.Option(None, "--format", help="table (default on a terminal) "
                                     "or json (default otherwise)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write to FILE."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --output file."),
) -> None:
    """List every associated (hidden) message of every folder, with its attachments."""
    err = Console(stderr=True)
    try:
        kind = detect_kind(path)
        if kind not in ("pst", "ost"):
            say(err, f"error: {path}: not a PST/OST store (found: {kind})")
            raise typer.Exit(1)
        with open_evidence(path, kind) as evidence:
            rows, findings = hidden_inventory(evidence.store)
            source = Source.from_file(path, kind, variant=evidence.variant,
                                      encryption=evidence.encryption,
                                      findings=tuple(evidence.findings + findings))
    except (UidlInspectorError, OSError) as exc:
        say(err, f"error: {path}: {' '.join(str(exc).split())}")
        raise typer.Exit(1) from None
    if fmt is None:
        fmt = HiddenFormat.table if output is None and sys.stdout.isatty() else HiddenFormat.json
    if fmt is HiddenFormat.json:
        text = json.dumps({"source": source.to_dict(), "hidden": rows}, indent=2,
                          ensure_ascii=False) + "\n"
    else:
        text = _table(source, rows)
    write_text(text, output, force, err)
