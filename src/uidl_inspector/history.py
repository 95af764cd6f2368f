"""The decoded POP3 download history: entries and anomalies, from the BLOB's bytes.

:func:`parse_blob` is lenient: it never raises on data, recovers every tag it can and
records what is wrong as :class:`~uidl_inspector.findings.Finding` records with stable
codes (see ``ANOMALY_CODES``); ``strict=True`` turns any anomaly above ``info`` into
:class:`~uidl_inspector.exceptions.StrictModeError`. :func:`build_blob` writes BLOBs,
exact or deliberately broken, through the same declaration (:mod:`schemas.popblob`).

What ``uid``, ``raw_uid`` and ``uid_hex`` hold, and what the slack after the last tag is
(:attr:`PopHistory.slack`, not an anomaly; :func:`slack_text` reads it): docs/artifact.md.

Speed. A BLOB with no anomaly is recognised by one regular expression over all its tags
(C speed); its entries are then decoded one by one when first read. Any other BLOB takes
the tag-by-tag path, which finds and places every anomaly. Both paths decode entries with
the same function, and ``tests/test_history.py`` proves they agree.
"""

from __future__ import annotations

import hashlib
import re
from calendar import isleap
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from uidl_inspector.exceptions import StrictModeError
from uidl_inspector.findings import ANOMALY_CODES, Finding, above_info
from uidl_inspector.schemas.popblob import (
    CONTENTS,
    FIXED_TAG_SIZE,
    HEADER_SIZE,
    MAX_TAGS,
    OPERATIONS,
    PBLOB_VERSION,
    TAG_FIELDS,
    PopBlob,
    PopBlobHeader,
    TagList,
    slack_size,
    tag_fields,
)

__all__ = [
    "ANOMALY_CODES",
    "Entry",
    "EntryColumns",
    "PopHistory",
    "parse_blob",
    "build_blob",
    "make_tag",
    "escape_uid",
    "unescape_uid",
    "unescape_uid_bytes",
    "slack_text",
]

RFC1939_MAX_UID = 70
ENTRY_BATCH = 4096  # entries converted for a report at a time
_OP_NAMES = {name: char for char, name in OPERATIONS.items()}
_CONTENT_NAMES = {name: char for char, name in CONTENTS.items()}
_ALNUM = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_RFC1939_BYTES = bytes(range(0x21, 0x7F))  # what a POP3 UID may be made of
_NOT_ALNUM = re.compile(rb"[^0-9A-Za-z]")
_WELL_ESCAPED = re.compile(rb"[0-9A-Za-z]*(?:\$[0-9A-Fa-f]{2}[0-9A-Za-z]*)*")
_ESCAPE = re.compile(rb"\$[0-9A-Fa-f]{2}")
_ESCAPE_BYTES = {  # "$xx" with either case of each hex digit -> its byte
    b"$" + bytes((hi, lo)): bytes.fromhex(chr(hi) + chr(lo)) for hi in _HEX for lo in _HEX
}


def _escaped_byte(match: re.Match[bytes]) -> bytes:
    return _ESCAPE_BYTES[match[0]]


@dataclass(frozen=True, slots=True)
class Entry:
    """One resource tag of the history, decoded, with the raw values beside the meanings.

    ``operation``/``content``/``timestamp`` are None when the stored value is invalid (the
    ``raw_*`` field keeps it). ``complete`` is False for a tag cut by the end of the BLOB;
    ``beyond_count`` is True for a well-formed tag found after the declared Count.
    ``anomalies`` lists the codes of the findings about this tag.
    """

    index: int
    offset: int
    operation: str | None
    content: str | None
    timestamp: datetime | None
    raw_uid: str
    uid: str
    raw_operation: str
    raw_content: str
    raw_timestamp: str
    uid_hex: str | None = None
    complete: bool = True
    beyond_count: bool = False
    anomalies: tuple[str, ...] = ()
    raw_tag: bytes = field(default=b"", repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "offset": self.offset,
            "operation": self.operation,
            "content": self.content,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "raw_timestamp": self.raw_timestamp,
            "raw_uid": self.raw_uid,
            "uid": self.uid,
            "uid_hex": self.uid_hex,
            "raw_operation": self.raw_operation,
            "raw_content": self.raw_content,
            "complete": self.complete,
            "beyond_count": self.beyond_count,
            "anomalies": list(self.anomalies),
            "raw_tag_hex": self.raw_tag.hex() if self.anomalies else None,
        }


def _slot_constructor(cls: type[Entry]) -> Callable[..., Entry]:
    """``cls(*values)`` (every field, positionally) for a frozen slotted dataclass without
    __post_init__, some 4x as fast: each slot is set through its descriptor, where the
    frozen ``__init__`` calls ``object.__setattr__`` per field. Entries are made by the
    ten thousand, for every history an audit or report reads."""
    names = [f.name for f in fields(cls)]
    setters = {f"_set_{name}": getattr(cls, name).__set__ for name in names}
    body = "".join(f"    _set_{name}(self, {name})\n" for name in names)
    source = f"def new({', '.join(names)}):\n    self = _new(_cls)\n{body}    return self\n"
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls, **setters}
    exec(source, namespace)  # noqa: S102 - the source is made of the class's field names
    made: Callable[..., Entry] = namespace["new"]
    return made


_new_entry = _slot_constructor(Entry)

_ASCII_RUN = re.compile(rb"[\x20-\x7e]{4,}")
_UTF16_RUN = re.compile(rb"(?:[\x20-\x7e\xa0-\xff]\x00){4,}")


def slack_text(data: bytes) -> list[str]:
    """Printable runs of 4+ characters, as ASCII or UTF-16LE, in the order they occur.

    Slack is leftover process memory: the runs can hold addresses, subjects or paths.
    """
    runs = [(m.start(), m[0].decode("ascii")) for m in _ASCII_RUN.finditer(data)]
    for parity in (0, 1):  # UTF-16 text may start at an odd offset of leftover memory
        runs += [
            (parity + m.start(), m[0].decode("utf-16-le"))
            for m in _UTF16_RUN.finditer(data, parity)
            if (m.start() - parity) % 2 == 0
        ]
    return [text for _, text in sorted(runs)]


@dataclass(frozen=True)
class PopHistory:
    """A decoded BLOB. ``version``/``declared_count`` are None when the header is cut.

    ``slack`` holds the ``count + 4`` bytes real Outlook leaves after the last tag (None
    when the BLOB ends otherwise).
    """

    version: int | None
    declared_count: int | None
    entries: Sequence[Entry]
    anomalies: tuple[Finding, ...]
    slack: bytes | None = None

    @property
    def parsed_count(self) -> int:
        return len(self.entries)

    def slack_dict(self) -> dict[str, Any] | None:
        """``{"size", "hex", "text"}`` of the slack, or None."""
        if self.slack is None:
            return None
        return {"size": len(self.slack), "hex": self.slack.hex(), "text": slack_text(self.slack)}

    def blob_dict(self, blob: bytes) -> dict[str, Any]:
        """A report's ``blob`` block: the bytes this history was decoded from, and counts."""
        return {
            "size": len(blob),
            "sha256": hashlib.sha256(blob).hexdigest(),
            "version": self.version,
            "declared_count": self.declared_count,
            "parsed_count": len(self.entries),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "declared_count": self.declared_count,
            "parsed_count": self.parsed_count,
            "slack": self.slack_dict(),
            "entries": [d for batch in self.entry_dicts() for d in batch],
            "anomalies": [a.to_dict() for a in self.anomalies],
        }

    def raw_tags(self, counted: bool = False) -> list[bytes]:
        """Every entry's raw tag (``counted``: only those within the declared Count),
        without decoding the entries of a BLOB with no anomaly."""
        if isinstance(self.entries, _LazyEntries):  # every tag complete, none beyond Count
            return self.entries.raws
        return [e.raw_tag for e in self.entries if not (counted and e.beyond_count)]

    def uids(self) -> set[str]:
        """The entries' (unescaped) UIDs, cheaply when the BLOB has no anomaly."""
        if isinstance(self.entries, _LazyEntries):
            return {
                _ESCAPE.sub(_escaped_byte, raw[_UID]).decode("ascii")
                if b"$" in raw
                else raw[_UID].decode("ascii")
                for raw in self.entries.raws
            }
        return {e.uid for e in self.entries}

    def latest(self) -> datetime | None:
        """The latest valid timestamp of the entries, or None."""
        if isinstance(self.entries, _LazyEntries):  # 14-digit times sort as the times do
            raws = self.entries.raws
            return _timestamp(max(raw[_TS] for raw in raws))[0] if raws else None
        return max((e.timestamp for e in self.entries if e.timestamp), default=None)

    def entry_dicts(self, size: int = ENTRY_BATCH) -> Iterator[list[dict[str, Any]]]:
        """Every entry's ``to_dict``, in batches of ``size``: what reports write. A BLOB
        with no anomaly is converted straight from its tags (no Entry kept)."""
        entries = self.entries
        for start in range(0, len(entries), size):
            if isinstance(entries, _LazyEntries):
                yield entries.dicts(start, start + size)
            else:
                yield [e.to_dict() for e in entries[start : start + size]]

    def entry_columns(self, size: int = ENTRY_BATCH) -> Iterator[EntryColumns] | None:
        """Every entry in batches of ``size`` as :class:`EntryColumns`, or None unless the
        BLOB has no anomaly (then every tag is clean, so only some fields differ from entry
        to entry): what a writer formats a batch at a time without a dict per entry."""
        entries = self.entries
        if not isinstance(entries, _LazyEntries):
            return None
        return (entries.columns(a, a + size) for a in range(0, len(entries), size))


@dataclass(frozen=True)
class EntryColumns:
    """A batch of clean entries: ``first`` is the first one's ``to_dict``; ``columns``
    holds, in ``to_dict``'s key order, each field that differs between entries as one list
    of its values' ASCII text (numbers in decimal, text as is, UIDs unescaped); every other
    field of every entry equals ``first``'s."""

    first: dict[str, Any]
    columns: dict[str, list[bytes]]


# --- UIDs --------------------------------------------------------------------------------


def escape_uid(uid: str | bytes) -> str:
    """The UID as Outlook stores it: every byte that is not an ASCII letter or digit as $xx.

    Text is encoded as UTF-8 first; bytes are escaped as they are.
    """
    data = uid.encode("utf-8") if isinstance(uid, str) else bytes(uid)
    return _NOT_ALNUM.sub(lambda m: b"$%02x" % m[0][0], data).decode("ascii")


def _unescape(raw: bytes) -> tuple[bytes, list[tuple[int, str]]]:
    """Unescaped bytes and the escaping problems seen (position in ``raw``, description)."""
    if raw.isalnum():  # ASCII letters and digits only (bytes.isalnum is ASCII-only)
        return raw, []
    if _WELL_ESCAPED.fullmatch(raw):
        return _ESCAPE.sub(_escaped_byte, raw), []
    out = bytearray()
    problems: list[tuple[int, str]] = []
    i, n = 0, len(raw)
    while i < n:
        b = raw[i]
        if b == 0x24:  # '$'
            pair = raw[i + 1 : i + 3]
            if len(pair) == 2 and pair[0] in _HEX and pair[1] in _HEX:
                out.append(int(pair, 16))
                i += 3
                continue
            problems.append((i, f"'$' not followed by two hex digits ({raw[i : i + 3]!r})"))
        elif b not in _ALNUM:
            problems.append((i, f"byte 0x{b:02x} stored unescaped"))
        out.append(b)
        i += 1
    return bytes(out), problems


def _text(data: bytes) -> str:
    return data.decode("utf-8", "backslashreplace")


def unescape_uid_bytes(raw: str | bytes) -> bytes:
    """The UID's bytes: ``$xx`` -> byte; anything malformed is kept as it is."""
    return _unescape(raw.encode("utf-8") if isinstance(raw, str) else raw)[0]


def unescape_uid(raw: str | bytes) -> str:
    """The UID as text (UTF-8; bytes that are not UTF-8 shown as ``\\xNN``)."""
    return _text(unescape_uid_bytes(raw))


# --- one tag ----------------------------------------------------------------------------


def _timestamp(raw: bytes) -> tuple[datetime | None, str]:
    if len(raw) != 14 or not raw.isdigit():
        return None, f"timestamp {raw!r} is not 14 digits"
    try:
        # The BLOB records no time zone: the value stays naive, as recorded.
        moment = datetime(  # noqa: DTZ001
            int(raw[0:4]),
            int(raw[4:6]),
            int(raw[6:8]),
            int(raw[8:10]),
            int(raw[10:12]),
            int(raw[12:14]),
        )
        return moment, ""
    except ValueError as exc:
        return None, f"timestamp {raw.decode()} is not a valid date and time ({exc})"


_OP, _CT, _TS, _UID = (slice(start, end) for _, start, end in TAG_FIELDS)


def _decode(
    index: int, offset: int, raw: bytes, complete: bool = True, beyond_count: bool = False
) -> tuple[Entry, list[Finding], bytes]:
    """One tag: the entry, the findings about it, and the UID's unescaped bytes."""
    op_raw, ct_raw, ts_raw, uid_raw = raw[_OP], raw[_CT], raw[_TS], raw[_UID]
    operation = OPERATIONS.get(op_raw)
    content = CONTENTS.get(ct_raw)
    timestamp, why = _timestamp(ts_raw)
    uid_bytes, problems = _unescape(uid_raw)
    uid_hex = None
    try:
        uid = uid_bytes.decode("utf-8")
    except UnicodeDecodeError:
        uid, uid_hex = _text(uid_bytes), uid_bytes.hex()
    notes: list[tuple[str, int, str]] = []  # (code, where in the tag, detail)
    if operation is None:
        notes.append(("bad_operation", _OP.start, f"operation {op_raw!r} is not one of + - &"))
    if content is None:
        notes.append(("bad_content", _CT.start, f"content {ct_raw!r} is not one of ' ' h b"))
    if why:
        notes.append(("bad_timestamp", _TS.start, why))
    if not raw.isascii():
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            detail = f"tag is not UTF-8 (byte 0x{raw[exc.start]:02x})"
            notes.append(("invalid_utf8", exc.start, detail))
    if problems:
        shown = "; ".join(f"+{pos}: {what}" for pos, what in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        notes.append(
            ("bad_uid_escape", _UID.start + problems[0][0], f"UID escaping: {shown}{more}")
        )
    if uid_hex is not None:
        notes.append(("invalid_utf8", _UID.start, f"unescaped UID is not UTF-8 (hex {uid_hex})"))
    size = len(uid_bytes)
    if not 1 <= size <= RFC1939_MAX_UID or uid_bytes.translate(None, _RFC1939_BYTES):
        detail = f"UID of {size} bytes is not 1-70 characters in 0x21-0x7E"
        notes.append(("uid_not_rfc1939", _UID.start, detail))
    if not complete:
        notes.append(("truncated", 0, "the BLOB ends inside this tag (no NUL terminator)"))
    found: list[Finding] = []
    codes: tuple[str, ...] = ()
    if notes:  # a field missing from a short tag is placed at the tag's end
        found = [Finding(c, offset + min(at, len(raw)), f"tag #{index}: {d}") for c, at, d in notes]
        codes = tuple(dict.fromkeys(c for c, _, _ in notes))
    if raw.isascii():  # decode once; the fields are the same slices of the text
        text = raw.decode("ascii")
        raw_op, raw_ct, raw_ts, raw_uid = text[_OP], text[_CT], text[_TS], text[_UID]
    else:
        raw_op, raw_ct, raw_ts, raw_uid = map(_text, (op_raw, ct_raw, ts_raw, uid_raw))
    entry = _new_entry(
        index,
        offset,
        operation,
        content,
        timestamp,
        raw_uid,
        uid,
        raw_op,
        raw_ct,
        raw_ts,
        uid_hex,
        complete,
        beyond_count,
        codes,
        raw,
    )
    return entry, found, uid_bytes


def _well_formed(raw: bytes) -> bool:
    """Enough of a tag to be taken as one when it lies beyond the declared Count."""
    return raw[_OP] in OPERATIONS and raw[_CT] in CONTENTS and _timestamp(raw[_TS])[0] is not None


# --- the fast path ----------------------------------------------------------------------


def _class(chars: Iterable[bytes]) -> bytes:
    return b"[" + b"".join(re.escape(c) for c in chars) + b"]"


# A tag with no anomaly at all: valid operation and content, a valid date (29 February is
# checked apart, for leap years), and a non-empty UID of letters, digits and lowercase
# escapes of the other printable ASCII bytes, so that stored and unescaped UIDs map one to
# one. Written as runs of letters and digits between escapes, which re matches quickly.
_ESCAPED = rb"\$(?:2[1-9a-f]|3[a-f]|40|5[b-f]|60|7[b-e])"
_CLEAN_TAG = (
    _class(OPERATIONS)
    + _class(CONTENTS)
    + rb"(?!0000)[0-9]{4}"
    + rb"(?:(?:0[13578]|1[02])(?:0[1-9]|[12][0-9]|3[01])"
    + rb"|(?:0[469]|11)(?:0[1-9]|[12][0-9]|30)|02(?:0[1-9]|1[0-9]|2[0-9]))"
    + rb"(?:[01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]"
    + rb"(?!\x00)[0-9A-Za-z]*(?:"
    + _ESCAPED
    + rb"[0-9A-Za-z]*)*\x00"
)
_ONE_CLEAN_TAG = re.compile(_CLEAN_TAG)
try:  # a possessive repeat (Python 3.11+) keeps no backtracking state per tag
    _CLEAN_TAGS: re.Pattern[bytes] | None = re.compile(b"(?:" + _CLEAN_TAG + b")*+")
except re.error:  # Python 3.10: a plain repeat would keep state for every tag
    _CLEAN_TAGS = None
_LEAP_DAY = re.compile(rb"\x00..([0-9]{4})0229", re.DOTALL)  # any tag after the first


def _all_clean_tags(data: bytes, start: int, end: int) -> bool:
    """Whether ``data[start:end]`` is a run of clean tags and nothing else."""
    if _CLEAN_TAGS is not None:
        return _CLEAN_TAGS.fullmatch(data, start, end) is not None
    # Non-overlapping matches whose lengths add up to the whole span tile it exactly.
    return sum(map(len, _ONE_CLEAN_TAG.findall(data, start, end))) == end - start


def _clean(data: bytes, tags: TagList, trailing: bytes, slack: bytes | None) -> bool:
    """True when the tag-by-tag path would find no anomaly at all."""
    if not tags.complete or trailing:
        return False
    end = len(data) - len(slack or b"")
    if not _all_clean_tags(data, HEADER_SIZE, end):
        return False
    if b"0229" in data:
        first = tags.raws[0] if tags.raws else b""
        years = [int(m.group(1)) for m in _LEAP_DAY.finditer(data, HEADER_SIZE, end)]
        if first[_TS.start + 4 : _TS.start + 8] == b"0229":
            years.append(int(first[_TS.start : _TS.start + 4]))
        if not all(map(isleap, years)):
            return False
    uids = [raw[_UID.start :] for raw in tags.raws]
    if len(set(uids)) != len(uids):
        return False
    if uids and max(map(len, uids)) > RFC1939_MAX_UID:
        return all(len(u) - 2 * u.count(b"$") <= RFC1939_MAX_UID for u in uids)
    return True


# Where each of a tag's 14 time digits goes in "YYYY-MM-DDTHH:MM:SS", and the separators.
_ISO_DIGITS = (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18)
_ISO_SEPARATORS = ((4, b"-"), (7, b"-"), (10, b"T"), (13, b":"), (16, b":"))


def _iso_stamps(stamps: list[bytes]) -> list[bytes]:
    """Valid 14-digit tag times as ``datetime.isoformat`` writes them, converted in bulk:
    each digit and separator column is one strided copy (C), not a format per time."""
    count, width = len(stamps), 19
    joined, out = b"".join(stamps), bytearray(width * count)
    for digit, place in enumerate(_ISO_DIGITS):
        out[place::width] = joined[digit::14]
    for place, char in _ISO_SEPARATORS:
        out[place::width] = char * count
    text = bytes(out)
    return [text[i : i + width] for i in range(0, width * count, width)]


class _LazyEntries(Sequence[Entry]):
    """The entries of a BLOB with no anomaly, decoded on first access."""

    __slots__ = ("_tags", "_cache", "_batches")

    def __init__(self, tags: TagList) -> None:
        self._tags = tags
        self._cache: list[Entry | None] = [None] * len(tags.raws)
        self._batches = bytearray(-(-len(tags.raws) // ENTRY_BATCH))  # 1: batch all made

    def __len__(self) -> int:
        return len(self._cache)

    @property
    def raws(self) -> list[bytes]:
        return self._tags.raws

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        if index < 0:
            index += len(self)
        entry = self._cache[index]  # IndexError as a list's
        if entry is None:
            entry = self._cache[index] = self._make(index, index + 1)[0]
        return entry

    def __iter__(self) -> Iterator[Entry]:
        cache = self._cache
        for batch, start in enumerate(range(0, len(cache), ENTRY_BATCH)):
            stop = start + ENTRY_BATCH
            if not self._batches[batch]:  # an entry already made is kept, not made again
                made = self._make(start, stop)
                cache[start:stop] = [
                    o if o is not None else m for o, m in zip(cache[start:stop], made, strict=True)
                ]
                self._batches[batch] = 1
            yield from cache[start:stop]  # type: ignore[misc]  # none is None any more

    def _make(self, start: int, stop: int) -> list[Entry]:
        """Entries ``start:stop``, made in one pass: what ``_decode`` makes of a clean tag
        (see :meth:`dicts`), its time parsed by ``datetime.fromisoformat`` (C) from the
        times converted in bulk."""
        raws, offsets = self._tags.raws[start:stop], self._tags.offsets[start:stop]
        times = b"".join(_iso_stamps([raw[_TS] for raw in raws])).decode("ascii")
        parse_time, ops, cts, new = datetime.fromisoformat, OPERATIONS, CONTENTS, _new_entry
        out = []
        for n, (offset, raw) in enumerate(zip(offsets, raws, strict=True)):
            text = raw.decode("ascii")
            uid = text[_UID]
            if "$" in uid:
                uid = _ESCAPE.sub(_escaped_byte, raw[_UID]).decode("ascii")
            out.append(
                new(
                    start + n,
                    offset,
                    ops[raw[_OP]],
                    cts[raw[_CT]],
                    parse_time(times[19 * n : 19 * n + 19]),
                    text[_UID],
                    uid,
                    text[_OP],
                    text[_CT],
                    text[_TS],
                    None,
                    True,
                    False,
                    (),
                    raw,
                )
            )
        return out

    def dicts(self, start: int, stop: int) -> list[dict[str, Any]]:
        """``Entry.to_dict`` of entries ``start:stop``, made from the tags in one pass.

        Every tag here is clean (see ``_CLEAN_TAG``): ASCII, a known operation and content,
        a valid time (written as ``datetime.isoformat`` would), a UID whose escapes are of
        printable ASCII; nothing else can differ from tag to tag.
        """
        raws, offsets = self._tags.raws[start:stop], self._tags.offsets[start:stop]
        ops, cts = OPERATIONS, CONTENTS
        out = []
        for index, (offset, raw) in enumerate(zip(offsets, raws, strict=True), start):
            text = raw.decode("ascii")
            ts, uid = text[_TS], text[_UID]
            out.append(
                {
                    "index": index,
                    "offset": offset,
                    "operation": ops[raw[_OP]],
                    "content": cts[raw[_CT]],
                    "timestamp": f"{ts[:4]}-{ts[4:6]}-{ts[6:8]}T{ts[8:10]}:{ts[10:12]}:{ts[12:]}",
                    "raw_timestamp": ts,
                    "raw_uid": uid,
                    "uid": uid
                    if "$" not in uid
                    else _ESCAPE.sub(_escaped_byte, raw[_UID]).decode("ascii"),
                    "uid_hex": None,
                    "raw_operation": text[_OP],
                    "raw_content": text[_CT],
                    "complete": True,
                    "beyond_count": False,
                    "anomalies": [],
                    "raw_tag_hex": None,
                }
            )
        return out

    def columns(self, start: int, stop: int) -> EntryColumns:
        """Entries ``start:stop`` as :class:`EntryColumns`, each field's list made in one
        pass over the tags (the fields and values of :meth:`dicts`)."""
        raws, offsets = self._tags.raws[start:stop], self._tags.offsets[start:stop]
        ops = {char: name.encode("ascii") for char, name in OPERATIONS.items()}
        cts = {char: name.encode("ascii") for char, name in CONTENTS.items()}
        ts = [raw[_TS] for raw in raws]
        uids = [raw[_UID] for raw in raws]
        return EntryColumns(
            self.dicts(start, start + 1)[0] if raws else {},
            {
                "index": list(map(b"%d".__mod__, range(start, start + len(raws)))),
                "offset": list(map(b"%d".__mod__, offsets)),
                "operation": [ops[raw[_OP]] for raw in raws],
                "content": [cts[raw[_CT]] for raw in raws],
                "timestamp": _iso_stamps(ts),
                "raw_timestamp": ts,
                "raw_uid": uids,
                "uid": [_ESCAPE.sub(_escaped_byte, u) if b"$" in u else u for u in uids]
                if b"$" in b"".join(uids)
                else uids,  # no escape in the batch: each UID is its raw UID
                "raw_operation": [raw[_OP] for raw in raws],
                "raw_content": [raw[_CT] for raw in raws],
            },
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"<{len(self)} entries>"


# --- the whole BLOB ---------------------------------------------------------------------


def parse_blob(data: bytes, strict: bool = False) -> PopHistory:
    """Decode a history BLOB. Lenient unless ``strict``: see the module docstring."""
    data = bytes(data)
    history = _parse(data, fast=True)
    problems = above_info(history.anomalies) if strict else []
    if problems:
        first = problems[0]
        raise StrictModeError(
            f"{len(problems)} anomal{'y' if len(problems) == 1 else 'ies'} above info"
            f" in the BLOB; first: {first.severity} {first.code} at offset {first.offset}: "
            f"{first.detail}"
        )
    return history


def _parse(data: bytes, fast: bool) -> PopHistory:
    if len(data) < HEADER_SIZE:
        field = PopBlobHeader.version  # the header's first field may still be whole
        version = field.parse(data) if len(data) >= field.sizeof() else None
        found = [] if version in (None, PBLOB_VERSION) else [_bad_version(version)]
        detail = f"{len(data)} byte(s): too short for the 4-byte header (Version, Count)"
        return PopHistory(version, None, (), (*found, Finding("truncated", 0, detail)))
    blob = PopBlob.parse(data)
    tags: TagList = blob.tags
    trailing, slack = blob.trailing, None
    if tags.complete and len(trailing) == slack_size(blob.count):
        trailing, slack = b"", trailing
    if fast and blob.version == PBLOB_VERSION and _clean(data, tags, trailing, slack):
        return PopHistory(blob.version, blob.count, _LazyEntries(tags), (), slack)
    return _parse_slow(data, blob.version, blob.count, tags, trailing, slack)


def _bad_version(version: int) -> Finding:
    return Finding("bad_version", 0, f"Version is {version}, expected {PBLOB_VERSION}")


def _parse_slow(
    data: bytes, version: int, count: int, tags: TagList, trailing: bytes, slack: bytes | None
) -> PopHistory:
    found: list[Finding] = []
    if version != PBLOB_VERSION:
        found.append(_bad_version(version))
    entries: list[Entry] = []
    uids: list[bytes] = []
    last = len(tags.raws) - 1
    for index, (offset, raw) in enumerate(zip(tags.offsets, tags.raws, strict=True)):
        entry, notes, uid = _decode(index, offset, raw, complete=not (tags.cut and index == last))
        entries.append(entry)
        found.extend(notes)
        uids.append(uid)
    if not tags.cut and len(tags.raws) < count:
        detail = f"Count says {count} tags, the BLOB holds {len(tags.raws)}"
        found.append(Finding("count_mismatch", 2, detail))
    if trailing:
        base = len(data) - len(trailing)
        pos = 0
        while (nul := trailing.find(b"\0", pos)) >= 0 and _well_formed(trailing[pos:nul]):
            entry, notes, uid = _decode(
                len(entries), base + pos, trailing[pos:nul], beyond_count=True
            )
            entries.append(entry)
            found.extend(notes)
            uids.append(uid)
            pos = nul + 1
        extra = len(entries) - len(tags.raws)
        if extra:
            detail = f"Count says {count} tags; {extra} more well-formed tag(s) follow them"
            found.append(Finding("count_mismatch", 2, detail))
        rest = trailing[pos:]
        if rest:
            what = "all NUL" if not rest.strip(b"\0") else f"starting {rest[:16].hex()}"
            detail = f"{len(rest)} bytes after the last tag ({what})"
            found.append(Finding("trailing_data", base + pos, detail))
    first_seen: dict[bytes, int] = {}
    for entry, uid in zip(entries, uids, strict=True):
        if not uid:
            continue
        seen = first_seen.setdefault(uid, entry.index)
        if seen != entry.index:
            entries[entry.index] = replace(entry, anomalies=(*entry.anomalies, "duplicate_uid"))
            found.append(
                Finding(
                    "duplicate_uid",
                    entry.offset + _UID.start,
                    f"tag #{entry.index}: UID also in tag #{seen} (offset {entries[seen].offset})",
                )
            )
    found.sort(key=lambda f: f.offset if f.offset is not None else -1)
    return PopHistory(version, count, tuple(entries), tuple(found), slack)


# --- building ---------------------------------------------------------------------------

# A tuple is make_tag's (operation, content, timestamp, uid).
TagInput = Entry | bytes | tuple[str, str, str | datetime, str | bytes]


def make_tag(
    operation: str,
    content: str,
    timestamp: datetime | str,
    uid: str | bytes,
    *,
    escaped: bool = False,
) -> bytes:
    """One resource tag's bytes (without its NUL).

    ``operation``/``content`` are names (``get``, ``body``...) or the stored characters;
    ``timestamp`` a naive datetime or the 14 stored characters (any text, to make a bad
    date); ``uid`` the real UID, escaped here unless ``escaped`` says it already is.
    """
    op = _OP_NAMES.get(operation) or operation.encode("utf-8")
    ct = _CONTENT_NAMES.get(content) or content.encode("utf-8")
    if isinstance(timestamp, datetime):
        t = timestamp
        ts = f"{t.year:04d}{t.month:02d}{t.day:02d}{t.hour:02d}{t.minute:02d}{t.second:02d}"
    else:
        ts = timestamp
    if escaped:
        stored = uid if isinstance(uid, bytes) else uid.encode("utf-8")
    else:
        stored = escape_uid(uid).encode("ascii")
    return op + ct + ts.encode("utf-8") + stored


def build_blob(
    entries: Iterable[TagInput],
    version: int = PBLOB_VERSION,
    count: int | None = None,
    trailing: bytes = b"",
) -> bytes:
    """A BLOB from entries, through the declared structure.

    Each item is an :class:`Entry` (its stored bytes are written back exactly), the bytes
    of one tag, or a ``(operation, content, timestamp, uid)`` tuple for :func:`make_tag`.
    ``count`` overrides the Count field (to make a mismatch) and ``trailing`` appends bytes
    after the last tag. A truncated BLOB is a built one cut short.
    """
    raws: list[bytes] = []
    for item in entries:
        if isinstance(item, Entry):
            raw = item.raw_tag
        elif isinstance(item, (bytes, bytearray)):
            raw = bytes(item)
        else:
            raw = make_tag(*item)
        if len(raw) < FIXED_TAG_SIZE or b"\0" in raw:
            raise ValueError(
                f"tag {raw[:40]!r} has fewer than {FIXED_TAG_SIZE} bytes or a "
                "NUL; write such bytes with trailing= or by editing the BLOB"
            )
        raws.append(raw)
    count = len(raws) if count is None else count
    if not 0 <= count <= MAX_TAGS or not 0 <= version <= 0xFFFF:
        raise ValueError(f"Count {count} or Version {version} does not fit in 16 bits")
    built: bytes = PopBlob.build(  # construct's build is untyped; it gives bytes
        {
            "version": version,
            "count": count,
            "tags": [tag_fields(raw) for raw in raws],
            "trailing": trailing,
        }
    )
    return built
