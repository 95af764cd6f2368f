"""The locator: every documented rule, the content sweep, embedded messages, damage."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest

from fakes_store import FakeAttachment, FakeFolder, FakeMessage, FakeStore, folder_tree
from uidl_inspector.history import build_blob
from uidl_inspector.locate import (
    GENERAL_KEY,
    attachment_rule,
    hidden_inventory,
    locate,
    message_rules,
    parse_manager_subject,
)
from uidl_inspector.schemas.mapi import PropId as P
from uidl_inspector.store.model import MAX_EMBED_DEPTH

KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
BLOB = build_blob(
    [
        ("get", "body", datetime(2012, 9, 6, 13, 11, 38), "0BC535DB-EA63"),
        ("delete", "none", datetime(2012, 9, 7, 8, 0, 0), "uid-2"),
    ]
)
OTHER = build_blob([("get", "header", datetime(2020, 1, 2, 3, 4, 5), "x")])


def subject(name: str, key: bytes) -> str:
    return f"Outlook Message Manager ({name}) (KEY: {key.hex().upper()})"


def manager(nid: int, attachments: list[FakeAttachment], props=None) -> FakeMessage:
    base = {P.MESSAGE_CLASS: "IPM.MessageManager", P.SEARCH_KEY: bytes(range(16))}
    base.update(props or {})
    return FakeMessage(nid, base, attachments)


def blob_att(index: int, blob: bytes = BLOB, names=None) -> FakeAttachment:
    props = {P.ATTACH_METHOD: 1}
    props.update(names or {})
    return FakeAttachment(index, props, blob)


def store_with(*hidden: FakeMessage, name: str = "Inbox", normal=()) -> FakeStore:
    inbox = FakeFolder(0x8082, name, f"Top of Personal Folders/{name}", list(hidden), list(normal))
    return FakeStore(folder_tree(inbox))


# --- identification rules --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (subject("Outlook", KEY), ("Outlook", KEY)),
        (subject("Work (old) (2)", KEY), ("Work (old) (2)", KEY)),
        (subject("x) (KEY: 00", KEY), ("x) (KEY: 00", KEY)),
        ("Outlook Message Manager (General Key) (KEY: 47656E)", ("General Key", b"Gen")),
        ("Outlook Message Manager () (KEY: )", ("", b"")),
        ("Outlook Message Manager (x) (KEY: 0G)", None),
        ("Outlook Message Manager (x) (KEY: 012)", None),
        ("Re: Outlook Message Manager (x) (KEY: 00)", None),
        (None, None),
    ],
)
def test_subject_parsing(text, expected):
    assert parse_manager_subject(text) == expected


def test_all_rules_and_the_profile_they_reveal():
    props = {P.CONVERSATION_KEY: KEY, P.SEARCH_KEY: KEY, P.SUBJECT: subject("Outlook", KEY)}
    rules, profile = message_rules(props)
    assert rules == ("conversation_key", "search_key", "subject")
    assert (profile.name, profile.search_key) == ("Outlook", KEY.hex())


def test_search_key_alone_does_not_identify():
    # every message has a search key of its own; only one equal to a revealed key counts
    rules, profile = message_rules({P.SEARCH_KEY: KEY, P.SUBJECT: subject("P", b"\1" * 16)})
    assert rules == ("subject",) and profile.search_key == "01" * 16
    rules, profile = message_rules({P.SEARCH_KEY: KEY})
    assert rules == () and profile.search_key is None


def test_general_key_comes_first():
    props = {P.CONVERSATION_KEY: GENERAL_KEY, P.SUBJECT: subject("General Key", GENERAL_KEY)}
    rules, profile = message_rules(props)
    assert rules == ("general_key", "conversation_key", "subject")
    assert (profile.name, profile.search_key) == ("General Key", GENERAL_KEY.hex())
    assert message_rules({P.SEARCH_KEY: GENERAL_KEY})[0] == ("general_key",)


@pytest.mark.parametrize(
    ("props", "rule", "name", "email", "mini"),
    [
        (
            {P.ATTACH_LONG_FILENAME: "BlobPOPa@b.c", P.ATTACH_FILENAME: "BlobPOPa@b.c"},
            "long_filename",
            "BlobPOPa@b.c",
            "a@b.c",
            None,
        ),
        (
            {P.ATTACH_FILENAME: "BlobPOPa@b.c", P.DISPLAY_NAME: "BlobPOPz@b.c"},
            "filename",
            "BlobPOPa@b.c",
            "a@b.c",
            None,
        ),
        ({P.DISPLAY_NAME: "BlobPOPa@b.c"}, "display_name", "BlobPOPa@b.c", "a@b.c", None),
        ({P.ATTACH_FILENAME: "Blob0a1b2c3d"}, "mini_uid", "Blob0a1b2c3d", None, "0a1b2c3d"),
        ({P.ATTACH_FILENAME: "Blob0A1B2C3D"}, None, "Blob0A1B2C3D", None, None),  # %.8x: lower
        ({P.ATTACH_FILENAME: "Blob0a1b2c3"}, None, "Blob0a1b2c3", None, None),
        ({P.ATTACH_LONG_FILENAME: "BlobPOP"}, None, "BlobPOP", None, None),
        ({P.ATTACH_LONG_FILENAME: "report.pdf"}, None, "report.pdf", None, None),
    ],
)
def test_attachment_rules(props, rule, name, email, mini):
    got_rule, got_name, account = attachment_rule(props)
    assert (got_rule, got_name, account.email, account.mini_uid) == (rule, name, email, mini)


# --- the locator over a store ------------------------------------------------------------


def test_manager_in_inbox_with_two_accounts():
    m = manager(
        0x200024,
        [
            blob_att(0, BLOB, {P.ATTACH_LONG_FILENAME: "BlobPOPa@b.c"}),
            FakeAttachment(1, {P.ATTACH_METHOD: 1, P.ATTACH_FILENAME: "readme"}, b"text"),
            blob_att(2, OTHER, {P.ATTACH_FILENAME: "Blob0a1b2c3d"}),
        ],
        {P.CONVERSATION_KEY: KEY, P.SUBJECT: subject("Outlook", KEY)},
    )
    result = locate(store_with(m))
    assert result.findings == []
    assert [c.to_dict()["rules"] for c in result.candidates] == [["conversation_key", "subject"]]
    first, second = result.histories
    assert first.blob == BLOB and len(first.history.entries) == 2
    loc = first.location
    assert (
        loc.folder,
        loc.message_nid,
        loc.message_class,
        loc.attachment_index,
        loc.attachment_name,
        loc.match_rule,
        loc.attachment_rule,
        loc.embedded_path,
    ) == (
        "Top of Personal Folders/Inbox",
        0x200024,
        "IPM.MessageManager",
        0,
        "BlobPOPa@b.c",
        "conversation_key",
        "long_filename",
        (),
    )
    assert first.account.email == "a@b.c" and first.account.mini_uid is None
    assert (first.profile.name, first.profile.search_key) == ("Outlook", KEY.hex())
    assert (second.location.attachment_index, second.location.attachment_rule) == (2, "mini_uid")
    assert second.account.mini_uid == "0a1b2c3d" and second.account.email is None
    assert first.source == "fake.pst"
    # each history lists the message's other attachments, the other history included
    assert [c.index for c in first.location.companions] == [1, 2]
    readme = first.location.companions[0].to_dict()
    assert readme == {
        "index": 1,
        "long_filename": None,
        "filename": "readme",
        "display_name": None,
        "size": 4,
        "sha256": hashlib.sha256(b"text").hexdigest(),
    }
    assert [c.index for c in second.location.companions] == [0, 1]


def test_real_outlook_names_one_attachment_both_ways_beside_an_empty_restags():
    real = subject("", GENERAL_KEY)  # Outlook Message Manager () (KEY: 4765...00)
    names = {P.ATTACH_LONG_FILENAME: "BlobPOPuser1@test.lab", P.ATTACH_FILENAME: "Blob1a2b3c4d"}
    restags = FakeAttachment(
        1,
        {
            P.ATTACH_METHOD: 1,
            P.ATTACH_LONG_FILENAME: "RestagsPOPuser1@test.lab",
            P.ATTACH_FILENAME: "Restags1a2b3c4d",
        },
        b"",
    )
    m = manager(
        0x100028,
        [blob_att(0, BLOB, names), restags],
        {P.CONVERSATION_KEY: GENERAL_KEY, P.SUBJECT: real},
    )
    [record] = locate(store_with(m)).histories
    assert (record.account.email, record.account.mini_uid) == ("user1@test.lab", "1a2b3c4d")
    assert (record.profile.name, record.location.match_rule) == ("", "general_key")
    [companion] = record.location.companions
    assert (companion.long_filename, companion.filename, companion.size) == (
        "RestagsPOPuser1@test.lab",
        "Restags1a2b3c4d",
        0,
    )
    assert record.history.anomalies == ()


def test_a_manager_without_history_attachment_is_reported():
    restags = FakeAttachment(0, {P.ATTACH_METHOD: 1, P.ATTACH_FILENAME: "Restags1a2b3c4d"}, b"")
    bare = manager(
        0x100028, [], {P.CONVERSATION_KEY: GENERAL_KEY, P.SUBJECT: subject("", GENERAL_KEY)}
    )
    with_restags = manager(0x100048, [restags], {P.SUBJECT: subject("Outlook", KEY)})
    result = locate(store_with(bare, with_restags))
    first, second = result.histories
    assert first.blob is None and first.history.entries == ()
    d = first.to_dict()
    assert d["blob"] is None and d["entries"] == []
    assert [(a["code"], a["severity"]) for a in d["anomalies"]] == [
        ("no_history_attachment", "info")
    ]
    assert (d["location"]["match_rule"], d["location"]["attachment_index"], d["profile"]) == (
        "general_key",
        None,
        {"name": "", "search_key": GENERAL_KEY.hex()},
    )
    assert d["location"]["companions"] == []
    assert (second.location.match_rule, second.profile.name) == ("subject", "Outlook")
    assert [c.filename for c in second.location.companions] == ["Restags1a2b3c4d"]
    # a message that is not a manager yields nothing without a BLOB
    other = FakeMessage(0x100068, {P.MESSAGE_CLASS: "IPM.Note"}, [])
    assert locate(store_with(other)).histories == []


def test_any_folder_name_and_nested_folders():
    m = manager(
        0x200024,
        [blob_att(0, names={P.DISPLAY_NAME: "BlobPOPa@b.c"})],
        {P.SUBJECT: subject("P", KEY)},
    )
    deep = FakeFolder(0x9000, "Alt", "Top of Personal Folders/Posteingang/Alt", [m])
    inbox = FakeFolder(
        0x8082, "Posteingang", "Top of Personal Folders/Posteingang", children=[deep]
    )
    result = locate(FakeStore(folder_tree(inbox)))
    [record] = result.histories
    assert record.location.folder == "Top of Personal Folders/Posteingang/Alt"
    assert record.location.match_rule == "subject"
    assert record.location.attachment_rule == "display_name"
    assert result.folders == 4


def test_named_attachment_is_reported_even_when_not_a_valid_blob():
    broken = b"\x02\x00\x01\x00garbage"
    m = manager(0x200024, [blob_att(0, broken, {P.ATTACH_FILENAME: "BlobPOPa@b.c"})])
    [record] = locate(store_with(m)).histories
    assert record.location.match_rule == "message_class"
    assert record.history.version == 2
    assert "bad_version" in [a.code for a in record.history.anomalies]


def test_content_sweep_finds_unnamed_and_non_manager_blobs():
    renamed = FakeMessage(
        0x200044,
        {P.MESSAGE_CLASS: "IPM.Note.Hidden"},
        [
            FakeAttachment(0, {P.ATTACH_METHOD: 1}, OTHER),
            FakeAttachment(1, {P.ATTACH_METHOD: 1}, b"\x03\x00\x01\x00nope"),
        ],
    )
    m = manager(
        0x200024,
        [FakeAttachment(0, {P.ATTACH_LONG_FILENAME: "x.bin"}, BLOB)],
        {P.CONVERSATION_KEY: KEY},
    )
    result = locate(store_with(m, renamed))
    rules = [
        (
            h.location.message_nid,
            h.location.match_rule,
            h.location.attachment_rule,
            h.location.attachment_name,
        )
        for h in result.histories
    ]
    assert rules == [
        (0x200024, "conversation_key", "content", "x.bin"),
        (0x200044, "content", "content", None),
    ]


def test_deep_sweep_reads_normal_messages_only_when_asked():
    normal = FakeMessage(
        0x200064, {P.MESSAGE_CLASS: "IPM.Note"}, [FakeAttachment(0, {P.ATTACH_METHOD: 1}, BLOB)]
    )
    store = store_with(normal=[normal])
    assert locate(store).histories == [] and locate(store).messages == 0
    [record] = locate(store, deep=True).histories
    assert record.location.match_rule == "content" and record.blob == BLOB


def test_embedded_message_attachments_are_searched():
    inner = FakeMessage(
        None,
        {P.MESSAGE_CLASS: "IPM.MessageManager", P.SUBJECT: "inner"},
        [blob_att(0, BLOB, {P.ATTACH_LONG_FILENAME: "BlobPOPa@b.c"})],
    )
    m = manager(
        0x200024,
        [FakeAttachment(0, {P.ATTACH_METHOD: 5}, None, inner)],
        {P.CONVERSATION_KEY: KEY, P.SEARCH_KEY: KEY},
    )
    result = locate(store_with(m))
    [record] = result.histories
    assert record.location.embedded_path == (0,)
    assert record.location.attachment_index == 0
    assert record.location.match_rule == "conversation_key"
    assert record.location.to_dict()["embedded_path"] == [0]


def test_embedding_loop_is_bounded():
    loop = FakeMessage(None, {P.MESSAGE_CLASS: "IPM.Note"})
    loop.attachment_list = [FakeAttachment(0, {P.ATTACH_METHOD: 5}, None, loop)]
    result = locate(store_with(manager(0x200024, [FakeAttachment(0, {}, None, loop)])))
    assert "embedding_too_deep" in [f.code for f in result.findings]


@pytest.mark.parametrize("depth", [MAX_EMBED_DEPTH, MAX_EMBED_DEPTH + 1])
def test_embedding_bound_is_the_readers(depth):
    """A history embedded MAX_EMBED_DEPTH levels down is found (the MSG and PST readers
    read that deep); one level deeper is not searched and costs embedding_too_deep."""
    inner = FakeMessage(None, {P.MESSAGE_CLASS: "IPM.Note"}, [blob_att(0)])
    for _ in range(depth - 1):
        inner = FakeMessage(
            None,
            {P.MESSAGE_CLASS: "IPM.Note"},
            [FakeAttachment(0, {P.ATTACH_METHOD: 5}, None, inner)],
        )
    result = locate(store_with(manager(0x200024, [FakeAttachment(0, {}, None, inner)])))
    codes = [f.code for f in result.findings]
    if depth <= MAX_EMBED_DEPTH:
        [record] = result.histories
        assert record.location.embedded_path == (0,) * depth
        assert "embedding_too_deep" not in codes
    else:
        assert not [r for r in result.histories if r.blob is not None]
        assert codes.count("embedding_too_deep") == 1


def test_folder_cycle_and_damage_become_findings():
    m = manager(
        0x200024,
        [
            blob_att(0, names={P.ATTACH_LONG_FILENAME: "BlobPOPa@b.c"}),
            FakeAttachment(1, {P.ATTACH_LONG_FILENAME: "BlobPOPb@b.c"}, broken=True),
        ],
    )
    inbox = FakeFolder(0x8082, "Inbox", "Top of Personal Folders/Inbox", [m], broken_contents=True)
    inbox.children = [inbox]  # a folder that is its own child
    result = locate(FakeStore(folder_tree(inbox)), deep=True)
    codes = [f.code for f in result.findings]
    assert "folder_cycle" in codes and "unreadable" in codes
    assert [h.account.email for h in result.histories] == ["a@b.c"]
    assert any("0x4400" in f.detail or f.offset == 0x4400 for f in result.findings)


def test_hidden_inventory_lists_every_associated_message():
    m = manager(
        0x200024,
        [blob_att(0, names={P.ATTACH_LONG_FILENAME: "BlobPOPa@b.c"})],
        {P.CONVERSATION_KEY: KEY},
    )
    other = FakeMessage(0x200044, {P.MESSAGE_CLASS: "IPM.Configuration.X", P.SUBJECT: "c"})
    cal = FakeFolder(0x8102, "Calendar", "Top of Personal Folders/Calendar", [other])
    inbox = FakeFolder(0x8082, "Inbox", "Top of Personal Folders/Inbox", [m])
    rows, findings = hidden_inventory(FakeStore(folder_tree(inbox, cal)))
    assert findings == []
    assert [(r["folder"], r["nid"], r["message_class"]) for r in rows] == [
        ("Top of Personal Folders/Inbox", 0x200024, "IPM.MessageManager"),
        ("Top of Personal Folders/Calendar", 0x200044, "IPM.Configuration.X"),
    ]
    assert rows[0]["conversation_key"] == KEY.hex()
    assert rows[0]["attachments"] == [
        {
            "index": 0,
            "nid": None,
            "name": "BlobPOPa@b.c",
            "method": 1,
            "size": len(BLOB),
            "sha256": hashlib.sha256(BLOB).hexdigest(),
        }
    ]
