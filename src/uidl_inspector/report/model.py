"""The report: what was examined, what was found, and where. Shared by every command.

The JSON contract (docs/report-schema.md) is extended by later commands and never renamed:
``{"tool", "generated_at", "run", "sources", "histories", ...}``. Everything here is a
frozen dataclass with a ``to_dict`` that yields exactly the documented keys.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uidl_inspector.store.byteview import hash_stream
from uidl_inspector.versions import tool_info

if TYPE_CHECKING:
    from uidl_inspector.records import HistoryRecord

__all__ = ["Source", "Run", "Report", "hash_file", "of_total", "source_path"]

log = logging.getLogger(__name__)


def of_total(done: int, total: int) -> str:
    """``"12 of 215 MiB"``: bytes done of a total for a progress line (KiB below 1 MiB)."""
    shift, unit = (20, "MiB") if total >> 20 else (10, "KiB")
    return f"{done >> shift:,} of {total >> shift:,} {unit}"


def hash_file(
    path: str | os.PathLike[str], progress: Any = None, what: str = "hashing"
) -> tuple[int, str, str]:
    """Size, SHA-256 and MD5 of a file, read once, opened read-only; ``progress`` gets
    one-line status as it goes."""
    with open(path, "rb") as handle:
        tell = None
        if progress is not None:
            total = os.fstat(handle.fileno()).st_size
            tell = lambda done: progress(f"{path}: {what}, {of_total(done, total)}")  # noqa: E731
        return hash_stream(handle, progress=tell)


@dataclass(frozen=True)
class Source:
    """One input of the run, with its hashes so that the report can be tied to evidence."""

    path: str
    kind: str  # pst | ost | msg | blob | hex | image | demo | unknown
    size: int
    sha256: str
    md5: str
    errors: tuple[str, ...] = ()
    variant: str | None = None  # unicode | ansi | ost | ost4k | msg | blob
    encryption: str | None = None  # none | permute | cyclic
    findings: tuple[Any, ...] = ()  # Finding records about the container itself
    # A store found in a disk image: where (image, partition, snapshot, path, deleted,
    # path_spec), and the other places holding the same bytes (read once).
    container: dict[str, Any] | None = None
    also_in: tuple[dict[str, Any], ...] = ()
    # A disk image: its format, what was examined in it, whether it was hashed.
    image_format: str | None = None
    examined: dict[str, int] | None = None
    hashed: bool = True
    segments: tuple[dict[str, Any], ...] = ()  # a split image's files: path, size, hashes

    @classmethod
    def from_bytes(cls, path: str, kind: str, data: bytes, **extra: Any) -> Source:
        sha256, md5 = hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()
        return cls(path, kind, len(data), sha256, md5, **extra).logged()

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], kind: str, progress: Any = None, **extra: Any
    ) -> Source:
        size, sha256, md5 = hash_file(path, progress=progress)
        return cls(str(path), kind, size, sha256, md5, **extra).logged()

    def logged(self) -> Source:
        """Record the input in the processing log, as the report records it."""
        log.info(
            "input %s: %s, %d bytes, sha256 %s, md5 %s",
            self.path,
            self.kind,
            self.size,
            self.sha256,
            self.md5,
        )
        for finding in self.findings:
            log.warning(
                "input %s: finding %s at offset %s", self.path, finding.code, finding.offset
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "kind": self.kind,
            "size": self.size,
            "sha256": self.sha256,
            "md5": self.md5,
            "errors": list(self.errors),
        }
        if self.variant is not None:
            out["variant"] = self.variant
        if self.encryption is not None:
            out["encryption"] = self.encryption
        if self.findings:
            out["findings"] = [f.to_dict() for f in self.findings]
        if self.container is not None:
            out["container"] = self.container
            out["also_in"] = list(self.also_in)
        if self.kind == "image":
            out.update(format=self.image_format, examined=self.examined, hashed=self.hashed)
            if self.segments:
                out["segments"] = list(self.segments)
        return out


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Run:
    """Run metadata: the only part of a report allowed to differ between identical runs."""

    command_line: list[str] = field(default_factory=lambda: list(sys.argv))
    started_at: datetime = field(default_factory=_now)
    finished_at: datetime | None = None
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def finish(self) -> None:
        self.finished_at = _now()

    def to_dict(self) -> dict[str, Any]:
        return {
            "command_line": self.command_line,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "run_id": self.run_id,
        }


@dataclass
class Report:
    """Everything a command found. Sections beyond sources/histories are added by commands
    (``extra``: for example ``cross_check`` or ``audit``), never renamed."""

    sources: list[Source] = field(default_factory=list)
    histories: list[HistoryRecord] = field(default_factory=list)
    run: Run = field(default_factory=Run)
    extra: dict[str, Any] = field(default_factory=dict)
    demo: bool = False

    def to_dict_head(self) -> dict[str, Any]:
        """The keys before ``sources``: what the run was."""
        return {
            "tool": tool_info(),
            "generated_at": (self.run.finished_at or self.run.started_at).isoformat(),
            "run": self.run.to_dict(),
            "demo": self.demo,
        }

    def to_dict(self) -> dict[str, Any]:
        out = self.to_dict_head()
        out["sources"] = [s.to_dict() for s in self.sources]
        out["histories"] = [h.to_dict() for h in self.histories]
        out.update(self.extra)
        return out


def source_path(path: str | os.PathLike[str]) -> str:
    """The path as given on the command line, normalised for the report."""
    return str(Path(path))
