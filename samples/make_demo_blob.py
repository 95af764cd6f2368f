"""Rebuild samples/demo-history.blob byte for byte through uidl_inspector.build_blob.

    python samples/make_demo_blob.py           # write samples/demo-history.blob
    python samples/make_demo_blob.py --check   # compare with the committed file, exit 1 on change

The story: one POP3 account set to "leave a copy on the server". Each UID appears once,
in the state Outlook last recorded for it. On 6 September 2012 Outlook downloads the
mailbox (the first tag is the worked example of Microsoft's "Parsing the message download
history for a POP3 account"); new mail arrives over the following days; one large message
has only its headers fetched; four old messages were deleted from Outlook and are marked
for deletion on the server; the latest one was fetched and deleted at once. The UIDs are
GUIDs, as some servers hand out. Nothing is random: every value below is written out or
derived from the tag's position.
"""

# ruff: noqa: DTZ001 - the BLOB records wall-clock times with no zone: naive on purpose

from __future__ import annotations

import argparse
import hashlib
import sys
from datetime import datetime, timedelta
from pathlib import Path

from uidl_inspector.history import build_blob

HERE = Path(__file__).resolve().parent
TARGET = HERE / "demo-history.blob"
EXAMPLE_UID = "0BC535DB-EA63-11E1-A75C-00215AD7BB74"  # the documentation's example


def guid(n: int) -> str:
    """A fixed GUID-shaped UID for message number ``n`` (same shape as the example)."""
    h = hashlib.sha256(f"demo-message-{n}".encode()).hexdigest().upper()
    return f"{h[:8]}-{h[8:12]}-11E1-{h[12:16]}-00215AD7BB74"


def tags() -> list[tuple[str, str, datetime, str]]:
    first = datetime(2012, 9, 6, 13, 11, 38)
    uids = [EXAMPLE_UID] + [guid(n) for n in range(1, 25)]
    out = []
    # The first send/receive: fourteen messages, a second or two apart.
    for i in range(14):
        out.append(("get", "body", first + timedelta(seconds=i + i // 3), uids[i]))
    # Later sessions, one message each, every few hours.
    for i in range(14, 19):
        out.append(("get", "body", first + timedelta(hours=5 * (i - 13), seconds=7), uids[i]))
    # A large message: headers only (the user has not asked for the rest).
    out.append(("get", "header", datetime(2012, 9, 10, 8, 0, 3), uids[19]))
    # Four messages deleted in Outlook: marked for deletion on the server.
    for i in range(20, 24):
        out.append(("delete", "none", datetime(2012, 9, 16, 13, 20, i - 19), uids[i]))
    # The latest message, fetched and deleted from the server at once.
    out.append(("get-and-delete", "body", datetime(2012, 9, 17, 9, 45, 12), uids[24]))
    return out


def demo_blob() -> bytes:
    return build_blob(tags())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    data = demo_blob()
    if args.check:
        same = TARGET.is_file() and TARGET.read_bytes() == data
        print(f"{TARGET.name}: {'unchanged' if same else 'DIFFERS'}")
        return 0 if same else 1
    TARGET.write_bytes(data)
    print(f"wrote {TARGET} ({len(data)} bytes, {len(tags())} tags)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
