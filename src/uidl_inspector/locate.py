"""Find every POP3 download history in a store, with the documented rule that found it.

Outlook looks for its Message Manager in the Inbox's associated contents and picks it by
profile (PidTagConversationKey, then PidTagSearchKey, then the subject; "General Key"
first since Outlook 2010), then picks the history attachment by name (long filename,
filename, display name ``BlobPOP<smtp>``, then ``Blob%.8x`` of the account's mini UID).
An analyst holding a copied store has no profile, so every folder (Inbox may be localized
or renamed) and every ``IPM.MessageManager`` candidate is examined, and each one is
annotated with every rule it satisfies and the profile it reveals. A content sweep then
reports any attachment of any associated message whose bytes are a version-3 history
(``deep=True``: of every message of the store). Embedded messages are searched.

Rules are documented in docs/locating.md.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO

from uidl_inspector import workers
from uidl_inspector.exceptions import DEBUG_ENV, NotAStoreError, UidlInspectorError, debugging
from uidl_inspector.findings import Finding
from uidl_inspector.history import PopHistory, parse_blob
from uidl_inspector.logs import codes_summary, log_findings, step
from uidl_inspector.mapi import PropId
from uidl_inspector.report.model import (
    Account,
    Companion,
    HistoryRecord,
    Location,
    Profile,
    Report,
    Source,
    hash_file,
    source_path,
)
from uidl_inspector.store.detect import (
    Evidence,
    EvidenceFile,
    looks_like_pop_blob,
    open_evidence,
    walk_inputs,
)
from uidl_inspector.store.image import (
    DistinctStore,
    ImageOptions,
    ImageScan,
    distinct_stores,
    open_path_spec,
    segments,
)

__all__ = ["MANAGER_CLASS", "GENERAL_KEY_NAME", "GENERAL_KEY", "MATCH_RULES",
           "ATTACHMENT_RULES", "Candidate", "LocateResult", "parse_manager_subject",
           "message_rules", "attachment_rule", "locate", "locate_message",
           "hidden_inventory", "walk_folders", "scan_evidence", "hidden_evidence",
           "ScanOutcome", "open_source",
           "MAX_FOLDER_DEPTH", "MAX_EMBED_DEPTH"]

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

MANAGER_CLASS = "IPM.MessageManager"
GENERAL_KEY_NAME = "General Key"
GENERAL_KEY = b"General Key\0"
# Outlook's order: "General Key" is tried first, then the real profile's values in turn.
MATCH_RULES = ("general_key", "conversation_key", "search_key", "subject")
ATTACHMENT_RULES = ("long_filename", "filename", "display_name", "mini_uid")
MAX_FOLDER_DEPTH = 64
MAX_EMBED_DEPTH = 8

_SUBJECT = re.compile(r"^Outlook Message Manager \((?P<name>.*)\) \(KEY: (?P<key>[0-9A-Fa-f]*)\)$",
                      re.DOTALL)
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


def _binary(props: Any, pid: int) -> bytes | None:
    value = props.get(pid)
    return value if isinstance(value, bytes) and value else None


def store_key(props: Any, pid: int = PropId.RECORD_KEY) -> str | None:
    """The store's identity as hex: its PidTagRecordKey (for a message, the
    PidTagStoreRecordKey naming the store that held it), kept by every copy of the store."""
    value = _binary(props, pid)
    return value.hex() if value else None


def _with_store_key(records: list[HistoryRecord], key: str | None) -> list[HistoryRecord]:
    return [replace(r, store_key=key) for r in records]


def _text(props: Any, pid: int) -> str | None:
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
        return {"folder": self.folder, "nid": self.nid, "message_class": self.message_class,
                "subject": self.subject, "match_rule": self.match_rule,
                "rules": list(self.rules), "profile": self.profile.to_dict()}


def message_rules(props: Any) -> tuple[tuple[str, ...], Profile]:
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
    rules = []
    name = parsed[0] if parsed else None
    if name == GENERAL_KEY_NAME or GENERAL_KEY in revealed or (
            search == GENERAL_KEY and not revealed):
        rules.append("general_key")
    if conversation:
        rules.append("conversation_key")
    if search and search in revealed:
        rules.append("search_key")
    if parsed:
        rules.append("subject")
    key = conversation or (parsed[1] if parsed else None) or (
        search if "general_key" in rules else None)
    return tuple(rules), Profile(name, key.hex() if key else None)


def attachment_rule(props: Any) -> tuple[str | None, str | None, Account]:
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
    for rule, name in (("long_filename", long_name), ("filename", short_name),
                       ("display_name", display)):
        if name and name.startswith(_BLOB_POP) and len(name) > len(_BLOB_POP):
            return rule, name, Account(email=name[len(_BLOB_POP):], mini_uid=mini_uid)
    if mini:
        return "mini_uid", short_name, Account(mini_uid=mini_uid)
    return None, long_name or short_name or display, Account()


def _companion(att: Any, data: bytes | None) -> Companion:
    props = att.props
    return Companion(att.index, _text(props, PropId.ATTACH_LONG_FILENAME),
                     _text(props, PropId.ATTACH_FILENAME), _text(props, PropId.DISPLAY_NAME),
                     None if data is None else len(data),
                     None if data is None else hashlib.sha256(data).hexdigest())


@dataclass
class LocateResult:
    """What :func:`locate` found: histories, Message Manager candidates, reading problems."""

    histories: list[HistoryRecord] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    folders: int = 0
    messages: int = 0  # messages examined (associated, plus normal ones when deep)
    hidden_messages: int = 0  # associated (hidden) messages examined


def walk_folders(root: Any, findings: list[Finding]) -> Iterator[Any]:
    """Every folder below and including ``root``, depth-first, bounded, each once."""
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        if folder.nid in seen:
            findings.append(Finding("folder_cycle", None,
                                    f"folder nid {folder.nid:#x} reached twice"))
            continue
        seen.add(folder.nid)
        yield folder
        if depth >= MAX_FOLDER_DEPTH:
            findings.append(Finding("folder_too_deep", None,
                                    f"{folder.path}: deeper than {MAX_FOLDER_DEPTH}"))
            continue
        try:
            children = list(folder.subfolders())
        except UidlInspectorError as exc:
            findings.append(_read_error(folder.path, "subfolders", exc))
            continue
        stack.extend((child, depth + 1) for child in reversed(children))


def _read_error(where: str, what: str, exc: UidlInspectorError) -> Finding:
    return Finding("unreadable", getattr(exc, "offset", None), f"{where}: {what}: {exc}")


def _messages(folder: Any, which: str, findings: list[Finding]) -> Iterator[Any]:
    """A folder's messages of one table, carrying on past a message that cannot be read."""
    try:
        yield from getattr(folder, which)()
    except UidlInspectorError as exc:
        findings.append(_read_error(folder.path, which, exc))


def _is_manager(message: Any) -> bool:
    cls = message.message_class
    return isinstance(cls, str) and cls.rstrip("\0").casefold() == MANAGER_CLASS.casefold()


def _attachments(message: Any, path: tuple[int, ...], where: str,
                 findings: list[Finding]) -> Iterator[tuple[tuple[int, ...], Any]]:
    """(embedded_path, attachment) for a message and its embedded messages, bounded."""
    try:
        attachments = message.attachments()
    except UidlInspectorError as exc:
        findings.append(_read_error(where, "attachments", exc))
        return
    for att in attachments:
        yield path, att
        if len(path) >= MAX_EMBED_DEPTH:
            continue
        try:
            inner = att.embedded()
        except UidlInspectorError as exc:
            findings.append(_read_error(where, f"embedded message of attachment {att.index}",
                                        exc))
            continue
        if inner is not None:
            if len(path) + 1 >= MAX_EMBED_DEPTH:
                findings.append(Finding("embedding_too_deep", None,
                                        f"{where}: embedded deeper than {MAX_EMBED_DEPTH}"))
                continue
            yield from _attachments(inner, (*path, att.index), where, findings)
            findings.extend(inner.findings)


def locate_message(message: Any, folder: str | None, source: str,
                   result: LocateResult) -> None:
    """Add to ``result`` the histories held by one message (of any class).

    Every Message Manager yields at least one record: one holding no history attachment
    gets a record with no BLOB and an ``info`` anomaly ``no_history_attachment``. Each
    record lists the other attachments of the message holding it as companions.
    """
    where = f"{folder or ''}#{message.nid if message.nid is not None else 'msg'}"
    candidate = None
    if _is_manager(message):
        rules, profile = message_rules(message.props)
        candidate = Candidate(folder or "", message.nid, message.message_class,
                              message.subject, rules, profile)
        result.candidates.append(candidate)
    # every attachment read, by embedded path: companions are hashed only for records made
    siblings: dict[tuple[int, ...], list[tuple[Any, bytes | None]]] = {}
    found: list[tuple[Location, bytes, Account]] = []
    for path, att in _attachments(message, (), where, result.findings):
        rule, name, account = attachment_rule(att.props)
        data = None
        try:
            data = att.data
        except UidlInspectorError as exc:
            result.findings.append(_read_error(where, f"attachment {att.index} data", exc))
            continue
        finally:
            result.findings.extend(att.findings)
            siblings.setdefault(path, []).append((att, data))
        if candidate is not None and rule is not None:
            if data is None:
                result.findings.append(Finding(
                    "history_without_data", None,
                    f"{where}: attachment {att.index} is named {name!r} but holds no bytes"))
                continue
            match_rule, attach = candidate.match_rule, rule
        elif looks_like_pop_blob(data):
            match_rule = candidate.match_rule if candidate is not None else "content"
            attach = rule or "content"
        else:
            continue
        found.append((Location(folder, message.nid, message.message_class, message.subject,
                               att.index, name, match_rule, attach, path), data, account))
    profile = candidate.profile if candidate is not None else Profile()
    for location, data, account in found:
        companions = tuple(_companion(att, other) for att, other in siblings[location.embedded_path]
                           if att.index != location.attachment_index)
        result.histories.append(HistoryRecord(
            source, parse_blob(data), data, replace(location, companions=companions),
            account, profile))
    if candidate is not None and not found:
        companions = tuple(_companion(att, other) for att, other in siblings.get((), ()))
        empty = Finding("no_history_attachment", None,
                        f"{where}: Message Manager without a history attachment "
                        f"({len(companions)} other attachment(s)): an account was "
                        "configured, its history is empty or was never written")
        location = Location(folder, message.nid, message.message_class, message.subject,
                            match_rule=candidate.match_rule, companions=companions)
        result.histories.append(HistoryRecord(
            source, PopHistory(None, None, (), (empty,)), None, location, Account(), profile))
    result.findings.extend(message.findings)


def locate(store: Any, source: str | None = None, deep: bool = False,
           progress: Callable[[int], None] | None = None) -> LocateResult:
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
        result.findings.append(_read_error(source, "root folder", exc))
        result.findings.extend(store.findings)
        return result
    tables = ("associated", "messages") if deep else ("associated",)
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
    result.histories = _with_store_key(result.histories, store_key(getattr(store, "props", {})))
    result.findings.extend(store.findings)
    return result


def _attachment_row(att: Any, where: str, findings: list[Finding], depth: int) -> dict:
    _, name, _ = attachment_rule(att.props)
    try:
        data = att.data
    except UidlInspectorError as exc:
        findings.append(_read_error(where, f"attachment {att.index} data", exc))
        data = None
    row: dict[str, Any] = {"index": att.index, "nid": att.nid, "name": name,
                           "method": att.props.get(PropId.ATTACH_METHOD),
                           "size": None if data is None else len(data),
                           "sha256": None if data is None else hashlib.sha256(data).hexdigest()}
    if depth < MAX_EMBED_DEPTH:
        try:
            inner = att.embedded()
        except UidlInspectorError as exc:
            findings.append(_read_error(where, f"embedded message of attachment {att.index}",
                                        exc))
            inner = None
        if inner is not None:
            row["embedded"] = {"message_class": inner.message_class, "subject": inner.subject,
                               "attachments": _attachment_rows(inner, where, findings,
                                                               depth + 1)}
    return row


def _attachment_rows(message: Any, where: str, findings: list[Finding], depth: int) -> list:
    try:
        attachments = message.attachments()
    except UidlInspectorError as exc:
        findings.append(_read_error(where, "attachments", exc))
        return []
    return [_attachment_row(att, where, findings, depth) for att in attachments]


def hidden_inventory(store: Any) -> tuple[list[dict[str, Any]], list[Finding]]:
    """Every associated (hidden) message of every folder, for the ``hidden`` command.

    The findings include the store's own (header, B-tree pages), as ``scan`` reports them.
    """
    findings: list[Finding] = []
    rows: list[dict[str, Any]] = []
    try:
        root = store.root_folder()
    except UidlInspectorError as exc:
        return rows, [_read_error(store.path, "root folder", exc), *store.findings]
    for folder in walk_folders(root, findings):
        for message in _messages(folder, "associated", findings):
            rows.append(hidden_row(message, folder.path, findings))
        findings.extend(folder.findings)
    findings.extend(store.findings)
    return rows, findings


def hidden_row(message: Any, folder: str | None, findings: list[Finding]) -> dict[str, Any]:
    """One ``hidden`` row: a store's associated message, or an MSG file (``folder`` None),
    in one shape so the two forms of one message compare; its findings into ``findings``."""
    key = _binary(message.props, PropId.CONVERSATION_KEY)
    search = _binary(message.props, PropId.SEARCH_KEY)
    row = {
        "folder": folder, "nid": message.nid,
        "message_class": message.message_class, "subject": message.subject,
        "conversation_key": key.hex() if key else None,
        "search_key": search.hex() if search else None,
        "attachments": _attachment_rows(message, f"{folder or ''}#{message.nid or 'msg'}",
                                        findings, 0),
    }
    findings.extend(message.findings)
    return row


# ---------------------------------------------------------------------------------------
# Scanning inputs: every file named or found, each with its Source record


@dataclass
class ScanOutcome:
    """A scan's report plus what the command needs to choose its exit code."""

    report: Report
    failed: list[str] = field(default_factory=list)  # one line per input not processed
    skipped: int = 0  # files of no known kind found while walking directories


def _history_from_blob(source: str, data: bytes) -> HistoryRecord:
    return HistoryRecord(source, parse_blob(data), data)


def _read_one(name: str, kind: str, report: Report, deep: bool, verify: bool,
              progress: Callable[[int], None] | None,
              opener: Callable[[], BinaryIO] | None = None,
              recover: bool = True) -> dict[str, Any]:
    """Locate every history of one input into ``report``; the Source's fields it learnt.

    ``opener`` gives a fresh read-only stream of the input when it is not a loose file
    (a file inside a disk image); ``name`` then only names it.
    """
    from uidl_inspector.verify import cross_check

    source = source_path(name) if opener is None else name
    before = len(report.histories)
    with open_evidence(name, kind, opener() if opener else None) as evidence:
        findings: list[Finding] = []  # the store's and message's own are gathered by locate
        if evidence.store is not None:
            result = locate(evidence.store, source, deep=deep, progress=progress)
            log.info("scan %s: %d folders and %d messages examined, %d Message Managers",
                     source, result.folders, result.messages, len(result.candidates))
            examined = report.extra.setdefault("examined", {"folders": 0, "hidden_messages": 0})
            examined["folders"] += result.folders
            examined["hidden_messages"] += result.hidden_messages
            findings += result.findings
            report.histories.extend(result.histories)
            report.extra.setdefault("message_managers", []).extend(
                {"source": source, **c.to_dict()} for c in result.candidates)
            if recover and getattr(evidence.store, "ndb", None) is not None:
                if progress is not None:
                    progress(f"{source}: looking for earlier histories in free space")
                findings += _recover(evidence.store.ndb, source, report)
            if verify:
                rows, _ = hidden_inventory(evidence.store)
                if opener is None:
                    checked = cross_check(rows, name)
                else:
                    with opener() as stream:
                        checked = cross_check(rows, stream)
                report.extra.setdefault("cross_check", []).append({"source": source, **checked})
        elif evidence.message is not None:
            result = LocateResult()
            locate_message(evidence.message, None, source, result)
            findings += result.findings
            report.histories.extend(_with_store_key(
                result.histories, store_key(evidence.message.props, PropId.STORE_RECORD_KEY)))
            report.extra.setdefault("message_managers", []).extend(
                {"source": source, **c.to_dict()} for c in result.candidates)
        else:
            findings += evidence.findings  # hex_length_mismatch of a hex text input
            report.histories.append(_history_from_blob(source, evidence.blob or b""))
        extra = {"variant": evidence.variant, "encryption": evidence.encryption,
                 "findings": tuple(findings)}
    found = report.histories[before:]
    log.info("scan %s: %d histories (%d entries), anomalies: %s", source, len(found),
             sum(len(h.history.entries) for h in found),
             codes_summary(a.code for h in found for a in h.history.anomalies))
    for record in found:
        log_findings(log, f"history in {source}", record.history.anomalies)
    return extra


def _recover(ndb: Any, source: str, report: Report) -> list[Finding]:
    """Recovery adds to the report; a failure of it costs a finding, never the live results."""
    from uidl_inspector.recover import recover_store

    try:
        subjects = [m.get("subject") or "" for m in report.extra.get("message_managers", [])
                    if m.get("source") == source]
        items, notes = recover_store(ndb, source, report.histories, subjects)
    except (UidlInspectorError, OSError, ValueError, IndexError) as exc:
        if debugging():
            raise
        return [Finding("recovery_failed", None, f"{type(exc).__name__}: {exc}")]
    report.extra.setdefault("recovered", []).extend(items)
    return notes


def _scan_one(item: EvidenceFile, outcome: ScanOutcome, deep: bool, verify: bool,
              progress: Callable[[Any], None] | None, recover: bool = True) -> None:
    """One loose file. It is hashed on a thread of its own while it is read: hashlib lets
    go of the GIL, so the hashes cost little more than the read they need anyway."""
    with ThreadPoolExecutor(1, thread_name_prefix="hash") as hasher:
        digests = hasher.submit(hash_file, item.path, progress=progress)
        extra = _read_one(item.path, item.kind or "unknown", outcome.report, deep, verify,
                          progress, recover=recover)
        source = Source(str(item.path), item.kind or "unknown", *digests.result(), **extra)
    outcome.report.sources.append(source.logged())


# Reads one store into the report: (name, kind, opener) -> the Source's fields it learnt.
StoreReader = Callable[[str, str, Callable[[], BinaryIO] | None], dict[str, Any]]


def _scan_image(item: EvidenceFile, outcome: ScanOutcome,
                progress: Callable[[Any], None] | None, options: ImageOptions,
                read: StoreReader, kinds: tuple[str, ...] = ("pst", "ost", "msg")) -> None:
    """The image as a Source of kind ``image``, then each distinct store in it (of
    ``kinds``) read by ``read`` as its own Source with its ``container`` and the other
    places holding the same bytes."""
    scan = ImageScan(item.path, options, progress)
    stores: list[Source] = []
    done: list[tuple[DistinctStore, dict[str, Any]]] = []
    try:
        for store in distinct_stores(scan):
            if store.found.kind not in kinds:
                continue
            location = store.found.place.location
            try:
                if store.error is not None:
                    raise UidlInspectorError(store.error)
                extra = read(location, store.found.kind, store.found.open)
            except NotAStoreError:
                if store.found.kind == "msg":  # an OLE file that is not a message (.doc)
                    scan.examined["stores"] -= 1
                    continue
                raise
            except (UidlInspectorError, OSError) as exc:
                extra = _store_failed(outcome, location, " ".join(str(exc).split()) or
                                      type(exc).__name__)
            except Exception as exc:  # noqa: BLE001 - one store's bug must not end the image
                if debugging():
                    raise
                extra = _store_failed(outcome, location, _internal_error(exc))
            done.append((store, extra))
    except UidlInspectorError as exc:
        scan.errors.append(" ".join(str(exc).split()))
    for store, extra in done:  # also_in is complete once the walk has ended
        stores.append(Source(store.found.place.location, store.found.kind, store.size,
                             store.sha256, store.md5, container=store.found.place.to_dict(),
                             also_in=tuple(p.to_dict() for p in store.also_in), **extra))
    outcome.failed.extend(scan.errors)
    meta = {"image_format": scan.format, "examined": dict(scan.examined),
            "errors": tuple(scan.errors), "findings": tuple(scan.findings)}
    files = [_image_file(path, options.hash_images, progress) for path in segments(item.path)]
    image = Source(source_path(item.path), "image", *files[0][1:], hashed=options.hash_images,
                   segments=tuple({"path": p, "size": n, "sha256": h, "md5": m}
                                  for p, n, h, m in files) if len(files) > 1 else (), **meta)
    outcome.report.sources.extend([image, *stores])


def _internal_error(exc: Exception) -> str:
    return (f"internal error: {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 to see the "
            "traceback, and please report it)")


def _store_failed(outcome: ScanOutcome, location: str, error: str) -> dict[str, Any]:
    """Record a store of an image that could not be read; its Source's fields."""
    outcome.failed.append(error if location in error else f"{location}: {error}")
    return {"errors": (error,)}


def _image_file(path: str, hashed: bool, progress: Callable[[Any], None] | None
                ) -> tuple[str, int, str, str]:
    """Path, size and hashes (empty unless ``hashed``) of one file of an image."""
    if not hashed:
        return path, os.path.getsize(path), "", ""
    return (path, *hash_file(path, progress=progress, what="hashing the image"))


def open_source(source: Source) -> Evidence:
    """Open a source of a scan report again: a loose file, or a store inside an image."""
    if source.container is None:
        return open_evidence(source.path, source.kind)
    return open_evidence(source.path, source.kind, open_path_spec(source.container["path_spec"]))


def scan_evidence(paths: list[str], deep: bool = False, verify: bool = False,
                  progress: Callable[[Any], None] | None = None,
                  recover: bool = True, images: ImageOptions | None = None,
                  jobs: int = 1, scheduler: str | None = None) -> ScanOutcome:
    """Scan every input (files, directories walked recursively, disk images with every
    partition, snapshot and file system in them) into one report.

    ``recover``: also look for earlier histories in each store's unreferenced space
    (``recovered`` in the report).

    An input that cannot be read or opened gets a Source with its one-line error and the
    scan goes on with the others; files of no known kind inside directories are skipped.
    ``progress`` gets message counts (int) and one-line status (str). ``jobs`` worker
    processes (or the Dask cluster at ``scheduler``) each take one input; ``--verify``
    always runs out of process, so that a libpff crash costs one input.
    """
    report = Report()
    if recover:
        report.extra["recovered"] = []  # present (if empty) whenever recovery ran
    handle = functools.partial(_scan_handle, deep=deep, verify=verify, recover=recover,
                               options=images or ImageOptions())
    return _each_input(paths, handle, report=report, jobs=jobs, scheduler=scheduler,
                       progress=progress, isolate=verify)


def _scan_handle(item: EvidenceFile, outcome: ScanOutcome, deep: bool, verify: bool,
                 recover: bool, options: ImageOptions,
                 progress: Callable[[Any], None] | None = None) -> None:
    if item.kind == "image":
        _scan_image(item, outcome, progress, options, lambda name, kind, opener: _read_one(
            name, kind, outcome.report, deep, verify, progress, opener, recover))
    else:
        _scan_one(item, outcome, deep, verify, progress, recover)


def _hidden_read(report: Report, name: str, kind: str,
                 opener: Callable[[], BinaryIO] | None = None) -> dict[str, Any]:
    """The hidden messages of one store into ``report``; the Source's fields it learnt."""
    source = source_path(name) if opener is None else name
    with open_evidence(name, kind, opener() if opener else None) as evidence:
        if evidence.message is not None:  # an exported message: itself, whatever its class
            findings: list[Finding] = []
            rows = [hidden_row(evidence.message, None, findings)]
        else:
            rows, findings = hidden_inventory(evidence.store)
        extra = {"variant": evidence.variant, "encryption": evidence.encryption,
                 "findings": tuple(findings)}
    report.extra.setdefault("hidden", []).extend({"source": source, **row} for row in rows)
    return extra


def hidden_evidence(paths: list[str], images: ImageOptions | None = None, jobs: int = 1,
                    scheduler: str | None = None,
                    progress: Callable[[Any], None] | None = None) -> ScanOutcome:
    """The ``hidden`` command's report: every associated message of every PST/OST input,
    also of the PST/OST stores inside disk images, and each MSG input as one row.

    The same envelope as a scan (``sources[]`` with hashes and every finding met while
    opening and walking), with ``hidden[]`` rows that each name their ``source``. A file
    named on the command line that is not a store is an input error; inside directories,
    other files are skipped.
    """
    handle = functools.partial(_hidden_handle, options=images or ImageOptions())
    outcome = _each_input(paths, handle, ("pst", "ost", "msg", "image"),
                          "a PST/OST store, an MSG file or a disk image", "hidden", jobs=jobs,
                          scheduler=scheduler, progress=progress)
    outcome.report.extra.setdefault("hidden", [])
    return outcome


def _hidden_handle(item: EvidenceFile, outcome: ScanOutcome, options: ImageOptions,
                   progress: Callable[[Any], None] | None = None) -> None:
    report = outcome.report
    if item.kind == "image":
        _scan_image(item, outcome, progress, options,
                    lambda name, kind, opener: _hidden_read(report, name, kind, opener),
                    ("pst", "ost"))
        return
    extra = _hidden_read(report, item.path, item.kind or "unknown")
    report.sources.append(Source.from_file(item.path, item.kind or "unknown", **extra))


def _each_input(paths: list[str], handle: Callable[..., None],
                kinds: tuple[str, ...] | None = None, what: str = "",
                step_name: str = "scan", report: Report | None = None, jobs: int = 1,
                scheduler: str | None = None, progress: Callable[[Any], None] | None = None,
                isolate: bool = False) -> ScanOutcome:
    """Run ``handle(item, outcome, progress=...)`` on every input (of one of ``kinds``,
    when given: any other file named on the command line is ``not what``), each failure
    one line; files of no wanted kind found in directories are skipped.

    Each input is handled into an outcome of its own (in a worker process when ``jobs`` >
    1, ``scheduler`` is set or ``isolate``), merged in input order: the report is the same
    whichever ran it.
    """
    outcome = ScanOutcome(report or Report())
    todo: list[tuple[EvidenceFile, str | None]] = []
    for item in walk_inputs(paths):
        wanted = item.kind != "unknown" if kinds is None else item.kind in kinds
        if item.from_directory and (item.kind == "segment" or item.error is None and not wanted):
            outcome.skipped += 1
            continue
        error = item.error
        if error is None and not wanted and kinds is not None:
            error = f"not {what} (its content is: {item.kind})"
        todo.append((item, error))
    here = workers.runs_here(jobs, scheduler, len(todo), isolate)
    task = functools.partial(_input_task, functools.partial(
        handle, progress=progress if here else None), step_name)
    tell = None if progress is None or here else (
        lambda n, total: progress(f"{n} of {total} inputs done"))
    for part in workers.run_ordered(task, todo, jobs, scheduler, isolate, _crashed, tell):
        _merge(outcome, part)
    if outcome.skipped:
        log.info("scan: %d files of no known kind skipped in directories", outcome.skipped)
    outcome.report.run.finish()
    return outcome


def _input_task(handle: Callable[[EvidenceFile, ScanOutcome], None], step_name: str,
                todo: tuple[EvidenceFile, str | None]) -> ScanOutcome:
    """One input's outcome (its one-line error included): what a worker returns."""
    item, error = todo
    outcome = ScanOutcome(Report())
    if error is None:
        try:
            with step(log, f"{step_name} {item.path}"):
                handle(item, outcome)
            return outcome
        except (UidlInspectorError, OSError) as exc:
            error = " ".join(str(exc).split()) or type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - one input's bug must not end the run
            if debugging():
                raise
            error = _internal_error(exc)
        outcome = ScanOutcome(Report())  # nothing half-read of a failed input is kept
    _input_failed(outcome, item, error)
    return outcome


def _input_failed(outcome: ScanOutcome, item: EvidenceFile, error: str) -> None:
    outcome.failed.append(f"{item.path}: {error}" if item.path not in error else error)
    outcome.report.sources.append(_failed_source(item, error))


def _crashed(todo: tuple[EvidenceFile, str | None], reason: str) -> ScanOutcome:
    outcome = ScanOutcome(Report())
    _input_failed(outcome, todo[0], reason)
    return outcome


def _merge(outcome: ScanOutcome, part: ScanOutcome) -> None:
    """Append one input's outcome to the run's, as if it had been read into it."""
    report, offset = outcome.report, len(outcome.report.histories)
    report.sources.extend(part.report.sources)
    report.histories.extend(part.report.histories)
    for key, value in part.report.extra.items():
        if key == "recovered":  # an index into the histories, now the run's
            for item in value:
                if item.related_history is not None:
                    item.related_history += offset
        if isinstance(value, dict):
            counts = report.extra.setdefault(key, {})
            for name, count in value.items():
                counts[name] = counts.get(name, 0) + count
        else:
            report.extra.setdefault(key, []).extend(value)
    outcome.failed.extend(part.failed)
    outcome.skipped += part.skipped


def _failed_source(item: EvidenceFile, error: str) -> Source:
    try:
        return Source.from_file(item.path, item.kind or "unknown", errors=(error,))
    except OSError:
        return Source(source_path(item.path), item.kind or "unknown", 0, "", "", (error,))
