"""Errors raised by uidl-inspector.

Three kinds of failure are kept apart (after plaso's errors): "not my format"
(:class:`NotAStoreError`), "my format but broken" (:class:`CorruptStructureError`) and
"known format, version we cannot read" (:class:`UnsupportedVersionError`). Problems noted
while carrying on are not exceptions: they are :class:`uidl_inspector.findings.Finding`
records attached to the result.
"""

from __future__ import annotations

__all__ = [
    "UidlInspectorError",
    "NotAStoreError",
    "CorruptStructureError",
    "UnsupportedVersionError",
    "StrictModeError",
    "DEBUG_ENV",
    "debugging",
    "internal_error",
]

import os

DEBUG_ENV = "UIDL_DEBUG"  # set to 1 to let an unexpected error show its traceback


def debugging() -> bool:
    """Whether unexpected errors should propagate (for developers and the fuzz harness)."""
    return os.environ.get(DEBUG_ENV) == "1"


def internal_error(exc: BaseException) -> str:
    """The one line for an unexpected exception (a bug), raised instead when debugging."""
    if debugging():
        raise exc
    return (
        f"internal error: {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 to see the "
        "traceback, and please report it)"
    )


class UidlInspectorError(Exception):
    """Root of every error this package raises on purpose."""


class NotAStoreError(UidlInspectorError):
    """The input is not in a format this reader handles."""


class CorruptStructureError(UidlInspectorError):
    """The input is in a known format but a structure needed to go on is broken."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message if offset is None else f"{message} (at offset {offset:#x})")
        self.offset = offset


class UnsupportedVersionError(UidlInspectorError):
    """The format is recognised but this version or variant is not supported."""


class StrictModeError(UidlInspectorError):
    """Raised in strict mode when the input shows any anomaly."""
