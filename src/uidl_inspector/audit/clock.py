"""The BLOB's missing time zone, inferred from the store, and entries linked to messages.

Outlook writes a ``get`` tag when it stores the fetched message, so a tag's local time minus
the writer's UTC offset falls within seconds of some message's delivery time (UTC in the
store). Every offset on the quarter-hour grid from -14:00 to +14:00 is tried; an offset's
*support* is how many ``get`` entries then pair with distinct deliveries within
``tolerance`` seconds.
The best offset is accepted only when its support is at least ``min_support`` and at least
twice that of any other offset; otherwise the result says "insufficient evidence" and
nothing is linked.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from uidl_inspector.audit.entries import GET_OPERATIONS, EntryRef
from uidl_inspector.audit.inventory import StoreMessage

__all__ = ["ClockInference", "Link", "infer_clock", "link_entries", "OFFSETS_MINUTES"]

OFFSETS_MINUTES = tuple(range(-14 * 60, 14 * 60 + 1, 15))
DEFAULT_TOLERANCE = 10.0
MIN_SUPPORT = 3
# Offsets are ranked on at most SAMPLE entries, then the winner is counted in full.
SAMPLE = 2000
_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 (BLOB times are naive; deliveries made naive UTC)


@dataclass(frozen=True)
class ClockInference:
    offset_minutes: int | None
    support: int
    considered: int
    tolerance_seconds: float
    runner_up: tuple[int, int] | None  # (offset_minutes, support)
    candidates: tuple[tuple[int, int], ...]
    status: str  # inferred | insufficient_evidence

    @property
    def method(self) -> str:
        return (f"quarter-hour offsets -14:00..+14:00; support = get entries within "
                f"{self.tolerance_seconds:g} s of a message delivery time; accepted when "
                f">= {MIN_SUPPORT} and >= 2x any other offset")

    def to_dict(self) -> dict[str, Any]:
        return {
            "offset_minutes": self.offset_minutes,
            "offset": None if self.offset_minutes is None else format_offset(self.offset_minutes),
            "support": self.support,
            "considered": self.considered,
            "status": self.status,
            "explanation": self.explanation,
            "method": self.method,
            "tolerance_seconds": self.tolerance_seconds,
            "runner_up": (None if self.runner_up is None else
                          {"offset_minutes": self.runner_up[0], "support": self.runner_up[1]}),
            "candidates": [{"offset_minutes": o, "support": s} for o, s in self.candidates],
        }

    @property
    def explanation(self) -> str:
        if self.status == "inferred":
            return (f"{self.support} of {self.considered} download entries fall within "
                    f"{self.tolerance_seconds:g} s of a delivery time when the history's "
                    f"clock is read as UTC{format_offset(self.offset_minutes or 0)}.")
        return ("insufficient evidence: no clock offset aligns enough download entries with "
                "message delivery times, so no entry is linked to a message.")


@dataclass(frozen=True)
class Link:
    entry: EntryRef
    message: StoreMessage
    delta_seconds: float  # entry time (shifted to UTC) minus delivery time
    candidates: int  # messages within the tolerance of this entry
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "entry": self.entry.ref(),
            "message": self.message.ref(),
            "delta_seconds": round(self.delta_seconds, 3),
            "candidates": self.candidates,
            "confidence": self.confidence,
        }


def format_offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{rest:02d}"


def _seconds(value: datetime) -> float:
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return (value - _EPOCH).total_seconds()


def _gets(entries: Sequence[EntryRef]) -> list[tuple[float, EntryRef]]:
    return [(_seconds(e.timestamp), e) for e in entries
            if e.operation in GET_OPERATIONS and e.timestamp is not None]


def _deliveries(messages: Sequence[StoreMessage]) -> list[tuple[float, int]]:
    return sorted((_seconds(m.delivery_time), i) for i, m in enumerate(messages)
                  if m.delivery_time is not None)


def _support(times: Sequence[float], keys: Sequence[float], shift: float, tol: float) -> int:
    """How many of the sorted ``times`` (shifted) pair with distinct sorted ``keys`` within
    ``tol``: one delivery supports one entry, so a burst of gets cannot all lean on the
    same message. Greedy earliest-key pairing is a maximum pairing for sorted inputs."""
    count = 0
    free = 0  # keys before this one are taken
    for t in times:
        target = t - shift
        pos = max(free, bisect_left(keys, target - tol))
        if pos < len(keys) and keys[pos] <= target + tol:
            count += 1
            free = pos + 1
    return count


def infer_clock(entries: Sequence[EntryRef], messages: Sequence[StoreMessage],
                tolerance: float = DEFAULT_TOLERANCE) -> ClockInference:
    """The quarter-hour UTC offset that best aligns get entries with delivery times."""
    gets = _gets(entries)
    keys = [t for t, _ in _deliveries(messages)]
    times = sorted(t for t, _ in gets)
    if not times or not keys:
        return ClockInference(None, 0, len(times), tolerance, None, (), "insufficient_evidence")
    stride = max(1, len(times) // SAMPLE)
    sample = times[::stride]
    ranked = sorted(((_support(sample, keys, o * 60.0, tolerance), o) for o in OFFSETS_MINUTES),
                    key=lambda so: (-so[0], abs(so[1]), so[1]))
    best, second = ranked[0][1], ranked[1][1]
    support = _support(times, keys, best * 60.0, tolerance)
    runner = _support(times, keys, second * 60.0, tolerance)
    candidates = tuple((o, s if stride == 1 else round(s * len(times) / len(sample)))
                       for s, o in ranked[:3] if s > 0)
    accepted = support >= MIN_SUPPORT and support >= 2 * runner
    return ClockInference(
        best if accepted else None, support, len(times), tolerance, (second, runner),
        candidates, "inferred" if accepted else "insufficient_evidence",
    )


def _better(a: tuple[int, float, Any], b: tuple[int, float, Any]) -> bool:
    return (a[0], a[1]) > (b[0], b[1])


def _monotone_matching(times: Sequence[float], keys: Sequence[float],
                       tol: float) -> list[tuple[int, int]]:
    """Pair ``times`` (in their given order) with sorted ``keys`` so that the key index
    grows along the sequence, every pair is within ``tol``, the number of pairs is the
    largest possible and, among such pairings, the total difference the smallest.

    A longest-chain search over eligible pairs with a Fenwick tree of prefix maxima:
    cost O(P log K) for P eligible pairs and K keys.
    """
    size = len(keys)
    zero: tuple[int, float, Any] = (0, 0.0, None)
    tree = [zero] * (size + 1)

    def query(j: int) -> tuple[int, float, Any]:  # best chain using keys < j
        out = zero
        while j > 0:
            if _better(tree[j], out):
                out = tree[j]
            j -= j & -j
        return out

    def update(j: int, value: tuple[int, float, Any]) -> None:  # a chain ending at key j
        j += 1
        while j <= size:
            if _better(value, tree[j]):
                tree[j] = value
            j += j & -j

    best = zero
    for i, t in enumerate(times):
        lo, hi = bisect_left(keys, t - tol), bisect_right(keys, t + tol)
        values = []
        for j in range(lo, hi):
            prev = query(j)
            values.append((j, (prev[0] + 1, prev[1] - abs(t - keys[j]), (i, j, prev[2]))))
        for j, value in values:
            update(j, value)
            if _better(value, best):
                best = value
    node = best[2]
    pairs = []
    while node is not None:
        pairs.append((node[0], node[1]))
        node = node[2]
    pairs.reverse()
    return pairs


def _sequence(gets: Sequence[tuple[float, EntryRef]], tol: float) -> list[int]:
    """Positions of one history's gets in the order Outlook fetched them: BLOB order,
    unless that order is not chronological (then time order)."""
    blob = sorted(range(len(gets)), key=lambda k: gets[k][1].index)
    times = [gets[k][0] for k in blob]
    inversions = sum(1 for a, b in zip(times, times[1:], strict=False) if b < a - 2 * tol)
    if inversions * 20 > len(times):
        return sorted(range(len(gets)), key=lambda k: (gets[k][0], gets[k][1].index))
    return blob


def link_entries(entries: Sequence[EntryRef], messages: Sequence[StoreMessage],
                 clock: ClockInference) -> list[Link]:
    """Each get entry paired with at most one message and vice versa.

    One send/receive fetches messages seconds apart and records them in fetch order, so
    pairing each entry with its nearest delivery can cross neighbours. Per history, the
    pairing keeps the fetch order (BLOB order when it is chronological): as many pairs as
    possible, then the smallest total time difference. A message claimed by two histories
    stays with the closer entry. ``confidence`` falls with the time difference and with
    the number of still unlinked deliveries that were equally eligible.
    """
    if clock.offset_minutes is None:
        return []
    tol = clock.tolerance_seconds
    shift = clock.offset_minutes * 60.0
    deliveries = _deliveries(messages)
    keys = [t for t, _ in deliveries]
    gets = _gets(entries)
    by_history: dict[int, list[int]] = {}
    for k, (_, ref) in enumerate(gets):
        by_history.setdefault(ref.history, []).append(k)
    claims: dict[int, tuple[float, int, int]] = {}  # key -> (|delta|, history, get)
    for history in sorted(by_history):
        members = by_history[history]
        local = [gets[k] for k in members]
        order = [members[p] for p in _sequence(local, tol)]
        for i, j in _monotone_matching([gets[k][0] - shift for k in order], keys, tol):
            k = order[i]
            claim = (abs(gets[k][0] - shift - keys[j]), history, k)
            if j not in claims or claim < claims[j]:
                claims[j] = claim
    linked = set(claims)
    links = []
    for j, (distance, _history, k) in claims.items():
        target = gets[k][0] - shift
        lo, hi = bisect_left(keys, target - tol), bisect_right(keys, target + tol)
        rivals = sum(1 for p in range(lo, hi) if p == j or p not in linked)
        confidence = round((1.0 - 0.5 * distance / tol) / rivals, 3) if tol else 1.0
        links.append((k, Link(gets[k][1], messages[deliveries[j][1]], target - keys[j],
                              hi - lo, confidence)))
    links.sort(key=lambda kl: kl[0])
    return [link for _, link in links]
