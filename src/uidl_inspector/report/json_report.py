"""The JSON report: the contract of docs/report-schema.md, in a stable key order.

Keys come out in the order the model's ``to_dict`` methods give them, never sorted or
reshuffled, and two runs over the same input give the same text except for the ``run``
section and ``generated_at``. Non-ASCII text is written as ``\\u`` escapes, so the file is
pure ASCII whatever a hostile UID or a path holds.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from uidl_inspector.report.model import Report

__all__ = ["to_json", "VOLATILE_KEYS"]

VOLATILE_KEYS = ("generated_at", "run")  # the only keys allowed to differ between runs


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"{type(value).__name__} is not part of the report contract")


def to_json(report: Report | dict[str, Any], indent: int | None = 2) -> str:
    """The report as JSON text, ending with a newline."""
    data = report.to_dict() if isinstance(report, Report) else report
    return json.dumps(data, indent=indent, ensure_ascii=True, allow_nan=False,
                      default=_default) + "\n"
