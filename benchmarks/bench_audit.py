"""Audit time and memory on a 100,000-message store against a 1,000-message one.

Run: ``python benchmarks/bench_audit.py [--big N] [--small N] [--runs R] [--keep DIR]``.

Both stores are written first, each in its own child process (not timed): an Inbox of N
POP3 messages delivered irregularly, 1% of them delivered twice (a re-download), and a
Message Manager whose history holds a get tag for each of the newest min(N, 65,535)
messages (the BLOB's Count is 16 bits), written on a clock one hour east of UTC; plus the
server's UIDL listing. Then each size is measured in a fresh child process (spawn), so that
its ``ru_maxrss`` is the audit's own and not the writer's:

- ``audit``: what ``uidl-inspector audit STORE --server-uidl LISTING`` does: scan (locate and
  decode the history), walk every folder's messages (inventory), and the audit (classes,
  duplicate groups, clock inference, links, findings). Median of ``--runs``.
- ``analysis``: the audit alone (``run_audit`` on the histories and the inventory), median.
- memory: tracemalloc peak of one more audit run (traced separately, so tracing does not
  distort the timings), and the child's ru_maxrss (interpreter included).

Prints wall and CPU times, the per-message ratio big/small of the CPU times (1.0 =
linear) and memory.

``--targets DIR`` measures issue 12's two audit targets instead, on the ``large`` synth
scenario (written once with ``uidl-inspector synth`` into DIR/large-N/ and reused): each
measurement is a fresh child process whose own peak RSS is read with ``os.wait4``, and
each figure is the median of ``--runs``, the commands taking turns, with this tree's
bytecode compiled once beforehand as an installed tool has it (``--no-big``: the first
target only):

- speed: ``audit STORE --server-uidl LISTING -f json`` of the 20,000-message store (and the
  same without writing the report: scan, inventory, analysis) against pypff opening the
  store and reading every message's transport headers, in the same run (target <= 1.0x);
- memory: peak RSS of the same audit of the 100,000-message store (target <= 250 MB).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bench_scan import child_env

from uidl_inspector.audit import (
    AuditResult,
    Inventory,
    ServerListing,
    read_server_listing,
    run_audit,
)
from uidl_inspector.history import build_blob, escape_uid
from uidl_inspector.pipeline import audit_report, scan_evidence
from uidl_inspector.records import HistoryRecord
from uidl_inspector.schemas.mapi import PropId
from uidl_inspector.schemas.mapi import PropType as T
from uidl_inspector.synth.pst_writer import AttachmentSpec, MessageSpec, Prop, StoreSpec, write_pst
from uidl_inspector.synth.truth import uidl_transcript

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
OFFSET = timedelta(minutes=60)
MAX_TAGS = 65_535


def write_store(n: int, folder: Path) -> tuple[Path, Path]:
    """The store and its server listing (see the module docstring)."""
    rng = random.Random(n)
    spec = StoreSpec()
    inbox = next(f for f in spec.folders if f.name == "Inbox")
    moment = T0
    fetched = []
    for i in range(n):
        moment += timedelta(seconds=rng.randint(20, 400))
        mid = f"<{i:08d}.{rng.getrandbits(32):08x}@mail.example.org>"
        uid = f"{i + 1:08X}{0x5A5A5A5A:08X}"
        copies = [moment] + ([moment + timedelta(days=3)] if i % 100 == 7 else [])
        for delivered in copies:
            inbox.messages.append(
                MessageSpec(
                    {
                        PropId.MESSAGE_CLASS: Prop(T.UNICODE, "IPM.Note"),
                        PropId.SUBJECT: Prop(T.UNICODE, f"Report {i}"),
                        PropId.INTERNET_MESSAGE_ID: Prop(T.UNICODE, mid),
                        PropId.MESSAGE_DELIVERY_TIME: Prop(T.TIME, delivered),
                        PropId.CLIENT_SUBMIT_TIME: Prop(T.TIME, moment - timedelta(seconds=30)),
                        PropId.SENDER_EMAIL_ADDRESS: Prop(T.UNICODE, "alice@example.org"),
                        PropId.TRANSPORT_MESSAGE_HEADERS: Prop(T.UNICODE, f"Message-ID: {mid}\r\n"),
                    }
                )
            )
        fetched.append((moment, uid))
    tags = [
        ("+", "b", (at + OFFSET + timedelta(seconds=1)).strftime("%Y%m%d%H%M%S"), escape_uid(uid))
        for at, uid in fetched[-MAX_TAGS:]
    ]
    inbox.associated.append(
        MessageSpec(
            {
                PropId.MESSAGE_CLASS: Prop(T.UNICODE, "IPM.MessageManager"),
                PropId.SUBJECT: Prop(T.UNICODE, "Outlook Message Manager (Outlook) (KEY: 00)"),
            },
            attachments=[
                AttachmentSpec(
                    {PropId.ATTACH_LONG_FILENAME: Prop(T.UNICODE, "BlobPOPa@example.org")},
                    data=build_blob(tags),
                )
            ],
        )
    )
    store = folder / f"audit-{n}.pst"
    write_pst(spec, store)
    listing = folder / f"audit-{n}.uidl.txt"
    listing.write_text(uidl_transcript([uid for _, uid in fetched] + ["NEW1", "NEW2"]))
    return store, listing


def audit_once(store: Path, listing: Path) -> AuditResult:
    report, failed = audit_report([str(store)], [read_server_listing(listing)])
    assert not failed, failed
    audit = report.extra["audit"]
    assert isinstance(audit, AuditResult)
    return audit


def analysis_inputs(
    store: Path, listing: Path
) -> tuple[list[HistoryRecord], list[Inventory], list[ServerListing]]:
    """What ``run_audit`` is given: the scan's histories and the inventory it took."""
    report = scan_evidence([str(store)], inventory=True).report
    inventories = [taken for _, taken in report.extra.pop("inventories")]
    assert all(isinstance(taken, Inventory) for taken in inventories), inventories
    return report.histories, inventories, [read_server_listing(listing)]


def median_time(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall time and median CPU time of the process (the machine is shared: CPU
    time is the steadier figure when other work competes for the cores)."""
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def median_analysis(store: Path, listing: Path, runs: int) -> tuple[float, float]:
    inputs = analysis_inputs(store, listing)
    return median_time(lambda: run_audit(*inputs), runs)


def measure(store: Path, listing: Path, runs: int, queue: mp.Queue[Any]) -> None:
    """One size, in a fresh process: times, tracemalloc peak, ru_maxrss, summary."""
    audit = audit_once(store, listing)  # warm-up, and a sanity check
    assert audit.clock.offset_minutes == 60, audit.clock
    total = median_time(lambda: audit_once(store, listing), runs)
    analysis = median_analysis(store, listing, runs)  # its inputs freed on return
    tracemalloc.start()
    audit_once(store, listing)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    queue.put((total, analysis, peak, maxrss, audit.summary.to_dict()))


def in_child(target: Callable[..., None], *args: object) -> Any:
    context = mp.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=target, args=(*args, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def write_child(n: int, folder: Path, queue: mp.Queue[Any]) -> None:
    start = time.perf_counter()
    store, listing = write_store(n, folder)
    queue.put((store, listing, time.perf_counter() - start))


PYPFF_WALK = """
import sys, pypff
store = pypff.file()
store.open(sys.argv[1])
stack, count = [store.root_folder], 0
while stack:
    folder = stack.pop()
    for i in range(folder.number_of_sub_messages):
        folder.get_sub_message(i).transport_headers
        count += 1
    stack.extend(folder.get_sub_folder(i) for i in range(folder.number_of_sub_folders))
store.close()
"""
AUDIT_ONLY = """
import sys
from uidl_inspector.audit import read_server_listing
from uidl_inspector.pipeline import audit_report
report, failed = audit_report([sys.argv[1]], [read_server_listing(sys.argv[2])])
assert not failed, failed
"""


def child(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (bytes) and CPU seconds (user + system) of one child
    process, its own (os.wait4). On a shared machine the CPU time is the steadier figure."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, env=env)
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{argv[:4]} failed with exit code {proc.returncode}")
    return time.perf_counter() - start, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime


def large_store(folder: Path, n: int) -> tuple[Path, Path]:
    """The ``large`` scenario of n messages, written once by the synth CLI and reused."""
    where = folder / f"large-{n}"
    store, listing = where / "large-unicode-none.pst", where / "large-unicode-none.uidl.txt"
    if not (store.exists() and listing.exists()):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "uidl_inspector",
                "synth",
                str(where),
                "--scenario",
                "large",
                "--messages",
                str(n),
                "--force",
                "-q",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return store, listing


def compiled_env(pycache: Path) -> dict[str, str]:
    """The children's environment (bench_scan.child_env: this tree's sources) with this
    tree compiled once into ``pycache``, as an installed tool has it: without bytecode each
    run would compile the modules it imports again, some 0.2 s."""
    env = child_env(str(pycache))
    src = Path(__file__).resolve().parents[1] / "src"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], env=env, check=True)
    return env


def medians(
    commands: list[list[str]], runs: int, env: dict[str, str] | None = None
) -> list[tuple[float, float, float]]:
    """Median wall seconds, peak RSS and CPU seconds of each command, run in turn
    (interleaved, so that the load of a shared machine weighs on all of them alike)."""
    got: list[list[tuple[float, float, float]]] = [[] for _ in commands]
    for _ in range(runs):
        for n, argv in enumerate(commands):
            got[n].append(child(argv, env))
    return [
        (
            statistics.median(g[0] for g in one),
            statistics.median(g[1] for g in one),
            statistics.median(g[2] for g in one),
        )
        for one in got
    ]


def targets(folder: Path, runs: int, small: int = 20_000, big: int | None = 100_000) -> None:
    """Issue 12 point 2, as ratios and figures of one run (see the module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = compiled_env(Path(tmp) / "pycache")
        _targets(folder, runs, small, big, env)


def _targets(folder: Path, runs: int, small: int, big: int | None, env: dict[str, str]) -> None:
    py = sys.executable
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"{os.cpu_count()} CPUs, load average {load}; medians of {runs} runs, each in a "
        "fresh process, bytecode compiled once",
        flush=True,
    )
    store, listing = large_store(folder, small)
    report = folder / "bench-audit-report.json"
    cli = [
        py,
        "-m",
        "uidl_inspector",
        "audit",
        str(store),
        "--server-uidl",
        str(listing),
        "-q",
        "-f",
        "json",
        "-o",
        str(report),
        "--force",
    ]
    (base_s, base_m, base_c), (cli_s, cli_m, cli_c), (only_s, only_m, only_c) = medians(
        [[py, "-c", PYPFF_WALK, str(store)], cli, [py, "-c", AUDIT_ONLY, str(store), str(listing)]],
        runs,
        env,
    )
    print(
        f"{small} messages: pypff open + transport-header walk {base_s:.2f} s wall, "
        f"{base_c:.2f} s CPU ({base_m / 1e6:.0f} MB); audit CLI with the JSON report "
        f"{cli_s:.2f} s wall, {cli_c:.2f} s CPU ({cli_m / 1e6:.0f} MB) = "
        f"{cli_s / base_s:.2f}x wall, {cli_c / base_c:.2f}x CPU (target <= 1.0x); "
        f"audit without writing the report {only_s:.2f} s wall = {only_s / base_s:.2f}x, "
        f"{only_c / base_c:.2f}x CPU ({only_m / 1e6:.0f} MB)",
        flush=True,
    )
    if big is None:
        report.unlink(missing_ok=True)
        return
    store, listing = large_store(folder, big)
    cli[4], cli[6] = str(store), str(listing)
    (cli_s, cli_m, cli_c), (only_s, only_m, _) = medians(
        [cli, [py, "-c", AUDIT_ONLY, str(store), str(listing)]], runs, env
    )
    print(
        f"{big} messages: audit CLI with the JSON report {cli_s:.2f} s wall, {cli_c:.2f} s "
        f"CPU, peak RSS {cli_m / 1e6:.0f} MB (target <= 250 MB); without writing the report "
        f"{only_s:.2f} s, peak RSS {only_m / 1e6:.0f} MB",
        flush=True,
    )
    report.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the stores here and keep them")
    parser.add_argument(
        "--targets",
        type=Path,
        metavar="DIR",
        help="measure issue 12's audit targets on stores kept in DIR",
    )
    parser.add_argument(
        "--no-big", action="store_true", help="with --targets: the 20,000-message store only"
    )
    args = parser.parse_args()
    if args.targets:
        args.targets.mkdir(parents=True, exist_ok=True)
        targets(args.targets, args.runs, big=None if args.no_big else 100_000)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        results = {}
        for n in (args.small, args.big):
            store, listing = folder / f"audit-{n}.pst", folder / f"audit-{n}.uidl.txt"
            if store.exists() and listing.exists() and args.keep:
                written = "kept"
            else:
                store, listing, seconds = in_child(write_child, n, folder)
                written = f"{seconds:.1f} s"
            total, analysis, peak, maxrss, summary = in_child(measure, store, listing, args.runs)
            results[n] = (total[1], analysis[1])
            print(
                f"{n:>7} messages ({store.stat().st_size / 1e6:.1f} MB store, written: "
                f"{written}): audit {total[0]:.2f} s wall, {total[1]:.2f} s CPU (analysis "
                f"alone {analysis[0]:.2f} s wall, {analysis[1]:.2f} s CPU), "
                f"tracemalloc peak {peak / 1e6:.1f} MB, ru_maxrss {maxrss / 1e6:.0f} MB; "
                f"{summary['entries']} entries, {summary['duplicate_groups']} duplicate "
                f"groups, {summary['linked_entries']} links, findings {summary['findings']}",
                flush=True,
            )
        small, big = results[args.small], results[args.big]
        per = (big[0] / args.big) / (small[0] / args.small)
        print(
            f"audit CPU time ratio {args.big}/{args.small}: {big[0] / small[0]:.1f}x "
            f"({per:.2f}x per message); analysis alone {big[1] / small[1]:.1f}x "
            f"({(big[1] / args.big) / (small[1] / args.small):.2f}x per message)"
        )


if __name__ == "__main__":
    main()
