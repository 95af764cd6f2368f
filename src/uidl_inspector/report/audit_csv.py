"""The audit section flattened to rows: one per classified UID, duplicate copy and finding.

Used by the CSV and table renderings; the JSON report keeps the structured section.
"""

from __future__ import annotations

import csv
import io
from typing import Any

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


def audit_rows(audit: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows in report order: account classes, duplicate copies, links, findings."""
    rows: list[dict[str, Any]] = []
    for account in audit.get("accounts", []):
        server = account.get("server") or {}
        for cls in CLASSES:
            for uid in server.get(cls, []):
                rows.append(
                    {"section": "account", "account": account["account"], "kind": cls, "uid": uid}
                )
    for group in audit.get("duplicates", []):
        for copy in group["copies"]:
            rows.append(
                {
                    "section": "duplicate",
                    "kind": group["key_method"],
                    "internet_message_id": group["internet_message_id"],
                    "source": copy.get("source"),
                    "folder": copy["folder"],
                    "nid": copy["nid"],
                    "time": copy["delivery_time"],
                }
            )
    for link in audit.get("links", []):
        entry, message = link["entry"], link["message"]
        rows.append(
            {
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
        )
    for finding in audit.get("findings", []):
        rows.append(
            {"section": "finding", "kind": finding["code"], "detail": finding["explanation"]}
        )
    return rows


def audit_csv(audit: dict[str, Any], meta: dict[str, Any] | None = None) -> str:
    """CSV of :func:`audit_rows`; formula-like text cells get a leading ``'`` and the
    ``neutralised`` column names them (exact values are in the JSON report). ``meta``
    (run metadata) becomes the first row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow((*ROW_COLUMNS, "neutralised"))
    rows = audit_rows(audit)
    if meta is not None:
        rows.insert(
            0,
            {
                "section": "run",
                "kind": f"{meta['tool']} {meta['version']}",
                "time": meta["started_at"],
                "detail": f"run {meta['run_id']} finished {meta['finished_at']}: "
                + " ".join(meta["command_line"]),
            },
        )
    for row in rows:
        cells, changed = [], []
        for column in ROW_COLUMNS:
            value = row.get(column)
            if isinstance(value, str):
                cell, was = neutralise(value)
                if was:
                    changed.append(column)
            else:
                cell = "" if value is None else str(value)
            cells.append(cell)
        writer.writerow((*cells, " ".join(changed)))
    return buffer.getvalue()
