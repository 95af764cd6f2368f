"""Synthetic evidence scenarios: what a POP3 user's Outlook store looks like after a story.

A :class:`Scenario` is the story as data: the accounts and their servers, the Outlook
profiles, the Message Managers with their history BLOBs, the Inbox messages those downloads
produced and the server's UIDL listing at the end. :func:`store_spec` turns it into the PST
writer's spec; ``synth.truth`` derives the ground truth from the same objects (and from the
node ids the writer fills in), never from the written file.

Times: delivery times are UTC, as Outlook stores them; so are the BLOB's tags, as real Outlook
writes them, 3-16 s (up to about 30 s) after the delivery of the message each fetched
(``synth.outlook_traits``). ``clock_offset`` shifts the tags by that many minutes, as a writer
on a local-time clock would: not what Outlook does (the audit reports ``clock_mismatch``).
"""

from __future__ import annotations

import gc
import hashlib
import random
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import partial
from itertools import accumulate, pairwise
from typing import Any, TypeVar

from uidl_inspector.history import build_blob, escape_uid, make_tag
from uidl_inspector.schemas.mapi import AttachMethod, PropId, PropType
from uidl_inspector.synth.outlook_traits import blob_slack, companion_name, tag_times
from uidl_inspector.synth.pst_writer import (
    NID_DELETED_ITEMS,
    AttachmentSpec,
    FolderSpec,
    MessageSpec,
    Prop,
    Props,
    StoreSpec,
    default_folders,
)

__all__ = [
    "SCENARIOS",
    "SCENARIO_SETS",
    "scenario_set",
    "GENERAL_KEY",
    "Account",
    "Profile",
    "Tag",
    "Damage",
    "HistorySpec",
    "ManagerSpec",
    "InboxMessage",
    "Scenario",
    "BuiltStore",
    "scenario",
    "store_spec",
    "manager_subject",
    "StoredTag",
    "stored_tags",
    "tag_spans",
    "declared_count",
    "history_blob",
    "manager_message",
    "history_attachments",
    "attachment_positions",
]

MANAGER_CLASS = "IPM.MessageManager"
TOP_NAME = "Top of Personal Folders"
OPERATIONS = {"+": "get", "-": "delete", "&": "get-and-delete"}
CONTENTS = {" ": "none", "h": "header", "b": "body"}
_EPOCH = datetime(2025, 3, 3, 7, 0, 0, tzinfo=timezone.utc)
_SYNC_MINUTES = 10  # Outlook's default send/receive interval
LARGE_SERVER_KEEP = 60_000  # messages the server keeps in the `large` story
_Story = TypeVar("_Story")


@dataclass(frozen=True)
class Account:
    """A POP3 account: its SMTP address, PROP_ACCT_MINI_UID and the server's UID shape."""

    smtp: str
    mini_uid: int
    uid_scheme: str = "dovecot"  # dovecot | uuid | numeric
    display_name: str = ""

    @property
    def mini_uid_hex(self) -> str:
        return f"{self.mini_uid:08x}"


@dataclass(frozen=True)
class Profile:
    """An Outlook profile as the Message Manager reveals it: its name and 16-byte search key
    (the "General Key" pseudo-profile has a 12-byte key: the string with its NUL)."""

    name: str
    search_key: bytes


# Real General Key managers show an empty profile name: "Outlook Message Manager () (KEY: ...)".
GENERAL_KEY = Profile("", b"General Key\0")


@dataclass(frozen=True, slots=True)
class Tag:
    """One resource tag as written. ``stamp`` and ``raw_uid`` are the exact text, so a broken
    tag (bad date, bad escape) is expressed as data; ``uid`` is the real UID."""

    operation: str  # + - &
    content: str  # ' ' h b
    stamp: str  # yyyyMMddhhmmss, 14 characters when well formed
    raw_uid: str
    uid: str

    @property
    def timestamp(self) -> datetime | None:
        """The stamp's moment; None unless it is 14 digits of a real date and time."""
        if len(self.stamp) != 14 or not self.stamp.isdigit():
            return None
        try:
            return datetime.strptime(self.stamp, "%Y%m%d%H%M%S")  # noqa: DTZ007 (no zone: as recorded)
        except ValueError:
            return None


@dataclass(frozen=True)
class Damage:
    """A deliberate defect in a BLOB: ``count_mismatch`` (declared count + ``amount``),
    ``truncated`` (cut ``amount`` bytes into the last tag), ``bad_escape`` / ``bad_date``
    (tag number ``amount`` rewritten with a broken escape or an impossible date)."""

    kind: str
    amount: int = 0


@dataclass(frozen=True)
class HistorySpec:
    """One history attachment: whose it is, how it is named, and its tags.

    ``long_filename`` is real Outlook's naming: ``BlobPOP<smtp>`` as long filename and
    ``Blob<mini uid>`` as filename; the other rules carry one name only. Each is followed by
    its companion, the empty ``Restags`` attachment real Outlook keeps beside the history.
    """

    account: Account
    tags: tuple[Tag, ...]
    attachment_rule: str = "long_filename"  # long_filename | filename | display_name | mini_uid
    damage: Damage | None = None
    version: int = 3

    @property
    def attachment_name(self) -> str:
        if self.attachment_rule == "mini_uid":
            return self.mini_uid_name
        return f"BlobPOP{self.account.smtp}"

    @property
    def mini_uid_name(self) -> str:
        return f"Blob{self.account.mini_uid:08x}"

    @property
    def slack(self) -> tuple[bytes, list[str]] | None:
        """Real Outlook's leftover bytes after the last tag and the text in them; none when
        the damage leaves no clean end (a cut BLOB, a Count beyond its tags)."""
        if self.damage is not None and self.damage.kind in ("truncated", "count_mismatch"):
            return None
        return blob_slack(len(self.tags), f"{self.account.smtp}/{self.attachment_rule}")


@dataclass(frozen=True)
class ManagerSpec:
    """A hidden ``IPM.MessageManager`` message and which identification it carries."""

    profile: Profile
    histories: tuple[HistorySpec, ...]
    identification: tuple[str, ...] = ("conversation_key", "search_key", "subject")
    embedded: bool = False  # histories inside an embedded-message attachment
    deleted: bool = False  # written to the file, unreferenced
    created: datetime = _EPOCH


@dataclass(frozen=True, slots=True)
class InboxMessage:
    """A downloaded message as the store holds it."""

    account: Account
    uid: str
    subject: str
    sender_name: str
    sender_email: str
    internet_message_id: str
    delivery_time: datetime  # UTC
    submit_time: datetime  # UTC
    body: str

    @property  # not cached: 100,000 of them would stay in memory after the store is written
    def transport_headers(self) -> str:
        date = self.submit_time.strftime("%a, %d %b %Y %H:%M:%S +0000")
        return (
            f"Return-Path: <{self.sender_email}>\r\n"
            f"Received: from mx.example.net by pop.{self.account.smtp.split('@')[1]}; {date}\r\n"
            f"From: {self.sender_name} <{self.sender_email}>\r\n"
            f"To: {self.account.display_name} <{self.account.smtp}>\r\n"
            f"Subject: {self.subject}\r\n"
            f"Date: {date}\r\n"
            f"Message-ID: {self.internet_message_id}\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        )


@dataclass
class Scenario:
    """Everything a scenario wrote, as data. ``server_uidl`` maps an account's SMTP address
    to the server's listing in message-number order; ``facts`` are what the audit must find."""

    name: str
    seed: int
    clock_offset: int  # minutes east of UTC of the machine that wrote the BLOBs
    accounts: list[Account]
    managers: list[ManagerSpec]
    messages: list[InboxMessage]
    server_uidl: dict[str, list[str]]
    folder_names: dict[str, str] = field(default_factory=dict)
    facts: Mapping[str, Any] = field(default_factory=dict)
    # (store path, built, variant, encoding) -> more truth: what happens after the writer
    after_write: Callable[..., dict[str, Any]] | None = None
    store_key: bytes | None = None  # PidTagRecordKey; None: derived from name and seed

    @property
    def record_key(self) -> bytes:
        """The store's identity: shared only by the copies of one store (``copies`` set)."""
        if self.store_key is not None:
            return self.store_key
        basis = f"uidl-inspector-store:{self.name}:{self.seed}".encode()
        return hashlib.sha256(basis).digest()[:16]


@dataclass
class BuiltStore:
    """The writer's spec plus the spec objects that truth needs (their nids are filled in by
    ``write_pst``)."""

    spec: StoreSpec
    inbox: FolderSpec
    managers: list[tuple[ManagerSpec, MessageSpec]]
    hidden: list[tuple[str, MessageSpec]]  # (folder path, message), every associated message
    messages: list[tuple[str, InboxMessage, MessageSpec]]
    deleted: list[tuple[ManagerSpec, MessageSpec]]


# --- building blocks -------------------------------------------------------------------


@contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """Bulk building creates millions of small acyclic objects; the cyclic collector would
    rescan them all at every generation-2 pass (measured: 3x slower for 20,000 messages).
    It is paused for the build and restored as it was."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _rng(name: str, seed: int) -> random.Random:
    return random.Random(zlib.crc32(name.encode()) ^ (seed * 0x9E3779B1))


def manager_subject(profile: Profile) -> str:
    """The subject Outlook gives a Message Manager in a non-Exchange store."""
    return f"Outlook Message Manager ({profile.name}) (KEY: {profile.search_key.hex().upper()})"


def _tag(operation: str, content: str, moment: datetime, uid: str, clock_offset: int) -> Tag:
    """A tag stamped with a UTC moment as the local wall clock of a machine ``clock_offset``
    minutes east shows it."""
    local = moment.astimezone(timezone.utc) + timedelta(minutes=clock_offset)
    return Tag(operation, content, local.strftime("%Y%m%d%H%M%S"), escape_uid(uid), uid)


def _uid(account: Account, number: int, rng: random.Random) -> str:
    if account.uid_scheme == "uuid":
        return "-".join(f"{rng.getrandbits(b):0{b // 4}X}" for b in (32, 16, 16, 16, 48))
    if account.uid_scheme == "numeric":
        return f"{1000 + number}.{rng.getrandbits(20)}"
    return f"{number:08x}{account.mini_uid ^ 0x5A5A5A5A:08x}"  # Dovecot %08Xu%08Xv


_SENDERS = [
    ("Anna Keller", "anna.keller@lieferant.example"),
    ("Bob Marsh", "bob@marsh-consulting.example"),
    ("Chloé Martin", "chloe.martin@cabinet.example"),
    ("Deepak Rao", "d.rao@newsletter.example"),
    ("Eva Novak", "eva.novak@bank.example"),
    ("Faisal Haddad", "faisal@shipping.example"),
]
_TOPICS = [
    "Invoice {n} for March",
    "Re: meeting notes {n}",
    "Shipping confirmation #{n}",
    "Your statement {n} is ready",
    "Quarterly figures ({n})",
    "Fwd: contract draft v{n}",
]


@dataclass
class _Mailbox:
    """A server mailbox and the client that downloads from it, step by step."""

    account: Account
    rng: random.Random
    clock_offset: int
    now: datetime = _EPOCH
    number: int = 0
    on_server: deque[InboxMessage] = field(default_factory=deque)  # oldest first
    messages: list[InboxMessage] = field(default_factory=list)
    tags: dict[str, Tag] = field(default_factory=dict)  # UID -> latest tag, in first-seen order
    pending: list[InboxMessage] = field(default_factory=list)  # on the server, not in tags
    pruned: list[str] = field(default_factory=list)  # UIDs whose tags Outlook dropped

    def arrive(self, count: int) -> list[InboxMessage]:
        """``count`` messages reach the server before the next sync."""
        arrived = []
        for _ in range(count):
            self.number += 1
            name, email = self.rng.choice(_SENDERS)
            submit = (
                self.now + timedelta(seconds=self.rng.randint(30, _SYNC_MINUTES * 60 - 30))
            ).replace(microsecond=0)
            ident = hashlib.sha1(f"{self.account.smtp}/{self.number}/{self.rng.random()}".encode())
            message = InboxMessage(
                account=self.account,
                uid=_uid(self.account, self.number, self.rng),
                subject=self.rng.choice(_TOPICS).format(n=self.rng.randint(100, 999)),
                sender_name=name,
                sender_email=email,
                internet_message_id=f"<{ident.hexdigest()[:20]}@{email.split('@')[1]}>",
                delivery_time=submit,
                submit_time=submit,
                body=f"Message {self.number} for {self.account.smtp}.\r\n",
            )
            arrived.append(message)
            self.on_server.append(message)
            self.pending.append(message)
        return arrived

    def sync(
        self, delete_after: bool = False, content: str = "b", prune: bool = True
    ) -> list[InboxMessage]:
        """Outlook's send/receive: drop the tags of messages that left the server, then fetch
        every UID absent from the history, seconds apart; tags follow in UTC. ``prune``
        False: the caller knows no tagged message left the server otherwise than through
        :meth:`expire` (which drops its tag itself), so there is nothing to drop, and the
        pass over every tag (quadratic over a long story) is skipped."""
        self.now += timedelta(minutes=_SYNC_MINUTES)
        if prune:
            self.prune()
        moment = self.now.replace(second=self.rng.randint(0, 20), microsecond=0)
        fetched = []
        fetching, self.pending = self.pending, []
        for message in fetching:
            if message.uid in self.tags:
                continue
            moment += timedelta(seconds=self.rng.randint(1, 3))
            fetched.append(replace(message, delivery_time=moment))
        operation = "&" if delete_after else "+"
        for copy, at in zip(
            fetched, tag_times([c.delivery_time for c in fetched], self.rng), strict=True
        ):
            self.tags[copy.uid] = _tag(operation, content, at, copy.uid, self.clock_offset)
            if delete_after:
                self.on_server = deque(m for m in self.on_server if m.uid != copy.uid)
        self.messages.extend(fetched)
        return fetched

    def prune(self) -> None:
        """Outlook drops the ``get`` tags of UIDs the server no longer lists (a later real
        store keeps only the newest tags once older messages left the server). Its own
        delete tags (``-``, ``&``) are kept, as Microsoft's page defines them."""
        listed = {m.uid for m in self.on_server}
        gone = [u for u, t in self.tags.items() if t.operation == "+" and u not in listed]
        for uid in gone:
            del self.tags[uid]
        self.pruned += gone

    def idle(self, hours: float) -> None:
        self.now += timedelta(hours=hours)

    def delete_on_server(self, message: InboxMessage) -> None:
        """Outlook's "remove from server after N days": a ``-`` tag at the deletion time."""
        self.now += timedelta(seconds=self.rng.randint(5, 40))
        self.tags[message.uid] = _tag(
            "-", self.tags[message.uid].content, self.now, message.uid, self.clock_offset
        )
        self.on_server = deque(m for m in self.on_server if m.uid != message.uid)

    def expire(self, keep: int) -> None:
        """ "Remove from server after N days", and Outlook dropping from the history the UIDs
        the server no longer lists: the oldest messages beyond ``keep`` leave both."""
        while len(self.on_server) > keep:
            gone = self.on_server.popleft()
            if self.tags.pop(gone.uid, None) is not None:
                self.pruned.append(gone.uid)

    def reset_history(self) -> None:
        self.tags = {}
        self.pending = list(self.on_server)

    def history(self, **extra: object) -> HistorySpec:
        return HistorySpec(self.account, tuple(self.tags.values()), **extra)  # type: ignore[arg-type]


def _account(rng: random.Random, smtp: str, scheme: str, display: str) -> Account:
    return Account(smtp, rng.getrandbits(32), scheme, display)


def _profile(rng: random.Random, name: str) -> Profile:
    return Profile(name, rng.randbytes(16))


def _simple_days(box: _Mailbox, days: int, per_sync: tuple[int, int] = (0, 2)) -> None:
    """Working days of mail: a few syncs a day bring 0-2 messages each."""
    for _ in range(days):
        for _ in range(box.rng.randint(2, 4)):
            box.arrive(box.rng.randint(*per_sync))
            box.sync()
            box.idle(box.rng.uniform(0.5, 2.5))
        box.idle(14)


def _one_account(
    name: str,
    seed: int,
    clock_offset: int,
    smtp: str,
    display: str,
    days: int,
    scheme: str = "dovecot",
) -> _Mailbox:
    """The common start of a story: one account, ``days`` of ordinary mail (the box's
    ``rng`` is the story's)."""
    rng = _rng(name, seed)
    box = _Mailbox(_account(rng, smtp, scheme, display), rng, clock_offset)
    _simple_days(box, days)
    return box


def _finish(box: _Mailbox, new_on_server: int = 2) -> list[str]:
    """Mail that reaches the server after the last sync, then the server's listing."""
    box.idle(1)
    box.arrive(new_on_server)
    return [m.uid for m in box.on_server]


def _one_account_scenario(
    name: str,
    seed: int,
    box: _Mailbox,
    managers: list[ManagerSpec],
    listing: list[str] | None = None,
    **extra: Any,
) -> Scenario:
    """The scenario of a one-account story: what ``box`` downloaded (a copy: the story may
    go on) and the server's ``listing``, by default :func:`_finish`'s, taken now (after the
    managers were made, which draw from the same generator)."""
    listing = _finish(box) if listing is None else listing
    return Scenario(
        name,
        seed,
        box.clock_offset,
        [box.account],
        managers,
        list(box.messages),
        {box.account.smtp: listing},
        **extra,
    )


# --- scenarios --------------------------------------------------------------------------


def _session_opener(box: _Mailbox) -> InboxMessage | None:
    """A message fetched first in its send/receive (not the mailbox's first), still listed
    and tagged ``+``: one whose tag can be dropped without leaving its neighbours' links in
    doubt."""
    listed = {m.uid for m in box.on_server}
    found = [
        m
        for prev, m in zip(box.messages, box.messages[1:], strict=False)
        if (m.delivery_time - prev.delivery_time).total_seconds() > 60
        and m.uid in listed
        and box.tags.get(m.uid, Tag("", "", "", "", "")).operation == "+"
    ]
    return found[len(found) // 2] if found else None


def _single_account(seed: int, clock_offset: int, **_options: object) -> Scenario:
    box = _one_account(
        "single-account", seed, clock_offset, "maria.lopez@example.org", "Maria Lopez", 2
    )
    # Webmail deleted one of the first days' messages: the next send/receive dropped its tag,
    # its copy stays in the store, linked to nothing (as in the real lab stores).
    gone = _session_opener(box)
    if gone is not None:
        box.on_server = deque(m for m in box.on_server if m.uid != gone.uid)
    _simple_days(box, 1)
    # "Remove from server after N days" took out the two oldest; webmail deleted another.
    for message in list(box.on_server)[:2]:
        box.delete_on_server(message)
    webmail_deleted = box.on_server.popleft().uid if box.on_server else None
    listing = _finish(box)
    manager = ManagerSpec(_profile(box.rng, "Outlook"), (box.history(),))
    facts = {
        "history_only": [webmail_deleted] if webmail_deleted else [],
        "pruned_uids": list(box.pruned),
    }
    return _one_account_scenario("single-account", seed, box, [manager], listing, facts=facts)


def _multi_account(seed: int, clock_offset: int, **_options: object) -> Scenario:
    rng = _rng("multi-account", seed)
    accounts = [
        _account(rng, "j.doe@example.com", "dovecot", "John Doe"),
        _account(rng, "john.doe@mail.example.net", "uuid", "John Doe"),
        _account(rng, "jd@isp.example", "numeric", "John Doe"),
    ]
    rules = ["long_filename", "mini_uid", "display_name"]
    boxes = [_Mailbox(a, random.Random(rng.getrandbits(64)), clock_offset) for a in accounts]
    # One send/receive serves the accounts one after the other, minutes apart: whole-hour
    # pauses keep each account's sessions on its own minutes (3 apart), so no two accounts
    # fetch within the same half minute.
    for index, box in enumerate(boxes):
        box.now = _EPOCH + timedelta(minutes=3 * index)
        for _ in range(5):
            box.arrive(box.rng.randint(1, 2))
            box.sync(delete_after=index == 2, content="h" if index == 1 else "b")
            box.idle(box.rng.randint(1, 6))
    histories = tuple(b.history(attachment_rule=r) for b, r in zip(boxes, rules, strict=True))
    manager = ManagerSpec(
        _profile(rng, "Outlook"), histories, identification=("search_key", "subject")
    )
    messages = sorted((m for b in boxes for m in b.messages), key=lambda m: m.delivery_time)
    listing = {b.account.smtp: _finish(b, 1) for b in boxes}
    return Scenario("multi-account", seed, clock_offset, accounts, [manager], messages, listing)


def _general_key(seed: int, clock_offset: int, **_options: object) -> Scenario:
    box = _one_account(
        "general-key", seed, clock_offset, "office@smallfirm.example", "Small Firm Office", 2
    )
    manager = ManagerSpec(
        GENERAL_KEY,
        (box.history(attachment_rule="filename"),),
        identification=("conversation_key", "subject"),
    )
    return _one_account_scenario("general-key", seed, box, [manager])


def _embedded(seed: int, clock_offset: int, **_options: object) -> Scenario:
    box = _one_account(
        "embedded", seed, clock_offset, "k.tanaka@example.jp", "Kenji Tanaka", 2, "uuid"
    )
    manager = ManagerSpec(_profile(box.rng, "Outlook"), (box.history(),), embedded=True)
    return _one_account_scenario("embedded", seed, box, [manager])


def _two_profiles(seed: int, clock_offset: int, **_options: object) -> Scenario:
    """The profile was recreated: the new profile has a new key, an empty history, and
    fetched again every message still on the server (leave-on-server)."""
    box = _one_account(
        "two-profiles", seed, clock_offset, "p.schmidt@example.de", "Petra Schmidt", 3
    )
    old = ManagerSpec(_profile(box.rng, "Outlook"), (box.history(),), identification=("subject",))
    box.idle(30)
    recreated_at = box.now
    box.reset_history()
    refetched = box.sync()
    _simple_days(box, 2)
    new = ManagerSpec(_profile(box.rng, "Petra (new)"), (box.history(),), created=recreated_at)
    # A third profile was tried and never fetched mail: its manager holds no attachment, as
    # most real Message Managers (14 of 23).
    unused = ManagerSpec(_profile(box.rng, "Petra (test)"), (), created=recreated_at)
    overlap = sorted(
        {t.uid for t in old.histories[0].tags} & {t.uid for t in new.histories[0].tags}
    )
    facts = {
        "profile_recreated_at": recreated_at.isoformat(),
        "shared_uids": overlap,
        "refetched_message_ids": [m.internet_message_id for m in refetched],
    }
    return _one_account_scenario("two-profiles", seed, box, [old, new, unused], facts=facts)


def _anomalous(seed: int, clock_offset: int, **_options: object) -> Scenario:
    rng = _rng("anomalous", seed)
    damages = [
        Damage("count_mismatch", 2),
        Damage("truncated", 6),
        Damage("bad_escape", 1),
        Damage("bad_date", 2),
    ]
    accounts, histories, messages, listing = [], [], [], {}
    for index, damage in enumerate(damages):
        account = _account(rng, f"user{index + 1}@broken.example", "uuid", f"User {index + 1}")
        box = _Mailbox(account, random.Random(rng.getrandbits(64)), clock_offset)
        box.now = _EPOCH + timedelta(minutes=index)
        for _ in range(3):
            box.arrive(2)
            box.sync()
            box.idle(2)
        accounts.append(account)
        histories.append(box.history(damage=damage))
        messages.extend(box.messages)
        listing[account.smtp] = _finish(box, 0)
    manager = ManagerSpec(_profile(rng, "Outlook"), tuple(histories))
    messages.sort(key=lambda m: m.delivery_time)
    return Scenario("anomalous", seed, clock_offset, accounts, [manager], messages, listing)


def _duplicates(seed: int, clock_offset: int, **_options: object) -> Scenario:
    """The history was reset (lost BLOB, same profile): at the next sync Outlook fetched
    every message still on the server again; the Inbox holds both copies."""
    box = _one_account("duplicates", seed, clock_offset, "claims@insurer.example", "Claims Desk", 4)
    box.idle(box.rng.uniform(20, 40))
    box.reset_history()
    reset_at = box.now
    refetched = box.sync()
    _simple_days(box, 1)
    manager = ManagerSpec(_profile(box.rng, "Outlook"), (box.history(),))
    facts = {
        "history_reset_at": reset_at.isoformat(),
        "duplicated_message_ids": sorted(m.internet_message_id for m in refetched),
        "burst_size": len(refetched),
    }
    return _one_account_scenario("duplicates", seed, box, [manager], facts=facts)


def _deleted_manager(seed: int, clock_offset: int, **_options: object) -> Scenario:
    box = _one_account(
        "deleted-manager", seed, clock_offset, "s.ivanova@example.org", "Svetlana Ivanova", 2
    )
    old = ManagerSpec(_profile(box.rng, "Outlook"), (box.history(),), deleted=True)
    box.idle(20)
    box.reset_history()
    box.sync()
    _simple_days(box, 1)
    new = ManagerSpec(_profile(box.rng, "Outlook 2"), (box.history(),), created=box.now)
    return _one_account_scenario("deleted-manager", seed, box, [old, new])


_GERMAN = {
    "Inbox": "Posteingang",
    "Deleted Items": "Gelöschte Elemente",
    "Sent Items": "Gesendete Elemente",
    "Outbox": "Postausgang",
    "Drafts": "Entwürfe",
    "Junk E-mail": "Junk-E-Mail",
    "Calendar": "Kalender",
    "Contacts": "Kontakte",
    "Journal": "Journal",
    "Notes": "Notizen",
    "Tasks": "Aufgaben",
}


def _localized(seed: int, clock_offset: int, **_options: object) -> Scenario:
    box = _one_account(
        "localized",
        seed,
        clock_offset,
        "juergen.mueller@beispiel.example",
        "Jürgen Müller",
        2,
        "numeric",
    )
    manager = ManagerSpec(_profile(box.rng, "Jürgens Profil"), (box.history(),))
    return _one_account_scenario("localized", seed, box, [manager], folder_names=_GERMAN)


def _large(seed: int, clock_offset: int, messages: int = 1000, **_options: object) -> Scenario:
    box = _one_account("large", seed, clock_offset, "archive@bigcorp.example", "Archive", 0)
    rng = box.rng
    while box.number < messages:
        box.arrive(min(rng.randint(1, 8), messages - box.number))
        box.sync(prune=False)  # messages leave this server only by expire()
        box.expire(LARGE_SERVER_KEEP)  # a BLOB holds at most 65,535 tags
        box.idle(rng.uniform(0.2, 3))
    manager = ManagerSpec(_profile(rng, "Outlook"), (box.history(),))
    return _one_account_scenario("large", seed, box, [manager], _finish(box, 0))


def _two_clients(seed: int, clock_offset: int, **_options: object) -> list[Scenario]:
    """Two computers (two stores, two record keys) download one server mailbox at the same
    time, both leaving mail on the server: each keeps its own history and fetches every
    message once more."""
    rng = _rng("two-clients", seed)
    account = _account(rng, "family@home.example", "dovecot", "Family")
    desk = _Mailbox(account, random.Random(rng.getrandbits(64)), clock_offset)
    laptop = _Mailbox(account, random.Random(rng.getrandbits(64)), clock_offset)
    for _day in range(3):
        for _ in range(rng.randint(2, 3)):
            arrived = desk.arrive(rng.randint(1, 2))
            laptop.on_server.extend(arrived)
            laptop.pending.extend(arrived)
            desk.sync()
            laptop.now = desk.now - timedelta(minutes=_SYNC_MINUTES - rng.randint(2, 5))
            laptop.sync()
            desk.idle(rng.uniform(0.5, 2.5))
        desk.idle(14)
    listing = _finish(desk)
    shared = sorted(set(desk.tags) & set(laptop.tags))
    out = []
    for n, (box, name) in enumerate(((desk, "Desk"), (laptop, "Laptop")), 1):
        manager = ManagerSpec(_profile(rng, name), (box.history(),))
        facts = {"client": n, "shared_uids": shared}
        key = rng.randbytes(16)
        story = _one_account_scenario(
            "two-clients", seed, box, [manager], listing, facts=facts, store_key=key
        )
        out.append(story)
    return out


def _copies(seed: int, clock_offset: int, **_options: object) -> list[Scenario]:
    """One store copied at several moments of its life (backups). Between copies, mail
    arrives and is downloaded (tags added), and webmail deletes the oldest messages on the
    server, so Outlook drops their tags at the next send/receive (tags pruned). Every copy
    keeps the store's record key: one lineage, one version per copy."""
    box = _one_account("copies", seed, clock_offset, "a.rossi@example.it", "Anna Rossi", 2)
    profile = _profile(box.rng, "Outlook")
    key = box.rng.randbytes(16)
    out = []
    before: dict[str, Tag] = {}
    for copy in range(1, 5):
        if copy > 1:
            for _ in range(min(2, max(0, len(box.on_server) - 2))):
                box.on_server.popleft()  # deleted through webmail
            _simple_days(box, 1, (1, 2))
        manager = ManagerSpec(profile, (box.history(),))
        facts = {
            "copy": copy,
            "added_uids": [u for u in box.tags if u not in before] if copy > 1 else [],
            "pruned_uids": [u for u in before if u not in box.tags],
            "tags": list(box.tags),
        }
        listing = [m.uid for m in box.on_server]
        story = _one_account_scenario(
            "copies", seed, box, [manager], listing, facts=facts, store_key=key
        )
        out.append(story)
        before = dict(box.tags)
    return out


SCENARIO_SETS: dict[str, Callable[..., list[Scenario]]] = {
    "two-clients": _two_clients,
    "copies": _copies,
}


def _factory(table: Mapping[str, _Story], kind: str, name: str, clock_offset: int) -> _Story:
    """The story named ``name`` in ``table``, once the arguments every story takes are checked."""
    try:
        factory = table[name]
    except KeyError:
        raise ValueError(f"unknown {kind} {name!r}; known: {', '.join(table)}") from None
    if not -14 * 60 <= clock_offset <= 14 * 60:
        raise ValueError(f"clock offset {clock_offset} minutes is outside -14:00..+14:00")
    return factory


@_no_gc_pauses()
def scenario_set(name: str, *, seed: int = 0, clock_offset: int = 0) -> list[Scenario]:
    """Build a named set of stores (several stores of one story); the same arguments always
    give the same stores."""
    factory = _factory(SCENARIO_SETS, "scenario set", name, clock_offset)
    return factory(seed=seed, clock_offset=clock_offset)


def _evolving(**kw: Any) -> Scenario:
    from uidl_inspector.synth.evolving import evolving  # which builds on this module

    return evolving(**kw)


SCENARIOS: dict[str, Callable[..., Scenario]] = {
    "single-account": _single_account,
    "multi-account": _multi_account,
    "general-key": _general_key,
    "embedded": _embedded,
    "two-profiles": _two_profiles,
    "anomalous": _anomalous,
    "duplicates": _duplicates,
    "deleted-manager": _deleted_manager,
    "localized": _localized,
    "large": _large,
    "evolving": _evolving,
}


@_no_gc_pauses()
def scenario(name: str, *, seed: int = 0, clock_offset: int = 0, messages: int = 1000) -> Scenario:
    """Build the named scenario; the same arguments always give the same scenario."""
    factory = _factory(SCENARIOS, "scenario", name, clock_offset)
    if messages < 1:
        raise ValueError("messages must be at least 1")
    return factory(seed=seed, clock_offset=clock_offset, messages=messages)


# --- BLOB bytes -------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredTag:
    """A tag as it lies in the BLOB: possibly damaged, possibly cut by the BLOB's end."""

    tag: Tag
    complete: bool = True

    @property
    def text(self) -> str:
        t = self.tag
        return f"{t.operation}{t.content}{t.stamp}{t.raw_uid}"


def stored_tags(history: HistorySpec) -> list[StoredTag]:
    """The tags as written, with the history's damage applied (the truth's source)."""
    tags = list(history.tags)
    kind, at = (history.damage.kind, history.damage.amount) if history.damage else (None, 0)
    if kind == "bad_escape":
        tags[at] = replace(tags[at], raw_uid=tags[at].raw_uid[:4] + "$G7" + tags[at].raw_uid[4:])
    if kind == "bad_date":
        tags[at] = replace(tags[at], stamp=tags[at].stamp[:4] + "1345" + tags[at].stamp[8:])
    stored = [StoredTag(t) for t in tags]
    if kind == "truncated" and stored:
        cut = stored[-1].text[:at]
        stored[-1] = StoredTag(Tag(cut[:1], cut[1:2], cut[2:16], cut[16:], ""), complete=False)
    return stored


def tag_spans(stored: list[StoredTag]) -> list[tuple[int, int]]:
    """[start, end) of each stored tag in the BLOB, its NUL included."""
    return list(pairwise(accumulate((len(t.text.encode()) + 1 for t in stored), initial=4)))


def declared_count(history: HistorySpec) -> int:
    damage = history.damage
    extra = damage.amount if damage and damage.kind == "count_mismatch" else 0
    return len(history.tags) + extra


def history_blob(history: HistorySpec) -> bytes:
    """The BLOB bytes of a history, built (and broken, when asked) through history.py."""
    stored = stored_tags(history)
    written = [s.tag if s.complete else history.tags[-1] for s in stored]
    raws = [make_tag(t.operation, t.content, t.stamp, t.raw_uid, escaped=True) for t in written]
    blob = build_blob(raws, version=history.version, count=declared_count(history))
    if stored and not stored[-1].complete:  # cut inside the last tag: the built BLOB, shortened
        blob = blob[: len(blob) - len(raws[-1]) - 1 + len(stored[-1].text)]
    slack = history.slack
    return blob + slack[0] if slack else blob


# --- store spec -------------------------------------------------------------------------


_READ, _HASATTACH, _ASSOCIATED = 0x01, 0x10, 0x40  # PidTagMessageFlags ([MS-OXCMSG] 2.2.1.6)


_Strings = Callable[[str], Prop]


def _strings(variant: str) -> _Strings:
    """Strings typed for the variant: String8 in ANSI stores, Unicode otherwise."""
    return partial(Prop, PropType.STRING8 if variant == "ansi" else PropType.UNICODE)


def _manager_props(manager: ManagerSpec, s: _Strings, rng: random.Random) -> Props:
    key = manager.profile.search_key
    props: Props = {
        PropId.MESSAGE_CLASS: s(MANAGER_CLASS),
        PropId.MESSAGE_FLAGS: Prop(
            PropType.INT32, _READ | _ASSOCIATED | (_HASATTACH if manager.histories else 0)
        ),
        PropId.MESSAGE_STATUS: Prop(PropType.INT32, 0),
        PropId.CREATION_TIME: Prop(PropType.TIME, manager.created),
        PropId.LAST_MODIFICATION_TIME: Prop(PropType.TIME, manager.created),
    }
    if "conversation_key" in manager.identification:
        props[PropId.CONVERSATION_KEY] = Prop(PropType.BINARY, key)
    search_key = key if "search_key" in manager.identification else rng.randbytes(16)
    props[PropId.SEARCH_KEY] = Prop(PropType.BINARY, search_key)
    if "subject" in manager.identification:
        props[PropId.SUBJECT] = s(manager_subject(manager.profile))
    return props


_ATTACH_ADDITIONAL_INFO = 0x370F  # PidTagAttachAdditionalInformation: the mini UID's bytes


def _named_attachment(
    history: HistorySpec, s: _Strings, data: bytes, rename: Callable[[str], str]
) -> AttachmentSpec:
    """A by-value attachment named by the history's rule (``rename`` maps Blob names to the
    companion's). Real Outlook (``long_filename``): BlobPOP<smtp> as long filename,
    Blob<mini uid> as filename, the mini UID's four bytes beside them."""
    props: Props = {
        PropId.ATTACH_METHOD: Prop(PropType.INT32, AttachMethod.BY_VALUE),
        PropId.ATTACH_SIZE: Prop(PropType.INT32, len(data)),
        PropId.RENDERING_POSITION: Prop(PropType.INT32, -1),
    }
    rule = history.attachment_rule
    name = rename(history.attachment_name)
    if rule == "long_filename":
        props[PropId.ATTACH_LONG_FILENAME] = s(name)
        props[PropId.ATTACH_FILENAME] = s(rename(history.mini_uid_name))
        props[_ATTACH_ADDITIONAL_INFO] = Prop(
            PropType.BINARY, history.account.mini_uid.to_bytes(4, "little")
        )
    if rule in ("filename", "mini_uid"):
        props[PropId.ATTACH_FILENAME] = s(name)
    if rule == "display_name":
        props[PropId.DISPLAY_NAME] = s(name)
    return AttachmentSpec(props=props, data=data)


def history_attachments(history: HistorySpec, s: _Strings) -> list[AttachmentSpec]:
    """The history attachment, then its empty Restags companion."""
    return [
        _named_attachment(history, s, history_blob(history), lambda name: name),
        _named_attachment(history, s, b"", companion_name),
    ]


def attachment_positions(manager: ManagerSpec) -> list[int]:
    """Where each history's attachment sits in its message's attachment table (each is
    followed by its companion)."""
    return [2 * index for index in range(len(manager.histories))]


def manager_message(manager: ManagerSpec, variant: str, rng: random.Random) -> MessageSpec:
    """The hidden message spec (also the MSG writer's input)."""
    s = _strings(variant)
    attachments = [a for h in manager.histories for a in history_attachments(h, s)]
    if manager.embedded:
        inner = MessageSpec(
            props={
                PropId.MESSAGE_CLASS: s(MANAGER_CLASS),
                PropId.MESSAGE_FLAGS: Prop(PropType.INT32, _READ | _HASATTACH),
                PropId.SUBJECT: s("POP3 download history"),
            },
            attachments=attachments,
        )
        attachments = [
            AttachmentSpec(
                props={
                    PropId.ATTACH_METHOD: Prop(PropType.INT32, AttachMethod.EMBEDDED_MESSAGE),
                    PropId.ATTACH_SIZE: Prop(PropType.INT32, 0),
                    PropId.RENDERING_POSITION: Prop(PropType.INT32, -1),
                    PropId.DISPLAY_NAME: s("POP3 download history"),
                },
                embedded=inner,
            )
        ]
    return MessageSpec(props=_manager_props(manager, s, rng), attachments=attachments)


class InboxSpec(MessageSpec):
    """A store message's spec whose properties are built when the writer asks for them, from
    its :class:`InboxMessage`, and not kept: the 100,000 messages of the ``large`` scenario
    would otherwise hold 100,000 property dictionaries while the store is written. The last
    one built is kept, as the writer asks for one message's properties several times."""

    _last: tuple[InboxSpec, Props, list[Props]] | None = None  # (spec, props, recipients)

    def __init__(self, message: InboxMessage, strings: _Strings, search_key: bytes) -> None:
        self.message, self._strings, self._search_key = message, strings, search_key
        self.attachments: list[AttachmentSpec] = []
        self.nid: int | None = None
        self.block_ranges: list[tuple[int, int]] = []

    def _built(self) -> tuple[InboxSpec, Props, list[Props]]:
        last = InboxSpec._last
        if last is None or last[0] is not self:
            s = self._strings
            last = (
                self,
                _message_props(self.message, s, self._search_key),
                [_recipient(self.message, s)],
            )
            InboxSpec._last = last
        return last

    @property
    def props(self) -> Props:
        return self._built()[1]

    @props.setter
    def props(self, value: Props) -> None:
        raise AttributeError("a store message's properties are made from its InboxMessage")

    @property
    def recipients(self) -> list[Props]:
        return self._built()[2]

    @recipients.setter
    def recipients(self, value: list[Props]) -> None:
        raise AttributeError("a store message's recipients are made from its InboxMessage")


def _message_props(message: InboxMessage, s: _Strings, search_key: bytes) -> Props:
    body = message.body
    return {
        PropId.MESSAGE_CLASS: s("IPM.Note"),
        PropId.SUBJECT: s(message.subject),
        PropId.SENDER_NAME: s(message.sender_name),
        PropId.SENDER_EMAIL_ADDRESS: s(message.sender_email),
        PropId.SENT_REPRESENTING_NAME: s(message.sender_name),
        PropId.SENT_REPRESENTING_EMAIL: s(message.sender_email),
        PropId.DISPLAY_TO: s(message.account.display_name),
        PropId.INTERNET_MESSAGE_ID: s(message.internet_message_id),
        PropId.TRANSPORT_MESSAGE_HEADERS: s(message.transport_headers),
        PropId.CLIENT_SUBMIT_TIME: Prop(PropType.TIME, message.submit_time),
        PropId.MESSAGE_DELIVERY_TIME: Prop(PropType.TIME, message.delivery_time),
        PropId.CREATION_TIME: Prop(PropType.TIME, message.delivery_time),
        PropId.LAST_MODIFICATION_TIME: Prop(PropType.TIME, message.delivery_time),
        PropId.MESSAGE_FLAGS: Prop(PropType.INT32, _READ),
        PropId.MESSAGE_STATUS: Prop(PropType.INT32, 0),
        PropId.MESSAGE_SIZE: Prop(PropType.INT32, len(body) + len(message.transport_headers)),
        PropId.IMPORTANCE: Prop(PropType.INT32, 1),
        PropId.SEARCH_KEY: Prop(PropType.BINARY, search_key),
        PropId.BODY: s(body),
    }


def _recipient(message: InboxMessage, s: _Strings) -> Props:
    return {
        0x0C15: Prop(PropType.INT32, 1),  # PidTagRecipientType: To
        PropId.DISPLAY_NAME: s(message.account.display_name),
        0x3002: s("SMTP"),  # PidTagAddressType
        0x3003: s(message.account.smtp),  # PidTagEmailAddress
    }


@_no_gc_pauses()
def store_spec(sc: Scenario, variant: str = "unicode") -> BuiltStore:
    """The PST writer's spec for a scenario, in one variant (strings typed accordingly)."""
    s = _strings(variant)
    rng = _rng(sc.name + "/store", sc.seed)
    folders = {f.name: f for f in default_folders()}
    for english, folder in folders.items():
        folder.name = sc.folder_names.get(english, english)
    # The wastebasket is marked by its fixed NID, whatever its (localized) name.
    folders["Deleted Items"].nid = NID_DELETED_ITEMS
    inbox = folders["Inbox"]
    inbox_path = f"{TOP_NAME}/{inbox.name}"
    built = BuiltStore(
        StoreSpec(folders=list(folders.values()), record_key=sc.record_key), inbox, [], [], [], []
    )
    for message in sc.messages:
        spec = InboxSpec(message, s, rng.randbytes(16))
        inbox.messages.append(spec)
        built.messages.append((inbox_path, message, spec))
    # Outlook keeps other hidden messages beside the Message Manager in the Inbox.
    rule = MessageSpec(
        props={
            PropId.MESSAGE_CLASS: s("IPM.Rule.Version2.Message"),
            PropId.MESSAGE_FLAGS: Prop(PropType.INT32, _READ | _ASSOCIATED),
            PropId.SEARCH_KEY: Prop(PropType.BINARY, rng.randbytes(16)),
        }
    )
    inbox.associated.append(rule)
    built.hidden.append((inbox_path, rule))
    for manager in sc.managers:
        held = manager_message(manager, variant, rng)
        if manager.deleted:
            built.spec.orphans.append(held)
            built.deleted.append((manager, held))
        else:
            inbox.associated.append(held)
            built.hidden.append((inbox_path, held))
            built.managers.append((manager, held))
    return built
