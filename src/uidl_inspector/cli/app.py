"""The typer application that every command module registers itself on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="uidl-inspector",
    help="Find, decode and audit Outlook's hidden POP3 download history (UIDL BLOB).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
