"""A POP3 server's UIDL listing, as an analyst captures it, parsed tolerantly.

Two shapes are accepted: a raw ``UIDL`` transcript (``+OK`` line, ``n uid`` lines, ``.``
terminator, RFC 1939 section 7) and a bare list with one UID per line. Lines that fit
neither are skipped and reported as :class:`~uidl_inspector.findings.Finding` records with
their byte offset, so a damaged capture still yields every UID it holds.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from itertools import accumulate

from uidl_inspector.exceptions import UidlInspectorError
from uidl_inspector.findings import Finding

__all__ = ["ServerListing", "parse_server_listing", "read_server_listing"]

# A listing larger than this is not a UIDL capture; refuse instead of allocating.
MAX_LISTING_BYTES = 256 << 20
_NUMBERED = re.compile(rb"^(\d+)[ \t]+(\S+)[ \t]*$")
_RFC1939_UID = re.compile(rb"^[\x21-\x7e]{1,70}$")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerListing:
    """The server's UIDs in listing order, with what was wrong in the capture."""

    uids: tuple[str, ...]
    shape: str  # uidl-transcript | uid-per-line | empty
    findings: tuple[Finding, ...] = ()
    path: str | None = None
    account: str | None = None  # the account the analyst says it belongs to, if any

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "declared_account": self.account,
            "shape": self.shape,
            "count": len(self.uids),
            "findings": [f.to_dict() for f in self.findings],
        }


def parse_server_listing(
    data: bytes | str, path: str | None = None, account: str | None = None
) -> ServerListing:
    """Parse a UIDL transcript or a one-UID-per-line list; never raises on content."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    findings: list[Finding] = []

    def flag(code: str, offset: int | None, detail: str) -> None:
        findings.append(Finding(code, offset, detail))

    # the non-blank lines with their byte offsets; CRLF, LF and lone CR all end a line
    raws = data.splitlines(keepends=True)
    starts = accumulate((len(raw) for raw in raws), initial=0)
    lines = [(o, raw.rstrip(b"\r\n")) for o, raw in zip(starts, raws, strict=False) if raw.strip()]
    if not lines:
        return ServerListing((), "empty", (), path, account)

    first_offset, first = lines[0]
    transcript = first.startswith((b"+OK", b"-ERR")) or any(
        _NUMBERED.match(line.strip()) for _, line in lines[:3]
    )
    if first.startswith(b"-ERR"):
        flag("server_error", first_offset, f"server answered {first[:80].decode('latin-1')!r}")
    if first.startswith((b"+OK", b"-ERR")):
        lines = lines[1:]

    seen: dict[str, int] = {}  # UID -> its line number among the UIDs, in listing order
    numbers: list[int] = []
    terminated = False
    for offset, line in lines:
        text = line.strip()
        if terminated:
            flag("trailing_data", offset, "text after the '.' terminator is ignored")
            break
        if transcript and text == b".":
            terminated = True
            continue
        if transcript:
            match = _NUMBERED.match(text)
            if match is None:
                flag("bad_line", offset, f"not a 'number uid' line: {text[:80]!r}")
                continue
            numbers.append(int(match.group(1)))
            raw_uid = match.group(2)
        else:
            if len(text.split()) != 1:
                flag("bad_line", offset, f"expected one UID per line: {text[:80]!r}")
                continue
            raw_uid = text
        try:
            uid = raw_uid.decode("utf-8")
        except UnicodeDecodeError:
            flag("invalid_utf8", offset, f"UID bytes {raw_uid.hex()} are not UTF-8")
            uid = raw_uid.decode("utf-8", errors="backslashreplace")
        if not _RFC1939_UID.match(raw_uid):
            flag("uid_not_rfc1939", offset, f"UID {uid[:80]!r} is not 1-70 characters 0x21-0x7E")
        if uid in seen:
            flag("duplicate_uid", offset, f"UID {uid[:80]!r} already listed at line {seen[uid]}")
            continue
        seen[uid] = len(seen) + 1

    if transcript and not terminated:
        flag("truncated", len(data), "the transcript has no '.' terminator")
    if numbers and numbers != list(range(1, len(numbers) + 1)):
        flag("bad_numbering", None, "message numbers are not 1..n in order (RFC 1939)")
    shape = "uidl-transcript" if transcript else "uid-per-line"
    return ServerListing(tuple(seen), shape, tuple(findings), path, account)


def read_server_listing(path: str | os.PathLike[str], account: str | None = None) -> ServerListing:
    """Read a listing file (opened read-only, size bounded) and parse it."""
    with open(path, "rb") as handle:
        # read(n) would reserve n bytes up front: check the size first, then read it all
        too_large = os.fstat(handle.fileno()).st_size > MAX_LISTING_BYTES
        data = b"" if too_large else handle.read()
    if too_large or len(data) > MAX_LISTING_BYTES:
        raise UidlInspectorError(
            f"{path}: larger than {MAX_LISTING_BYTES} bytes, not a UIDL listing"
        )
    listing = parse_server_listing(data, str(path), account)
    log.info(
        "input %s: server listing, %d bytes, sha256 %s, md5 %s: %s, %d UIDs, %d findings",
        path,
        len(data),
        hashlib.sha256(data).hexdigest(),
        hashlib.md5(data).hexdigest(),
        listing.shape,
        len(listing.uids),
        len(listing.findings),
    )
    return listing
