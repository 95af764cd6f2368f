"""The CSV report: one row per history entry, safe to open in a spreadsheet.

docs/report-schema.md ("CSV") gives the columns and the formula neutralising: a leading
``'``, never a stripped value (real UIDs start with ``-``), named in ``neutralised``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from uidl_inspector.records import HistoryRecord
from uidl_inspector.report.model import Report

__all__ = ["COLUMNS", "FORMULA_STARTS", "neutralise", "neutralise_text", "csv_chunks"]

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


def neutralise_text(value: object) -> tuple[str, bool]:
    """:func:`neutralise` for text; other values are left alone (a negative timestamp
    is not a formula)."""
    if isinstance(value, str):
        return neutralise(value)
    return ("" if value is None else str(value)), False


def _record_cells(record: HistoryRecord) -> list[Any]:
    loc, blob = record.location, record.to_dict(entries=False)["blob"] or {}
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


# The keys of an entry's dict that fill its cells (named as the columns they fill).
_ENTRY_KEYS = COLUMNS[COLUMNS.index("index") : COLUMNS.index("entry_anomalies")]


def _record_parts(record: HistoryRecord) -> tuple[list[str], Iterator[list[list[str]]]]:
    """A history's neutralised cells (the same on each of its rows), and its rows' other
    cells (an entry's, then ``neutralised``) a batch of entries at a time; one row with
    empty entry cells for a history without entries."""
    cells = [neutralise(cell) for cell in _record_cells(record)]
    shared = [text for text, _ in cells]
    shared_changed = [name for name, (_, was) in zip(COLUMNS, cells, strict=False) if was]
    names = COLUMNS[len(shared) :]

    def part(e: dict[str, Any]) -> list[str]:
        cells, changed = [], [*shared_changed]
        values = [*(e.get(k) for k in _ENTRY_KEYS), ";".join(e.get("anomalies", ()))]
        for name, value in zip(names, values, strict=False):
            text, was = neutralise(value)
            cells.append(text)
            if was:
                changed.append(name)
        cells.append(";".join(changed))
        return cells

    def batches() -> Iterator[list[list[str]]]:
        empty = True
        for batch in record.history.entry_dicts():
            empty = False
            yield [part(e) for e in batch]
        if empty:
            yield [part({})]

    return shared, batches()


ROWS_PER_CHUNK = 256  # each row repeats its history's cells (the slack text: up to 64 KB)


def csv_chunks(report: Report) -> Iterator[bytes]:
    """The CSV text in pieces of at most ``ROWS_PER_CHUNK`` rows (UTF-8), so that memory
    holds a few rows' text whatever the history's size. A history's own cells are
    written as CSV once and that text starts each of its rows (the csv module quotes each
    field on its own, so the row is the one ``writerow`` gives)."""
    header = io.StringIO()
    csv.writer(header, lineterminator="\r\n").writerow(COLUMNS)
    yield header.getvalue().encode("utf-8")
    for record in report.histories:
        shared, batches = _record_parts(record)
        line = io.StringIO()
        csv.writer(line, lineterminator="").writerow(shared)
        prefix = line.getvalue() + ","
        for batch in batches:
            for start in range(0, len(batch), ROWS_PER_CHUNK):
                out = io.StringIO()
                writer = csv.writer(out, lineterminator="\r\n")
                for cells in batch[start : start + ROWS_PER_CHUNK]:
                    out.write(prefix)
                    writer.writerow(cells)
                yield out.getvalue().encode("utf-8")
