"""A test-only witness: libpff's public C API, called through ctypes on pypff's extension.

pypff gives a hidden message of unknown class (``IPM.MessageManager``) as a bare item with
no attachment access, and libpff's associated-contents accessor fails on some real stores.
The C API still walks the item tree (``libpff_item_get_sub_item``, which includes hidden
items) and reads attachments of any message, so this oracle checks our BLOBs with an
implementation we did not write. Signatures follow libyal/libpff ``include/libpff.h.in``.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pypff

__all__ = ["LibpffError", "HiddenAttachment", "HiddenMessage", "hidden_messages", "recovered_items"]

_LIB = ctypes.CDLL(pypff.__file__)
_P = ctypes.c_void_p
_PP = ctypes.POINTER(ctypes.c_void_p)

_ACCESS_READ = 0x01  # LIBPFF_ACCESS_FLAG_READ
_ATTACHMENT_TYPE_DATA = ord("d")
_ATTACHMENT_TYPE_ITEM = ord("i")
_NID_TYPE_ASSOCIATED = 0x08
_MAX_DEPTH = 64  # folder nesting bound; the file's own pointers are followed
_MAX_EMBEDDED = 8
_NO_FLAGS = 0  # binary lookups take no LIBPFF_ENTRY_VALUE_FLAG_* here

_SIGNATURES: dict[str, tuple[type, list[type]]] = {
    "libpff_error_free": (None, [_PP]),
    "libpff_error_sprint": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_size_t]),
    "libpff_file_initialize": (ctypes.c_int, [_PP, _PP]),
    "libpff_file_free": (ctypes.c_int, [_PP, _PP]),
    "libpff_file_open": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int, _PP]),
    "libpff_file_close": (ctypes.c_int, [_P, _PP]),
    "libpff_file_get_root_item": (ctypes.c_int, [_P, _PP, _PP]),
    "libpff_item_free": (ctypes.c_int, [_PP, _PP]),
    "libpff_item_get_identifier": (ctypes.c_int, [_P, ctypes.POINTER(ctypes.c_uint32), _PP]),
    "libpff_item_get_number_of_sub_items": (ctypes.c_int, [_P, ctypes.POINTER(ctypes.c_int), _PP]),
    "libpff_item_get_sub_item": (ctypes.c_int, [_P, ctypes.c_int, _PP, _PP]),
    "libpff_item_get_entry_value_binary_data_size": (
        ctypes.c_int,
        [_P, ctypes.c_int, ctypes.c_uint32, ctypes.POINTER(ctypes.c_size_t), ctypes.c_uint8, _PP],
    ),
    "libpff_item_get_entry_value_binary_data": (
        ctypes.c_int,
        [_P, ctypes.c_int, ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint8, _PP],
    ),
    "libpff_message_get_entry_value_utf8_string_size": (
        ctypes.c_int,
        [_P, ctypes.c_uint32, ctypes.POINTER(ctypes.c_size_t), _PP],
    ),
    "libpff_message_get_entry_value_utf8_string": (
        ctypes.c_int,
        [_P, ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t, _PP],
    ),
    "libpff_message_get_number_of_attachments": (
        ctypes.c_int,
        [_P, ctypes.POINTER(ctypes.c_int), _PP],
    ),
    "libpff_message_get_attachment": (ctypes.c_int, [_P, ctypes.c_int, _PP, _PP]),
    "libpff_attachment_get_type": (ctypes.c_int, [_P, ctypes.POINTER(ctypes.c_int), _PP]),
    "libpff_attachment_get_data_size": (ctypes.c_int, [_P, ctypes.POINTER(ctypes.c_uint64), _PP]),
    "libpff_attachment_data_read_buffer": (
        ctypes.c_ssize_t,
        [_P, ctypes.c_char_p, ctypes.c_size_t, _PP],
    ),
    "libpff_attachment_get_item": (ctypes.c_int, [_P, _PP, _PP]),
    "libpff_file_recover_items": (ctypes.c_int, [_P, ctypes.c_int, _PP]),
    "libpff_file_get_number_of_recovered_items": (
        ctypes.c_int,
        [_P, ctypes.POINTER(ctypes.c_int), _PP],
    ),
    "libpff_file_get_recovered_item_by_index": (ctypes.c_int, [_P, ctypes.c_int, _PP, _PP]),
}
for _name, (_restype, _argtypes) in _SIGNATURES.items():
    _function = getattr(_LIB, _name)
    _function.restype = _restype
    _function.argtypes = _argtypes


class LibpffError(RuntimeError):
    """libpff returned -1; the message is libpff's own error text."""


def _call(name: str, *args: object) -> int:
    """Call a libpff function whose last argument is ``libpff_error_t **``; raise on -1."""
    error = ctypes.c_void_p()
    result = getattr(_LIB, name)(*args, ctypes.byref(error))
    if result == -1:
        text = ctypes.create_string_buffer(2048)
        _LIB.libpff_error_sprint(error, text, len(text))
        _LIB.libpff_error_free(ctypes.byref(error))
        raise LibpffError(f"{name}: {text.value.decode('utf-8', 'replace')}")
    return result


def _free_item(item: ctypes.c_void_p) -> None:
    if item:
        _call("libpff_item_free", ctypes.byref(item))


@dataclass(frozen=True)
class HiddenAttachment:
    """One attachment as libpff reads it; ``embedded`` holds an attached message's own."""

    index: int
    kind: str  # data | item | other
    data: bytes | None = None
    embedded: tuple[HiddenAttachment, ...] = ()
    long_filename: str | None = None  # PidTagAttachLongFilename (0x3707)
    filename: str | None = None  # PidTagAttachFilename (0x3704)
    display_name: str | None = None  # PidTagDisplayName (0x3001)


@dataclass(frozen=True)
class HiddenMessage:
    nid: int
    message_class: str | None
    subject: str | None
    conversation_key: bytes | None
    search_key: bytes | None
    attachments: tuple[HiddenAttachment, ...] = field(default_factory=tuple)

    def blobs(self) -> dict[tuple[int, ...], bytes]:
        """Every data attachment's bytes keyed by its path of attachment indexes."""
        out: dict[tuple[int, ...], bytes] = {}

        def visit(attachments: tuple[HiddenAttachment, ...], path: tuple[int, ...]) -> None:
            for attachment in attachments:
                if attachment.data is not None:
                    out[path + (attachment.index,)] = attachment.data
                visit(attachment.embedded, path + (attachment.index,))

        visit(self.attachments, ())
        return out


def _string(item: ctypes.c_void_p, entry_type: int) -> str | None:
    size = ctypes.c_size_t()
    if (
        _call(
            "libpff_message_get_entry_value_utf8_string_size", item, entry_type, ctypes.byref(size)
        )
        != 1
    ):
        return None
    if size.value <= 1:  # an empty string (stored as HNID 0): libpff cannot copy it out
        return ""
    buffer = ctypes.create_string_buffer(size.value)
    _call("libpff_message_get_entry_value_utf8_string", item, entry_type, buffer, size.value)
    return buffer.raw[: max(size.value - 1, 0)].decode("utf-8")


def _binary(item: ctypes.c_void_p, entry_type: int) -> bytes | None:
    size = ctypes.c_size_t()
    if (
        _call(
            "libpff_item_get_entry_value_binary_data_size",
            item,
            0,
            entry_type,
            ctypes.byref(size),
            _NO_FLAGS,
        )
        != 1
    ):
        return None
    buffer = ctypes.create_string_buffer(max(size.value, 1))
    _call(
        "libpff_item_get_entry_value_binary_data",
        item,
        0,
        entry_type,
        buffer,
        size.value,
        _NO_FLAGS,
    )
    return buffer.raw[: size.value]


def _attachment_data(attachment: ctypes.c_void_p) -> bytes | None:
    size = ctypes.c_uint64()
    if _call("libpff_attachment_get_data_size", attachment, ctypes.byref(size)) != 1:
        return None
    buffer = ctypes.create_string_buffer(max(size.value, 1))
    read = _call("libpff_attachment_data_read_buffer", attachment, buffer, size.value)
    if read != size.value:
        raise LibpffError(f"short attachment read: {read} of {size.value} bytes")
    return buffer.raw[: size.value]


def _attachments(message: ctypes.c_void_p, depth: int) -> tuple[HiddenAttachment, ...]:
    count = ctypes.c_int()
    _call("libpff_message_get_number_of_attachments", message, ctypes.byref(count))
    out = []
    for index in range(count.value):
        attachment = ctypes.c_void_p()
        _call("libpff_message_get_attachment", message, index, ctypes.byref(attachment))
        try:
            kind = ctypes.c_int()
            _call("libpff_attachment_get_type", attachment, ctypes.byref(kind))
            names = {
                "long_filename": _string(attachment, 0x3707),
                "filename": _string(attachment, 0x3704),
                "display_name": _string(attachment, 0x3001),
            }
            if kind.value == _ATTACHMENT_TYPE_DATA:
                out.append(HiddenAttachment(index, "data", _attachment_data(attachment), **names))
            elif kind.value == _ATTACHMENT_TYPE_ITEM and depth < _MAX_EMBEDDED:
                inner = ctypes.c_void_p()
                _call("libpff_attachment_get_item", attachment, ctypes.byref(inner))
                try:
                    out.append(
                        HiddenAttachment(
                            index, "item", embedded=_attachments(inner, depth + 1), **names
                        )
                    )
                finally:
                    _free_item(inner)
            else:
                out.append(HiddenAttachment(index, "other", **names))
        finally:
            _free_item(attachment)
    return tuple(out)


def _hidden_message(item: ctypes.c_void_p, nid: int) -> HiddenMessage:
    return HiddenMessage(
        nid=nid,
        message_class=_string(item, 0x001A),
        subject=_string(item, 0x0037),
        conversation_key=_binary(item, 0x000B),
        search_key=_binary(item, 0x300B),
        attachments=_attachments(item, 0),
    )


@contextmanager
def _opened(path: str | Path) -> Iterator[ctypes.c_void_p]:
    """A libpff file handle open for reading, closed and freed after use."""
    handle = ctypes.c_void_p()
    _call("libpff_file_initialize", ctypes.byref(handle))
    try:
        _call("libpff_file_open", handle, str(path).encode(), _ACCESS_READ)
        try:
            yield handle
        finally:
            _call("libpff_file_close", handle)
    finally:
        _call("libpff_file_free", ctypes.byref(handle))


def hidden_messages(path: str | Path) -> list[HiddenMessage]:
    """Every associated (NID type 0x08) message in the store, with its attachments' bytes,
    in libpff's item-tree order."""
    found: list[HiddenMessage] = []
    with _opened(path) as handle:
        root = ctypes.c_void_p()
        if _call("libpff_file_get_root_item", handle, ctypes.byref(root)) == 1:
            _walk(root, 0, set(), found)
    return found


def _walk(item: ctypes.c_void_p, depth: int, seen: set[int], found: list[HiddenMessage]) -> None:
    """Depth-first over sub items, freeing each; bounded by depth and a visited set."""
    try:
        count = ctypes.c_int()
        _call("libpff_item_get_number_of_sub_items", item, ctypes.byref(count))
        for index in range(count.value):
            sub = ctypes.c_void_p()
            _call("libpff_item_get_sub_item", item, index, ctypes.byref(sub))
            identifier = ctypes.c_uint32()
            _call("libpff_item_get_identifier", sub, ctypes.byref(identifier))
            nid = identifier.value
            if nid in seen or depth >= _MAX_DEPTH:
                _free_item(sub)
                continue
            seen.add(nid)
            if nid & 0x1F == _NID_TYPE_ASSOCIATED:
                try:
                    found.append(_hidden_message(sub, nid))
                finally:
                    _free_item(sub)
            else:
                _walk(sub, depth + 1, seen, found)
    finally:
        _free_item(item)


def _quiet(read: object, item: ctypes.c_void_p, entry_type: int) -> object:
    try:
        return read(item, entry_type)  # type: ignore[operator]
    except LibpffError:
        return None


def recovered_items(path: str | Path, flags: int = 0) -> list[HiddenMessage]:
    """The items libpff's own recovery (``libpff_file_recover_items``) finds in unused space.

    Attachments are read when libpff can (a recovered item's subnodes may be gone).
    ``flags``: LIBPFF_RECOVERY_FLAG_IGNORE_ALLOCATION_DATA (1), ..._SCAN_FOR_FRAGMENTS (2).
    """
    found: list[HiddenMessage] = []
    with _opened(path) as handle:
        _call("libpff_file_recover_items", handle, flags)
        count = ctypes.c_int()
        _call("libpff_file_get_number_of_recovered_items", handle, ctypes.byref(count))
        for index in range(count.value):
            item = ctypes.c_void_p()
            _call("libpff_file_get_recovered_item_by_index", handle, index, ctypes.byref(item))
            try:
                identifier = ctypes.c_uint32()
                _call("libpff_item_get_identifier", item, ctypes.byref(identifier))
                try:
                    found.append(_hidden_message(item, identifier.value))
                except LibpffError:  # values libpff cannot read are left out
                    found.append(
                        HiddenMessage(
                            identifier.value,
                            _quiet(_string, item, 0x001A),
                            _quiet(_string, item, 0x0037),
                            _quiet(_binary, item, 0x000B),
                            _quiet(_binary, item, 0x300B),
                        )
                    )
            finally:
                _free_item(item)
    return found
