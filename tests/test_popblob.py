"""The BLOB declaration: the fast tag path agrees with Construct's generic, checked path."""

from __future__ import annotations

import io

import pytest
from construct import Array, ConstructError, Container, NullTerminated
from hypothesis import given, settings
from hypothesis import strategies as st

from uidl_inspector.schemas.popblob import (
    FIXED_TAG_SIZE,
    TAG_FIELDS,
    PopBlob,
    PopBlobChecked,
    ResourceTag,
    ResourceTags,
    TagList,
)

EXAMPLE_TAG = b"+b201209061311380BC535DB$2dEA63$2d11E1$2dA75C$2d00215AD7BB74"
FIELDS = [name for name, _, _ in TAG_FIELDS]


def fields_of(tags):
    return [{name: tag[name] for name in FIELDS} for tag in tags]


def test_field_bounds_come_from_the_declaration():
    assert TAG_FIELDS == (
        ("operation", 0, 1),
        ("content", 1, 2),
        ("timestamp", 2, 16),
        ("uid", 16, None),
    )
    assert FIXED_TAG_SIZE == 16


def test_example_tag_through_both_paths():
    data = bytes.fromhex("03000100") + EXAMPLE_TAG + b"\0"
    fast, checked = PopBlob.parse(data), PopBlobChecked.parse(data)
    assert (fast.version, fast.count, fast.trailing) == (3, 1, b"")
    assert (
        fields_of(fast.tags)
        == fields_of(checked.tags)
        == [
            {
                "operation": b"+",
                "content": b"b",
                "timestamp": b"20120906131138",
                "uid": b"0BC535DB$2dEA63$2d11E1$2dA75C$2d00215AD7BB74",
            }
        ]
    )
    assert fast.tags.offsets == [4]
    assert PopBlob.build(fast) == data


def test_fast_parse_leaves_the_stream_after_the_last_tag():
    data = bytes.fromhex("03000100") + EXAMPLE_TAG + b"\0tail"
    stream = io.BytesIO(data)
    stream.seek(4)
    tags = ResourceTags(1).parse_stream(stream)
    assert isinstance(tags, TagList) and tags.complete and not tags.cut
    assert tags.offsets == [4]
    assert stream.read() == b"tail"


def test_cut_and_short_blobs_are_reported_not_raised():
    data = bytes.fromhex("03000300") + EXAMPLE_TAG + b"\0" + EXAMPLE_TAG[:10]
    blob = PopBlob.parse(data)
    assert len(blob.tags) == 2 and blob.tags.cut and not blob.tags.complete
    assert blob.tags[1]["timestamp"] == b"20120906"  # short fields, not an exception
    assert blob.trailing == b""
    with pytest.raises(ConstructError):
        PopBlobChecked.parse(data)
    clean_end = bytes.fromhex("03000300") + EXAMPLE_TAG + b"\0"
    blob = PopBlob.parse(clean_end)
    assert len(blob.tags) == 1 and not blob.tags.cut and not blob.tags.complete


def test_fast_build_falls_back_to_the_declaration_when_a_field_does_not_fit():
    bad = Container(operation=b"++", content=b"b", timestamp=b"2" * 14, uid=b"x")
    with pytest.raises(ConstructError):
        ResourceTags(1).build([bad])
    with pytest.raises(ConstructError):
        Array(1, NullTerminated(ResourceTag)).build([bad])


raw_field = st.binary(min_size=0, max_size=3).filter(lambda b: b"\0" not in b)
tag_bytes = st.builds(
    lambda op, ct, ts, uid: op + ct + ts + uid,
    st.sampled_from([b"+", b"-", b"&", b"x"]),
    st.sampled_from([b" ", b"h", b"b", b"q"]),
    st.one_of(st.just(b"20120906131138"), st.binary(min_size=14, max_size=14)),
    st.binary(max_size=30),
).filter(lambda b: b"\0" not in b)


@settings(max_examples=150, deadline=None)
@given(st.lists(tag_bytes, max_size=12), st.integers(0, 3))
def test_fast_and_declared_agree_on_well_formed_tags(raws, extra_count):
    tags = [
        Container(operation=r[0:1], content=r[1:2], timestamp=r[2:16], uid=r[16:]) for r in raws
    ]
    declared = Array(len(tags), NullTerminated(ResourceTag))
    built = declared.build(tags)
    assert ResourceTags(len(tags)).build(tags) == built  # fast build == declared build
    fast = ResourceTags(len(tags)).parse(built)
    assert fields_of(fast) == fields_of(declared.parse(built))
    assert fast.complete and fast.offsets == [
        sum(len(r) + 1 for r in raws[:i]) for i in range(len(raws))
    ]
    # A Count larger than the tags present: the checked path fails, the fast one says so.
    short = ResourceTags(len(tags) + 1 + extra_count).parse(built)
    assert not short.complete and fields_of(short) == fields_of(fast)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120), st.lists(tag_bytes, max_size=4))
def test_checked_parse_succeeds_exactly_when_the_fast_path_sees_no_structural_problem(noise, raws):
    data = PopBlob.build(
        {
            "version": 3,
            "count": len(raws),
            "tags": [
                Container(operation=r[0:1], content=r[1:2], timestamp=r[2:16], uid=r[16:])
                for r in raws
            ],
            "trailing": b"",
        }
    )
    for candidate in (data, data + noise, data[: len(data) - len(noise) % 8], noise):
        if len(candidate) < 4:
            continue
        fast = PopBlob.parse(candidate)
        structural_ok = (
            fast.tags.complete
            and not fast.trailing
            and all(len(r) >= FIXED_TAG_SIZE for r in fast.tags.raws)
        )
        try:
            checked = PopBlobChecked.parse(candidate)
        except ConstructError:
            assert not structural_ok
        else:
            assert structural_ok
            assert (checked.version, checked.count) == (fast.version, fast.count)
            assert fields_of(checked.tags) == fields_of(fast.tags)
