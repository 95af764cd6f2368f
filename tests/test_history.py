"""Decoding the history BLOB: the documented example, round trips, every anomaly code."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import uidl_inspector
from uidl_inspector.exceptions import StrictModeError
from uidl_inspector.findings import SEVERITIES, severity_of
from uidl_inspector.history import (
    ANOMALY_CODES,
    Entry,
    PopHistory,
    _LazyEntries,
    _parse,
    build_blob,
    escape_uid,
    make_tag,
    parse_blob,
    slack_text,
    unescape_uid,
    unescape_uid_bytes,
)

EXAMPLE_TAG = b"+b201209061311380BC535DB$2dEA63$2d11E1$2dA75C$2d00215AD7BB74"
EXAMPLE_UID = "0BC535DB-EA63-11E1-A75C-00215AD7BB74"
WHEN = datetime(2012, 9, 6, 13, 11, 38)


def codes(history: PopHistory) -> list[str]:
    return [a.code for a in history.anomalies]


def test_package_exports():
    assert uidl_inspector.parse_blob is parse_blob
    assert uidl_inspector.build_blob is build_blob
    assert uidl_inspector.PopHistory is PopHistory


def test_documentation_example_tag_decodes_exactly():
    history = parse_blob(bytes.fromhex("03000100") + EXAMPLE_TAG + b"\0")
    assert (history.version, history.declared_count, history.anomalies) == (3, 1, ())
    (entry,) = history.entries
    assert (entry.index, entry.offset) == (0, 4)
    assert (entry.operation, entry.content, entry.timestamp) == ("get", "body", WHEN)
    assert entry.raw_uid == "0BC535DB$2dEA63$2d11E1$2dA75C$2d00215AD7BB74"
    assert entry.uid == EXAMPLE_UID
    assert entry.to_dict()["timestamp"] == "2012-09-06T13:11:38"
    assert make_tag("get", "body", WHEN, EXAMPLE_UID) == EXAMPLE_TAG


def test_documentation_example_header():
    # The documentation's BLOB starts 03 00 17 00: version 3, 23 tags.
    tags = [("get", "body", WHEN, f"{EXAMPLE_UID[:-2]}{i:02d}") for i in range(23)]
    data = build_blob(tags)
    assert data[:4] == bytes.fromhex("03001700")
    assert parse_blob(data).parsed_count == 23


def test_escape_rules():
    assert escape_uid(EXAMPLE_UID) == "0BC535DB$2dEA63$2d11E1$2dA75C$2d00215AD7BB74"
    assert escape_uid("a$b") == "a$24b"
    assert escape_uid("é") == "$c3$a9"
    assert unescape_uid("a$2Db$2dc") == "a-b-c"  # either case of hex digit is read
    assert unescape_uid(b"$ff") == "\\xff" and unescape_uid_bytes("$ff") == b"\xff"
    assert unescape_uid("bad$zz") == "bad$zz"  # malformed escapes are kept as stored


@given(st.binary(max_size=80))
def test_escape_round_trips_any_bytes(uid):
    stored = escape_uid(uid)
    assert stored.isascii() and unescape_uid_bytes(stored) == uid
    assert all(c.isalnum() or c == "$" for c in stored)


def test_every_printable_byte_escapes_and_decodes():
    uid = "".join(chr(b) for b in range(0x21, 0x7F))
    history = parse_blob(
        build_blob([("get", "body", WHEN, uid[:70]), ("get", "body", WHEN, uid[70:])])
    )
    assert history.anomalies == ()
    assert "".join(e.uid for e in history.entries) == uid


timestamps = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)
).map(lambda d: d.replace(microsecond=0))
ascii_uids = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=70)
text_uids = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)
operations = st.sampled_from(["get", "delete", "get-and-delete"])
contents = st.sampled_from(["none", "header", "body"])


@settings(max_examples=120, deadline=None)
@given(
    st.lists(
        st.tuples(operations, contents, timestamps, ascii_uids),
        max_size=30,
        unique_by=lambda t: t[3],
    )
)
def test_round_trip_rfc1939_uids(tags):
    data = build_blob(tags)
    history = parse_blob(data)
    assert isinstance(history.entries, _LazyEntries)  # a clean BLOB takes the fast path
    assert history.anomalies == () and history.declared_count == len(tags)
    assert [(e.operation, e.content, e.timestamp, e.uid) for e in history.entries] == tags
    assert build_blob(history.entries) == data
    assert history == _parse(data, fast=False)  # the tag-by-tag path agrees


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(operations, contents, timestamps, text_uids),
        max_size=10,
        unique_by=lambda t: t[3],
    )
)
def test_round_trip_non_ascii_uids(tags):
    history = parse_blob(build_blob(tags))
    assert [e.uid for e in history.entries] == [t[3] for t in tags]
    flagged = {a.offset for a in history.anomalies}
    for entry, tag in zip(history.entries, tags, strict=True):
        rfc = all(0x21 <= ord(c) <= 0x7E for c in tag[3]) and len(tag[3]) <= 70
        assert entry.anomalies == (() if rfc else ("uid_not_rfc1939",))
        assert (entry.offset + 16 in flagged) is (not rfc)


@settings(max_examples=8, deadline=None)
@given(st.one_of(st.integers(0, 300), st.sampled_from([255, 256, 4096, 65_534, 65_535])))
def test_round_trip_counts_up_to_65535(n):
    raws = [b"&h20121231235959%x" % i for i in range(n)]
    history = parse_blob(build_blob(raws))
    assert history.declared_count == n and history.parsed_count == n
    assert history.anomalies == ()
    if n:
        last = history.entries[-1]
        assert (last.index, last.uid, last.operation) == (n - 1, f"{n - 1:x}", "get-and-delete")
        assert last.offset == 4 + sum(len(r) + 1 for r in raws[:-1])


@st.composite
def damaged_blobs(draw):
    tags = draw(st.lists(st.tuples(operations, contents, timestamps, ascii_uids), max_size=6))
    data = bytearray(build_blob(tags, count=draw(st.sampled_from([None, 0, 1, 7]))))
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["set", "cut", "insert"]))
        if kind == "set" and pos < len(data):
            data[pos] = draw(st.one_of(st.sampled_from(b"\0$-+& hbx9Z\xff"), st.integers(0, 255)))
        elif kind == "cut":
            del data[pos : pos + draw(st.integers(1, 20))]
        else:
            data[pos:pos] = draw(st.binary(max_size=8))
    return bytes(data)


@settings(max_examples=400, deadline=None)
@given(st.one_of(damaged_blobs(), st.binary(max_size=64)))
def test_lenient_never_raises_and_both_paths_agree(data):
    history = parse_blob(data)
    assert history == _parse(data, fast=False)
    assert all(a.code in ANOMALY_CODES for a in history.anomalies)
    assert all(0 <= a.offset <= len(data) for a in history.anomalies)
    for entry in history.entries:
        assert entry.offset + len(entry.raw_tag) <= len(data)
        assert data[entry.offset : entry.offset + len(entry.raw_tag)] == entry.raw_tag
        assert set(entry.anomalies) <= set(ANOMALY_CODES)
    if history.anomalies:
        with pytest.raises(StrictModeError):
            parse_blob(data, strict=True)
    else:
        assert parse_blob(data, strict=True) == history


GOOD = ("get", "body", WHEN, "uid1")
GOOD2 = ("delete", "header", WHEN, "uid2")
BLOB = build_blob([GOOD, GOOD2])

ANOMALIES = {
    "bad_version": build_blob([GOOD], version=2),
    "count_mismatch": build_blob([GOOD, GOOD2], count=3),
    "truncated": BLOB[:-3],
    "trailing_data": BLOB + b"\x01\x02garbage",
    "bad_operation": build_blob([("*", "body", WHEN, "uid1")]),
    "bad_content": build_blob([("get", "x", WHEN, "uid1")]),
    "bad_timestamp": build_blob([("get", "body", "20120230131138", "uid1")]),
    "bad_uid_escape": build_blob([make_tag("get", "body", WHEN, "uid$g1", escaped=True)]),
    "invalid_utf8": build_blob([make_tag("get", "body", WHEN, "$ff$fe", escaped=True)]),
    "duplicate_uid": build_blob([GOOD, GOOD2, ("get", "body", WHEN, "uid1")]),
    "uid_not_rfc1939": build_blob([("get", "body", WHEN, "x" * 71)]),
}


@pytest.mark.parametrize("code", ANOMALY_CODES)
def test_every_anomaly_code_is_produced_and_fails_strict_mode(code):
    data = ANOMALIES[code]
    history = parse_blob(data)
    assert code in codes(history)
    with pytest.raises(StrictModeError, match=codes(history)[0]):
        parse_blob(data, strict=True)


def test_anomaly_details_and_offsets():
    h = parse_blob(ANOMALIES["bad_version"])
    assert h.version == 2 and h.anomalies[0].offset == 0 and len(h.entries) == 1
    h = parse_blob(ANOMALIES["count_mismatch"])
    assert codes(h) == ["count_mismatch"] and h.anomalies[0].offset == 2
    assert h.declared_count == 3 and h.parsed_count == 2
    h = parse_blob(ANOMALIES["truncated"])
    assert codes(h) == ["truncated"] and len(h.entries) == 2
    assert h.entries[1].complete is False and h.entries[1].uid == "ui"
    assert h.anomalies[0].offset == h.entries[1].offset
    h = parse_blob(ANOMALIES["trailing_data"])
    assert codes(h) == ["trailing_data"] and h.anomalies[0].offset == len(BLOB)
    h = parse_blob(ANOMALIES["bad_timestamp"])
    assert h.entries[0].timestamp is None and h.entries[0].raw_timestamp == "20120230131138"
    assert h.anomalies[0].offset == 6
    h = parse_blob(ANOMALIES["bad_operation"])
    assert h.entries[0].operation is None and h.entries[0].raw_operation == "*"
    h = parse_blob(ANOMALIES["bad_uid_escape"])
    assert h.entries[0].uid == "uid$g1" and h.anomalies[0].offset == 4 + 16 + 3
    h = parse_blob(ANOMALIES["invalid_utf8"])
    entry = h.entries[0]
    assert (entry.uid, entry.uid_hex) == ("\\xff\\xfe", "fffe")
    assert set(codes(h)) == {"invalid_utf8", "uid_not_rfc1939"}
    h = parse_blob(ANOMALIES["duplicate_uid"])
    assert codes(h) == ["duplicate_uid"] and h.entries[2].anomalies == ("duplicate_uid",)
    assert "tag #0" in h.anomalies[0].detail and h.entries[0].anomalies == ()


def test_header_too_short():
    for data in (b"", b"\x03", b"\x03\x00\x01"):
        h = parse_blob(data)
        assert codes(h) == ["truncated"] and h.entries == ()
    assert parse_blob(b"\x03\x00\x01").version == 3
    assert codes(parse_blob(b"\x05\x00")) == ["bad_version", "truncated"]


def test_tags_beyond_the_count_are_recovered():
    data = build_blob([GOOD, GOOD2], count=1)
    h = parse_blob(data)
    assert codes(h) == ["count_mismatch"] and h.parsed_count == 2
    assert h.entries[1].beyond_count and h.entries[1].uid == "uid2"
    padded = parse_blob(BLOB + b"\0" * 7)  # not the count + 4 bytes of slack
    assert codes(padded) == ["trailing_data"] and "all NUL" in padded.anomalies[0].detail
    assert padded.slack is None


@pytest.mark.parametrize("count", [0, 1, 2, 9])
def test_count_plus_4_bytes_after_the_last_tag_are_slack_not_an_anomaly(count):
    tags = [("get", "body", WHEN, f"uid{i}") for i in range(count)]
    memory = bytes(range(0x80, 0x80 + count + 4))  # leftover memory: any bytes
    for fast in (True, False):
        h = _parse(build_blob(tags) + memory, fast=fast)
        assert h.anomalies == () and h.slack == memory and h.parsed_count == count
        assert h.slack_dict() == {"size": count + 4, "hex": memory.hex(), "text": []}
    assert parse_blob(build_blob(tags) + memory, strict=True).slack == memory
    for extra in (count + 3, count + 5):  # any other length stays trailing data
        h = parse_blob(build_blob(tags) + bytes(range(0x80, 0x80 + extra)))
        assert codes(h) == ["trailing_data"] and h.slack is None


def test_slack_text_finds_ascii_and_utf16_runs():
    memory = b"\x01ab\x02user@lab\x00\x07" + "C:\\Mail".encode("utf-16-le") + b"\x00x\x00"
    tags = [("get", "body", WHEN, f"u{i}") for i in range(len(memory) - 4)]
    h = parse_blob(build_blob(tags) + memory)
    assert h.anomalies == () and h.slack_dict()["text"] == ["user@lab", "C:\\Mail"]
    # UTF-16 text at an odd offset of the slack is found too
    assert slack_text(b"\x00" + "Subject".encode("utf-16-le")) == ["Subject"]
    assert slack_text(b"abc\x00") == []


def test_a_cut_blob_has_no_slack():
    data = build_blob([GOOD, GOOD2])[:-3]
    assert parse_blob(data).slack is None


def test_short_and_empty_tags():
    h = parse_blob(b"\x03\x00\x02\x00+b2012\x00\x00")
    assert h.parsed_count == 2
    assert set(codes(h)) == {"bad_timestamp", "uid_not_rfc1939", "bad_operation", "bad_content"}


def test_unescaped_separator_is_a_bad_escape_but_still_decoded():
    h = parse_blob(build_blob([make_tag("get", "body", WHEN, EXAMPLE_UID, escaped=True)]))
    assert codes(h) == ["bad_uid_escape"] and h.entries[0].uid == EXAMPLE_UID
    assert "0x2d stored unescaped" in h.anomalies[0].detail


def test_leap_days():
    good = parse_blob(
        build_blob([("get", "body", "20120229000000", "a"), ("get", "body", "20000229000000", "b")])
    )
    assert good.anomalies == () and isinstance(good.entries, _LazyEntries)
    for bad in ("21000229000000", "20130229000000"):
        h = parse_blob(build_blob([("get", "body", WHEN, "a"), ("get", "body", bad, "b")]))
        assert codes(h) == ["bad_timestamp"]
        h = parse_blob(build_blob([("get", "body", bad, "b")]))
        assert codes(h) == ["bad_timestamp"]


def test_every_anomaly_has_a_severity_from_the_one_table():
    assert {severity_of(code) for code in ANOMALY_CODES} <= set(SEVERITIES)
    assert severity_of("truncated") == "error" and severity_of("trailing_data") == "warning"
    assert severity_of("no_history_attachment") == "info"
    assert severity_of("a_code_nobody_declared") == "warning"


def test_strict_mode_on_a_clean_blob():
    assert parse_blob(BLOB, strict=True).anomalies == ()


def test_to_dict_keys():
    h = parse_blob(BLOB)
    d = h.to_dict()
    assert list(d) == ["version", "declared_count", "parsed_count", "slack", "entries", "anomalies"]
    assert list(d["entries"][0])[:8] == [
        "index",
        "offset",
        "operation",
        "content",
        "timestamp",
        "raw_timestamp",
        "raw_uid",
        "uid",
    ]
    bad = parse_blob(ANOMALIES["bad_content"]).to_dict()
    assert bad["entries"][0]["raw_tag_hex"] == ANOMALIES["bad_content"][4:-1].hex()
    assert bad["anomalies"][0] == {
        "code": "bad_content",
        "severity": "warning",
        "offset": 5,
        "detail": "tag #0: content b'x' is not one of ' ' h b",
    }


def test_builder_refuses_what_the_declaration_cannot_write():
    with pytest.raises(ValueError):
        build_blob([b"+b2012"])
    with pytest.raises(ValueError):
        build_blob([EXAMPLE_TAG + b"\0x"])
    with pytest.raises(ValueError):
        build_blob([], count=65_536)


def test_entries_are_frozen_and_lazy_entries_behave_as_a_sequence():
    h = parse_blob(build_blob([GOOD, GOOD2]))
    with pytest.raises(AttributeError):
        h.entries[0].uid = "x"  # type: ignore[misc]
    assert h.entries[-1].uid == "uid2" and len(h.entries[0:2]) == 2
    assert h.entries == tuple(h.entries) and isinstance(h.entries[0], Entry)
    with pytest.raises(IndexError):
        h.entries[2]
    assert hash(h) == hash(_parse(BLOB, fast=False))


stored_uids = st.text(st.sampled_from("aA0$2dD41f-é"), min_size=0, max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(operations, contents, timestamps, stored_uids), max_size=5))
def test_fast_path_agrees_on_odd_escapes(tags):
    # '$2D' vs '$2d', an escaped letter '$41' vs 'A', stray '$', literal '-' and 'é'.
    data = build_blob([make_tag(*t, escaped=True) for t in tags])
    assert parse_blob(data) == _parse(data, fast=False)


def test_fast_check_without_possessive_repeats(monkeypatch):
    # Python 3.10 has no possessive repeat: the findall tiling must decide the same.
    import uidl_inspector.history as history

    samples = [
        BLOB,
        build_blob([GOOD, GOOD2, ("get", "body", WHEN, "uid3")]),
        *ANOMALIES.values(),
        BLOB[:4] + b"junk" + BLOB[4:],
    ]
    expected = [parse_blob(d) for d in samples]
    monkeypatch.setattr(history, "_CLEAN_TAGS", None)
    assert [parse_blob(d) for d in samples] == expected
    assert isinstance(parse_blob(BLOB).entries, _LazyEntries)
