"""The processing log: ``--log-file FILE``, ``-v/--verbose`` and ``-q/--quiet`` on every command.

What the log holds, and its rules (never written over an input, an existing one replaced
only with ``--force``, every message escaped like terminal output), are in docs/cli.md.
The library writes it through the package logger (uidl_inspector.logs); this module only
attaches the handlers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer
from typer.core import TyperArgument, TyperOption

from uidl_inspector.exceptions import UidlInspectorError
from uidl_inspector.logs import LOGGER
from uidl_inspector.versions import TOOL_NAME, version_text

if TYPE_CHECKING:  # the Context typer's commands get: its vendored click's
    from typer._click import Context

__all__ = ["options", "run_log", "quiet", "SHOWN", "PROG"]

PROG = TOOL_NAME
SHOWN = "shown_on_stderr"  # a record's attribute: already printed on stderr, once is enough
_state = {"quiet": False}
log = logging.getLogger(__name__)


def quiet() -> bool:
    """Whether notes and progress should stay off stderr (``-q``); errors never do."""
    return _state["quiet"]


def _log_options(
    log_file: Annotated[
        str | None,
        typer.Option(
            "--log-file",
            metavar="FILE",
            help="Write a processing log to FILE (UTC times, inputs with hashes, steps with "
            "timings, errors, findings, exit code). Replaced only with --force.",
        ),
    ] = None,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            help="Show the log on stderr as well (-vv: with debug detail, in FILE too).",
        ),
    ] = 0,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only errors on stderr: no notes, no progress.")
    ] = False,
) -> None:
    """Never called: its parameters are the options every command receives."""


def options(panel: str) -> list[TyperOption | TyperArgument]:
    """Fresh click parameters for the run-log options, grouped under ``panel``."""
    holder = typer.Typer(add_completion=False)
    holder.command()(_log_options)
    params = [
        p
        for p in typer.main.get_command(holder).params
        if isinstance(p, (TyperOption, TyperArgument))
    ]
    for param in params:
        param.rich_help_panel = panel
    return params


class _Formatter(logging.Formatter):
    """``2026-01-31T10:00:00.123Z INFO module: message``, UTC, escaped to one line."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, timezone.utc)
        where = record.name.removeprefix(f"{LOGGER}.")
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        return (
            f"{when.strftime('%Y-%m-%dT%H:%M:%S')}.{when.microsecond // 1000:03d}Z "
            f"{record.levelname} {where}: {terminal_safe(text)}"
        )


class _StderrFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{PROG}: {record.levelname.lower()}: {terminal_safe(record.getMessage())}"


def _named_files(ctx: Context) -> list[str]:
    """Every parameter value naming an existing path (``ACCOUNT=FILE`` included): what
    the log must never replace."""
    found = []
    for value in ctx.params.values():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, (str, os.PathLike)):
                text = str(item)
                found += [t for t in (text, text.partition("=")[2]) if t and os.path.exists(t)]
    return found


def terminal_safe(value: object) -> str:
    """report.table_report's escaping, imported when a line is written (not at start)."""
    from uidl_inspector.report.table_report import terminal_safe as escape

    return escape(value)


def _open_log(path: str, force: bool, protect: list[str]) -> TextIO:
    """The log file, opened for writing: new, or replaced with ``force``; never an input."""
    target = Path(path)
    for other in protect:
        with contextlib.suppress(OSError):
            if os.path.samefile(target, other):
                raise UidlInspectorError(f"{path}: refusing to write the log over an input")
    if target.is_dir():
        raise UidlInspectorError(f"{path} is a directory")
    try:
        return open(target, "w" if force else "x", encoding="utf-8")  # noqa: SIM115
    except FileExistsError:
        raise UidlInspectorError(f"{path} exists (use --force to replace it)") from None
    except OSError as exc:
        raise UidlInspectorError(f"cannot write {path}: {exc.strerror or exc}") from None


def _refuse(message: str, code: int) -> typer.Exit:
    sys.stderr.write(f"{PROG}: error: {terminal_safe(message)}\n")
    return typer.Exit(code)


@contextlib.contextmanager
def run_log(ctx: Context) -> Iterator[None]:
    """Attach the handlers the run-log options ask for around one command's run."""
    log_file = ctx.params.pop("log_file", None)
    verbose = ctx.params.pop("verbose", 0)
    asked_quiet = ctx.params.pop("quiet", False)
    if verbose and asked_quiet:
        raise _refuse("-v/--verbose and -q/--quiet exclude each other", 2)
    output = ctx.params.get("output")
    if (
        log_file
        and output not in (None, "-")
        and os.path.realpath(output) == os.path.realpath(log_file)
    ):
        raise _refuse(f"{log_file}: the log and the report cannot be the same file", 2)
    package = logging.getLogger(LOGGER)
    handlers: list[logging.Handler] = []
    if log_file:
        try:
            stream = _open_log(log_file, bool(ctx.params.get("force")), _named_files(ctx))
        except UidlInspectorError as exc:
            raise _refuse(str(exc), 1) from None
        to_file = logging.StreamHandler(stream)
        to_file.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
        to_file.setFormatter(_Formatter())
        handlers.append(to_file)
    if verbose:
        to_stderr = logging.StreamHandler(sys.stderr)
        to_stderr.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
        to_stderr.setFormatter(_StderrFormatter())
        to_stderr.addFilter(lambda record: not getattr(record, SHOWN, False))
        handlers.append(to_stderr)
    saved_level = package.level
    for handler in handlers:
        package.addHandler(handler)
    if handlers:
        package.setLevel(min(h.level for h in handlers))
    _state["quiet"] = asked_quiet
    start, code = time.perf_counter(), 0
    log.info("%s run started: %s", ctx.info_name, " ".join(sys.argv))
    log.info("software: %s", "; ".join(version_text().splitlines()))
    try:
        yield
    except typer.Exit as exc:
        code = exc.exit_code
        raise
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
        raise
    except BaseException:
        code = 1
        raise
    finally:
        log.info(
            "%s run finished in %.3f s, exit code %d",
            ctx.info_name,
            time.perf_counter() - start,
            code,
        )
        _state["quiet"] = False
        package.setLevel(saved_level)
        for handler in handlers:
            package.removeHandler(handler)
            handler.close()
            if isinstance(handler, logging.StreamHandler) and handler.stream is not sys.stderr:
                handler.stream.close()
