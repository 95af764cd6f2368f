"""The terminal report (rich), safe against hostile text.

UIDs, subjects, folder names and paths come from the evidence; a crafted UID could hold
ANSI escape sequences, carriage returns or bidirectional overrides that would redraw or
disguise the analyst's terminal. Every such character is shown as a visible escape
(``\\x1b``, ``\\u202e``), and cells are rich ``Text`` objects, so rich markup in the
evidence is shown, not interpreted.
"""

from __future__ import annotations

import functools
import io
import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from uidl_inspector.records import HistoryRecord
from uidl_inspector.report.model import Report, Source

if TYPE_CHECKING:  # an annotation only: recover/ is not imported by every command
    from uidl_inspector.recover.items import RecoveredItem

__all__ = [
    "terminal_safe",
    "render_table",
    "to_table_text",
    "plain_text",
    "data_table",
    "image_line",
    "examined_line",
    "TABLE_ROWS_LIMIT",
    "HEADING_LABELS",
]
log = logging.getLogger(__name__)

# Rich measures every cell: past this many entries a history is printed as an aligned
# plain listing instead (65,535 rows take minutes as a rich table, a second as a listing).
TABLE_ROWS_LIMIT = 1000

# Everything str.isprintable() rejects: controls (C0, DEL, C1), format characters such as
# bidi overrides and zero-width joiners, line/paragraph separators, surrogates, unassigned.
_UNSAFE = re.compile(r"[^ -~]")


def _escape_char(match: re.Match[str]) -> str:
    ch = match[0]
    if ch.isprintable():
        return ch
    code = ord(ch)
    prefix, digits = ("x", 2) if code < 0x100 else ("u", 4) if code < 0x10000 else ("U", 8)
    return f"\\{prefix}{code:0{digits}x}"


def terminal_safe(value: object) -> str:
    """``value`` as text with every non-printable character shown as an escape."""
    text = "" if value is None else str(value)
    if text.isascii() and text.isprintable():
        return text
    return _UNSAFE.sub(_escape_char, text)


def _t(value: object, style: str = "") -> Text:
    return Text(terminal_safe(value), style=style)


# The heading's labels, in order; a new row is one more (label, value) in _heading_rows.
HEADING_LABELS = (
    "source",
    "account",
    "profile",
    "manager",
    "attachment",
    "rule",
    "blob",
    "companions",
)
WIDE = 160  # from this width the heading takes two label/value pairs per line
ANOMALY_COLUMN_FROM = 110  # narrower: an entry's anomaly codes go under its UID


def _summary(record: HistoryRecord) -> str:
    h = record.history
    if record.blob is None:
        return "none: a Message Manager with no history attachment"
    return (
        f"version {h.version}, {h.parsed_count} of {h.declared_count} declared tags, "
        f"{len(h.anomalies)} anomal{'y' if len(h.anomalies) == 1 else 'ies'}"
    )


def _heading_rows(record: HistoryRecord) -> list[tuple[str, str]]:
    """(label, value) of a history's heading; "-" where the container has no such thing."""
    loc, profile = record.location, record.profile
    nid = f"message nid {loc.message_nid:#x}" if loc.message_nid is not None else None
    manager = ", ".join(part for part in (loc.folder, nid, loc.message_class) if part)
    attachment = ""
    if loc.attachment_index is not None:
        attachment = f"#{loc.attachment_index} {loc.attachment_name or ''}".rstrip()
        if loc.embedded_path:
            attachment += (
                " (in embedded message " + "/".join(f"#{i}" for i in loc.embedded_path) + ")"
            )
    name = '"" (empty name)' if profile.name == "" else profile.name or ""
    if profile.search_key:
        name = f"{name} (search key {profile.search_key})".lstrip()
    rules = ", ".join(
        f"{what} by {rule}"
        for what, rule in (("manager", loc.match_rule), ("attachment", loc.attachment_rule))
        if rule
    )
    account = record.account.label
    if record.account.email and record.account.mini_uid:
        account += f" (mini UID {record.account.mini_uid})"
    companions = "; ".join(
        f"#{c.index} "
        + (
            " / ".join(n for n in dict.fromkeys((c.long_filename, c.filename, c.display_name)) if n)
            or "(unnamed)"
        )
        + (" (no data)" if c.size is None else f" ({c.size} bytes)")
        for c in loc.companions
    )
    blob = _summary(record)
    values = (record.source, account, name, manager, attachment, rules, blob, companions)
    return [(label, value or "-") for label, value in zip(HEADING_LABELS, values, strict=True)]


def _heading(record: HistoryRecord, console: Console) -> None:
    """Labels beside their values; values fold within their column, never cut. Two pairs
    per line when the terminal is wide."""
    rows = _heading_rows(record)
    pairs = 2 if console.width >= WIDE else 1
    grid = Table.grid(padding=(0, 2, 0, 0))
    for _ in range(pairs):
        grid.add_column(no_wrap=True, style="bold")
        grid.add_column(overflow="fold", ratio=1)
    for first in range(0, len(rows), pairs):
        cells: list[Text] = []
        for label, value in rows[first : first + pairs]:
            cells += [Text(label), _t(value)]
        grid.add_row(*cells)
    console.print(grid)


def examined_line(report: Report) -> str:
    """What a run looked at, for a run that found no history."""
    kinds = Counter(source.kind for source in report.sources)
    files = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items())) or "none"
    seen = report.extra.get("examined", {})
    return (
        f"Examined {len(report.sources)} file(s) ({files}), "
        f"{seen.get('folders', 0)} folder(s), {seen.get('hidden_messages', 0)} hidden "
        f"message(s), {len(report.extra.get('message_managers', []))} Message Manager(s)."
    )


def _cells(record: HistoryRecord) -> list[tuple[str, ...]]:
    return [
        (
            str(e.index),
            str(e.offset),
            e.operation or f"? {e.raw_operation!r}",
            e.content or f"? {e.raw_content!r}",
            e.timestamp.isoformat(sep=" ") if e.timestamp else f"? {e.raw_timestamp}",
            e.uid,
            ", ".join(e.anomalies),
        )
        for e in record.history.entries
    ]


def _listing(record: HistoryRecord) -> str:
    """The entries as aligned plain text, every cell made terminal-safe."""
    header = ("#", "offset", "operation", "content", "timestamp", "anomalies", "UID")
    rows = [header] + [
        tuple(terminal_safe(c) for c in (*r[:5], r[6], r[5])) for r in _cells(record)
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = []
    for row in rows:
        fixed = [
            row[0].rjust(widths[0]),
            row[1].rjust(widths[1]),
            *(cell.ljust(width) for cell, width in zip(row[2:6], widths[2:], strict=True)),
        ]
        lines.append("  ".join([*fixed, row[6]]).rstrip())
    return "\n".join(lines) + "\n"


def data_table(*columns: str, title: str | None = None, numeric: tuple[str, ...] = ()) -> Table:
    """The house style of a table of evidence: no vertical rules (the room goes to the
    data), text folds onto more lines and is never cut, numbers never wrap."""
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for name in columns:
        if name in numeric:
            table.add_column(name, justify="right", no_wrap=True)
        else:
            table.add_column(name, overflow="fold")
    return table


def _history_table(record: HistoryRecord, width: int) -> Table:
    """The entries; short columns never wrap, the UID folds (never cut) into what is left.
    An entry's anomaly codes get a column of their own when the terminal has the room
    (and any entry has one), else a second line in the UID's cell."""
    cells = _cells(record)
    with_anomalies = width >= ANOMALY_COLUMN_FROM and any(row[6] for row in cells)
    table = data_table("#", "offset", numeric=("#", "offset"))
    for name in ("operation", "content", "timestamp"):
        table.add_column(name, no_wrap=True)
    table.add_column("UID", overflow="fold", min_width=12, ratio=3)
    if with_anomalies:
        table.add_column("anomalies", overflow="fold", min_width=10, ratio=1)
    for index, offset, operation, content, timestamp, uid, anomalies in cells:
        decoded = (operation, content, timestamp)  # "?" and the raw value: not decoded
        row = [_t(index), _t(offset), *(_t(c, "red" if c.startswith("?") else "") for c in decoded)]
        if with_anomalies:
            row += [_t(uid), _t(anomalies, "yellow")]
        elif anomalies:
            row.append(
                Text.assemble(terminal_safe(uid), "\n", (f"! {terminal_safe(anomalies)}", "yellow"))
            )
        else:
            row.append(_t(uid))
        table.add_row(*row)
    return table


def _entries(record: HistoryRecord, console: Console) -> None:
    if record.blob is None:
        return
    if record.history.parsed_count > TABLE_ROWS_LIMIT:
        console.file.write(_listing(record))
        console.file.flush()
    else:
        console.print(_history_table(record, console.width))


def _anomalies(record: HistoryRecord, console: Console) -> None:
    """One line per anomaly: its code, then where and what, folded beside the code."""
    if not record.history.anomalies:
        return
    grid = Table.grid(padding=(0, 1, 0, 0))
    grid.add_column(no_wrap=True, style="yellow")
    grid.add_column(overflow="fold", ratio=1)
    for a in record.history.anomalies:
        grid.add_row(
            _t(f"  {a.severity} {a.code}", "yellow" if a.severity != "info" else ""),
            Text(("" if a.offset is None else f"at offset {a.offset}: ") + terminal_safe(a.detail)),
        )
    console.print(grid)


def _slack(record: HistoryRecord, console: Console) -> None:
    """The slack and the text in it: leftover memory can name addresses, subjects, paths."""
    slack = record.history.slack_dict()
    if slack is None:
        return
    lines = [
        f"slack: {slack['size']} bytes after the last tag (Outlook's leftover memory, "
        f"normal): {slack['hex']}",
        *(f"slack text: {terminal_safe(text)}" for text in slack["text"]),
    ]
    for line in lines:
        console.print(Text("  " + line, style="cyan"), overflow="fold")


def image_line(source: Source) -> str:
    """What was examined in a disk image, in one line."""
    seen = source.examined or {}
    hashed = "" if source.hashed else "; not hashed (--no-hash-images)"
    if "carved_ranges" in seen:  # carve: the ranges of unused space read
        carved = f"{seen['carved_ranges']} ranges of unused space carved"
        what = f"{carved} ({seen['carved_bytes']:,} bytes)"
    else:
        what = (
            f"{seen['partitions']} partitions, {seen['snapshots']} snapshots, "
            f"{seen['file_systems']} file systems, {seen['files']} files, {seen['stores']} stores"
        )
    return f"{terminal_safe(source.path)}: {source.image_format or 'disk'} image, {what}{hashed}"


def _source_errors(report: Report, console: Console) -> None:
    for source in report.sources:
        if source.kind == "image" and source.examined is not None:
            console.print(Text(image_line(source)))
        for error in source.errors:
            console.print(_t(f"{source.path}: {error}", "red"))


def render_table(report: Report, console: Console) -> None:
    """Print the report on ``console``, laid out for its width."""
    if report.demo:
        console.print(
            Text("Demo: this is the bundled demo evidence, not your data.", style="bold yellow")
        )
    _source_errors(report, console)
    total = len(report.histories)
    for number, record in enumerate(report.histories, 1):
        console.print(Text(f"History {number} of {total}", style="bold underline"))
        for block in (_heading, _entries, _slack, _anomalies):
            block(record, console)
        console.print()
    if not report.histories:
        console.print(Text("No POP3 download history found."))
        console.print(Text(examined_line(report)))
    if recovered := report.extra.get("recovered"):
        console.print(_recovered_table(recovered))
    log.info("report: table of %d histories at %d columns", total, console.width)


def _recovered_table(items: Sequence[RecoveredItem | dict[str, Any]]) -> Table:
    """One row per recovered item: where, what, how it relates to the live histories."""
    table = data_table(
        "kind",
        "offset",
        "copies",
        "encoding",
        "allocated",
        "tags",
        "latest",
        "account",
        "relation",
        "lost",
        title=f"Recovered ({len(items)}): earlier states, not the present one",
        numeric=("offset", "copies", "tags", "lost"),
    )
    for item in items:
        d = item if isinstance(item, dict) else item.to_dict()  # dicts: merged from workers
        tags = d["blob"]["parsed_count"] if d["blob"] else len(d["entries"])
        account = (d["account"] or {}).get("email") or (d["account"] or {}).get("mini_uid")
        cells = [d[key] for key in ("kind", "offset", "copies", "encoding", "allocated")]
        table.add_row(
            *map(_t, [*cells, tags, d["latest"], account, d["relation"], len(d["lost_entries"])])
        )
    return table


def plain_text(draw: Callable[[Console], None], width: int = 120) -> str:
    """What ``draw`` prints, as plain text (no colour, no markup or emoji codes read in the
    evidence's text), for ``--output`` with ``--format table``."""
    buffer = io.StringIO()
    draw(
        Console(
            file=buffer,
            width=width,
            color_system=None,
            force_terminal=False,
            highlight=False,
            emoji=False,
            markup=False,
        )
    )
    return buffer.getvalue()


def to_table_text(report: Report, width: int = 120) -> str:
    """The table as plain text (no colour), for ``--output`` with ``--format table``."""
    return plain_text(functools.partial(render_table, report), width)
