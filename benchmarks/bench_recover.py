"""Recovery speed: in-store recovery against hashing the file once; carving against a bare
regular-expression scan of the same bytes.

Run: ``python benchmarks/bench_recover.py [--messages N] [--carve-mb M] [--runs R]
[--keep DIR]``.

- In-store (issue 10, point 7: at most 1.0x): a store of N messages (default 100,000, the
  audit benchmark's store: ``bench_audit.write_store``) is written first, not timed. Then,
  in the same process, the median time of ``hash_file`` (SHA-256 and MD5, what every scan
  already does once per input) and of ``recover_store`` (BBT walk, AMaps, every
  unreferenced byte read, block trailers checked, decoded, searched, deleted managers).
  Ratio = recovery / hashing.
- Carve (point 7: at least 1/3): M MB of seeded random bytes with a plain and a
  permute-encoded BLOB planted every MB. Median time of a bare ``re.finditer`` over the
  bytes in memory for the BLOB header pattern (Version 3, any Count, a tag's operation and
  content), of the carver's search (``carve_runs``: streamed from a file object in 8 MB
  chunks, both encodings, every find read and decoded) and of the whole ``carve`` (the
  search plus SHA-256 and MD5 of the input on a second thread, as the command does).
  Throughput ratio = bare time / carver time.

Both ratios are measured in one process, one after the other: the machine may be shared,
so the ratios matter, not the seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import random
import re
import statistics
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_audit import median_time, write_store  # noqa: E402

from uidl_inspector.history import build_blob, make_tag  # noqa: E402
from uidl_inspector.recover import recover_store  # noqa: E402
from uidl_inspector.recover.carve import carve, carve_runs  # noqa: E402
from uidl_inspector.report.model import hash_file  # noqa: E402
from uidl_inspector.schemas.encoding import permute_encode  # noqa: E402
from uidl_inspector.store.ndb import NdbFile  # noqa: E402

HEADER = re.compile(rb"\x03\x00..[+&\-][ hb]", re.DOTALL)


def medians(fns: list, runs: int) -> list[float]:
    """Median wall time of each function, runs interleaved (one of each per round), so that
    a change in the machine's load weighs on all of them alike (bench_audit's measure)."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for fn, out in zip(fns, times, strict=True):
            out.append(median_time(fn, 1)[0])
    return [statistics.median(t) for t in times]


def in_store(store: Path, runs: int) -> None:
    def recover() -> int:
        ndb = NdbFile(store)
        try:
            return len(recover_store(ndb, str(store))[0])
        finally:
            ndb.close()

    found = recover()
    t_hash, t_rec = medians([lambda: hash_file(store), recover], runs)
    size = store.stat().st_size
    print(f"in-store: {size / 1e6:.1f} MB store, {found} item(s) recovered")
    print(
        f"  hash once {t_hash:.3f} s, recovery {t_rec:.3f} s: ratio {t_rec / t_hash:.2f}x "
        "(goal <= 1.0x)"
    )


def planted(megabytes: int) -> bytes:
    rng = random.Random(megabytes)
    data = bytearray(b"".join(rng.randbytes(1 << 20) for _ in range(megabytes)))
    t0 = datetime(2022, 1, 1)
    blob = build_blob(
        [make_tag("get", "body", t0 + timedelta(minutes=i), f"uid-{i}") for i in range(40)]
    )
    for mb in range(megabytes):
        at = (mb << 20) + rng.randrange(0, (1 << 20) - 2 * len(blob))
        data[at : at + len(blob)] = blob
        data[at + len(blob) : at + 2 * len(blob)] = permute_encode(blob)
    return bytes(data)


def carving(megabytes: int, runs: int) -> None:
    data = planted(megabytes)
    found = sum(len(i.places) for i in carve(io.BytesIO(data), "bench").items)
    t_bare, t_search, t_carve, t_hash = medians(
        [
            lambda: sum(1 for _ in HEADER.finditer(data)),
            lambda: list(carve_runs(io.BytesIO(data))),
            lambda: carve(io.BytesIO(data), "bench"),
            lambda: (hashlib.sha256(data).digest(), hashlib.md5(data).digest()),
        ],
        runs,
    )
    print(f"carve: {megabytes} MB, {found} BLOB copies found ({2 * megabytes} planted)")
    print(f"  bare re.finditer {t_bare:.3f} s ({megabytes / t_bare:.0f} MB/s)")
    print(
        f"  carve search     {t_search:.3f} s ({megabytes / t_search:.0f} MB/s): throughput "
        f"ratio {t_bare / t_search:.2f} (goal >= 0.33)"
    )
    print(
        f"  carve command    {t_carve:.3f} s ({megabytes / t_carve:.0f} MB/s, search plus "
        f"SHA-256 and MD5 of the input; hashing alone {t_hash:.3f} s): ratio "
        f"{t_bare / t_carve:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--carve-mb", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the store here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        store = folder / f"audit-{args.messages}.pst"
        if not store.exists():
            print(f"writing a {args.messages}-message store (not timed)...", flush=True)
            store, _ = write_store(args.messages, folder)
        in_store(store, args.runs)
    carving(args.carve_mb, args.runs)


if __name__ == "__main__":
    main()
