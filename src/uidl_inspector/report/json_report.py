"""The JSON report: the contract of docs/report-schema.md (keys in the order the model's
``to_dict`` methods give them, ASCII only whatever a hostile UID holds, one text per input
but for ``run`` and ``generated_at``).

The text is produced in pieces (:func:`json_chunks`): each top-level section, and each
history and source of a report on its own, encoded by orjson (C) and indented as
``json.dumps(indent=2)`` would, so memory never holds the whole report as one dict tree or
one string, and the bytes are those of the standard library's encoder.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice, repeat
from typing import Any, TypeVar

import orjson

from uidl_inspector.history import EntryColumns, PopHistory
from uidl_inspector.records import HistoryRecord
from uidl_inspector.report.model import Report

__all__ = ["json_chunks", "encode_json", "entries_json", "VOLATILE_KEYS"]

VOLATILE_KEYS = ("generated_at", "run")  # the only keys allowed to differ between runs
_OPTIONS = (
    orjson.OPT_INDENT_2
    | orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not part of the report contract")


def _escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 | code >> 10:04x}\\u{0xDC00 | code & 0x3FF:04x}"


def encode_json(value: Any, indent: int = 0) -> bytes:
    """``value`` as ASCII JSON, as ``json.dumps(indent=2, ensure_ascii=True)`` gives it,
    each line after the first indented by ``indent`` more spaces."""
    try:
        data = orjson.dumps(value, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits: the standard encoder
        data = json.dumps(
            value, indent=2, ensure_ascii=True, allow_nan=False, default=_default
        ).encode("ascii")
    if not data.isascii():
        data = _NON_ASCII.sub(_escape, data.decode("utf-8")).encode("ascii")
    if indent and b"\n" in data:
        data = data.replace(b"\n", b"\n" + b" " * indent)
    return data


ITEM_BATCH = 4096  # list items encoded by one orjson call


def _list(items: Iterable[Any], indent: int = 2) -> Iterator[bytes]:
    """A list whose key sits at ``indent``, its items encoded a batch at a time (a
    history on its own): the items of ``encode_json(batch, indent)`` are those of the
    whole list, so a batch's text without its brackets is its part of the list."""
    first = True
    pad, close = b"\n" + b" " * (indent + 2), b"\n" + b" " * indent + b"]"
    batch: list[Any] = []
    for item in items:
        if not isinstance(item, HistoryRecord):
            batch.append(item)
            if len(batch) < ITEM_BATCH:
                continue
        if batch:
            yield (b"[" if first else b",") + encode_json(batch, indent)[1 : -len(close)]
            first, batch = False, []
        if isinstance(item, HistoryRecord):
            yield (b"[" if first else b",") + pad
            yield from _history(item)
            first = False
    if batch:
        yield (b"[" if first else b",") + encode_json(batch, indent)[1 : -len(close)]
        first = False
    yield b"[]" if first else close


def _sections(sections: Iterable[tuple[str, Any]], indent: int) -> Iterator[bytes]:
    """An object whose key sits at ``indent``: the report, or a section made of sections
    (``json_sections()``: the audit's); each list in it, or iterator, is written item by
    item."""
    first = True
    pad = b"\n" + b" " * (indent + 2)
    for key, value in sections:
        yield (b"{" if first else b",") + pad + encode_json(key) + b": "
        first = False
        if isinstance(value, (Iterator, list)):
            yield from _list(value, indent + 2)
        elif hasattr(value, "json_sections"):
            yield from _sections(value.json_sections(), indent + 2)
        else:
            yield encode_json(value, indent + 2)
    yield b"{}" if first else b"\n" + b" " * indent + b"}"


_ENTRIES_END = b"\n      ]"  # the closing bracket of a history's entries


def _history(record: HistoryRecord) -> Iterator[bytes]:
    """One history (a top-level list item), its entries encoded a batch at a time (or
    as encoded beforehand: ``HistoryRecord.entries_json``)."""
    head, _, tail = encode_json(record.to_dict(entries=False), 4).partition(
        b'"entries": []'
    )  # the first such text: strings before it escape their quotes
    yield head + b'"entries": '
    if record.entries_json is not None:
        yield record.entries_json
    else:
        yield from _entries(record.history)
    yield tail


def _entries(history: PopHistory) -> Iterator[bytes]:
    """A history's ``entries`` list as it sits in a report, a batch at a time."""
    first = True
    for items in _entry_batches(history):
        yield (b"[" if first else b",") + items
        first = False
    yield b"[]" if first else _ENTRIES_END


def entries_json(history: PopHistory) -> bytes:
    """A history's ``entries`` list as the report writes it (for ``entries_json``)."""
    return b"".join(_entries(history))


def _entry_batches(history: PopHistory) -> Iterator[bytes]:
    """Each batch of a history's entries as the items of its ``entries`` list (without
    ``[`` and ``]``): a clean BLOB's by joining its columns (:func:`_column_items`),
    any other's by encoding its entries' dicts."""
    batches, done = history.entry_columns(), 0
    for batch in batches or ():
        items = _column_items(batch)
        if items is None:
            break
        yield items
        done += 1
    else:
        if batches is not None:
            return
    for dicts in islice(history.entry_dicts(), done, None):
        yield encode_json(dicts, 6)[1 : -len(_ENTRIES_END)]  # the items, without [ and ]


_FIELD = re.compile(rb'"@@field:([a-z_]+)@@"')  # a varying field's place in the template


def _column_items(batch: EntryColumns) -> bytes | None:
    """The batch's entries as :func:`encode_json` writes them (as list items at indent
    6), joined in C from the text around each varying field and the columns; None when
    the template does not give back the first entry's own encoding (then the caller
    encodes dicts)."""
    if not batch.first:
        return None
    marked = {
        key: f"@@field:{key}@@" if key in batch.columns else value
        for key, value in batch.first.items()
    }
    parts = _FIELD.split(encode_json([marked], 6)[1 : -len(_ENTRIES_END)])
    keys, around = [key.decode("ascii") for key in parts[1::2]], parts[0::2]
    if keys != list(batch.columns):
        return None
    columns = []
    for i, key in enumerate(keys):
        column = batch.columns[key]
        if isinstance(batch.first[key], str):  # text: quoted, its quotes and \ escaped
            around[i] += b'"'
            around[i + 1] = b'"' + around[i + 1]
            joined = b"".join(column)
            if b'"' in joined or b"\\" in joined:
                column = [v.replace(b"\\", b"\\\\").replace(b'"', b'\\"') for v in column]
        columns.append(column)
    streams: list[Iterable[bytes]] = [repeat(around[0])]
    for column, text in zip(columns, around[1:], strict=True):
        streams += [column, repeat(text)]
    entries = list(map(b"".join, zip(*streams, strict=False)))  # repeat() never ends
    if entries[0] != encode_json([batch.first], 6)[1 : -len(_ENTRIES_END)]:
        return None
    return b",".join(entries)


def json_chunks(report: Report | dict[str, Any]) -> Iterator[bytes]:
    """The report's JSON text in pieces, ending with a newline (see the module's note)."""
    if isinstance(report, Report):
        head = report.to_dict_head()
        sections: Iterable[tuple[str, Any]] = [
            *head.items(),
            ("sources", (s.to_dict() for s in report.sources)),
            ("histories", iter(report.histories)),
            *report.extra.items(),
        ]
    else:
        sections = report.items()
    yield from _sections(sections, 0)
    yield b"\n"


HISTORIES_END = b"\n  ]"  # the closing bracket of a report's histories list


def history_items(records: Iterable[HistoryRecord], first: bool) -> Iterator[bytes]:
    """``records`` as items of a report's ``histories`` list, as :func:`json_chunks`
    writes them (each after its ``[`` or ``,``; ``first``: they open the list), without
    the list's end (:data:`HISTORIES_END`, or ``[]`` for an empty list), in pieces (an
    entries text as it is, not copied): for a writer that writes the histories ahead,
    as each input's arrive."""
    pieces = _list(records)
    opening = next(pieces)
    if opening == b"[]":
        return
    yield opening if first else b"," + opening[1:]
    ahead = next(pieces)
    for piece in pieces:  # all but the list's end
        yield ahead
        ahead = piece


H = TypeVar("H")


def json_chunks_spooled(report: Report, histories: H) -> Iterator[bytes | H]:
    """:func:`json_chunks` of ``report`` with ``histories`` (the whole ``histories``
    list, written ahead: see :func:`history_items`) in place of its own histories."""
    chunks = json_chunks(dataclasses.replace(report, histories=[]))
    key = b',\n  "histories": '
    spliced = False
    for chunk in chunks:
        yield chunk
        if chunk == key:
            empty = next(chunks)
            if empty != b"[]":  # json_chunks changed its pieces: this must change too
                raise AssertionError(f"histories written as {empty[:20]!r}")
            yield histories
            spliced = True
    if not spliced:
        raise AssertionError("json_chunks wrote no histories key")
