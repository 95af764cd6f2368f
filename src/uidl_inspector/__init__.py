"""uidl-inspector: find, decode and audit Outlook's hidden POP3 download history."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("uidl-inspector")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

from uidl_inspector.history import PopHistory, build_blob, parse_blob  # noqa: E402

__all__ = ["__version__", "PopHistory", "build_blob", "parse_blob"]
