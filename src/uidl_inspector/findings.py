"""A problem noted while reading, kept with the result instead of stopping the read."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Finding"]


@dataclass(frozen=True, slots=True)
class Finding:
    """An anomaly or integrity problem: a stable ``code``, where it is, and what was seen.

    ``offset`` is a byte offset: into the BLOB for history anomalies, into the file for
    store structures (``None`` when the position is unknown).
    """

    code: str
    offset: int | None
    detail: str

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "offset": self.offset, "detail": self.detail}
