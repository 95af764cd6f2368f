"""Cross-engine check: our hidden-message inventory against libpff's, item by item.

Two independent readers agreeing on which hidden messages a store holds, and on their class,
subject and keys, is what lets a report stand in court. libpff's Python binding (pypff) has
no accessor for associated contents, so its items are taken from each folder's
``sub_items`` (children by nidParent) keeping those whose NID type is 0x08. It costs a full
libpff open, which is why ``scan`` only does it with ``--verify``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, BinaryIO, Literal, TypedDict

from uidl_inspector.records import HiddenRow
from uidl_inspector.schemas.mapi import PropId, PropType, decode_string
from uidl_inspector.schemas.ndb import NID_TYPE_ASSOC_MESSAGE, nid_type
from uidl_inspector.store.model import MAX_FOLDER_DEPTH

__all__ = ["libpff_hidden", "cross_check", "FIELDS", "LIBPFF_FAILURES", "LibpffRow"]

Field = Literal["message_class", "subject", "conversation_key", "search_key"]
FIELDS: tuple[Field, ...] = ("message_class", "subject", "conversation_key", "search_key")
_WANTED: dict[int, Field] = {
    PropId.MESSAGE_CLASS: "message_class",
    PropId.SUBJECT: "subject",
    PropId.CONVERSATION_KEY: "conversation_key",
    PropId.SEARCH_KEY: "search_key",
}


class LibpffRow(TypedDict):
    """One hidden item as libpff lists it, in the shape of a :class:`HiddenRow`."""

    folder: str
    nid: int
    message_class: str | None
    subject: str | None
    conversation_key: str | None  # hex
    search_key: str | None  # hex


def _entry_value(entry: Any, codec: str) -> str | None:  # entry: a pypff record entry
    """A string as text; any other type (keys are binary) as hex, so rows stay JSON."""
    data: bytes | None = entry.data
    if not data:
        return None if data is None or entry.value_type == PropType.BINARY else ""
    if entry.value_type in (PropType.UNICODE, PropType.STRING8):
        return decode_string(entry.value_type, data, codec)
    return data.hex()


def _item_row(item: Any, folder: str, codec: str) -> LibpffRow:  # item: a pypff item
    row = LibpffRow(
        folder=folder,
        nid=item.identifier,
        message_class=None,
        subject=None,
        conversation_key=None,
        search_key=None,
    )
    for index in range(item.number_of_record_sets):
        record_set = item.get_record_set(index)
        for position in range(record_set.number_of_entries):
            entry = record_set.get_entry(position)
            name = _WANTED.get(entry.entry_type)
            if name is not None and row[name] is None:
                row[name] = _entry_value(entry, codec)
    subject = row["subject"]  # as stored, it may start with 0x01 and the prefix's length
    if subject and subject[0] == "\x01" and len(subject) >= 2:  # ([MS-PST] 2.5.3)
        row["subject"] = subject[2:]
    return row


# pypff reports libpff's failures as IOError/OSError, and as MemoryError when it "is unable
# to create" an item object from a damaged node: both mean "libpff could not read this".
LIBPFF_FAILURES = (OSError, MemoryError, ValueError)


def libpff_hidden(
    path: str | BinaryIO, codec: str = "cp1252", errors: list[str] | None = None
) -> list[LibpffRow]:
    """Every hidden item libpff lists: nid, folder path, class, subject and keys (hex).

    ``codec`` decodes String8 values (ANSI stores). An item or folder libpff cannot read
    is skipped and described in ``errors``. Raises OSError if libpff cannot open the file.
    """
    import pypff

    errors = errors if errors is not None else []
    handle = pypff.file()
    if isinstance(path, str):
        handle.open(path, "r")
    else:  # a store inside a disk image, read in place
        handle.open_file_object(path, "r")
    try:
        rows: list[LibpffRow] = []
        seen: set[int] = set()
        stack = [(handle.get_root_folder(), "", 0)]
        while stack:
            folder, folder_path, depth = stack.pop()
            where = f"folder {folder_path or '(root)'}"
            try:
                if folder.identifier in seen or depth > MAX_FOLDER_DEPTH:
                    continue
                seen.add(folder.identifier)
                count = folder.number_of_sub_items
                children = [folder.get_sub_folder(i) for i in range(folder.number_of_sub_folders)]
            except LIBPFF_FAILURES as exc:
                errors.append(f"{where}: {_one_line(exc)}")
                continue
            for index in range(count):
                try:
                    item = folder.get_sub_item(index)
                    if nid_type(item.identifier) == NID_TYPE_ASSOC_MESSAGE:
                        rows.append(_item_row(item, folder_path, codec))
                except LIBPFF_FAILURES as exc:
                    errors.append(f"{where} item {index}: {_one_line(exc)}")
            for child in reversed(children):
                try:
                    name = child.name or ""
                except LIBPFF_FAILURES:
                    name = ""
                stack.append(
                    (child, f"{folder_path}/{name}" if folder_path or depth else name, depth + 1)
                )
        return rows
    finally:
        handle.close()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def cross_check(ours: Sequence[HiddenRow], path: str | BinaryIO) -> dict[str, Any]:
    """Compare ``ours`` (rows of locate.hidden_inventory) with libpff's inventory of
    ``path``: the report's ``cross_check`` section, whose keys docs/report-schema.md lists."""
    import pypff

    result: dict[str, Any] = {
        "engine": f"libpff {pypff.get_version()}",
        "agreed": 0,
        "disagreements": [],
        "only_ours": [],
        "only_libpff": [],
    }
    errors: list[str] = []
    try:
        theirs = libpff_hidden(path, errors=errors)
    except LIBPFF_FAILURES as exc:
        result["error"] = _one_line(exc)
        return result
    if errors:
        result["libpff_errors"] = errors
    by_nid = {row["nid"]: row for row in theirs}
    mine = {row["nid"]: row for row in ours}
    for nid, row in mine.items():
        other = by_nid.get(nid) if nid is not None else None  # an MSG row has no NID
        if other is None:
            result["only_ours"].append(_brief(row))
            continue
        differing = [name for name in FIELDS if _normal(name, row) != other[name]]
        for name in differing:
            result["disagreements"].append(
                {"nid": nid, "field": name, "ours": _normal(name, row), "libpff": other[name]}
            )
        result["agreed"] += not differing
    result["only_libpff"] = [_brief(row) for nid, row in by_nid.items() if nid not in mine]
    return result


def _normal(name: Field, row: HiddenRow) -> str | None:
    value = row[name]
    return value if value != "" or name in ("subject", "message_class") else None


def _brief(row: HiddenRow | LibpffRow) -> dict[str, Any]:
    return {
        "nid": row["nid"],
        "folder": row["folder"],
        "message_class": row["message_class"],
        "subject": row["subject"],
    }
