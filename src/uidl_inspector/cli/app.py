"""The typer application that every command module registers itself on.

Every command gets, without code of its own: help in the field's style (cli/helpfmt.py),
options grouped under the panels below, and the run-log options ``--log-file``,
``-v/--verbose`` and ``-q/--quiet`` (cli/runlog.py). A new option joins a group with
``rich_help_panel=PANEL_INPUT`` (or OUTPUT, CHECKS, PERFORMANCE); examples go in the
command's ``epilog``, shown as written at the end of its help.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from uidl_inspector.cli import runlog
from uidl_inspector.versions import TOOL_NAME, version_text

if TYPE_CHECKING:  # typer's commands take the Context of the click it vendors
    from typer._click import Context, HelpFormatter

F = TypeVar("F", bound=Callable[..., Any])

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
    "command_modules",
]

PANEL_INPUT, PANEL_OUTPUT = "Input", "Output"
PANEL_CHECKS, PANEL_PERFORMANCE = "Checks", "Performance"
PANELS = (PANEL_INPUT, PANEL_OUTPUT, PANEL_CHECKS, PANEL_PERFORMANCE)  # the order in help


NOT_COMMANDS = frozenset({"app", "common", "docs", "helpfmt", "runlog"})  # the machinery


@functools.cache
def command_modules() -> tuple[str, ...]:
    """The commands, in the order help lists them: the modules of this package named after
    the command each registers, found without importing them."""
    found = pkgutil.iter_modules([str(Path(__file__).parent)])
    names = (m.name for m in found)
    return tuple(sorted(n for n in names if n not in NOT_COMMANDS and not n.startswith("_")))


def examples(*lines: str) -> str:
    """A command's epilog: its examples, shown as written at the end of its help."""
    return "Examples:\n" + "\n".join(f"  {line}" for line in lines)


class _FieldHelp:
    """The help layout of the field's tools (cli/helpfmt.py), for the group and each command."""

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        from uidl_inspector.cli import helpfmt  # only for help and usage errors

        return helpfmt.usage_pieces(self, ctx)

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        from rich.console import Console  # only when help is shown

        from uidl_inspector.cli import helpfmt

        helpfmt.print_help(self, ctx, PANELS, Console(highlight=False))


class Command(_FieldHelp, TyperCommand):
    """A command with the field's help layout and the run-log options."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(runlog.options(PANEL_OUTPUT))

    def invoke(self, ctx: Context) -> Any:
        with runlog.run_log(ctx):
            return super().invoke(ctx)


class Group(_FieldHelp, TyperGroup):
    """The main command: the same help layout, listing the commands.

    Lazy: a command's module is imported, and its click command built, when the command
    is looked up (to run it, or for help, completion or docs/cli.md), so that starting one
    command does not import every other command's dependencies."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*command_modules(), *(n for n in self.commands if n not in command_modules())]

    def get_command(self, ctx: Context, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in command_modules():
            self._load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx: Context, args: list[str]) -> Any:
        if args and args[0] not in command_modules():  # a typo: typer suggests from all
            self._load(*command_modules())
        return super().resolve_command(ctx, args)

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        # typer 0.29 coerces every value but a bool through a pydantic TypeAdapter, and
        # the unset flags of the group (-h, --install-completion, --show-completion) come
        # as None: importing pydantic for them would cost `--version` and `CMD --help`
        # some 60 ms. An unset flag is off, so False is its default.
        for param in self.get_params(ctx):
            if getattr(param, "is_flag", False) and param.default is None:
                param.default = False
        return super().parse_args(ctx, args)

    def _load(self, *names: str) -> None:
        """Import the command modules ``names`` and add the commands they register."""
        for name in names:
            importlib.import_module(f"{__package__}.{name}")
        for info in app.registered_commands:
            assert info.callback is not None  # typer's decorator always sets it
            if (info.name or typer.main.get_command_name(info.callback.__name__)) in self.commands:
                continue
            command = typer.main.get_command_from_info(
                info,
                pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=app.rich_markup_mode,
            )
            self.add_command(command)

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        return [*super().collect_usage_pieces(ctx), self.subcommand_metavar]


class App(typer.Typer):
    """typer.Typer whose commands are :class:`Command` unless told otherwise."""

    def command(  # the same call as typer's, with our Command as the default cls
        self, *args: Any, cls: type[TyperCommand] | None = None, **kwargs: Any
    ) -> Callable[[F], F]:
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
