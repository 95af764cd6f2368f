"""Find every POP3 download history in a store, with the documented rule that found it.

A copied store comes without Outlook's profile, so instead of picking one Message Manager
as Outlook does, every folder's ``IPM.MessageManager`` candidates are examined and each is
annotated with every rule it satisfies; a content sweep then reports any attachment whose
bytes are a version-3 history (``deep=True``: of every message). Rules: docs/locating.md.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from uidl_inspector.exceptions import UidlInspectorError
from uidl_inspector.findings import Finding
from uidl_inspector.history import PopHistory, parse_blob
from uidl_inspector.records import (
    Account,
    AttachmentRow,
    Companion,
    HiddenRow,
    HistoryRecord,
    Location,
    Profile,
)
from uidl_inspector.schemas.mapi import PropId
from uidl_inspector.store.detect import looks_like_pop_blob
from uidl_inspector.store.model import (
    MAX_EMBED_DEPTH,
    Attachment,
    Folder,
    Message,
    Store,
    read_error,
    walk_folders,
)

__all__ = [
    "MANAGER_CLASS",
    "GENERAL_KEY_NAME",
    "GENERAL_KEY",
    "Candidate",
    "LocateResult",
    "parse_manager_subject",
    "message_rules",
    "attachment_rule",
    "locate",
    "locate_message",
    "hidden_inventory",
    "hidden_row",
    "store_key",
    "with_store_key",
    "is_manager_class",
]

MANAGER_CLASS = "IPM.MessageManager"
GENERAL_KEY_NAME = "General Key"
GENERAL_KEY = b"General Key\0"

_SUBJECT = re.compile(
    r"^Outlook Message Manager \((?P<name>.*)\) \(KEY: (?P<key>[0-9A-Fa-f]*)\)$", re.DOTALL
)
_MINI_UID = re.compile(r"^Blob(?P<uid>[0-9a-f]{8})$")
_BLOB_POP = "BlobPOP"


def parse_manager_subject(subject: str | None) -> tuple[str, bytes] | None:
    """Profile name and search key from ``Outlook Message Manager (<name>) (KEY: <hex>)``.

    The name may itself hold parentheses: it runs to the last ``) (KEY: ``.
    """
    if not subject:
        return None
    match = _SUBJECT.match(subject.rstrip("\0"))
    if not match or len(match.group("key")) % 2:
        return None
    return match.group("name"), bytes.fromhex(match.group("key"))


def _binary(props: Mapping[int, object], pid: int) -> bytes | None:
    value = props.get(pid)
    return value if isinstance(value, bytes) and value else None


def store_key(props: Mapping[int, object], pid: int = PropId.RECORD_KEY) -> str | None:
    """The store's identity as hex: its PidTagRecordKey (for a message, the
    PidTagStoreRecordKey naming the store that held it), kept by every copy of the store."""
    value = _binary(props, pid)
    return value.hex() if value else None


def with_store_key(records: list[HistoryRecord], key: str | None) -> list[HistoryRecord]:
    return [replace(r, store_key=key) for r in records]


def _text(props: Mapping[int, object], pid: int) -> str | None:
    value = props.get(pid)
    return value.rstrip("\0") if isinstance(value, str) else None


@dataclass(frozen=True)
class Candidate:
    """A Message Manager as found: the rules it satisfies and the profile it reveals."""

    folder: str
    nid: int | None
    message_class: str | None
    subject: str | None
    rules: tuple[str, ...]  # in Outlook's order; empty: matched by class alone
    profile: Profile

    @property
    def match_rule(self) -> str:
        return self.rules[0] if self.rules else "message_class"

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "nid": self.nid,
            "message_class": self.message_class,
            "subject": self.subject,
            "match_rule": self.match_rule,
            "rules": list(self.rules),
            "profile": self.profile.to_dict(),
        }


def message_rules(props: Mapping[int, object]) -> tuple[tuple[str, ...], Profile]:
    """Which identification rules a Message Manager's properties satisfy, and its profile.

    Without the analyst's profile, ``conversation_key`` means PidTagConversationKey is set
    (it holds the profile's search key), and ``search_key`` means PidTagSearchKey equals a
    key revealed by the conversation key or the subject (every message has a search key of
    its own, which identifies nothing).
    """
    conversation = _binary(props, PropId.CONVERSATION_KEY)
    search = _binary(props, PropId.SEARCH_KEY)
    parsed = parse_manager_subject(_text(props, PropId.SUBJECT))
    revealed = [k for k in (conversation, parsed[1] if parsed else None) if k]
    name = parsed[0] if parsed else None
    general = name == GENERAL_KEY_NAME or GENERAL_KEY in revealed
    holds = {  # in Outlook's order
        "general_key": general or (search == GENERAL_KEY and not revealed),
        "conversation_key": bool(conversation),
        "search_key": bool(search) and search in revealed,
        "subject": bool(parsed),
    }
    rules = tuple(rule for rule, held in holds.items() if held)
    key = (
        conversation
        or (parsed[1] if parsed else None)
        or (search if "general_key" in rules else None)
    )
    return rules, Profile(name, key.hex() if key else None)


def attachment_rule(props: Mapping[int, object]) -> tuple[str | None, str | None, Account]:
    """(rule, name, account) for one attachment by Outlook's naming rules; rule None if none.

    ``name`` is the name the rule read, else the first of long filename, filename and
    display name that is set. Real Outlook names one attachment both ways (``Blob<8 hex>``
    as filename, ``BlobPOP<email>`` as long filename): the account then has both.
    """
    long_name = _text(props, PropId.ATTACH_LONG_FILENAME)
    short_name = _text(props, PropId.ATTACH_FILENAME)
    display = _text(props, PropId.DISPLAY_NAME)
    mini = _MINI_UID.match(short_name) if short_name else None
    mini_uid = mini.group("uid") if mini else None
    for rule, name in (
        ("long_filename", long_name),
        ("filename", short_name),
        ("display_name", display),
    ):
        if name and name.startswith(_BLOB_POP) and len(name) > len(_BLOB_POP):
            return rule, name, Account(email=name[len(_BLOB_POP) :], mini_uid=mini_uid)
    if mini:
        return "mini_uid", short_name, Account(mini_uid=mini_uid)
    return None, long_name or short_name or display, Account()


def _companion(att: Attachment, data: bytes | None) -> Companion:
    props = att.props
    return Companion(
        att.index,
        _text(props, PropId.ATTACH_LONG_FILENAME),
        _text(props, PropId.ATTACH_FILENAME),
        _text(props, PropId.DISPLAY_NAME),
        None if data is None else len(data),
        None if data is None else hashlib.sha256(data).hexdigest(),
    )


@dataclass
class LocateResult:
    """What :func:`locate` found: histories, Message Manager candidates, reading problems."""

    histories: list[HistoryRecord] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    folders: int = 0
    messages: int = 0  # messages examined (associated, plus normal ones when deep)
    hidden_messages: int = 0  # associated (hidden) messages examined


Table = Literal["associated", "messages"]


def _messages(folder: Folder, which: Table, findings: list[Finding]) -> Iterator[Message]:
    """A folder's messages of one table, carrying on past a message that cannot be read."""
    try:
        yield from folder.associated() if which == "associated" else folder.messages()
    except UidlInspectorError as exc:
        findings.append(read_error(folder.path, which, exc))


def is_manager_class(cls: object) -> bool:
    """The one Message Manager test: PidTagMessageClass ``IPM.MessageManager``, compared
    case-insensitively and ignoring trailing NULs (a String8 written with its terminator)."""
    return isinstance(cls, str) and cls.rstrip("\0").casefold() == MANAGER_CLASS.casefold()


def _embedded(att: Attachment, depth: int, where: str, findings: list[Finding]) -> Message | None:
    """The message embedded in ``att`` of a message at embedding ``depth``, or None.

    The one embedding bound of the locator, as the readers apply it: messages down to
    MAX_EMBED_DEPTH levels are read, one deeper costs ``embedding_too_deep``."""
    try:
        inner = att.embedded()
    except UidlInspectorError as exc:
        findings.append(read_error(where, f"embedded message of attachment {att.index}", exc))
        return None
    if inner is not None and depth >= MAX_EMBED_DEPTH:
        findings.append(
            Finding("embedding_too_deep", None, f"{where}: embedded deeper than {MAX_EMBED_DEPTH}")
        )
        return None
    return inner


def _attachments(
    message: Message, path: tuple[int, ...], where: str, findings: list[Finding]
) -> Iterator[tuple[tuple[int, ...], Attachment]]:
    """(embedded_path, attachment) for a message and its embedded messages, bounded."""
    for att in _attachment_list(message, where, findings):
        yield path, att
        inner = _embedded(att, len(path), where, findings)
        if inner is not None:
            yield from _attachments(inner, (*path, att.index), where, findings)
            findings.extend(inner.findings)


def locate_message(message: Message, folder: str | None, source: str, result: LocateResult) -> None:
    """Add to ``result`` the histories held by one message (of any class).

    Every Message Manager yields at least one record: one holding no history attachment
    gets a record with no BLOB and an ``info`` anomaly ``no_history_attachment``. Each
    record lists the other attachments of the message holding it as companions.
    """
    where = f"{folder or ''}#{message.nid if message.nid is not None else 'msg'}"
    here = Location(folder, message.nid, message.message_class, message.subject)
    candidate = None
    if is_manager_class(message.message_class):
        rules, profile = message_rules(message.props)
        candidate = Candidate(
            folder or "", message.nid, message.message_class, message.subject, rules, profile
        )
        result.candidates.append(candidate)
    # every attachment read, by embedded path: companions are hashed only for records made
    siblings: dict[tuple[int, ...], list[tuple[Attachment, bytes | None]]] = {}
    found: list[tuple[Location, bytes, Account]] = []
    for path, att in _attachments(message, (), where, result.findings):
        rule, name, account = attachment_rule(att.props)
        data = None
        try:
            data = att.data
        except UidlInspectorError as exc:
            result.findings.append(read_error(where, f"attachment {att.index} data", exc))
            continue
        finally:
            result.findings.extend(att.findings)
            siblings.setdefault(path, []).append((att, data))
        if candidate is not None and rule is not None:
            if data is None:
                result.findings.append(
                    Finding(
                        "history_without_data",
                        None,
                        f"{where}: attachment {att.index} is named {name!r} but holds no bytes",
                    )
                )
                continue
            match_rule, attach = candidate.match_rule, rule
        elif data is not None and looks_like_pop_blob(data):
            match_rule = candidate.match_rule if candidate is not None else "content"
            attach = rule or "content"
        else:
            continue
        location = replace(
            here,
            attachment_index=att.index,
            attachment_name=name,
            match_rule=match_rule,
            attachment_rule=attach,
            embedded_path=path,
        )
        found.append((location, data, account))
    profile = candidate.profile if candidate is not None else Profile()
    for location, data, account in found:
        companions = tuple(
            _companion(att, other)
            for att, other in siblings[location.embedded_path]
            if att.index != location.attachment_index
        )
        result.histories.append(
            HistoryRecord(
                source,
                parse_blob(data),
                data,
                replace(location, companions=companions),
                account,
                profile,
            )
        )
    if candidate is not None and not found:
        companions = tuple(_companion(att, other) for att, other in siblings.get((), ()))
        empty = Finding(
            "no_history_attachment",
            None,
            f"{where}: Message Manager without a history attachment "
            f"({len(companions)} other attachment(s)): an account was "
            "configured, its history is empty or was never written",
        )
        location = replace(here, match_rule=candidate.match_rule, companions=companions)
        result.histories.append(
            HistoryRecord(
                source, PopHistory(None, None, (), (empty,)), None, location, Account(), profile
            )
        )
    result.findings.extend(message.findings)


def locate(
    store: Store,
    source: str | None = None,
    deep: bool = False,
    progress: Callable[[int], None] | None = None,
) -> LocateResult:
    """Every history in ``store`` (a store.model.Store), in folder order.

    The default reads only folders' associated contents, so its cost does not grow with
    the number of ordinary messages; ``deep=True`` also sweeps every normal message.
    ``progress`` is called with the number of messages examined so far.
    """
    source = source if source is not None else store.path
    result = LocateResult()
    try:
        root = store.root_folder()
    except UidlInspectorError as exc:
        result.findings.append(read_error(source, "root folder", exc))
        result.findings.extend(store.findings)
        return result
    tables: tuple[Table, ...] = ("associated", "messages") if deep else ("associated",)
    for folder in walk_folders(root, result.findings):
        result.folders += 1
        for table in tables:
            for message in _messages(folder, table, result.findings):
                result.messages += 1
                result.hidden_messages += table == "associated"
                locate_message(message, folder.path, source, result)
                if progress is not None:
                    progress(result.messages)
        result.findings.extend(folder.findings)
    result.histories = with_store_key(result.histories, store_key(getattr(store, "props", {})))
    result.findings.extend(store.findings)
    return result


def _attachment_row(
    att: Attachment, where: str, findings: list[Finding], depth: int
) -> AttachmentRow:
    _, name, _ = attachment_rule(att.props)
    try:
        data = att.data
    except UidlInspectorError as exc:
        findings.append(read_error(where, f"attachment {att.index} data", exc))
        data = None
    method = att.props.get(PropId.ATTACH_METHOD)
    row: AttachmentRow = {
        "index": att.index,
        "nid": att.nid,
        "name": name,
        "method": method if isinstance(method, int) else None,
        "size": None if data is None else len(data),
        "sha256": None if data is None else hashlib.sha256(data).hexdigest(),
    }
    inner = _embedded(att, depth, where, findings)
    if inner is not None:
        row["embedded"] = {
            "message_class": inner.message_class,
            "subject": inner.subject,
            "attachments": [
                _attachment_row(a, where, findings, depth + 1)
                for a in _attachment_list(inner, where, findings)
            ],
        }
        findings.extend(inner.findings)
    return row


def _attachment_list(message: Message, where: str, findings: list[Finding]) -> list[Attachment]:
    """The message's attachments; none, with an ``unreadable`` finding, when they cannot
    be read."""
    try:
        return message.attachments()
    except UidlInspectorError as exc:
        findings.append(read_error(where, "attachments", exc))
        return []


def hidden_inventory(store: Store) -> tuple[list[HiddenRow], list[Finding]]:
    """Every associated (hidden) message of every folder, for the ``hidden`` command.

    The findings include the store's own (header, B-tree pages), as ``scan`` reports them.
    """
    findings: list[Finding] = []
    rows: list[HiddenRow] = []
    try:
        root = store.root_folder()
    except UidlInspectorError as exc:
        return rows, [read_error(store.path, "root folder", exc), *store.findings]
    for folder in walk_folders(root, findings):
        for message in _messages(folder, "associated", findings):
            rows.append(hidden_row(message, folder.path, findings))
        findings.extend(folder.findings)
    findings.extend(store.findings)
    return rows, findings


def hidden_row(message: Message, folder: str | None, findings: list[Finding]) -> HiddenRow:
    """One ``hidden`` row: a store's associated message, or an MSG file (``folder`` None),
    in one shape so the two forms of one message compare; its findings into ``findings``."""
    key = _binary(message.props, PropId.CONVERSATION_KEY)
    search = _binary(message.props, PropId.SEARCH_KEY)
    where = f"{folder or ''}#{message.nid or 'msg'}"
    row: HiddenRow = {
        "folder": folder,
        "nid": message.nid,
        "message_class": message.message_class,
        "subject": message.subject,
        "conversation_key": key.hex() if key else None,
        "search_key": search.hex() if search else None,
        "attachments": [
            _attachment_row(a, where, findings, 0)
            for a in _attachment_list(message, where, findings)
        ],
    }
    findings.extend(message.findings)
    return row
