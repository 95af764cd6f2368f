"""The terminal report (rich), safe against hostile text.

UIDs, subjects, folder names and paths come from the evidence; a crafted UID could hold
ANSI escape sequences, carriage returns or bidirectional overrides that would redraw or
disguise the analyst's terminal. Every such character is shown as a visible escape
(``\\x1b``, ``\\u202e``), and cells are rich ``Text`` objects, so rich markup in the
evidence is shown, not interpreted.
"""

from __future__ import annotations

import io
import re

from rich.console import Console
from rich.table import Table
from rich.text import Text

from uidl_inspector.report.model import HistoryRecord, Report, Source

__all__ = ["terminal_safe", "render_table", "to_table_text", "TABLE_ROWS_LIMIT"]

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
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 \
        else f"\\U{code:08x}"


def terminal_safe(value: object) -> str:
    """``value`` as text with every non-printable character shown as an escape."""
    text = "" if value is None else str(value)
    if text.isascii() and text.isprintable():
        return text
    return _UNSAFE.sub(_escape_char, text)


def _t(value: object, style: str = "") -> Text:
    return Text(terminal_safe(value), style=style)


def _history_title(record: HistoryRecord) -> Text:
    h, loc = record.history, record.location
    where = [part for part in (
        loc.folder,
        f"message nid {loc.message_nid:#x}" if loc.message_nid is not None else None,
        f"attachment {loc.attachment_index} {loc.attachment_name or ''}".rstrip()
        if loc.attachment_index is not None else None,
    ) if part]
    title = Text()
    title.append(terminal_safe(record.source), style="bold")
    title.append(f"  account {terminal_safe(record.account.label)}")
    if where:
        title.append("  " + terminal_safe(" / ".join(where)))
    title.append(f"\nversion {h.version}, {h.parsed_count} of {h.declared_count} declared tags,"
                 f" {len(h.anomalies)} anomal{'y' if len(h.anomalies) == 1 else 'ies'}")
    return title


def _cells(record: HistoryRecord) -> list[tuple[str, ...]]:
    return [(
        str(e.index), str(e.offset),
        e.operation or f"? {e.raw_operation!r}",
        e.content or f"? {e.raw_content!r}",
        e.timestamp.isoformat(sep=" ") if e.timestamp else f"? {e.raw_timestamp}",
        e.uid, ", ".join(e.anomalies),
    ) for e in record.history.entries]


def _listing(record: HistoryRecord) -> str:
    """The entries as aligned plain text, every cell made terminal-safe."""
    header = ("#", "offset", "operation", "content", "timestamp", "anomalies", "UID")
    rows = [header] + [tuple(terminal_safe(c) for c in (*r[:5], r[6], r[5]))
                       for r in _cells(record)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = []
    for row in rows:
        fixed = [row[0].rjust(widths[0]), row[1].rjust(widths[1]),
                 *(cell.ljust(width) for cell, width in zip(row[2:6], widths[2:], strict=True))]
        lines.append("  ".join([*fixed, row[6]]).rstrip())
    return "\n".join(lines) + "\n"


def _history_table(record: HistoryRecord) -> Table:
    table = Table(title=_history_title(record), title_justify="left", expand=False)
    for name in ("#", "offset"):
        table.add_column(name, justify="right", no_wrap=True)
    for name in ("operation", "content", "timestamp"):
        table.add_column(name)
    table.add_column("UID", overflow="fold", min_width=12)  # never cut: fold
    table.add_column("anomalies", overflow="fold")
    for index, offset, operation, content, timestamp, uid, anomalies in _cells(record):
        table.add_row(
            _t(index), _t(offset),
            _t(operation, "red" if operation.startswith("?") else ""),
            _t(content, "red" if content.startswith("?") else ""),
            _t(timestamp, "red" if timestamp.startswith("?") else ""),
            _t(uid), _t(anomalies, "yellow"))
    return table


def _image_line(source: Source) -> str:
    """What was examined in a disk image, in one line."""
    seen = source.examined
    hashed = "" if source.hashed else "; not hashed (--no-hash-images)"
    return (f"{terminal_safe(source.path)}: {source.image_format or 'disk'} image, "
            f"{seen['partitions']} partitions, {seen['snapshots']} snapshots, "
            f"{seen['file_systems']} file systems, {seen['files']} files, "
            f"{seen['stores']} stores{hashed}")


def render_table(report: Report, console: Console) -> None:
    """Print the report on ``console``."""
    if report.demo:
        console.print(Text("Demo: this is the bundled demo evidence, not your data.",
                           style="bold yellow"))
    for source in report.sources:
        if source.kind == "image" and source.examined is not None:
            console.print(Text(_image_line(source)))
        for error in source.errors:
            console.print(Text(f"{terminal_safe(source.path)}: {terminal_safe(error)}",
                               style="red"))
    for record in report.histories:
        if record.history.parsed_count > TABLE_ROWS_LIMIT:
            console.print(_history_title(record))
            console.file.write(_listing(record))
            console.file.flush()
        else:
            console.print(_history_table(record))
        for a in record.history.anomalies:
            console.print(Text.assemble(("  " + terminal_safe(a.code), "yellow"),
                                        f" at offset {a.offset}: {terminal_safe(a.detail)}"))
    if not report.histories:
        console.print(Text("No POP3 download history found."))


def to_table_text(report: Report, width: int = 120) -> str:
    """The table as plain text (no colour), for ``--output`` with ``--format table``."""
    buffer = io.StringIO()
    render_table(report, Console(file=buffer, width=width, color_system=None,
                                 force_terminal=False, highlight=False, emoji=False,
                                 markup=False))
    return buffer.getvalue()
