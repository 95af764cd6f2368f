"""uidl-inspector: find, decode and audit Outlook's hidden POP3 download history.

The names below are loaded on first use (PEP 562), so that starting the command line, which
imports this package first, pays neither for the BLOB decoder nor for reading the
installed version when the command needs neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uidl_inspector.history import PopHistory, build_blob, parse_blob

    __version__: str

__all__ = ["__version__", "PopHistory", "build_blob", "parse_blob"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value: Any = version("uidl-inspector")
        except PackageNotFoundError:  # running from a source tree that was never installed
            value = "0.0.0+unknown"
    elif name in ("PopHistory", "build_blob", "parse_blob"):
        from uidl_inspector import history

        value = getattr(history, name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # once
    return value
