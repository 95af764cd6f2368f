"""Command help in the style of the field's tools (argparse's layout, as plaso prints it).

No type placeholders: a flag shows only its name, an option taking a value shows its
metavar (``FILE``) or its choices (``[table|json|csv]``), an argument its name
(``[PATH]...``). Options are grouped by their ``rich_help_panel`` in a fixed order, each
with its default. Docstring paragraphs are re-flowed to the width (their line breaks are the
source's, not the author's); a paragraph starting with ``\\b``, or whose lines are indented
or bulleted, is kept as written, and so is the epilog (the examples). The same lines render
on a terminal (with colour) and as plain text for docs/cli.md (fixed width, no colour).
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text
from typer.core import TyperArgument, TyperGroup

if TYPE_CHECKING:  # the Context typer's commands get: its vendored click's
    from typer._click import Context

__all__ = ["usage_pieces", "help_lines", "print_help", "help_text", "DOC_WIDTH"]

DOC_WIDTH = 100  # docs/cli.md is rendered at this width, whatever the terminal
NAME_COLUMN = 30  # longer option names get their help on the next line (as argparse)
ARGUMENTS, OPTIONS, COMMANDS = "Arguments", "Options", "Commands"
_HEADING, _NAME, _USAGE = "bold", "bold cyan", "bold"


def _visible(command: Any, ctx: Context) -> list[Any]:
    return [p for p in command.get_params(ctx) if not getattr(p, "hidden", False)]


def argument_usage(param: Any) -> str:
    """``PATH``, ``[PATH]``, ``FILE...`` or ``[PATH]...``; a metavar already written
    that way is kept."""
    name: str = param.metavar or param.name.upper()
    if name.startswith("[") or name.endswith("..."):
        return name
    dots = "..." if param.nargs == -1 else ""
    return f"{name}{dots}" if param.required else f"[{name}]{dots}"


def usage_pieces(command: Any, ctx: Context) -> list[str]:
    """``[OPTIONS]`` then each argument, for the usage line (help and usage errors)."""
    pieces = [command.options_metavar] if command.options_metavar else []
    return pieces + [
        argument_usage(p) for p in _visible(command, ctx) if isinstance(p, TyperArgument)
    ]


def _choices(param: Any) -> list[str] | None:
    """The values an option accepts, when it is a choice (typer's descriptor, else the
    click type of older typer releases)."""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is not None:
        choices = descriptor.choices if descriptor.is_choice else None
    else:
        choices = getattr(getattr(param, "type", None), "choices", None)
    return [str(c.value if isinstance(c, Enum) else c) for c in choices] if choices else None


def _long_choices(param: Any) -> list[str] | None:
    """Choices too many to show in the name column: they go in the help instead."""
    choices = _choices(param)
    return choices if choices and len("|".join(choices)) > NAME_COLUMN + 10 else None


def _option_name(param: Any) -> str:
    opts = sorted(param.opts, key=lambda o: (o.startswith("--"), o))
    names = ", ".join(opts)
    if param.secondary_opts:
        names += " / " + ", ".join(param.secondary_opts)
    if param.is_flag or param.count:
        return names
    choices = _choices(param)
    metavar = param.metavar or (
        f"[{'|'.join(choices)}]"
        if choices and not _long_choices(param)
        else max(param.opts, key=len).lstrip("-").replace("-", "_").upper()
    )
    return f"{names} {metavar}"


def _default(param: Any) -> str | None:
    shown: bool | str = getattr(param, "show_default", True)
    if isinstance(shown, str):
        return shown
    value = param.default
    if (
        shown is False
        or value in (None, [], ())
        or callable(value)
        or getattr(param, "count", False)
    ):
        return None
    if getattr(param, "is_flag", False):
        if not param.secondary_opts:
            return None  # a plain flag is off unless given
        names: list[str] = param.opts if value else param.secondary_opts
        return max(names, key=len)
    values = value if isinstance(value, (list, tuple)) else [value]
    return ", ".join(str(v.value if isinstance(v, Enum) else v) for v in values)


def _range(param: Any) -> str | None:
    """``1<=x<=1000000`` for a bounded number (typer keeps the bounds on the parameter,
    click on its type)."""
    if getattr(param, "count", False):
        return None
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if low is None and high is None:
        kind = getattr(param, "type", None)
        low, high = getattr(kind, "min", None), getattr(kind, "max", None)
    if low is None:
        return None if high is None else f"x<={high}"
    return f"x>={low}" if high is None else f"{low}<=x<={high}"


def _param_help(param: Any) -> str:
    parts = [" ".join((param.help or "").split())]
    if not param.metavar and (choices := _long_choices(param)):
        parts.append(f"One of: {', '.join(choices)}.")
    ranged = _range(param)
    if ranged:
        parts.append(f"[{ranged}]")
    default = _default(param)
    if default is not None:
        parts.append(f"[default: {default}]")
    if param.required and not isinstance(param, TyperArgument):
        parts.append("[required]")
    return " ".join(p for p in parts if p)


def _paragraphs(text: str | None) -> list[tuple[bool, str]]:
    """(verbatim, text) for each paragraph of a docstring, ``\\f`` and after dropped."""
    body = inspect.cleandoc(text or "").partition("\f")[0].strip()
    out = []
    for block in body.split("\n\n") if body else []:
        lines = block.split("\n")
        verbatim = block.startswith("\b") or any(
            line.startswith(("  ", "- ", "* ", "$ ")) for line in lines
        )  # not "--option"
        out.append((verbatim, block.lstrip("\b\n") if verbatim else " ".join(block.split())))
    return out


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, max(width, 20), break_on_hyphens=False) or [""]


def _prose(text: str | None, width: int, indent: str = "  ") -> list[Text]:
    lines: list[Text] = []
    for verbatim, paragraph in _paragraphs(text):
        if lines:
            lines.append(Text(""))
        body = paragraph.split("\n") if verbatim else _wrap(paragraph, width - len(indent))
        lines += [Text(indent + line if line else "") for line in body]
    return lines


def _rows(rows: Sequence[tuple[str, str]], width: int) -> list[Text]:
    """Name and help in two columns, help wrapped; a long name gets its own line."""
    column = min(max((len(name) for name, _ in rows), default=0), NAME_COLUMN) + 4
    lines: list[Text] = []
    for name, help_ in rows:
        wrapped = _wrap(help_, width - column) if help_ else []
        line = Text("  ").append(name, _NAME)
        if len(name) + 4 > column and wrapped:
            lines.append(line)
            line = Text(" " * column)
        elif wrapped:
            line.append(" " * (column - 2 - len(name)))
        if wrapped:
            line.append(wrapped[0])
        lines.append(line)
        lines += [Text(" " * column + more) for more in wrapped[1:]]
    return lines


def _sections(
    command: Any, ctx: Context, panels: Iterable[str]
) -> dict[str, list[tuple[str, str]]]:
    """Heading -> (name, help) rows: arguments, the known panels in order, any other
    panel in the order met, then ungrouped options (and --help) under "Options"."""
    sections: dict[str, list[tuple[str, str]]] = {ARGUMENTS: []}
    sections.update({panel: [] for panel in panels})
    for param in _visible(command, ctx):
        if isinstance(param, TyperArgument):
            sections[ARGUMENTS].append((argument_usage(param), _param_help(param)))
            continue
        panel = getattr(param, "rich_help_panel", None) or OPTIONS
        sections.setdefault(panel, []).append((_option_name(param), _param_help(param)))
    sections[OPTIONS] = sections.pop(OPTIONS, [])  # after the panels
    if isinstance(command, TyperGroup):
        subcommands = [command.get_command(ctx, n) for n in command.list_commands(ctx)]
        sections[COMMANDS] = [
            (c.name or "", _short_help(c)) for c in subcommands if c is not None and not c.hidden
        ]
    return {name: rows for name, rows in sections.items() if rows}


def _short_help(command: Any) -> str:
    paragraphs = _paragraphs(command.short_help or command.help)
    return paragraphs[0][1] if paragraphs else ""


def help_lines(command: Any, ctx: Context, panels: Iterable[str], width: int) -> list[Text]:
    """The whole help of ``command`` as styled lines, none wider than ``width`` (but a
    verbatim example line)."""
    usage = " ".join([ctx.command_path, *command.collect_usage_pieces(ctx)])
    lines = [Text("Usage: ", _HEADING).append(usage, _USAGE)]
    description = _prose(command.help, width)
    if description:
        lines += [Text(""), *description]
    for heading, rows in _sections(command, ctx, panels).items():
        lines += [Text(""), Text(f"{heading}:", _HEADING), *_rows(rows, width)]
    if command.epilog:
        lines += [
            Text(""),
            *(Text(line) for line in textwrap.dedent(command.epilog).strip("\n").split("\n")),
        ]
    return lines


def print_help(command: Any, ctx: Context, panels: Iterable[str], console: Console) -> None:
    """Print the help on ``console`` at its width (lines are wrapped here, not by rich)."""
    for line in help_lines(command, ctx, panels, min(console.width, 120)):
        console.print(line, soft_wrap=True)


def help_text(command: Any, ctx: Context, panels: Iterable[str], width: int = DOC_WIDTH) -> str:
    """The help as plain text at a fixed width: the same on every machine."""
    return "\n".join(line.plain.rstrip() for line in help_lines(command, ctx, panels, width)) + "\n"
