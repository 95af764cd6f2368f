"""Decode a 65,535-tag history BLOB: parse_blob against a bare split + regex baseline.

Run: ``python benchmarks/bench_blob.py [--runs N]``. Prints medians of N runs of each, in
the same process, their ratio (target: parse_blob <= 1.5x the baseline), and peak memory
(tracemalloc, measured in separate runs so that tracing does not distort the timings).
Also times ``blob --format json``'s work (decode, build the report, encode it) against a
bare split + regex + ``json.dumps`` of the same tags (target <= 2.0x), the full
materialisation of every entry (datetimes, unescaped UIDs), which
parse_blob defers for a BLOB without anomalies, and the generic Construct path.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timedelta

from uidl_inspector.history import build_blob, parse_blob
from uidl_inspector.schemas.popblob import PopBlobChecked

TAGS = 65_535
# The baseline: split on NUL and match each tag's fields, nothing more.
BASELINE_TAG = re.compile(rb"([+\-&])([ hb])([0-9]{14})(.*)", re.DOTALL)


def make_blob(n: int = TAGS, seed: int = 2012) -> bytes:
    """A realistic BLOB: sessions of downloads, GUID-style and Dovecot-style UIDs."""
    rng = random.Random(seed)
    moment = datetime(2009, 1, 5, 8, 0, 0)
    tags = []
    for i in range(n):
        moment += timedelta(seconds=rng.choice((1, 1, 2, 3, 3600, 86_400)))
        if i % 3:
            uid = "-".join(f"{rng.getrandbits(b):0{b // 4}X}" for b in (32, 16, 16, 16, 48))
        else:
            uid = f"{rng.getrandbits(32):08x}{i:08x}"
        op = rng.choice(("get", "get", "get", "delete", "get-and-delete"))
        tags.append((op, rng.choice(("body", "body", "header", "none")), moment, uid))
    return build_blob(tags)


def baseline(data: bytes) -> list[tuple[bytes, ...]]:
    count = int.from_bytes(data[2:4], "little")
    match = BASELINE_TAG.fullmatch
    return [m.groups() for tag in data[4:].split(b"\0")[:count] if (m := match(tag)) is not None]


def baseline_json(data: bytes) -> bytes:
    """The bare script of the ``blob --format json`` target: split, regex, json.dumps."""
    import json

    rows = [
        {
            "operation": op.decode(),
            "content": ct.decode(),
            "timestamp": ts.decode(),
            "uid": uid.decode(),
        }
        for op, ct, ts, uid in baseline(data)
    ]
    return json.dumps(rows, indent=2).encode()


def blob_json(data: bytes) -> bytes:
    """What ``blob --format json`` does after reading its file: decode, report, write."""
    from uidl_inspector.records import HistoryRecord
    from uidl_inspector.report.json_report import json_chunks
    from uidl_inspector.report.model import Report, Source

    report = Report()
    report.sources.append(Source.from_bytes("bench.bin", "blob", data, variant="blob"))
    report.histories.append(HistoryRecord("bench.bin", parse_blob(data), data))
    report.run.finish()
    return b"".join(json_chunks(report))


def materialise(data: bytes) -> int:
    history = parse_blob(data)
    return sum(1 for e in history.entries if e.timestamp is not None and e.uid)


def median_time(func: Callable[[], object], runs: int) -> float:
    return median_times([func], runs)[0]


def median_times(funcs: list[Callable[[], object]], runs: int) -> list[float]:
    """Each function's median seconds, the functions taking turns (one call of each,
    ``runs`` times), so that a change in a shared machine's load weighs on all alike."""
    times: list[list[float]] = [[] for _ in funcs]
    for _ in range(runs):
        for func, taken in zip(funcs, times, strict=True):
            start = time.perf_counter()
            func()
            taken.append(time.perf_counter() - start)
    return [statistics.median(taken) for taken in times]


def peak_memory(func: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument(
        "--generic", action="store_true", help="also time Construct's generic checked path (slow)"
    )
    args = parser.parse_args()

    start = time.perf_counter()
    data = make_blob()
    built = time.perf_counter() - start
    history = parse_blob(data)
    assert history.declared_count == TAGS and len(history.entries) == TAGS
    assert not history.anomalies, history.anomalies[:3]
    assert len(baseline(data)) == TAGS

    base, ours = median_times([lambda: baseline(data), lambda: parse_blob(data)], args.runs)
    full = median_time(lambda: materialise(data), max(3, args.runs // 3))
    print(f"BLOB: {TAGS} tags, {len(data):,} bytes (built in {built:.3f} s)")
    print(f"baseline split+regex : {base * 1000:8.1f} ms (median of {args.runs})")
    print(f"parse_blob           : {ours * 1000:8.1f} ms  ratio {ours / base:.2f}x (target <= 1.5)")
    print(
        f"parse_blob + entries : {full * 1000:8.1f} ms  ratio {full / base:.2f}x "
        "(every Entry built: datetime, unescaped UID)"
    )
    bare, report = median_times([lambda: baseline_json(data), lambda: blob_json(data)], args.runs)
    print(f"split+regex+json     : {bare * 1000:8.1f} ms (median of {args.runs})")
    print(
        f"blob --format json   : {report * 1000:8.1f} ms  ratio {report / bare:.2f}x "
        "(target <= 2.0; parse, every entry, hashes, the report's JSON)"
    )
    if args.generic:
        generic = median_time(lambda: PopBlobChecked.parse(data), 1)
        print(f"generic Construct    : {generic * 1000:8.1f} ms  ratio {generic / base:.2f}x")
    print(f"peak memory baseline : {peak_memory(lambda: baseline(data)) / 2**20:8.1f} MiB")
    print(f"peak memory parse    : {peak_memory(lambda: parse_blob(data)) / 2**20:8.1f} MiB")
    print(f"peak memory + entries: {peak_memory(lambda: materialise(data)) / 2**20:8.1f} MiB")


if __name__ == "__main__":
    main()
