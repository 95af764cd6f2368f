"""Lineages in the table and HTML reports: each history's life across copies of its store.

The table lists each lineage's versions in time order (where each was seen, what it added,
what it removed and why); the HTML draws a lineage as a row of versions, resets marked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from rich.console import Console
from rich.text import Text

from uidl_inspector.report.table_report import data_table, terminal_safe

__all__ = ["lineage_tables", "lineage_rows_html", "removed_summary"]


def _where(version: dict[str, Any]) -> str:
    return ", ".join(f"{s['kind']}:{s['source'].rsplit('/', 1)[-1]}" for s in version["sources"])


def removed_summary(version: dict[str, Any]) -> str:
    """``3 pruned (1 confirmed), 1 unexplained``: what a version dropped, by reason."""
    reasons = Counter(r["reason"] for r in version["removed"])
    confirmed = sum(1 for r in version["removed"] if r["reason"] == "pruned" and r["confirmed"])
    parts = []
    for reason in ("pruned", "reset", "unexplained"):
        if reasons[reason]:
            extra = f" ({confirmed} confirmed)" if reason == "pruned" and confirmed else ""
            parts.append(f"{reasons[reason]} {reason}{extra}")
    return ", ".join(parts) or "-"


def lineage_tables(audit: Mapping[str, Any], console: Console) -> None:
    """One table per lineage, its versions oldest first (``audit``: the audit section, as
    an ``AuditResult`` or its dict form)."""
    for n, lineage in enumerate(audit.get("lineages", [])):
        title = (
            f"Lineage {n}: {lineage['account']}, store {lineage['store_key'] or 'unknown'}, "
            f"manager {lineage['manager'] or 'unknown'}"
        )
        table = data_table(
            "version",
            "latest tag",
            "tags",
            "added",
            "removed",
            "seen in",
            title=terminal_safe(title),
            numeric=("version", "tags", "added"),
        )
        for v, version in enumerate(lineage["versions"]):
            mark = " RESET" if version["reset"] else ""
            table.add_row(
                f"{v}{mark}",
                terminal_safe(version["latest_tag"] or "-"),
                str(version["count"]),
                str(len(version["added"])),
                removed_summary(version),
                terminal_safe(_where(version)),
            )
        console.print(table)
    if not audit.get("lineages"):
        console.print(Text("No history to follow across copies."))


def lineage_rows_html(audit: Mapping[str, Any], e: Callable[[object], str]) -> str:
    """Each lineage as a row of versions in time order; a reset is marked where it broke.
    ``e`` escapes a value from the evidence for HTML."""
    rows = []
    for n, lineage in enumerate(audit.get("lineages", [])):
        cells = []
        for v, version in enumerate(lineage["versions"]):
            reset = version["reset"]
            cells.append(
                f'<li class="version{" reset" if reset else ""}">'
                + ('<strong class="reset-mark">reset</strong> ' if reset else "")
                + f"<b>v{v}</b> {e(version['latest_tag'] or '-')}<br>{version['count']} tags, "
                f"+{len(version['added'])}, removed: {e(removed_summary(version))}<br>"
                f"<small>{e(_where(version))}</small></li>"
            )
        rows.append(
            f'<div class="lineage" id="lineage-{n}"><h3>Lineage {n}: {e(lineage["account"])}'
            f" <small>store {e(lineage['store_key'] or 'unknown')}, manager "
            f"{e(lineage['manager'] or 'unknown')}</small></h3>"
            f'<ol class="versions">{"".join(cells)}</ol></div>'
        )
    body = "".join(rows) or "<p>No history to follow across copies.</p>"
    return f'<section id="lineages"><h2>Lineages</h2>{body}</section>'
