"""``uidl-inspector hidden``: every associated (hidden) message of a store, in every folder.

readpst and pffexport skip these messages; this lists them with their attachments so an
analyst sees what the store hides before anything is interpreted.
"""

from __future__ import annotations

import io
import logging
import sys
from enum import Enum
from typing import Annotated, Any

import typer
from rich.console import Console

from uidl_inspector.cli.app import PANEL_OUTPUT, app, examples
from uidl_inspector.cli.common import EXIT_INPUT, ForceOpt, OutputOpt, error, guarded
from uidl_inspector.locate import hidden_inventory
from uidl_inspector.report.json_report import to_json
from uidl_inspector.report.model import Source, source_path
from uidl_inspector.report.output import STDOUT, write_output
from uidl_inspector.report.table_report import data_table, terminal_safe
from uidl_inspector.store.detect import detect_kind, open_evidence

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
    table = data_table("folder", "nid", "message_class", "subject", "attachments",
                       title=f"Hidden messages of {terminal_safe(source.path)}",
                       numeric=("nid",))
    for row in rows:
        table.add_row(*(terminal_safe(v) for v in (
            row["folder"], row["nid"], row["message_class"] or "", row["subject"] or "",
            _attachments_text(row["attachments"]))))
    console.print(table)
    for finding in source.findings:
        console.print(f"finding {finding.code}: {terminal_safe(finding.detail)}")


@app.command("hidden", epilog=examples(
    "uidl-inspector hidden mailbox.pst",
    "uidl-inspector hidden mailbox.ost -f json -o hidden.json"))
@guarded
def hidden(
    path: Annotated[str, typer.Argument(metavar="PATH", help="A PST or OST store.")],
    fmt: Annotated[HiddenFormat | None, typer.Option(
        "--format", "-f", case_sensitive=False, rich_help_panel=PANEL_OUTPUT,
        help="table (default on a terminal) or json (default otherwise).")] = None,
    output: OutputOpt = None,
    force: ForceOpt = False,
) -> None:
    """List every associated (hidden) message of every folder, with its attachments."""
    kind = detect_kind(path)
    if kind not in ("pst", "ost"):
        error(f"{source_path(path)}: not a PST/OST store (its content is: {kind})")
        raise typer.Exit(EXIT_INPUT)
    with open_evidence(path, kind) as evidence:
        rows, findings = hidden_inventory(evidence.store)
    source = Source.from_file(path, kind, variant=evidence.variant,
                              encryption=evidence.encryption, findings=tuple(findings))
    log.info("hidden %s: %d hidden messages", source.path, len(rows))
    target = output or STDOUT
    to_terminal = target == STDOUT and sys.stdout.isatty()
    chosen = fmt or (HiddenFormat.table if to_terminal else HiddenFormat.json)
    if chosen is HiddenFormat.json:
        text = to_json({"source": source.to_dict(), "hidden": rows})
    elif to_terminal:
        _table(source, rows, Console(highlight=False, markup=False, emoji=False))
        return
    else:
        buffer = io.StringIO()
        _table(source, rows, Console(file=buffer, width=160, color_system=None,
                                     force_terminal=False, highlight=False, markup=False))
        text = buffer.getvalue()
    write_output(text, target, force=force, protect=[path])
