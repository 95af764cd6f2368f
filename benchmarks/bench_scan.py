"""Scan a 100,000-message store against a 1,000-message one, and against pypff, same run.

Run: ``python benchmarks/bench_scan.py [--big N] [--small N] [--runs R]``.
Both stores are written with ``uidl_inspector.synth`` (the write benchmark's spec) into a temporary
directory first (not timed). Each measurement runs in a fresh child process (spawn), so
that caches of one do not help the next and ``ru_maxrss`` is that run's peak:

- ``locate``: open the store and find every history (the default scan: associated
  contents of every folder), the part whose cost must not grow with the store (both
  stores hold the same 1,000-tag history, so only the number of messages differs);
- ``scan``: ``pipeline.scan_evidence`` as the command runs it, which also hashes the whole
  file (SHA-256 and MD5) for the report's Source record;
- ``pypff``: libpff opening the same file and walking every folder's ``sub_items``.

Imports are done before the clock starts. Peak memory is the child's VmHWM (the whole
process: interpreter, libraries and the run).

Printed: medians, the big/small ratio (target <= 2x), our time over pypff's on the big
store (target <= 1.0x), and the peak memory of a scan of the big store (target < 150 MB).

``--io STORE`` (issue 12): the command as a user runs it, ``uidl-inspector scan STORE -f
json -o FILE`` in a fresh process (interpreter start and imports included), with and
without ``--no-recover``, against a bare Python process hashing the file once (MD5 and
SHA-256 in one pass). Targets: <= 2.5x with recovery, <= 2.0x without, peak RSS <= 120 MB
(the child's ru_maxrss, from wait4). Build the store once with ``uidl-inspector synth
/tmp/uidl-bench/large-100000 --scenario large --messages 100000``.

``--jobs STORE``: 8 copies (hard links) of STORE scanned with ``--jobs 2`` against
``--jobs 1`` (target <= 0.6x) and against ``--jobs 1`` without its hashing thread, runs
interleaved, wall and CPU time (workers included), reports compared apart from run metadata.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

HISTORY_TAGS = 1_000


def history_blob(tags: int = HISTORY_TAGS) -> bytes:
    """A realistic history (distinct Dovecot-style UIDs), the same in both stores."""
    from uidl_inspector.history import build_blob

    start = datetime(2024, 1, 1)
    return build_blob(
        ("get", "body", start + timedelta(minutes=7 * i), f"{i:08x}{i * 7919:08x}")
        for i in range(tags)
    )


def write_store(folder: Path, messages: int) -> Path:
    """The write benchmark's store (``messages`` Inbox messages, one Message Manager), with
    the same history BLOB whatever the size, so that only the store's size differs."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_synth_write import make_spec

    from uidl_inspector.synth.pst_writer import write_pst

    spec = make_spec(messages)
    inbox = next(f for f in spec.folders if f.name == "Inbox")
    inbox.associated[0].attachments[0].data = history_blob()
    path = folder / f"inbox-{messages}.pst"
    write_pst(spec, path, variant="unicode", encoding="permute", seed=1)
    return path


def _locate(path: str) -> int:
    from uidl_inspector.locate import locate
    from uidl_inspector.store.pst import open_pst

    with open_pst(path) as store:
        return len(locate(store).histories)


def _scan(path: str) -> int:
    from uidl_inspector.pipeline import scan_evidence

    return len(scan_evidence([path]).report.histories)


def _pypff(path: str) -> int:
    import pypff  # type: ignore[import-not-found]  # libpff's binding ships no stubs

    handle = pypff.file()
    handle.open(path)
    count, stack = 0, [handle.get_root_folder()]
    while stack:
        folder = stack.pop()
        for index in range(folder.number_of_sub_items):
            count += folder.get_sub_item(index).identifier & 1 | 1
        stack.extend(folder.get_sub_folder(i) for i in range(folder.number_of_sub_folders))
    handle.close()
    return count


TASKS = {"locate": _locate, "scan": _scan, "pypff": _pypff}


def _peak_rss_kib() -> int:
    """VmHWM: unlike ru_maxrss it starts afresh at exec, so the parent's size is not in it."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child(task: str, path: str, queue: mp.Queue[tuple[float, int, int]]) -> None:
    import pypff  # noqa: F401  (imports are not what is measured)

    import uidl_inspector.pipeline  # noqa: F401
    import uidl_inspector.store.pst  # noqa: F401

    start = time.perf_counter()
    result = TASKS[task](path)
    elapsed = time.perf_counter() - start
    queue.put((elapsed, _peak_rss_kib(), result))


def measure(task: str, path: Path, runs: int) -> tuple[float, int, int]:
    """Median seconds, highest peak RSS (KiB) and the task's result over ``runs`` children."""
    ctx = mp.get_context("spawn")
    times, peaks, result = [], [], 0
    for _ in range(runs):
        queue = ctx.Queue()
        child = ctx.Process(target=_child, args=(task, str(path), queue))
        child.start()
        elapsed, peak, result = queue.get(timeout=3600)
        child.join()
        times.append(elapsed)
        peaks.append(peak)
    return statistics.median(times), max(peaks), result


HASH_ONCE = """
import hashlib, sys
sha, md5 = hashlib.sha256(), hashlib.md5()
with open(sys.argv[1], "rb") as handle:
    while block := handle.read(1 << 20):
        sha.update(block)
        md5.update(block)
"""


def child_env(pycache: str | None = None) -> dict[str, str]:
    """The children's environment: this tree's sources and, with ``pycache``, compiled
    bytecode kept there, as an installed tool has it (pip compiles at install; without it
    every run would compile the modules again, some 0.2 s)."""
    import os

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def run_process(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (KiB) and CPU seconds (user + system, all threads) of one
    child process."""
    import os
    import subprocess

    start = time.perf_counter()
    child = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env or child_env()
    )
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    if status and os.waitstatus_to_exitcode(status) not in (0,):
        error = child.stderr.read().decode() if child.stderr else ""
        raise SystemExit(f"{argv}: {error}")
    return elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def median_process(
    argv: list[str], runs: int, env: dict[str, str] | None = None
) -> tuple[float, int]:
    """Median wall seconds and highest peak RSS (KiB) of ``runs`` children, after one
    run not counted (it compiles the bytecode and fills the page cache)."""
    run_process(argv, env)
    results = [run_process(argv, env) for _ in range(runs)]
    return statistics.median(r[0] for r in results), max(r[1] for r in results)


def scan_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "uidl_inspector", "scan", *args, "-f", "json", "--force"]


def bench_io(store: Path, runs: int) -> None:
    """The scan command against one hashing pass of the same file, same run. The three
    commands take turns (one run of each, ``runs`` times), so that a change in the shared
    machine's load weighs on all of them alike."""
    import os

    print(
        f"{store} ({store.stat().st_size / 1e6:.1f} MB), medians of {runs} runs, "
        f"{os.cpu_count()} CPUs (shared machine, load average {os.getloadavg()[0]:.1f})"
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "report.json")
        env = child_env(str(Path(tmp) / "pycache"))
        commands = {
            "MD5+SHA-256 once": [sys.executable, "-c", HASH_ONCE, str(store)],
            "scan": scan_argv(str(store), "-o", out),
            "scan --no-recover": scan_argv(str(store), "--no-recover", "-o", out),
        }
        for argv in commands.values():  # compiles the bytecode, fills the page cache
            run_process(argv, env)
        measured: dict[str, list[tuple[float, int, float]]] = {label: [] for label in commands}
        for _ in range(runs):
            for label, argv in commands.items():
                measured[label].append(run_process(argv, env))
        base = statistics.median(r[0] for r in measured["MD5+SHA-256 once"])
        base_cpu = statistics.median(r[2] for r in measured["MD5+SHA-256 once"])
        for label, target in (
            ("MD5+SHA-256 once", None),
            ("scan", 2.5),
            ("scan --no-recover", 2.0),
        ):
            seconds = statistics.median(r[0] for r in measured[label])
            cpu = statistics.median(r[2] for r in measured[label])
            peak = max(r[1] for r in measured[label])
            line = f"  {label:17}: {seconds:7.3f} s  peak RSS {peak / 1024:6.1f} MB"
            if target is not None:
                line += f"  ratio {seconds / base:.2f}x (target <= {target}x, RSS <= 120 MB)"
            # what the ratio tends to when no second core is free
            print(f"{line}  CPU {cpu:.2f} s, {cpu / base_cpu:.2f}x")


# ``--jobs 1`` as it would run without its hashing thread (hash, then read): the scan's
# executor of that one thread replaced by one that runs the task at once, in this thread.
SERIAL_HASH = """
import sys
from concurrent.futures import Future
import uidl_inspector.pipeline as pipeline
from uidl_inspector.cli import main

class Inline:
    def __init__(self, *args, **kwargs): pass
    def __enter__(self): return self
    def __exit__(self, *exc): return False
    def submit(self, task, *args, **kwargs):
        done = Future()
        done.set_result(task(*args, **kwargs))
        return done

assert pipeline.ThreadPoolExecutor  # what the scan hashes on (fails if that changes)
pipeline.ThreadPoolExecutor = Inline
sys.argv[0] = "uidl-inspector"
main()
"""


def bench_jobs(store: Path, runs: int, copies: int = 8) -> None:
    """``--jobs 2`` against ``--jobs 1`` on copies of one store; the reports must agree.

    The variants run interleaved (one of each, ``runs`` times), so that load from other
    work on a shared machine falls on all of them alike; medians and best runs (the least
    disturbed) are both printed, CPU time (user + sys, workers included) beside wall
    time, and ``--jobs 1`` is also run without its hashing thread, which already puts a
    second core to work.
    """
    import json
    import os

    with tempfile.TemporaryDirectory(dir=store.parent) as tmp:
        folder = Path(tmp) / "copies"
        folder.mkdir()
        for i in range(copies):
            os.link(store, folder / f"copy-{i}.pst")
        env = child_env(str(Path(tmp) / "pycache"))
        variants = {
            "--jobs 1": scan_argv(str(folder), "--jobs", "1"),
            "--jobs 1, no hashing thread": [
                sys.executable,
                "-c",
                SERIAL_HASH,
                *scan_argv(str(folder), "--jobs", "1")[3:],
            ],
            "--jobs 2": scan_argv(str(folder), "--jobs", "2"),
        }
        measured: dict[str, list[tuple[float, int, float]]] = {v: [] for v in variants}
        load = os.getloadavg()[0]
        reports = {}
        for _ in range(runs):
            for n, (label, argv) in enumerate(variants.items()):
                out = Path(tmp) / f"report-{n}.json"
                measured[label].append(run_process([*argv, "-o", str(out)], env))
                data = json.loads(out.read_text())
                reports[label] = {k: v for k, v in data.items() if k not in ("run", "generated_at")}
        wall = {v: statistics.median(m[0] for m in measured[v]) for v in variants}
        cpu = {v: statistics.median(m[2] for m in measured[v]) for v in variants}
        first = next(iter(reports.values()))
        print(
            f"{copies} copies of {store.name}, medians of {runs} interleaved runs, "
            f"{os.cpu_count()} CPUs (shared machine, load average {load:.1f} before, "
            f"{os.getloadavg()[0]:.1f} after):"
        )
        best = {v: min(m[0] for m in measured[v]) for v in variants}
        for label in variants:
            print(
                f"  {label:28}: {wall[label]:6.3f} s wall (best {best[label]:6.3f} s), "
                f"{cpu[label]:6.3f} s CPU"
            )
        for name, seconds in (("medians", wall), ("best runs", best)):
            two = seconds["--jobs 2"]
            print(
                f"  {name}: --jobs 2 / --jobs 1 {two / seconds['--jobs 1']:.2f}x (target <= "
                f"0.6x); against --jobs 1 without its hashing thread "
                f"{two / seconds['--jobs 1, no hashing thread']:.2f}x"
            )
        print(f"  reports equal: {all(r == first for r in reports.values())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--tasks", default=",".join(TASKS), help="comma-separated subset of: " + ", ".join(TASKS)
    )
    parser.add_argument(
        "--pypff-runs",
        type=int,
        default=None,
        help="runs of the pypff walk (slow on the big store); default --runs",
    )
    parser.add_argument(
        "--io",
        type=Path,
        metavar="STORE",
        help="time the scan command against one hashing pass of STORE",
    )
    parser.add_argument(
        "--jobs",
        type=Path,
        metavar="STORE",
        help="time --jobs 2 against --jobs 1 on 8 copies of STORE",
    )
    args = parser.parse_args()
    if args.io or args.jobs:
        if args.io:
            bench_io(args.io, args.runs)
        if args.jobs:
            bench_jobs(args.jobs, args.runs)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        small, big = write_store(folder, args.small), write_store(folder, args.big)
        print(
            f"stores: {args.small:,} messages {small.stat().st_size / 1e6:.1f} MB, "
            f"{args.big:,} messages {big.stat().st_size / 1e6:.1f} MB; "
            f"medians of {args.runs} runs, each in a fresh process"
        )
        rows = {}
        tasks = [t for t in args.tasks.split(",") if t in TASKS]
        for task in tasks:
            for label, path in (("small", small), ("big", big)):
                runs = args.runs if task != "pypff" else args.pypff_runs or args.runs
                rows[task, label] = measure(task, path, runs)
                seconds, peak, result = rows[task, label]
                print(
                    f"  {task:6} {label:5}: {seconds * 1000:9.1f} ms   peak RSS "
                    f"{peak / 1024:6.1f} MB   (result {result})"
                )
        for task in ("locate", "scan"):
            if task not in tasks:
                continue
            ratio = rows[task, "big"][0] / rows[task, "small"][0]
            print(f"{task}: big/small = {ratio:.2f}x (target <= 2x)")
            if "pypff" in tasks:
                versus = rows[task, "big"][0] / rows["pypff", "big"][0]
                print(f"{task}: ours/pypff on the big store = {versus:.3f}x (target <= 1.0x)")
            print(
                f"{task} of the big store: peak RSS {rows[task, 'big'][1] / 1024:.1f} MB "
                "(target < 150 MB)"
            )


if __name__ == "__main__":
    main()
