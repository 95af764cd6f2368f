"""The audit section flattened to rows: one per classified UID, duplicate copy and finding.

Used by the CSV rendering (written a batch of rows at a time, so the rows of a 100,000-message
audit are never held at once); the JSON report keeps the structured section.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from uidl_inspector.audit import AuditResult
from uidl_inspector.audit.classify import CLASSES
from uidl_inspector.report.csv_report import neutralise

__all__ = ["ROW_COLUMNS", "audit_rows", "audit_csv"]

ROW_COLUMNS = (
    "section",
    "account",
    "kind",
    "uid",
    "internet_message_id",
    "source",
    "folder",
    "nid",
    "time",
    "detail",
)


def audit_rows(audit: AuditResult) -> Iterator[dict[str, Any]]:
    """Rows in report order: account classes, duplicate copies, links, findings."""
    sections = dict(audit.json_sections())  # each list an iterator, read only here
    for account in sections["accounts"]:
        server = account.get("server") or {}
        for cls in CLASSES:
            for uid in server.get(cls, []):
                yield {"section": "account", "account": account["account"], "kind": cls, "uid": uid}
    for group in sections["duplicates"]:
        for copy in group["copies"]:
            yield {
                "section": "duplicate",
                "kind": group["key_method"],
                "internet_message_id": group["internet_message_id"],
                "source": copy.get("source"),
                "folder": copy["folder"],
                "nid": copy["nid"],
                "time": copy["delivery_time"],
            }
    for link in sections["links"]:
        entry, message = link["entry"], link["message"]
        yield {
            "section": "link",
            "kind": entry["operation"],
            "uid": entry["uid"],
            "internet_message_id": message["internet_message_id"],
            "source": message["source"],
            "folder": message["folder"],
            "nid": message["nid"],
            "time": entry["timestamp"],
            "detail": f"history {entry['history']} entry {entry['entry']}; "
            f"confidence {link['confidence']}",
        }
    for finding in sections["findings"]:
        yield {"section": "finding", "kind": finding["code"], "detail": finding["explanation"]}


BATCH = 1000  # rows encoded per piece of output


def audit_csv(audit: AuditResult, meta: dict[str, Any] | None = None) -> Iterator[bytes]:
    """CSV of :func:`audit_rows` (UTF-8, in pieces); formula-like text cells get a leading
    ``'`` and the ``neutralised`` column names them (exact values are in the JSON report).
    ``meta`` (run metadata) becomes the first row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow((*ROW_COLUMNS, "neutralised"))
    if meta is not None:
        command = " ".join(meta["command_line"])
        run = dict(section="run", kind=f"{meta['tool']} {meta['version']}", time=meta["started_at"])
        run["detail"] = f"run {meta['run_id']} finished {meta['finished_at']}: {command}"
        writer.writerow(_cells(run))
    for n, row in enumerate(audit_rows(audit), 1):
        writer.writerow(_cells(row))
        if not n % BATCH:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _cells(row: dict[str, Any]) -> list[str]:
    """The row's cells in column order, then the names of the neutralised ones."""
    cells, changed = [], []
    for column in ROW_COLUMNS:  # as neutralise_text does, without a call per cell
        value = row.get(column)
        if isinstance(value, str):
            cell, was = neutralise(value)
            if was:
                changed.append(column)
        else:
            cell = "" if value is None else str(value)
        cells.append(cell)
    return [*cells, " ".join(changed)]
