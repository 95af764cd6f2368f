"""One fuzz target per input path: its seeds, where their structures lie, and the full run.

- ``blob``: ``parse_blob`` on the BLOB, and one input in ``BLOB_CLI_EVERY`` through ``blob``.
- ``pst``: ``open_pst`` and a walk of every folder, message, associated message, attachment
  and embedded message; the locator; one input in ``CLI_EVERY`` through ``scan``/``hidden``.
- ``msg``: ``store.msg.open_msg`` and the same walk of the message; the ``scan`` CLI too.
- ``audit``: the audit command over a mutated store (once the audit lands).

Layouts are found with the project's own declarations (``schemas.ndb``, ``schemas.ltp``,
``schemas.encoding``); the MSG layout uses olefile's reading of the compound file.
Seeds are read into memory from the read-only samples; mutants are only ever written to the
worker's scratch directory.
"""

from __future__ import annotations

import importlib.util
import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fuzz.mutators import Checksum, Codec, Field, Layout
from uidl_inspector.exceptions import UidlInspectorError

__all__ = [
    "Seed",
    "Target",
    "TargetUnavailable",
    "CliContractError",
    "TARGETS",
    "blob_layout",
    "pst_layout",
    "msg_layout",
    "walk_store",
    "walk_message",
    "run_cli",
    "has_command",
]

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "samples" / "real"
SAMPLES = REPO / "samples"
CLI_EVERY = 10  # one input in ten also goes through the CLI (slower: report rendering)
BLOB_CLI_EVERY = 25  # decoding takes milliseconds, rendering a table of 600 rows a second
MAX_WALK = 200_000  # objects visited by the harness's own walk before it calls it a loop
MAX_EMBED = 16


class TargetUnavailable(Exception):
    """The code a target exercises has not landed (or has no seeds)."""


class CliContractError(AssertionError):
    """The CLI broke its contract: exit code not 0/1, traceback, or a multi-line error."""


class CliRefused(UidlInspectorError):
    """The CLI refused the input the documented way (exit 1, one line): a rejection."""


class WalkLoopError(AssertionError):
    """The reader handed the harness an endless structure (no bound, no visited set)."""


@dataclass(frozen=True)
class Seed:
    name: str
    data: bytes
    layout: Layout


@dataclass(frozen=True)
class Target:
    name: str
    seeds: Callable[[], list[Seed]]
    run: Callable[[bytes, Path], int]  # returns the number of findings; raises on failure


def _read(path: Path) -> bytes:
    with open(path, "rb") as handle:  # evidence: read-only, into memory
        return handle.read()


def _cli_turn(data: bytes, every: int = CLI_EVERY) -> int | None:
    """Which CLI variant this input gets (deterministic per input), or None."""
    turn = zlib.crc32(data)
    return None if turn % every else (turn // every)


# --- CLI -------------------------------------------------------------------------------


def has_command(name: str) -> bool:
    """Whether the command's module (``cli/<name>.py``) has landed."""
    return importlib.util.find_spec(f"uidl_inspector.cli.{name}") is not None


def run_cli(args: list[str], inputs: int = 1) -> tuple[int, str, str] | None:
    """Invoke the CLI in-process and check its contract: exit 0 or 1; on 1, one line on
    stderr per failed input (at most ``inputs``) and no traceback anywhere. None when the
    command has not landed yet."""
    from typer.testing import CliRunner

    if not has_command(args[0]):
        return None

    from uidl_inspector.cli import app

    # UIDL_DEBUG=1: an unexpected exception propagates instead of becoming the CLI's
    # one-line "internal error", so the harness counts it as the crash it is.
    result = CliRunner().invoke(app, args, catch_exceptions=True, env={"UIDL_DEBUG": "1"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    out, err = result.stdout, result.stderr
    if result.exit_code not in (0, 1):
        raise CliContractError(f"{args[0]}: exit code {result.exit_code}: {err.strip()[:200]}")
    if "Traceback (most recent call last)" in out + err:
        raise CliContractError(f"{args[0]}: traceback in output")
    if result.exit_code == 1:
        lines = [line for line in err.splitlines() if line.strip()]
        if not 1 <= len(lines) <= inputs:
            raise CliContractError(
                f"{args[0]}: exit 1 with {len(lines)} stderr lines: {err.strip()[:200]!r}"
            )
    return result.exit_code, out, err


# --- BLOB --------------------------------------------------------------------------------


def blob_layout(data: bytes) -> Layout:
    """Version and Count, then each resource tag: its start, its declared fields (bounds
    read from ``schemas.popblob``), every ``$xx`` escape and its NUL."""
    from uidl_inspector.schemas.popblob import TAG_FIELDS, PopBlob

    head = _offsets(PopBlob)
    fields = [Field(*head["version"], "magic", "Version"), Field(*head["count"], "count", "Count")]
    boundaries = {0, *(sum(head[n]) for n in ("version", "count"))}
    pos = sum(head["count"])
    while pos < len(data):
        end = data.find(b"\0", pos)
        end = len(data) if end < 0 else end
        boundaries.update((pos, end, end + 1))
        for name, start, stop in TAG_FIELDS:
            boundaries.add(min(end, pos + start))
            if stop is not None and stop - start == 1:  # operation and content characters
                fields.append(Field(pos + start, 1, "signature", name))
            elif stop is None:
                uid_at = pos + start
        esc = data.find(b"$", uid_at, end)
        while 0 <= esc < end:
            boundaries.update((esc, esc + 1, esc + 3))
            esc = data.find(b"$", esc + 1, end)
        pos = end + 1
    return Layout(
        boundaries=tuple(sorted(b for b in boundaries if b <= len(data))),
        fields=tuple(f for f in fields if f.offset + f.size <= len(data)),
    )


def _blob_seeds() -> list[Seed]:
    try:
        from uidl_inspector.history import build_blob  # noqa: F401
    except ImportError as exc:
        raise TargetUnavailable(f"history.build_blob: {exc}") from exc
    from fuzz.seeds import blob_seeds

    return [Seed(name, data, blob_layout(data)) for name, data in blob_seeds()]


def _blob_run(data: bytes, scratch: Path) -> int:
    from uidl_inspector.history import parse_blob

    history = parse_blob(data)
    for entry in history.entries:
        entry.to_dict()
    findings = len(history.anomalies)
    turn = _cli_turn(data, BLOB_CLI_EVERY)
    if turn is not None:
        path = scratch / "input.blob"
        path.write_bytes(data)
        fmt = ("json", "csv", "table")[turn % 3]
        run_cli(["blob", str(path), "--format", fmt])
    return findings


# --- PST / OST ---------------------------------------------------------------------------


def _offsets(struct_: Any, prefix: str = "") -> dict[str, tuple[int, int]]:
    """Offsets and sizes of the fixed-size fields of a declaration (nested Structs
    flattened with "_"), computed from the declaration itself."""
    from construct import SizeofError, Struct

    out: dict[str, tuple[int, int]] = {}
    pos = 0
    for sub in struct_.subcons:
        try:
            size = sub.sizeof()
        except SizeofError:
            break  # variable-size tail (entry arrays): the caller walks it with a stride
        inner = getattr(sub, "subcon", sub)
        if sub.name and isinstance(inner, Struct):
            for name, (off, sz) in _offsets(inner, f"{prefix}{sub.name}_").items():
                out[name] = (pos + off, sz)
        if sub.name:
            out[prefix + sub.name] = (pos, size)
        pos += size
    return out


class _PstScan:
    """Walks a PST's B-trees and blocks with the shared declarations, noting every field a
    mutator should hit. Bounded by visited sets: seeds are valid, but be safe anyway."""

    def __init__(self, data: bytes) -> None:
        from uidl_inspector.schemas import ndb

        self.ndb = ndb
        self.data = data
        wver = int.from_bytes(data[10:12], "little")
        fmt = ndb.format_for_version(wver)
        if fmt is None:
            raise ValueError(f"unknown wVer {wver}")
        self.fmt = fmt
        self.fields: list[Field] = []
        self.boundaries: set[int] = {0, len(data)}
        self.checksums: list[Checksum] = []
        self.codecs: list[Codec] = []
        self.header = fmt.HEADER.parse(data)
        self.crypt = self.header.bCryptMethod
        self.page_offsets = _offsets(fmt.BTPAGE)
        self.nbt: list[tuple[int, Any]] = []  # (entry offset, entry)
        self.bbt: dict[int, tuple[int, int]] = {}  # bid without bit 0 -> (ib, cb)
        self.bref_bytes: dict[int, bytes] = {}  # page ib -> its BREF bytes

    def field(
        self, offset: int, size: int, kind: str, note: str, loops: tuple[bytes, ...] = ()
    ) -> None:
        self.fields.append(Field(offset, size, kind, note, loops))

    def scan(self) -> Layout:
        fmt, h = self.fmt, self.header
        hdr = _offsets(fmt.HEADER)
        for name, kind in (
            ("dwCRCPartial", "crc"),
            ("dwCRCFull", "crc"),
            ("wVer", "magic"),
            ("bCryptMethod", "magic"),
            ("root_ibFileEof", "size"),
            ("root_ibAMapLast", "pointer"),
            ("root_cbAMapFree", "size"),
            ("root_fAMapValid", "magic"),
            ("bSentinel", "magic"),
            ("wMagicClient", "magic"),
        ):
            if name in hdr:
                self.field(*hdr[name], kind, name)
        nbt_ref = fmt.BREF.build(h.root.BREFNBT)
        bbt_ref = fmt.BREF.build(h.root.BREFBBT)
        for name, other in (("root_BREFNBT", bbt_ref), ("root_BREFBBT", nbt_ref)):
            off, size = hdr[name]
            self.field(off, size, "pointer", name, (other,))
        self.boundaries.update(
            (hdr["root"][0], hdr["root"][0] + hdr["root"][1], fmt.HEADER.sizeof())
        )
        self.checksums.append(Checksum(8, 471, hdr["dwCRCPartial"][0]))
        if "dwCRCFull" in hdr:
            self.checksums.append(Checksum(8, 516, hdr["dwCRCFull"][0]))
        self.page(h.root.BREFNBT.ib, nbt_ref, (), 0, "nbt", set())
        self.page(h.root.BREFBBT.ib, bbt_ref, (), 0, "bbt", set())
        self.nbt_fields()
        self.blocks()
        return Layout(
            tuple(sorted(b for b in self.boundaries if 0 <= b <= len(self.data))),
            tuple(self.fields),
            tuple(self.checksums),
            tuple(self.codecs),
        )

    def page(
        self,
        ib: int,
        bref: bytes,
        ancestors: tuple[bytes, ...],
        depth: int,
        tree: str,
        seen: set[int],
    ) -> None:
        fmt, po = self.fmt, self.page_offsets
        if ib in seen or depth > 8 or ib + fmt.page_size > len(self.data):
            return
        seen.add(ib)
        raw = self.data[ib : ib + fmt.page_size]
        page = fmt.BTPAGE.parse(raw)
        self.boundaries.update((ib, ib + fmt.page_size, ib + fmt.btentries_size))
        for name, kind in (
            ("cEnt", "count"),
            ("cEntMax", "count"),
            ("cbEnt", "size"),
            ("cLevel", "level"),
            ("pageTrailer_ptype", "signature"),
            ("pageTrailer_ptypeRepeat", "signature"),
            ("pageTrailer_wSig", "signature"),
            ("pageTrailer_dwCRC", "crc"),
            ("pageTrailer_bid", "signature"),
        ):
            self.field(ib + po[name][0], po[name][1], kind, f"{tree} page {name}")
        self.checksums.append(Checksum(ib, fmt.page_crc_size, ib + po["pageTrailer_dwCRC"][0]))
        stride = page.cbEnt or 1
        count = min(page.cEnt, fmt.btentries_size // stride)
        if page.cLevel > 0:
            entry = _offsets(fmt.BTENTRY)
            for i in range(count):
                at = ib + i * stride
                self.boundaries.add(at)
                child = fmt.BTENTRY.parse(raw[i * stride :])
                self.field(at + entry["btkey"][0], entry["btkey"][1], "index", f"{tree} btkey")
                self.field(
                    at + entry["BREF"][0],
                    entry["BREF"][1],
                    "pointer",
                    f"{tree} child BREF",
                    (bref, *ancestors),
                )
                self.page(
                    child.BREF.ib,
                    fmt.BREF.build(child.BREF),
                    (bref, *ancestors),
                    depth + 1,
                    tree,
                    seen,
                )
        elif tree == "nbt":
            for i in range(count):
                at = ib + i * stride
                self.boundaries.add(at)
                self.nbt.append((at, fmt.NBTENTRY.parse(raw[i * stride :])))
        else:
            entry = _offsets(fmt.BBTENTRY)
            for i in range(count):
                at = ib + i * stride
                self.boundaries.add(at)
                e = fmt.BBTENTRY.parse(raw[i * stride :])
                self.bbt[e.BREF.bid & ~1] = (e.BREF.ib, e.cb)
                self.field(at + entry["BREF"][0], entry["BREF"][1], "pointer", "bbt BREF", (bref,))
                self.field(at + entry["cb"][0], entry["cb"][1], "size", "bbt cb")
                self.field(at + entry["cRef"][0], entry["cRef"][1], "count", "bbt cRef")

    def nbt_fields(self) -> None:
        fmt = self.fmt
        entry = _offsets(fmt.NBTENTRY)
        nid_size = entry["nid"][1]
        children: dict[int, list[int]] = {}
        for _, e in self.nbt:
            children.setdefault(e.nidParent, []).append(e.nid)
        for at, e in self.nbt:
            self.field(at + entry["nid"][0], nid_size, "index", "nbt nid")
            psize = entry["nidParent"][1]
            loops = [e.nid.to_bytes(psize, "little")]
            loops += [c.to_bytes(psize, "little") for c in children.get(e.nid, [])[:3]]
            self.field(at + entry["nidParent"][0], psize, "pointer", "nbt nidParent", tuple(loops))
            bsize = entry["bidData"][1]
            data_b, sub_b = (
                e.bidData.to_bytes(bsize, "little"),
                e.bidSub.to_bytes(bsize, "little"),
            )
            self.field(
                at + entry["bidData"][0],
                bsize,
                "pointer",
                "nbt bidData",
                (sub_b,) if e.bidSub else (),
            )
            self.field(
                at + entry["bidSub"][0],
                bsize,
                "pointer",
                "nbt bidSub",
                (data_b,) if e.bidData else (),
            )

    def blocks(self) -> None:
        fmt, ndb = self.fmt, self.ndb
        trailer = _offsets(fmt.BLOCKTRAILER)
        node_of = {e.bidData & ~1: e.nid for _, e in self.nbt}
        for bid, (ib, cb) in sorted(self.bbt.items(), key=lambda kv: kv[1][0]):
            size = ndb.block_size(fmt, cb)
            if ib + size > len(self.data) or cb > fmt.max_block_data:
                continue
            tail = ib + size - fmt.block_trailer_size
            self.boundaries.update((ib, ib + cb, tail, ib + size))
            for name, kind in (
                ("cb", "size"),
                ("wSig", "signature"),
                ("dwCRC", "crc"),
                ("bid", "signature"),
            ):
                self.field(tail + trailer[name][0], trailer[name][1], kind, f"block {name}")
            self.checksums.append(Checksum(ib, cb, tail + trailer["dwCRC"][0]))
            stored = self.data[ib : ib + cb]
            own = bid.to_bytes(fmt.bid_size, "little")
            if bid & 2:
                self.internal(ib, stored, own)
            elif self.crypt in (0, 1, 2) and fmt.name != "4k":
                self.heap(ib, cb, bid, stored, node_of.get(bid))

    def internal(self, ib: int, stored: bytes, own: bytes) -> None:
        """XBLOCK/XXBLOCK and SLBLOCK/SIBLOCK: counts, and child BIDs that loop home."""
        fmt = self.fmt
        if len(stored) < 4:
            return
        btype, level = stored[0], stored[1]
        self.field(ib, 1, "signature", "btype")
        self.field(ib + 1, 1, "level", "cLevel")
        self.field(ib + 2, 2, "count", "cEnt")
        head = fmt.internal_header_size
        count = int.from_bytes(stored[2:4], "little")
        bsz = fmt.bid_size
        if btype == 1:
            self.field(ib + 4, 4, "size", "lcbTotal")
            for i in range(min(count, (len(stored) - 8) // bsz)):
                self.field(ib + 8 + i * bsz, bsz, "pointer", "xblock bid", (own,))
        elif btype == 2:
            entry = fmt.SLENTRY if level == 0 else fmt.SIENTRY
            names = _offsets(entry)
            width = entry.sizeof()
            for i in range(min(count, (len(stored) - head) // width)):
                at = ib + head + i * width
                self.boundaries.add(at)
                self.field(at + names["nid"][0], names["nid"][1], "index", "subnode nid")
                for name in ("bidData", "bidSub", "bid"):
                    if name in names:
                        self.field(
                            at + names[name][0],
                            names[name][1],
                            "pointer",
                            f"subnode {name}",
                            (own,),
                        )

    def heap(self, ib: int, cb: int, bid: int, stored: bytes, nid: int | None) -> None:
        """First heap block of an HN: HNHDR, page map, and the PC's or TC's root items."""
        from uidl_inspector.schemas import encoding, ltp

        decoded = encoding.decode_block(stored, self.crypt, bid)
        if len(decoded) < 12 or decoded[2] != ltp.HN_SIGNATURE:
            return
        if self.crypt:
            method = self.crypt
            self.codecs.append(
                Codec(
                    ib,
                    cb,
                    lambda b, m=method, k=bid: encoding.encode_block(b, m, k),
                    lambda b, m=method, k=bid: encoding.decode_block(b, m, k),
                )
            )
        self.field(ib, 2, "index", "ibHnpm")
        self.field(ib + 2, 1, "signature", "HN bSig")
        self.field(ib + 3, 1, "signature", "HN bClientSig")
        self.field(ib + 4, 4, "index", "hidUserRoot")
        hnpm = int.from_bytes(decoded[0:2], "little")
        if hnpm + 4 > len(decoded):
            return
        self.boundaries.update((ib + 12, ib + hnpm))
        calloc = int.from_bytes(decoded[hnpm : hnpm + 2], "little")
        self.field(ib + hnpm, 2, "count", "cAlloc")
        self.field(ib + hnpm + 2, 2, "count", "cFree")
        allocs = []
        for i in range(calloc + 1):
            at = hnpm + 4 + 2 * i
            if at + 2 > len(decoded):
                break
            allocs.append(int.from_bytes(decoded[at : at + 2], "little"))
            self.field(ib + at, 2, "index", "rgibAlloc")
            self.boundaries.add(ib + allocs[-1])

        def item(hid: int) -> tuple[int, int] | None:
            index = ltp.hid_index(hid)
            if hid & 0x1F or ltp.hid_block_index(hid) != 0 or not 1 <= index < len(allocs):
                return None
            start, end = allocs[index - 1], allocs[index]
            return (start, end) if start <= end <= len(decoded) else None

        root = item(int.from_bytes(decoded[4:8], "little"))
        if root is None:
            return
        start, end = root
        client = decoded[3]
        if client in (ltp.CLIENT_SIG_PC, ltp.CLIENT_SIG_BTH) and end - start >= 8:
            self.bth(ib, decoded, start, item, value_at=4)
        elif client == ltp.CLIENT_SIG_TC and end - start >= 22:
            info = _offsets(ltp.TCINFO)
            for name, kind in (("cCols", "count"), ("hidRowIndex", "index"), ("hnidRows", "index")):
                self.field(ib + start + info[name][0], info[name][1], kind, f"TC {name}")
            for i in range(4):
                self.field(ib + start + 2 + 2 * i, 2, "size", "TC rgib")
            cols = decoded[start + 1]
            col = _offsets(ltp.TCOLDESC)
            for i in range(cols):
                at = start + 22 + 8 * i
                if at + 8 > end:
                    break
                self.field(ib + at + col["ibData"][0], 2, "index", "TCOLDESC ibData")
                self.field(ib + at + col["cbData"][0], 1, "size", "TCOLDESC cbData")
                self.field(ib + at + col["iBit"][0], 1, "index", "TCOLDESC iBit")
            rowindex = item(int.from_bytes(decoded[start + 10 : start + 14], "little"))
            if rowindex is not None and rowindex[1] - rowindex[0] >= 8:
                own_nid = None if nid is None else nid.to_bytes(4, "little")
                self.bth(ib, decoded, rowindex[0], item, value_at=4, loop=own_nid)

    def bth(
        self,
        ib: int,
        decoded: bytes,
        start: int,
        item: Callable[[int], tuple[int, int] | None],
        value_at: int,
        loop: bytes | None = None,
    ) -> None:
        """A BTHHEADER and its leaf records: sizes, levels, each record's value at
        ``value_at`` (a PC's dwValueHnid, a row index's dwRowIndex: index kind) and, for a
        row index, the row id (a pointer that ``loop`` turns back at the owning node)."""
        head = _offsets(self._ltp().BTHHEADER)
        for name, kind in (
            ("cbKey", "size"),
            ("cbEnt", "size"),
            ("bIdxLevels", "level"),
            ("hidRoot", "index"),
        ):
            self.field(ib + start + head[name][0], head[name][1], kind, f"BTH {name}")
        cb_key, cb_ent, levels = decoded[start + 1], decoded[start + 2], decoded[start + 3]
        records = item(int.from_bytes(decoded[start + 4 : start + 8], "little"))
        width = cb_key + cb_ent
        if records is None or levels or not width:
            return
        for at in range(records[0], records[1] - width + 1, width):
            self.boundaries.add(ib + at)
            if loop is not None:
                self.field(ib + at, 4, "pointer", "row id", (loop,))
            if value_at < width:
                self.field(
                    ib + at + value_at, min(4, width - value_at), "index", "BTH record value"
                )

    @staticmethod
    def _ltp() -> Any:
        from uidl_inspector.schemas import ltp

        return ltp


def pst_layout(data: bytes) -> Layout:
    """Every B-tree page, block and first heap block of a PST, with its typed fields."""
    return _PstScan(data).scan()


def _store_paths() -> Iterator[Path]:
    yield from sorted((REAL / "pst").glob("*.pst"))
    if SAMPLES.is_dir():
        for pattern in ("*.pst", "*.ost"):
            yield from sorted(SAMPLES.rglob(pattern))


def _pst_seeds() -> list[Seed]:
    try:
        from uidl_inspector.store.pst import open_pst  # noqa: F401
    except ImportError as exc:
        raise TargetUnavailable(f"store.pst.open_pst: {exc}") from exc
    seeds = []
    for path in _store_paths():
        if path.stat().st_size > 4 << 20:  # keep mutants small: seconds per input matter
            continue
        data = _read(path)
        seeds.append(Seed(path.name, data, pst_layout(data)))
    return seeds


def _findings(obj: Any) -> int:
    return len(getattr(obj, "findings", None) or ())


def walk_message(message: Any, budget: list[int], depth: int = 0) -> int:
    """Touch every property, attachment and embedded message; count findings."""
    if depth > MAX_EMBED:
        raise WalkLoopError(f"embedded messages nested deeper than {MAX_EMBED}")
    found = _findings(message)
    _ = (message.message_class, message.subject, dict(message.props))
    for attachment in message.attachments():
        budget[0] -= 1
        if budget[0] < 0:
            raise WalkLoopError("more objects than the walk budget")
        _ = (dict(attachment.props), attachment.data)
        found += _findings(attachment)
        inner = attachment.embedded()
        if inner is not None:
            found += walk_message(inner, budget, depth + 1)
    return found


def walk_store(store: Any) -> int:
    """Every folder (visited set by NID), its messages and hidden messages."""
    found = _findings(store)
    budget = [MAX_WALK]
    seen: set[int] = set()
    stack = [(store.root_folder(), 0)]
    while stack:
        folder, depth = stack.pop()
        if folder.nid in seen:
            continue
        seen.add(folder.nid)
        found += _findings(folder)
        _ = (folder.name, folder.path, dict(folder.props))
        for message in (*folder.messages(), *folder.associated()):
            budget[0] -= 1
            if budget[0] < 0:
                raise WalkLoopError("more objects than the walk budget")
            found += walk_message(message, budget)
        for sub in folder.subfolders():
            budget[0] -= 1
            if budget[0] < 0:
                raise WalkLoopError("more objects than the walk budget")
            stack.append((sub, depth + 1))
    return found


def _located(result: Any) -> int:
    return len(result.findings) + sum(len(r.history.anomalies) for r in result.histories)


def _locate_store(store: Any) -> int:
    """The locator's deep sweep and the hidden inventory over an opened store."""
    from uidl_inspector.locate import hidden_inventory, locate

    found = _located(locate(store, deep=True))
    rows, findings = hidden_inventory(store)
    return found + len(findings)


def _locate_message(message: Any, path: Path) -> int:
    from uidl_inspector.locate import LocateResult, locate_message

    result = LocateResult()
    locate_message(message, None, str(path), result)
    return _located(result)


def _recover(store: Any, path: Path) -> int:
    """In-store recovery and carving of the same bytes (called directly: a bug in them
    must show here, not as the scan's recovery_failed finding)."""
    from uidl_inspector.recover import recover_store
    from uidl_inspector.recover.carve import carve

    items, notes = recover_store(store.ndb, str(path))
    with open(path, "rb") as handle:
        carved = carve(handle, str(path), chunk=1 << 16).items
    return len(items) + len(notes) + len(carved)


def _pst_run(data: bytes, scratch: Path) -> int:
    from uidl_inspector.store.pst import open_pst

    path = scratch / "input.pst"
    path.write_bytes(data)
    store = open_pst(str(path))
    try:
        found = walk_store(store)
        found += _locate_store(store)
        found += _recover(store, path)
    finally:
        store.close()
    turn = _cli_turn(data)
    if turn is not None:  # --verify also reads the mutant with libpff (C code, in-process)
        command = (["scan"], ["hidden"], ["scan", "--verify"])[turn % 3]
        run_cli([*command, str(path), "--format", "json"])
    return found


# --- MSG ---------------------------------------------------------------------------------


def msg_layout(data: bytes) -> Layout:
    """The compound file's header, FAT, mini FAT and directory entries ([MS-CFB])."""
    import olefile

    ole = olefile.OleFileIO(data)
    try:
        sector = ole.sectorsize
        fields = [
            Field(0, 8, "magic", "CFB signature"),
            Field(0x1C, 2, "magic", "byte order"),
            Field(0x1E, 2, "size", "sector shift"),
            Field(0x20, 2, "size", "mini shift"),
            Field(0x2C, 4, "count", "FAT sectors"),
            Field(0x30, 4, "pointer", "first dir"),
            Field(0x38, 4, "size", "mini cutoff"),
            Field(0x3C, 4, "pointer", "first minifat"),
            Field(0x40, 4, "count", "minifat sectors"),
            Field(0x44, 4, "pointer", "DIFAT"),
            Field(0x48, 4, "count", "DIFAT sectors"),
        ]
        boundaries = {0, 512, len(data)}
        for at in range(sector, len(data), sector):
            boundaries.add(at)

        def offset(sect: int) -> int:
            return (sect + 1) * sector

        fat_sectors = [
            int.from_bytes(data[0x4C + 4 * i : 0x50 + 4 * i], "little") for i in range(109)
        ]
        fat_sectors = [s for s in fat_sectors if s < 0xFFFFFFFA]
        for i, fs in enumerate(fat_sectors):
            fields.append(
                Field(0x4C + 4 * i, 4, "pointer", "DIFAT entry", (fs.to_bytes(4, "little"),))
            )
            base = offset(fs)
            for j in range(sector // 4):
                sect = i * (sector // 4) + j
                nxt = ole.fat[sect] if sect < len(ole.fat) else 0xFFFFFFFF
                if nxt < 0xFFFFFFFA:
                    fields.append(
                        Field(base + 4 * j, 4, "pointer", "FAT next", (sect.to_bytes(4, "little"),))
                    )
        sect, chain = ole.first_dir_sector, 0
        dir_entry = 0
        while sect < 0xFFFFFFFA and chain < 4096:
            base = offset(sect)
            for k in range(sector // 128):
                at = base + 128 * k
                if at + 128 > len(data):
                    break
                boundaries.add(at)
                own = dir_entry.to_bytes(4, "little")
                fields += [
                    Field(at + 0x40, 2, "size", "dir name length"),
                    Field(at + 0x42, 1, "magic", "dir type"),
                    Field(at + 0x44, 4, "pointer", "dir left", (own, b"\0\0\0\0")),
                    Field(at + 0x48, 4, "pointer", "dir right", (own, b"\0\0\0\0")),
                    Field(at + 0x4C, 4, "pointer", "dir child", (own, b"\0\0\0\0")),
                    Field(
                        at + 0x74, 4, "pointer", "dir start sector", (sect.to_bytes(4, "little"),)
                    ),
                    Field(at + 0x78, 8, "size", "dir stream size"),
                ]
                dir_entry += 1
            sect = ole.fat[sect] if sect < len(ole.fat) else 0xFFFFFFFF
            chain += 1
        return Layout(tuple(sorted(b for b in boundaries if b <= len(data))), tuple(fields))
    finally:
        ole.close()


def _msg_paths() -> Iterator[Path]:
    yield from sorted((REAL / "msg").glob("*.msg"))
    if SAMPLES.is_dir():
        yield from sorted(SAMPLES.rglob("*.msg"))


def _msg_seeds() -> list[Seed]:
    try:
        from uidl_inspector.store.msg import open_msg  # noqa: F401
    except ImportError as exc:
        raise TargetUnavailable(f"store.msg.open_msg: {exc}") from exc
    return [Seed(p.name, data, msg_layout(data)) for p in _msg_paths() for data in [_read(p)]]


def _msg_run(data: bytes, scratch: Path) -> int:
    from uidl_inspector.store.msg import open_msg

    path = scratch / "input.msg"
    path.write_bytes(data)
    message = open_msg(str(path))
    found = walk_message(message, [MAX_WALK])
    found += _locate_message(message, path)
    if _cli_turn(data) is not None:
        run_cli(["scan", str(path), "--format", "json"])
    return found


# --- audit -------------------------------------------------------------------------------


def _audit_seeds() -> list[Seed]:
    try:
        from uidl_inspector.cli import audit  # noqa: F401
    except ImportError as exc:
        raise TargetUnavailable(f"cli.audit: {exc}") from exc
    return _pst_seeds()


def _audit_run(data: bytes, scratch: Path) -> int:
    """The audit command over a mutated store; findings: the sources' and the audit's."""
    path, out = scratch / "input.pst", scratch / "audit.json"
    path.write_bytes(data)
    code, _, err = run_cli(["audit", str(path), "--format", "json", "--output", str(out)])
    if code == 1:
        raise CliRefused(err.strip())
    report = json.loads(out.read_text(encoding="utf-8"))
    found = sum(len(s.get("findings", ())) for s in report["sources"])
    return found + len(report.get("audit", {}).get("findings", ()))


TARGETS: dict[str, Target] = {
    "blob": Target("blob", _blob_seeds, _blob_run),
    "pst": Target("pst", _pst_seeds, _pst_run),
    "msg": Target("msg", _msg_seeds, _msg_run),
    "audit": Target("audit", _audit_seeds, _audit_run),
}
