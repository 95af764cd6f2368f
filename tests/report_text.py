"""Whole report texts for tests: the streaming writers' pieces joined (the commands write
the pieces as they come and never hold the whole text)."""

from __future__ import annotations

from typing import Any

from uidl_inspector.report.csv_report import csv_chunks
from uidl_inspector.report.json_report import json_chunks
from uidl_inspector.report.model import Report


def to_json(report: Report | dict[str, Any]) -> str:
    """The report as JSON text, ending with a newline."""
    return b"".join(json_chunks(report)).decode("ascii")


def to_csv(report: Report) -> str:
    """The report's entries as CSV text (RFC 4180 quoting, ``\\r\\n`` line ends)."""
    return b"".join(csv_chunks(report)).decode("utf-8")
