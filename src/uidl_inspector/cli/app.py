"""The typer application that every command module registers itself on.

Every command gets, without code of its own: help in the field's style (cli/helpfmt.py),
options grouped under the panels below, and the run-log options ``--log-file``,
``-v/--verbose`` and ``-q/--quiet`` (cli/runlog.py). A new option joins a group with
``rich_help_panel=PANEL_INPUT`` (or OUTPUT, CHECKS, PERFORMANCE); examples go in the
command's ``epilog``, shown as written at the end of its help.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup
from typer.models import CommandFunctionType as CommandFunction

from uidl_inspector.cli import helpfmt, runlog
from uidl_inspector.versions import TOOL_NAME, version_text

__all__ = [
    "app",
    "PANEL_INPUT",
    "PANEL_OUTPUT",
    "PANEL_CHECKS",
    "PANEL_PERFORMANCE",
    "PANELS",
    "Command",
    "Group",
    "examples",
]

PANEL_INPUT, PANEL_OUTPUT = "Input", "Output"
PANEL_CHECKS, PANEL_PERFORMANCE = "Checks", "Performance"
PANELS = (PANEL_INPUT, PANEL_OUTPUT, PANEL_CHECKS, PANEL_PERFORMANCE)  # the order in help


def examples(*lines: str) -> str:
    """A command's epilog: its examples, shown as written at the end of its help."""
    return "Examples:\n" + "\n".join(f"  {line}" for line in lines)


class Command(TyperCommand):
    """A command with the field's help layout and the run-log options."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(runlog.options(PANEL_OUTPUT))

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        return helpfmt.usage_pieces(self, ctx)

    def format_help(self, ctx: typer.Context, formatter: Any) -> None:
        helpfmt.print_help(self, ctx, PANELS, Console(highlight=False))

    def invoke(self, ctx: typer.Context) -> Any:
        with runlog.run_log(ctx):
            return super().invoke(ctx)


class Group(TyperGroup):
    """The main command: the same help layout, listing the commands."""

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        return [*helpfmt.usage_pieces(self, ctx), self.subcommand_metavar]

    def format_help(self, ctx: typer.Context, formatter: Any) -> None:
        helpfmt.print_help(self, ctx, PANELS, Console(highlight=False))


class App(typer.Typer):
    """typer.Typer whose commands are :class:`Command` unless told otherwise."""

    def command(
        self, *args: Any, cls: type[TyperCommand] | None = None, **kwargs: Any
    ) -> Callable[[CommandFunction], CommandFunction]:
        return super().command(*args, cls=cls or Command, **kwargs)


app = App(
    name=TOOL_NAME,
    cls=Group,
    help="Find, decode and audit Outlook's hidden POP3 download history (UIDL BLOB).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},  # -h as in argparse tools
    add_completion=True,  # --install-completion, --show-completion (docs/cli.md)
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # usage errors as plain lines, like the tool's own errors
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_text(), nl=False)
        raise typer.Exit()


@app.callback(
    epilog=examples(
        "uidl-inspector --version", "uidl-inspector scan --help     # each command has its own help"
    )
)
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print the versions of the tool, of Python and of each back-end (libpff, "
            "dfVFS), then exit.",
        ),
    ] = False,
) -> None:
    # typer takes the group's help from the app; this callback only adds --version.
    pass
