"""Other explanations that fit the same traces as a cause finding, and what would settle each.

A cause finding states the most likely reading of its evidence; ``alternatives`` keeps the
readings it cannot exclude in sight (docs/audit.md, "Reading a finding"). Declared once per
code, here.
"""

from __future__ import annotations

__all__ = ["ALTERNATIVES", "alternatives_of"]

# Per code: (explanation, what would settle it) for each alternative.
ALTERNATIVES: dict[str, tuple[tuple[str, str], ...]] = {
    "history_reset": (
        (
            "The old messages came into the store another way (imported from a PST, moved in "
            "from another store, or delivered by IMAP or Exchange), not by this account's POP3 "
            "downloads.",
            "Received headers of the older copies (a POP3 fetch names the server), an earlier "
            "copy of the store (backup, shadow copy) whose history holds their tags.",
        ),
        (
            "Outlook dropped the old tags because their messages left the server (pruning), "
            "and the re-downloaded copies were fetched by another client.",
            "An earlier version of the history (lineage): pruning keeps the other tags, a reset "
            "keeps none.",
        ),
    ),
    "multiple_managers": (
        (
            "An upgrade or migration wrote a new Message Manager beside the old one without "
            "resetting the history (both continue the same tags).",
            "Compare the managers' histories: shared tags with one timeline mean continuation.",
        ),
    ),
    "same_uid_in_two_histories": (
        (
            "The two histories are versions of one store that lost its identity (a store "
            "re-created and refilled by import): one history, not two clients.",
            "Store record keys and the lineages' periods: two clients overlap in time; versions "
            "of one history follow each other.",
        ),
        (
            "One client's history was copied into a second profile (a migrated profile), not "
            "two clients running together.",
            "Tags written after the copy: only a second client adds tags to both histories.",
        ),
    ),
    "uid_scheme_change": (
        (
            "Two different servers or accounts delivered into one history (an account whose "
            "server name changed).",
            "The server's UIDL listing now, and the account settings in the profile.",
        ),
    ),
    "get_without_delete": (
        (
            "The leave-on-server setting was changed by the user between sessions, not an "
            "interrupted session.",
            "The server's UIDL listing: UIDs still listed that the history marks as get only.",
        ),
    ),
    "blob_anomaly": (
        (
            "A tool other than Outlook wrote or edited the history.",
            "An earlier copy of the store (lineage) showing the BLOB before the change.",
        ),
    ),
    "history_missing": (
        (
            "The mail was delivered by IMAP or Exchange, or imported or moved in from another "
            "store; POP3 was never used for it.",
            "Received headers of the messages (a POP3 fetch names the server) and the account "
            "settings in the Outlook profile.",
        ),
        (
            "The history lives in another store (delivery was moved to a new PST; the old "
            "one holds the history).",
            "The other stores of the profile: a history whose UIDs match the server listing.",
        ),
    ),
    "clock_mismatch": (
        (
            "The store's messages were delivered by another client at another time than the "
            "tags record (the messages are not the downloads the tags stand for).",
            "Message-IDs of the linked messages against the server's copies.",
        ),
    ),
    "older_mail_untagged": (
        (
            "The history was reset while the server no longer held the older messages: "
            "nothing was downloaded again, so no duplicate shows it.",
            "An earlier version of the history (lineage): pruning keeps the other tags, a reset "
            "keeps none.",
        ),
        (
            "The older messages were imported or moved in from another store, or delivered by "
            "IMAP or Exchange.",
            "Received headers of the older messages.",
        ),
    ),
}


def alternatives_of(code: str) -> list[dict[str, str]]:
    """The alternatives declared for ``code`` as report items (empty when none are known)."""
    return [
        {"explanation": text, "would_settle": settle} for text, settle in ALTERNATIVES.get(code, ())
    ]
