"""Seeded, deterministic mutation strategies, generic and structure-aware.

A target describes where the structures of one input lie (a :class:`Layout`: structure
boundaries, typed fields, checksums and encoded regions), found with the project's own
readers and schemas; the mutators then damage exactly the things a hostile or broken file
damages: counts and sizes, pointers (including ones that point back at their own structure
or an ancestor), checksums and signatures, heap and row indexes, and the file's length at
every boundary. Every choice comes from the ``random.Random`` passed in, so a (seed, index)
pair reproduces a mutant exactly, and hypothesis can drive the same code with ``st.randoms``.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "FIELD_KINDS",
    "Field",
    "Checksum",
    "Codec",
    "Layout",
    "Mutant",
    "STRATEGIES",
    "mutate",
    "mutant_rng",
    "pst_crc",
]

# count: number of things that follow; size: a byte length; level: a tree depth;
# index: an index into a table/heap; pointer: a reference to another structure;
# crc / signature / magic: integrity and identification values.
FIELD_KINDS = ("count", "size", "level", "index", "pointer", "crc", "signature", "magic")


def pst_crc(data: bytes) -> int:
    """[MS-PST] 5.3 CRC: reflected CRC-32, initial value 0, no final XOR."""
    return zlib.crc32(data, 0xFFFFFFFF) ^ 0xFFFFFFFF


@dataclass(frozen=True)
class Field:
    """An integer field of an on-disk structure, located in the (decoded) file."""

    offset: int
    size: int
    kind: str
    note: str = ""
    # Encoded values that make this pointer refer to its own structure or an ancestor.
    loops: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class Checksum:
    """A checksum the mutator may recompute so that damage reaches past the CRC check."""

    start: int
    length: int
    at: int
    size: int = 4
    compute: Callable[[bytes], int] = pst_crc


@dataclass(frozen=True)
class Codec:
    """A region stored encoded (PST permute/cyclic blocks): fields inside it are mutated in
    the decoded domain and the region is encoded again."""

    start: int
    length: int
    encode: Callable[[bytes], bytes]
    decode: Callable[[bytes], bytes]


@dataclass(frozen=True)
class Layout:
    """Where the structures of one input are."""

    boundaries: tuple[int, ...] = ()
    fields: tuple[Field, ...] = ()
    checksums: tuple[Checksum, ...] = ()
    codecs: tuple[Codec, ...] = ()

    def of_kind(self, *kinds: str) -> list[Field]:
        return [f for f in self.fields if f.kind in kinds]


@dataclass(frozen=True)
class Mutant:
    data: bytes
    steps: tuple[str, ...] = field(default=())


def mutant_rng(seed: int, index: int) -> random.Random:
    """The generator of mutant ``index`` of a run seeded ``seed`` (stable across processes)."""
    return random.Random((seed & 0xFFFFFFFF) * 0x1_0000_0001 + index)


# --- helpers -----------------------------------------------------------------------------


def _codec_for(layout: Layout, offset: int, size: int) -> Codec | None:
    for codec in layout.codecs:
        if codec.start <= offset and offset + size <= codec.start + codec.length:
            return codec
    return None


def _write(buf: bytearray, layout: Layout, offset: int, value: bytes) -> bool:
    """Write ``value`` at a decoded-domain offset, going through the region's codec."""
    end = offset + len(value)
    if offset < 0 or end > len(buf):
        return False
    codec = _codec_for(layout, offset, len(value))
    if codec is None:
        buf[offset:end] = value
        return True
    region = bytearray(codec.decode(bytes(buf[codec.start : codec.start + codec.length])))
    region[offset - codec.start : end - codec.start] = value
    buf[codec.start : codec.start + codec.length] = codec.encode(bytes(region))
    return True


def _read_int(buf: bytearray, layout: Layout, f: Field) -> int:
    codec = _codec_for(layout, f.offset, f.size)
    if codec is None:
        raw = bytes(buf[f.offset : f.offset + f.size])
    else:
        region = codec.decode(bytes(buf[codec.start : codec.start + codec.length]))
        raw = region[f.offset - codec.start : f.offset - codec.start + f.size]
    return int.from_bytes(raw, "little")


def _fits(buf: bytearray, f: Field) -> bool:
    return 0 <= f.offset and f.offset + f.size <= len(buf)


def _pick_offset(buf: bytearray, layout: Layout, rng: random.Random) -> int:
    """A boundary (half the time, jittered by a few bytes) or any position."""
    usable = [b for b in layout.boundaries if 0 <= b <= len(buf)]
    if usable and rng.random() < 0.5:
        return max(0, min(len(buf), rng.choice(usable) + rng.choice((0, 0, 0, -1, 1, -2, 2))))
    return rng.randrange(len(buf) + 1)


def _absurd(size: int, current: int, length: int, rng: random.Random) -> int:
    top = (1 << (8 * size)) - 1
    candidates = [
        0,
        1,
        top,
        top - 1,
        top >> 1,
        (top >> 1) + 1,
        current + 1,
        current * 2 + 1,
        current + rng.randint(1, 64),
        length,
        length + 1,
        length * 16,
        rng.randint(0, top),
    ]
    return rng.choice(candidates) & top


# --- strategies: each changes ``buf`` and returns a one-line description, or None --------


def bit_flip(buf: bytearray, layout: Layout, rng: random.Random) -> str | None:
    if not buf:
        return None
    flips = []
    for _ in range(rng.choice((1, 1, 2, 4, 8))):
        pos = rng.randrange(len(buf))
        bit = rng.randrange(8)
        buf[pos] ^= 1 << bit
        flips.append(f"{pos:#x}.{bit}")
    return "bit_flip " + ",".join(flips)


def byte_set(buf: bytearray, layout: Layout, rng: random.Random) -> str | None:
    if not buf:
        return None
    pos = rng.randrange(len(buf))
    count = min(len(buf) - pos, rng.choice((1, 2, 4, 8)))
    value = rng.choice((0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)))
    buf[pos : pos + count] = bytes([value]) * count
    return f"byte_set {pos:#x}+{count}={value:#04x}"


def insert_bytes(buf: bytearray, layout: Layout, rng: random.Random) -> str | None:
    pos = _pick_offset(buf, layout, rng)
    count = rng.choice((1, 1, 2, 4, 7, 16, 64))
    kind = rng.choice(("zero", "ff", "random", "copy"))
    if kind == "zero":
        chunk = bytes(count)
    elif kind == "ff":
        chunk = b"\xff" * count
    elif kind == "copy" and buf:
        src = rng.randrange(len(buf))
        chunk = bytes(buf[src : src + count])
    else:
        chunk = bytes(rng.randrange(256) for _ in range(count))
    buf[pos:pos] = chunk
    return f"insert {pos:#x}+{len(chunk)} {kind}"


def delete_bytes(buf: bytearray, layout: Layout, rng: random.Random) -> str | None:
    if not buf:
        return None
    pos = _pick_offset(buf, layout, rng)
    count = min(len(buf) - pos, rng.choice((1, 1, 2, 4, 8, 64, 512)))
    if count <= 0:
        return None
    del buf[pos : pos + count]
    return f"delete {pos:#x}+{count}"


def truncate(buf: bytearray, layout: Layout, rng: random.Random) -> str | None:
    if not buf:
        return None
    usable = [b for b in layout.boundaries if 0 <= b < len(buf)]
    if usable and rng.random() < 0.8:
        pos = max(0, rng.choice(usable) + rng.choice((0, 0, 0, 1, -1)))
    else:
        pos = rng.randrange(len(buf))
    del buf[pos:]
    return f"truncate {pos:#x}"


def splice(buf: bytearray, layout: Layout, rng: random.Random) -> str | None:
    """Overwrite one structure with a copy of another (same length, so offsets hold)."""
    if len(buf) < 2:
        return None
    src = _pick_offset(buf, layout, rng)
    dst = _pick_offset(buf, layout, rng)
    count = min(rng.choice((8, 16, 64, 512)), len(buf) - src, len(buf) - dst)
    if count <= 0 or src == dst:
        return None
    buf[dst : dst + count] = bytes(buf[src : src + count])
    return f"splice {src:#x}->{dst:#x}+{count}"


def _overwrite_absurd(
    buf: bytearray, layout: Layout, rng: random.Random, kinds: tuple[str, ...], label: str
) -> str | None:
    fields = [f for f in layout.of_kind(*kinds) if _fits(buf, f)]
    if not fields:
        return None
    f = rng.choice(fields)
    value = _absurd(f.size, _read_int(buf, layout, f), len(buf), rng)
    if not _write(buf, layout, f.offset, value.to_bytes(f.size, "little")):
        return None
    return f"{label} {f.kind} {f.note}@{f.offset:#x}={value:#x}"


def absurd_value(buf: bytearray, layout: Layout, rng: random.Random) -> str | None:
    """Counts, sizes and levels far beyond what the file holds (or zero)."""
    return _overwrite_absurd(buf, layout, rng, ("count", "size", "level"), "absurd")


def index_out_of_range(buf: bytearray, layout: Layout, rng: random.Random) -> str | None:
    """Heap, row-matrix, row-index and B-tree key indexes pointing past their tables."""
    return _overwrite_absurd(buf, layout, rng, ("index",), "index")


def cycle_pointer(buf: bytearray, layout: Layout, rng: random.Random) -> str | None:
    fields = [f for f in layout.of_kind("pointer") if f.loops and _fits(buf, f)]
    if not fields:
        return None
    f = rng.choice(fields)
    value = rng.choice(f.loops)
    if not _write(buf, layout, f.offset, value):
        return None
    return f"cycle {f.note}@{f.offset:#x}={value.hex()}"


def wild_pointer(buf: bytearray, layout: Layout, rng: random.Random) -> str | None:
    fields = [f for f in layout.of_kind("pointer") if _fits(buf, f)]
    if not fields:
        return None
    f = rng.choice(fields)
    current = _read_int(buf, layout, f)
    top = (1 << (8 * f.size)) - 1
    value = (
        rng.choice((0, top, current ^ 4, current + 0x40, len(buf) + 0x200, rng.randint(0, top)))
        & top
    )
    if not _write(buf, layout, f.offset, value.to_bytes(f.size, "little")):
        return None
    return f"wild {f.note}@{f.offset:#x}={value:#x}"


def bad_integrity(buf: bytearray, layout: Layout, rng: random.Random) -> str | None:
    fields = [f for f in layout.of_kind("crc", "signature", "magic") if _fits(buf, f)]
    if not fields:
        return None
    f = rng.choice(fields)
    current = _read_int(buf, layout, f)
    top = (1 << (8 * f.size)) - 1
    value = (current ^ rng.randint(1, top)) & top
    if not _write(buf, layout, f.offset, value.to_bytes(f.size, "little")):
        return None
    return f"bad {f.kind} {f.note}@{f.offset:#x}"


# Weighted: structure-aware strategies return None when the layout offers nothing to hit,
# and the mutator then falls back to another pick.
STRATEGIES: tuple[tuple[Callable[[bytearray, Layout, random.Random], str | None], int], ...] = (
    (bit_flip, 3),
    (byte_set, 2),
    (insert_bytes, 1),
    (delete_bytes, 1),
    (truncate, 2),
    (splice, 1),
    (absurd_value, 4),
    (index_out_of_range, 3),
    (cycle_pointer, 3),
    (wild_pointer, 2),
    (bad_integrity, 2),
)
_LENGTH_PRESERVING = {
    byte_set,
    bit_flip,
    splice,
    absurd_value,
    index_out_of_range,
    cycle_pointer,
    wild_pointer,
    bad_integrity,
}


def _fix_checksums(buf: bytearray, checksums: Sequence[Checksum]) -> int:
    fixed = 0
    for c in checksums:
        if c.start + c.length <= len(buf) and c.at + c.size <= len(buf):
            value = c.compute(bytes(buf[c.start : c.start + c.length])) & ((1 << (8 * c.size)) - 1)
            buf[c.at : c.at + c.size] = value.to_bytes(c.size, "little")
            fixed += 1
    return fixed


def mutate(data: bytes, layout: Layout, rng: random.Random, max_steps: int = 3) -> Mutant:
    """Apply 1..max_steps strategies. Half the time, when every step kept the length, the
    layout's checksums are recomputed afterwards so that the damage reaches the parsers
    behind the CRC checks instead of stopping at them."""
    buf = bytearray(data)
    funcs = [s for s, _ in STRATEGIES]
    weights = [w for _, w in STRATEGIES]
    steps: list[str] = []
    same_length = True
    wants = rng.choice((1, 1, 1, 2, max_steps)) if max_steps > 1 else 1
    for _ in range(wants * 4):
        if len(steps) >= wants:
            break
        strategy = rng.choices(funcs, weights)[0]
        described = strategy(buf, layout, rng)
        if described is not None:
            steps.append(described)
            same_length = same_length and strategy in _LENGTH_PRESERVING
    if not steps:
        steps.append(bit_flip(buf, layout, rng) or "empty")
    integrity_hit = any(s.startswith("bad ") for s in steps)
    if same_length and not integrity_hit and layout.checksums and rng.random() < 0.5:
        steps.append(f"fixed {_fix_checksums(buf, layout.checksums)} checksums")
    return Mutant(bytes(buf), tuple(steps))
