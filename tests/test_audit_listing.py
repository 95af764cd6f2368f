"""Server UIDL listings: transcripts and bare lists, damaged captures give findings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from uidl_inspector.audit.server_listing import parse_server_listing, read_server_listing
from uidl_inspector.exceptions import UidlInspectorError


def codes(listing):
    return [f.code for f in listing.findings]


def test_transcript():
    data = b"+OK 3 messages\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n3 x-1\r\n.\r\n"
    listing = parse_server_listing(data, "srv.txt")
    assert listing.shape == "uidl-transcript"
    assert listing.uids == ("whqtswO00WBw418f9t5JxYwZ", "QhdPYR:00WBw1Ph7x7", "x-1")
    assert listing.findings == ()
    assert listing.to_dict()["count"] == 3


def test_transcript_without_ok_line_and_lf_endings():
    listing = parse_server_listing("1 a\n2 b\n.\n")
    assert listing.shape == "uidl-transcript" and listing.uids == ("a", "b")


def test_one_uid_per_line():
    listing = parse_server_listing("abc-1\n\nabc-2\r\nabc-3")
    assert listing.shape == "uid-per-line"
    assert listing.uids == ("abc-1", "abc-2", "abc-3")
    assert listing.findings == ()


def test_empty():
    listing = parse_server_listing(b"")
    assert listing.uids == () and listing.shape == "empty"


def test_damaged_transcript_keeps_every_good_uid():
    data = b"+OK\r\n1 good1\r\nGARBAGE LINE HERE\r\n2 good2\r\n3 good2\r\n5 \xff\xfeuid\r\n"
    listing = parse_server_listing(data)
    assert listing.uids[:2] == ("good1", "good2")
    found = codes(listing)
    assert "bad_line" in found
    assert "duplicate_uid" in found
    assert "invalid_utf8" in found
    assert "uid_not_rfc1939" in found
    assert "truncated" in found  # no '.'
    assert "bad_numbering" in found
    bad = next(f for f in listing.findings if f.code == "bad_line")
    assert data[bad.offset :].startswith(b"GARBAGE")


def test_trailing_data_and_err():
    listing = parse_server_listing("-ERR no such mailbox\r\n1 a\r\n.\r\nextra\r\n")
    assert codes(listing) == ["server_error", "trailing_data"]
    assert listing.uids == ("a",)


def test_long_uid_flagged():
    listing = parse_server_listing("1 " + "x" * 71 + "\r\n.\r\n")
    assert codes(listing) == ["uid_not_rfc1939"]


@given(
    st.lists(
        st.text(
            alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=70
        ),
        unique=True,
        max_size=40,
    )
)
def test_round_trip_transcript(uids):
    text = "+OK\r\n" + "".join(f"{n} {u}\r\n" for n, u in enumerate(uids, 1)) + ".\r\n"
    listing = parse_server_listing(text)
    assert listing.uids == tuple(uids)
    assert listing.findings == ()


@given(st.binary(max_size=300))
def test_never_raises(data):
    listing = parse_server_listing(data)
    assert all(isinstance(u, str) for u in listing.uids)


def test_read_file(tmp_path):
    path = tmp_path / "l.txt"
    path.write_bytes(b"1 a\r\n.\r\n")
    assert read_server_listing(path).path == str(path)


def test_read_file_too_large(tmp_path, monkeypatch):
    from uidl_inspector.audit import server_listing

    monkeypatch.setattr(server_listing, "MAX_LISTING_BYTES", 4)
    path = tmp_path / "l.txt"
    path.write_bytes(b"1 a\r\n.\r\n")
    with pytest.raises(UidlInspectorError):
        read_server_listing(path)
