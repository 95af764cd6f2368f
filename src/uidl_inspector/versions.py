"""Which software produced a result: the tool, the Python running it, and its back-ends.

A forensic report must name the tool and version that produced it; the readers it relied on
(libpff as the independent witness, dfVFS for disk images when installed) are named too, so
that a result can be reproduced with the same software. Printed by ``--version`` and written
into every report's ``tool`` block.
"""

from __future__ import annotations

import functools
import importlib.util
import platform
from typing import Any

__all__ = ["TOOL_NAME", "BACKENDS", "backend_versions", "tool_info", "version_text"]

TOOL_NAME = "uidl-inspector"
# back-end name -> (importable module, distribution to read the version from when the
# module itself has no version function)
BACKENDS = {"libpff": ("pypff", "libpff-python"), "dfvfs": ("dfvfs", "dfvfs")}


def _backend_version(module: str, distribution: str) -> str | None:
    """The back-end's version, or None when it is not importable here."""
    try:
        if importlib.util.find_spec(module) is None:
            return None
    except (ImportError, ValueError):
        return None
    if module == "pypff":  # the C library's own version, not the binding's packaging
        try:
            import pypff

            return str(pypff.get_version())
        except (ImportError, AttributeError, OSError):
            return None
    from importlib.metadata import PackageNotFoundError, version

    try:  # importing dfVFS pulls in dozens of modules: its metadata is enough
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


@functools.cache
def backend_versions() -> dict[str, str | None]:
    """``{"libpff": "20211114", "dfvfs": None, ...}``: None when not installed."""
    return {name: _backend_version(*where) for name, where in BACKENDS.items()}


def tool_info() -> dict[str, Any]:
    """The report's ``tool`` block (docs/report-schema.md)."""
    from uidl_inspector import __version__  # read from the installed metadata when needed

    return {
        "name": TOOL_NAME,
        "version": __version__,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "backends": dict(backend_versions()),
    }


def version_text() -> str:
    """What ``uidl-inspector --version`` prints: one line per component."""
    info = tool_info()
    lines = [
        f"{info['name']} {info['version']}",
        f"Python {platform.python_version()} "
        f"({platform.python_implementation()}, {platform.system() or 'unknown OS'})",
    ]
    lines += [f"{name} {found or 'not installed'}" for name, found in info["backends"].items()]
    return "\n".join(lines) + "\n"
