"""``uidl-inspector blob FILE|-``: decode history BLOBs given as binary or as hex text."""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from typing import Annotated

import typer

from uidl_inspector.cli.app import PANEL_CHECKS, PANEL_INPUT, app, examples
from uidl_inspector.cli.common import (
    EXIT_INPUT,
    ForceOpt,
    FormatOpt,
    OutputOpt,
    emit,
    error,
    guarded,
)
from uidl_inspector.exceptions import StrictModeError, UidlInspectorError
from uidl_inspector.history import parse_blob
from uidl_inspector.logs import codes_summary, log_findings
from uidl_inspector.records import HistoryRecord
from uidl_inspector.report.model import Report, Source, source_path
from uidl_inspector.store.detect import decode_hex_text

__all__ = ["blob", "read_blob_input", "MAX_INPUT"]

log = logging.getLogger(__name__)
MAX_INPUT = 256 << 20  # a 65,535-tag BLOB is a few MB; its hex text a few times that
STDIN = "-"


def read_blob_input(name: str, force_hex: bool = False) -> tuple[Source, bytes]:
    """The input's provenance and the BLOB's bytes (decoded from hex text when it is)."""
    if name == STDIN:
        raw = sys.stdin.buffer.read(MAX_INPUT + 1)
    else:
        with open(name, "rb") as handle:  # evidence: read-only, never written
            raw = handle.read(MAX_INPUT + 1)
    if len(raw) > MAX_INPUT:
        raise UidlInspectorError(f"larger than {MAX_INPUT >> 20} MiB, not a history BLOB")
    path = name if name == STDIN else source_path(name)
    decoded, note = decode_hex_text(raw)
    if decoded is None:
        if force_hex:
            raise UidlInspectorError("not hex text (--hex was given)")
        return Source.from_bytes(path, "blob", raw, variant="blob"), raw
    errors = (note,) if note else ()
    return Source.from_bytes(path, "hex", raw, variant="blob", errors=errors), decoded


@app.command(
    "blob",
    epilog=examples(
        "uidl-inspector blob history.bin                 # a BLOB saved as a file",
        "uidl-inspector blob -f json -o h.json a.bin b.hex",
        "xclip -o | uidl-inspector blob --hex -          # hex copied from MFCMAPI",
    ),
)
@guarded
def blob(
    files: Annotated[
        list[str],
        typer.Argument(metavar="FILE|-", help="BLOB files, binary or hex text; '-' reads stdin."),
    ],
    hex_text: Annotated[
        bool,
        typer.Option(
            "--hex",
            rich_help_panel=PANEL_INPUT,
            help="The inputs are hex text (otherwise detected from the content).",
        ),
    ] = False,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    force: ForceOpt = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            rich_help_panel=PANEL_CHECKS,
            help="Treat any anomaly above info as a failure of that input (exit 1).",
        ),
    ] = False,
) -> None:
    """Decode POP3 download-history BLOBs, given as binary or as hex text.

    Anomalies are findings: they do not change the exit code, unless --strict is given
    (which fails on warnings and errors, not on info).
    A bad input gets one line on stderr, the others are still reported, and the exit code is 1.
    """
    report = Report()
    failed = False
    for name in files:
        path = name if name == STDIN else source_path(name)
        try:
            source, data = read_blob_input(name, hex_text)
        except (UidlInspectorError, OSError) as exc:
            reason = str(exc) if isinstance(exc, UidlInspectorError) else exc.strerror or str(exc)
            error(f"{path}: {reason}")
            report.sources.append(Source(path, "unknown", 0, "", "", errors=(reason,)))
            failed = True
            continue
        try:
            history = parse_blob(data, strict=strict)
        except StrictModeError as exc:
            error(f"{path}: {exc}")
            report.sources.append(replace(source, errors=(*source.errors, str(exc))))
            failed = True
            continue
        report.sources.append(source)
        report.histories.append(HistoryRecord(source=source.path, history=history, blob=data))
        log.info(
            "blob %s: %d entries, anomalies: %s",
            source.path,
            len(history.entries),
            codes_summary(a.code for a in history.anomalies),
        )
        log_findings(log, f"blob {source.path}", history.anomalies)
    report.run.finish()
    emit(report, fmt, output, force, inputs=[f for f in files if f != STDIN])
    if failed:
        raise typer.Exit(EXIT_INPUT)
