"""Timeline export in the shape Timesketch imports (JSONL, CSV) with plaso-style fields.

docs/audit.md ("Timeline export") says which events there are, how the zoneless BLOB times
are read (the audit's clock, or ``--tz``) and why undated or out-of-range entries are left
out and counted; the raw BLOB time stays beside the converted one.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from uidl_inspector.audit.clock import format_offset
from uidl_inspector.exceptions import UidlInspectorError
from uidl_inspector.report.csv_report import neutralise_text
from uidl_inspector.report.model import Report, Source

__all__ = [
    "TimelineError",
    "Zone",
    "resolve_zone",
    "check_zone_name",
    "timeline_events",
    "to_jsonl",
    "to_timeline_csv",
    "CSV_COLUMNS",
    "HISTORY_DATA_TYPE",
    "COPY_DATA_TYPE",
]

HISTORY_DATA_TYPE = "outlook:pop3:uidl_history"
COPY_DATA_TYPE = "outlook:pop3:duplicate_copy"
HISTORY_PARSER = "uidl_inspector/pop3_history"
COPY_PARSER = "uidl_inspector/audit_duplicates"
RUN_DATA_TYPE = "uidl_inspector:run"
RUN_PARSER = "uidl_inspector"
DESCRIPTIONS = {
    "get": "POP3 Download Time",
    "delete": "POP3 Delete Time",
    "get-and-delete": "POP3 Download and Delete Time",
}
COPY_DESCRIPTION = "Message Delivery Time"
RECOVERED_SUFFIX = " (recovered from an earlier history)"
MIN_YEAR, MAX_YEAR = 1700, 9999
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
CSV_COLUMNS = (
    "datetime",
    "timestamp",
    "timestamp_desc",
    "message",
    "data_type",
    "parser",
    "display_name",
    "sha256_hash",
    "folder",
    "nid",
    "offset",
    "uid",
    "account",
    "operation",
    "content",
    "internet_message_id",
    "blob_time",
    "time_zone",
    "timezone_basis",
    "zone_note",
    "history",
    "entry",
    "lineage",
    "seen_in",
)
UTC_BASIS = "UTC assumed: Outlook writes its POP3 history times in UTC"
DELIVERY_BASIS = "delivery time (PidTagMessageDeliveryTime), stored in UTC by the store"


class TimelineError(UidlInspectorError):
    """The timeline cannot be written as asked (no zone chosen, unknown zone, ...)."""


@dataclass(frozen=True)
class Zone:
    """How BLOB times are read: ``label`` and ``basis`` go into every event."""

    tz: tzinfo
    label: str
    basis: str


def _fixed(minutes: int) -> tuple[timezone, str]:
    return timezone(timedelta(minutes=minutes)), f"UTC{format_offset(minutes)}"


def check_zone_name(choice: str | None) -> None:
    """Refuse an unknown ``--tz`` before any work is done (``inferred`` and none are fine)."""
    if choice and choice != "inferred":
        resolve_zone(choice, None)


def resolve_zone(choice: str | None, clock: dict[str, Any] | None) -> Zone:
    """How to read the history's times: as the audit's ``clock`` reads them (no ``--tz``:
    UTC, as Outlook writes, unless the store's evidence supports another offset), an IANA
    name, or ``inferred`` (the offset the store's evidence supports, refused without one)."""
    if not choice:
        minutes = clock["offset_minutes"] if clock else 0
        tz, label = _fixed(minutes)
        basis = clock["explanation"] if clock else UTC_BASIS
        return Zone(tz, "UTC" if minutes == 0 else label, basis)
    if choice == "inferred":
        minutes = clock.get("inferred_offset_minutes") if clock else None
        if clock is None or minutes is None:
            raise TimelineError(
                "--tz inferred: the store holds insufficient evidence to infer the history's "
                "clock offset; leave --tz out to read it as UTC, or choose --tz ZONE"
            )
        tz, label = _fixed(minutes)
        return Zone(tz, f"inferred {label}", f"chosen with --tz inferred: {clock['explanation']}")
    try:
        return Zone(ZoneInfo(choice), choice, f"chosen by the analyst with --tz {choice}")
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise TimelineError(f"--tz {choice!r} is not a known IANA time zone name") from error


def _localise(naive: datetime, zone: Zone) -> tuple[datetime, str | None]:
    """The local time in the zone; a note when the wall time was skipped or repeated."""
    aware = naive.replace(tzinfo=zone.tz)
    note = None
    if aware.replace(fold=1).utcoffset() != aware.utcoffset():
        back = aware.astimezone(timezone.utc).astimezone(zone.tz).replace(tzinfo=None)
        note = (
            "nonexistent local time (clock change)"
            if back != naive
            else "ambiguous local time (clock change): earlier offset used"
        )
    return aware, note


def _micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _display(source: Source | None, path: str) -> str:
    return f"{(source.kind if source else 'unknown').upper()}:{path}"


def timeline_events(
    report: Report, audit: dict[str, Any] | None, zone: Zone
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Events sorted by time (stable), and counts of what could not be placed.

    A tag seen in several copies of one history (versions of one lineage) is one event,
    ``seen_in`` listing every source that holds it, in report order."""
    sources = {s.path: s for s in report.sources}
    skipped = {"undated_entries": 0, "out_of_range": 0}
    events: list[dict[str, Any]] = []

    def entry_event(
        entry: Any, label: str, path: str, folder: str | None, nid: int | None
    ) -> dict[str, Any] | None:
        if entry.timestamp is None or entry.operation is None:
            skipped["undated_entries"] += 1
            return None
        if not MIN_YEAR <= entry.timestamp.year <= MAX_YEAR:
            skipped["out_of_range"] += 1
            return None
        source = sources.get(path)
        moment, note = _localise(entry.timestamp, zone)
        return {
            "message": f"POP3 {entry.operation} ({entry.content}) of UID {entry.uid} by {label}",
            "datetime": moment.isoformat(),
            "timestamp": _micros(moment),
            "timestamp_desc": DESCRIPTIONS[entry.operation],
            "data_type": HISTORY_DATA_TYPE,
            "parser": HISTORY_PARSER,
            "display_name": _display(source, path),
            "sha256_hash": source.sha256 if source else None,
            "folder": folder,
            "nid": nid,
            "offset": entry.offset,
            "uid": entry.uid,
            "account": label,
            "operation": entry.operation,
            "content": entry.content,
            "blob_time": entry.timestamp.isoformat(),
            "time_zone": zone.label,
            "timezone_basis": zone.basis,
            "zone_note": note,
        }

    lineage_of = {
        sighting["history"]: n
        for n, lineage in enumerate((audit or {}).get("lineages", []))
        for version in lineage["versions"]
        for sighting in version["sources"]
        if sighting.get("history") is not None
    }
    first: dict[tuple[Any, ...], dict[str, Any]] = {}
    for h_index, record in enumerate(report.histories):
        loc = record.location
        label = record.account.label
        lineage = lineage_of.get(h_index)
        here = _display(sources.get(record.source), record.source)
        for entry in record.history.entries:
            key = (lineage, entry.uid, entry.operation, entry.timestamp)
            if lineage is not None and key in first:
                if here not in first[key]["seen_in"]:
                    first[key]["seen_in"].append(here)
                continue
            event = entry_event(entry, label, record.source, loc.folder, loc.message_nid)
            if event is not None:
                event.update(history=h_index, entry=entry.index, lineage=lineage, seen_in=[here])
                events.append(event)
                first[key] = event
    # Entries that only an earlier, recovered version of a history still holds.
    for r_index, item in enumerate(report.extra.get("recovered") or []):
        label = item.account.label if item.account else "unknown"
        for entry in item.lost:
            event = entry_event(entry, label, item.source, None, None)
            if event is not None:
                event["message"] = f"Recovered (earlier history, free space): {event['message']}"
                event["timestamp_desc"] += RECOVERED_SUFFIX
                events.append({**event, "recovered": True, "recovered_item": r_index})
    for group in (audit or {}).get("duplicates", []):
        copies = group["copies"]
        for number, copy in enumerate(copies, 1):
            if not copy.get("delivery_time"):
                skipped["undated_entries"] += 1
                continue
            moment = datetime.fromisoformat(copy["delivery_time"])
            source = sources.get(copy.get("source"))
            ident = group.get("internet_message_id") or f"{group['key_method']}:{group['key']}"
            events.append(
                {
                    "message": f"Copy {number} of {len(copies)} of {ident} "
                    f"({group.get('subject') or 'no subject'}) in {copy['folder']}",
                    "datetime": moment.isoformat(),
                    "timestamp": _micros(moment),
                    "timestamp_desc": COPY_DESCRIPTION,
                    "data_type": COPY_DATA_TYPE,
                    "parser": COPY_PARSER,
                    "display_name": _display(source, copy.get("source") or ""),
                    "sha256_hash": source.sha256 if source else None,
                    "folder": copy["folder"],
                    "nid": copy["nid"],
                    "offset": None,
                    "internet_message_id": group.get("internet_message_id"),
                    "time_zone": "UTC",
                    "timezone_basis": DELIVERY_BASIS,
                }
            )
    events.sort(
        key=lambda e: (
            e["timestamp"],
            e["data_type"],
            e.get("history", -1),
            e.get("entry", -1),
            e["folder"] or "",
            e["nid"] or -1,
        )
    )
    return events, skipped


def run_event(meta: dict[str, Any]) -> dict[str, Any]:
    """The run's provenance as an event of its own (tool, version, command line, run id),
    dated at the run's start, so a timeline carries the metadata every report carries."""
    started = datetime.fromisoformat(meta["started_at"])
    return {
        "message": f"{meta['tool']} {meta['version']} audit run {meta['run_id']}: "
        + " ".join(meta["command_line"]),
        "datetime": started.isoformat(),
        "timestamp": _micros(started),
        "timestamp_desc": "Analysis Run Time",
        "data_type": RUN_DATA_TYPE,
        "parser": RUN_PARSER,
        "display_name": f"{meta['tool']} {meta['version']}",
        "sha256_hash": None,
        "run_id": meta["run_id"],
        "command_line": meta["command_line"],
        "started_at": meta["started_at"],
        "finished_at": meta["finished_at"],
    }


def to_jsonl(events: Sequence[dict[str, Any]]) -> str:
    """One sorted-key JSON object per line (plaso json_line style); exact values."""
    return "".join(json.dumps(e, sort_keys=True, ensure_ascii=False) + "\n" for e in events)


def to_timeline_csv(events: Sequence[dict[str, Any]]) -> tuple[str, int]:
    """CSV with fixed columns; cells that could start a formula get a leading quote.
    Returns the text and how many cells were neutralised (exact values are in JSONL)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    changed = 0
    for event in events:
        row = []
        for column in CSV_COLUMNS:
            value = event.get(column)
            cell, was = neutralise_text("; ".join(value) if isinstance(value, list) else value)
            changed += was
            row.append(cell)
        writer.writerow(row)
    return buffer.getvalue(), changed
