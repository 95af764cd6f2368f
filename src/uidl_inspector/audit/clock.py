"""The BLOB's clock, read as UTC and checked against the store, and entries linked to messages.

Outlook writes a ``get`` tag in UTC a few seconds after it stores the message, so the
history's times are read as UTC, and the store's delivery times are asked whether another
quarter-hour offset fits them better (then ``clock_mismatch``). docs/audit.md ("Clock and
links") gives the method, what ``LAG_AFTER``, ``LAG_BEFORE`` and ``MIN_SUPPORT`` mean, and why.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from uidl_inspector.audit.entries import GET_OPERATIONS, EntryRef
from uidl_inspector.audit.inventory import StoreMessage

__all__ = ["ClockInference", "Link", "clock_and_links", "format_offset"]

OFFSETS_MINUTES = tuple(range(-14 * 60, 14 * 60 + 1, 15))
ASSUMED_OFFSET = 0  # Outlook writes its tags in UTC
# A tag follows its message's delivery by up to about 30 s (3-16 s seen in real stores);
# its whole second may fall just before a delivery time that carries a fraction.
LAG_AFTER = 30.0
LAG_BEFORE = 1.0
MIN_SUPPORT = 3
# Offsets are ranked on at most SAMPLE entries, then the winner is counted in full.
SAMPLE = 2000
# A chain of pairs, newest first: (time index, key index, the chain before it).
_Chain = tuple[int, int, "_Chain"] | None
_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 (BLOB times are naive; deliveries made naive UTC)
BASIS_OUTLOOK = (
    "Outlook writes its POP3 history times in UTC (real stores: each tag 3-16 s "
    "after the delivery time of the message it fetched)"
)


def format_offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{rest:02d}"


# How every clock is read and checked (the report's clock.method).
METHOD = (
    f"read as UTC{format_offset(ASSUMED_OFFSET)} unless the store disagrees; "
    f"checked on quarter-hour offsets -14:00..+14:00; support = get entries "
    f"{LAG_BEFORE:g} s before to {LAG_AFTER:g} s after a distinct message "
    f"delivery time; an offset is accepted when >= {MIN_SUPPORT} and >= 2x any "
    "other offset"
)


@dataclass(frozen=True)
class ClockInference:
    """How the history's zoneless clock is read, and what the store's evidence says."""

    inferred_minutes: int | None  # the offset the evidence supports; None: not enough
    support: int
    considered: int
    runner_up: tuple[int, int] | None  # (offset_minutes, support)
    candidates: tuple[tuple[int, int], ...]

    @property
    def status(self) -> str:
        """``consistent`` (evidence confirms UTC), ``mismatch`` (evidence supports another
        offset) or ``insufficient_evidence`` (UTC assumed)."""
        if self.inferred_minutes is None:
            return "insufficient_evidence"
        return "consistent" if self.inferred_minutes == ASSUMED_OFFSET else "mismatch"

    @property
    def offset_minutes(self) -> int:
        """The offset the clock is read with: UTC unless the evidence says otherwise."""
        return ASSUMED_OFFSET if self.inferred_minutes is None else self.inferred_minutes

    def to_dict(self) -> dict[str, Any]:
        return {
            "offset_minutes": self.offset_minutes,
            "offset": format_offset(self.offset_minutes),
            "status": self.status,
            "assumed_offset_minutes": ASSUMED_OFFSET,
            "inferred_offset_minutes": self.inferred_minutes,
            "support": self.support,
            "considered": self.considered,
            "explanation": self.explanation,
            "method": METHOD,
            "lag_seconds": {"before": LAG_BEFORE, "after": LAG_AFTER},
            "runner_up": (
                None
                if self.runner_up is None
                else {"offset_minutes": self.runner_up[0], "support": self.runner_up[1]}
            ),
            "candidates": [{"offset_minutes": o, "support": s} for o, s in self.candidates],
        }

    @property
    def explanation(self) -> str:
        """How the clock is read and why, in one sentence (each timeline event's basis)."""
        found = (
            f"{self.support} of {self.considered} download entries fall up to "
            f"{LAG_AFTER:g} s after a message's delivery time"
        )
        if self.status == "consistent":
            return f"UTC: {BASIS_OUTLOOK}; this store confirms it: {found}."
        if self.status == "mismatch":
            return (
                f"UTC{format_offset(self.offset_minutes)}: although {BASIS_OUTLOOK}, in "
                f"this store {found} only when the history is read so (clock_mismatch)."
            )
        return (
            f"UTC assumed: {BASIS_OUTLOOK}; this store holds too little evidence "
            "(insufficient evidence) to confirm or refute it."
        )


@dataclass(frozen=True)
class Link:
    entry: EntryRef
    message: StoreMessage
    delta_seconds: float  # entry time (shifted to UTC) minus delivery time
    candidates: int  # messages within the lag window of this entry
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "entry": self.entry.ref(),
            "message": self.message.ref(),
            "delta_seconds": round(self.delta_seconds, 3),
            "candidates": self.candidates,
            "confidence": self.confidence,
        }


def _seconds(value: datetime) -> float:
    if value.tzinfo is not None:
        return value.timestamp()  # for an aware time: the same difference to the epoch
    return (value - _EPOCH).total_seconds()


def _deliveries(messages: Sequence[StoreMessage]) -> list[tuple[float, int]]:
    """(delivery time, message index) in time order; copies delivered at one moment (a
    message copied to another folder keeps its delivery time) in node id order, so the
    first-allocated copy, the one Outlook delivered, comes first."""
    dated = [
        (_seconds(m.delivery_time), m.source, m.nid if m.nid is not None else -1, i)
        for i, m in enumerate(messages)
        if m.delivery_time is not None
    ]
    return [(t, i) for t, _source, _nid, i in sorted(dated)]


def _window(keys: Sequence[float], target: float) -> tuple[int, int]:
    """The keys a tag at ``target`` (UTC) can have been written after: [lo, hi)."""
    return bisect_left(keys, target - LAG_AFTER), bisect_right(keys, target + LAG_BEFORE)


def _support(times: Sequence[float], keys: Sequence[float], shift: float) -> int:
    """How many of the sorted ``times`` (shifted) pair with distinct sorted ``keys`` in
    their lag window: one delivery supports one entry, so a burst of gets cannot all lean
    on the same message. Greedy earliest-key pairing is a maximum pairing for sorted inputs
    and windows of one width."""
    count = 0
    free = 0  # keys before this one are taken
    for t in times:
        target = t - shift  # the window of _window, inline: this runs ~100 times per audit
        lo = bisect_left(keys, target - LAG_AFTER)
        hi = bisect_right(keys, target + LAG_BEFORE)
        pos = free if free > lo else lo
        if pos < hi:
            count += 1
            free = pos + 1
    return count


def clock_and_links(
    entries: Sequence[EntryRef], messages: Sequence[StoreMessage]
) -> tuple[ClockInference, list[Link]]:
    """The clock the store's delivery times support (:func:`_infer`), then the entries
    linked to messages with that clock (:func:`_link`), the entries' and deliveries' times
    computed once for both."""
    gets = [
        (_seconds(e.timestamp), e)
        for e in entries
        if e.operation in GET_OPERATIONS and e.timestamp is not None
    ]
    deliveries = _deliveries(messages)
    clock = _infer(gets, deliveries)
    return clock, _link(gets, deliveries, messages, clock)


def _infer(
    gets: Sequence[tuple[float, EntryRef]], deliveries: Sequence[tuple[float, int]]
) -> ClockInference:
    """The quarter-hour UTC offset the store's delivery times support, if any."""
    keys = [t for t, _ in deliveries]
    times = sorted(t for t, _ in gets)
    if not times or not keys:
        return ClockInference(None, 0, len(times), None, ())
    stride = max(1, len(times) // SAMPLE)
    sample = times[::stride]
    ranked = sorted(
        ((_support(sample, keys, o * 60.0), o) for o in OFFSETS_MINUTES),
        key=lambda so: (-so[0], abs(so[1]), so[1]),
    )
    best, second = ranked[0][1], ranked[1][1]
    support = _support(times, keys, best * 60.0)
    runner = _support(times, keys, second * 60.0)
    candidates = tuple(
        (o, s if stride == 1 else round(s * len(times) / len(sample)))
        for s, o in ranked[:3]
        if s > 0
    )
    accepted = support >= MIN_SUPPORT and support >= 2 * runner
    return ClockInference(
        best if accepted else None, support, len(times), (second, runner), candidates
    )


def _monotone_matching(
    times: Sequence[float], keys: Sequence[float], excluded: set[int] | frozenset[int] = frozenset()
) -> list[tuple[int, int]]:
    """Pair ``times`` (in their given order) with sorted ``keys`` (but the ``excluded``
    ones) so that the key index grows along the sequence, every key is in its time's lag
    window, the number of pairs is the largest possible and, among such pairings, the total
    difference the smallest.

    A longest-chain search over eligible pairs with a Fenwick tree of prefix maxima:
    cost O(P log K) for P eligible pairs and K keys. A chain is (pairs, minus its total
    difference, its last pair); chains compare on the first two, a later one only
    replacing an earlier one when strictly better. The tree is walked inline: this loop is
    most of an audit's analysis time.
    """
    size = len(keys)
    # The tree as three parallel lists (no tuple built per node visited).
    counts = [0] * (size + 1)
    costs = [0.0] * (size + 1)
    chains: list[_Chain] = [None] * (size + 1)
    best_count, best_cost, best = 0, 0.0, None
    for i, t in enumerate(times):
        lo = bisect_left(keys, t - LAG_AFTER)  # _window, inline
        hi = bisect_right(keys, t + LAG_BEFORE)
        values = []
        for j in range(lo, hi):
            if j in excluded:
                continue
            count, cost, node = 0, 0.0, None  # the best chain using keys < j
            q = j
            while q:
                c = counts[q]
                if c > count or (c == count and costs[q] > cost):
                    count, cost, node = c, costs[q], chains[q]
                q &= q - 1
            values.append((j, count + 1, cost - abs(t - keys[j]), (i, j, node)))
        for j, count, cost, chain in values:  # then each as a chain ending at key j
            q = j + 1
            while q <= size:
                c = counts[q]
                if count > c or (count == c and cost > costs[q]):
                    counts[q], costs[q], chains[q] = count, cost, chain
                q += q & -q
            if count > best_count or (count == best_count and cost > best_cost):
                best_count, best_cost, best = count, cost, chain
    pairs = []
    link = best
    while link is not None:
        pairs.append((link[0], link[1]))
        link = link[2]
    pairs.reverse()
    return pairs


def _sequence(gets: Sequence[tuple[float, EntryRef]]) -> list[int]:
    """Positions of one history's gets in the order Outlook fetched them: BLOB order,
    unless that order is not chronological (then time order)."""
    blob = sorted(range(len(gets)), key=lambda k: gets[k][1].index)
    times = [gets[k][0] for k in blob]
    inversions = sum(1 for a, b in zip(times, times[1:], strict=False) if b < a - LAG_AFTER)
    if inversions * 20 > len(times):
        return sorted(range(len(gets)), key=lambda k: (gets[k][0], gets[k][1].index))
    return blob


def _link(
    gets: Sequence[tuple[float, EntryRef]],
    deliveries: Sequence[tuple[float, int]],
    messages: Sequence[StoreMessage],
    clock: ClockInference,
) -> list[Link]:
    """Each get entry paired with at most one message and vice versa.

    One send/receive fetches messages seconds apart and records them in fetch order, so
    pairing each entry with its nearest delivery can cross neighbours. Per history, the
    pairing keeps the fetch order (BLOB order when it is chronological): as many pairs as
    possible, each tag written after its message's delivery (within the lag window), then
    the smallest total time difference. A message claimed by two histories (two accounts
    fetching at the same moment) goes to the one that would otherwise lose a link, else to
    the closer entry; the other history is matched again without it. ``confidence`` falls
    with the lag and with the number of still unlinked deliveries that were equally
    eligible.
    """
    shift = clock.offset_minutes * 60.0
    keys = [t for t, _ in deliveries]
    by_history: dict[int, list[int]] = {}
    for k, (_, ref) in enumerate(gets):
        by_history.setdefault(ref.history, []).append(k)
    orders = {h: [m[p] for p in _sequence([gets[k] for k in m])] for h, m in by_history.items()}
    excluded: dict[int, set[int]] = {h: set() for h in by_history}

    def matched(history: int, without: set[int]) -> list[tuple[int, int]]:
        order = orders[history]
        return [
            (order[i], j)
            for i, j in _monotone_matching([gets[k][0] - shift for k in order], keys, without)
        ]

    pairs = {h: matched(h, excluded[h]) for h in sorted(by_history)}
    # One history's pairing never uses a key twice: only several can contest one.
    for _round in range(len(by_history) if len(by_history) > 1 else 0):
        claimants: dict[int, list[tuple[float, int]]] = {}
        for history, found in pairs.items():
            for k, j in found:
                claimants.setdefault(j, []).append((abs(gets[k][0] - shift - keys[j]), history))
        contested = {j: sorted(c) for j, c in claimants.items() if len(c) > 1}
        if not contested:
            break
        for j, rivals in sorted(contested.items()):
            needy = [h for _d, h in rivals if len(matched(h, excluded[h] | {j})) < len(pairs[h])]
            winner = needy[0] if len(needy) == 1 else rivals[0][1]
            for _d, h in rivals:
                if h != winner:
                    excluded[h].add(j)
        pairs = {h: matched(h, excluded[h]) for h in sorted(by_history)}
    claims: dict[int, tuple[float, int, int]] = {}  # key -> (|delta|, history, get)
    for history, found in sorted(pairs.items()):
        for k, j in found:
            claim = (abs(gets[k][0] - shift - keys[j]), history, k)
            if j not in claims or claim < claims[j]:
                claims[j] = claim
    linked = set(claims)
    links = []
    for j, (distance, _history, k) in claims.items():
        target = gets[k][0] - shift
        lo, hi = _window(keys, target)
        open_keys = sum(1 for p in range(lo, hi) if p == j or p not in linked)
        confidence = round(max(0.0, 1.0 - 0.5 * distance / LAG_AFTER) / open_keys, 3)
        links.append(
            (k, Link(gets[k][1], messages[deliveries[j][1]], target - keys[j], hi - lo, confidence))
        )
    links.sort(key=lambda kl: kl[0])
    return [link for _, link in links]
