"""What real Outlook writes beyond Microsoft's pages, as the writer reproduces it.

Measured on real stores no one here wrote (../shared/reference/pop3-history.md, "What real
Outlook stores show"; the lab stores in ../shared/samples/real/pop3/):

- every BLOB ends with ``count + 4`` bytes of leftover memory after its last tag: zeros,
  stray bytes and now and then a fragment of UTF-16LE text (:func:`blob_slack`);
- tags are written in UTC, 3-16 s after the fetched message's delivery time (up to about
  30 s), never before the previous tag; the tags of one send/receive may share one second
  (:func:`tag_times`);
- the history attachment is named ``Blob<mini uid>`` (PidTagAttachFilename) and
  ``BlobPOP<smtp>`` (PidTagAttachLongFilename), with the mini UID's four bytes in
  PidTagAttachAdditionalInformation, and an empty ``Restags`` companion beside it
  (:func:`companion_name`).

Everything here is a pure function of its arguments (and of the random generator given),
so the same story gives the same bytes.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from uidl_inspector.schemas.popblob import slack_size

__all__ = [
    "TAG_LAG",
    "TAG_LAG_MAX",
    "SHARED_SECOND_CHANCE",
    "tag_times",
    "blob_slack",
    "companion_name",
]

TAG_LAG = (3, 16)  # seconds from delivery to tag, as the real lab stores show
TAG_LAG_MAX = 30  # now and then later, up to about this
SHARED_SECOND_CHANCE = 0.3  # a send/receive whose tags all carry one second
_LATE_CHANCE = 0.1  # a tag written later than 16 s after its delivery

# Leftover text seen in memory: words of the Outlook process, cut where the buffer ends.
_LEFTOVER_WORDS = (
    "Outlook",
    "Inbox",
    "Personal Folders",
    "Send/Receive",
    "POP3",
    "Microsoft",
    "Outlook Data File",
    "Deleted Items",
    "Message Manager",
    "AppData\\Local\\Microsoft\\Outlook",
)
# Stray bytes that can never start or extend a printable run (ASCII or UTF-16LE), so the
# slack's readable text is exactly the fragments placed in it.
_NOISE = bytes(range(0x01, 0x20)) + bytes(range(0x80, 0xA0))


def tag_times(deliveries: Sequence[datetime], rng: random.Random) -> list[datetime]:
    """When Outlook writes the tags of one send/receive (UTC), given the delivery times of
    the messages it fetched, in fetch order."""
    if (
        len(deliveries) > 1
        and (deliveries[-1] - deliveries[0]).total_seconds() + TAG_LAG[1] <= TAG_LAG_MAX
        and rng.random() < SHARED_SECOND_CHANCE
    ):
        shared = deliveries[-1] + timedelta(seconds=rng.randint(*TAG_LAG))
        return [shared] * len(deliveries)
    out: list[datetime] = []
    for delivered in deliveries:
        late = rng.random() < _LATE_CHANCE
        lag = rng.randint(TAG_LAG[1] + 1, TAG_LAG_MAX) if late else rng.randint(*TAG_LAG)
        at = delivered + timedelta(seconds=lag)
        out.append(max(at, out[-1]) if out else at)  # never before the previous tag
    return out


def blob_slack(count: int, key: str) -> tuple[bytes, list[str]]:
    """``count + 4`` bytes of leftover memory, and the text fragments placed in it (in
    order): the readable text a decoder must find there, no more, no less. ``key`` seeds
    the content (the same history gives the same slack)."""
    size = slack_size(count)
    rng = random.Random(zlib.crc32(f"{key}/{count}".encode()))
    out = bytearray()
    texts: list[str] = []
    while len(out) < size:
        room = size - len(out)
        roll = rng.random()
        word = rng.choice(_LEFTOVER_WORDS)
        wide = roll < 0.25 and room >= 2 * 4 + 2  # UTF-16LE text, cut by the buffer's end
        if wide or (roll < 0.35 and room >= 4 + 2):  # else ASCII text
            text = word[: min(len(word), (room - 2) // (2 if wide else 1))]
            out += text.encode("utf-16-le" if wide else "ascii") + b"\0\0"
            texts.append(text)
        elif roll < 0.7:
            out += bytes(min(room, rng.randint(1, 8)))
        else:
            out += bytes(rng.choice(_NOISE) for _ in range(min(room, rng.randint(1, 6))))
    return bytes(out), texts


def companion_name(blob_name: str) -> str:
    """``Restags...`` beside ``Blob...``: the same account suffix."""
    return "Restags" + blob_name.removeprefix("Blob")
