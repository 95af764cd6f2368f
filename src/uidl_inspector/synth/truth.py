"""Ground truth for a synthetic store: what a correct reader and audit must find.

Everything here is derived from the scenario and the spec that was written (with the node
ids and block ranges the writer filled in), never by reading the written file back, so the
truth is an independent witness for the readers under test. ``histories`` have the shape of
the scan report's (``records.HistoryRecord.to_dict``); ``expected`` holds facts (which
Message-IDs occur twice, which UIDs two histories share), not verdicts.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

from uidl_inspector.history import unescape_uid
from uidl_inspector.schemas.mapi import PropId
from uidl_inspector.synth.msg_writer import write_msg
from uidl_inspector.synth.outlook_traits import TAG_LAG_MAX
from uidl_inspector.synth.pst_writer import MessageSpec, write_pst
from uidl_inspector.synth.scenarios import (
    CONTENTS,
    GENERAL_KEY,
    OPERATIONS,
    TOP_NAME,
    BuiltStore,
    HistorySpec,
    Scenario,
    StoredTag,
    attachment_positions,
    declared_count,
    history_blob,
    scenario_set,
    store_spec,
    stored_tags,
    tag_spans,
)

__all__ = [
    "TRUTH_FORMAT",
    "EvidenceSet",
    "truth",
    "truth_bytes",
    "write_evidence",
    "uidl_transcript",
]

TRUTH_FORMAT = 1
_HEX_PAIR = re.compile(r"[0-9a-fA-F]{2}")
_NAME_PROPS = (PropId.ATTACH_LONG_FILENAME, PropId.ATTACH_FILENAME, PropId.DISPLAY_NAME)


_TS_AT, _UID_AT = 2, 16  # where the timestamp and the UID start in a tag


def _tag_findings(stored: StoredTag, offset: int) -> list[tuple[str, int]]:
    """(code, BLOB offset) of what is wrong with one tag, per the anomaly definitions."""
    tag = stored.tag
    found = []
    if tag.operation not in OPERATIONS:
        found.append(("bad_operation", offset))
    if tag.content not in CONTENTS:
        found.append(("bad_content", offset + 1))
    if tag.timestamp is None:
        found.append(("bad_timestamp", offset + _TS_AT))
    bad = [
        i
        for i, c in enumerate(tag.raw_uid)
        if (c == "$" and not _HEX_PAIR.fullmatch(tag.raw_uid[i + 1 : i + 3]))
        or (c != "$" and not c.isalnum())  # a $hh escape's digits are alphanumeric
    ]
    if bad:
        found.append(("bad_uid_escape", offset + _UID_AT + bad[0]))
    uid = unescape_uid(tag.raw_uid).encode()
    if not 1 <= len(uid) <= 70 or not all(0x21 <= b <= 0x7E for b in uid):
        # A tag cut before its UID has the finding where the BLOB ends.
        found.append(("uid_not_rfc1939", offset + min(_UID_AT, len(stored.text.encode()))))
    if not stored.complete:
        found.append(("truncated", offset))
    return found


def _entry_rows(history: HistorySpec) -> Iterator[dict[str, Any]]:
    """The entries a reader must decode, one row at a time."""
    tags = stored_tags(history)
    for index, (stored, (offset, _end)) in enumerate(zip(tags, tag_spans(tags), strict=True)):
        tag = stored.tag
        stamp = tag.timestamp
        findings = _tag_findings(stored, offset)
        raw = stored.text.encode()
        yield {
            "index": index,
            "offset": offset,
            "operation": OPERATIONS.get(tag.operation),
            "content": CONTENTS.get(tag.content),
            "timestamp": stamp.isoformat() if stamp else None,
            "raw_timestamp": tag.stamp,
            "raw_uid": tag.raw_uid,
            "uid": unescape_uid(tag.raw_uid),
            "uid_hex": None,
            "raw_operation": tag.operation,
            "raw_content": tag.content,
            "complete": stored.complete,
            "beyond_count": False,
            "anomalies": [code for code, _ in findings],
            "raw_tag_hex": raw.hex() if findings else None,
        }


def _entries(history: HistorySpec) -> tuple[RowsOnDemand, list[dict[str, Any]]]:
    """The entries a reader must decode (made when read: a 60,000-tag history would
    otherwise hold 60,000 rows), and the BLOB's anomalies (code, offset)."""
    stored = stored_tags(history)
    spans = tag_spans(stored)
    found = [f for tag, (at, _) in zip(stored, spans, strict=True) for f in _tag_findings(tag, at)]
    complete = not stored or stored[-1].complete
    if complete and len(stored) < declared_count(history):
        found.append(("count_mismatch", 2))
    found.sort(key=lambda f: f[1])
    anomalies = [{"code": code, "offset": at} for code, at in found]
    return RowsOnDemand(lambda: _entry_rows(history), len(stored)), anomalies


def _companions(holder: MessageSpec, skip: int | None) -> list[dict[str, Any]]:
    """The holding message's other attachments, as the locator lists them."""
    return [
        {
            "index": index,
            "long_filename": _text(a.props.get(PropId.ATTACH_LONG_FILENAME)),
            "filename": _text(a.props.get(PropId.ATTACH_FILENAME)),
            "display_name": _text(a.props.get(PropId.DISPLAY_NAME)),
            **_digest(a.data),
        }
        for index, a in enumerate(holder.attachments)
        if index != skip
    ]


def _digest(data: bytes | None) -> dict[str, Any]:
    """The ``size`` and ``sha256`` of an attachment's (or a BLOB's) bytes; None without."""
    if data is None:
        return {"size": None, "sha256": None}
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _history_records(built: BuiltStore, source: str) -> list[dict[str, Any]]:
    records = []
    key = built.spec.record_key.hex() if built.spec.record_key else None
    for manager, spec in built.managers:
        general = manager.profile == GENERAL_KEY
        positions = attachment_positions(manager)
        holder = spec.attachments[0].embedded if manager.embedded else spec
        assert holder is not None  # an embedded manager's first attachment is its message
        profile = {
            "name": manager.profile.name
            if "subject" in manager.identification or general
            else None,
            "search_key": manager.profile.search_key.hex(),
        }
        location = {
            "folder": f"{TOP_NAME}/{built.inbox.name}",
            "message_nid": spec.nid,
            "message_class": "IPM.MessageManager",
            "subject": _text(spec.props.get(PropId.SUBJECT)),
            "attachment_index": None,
            "attachment_name": None,
            "match_rule": "general_key" if general else manager.identification[0],
            "attachment_rule": None,
            "embedded_path": [],
            "companions": _companions(spec, None),
        }
        if not manager.histories:  # a manager without history is reported all the same
            records.append(
                {
                    "source": source,
                    "store_key": key,
                    "location": location,
                    "account": {"email": None, "mini_uid": None},
                    "profile": profile,
                    "blob": None,
                    "entries": [],
                    "anomalies": [{"code": "no_history_attachment", "offset": None}],
                }
            )
        for index, history in enumerate(manager.histories):
            blob = history_blob(history)
            entries, anomalies = _entries(history)
            by_mini = history.attachment_rule == "mini_uid"
            records.append(
                {
                    "source": source,
                    "store_key": key,
                    "location": {
                        **location,
                        "attachment_index": positions[index],
                        "attachment_name": history.attachment_name,
                        "attachment_rule": history.attachment_rule,
                        "embedded_path": [0] if manager.embedded else [],
                        "companions": _companions(holder, positions[index]),
                    },
                    "account": {  # what the names reveal: real naming (long_filename) has both
                        "email": None if by_mini else history.account.smtp,
                        "mini_uid": history.account.mini_uid_hex
                        if history.attachment_rule in ("mini_uid", "long_filename")
                        else None,
                    },
                    "profile": profile,
                    "blob": {
                        **_digest(blob),
                        "version": history.version,
                        "declared_count": declared_count(history),
                        "parsed_count": len(entries),
                        "slack": _slack(history),
                    },
                    "entries": entries,
                    "anomalies": anomalies,
                }
            )
    return records


def _history_uids(built: BuiltStore) -> Iterator[set[str]]:
    """Each history record's UIDs (a manager without history: none), as its entries have
    them, without making the entries."""
    for manager, _spec in built.managers:
        if not manager.histories:
            yield set()
        for history in manager.histories:
            yield {unescape_uid(s.tag.raw_uid) for s in stored_tags(history)}


def _slack(history: HistorySpec) -> dict[str, Any] | None:
    """The leftover bytes the writer put after the last tag, and the text it placed there."""
    slack = history.slack
    if slack is None:
        return None
    data, texts = slack
    return {"size": len(data), "hex": data.hex(), "text": texts}


def _text(prop: Any) -> Any:
    return None if prop is None else prop.value


def _attachments(message: MessageSpec) -> list[dict[str, Any]]:
    out = []
    for index, attachment in enumerate(message.attachments):
        props = attachment.props
        row: dict[str, Any] = {
            "index": index,
            "nid": attachment.nid,
            "name": next((str(props[p].value) for p in _NAME_PROPS if p in props), None),
            "method": props[PropId.ATTACH_METHOD].value,
            **_digest(attachment.data),
        }
        if attachment.embedded is not None:
            row["embedded"] = {
                "message_class": _text(attachment.embedded.props.get(PropId.MESSAGE_CLASS)),
                "subject": _text(attachment.embedded.props.get(PropId.SUBJECT)),
                "attachments": _attachments(attachment.embedded),
            }
        out.append(row)
    return out


def _hidden_row(folder: str, message: MessageSpec) -> dict[str, Any]:
    props = message.props
    key = props.get(PropId.CONVERSATION_KEY)
    search = props.get(PropId.SEARCH_KEY)
    return {
        "folder": folder,
        "nid": message.nid,
        "message_class": _text(props.get(PropId.MESSAGE_CLASS)),
        "subject": _text(props.get(PropId.SUBJECT)),
        "conversation_key": key.value.hex() if key else None,
        "search_key": search.value.hex() if search else None,
        "attachments": _attachments(message),
    }


def _server_classes(history: HistorySpec, listing: list[str]) -> dict[str, list[str]]:
    """Per the audit's classes: a server UID is downloaded (``+`` tag), deleted (``-``/``&``
    tag) or new (no tag); a history UID with a ``+`` tag absent from the server is
    history_only."""
    ops = {unescape_uid(s.tag.raw_uid): s.tag.operation for s in stored_tags(history) if s.complete}
    on_server = set(listing)
    return {
        "downloaded": [u for u in listing if ops.get(u) == "+"],
        "deleted": sorted(u for u, op in ops.items() if op in "-&"),
        "new": [u for u in listing if u not in ops],
        "history_only": sorted(u for u, op in ops.items() if op == "+" and u not in on_server),
    }


def _link_rows(sc: Scenario, built: BuiltStore) -> Iterator[dict[str, Any]]:
    """Which store message each get tag produced: same account and UID, delivered at most
    TAG_LAG_MAX seconds before the tag's time shifted back by the clock offset (made
    when read, as there is one per tag)."""
    by_uid: dict[tuple[str, str], list[tuple[str, Any, MessageSpec]]] = defaultdict(list)
    for folder, message, spec in built.messages:
        by_uid[(message.account.smtp, message.uid)].append((folder, message, spec))
    for record_index, history in enumerate(_histories(built)):
        for entry_index, stored in enumerate(stored_tags(history)):
            tag = stored.tag
            stamp = tag.timestamp
            if tag.operation not in "+&" or stamp is None:
                continue
            utc = stamp - timedelta(minutes=sc.clock_offset)
            for folder, message, spec in by_uid[(history.account.smtp, tag.uid)]:
                lag = (utc - message.delivery_time.replace(tzinfo=None)).total_seconds()
                if 0 <= lag <= TAG_LAG_MAX:
                    yield {
                        "history": record_index,
                        "entry": entry_index,
                        "uid": tag.uid,
                        "folder": folder,
                        "nid": spec.nid,
                        "internet_message_id": message.internet_message_id,
                    }


def _histories(built: BuiltStore) -> list[HistorySpec]:
    """The live managers' histories, in order (the index of the ``server`` and ``links``
    rows)."""
    return [history for manager, _spec in built.managers for history in manager.histories]


def _duplicates(built: BuiltStore) -> list[dict[str, Any]]:
    """The Message-IDs held more than once, each with its copies (rows are made for those
    only, not for each of 100,000 messages, most of them held once)."""
    counts = Counter(message.internet_message_id for _f, message, _s in built.messages)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for folder, message, spec in built.messages:
        if counts[message.internet_message_id] > 1:
            groups[message.internet_message_id].append(
                {
                    "folder": folder,
                    "nid": spec.nid,
                    "delivery_time": message.delivery_time.isoformat(),
                }
            )
    return [
        {"internet_message_id": ident, "copies": copies} for ident, copies in sorted(groups.items())
    ]


class RowsOnDemand(list[dict[str, Any]]):
    """A list whose rows are made each time it is read, not held: the truth's 100,000
    message rows are written by ``json.dump`` (its pure-Python encoder, as ``indent`` is
    given, asks only ``len`` and iteration) without being in memory at once. ``count``
    None: counted by making the rows once, when first asked."""

    def __init__(self, make: Callable[[], Iterator[dict[str, Any]]], count: int | None = None):
        super().__init__()
        self._make, self._count = make, count

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._make())

    def __len__(self) -> int:
        if self._count is None:
            self._count = sum(1 for _ in self._make())
        return self._count

    def __getitem__(self, index: Any) -> Any:
        return list(self._make())[index]

    def __eq__(self, other: object) -> bool:
        return list(self._make()) == other

    __hash__ = None


def truth(
    sc: Scenario, built: BuiltStore, *, variant: str, encoding: str, source: str
) -> dict[str, Any]:
    """The truth document for a written store (``write_pst`` must have filled the nids)."""
    histories = _history_records(built, source)
    hidden = [_hidden_row(folder, message) for folder, message in built.hidden]
    messages = RowsOnDemand(
        lambda: (
            {
                "folder": folder,
                "nid": spec.nid,
                "subject": message.subject,
                "sender_email": message.sender_email,
                "internet_message_id": message.internet_message_id,
                "delivery_time": message.delivery_time.isoformat(),
                "uid": message.uid,
                "account": message.account.smtp,
            }
            for folder, message, spec in built.messages
        ),
        len(built.messages),
    )
    folders = [
        {
            "path": f"{TOP_NAME}/{folder.name}",
            "name": folder.name,
            "container_class": folder.container_class,
            "nid": folder.nid,
            "messages": len(folder.messages),
            "hidden": len(folder.associated),
        }
        for folder in built.spec.folders
    ]
    deleted = [
        {
            "nid": spec.nid,
            "profile": manager.profile.name,
            "subject": _text(spec.props.get(PropId.SUBJECT)),
            "block_ranges": [list(r) for r in spec.block_ranges],
            "blobs": [
                {
                    "account": h.account.smtp,
                    "sha256": hashlib.sha256(history_blob(h)).hexdigest(),
                    "size": len(history_blob(h)),
                }
                for h in manager.histories
            ],
        }
        for manager, spec in built.deleted
    ]
    server = [
        {
            "history": index,
            "account": history.account.smtp,
            **_server_classes(history, sc.server_uidl.get(history.account.smtp, [])),
        }
        for index, history in enumerate(_histories(built))
    ]
    shared: dict[str, list[int]] = defaultdict(list)
    for index, uids in enumerate(_history_uids(built)):
        for uid in uids:
            shared[uid].append(index)
    expected: dict[str, Any] = {
        "clock_offset_minutes": sc.clock_offset,
        "managers": len(built.managers),
        "profiles": [
            {
                "name": m.profile.name,
                "search_key": m.profile.search_key.hex(),
                "identification": list(m.identification),
            }
            for m, _ in built.managers
        ],
        "accounts": [
            {"email": a.smtp, "mini_uid": a.mini_uid_hex, "uid_scheme": a.uid_scheme}
            for a in sc.accounts
        ],
        "server": server,
        "duplicates": _duplicates(built),
        "uids_in_several_histories": {u: i for u, i in sorted(shared.items()) if len(i) > 1},
        "anomaly_codes": [sorted({a["code"] for a in r["anomalies"]}) for r in histories],
        "links": RowsOnDemand(lambda: _link_rows(sc, built)),
        **sc.facts,
    }
    return {
        "truth_format": TRUTH_FORMAT,
        "scenario": sc.name,
        "seed": sc.seed,
        "variant": variant,
        "encoding": encoding,
        "clock_offset_minutes": sc.clock_offset,
        "store": {
            "display_name": built.spec.display_name,
            "top_name": built.spec.top_name,
            "record_key": built.spec.record_key.hex() if built.spec.record_key else None,
        },
        "folders": folders,
        "histories": histories,
        "hidden": hidden,
        "messages": messages,
        "deleted": deleted,
        "server_uidl": {
            smtp: [[n, uid] for n, uid in enumerate(uids, 1)]
            for smtp, uids in sc.server_uidl.items()
        },
        "expected": expected,
    }


def uidl_transcript(uids: list[str]) -> str:
    """A raw POP3 ``UIDL`` response as a client log shows it (RFC 1939 section 7)."""
    lines = [f"+OK {len(uids)} messages", *(f"{n} {uid}" for n, uid in enumerate(uids, 1)), "."]
    return "\r\n".join(lines) + "\r\n"


# --- the evidence set -------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceSet:
    """The files one scenario wrote, and its truth document."""

    store: Path
    truth_file: Path
    listings: dict[str, Path]  # SMTP address -> UIDL transcript
    msgs: tuple[Path, ...]
    document: dict[str, Any]


def write_evidence(
    outdir: str | Path,
    sc: Scenario,
    *,
    variant: str = "unicode",
    encoding: str = "none",
    msg: bool = False,
    force: bool = False,
    stem: str | None = None,
    step: Callable[[str], None] | None = None,
) -> EvidenceSet:
    """Write a scenario's store, truth, UIDL listings and (``msg``) hidden-message MSGs,
    each named ``stem`` (by default ``<scenario>-<variant>-<encoding>``) plus a suffix per
    kind.

    Refuses to replace an existing file unless ``force``; ``step`` is told each phase.
    """
    say = step or (lambda _phase: None)
    out = Path(outdir)
    base = stem or f"{sc.name}-{variant}-{encoding}"
    store, truth_file = out / f"{base}.pst", out / f"{base}.truth.json"
    listings = {
        a.smtp: out / (f"{base}.uidl.txt" if i == 0 else f"{base}.{i + 1}.uidl.txt")
        for i, a in enumerate(sc.accounts)
    }
    live = [m for m in sc.managers if not m.deleted]
    msgs = [out / f"{base}.manager-{i + 1}.msg" for i in range(len(live))] if msg else []
    existing = [p for p in (store, truth_file, *listings.values(), *msgs) if p.exists()]
    if existing and not force:
        raise FileExistsError(f"{existing[0]} exists (use --force to replace it)")
    out.mkdir(parents=True, exist_ok=True)
    say("building the store spec")
    built = store_spec(sc, variant)
    say(f"writing {store.name} ({len(sc.messages)} messages)")
    write_pst(built.spec, store, variant=variant, encoding=encoding, seed=sc.seed)
    say("deriving the truth")
    document = truth(sc, built, variant=variant, encoding=encoding, source=store.name)
    if sc.after_write is not None:
        document.update(sc.after_write(store, built, variant, encoding))
    document["files"] = {
        "store": store.name,
        "server_uidl": {smtp: p.name for smtp, p in listings.items()},
        "msg": [
            {"file": p.name, "message_nid": spec.nid}
            for p, (_m, spec) in zip(msgs, built.managers, strict=False)
        ],
    }
    for smtp, path in listings.items():
        _atomic(path, uidl_transcript(sc.server_uidl.get(smtp, [])).encode())
    for path, (_manager, spec) in zip(msgs, built.managers, strict=False):
        say(f"writing {path.name}")
        write_msg(spec, path)
    _write_json(truth_file, document)
    return EvidenceSet(store, truth_file, listings, tuple(msgs), document)


def set_truth(name: str, members: list[Scenario], written: list[EvidenceSet]) -> dict[str, Any]:
    """The truth of a set of stores: which lineages the audit must find, their versions in
    order with the tags each added and pruned, and whether two clients shared the mailbox."""
    uids = [{t.uid for m in sc.managers for h in m.histories for t in h.tags} for sc in members]
    two_clients = any(
        a.record_key != b.record_key and a_uids & b_uids
        for (a, a_uids), (b, b_uids) in combinations(zip(members, uids, strict=True), 2)
    )
    lineages = []
    for key in dict.fromkeys(sc.record_key for sc in members):  # in order, once each
        versions = [
            {
                "store": w.store.name,
                "count": len(sc.facts.get("tags", ())),
                "added_uids": sc.facts.get("added_uids", []),
                "pruned_uids": sc.facts.get("pruned_uids", []),
            }
            for sc, w in zip(members, written, strict=True)
            if sc.record_key == key
        ]
        lineages.append({"store_key": key.hex(), "versions": versions})
    return {
        "truth_format": TRUTH_FORMAT,
        "scenario_set": name,
        "seed": members[0].seed,
        "stores": [w.store.name for w in written],
        "truth_files": [w.truth_file.name for w in written],
        "expected": {"lineages": lineages, "same_uid_in_two_histories": two_clients},
    }


def write_set(
    outdir: str | Path,
    name: str,
    *,
    seed: int = 0,
    clock_offset: int = 0,
    variant: str = "unicode",
    encoding: str = "none",
    force: bool = False,
) -> tuple[list[EvidenceSet], Path]:
    """Write every store of a scenario set (``<set>-<n>-<variant>-<encoding>.pst`` with its
    own truth and listing) and the set's truth, ``<set>-<variant>-<encoding>.set.truth.json``."""
    members = scenario_set(name, seed=seed, clock_offset=clock_offset)
    path = Path(outdir) / f"{name}-{variant}-{encoding}.set.truth.json"
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists (use --force to replace it)")
    written = [
        write_evidence(
            outdir,
            sc,
            variant=variant,
            encoding=encoding,
            force=force,
            stem=f"{name}-{n}-{variant}-{encoding}",
        )
        for n, sc in enumerate(members, 1)
    ]
    _write_json(path, set_truth(name, members, written))
    return written, path


def truth_bytes(document: dict[str, Any]) -> bytes:
    """The truth as stable, diff-friendly JSON: the same document gives the same bytes."""
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _write_json(path: Path, document: dict[str, Any]) -> None:
    """:func:`truth_bytes`, streamed to a temporary file then renamed: a 100,000-message
    truth is about 90 MB of text, which need not be held twice in memory."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as out:
        json.dump(document, out, indent=2, ensure_ascii=False)
        out.write("\n")
    os.replace(tmp, path)


def _atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same directory, then rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
