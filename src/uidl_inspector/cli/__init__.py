"""Command-line front end. Each module of this package registers its commands on ``app``.

The modules are imported by discovery so that adding a command means adding a module.
The CLI only calls the library; it holds no format or analysis logic.
"""

from __future__ import annotations

import importlib
import pkgutil

from uidl_inspector.cli.app import app
from uidl_inspector.versions import TOOL_NAME

NOT_COMMANDS = {"app", "helpfmt", "runlog", "docs"}  # the machinery, not commands
for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module not in NOT_COMMANDS and not _module.startswith("_"):
        importlib.import_module(f"{__name__}.{_module}")

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point (the same name in usage lines however it is started)."""
    app(prog_name=TOOL_NAME)
