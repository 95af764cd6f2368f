"""Command-line front end. Each command is a module of this package, named after it, that
registers the command on ``app``; it is imported only when that command runs or its help
is shown (cli/app.py's ``Group``). The CLI only calls the library; it holds no format or
analysis logic.
"""

from __future__ import annotations

from uidl_inspector.cli.app import app
from uidl_inspector.versions import TOOL_NAME

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point (the same name in usage lines however it is started)."""
    app(prog_name=TOOL_NAME)
