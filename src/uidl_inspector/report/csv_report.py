"""The CSV report: one row per history entry, safe to open in a spreadsheet.

A cell whose text could start a formula (OWASP: ``=`` ``+`` ``-`` ``@``, tab, CR, LF, and
their full-width forms) gets a leading ``'``. Real UIDs and times can start with ``-``, so
the value is never stripped: it is prefixed, and the ``neutralised`` column names the
columns of that row that were. The JSON report keeps the exact values.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Any

from uidl_inspector.records import HistoryRecord
from uidl_inspector.report.model import Report

__all__ = ["COLUMNS", "FORMULA_STARTS", "neutralise", "to_csv", "csv_rows", "csv_chunks"]

SLACK_TEXT_SEPARATOR = " | "
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")

COLUMNS = (
    "source",
    "account",
    "mini_uid",
    "profile",
    "folder",
    "message_nid",
    "message_class",
    "attachment_index",
    "attachment_name",
    "match_rule",
    "attachment_rule",
    "embedded_path",
    "blob_sha256",
    "slack_size",
    "slack_text",
    "history_anomalies",
    "index",
    "offset",
    "operation",
    "content",
    "timestamp",
    "raw_timestamp",
    "uid",
    "raw_uid",
    "entry_anomalies",
    "neutralised",
)


def neutralise(value: Any) -> tuple[str, bool]:
    """The cell text, and whether it had to be prefixed with ``'``."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text, True
    return text, False


def _record_cells(record: HistoryRecord) -> list[Any]:
    loc, blob = record.location, record.to_dict()["blob"] or {}
    slack = blob.get("slack") or {}
    return [
        record.source,
        record.account.label,
        record.account.mini_uid,
        record.profile.name,
        loc.folder,
        loc.message_nid,
        loc.message_class,
        loc.attachment_index,
        loc.attachment_name,
        loc.match_rule,
        loc.attachment_rule,
        "/".join(str(i) for i in loc.embedded_path),
        blob.get("sha256"),
        slack.get("size"),
        SLACK_TEXT_SEPARATOR.join(slack.get("text", ())),
        ";".join(f"{a.severity}:{a.code}" for a in record.history.anomalies),
    ]


def csv_rows(histories: Sequence[HistoryRecord], header: bool = True) -> list[list[str]]:
    """The header and one neutralised row per entry (one row with empty entry cells for a
    history without entries, so that every Message Manager shows)."""
    rows = [list(COLUMNS)] if header else []
    for record in histories:
        shared = _record_cells(record)
        entries = [d for batch in record.history.entry_dicts() for d in batch] or [{}]
        for e in entries:
            cells = [
                *shared,
                *(
                    e.get(k)
                    for k in (
                        "index",
                        "offset",
                        "operation",
                        "content",
                        "timestamp",
                        "raw_timestamp",
                        "uid",
                        "raw_uid",
                    )
                ),
                ";".join(e.get("anomalies", ())),
            ]
            row, changed = [], []
            for name, cell in zip(COLUMNS, cells, strict=False):
                text, was = neutralise(cell)
                row.append(text)
                if was:
                    changed.append(name)
            row.append(";".join(changed))
            rows.append(row)
    return rows


def csv_chunks(report: Report) -> Iterator[bytes]:
    """The CSV text in pieces, one history's rows at a time (UTF-8)."""
    yield _csv_text([list(COLUMNS)])
    for record in report.histories:
        yield _csv_text(csv_rows([record], header=False))


def _csv_text(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def to_csv(report: Report) -> str:
    """The report's entries as CSV text (RFC 4180 quoting, ``\\r\\n`` line ends)."""
    return b"".join(csv_chunks(report)).decode("utf-8")
