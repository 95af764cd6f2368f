"""Write a 100,000-message PST against a 1,000-message one, in the same run.

Run: ``python benchmarks/bench_synth_write.py [--big N] [--small N] [--runs R]``.
Each measurement runs in a fresh child process (spawn), so that ``ru_maxrss`` is the peak
of that write alone and tracing does not distort timings:

- time: median of ``--runs`` writes of each size (spec building excluded), and the ratio
  per message of the big store to the small one (1.0 = linear);
- memory: ``ru_maxrss`` of the child (spec + writer + interpreter), and the tracemalloc
  peak during ``write_pst`` alone (separate runs, traced).

Targets (issue 3): 100,000 messages in under 60 s and under 300 MB (ru_maxrss, which
includes the caller's spec of 100,000 messages).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from multiprocessing.queues import Queue
from queue import Empty

from uidl_inspector.schemas.mapi import PropType as T
from uidl_inspector.synth.pst_writer import AttachmentSpec, MessageSpec, Prop, StoreSpec, write_pst

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def make_spec(n: int) -> StoreSpec:
    """An Inbox of ``n`` POP3-style messages and one Message Manager with a history BLOB."""
    spec = StoreSpec()
    inbox = next(f for f in spec.folders if f.name == "Inbox")
    body = "Hello,\r\nthis is a synthetic message body for the write benchmark.\r\n" * 4
    for i in range(n):
        mid = f"<{i:08d}.{i * 7919 % 100003:05d}@mail.example.org>"
        inbox.messages.append(
            MessageSpec(
                {
                    0x001A: Prop(T.UNICODE, "IPM.Note"),
                    0x0037: Prop(T.UNICODE, f"Report {i} for the weekly meeting"),
                    0x1035: Prop(T.UNICODE, mid),
                    0x0E06: Prop(T.TIME, T0 + timedelta(seconds=37 * i)),
                    0x0C1A: Prop(T.UNICODE, "Alice Example"),
                    0x0C1F: Prop(T.UNICODE, "alice@example.org"),
                    0x007D: Prop(T.UNICODE, f"Message-ID: {mid}\r\nFrom: alice@example.org\r\n"),
                    0x1000: Prop(T.UNICODE, body),
                }
            )
        )
    blob = (
        b"\x03\x00" + min(n, 65535).to_bytes(2, "little") + b"+b20240101000000x\0" * min(n, 65535)
    )
    inbox.associated.append(
        MessageSpec(
            {
                0x001A: Prop(T.UNICODE, "IPM.MessageManager"),
                0x0037: Prop(T.UNICODE, "Outlook Message Manager (Outlook) (KEY: 00)"),
            },
            attachments=[
                AttachmentSpec({0x3707: Prop(T.UNICODE, "BlobPOPa@example.org")}, data=blob)
            ],
        )
    )
    return spec


Measured = tuple[float, int, int, int, float]  # seconds, traced peak, RSS, size, CPU


def _child(n: int, traced: bool, queue: Queue[Measured]) -> None:
    spec = make_spec(n)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.pst")
        if traced:
            tracemalloc.start()
        start, cpu = time.perf_counter(), time.process_time()
        write_pst(spec, path)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        peak = tracemalloc.get_traced_memory()[1] if traced else 0
        size = os.path.getsize(path)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    queue.put((elapsed, peak, rss, size, cpu))


def measure(n: int, traced: bool) -> Measured:
    ctx = mp.get_context("spawn")
    queue: Queue[Measured] = ctx.Queue()
    proc = ctx.Process(target=_child, args=(n, traced, queue))
    proc.start()
    while True:
        try:
            result = queue.get(timeout=5)
            break
        except Empty:
            if not proc.is_alive():
                failed = f"the {n}-message write failed (exit code {proc.exitcode})"
                raise SystemExit(failed) from None
    proc.join()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=1_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    rows = {}
    for n in (args.small, args.big):
        runs = [measure(n, traced=False) for _ in range(args.runs)]
        traced = measure(n, traced=True)
        rows[n] = (
            statistics.median(r[0] for r in runs),
            max(r[2] for r in runs),
            traced[1],
            runs[0][3],
            statistics.median(r[4] for r in runs),
        )
        t, rss, peak, size, cpu = rows[n]
        print(
            f"{n:>8} messages: write {t:7.2f} s wall, {cpu:7.2f} s CPU (medians of {args.runs}), "
            f"file {size / 2**20:7.1f} MiB, ru_maxrss {rss / 2**20:6.1f} MiB, "
            f"tracemalloc peak in write_pst {peak / 2**20:6.1f} MiB"
        )
    (ts, *_, cs), (tb, rss_b, *_, cb) = rows[args.small], rows[args.big]
    per = (cb / args.big) / (cs / args.small)
    print(
        f"ratio big/small: wall {tb / ts:.1f}x, CPU {cb / cs:.1f}x for "
        f"{args.big / args.small:.0f}x messages; CPU per message {per:.2f}x"
    )
    print(
        f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
        "(wall time counts other processes' contention, CPU time does not)"
    )
    print(
        f"targets: {args.big} messages in < 60 s: {'yes' if tb < 60 else 'NO'}; "
        f"< 300 MB: {'yes' if rss_b < 300 * 2**20 else 'NO'}"
    )


if __name__ == "__main__":
    main()
