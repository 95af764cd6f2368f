"""Run a fuzzing campaign: mutants of the seeds of each target, each in a limited worker.

``python -m fuzz.run --target blob|pst|msg|audit|all --seconds N --seed S [--jobs 1]``

Every input runs in a worker process with an address-space limit (RLIMIT_AS) and a
per-input alarm; a parent-side watchdog kills a worker that does not answer in time (a hang
in C code ignores the alarm). An input ends as one of:

- ``ok``: a result;
- ``rejected``: one of our own errors (``UidlInspectorError``): the expected way to refuse;
- ``crash``: any other exception, or a broken CLI contract (exit code, traceback on
  stderr, more than one line of error);
- ``timeout``, ``memory`` (MemoryError under the limit, or a per-input peak resident set
  above ``--max-rss-mib``: the peak is reset before each input through
  ``/proc/self/clear_refs``) or ``died`` (the worker vanished).

Crashers are written to ``fuzz/crashers/<target>/`` (git-ignored) with their seed, index,
mutation steps and traceback; ``--replay FILE`` runs one again in this process.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import multiprocessing.connection
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from fuzz.mutators import mutant_rng, mutate
from fuzz.targets import TARGETS, Seed, Target, TargetUnavailable

__all__ = ["Outcome", "Stats", "WorkerPool", "campaign", "main"]

CRASH_DIR = Path(__file__).resolve().parent / "crashers"
DEFAULT_MEMORY = 1 << 30
DEFAULT_MAX_RSS = 512 << 20
PACKAGE_DIR = os.sep + "uidl_inspector" + os.sep


class InputTimeout(BaseException):
    """Raised by the per-input alarm; a BaseException so no ``except Exception`` eats it."""


@dataclass(frozen=True)
class Outcome:
    status: str  # ok | rejected | crash | timeout | memory | died
    seconds: float
    error_type: str = ""
    site: str = ""  # innermost frame in uidl_inspector (else innermost frame)
    message: str = ""
    detail: str = ""  # traceback for crashes
    findings: int = 0  # Finding records the result carried
    peak_rss_kib: int = 0  # this input's peak resident set (the worker's, where no reset)


def _site(tb: Any) -> str:
    frames = traceback.extract_tb(tb)
    ours = [f for f in frames if PACKAGE_DIR in f.filename]
    frame = (ours or frames or [None])[-1]
    if frame is None:
        return "?"
    path = frame.filename
    if PACKAGE_DIR in path:
        path = "uidl_inspector/" + path.split(PACKAGE_DIR, 1)[1]
    else:
        path = os.path.basename(path)
    return f"{path}:{frame.lineno} {frame.name}"


_ARMED = False  # the alarm interrupts only the target itself, never the harness's handlers


def _on_alarm(signum: int, frame: Any) -> None:
    if _ARMED:
        raise InputTimeout()


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux >= 4.0), so the next reading is per input."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _peak_rss_kib() -> int:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_one(
    target: Target, data: bytes, scratch: Path, timeout: float, max_rss_kib: int | None = None
) -> Outcome:
    """Run one input in this process under the alarm (the worker's body; also --replay)."""
    from uidl_inspector.exceptions import UidlInspectorError

    global _ARMED
    _reset_peak_rss()
    findings = 0
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    start = time.perf_counter()
    try:
        _ARMED = True
        try:
            findings = target.run(data, scratch)
        finally:
            _ARMED = False
        status, error_type, site, message, detail = "ok", "", "", "", ""
    except InputTimeout:
        status, error_type, site, message, detail = "timeout", "", "", "", ""
    except MemoryError as exc:
        # Free what the failed input's frames still hold before describing it.
        traceback.clear_frames(exc.__traceback__)
        status, error_type = "memory", type(exc).__name__
        site, message, detail = _site(exc.__traceback__), "", ""
    except UidlInspectorError as exc:
        status, error_type, site = "rejected", type(exc).__name__, _site(exc.__traceback__)
        message, detail = str(exc)[:300], ""
    except Exception as exc:  # noqa: BLE001 - the harness's job is to classify anything
        status, error_type, site = "crash", type(exc).__name__, _site(exc.__traceback__)
        message, detail = str(exc)[:300], traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    elapsed = time.perf_counter() - start
    rss = _peak_rss_kib()
    if max_rss_kib is not None and rss > max_rss_kib and status in {"ok", "rejected"}:
        status, error_type = "memory", "PeakRSS"
        message = f"peak resident set {rss >> 10} MiB for a {len(data)}-byte input"
    return Outcome(status, elapsed, error_type, site, message, detail, findings, rss)


def _worker(conn: Connection, memory: int, timeout: float, max_rss: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    scratch_root = Path(tempfile.mkdtemp(prefix="uidl-fuzz-"))
    try:
        while True:
            try:
                job = conn.recv()
            except EOFError:
                return
            if job is None:
                return
            name, data = job
            scratch = scratch_root / "in"
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir()
            conn.send(run_one(TARGETS[name], data, scratch, timeout, max_rss >> 10))
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)


class WorkerPool:
    """Workers that each run one input at a time; a dead or hung worker is replaced."""

    def __init__(
        self,
        jobs: int = 1,
        memory: int = DEFAULT_MEMORY,
        timeout: float = 10.0,
        max_rss: int = DEFAULT_MAX_RSS,
    ) -> None:
        self.memory, self.timeout, self.max_rss = memory, timeout, max_rss
        self._ctx = multiprocessing.get_context("fork")
        self._workers: list[tuple[Any, Connection]] = [self._spawn() for _ in range(jobs)]

    def _spawn(self) -> tuple[Any, Connection]:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=_worker, args=(child, self.memory, self.timeout, self.max_rss), daemon=True
        )
        proc.start()
        child.close()
        return proc, parent

    def _replace(self, slot: int) -> None:
        proc, conn = self._workers[slot]
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        conn.close()
        self._workers[slot] = self._spawn()

    def map(self, jobs: Any) -> Any:
        """Yield (job_key, Outcome) for (job_key, target_name, data) triples, in any order."""
        jobs = iter(jobs)
        busy: dict[int, tuple[Any, float]] = {}
        grace = self.timeout + 5.0
        exhausted = False
        while True:
            for slot in range(len(self._workers)):
                if slot not in busy and not exhausted:
                    job = next(jobs, None)
                    if job is None:
                        exhausted = True
                        break
                    key, name, data = job
                    self._workers[slot][1].send((name, data))
                    busy[slot] = (key, time.monotonic())
            if not busy:
                return
            conns = {self._workers[s][1]: s for s in busy}
            for conn in multiprocessing.connection.wait(list(conns), timeout=0.5):
                slot = conns[conn]
                key, started = busy.pop(slot)
                try:
                    yield key, conn.recv()
                except (EOFError, OSError):
                    self._replace(slot)
                    yield key, Outcome("died", time.monotonic() - started, "WorkerDied")
            now = time.monotonic()
            for slot, (key, started) in list(busy.items()):
                if now - started > grace:
                    del busy[slot]
                    self._replace(slot)
                    yield key, Outcome("timeout", now - started, "Watchdog")

    def run(self, target: str, data: bytes) -> Outcome:
        """One input, waited for (tests drive the pool one example at a time)."""
        for _, outcome in self.map([(0, target, data)]):
            return outcome
        raise RuntimeError("the pool returned no outcome")

    def close(self) -> None:
        for proc, conn in self._workers:
            try:
                conn.send(None)
            except OSError:
                pass
            proc.join(2)
            if proc.is_alive():
                proc.kill()
                proc.join(2)
            conn.close()
        self._workers = []

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Stats:
    target: str
    seeds: int = 0
    inputs: int = 0
    seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    rejected_by_type: Counter = field(default_factory=Counter)
    crashes: Counter = field(default_factory=Counter)  # (type, site) -> count
    findings: int = 0
    inputs_with_findings: int = 0
    slowest: float = 0.0
    peak_rss_kib: int = 0

    def add(self, outcome: Outcome) -> None:
        self.inputs += 1
        self.statuses[outcome.status] += 1
        if outcome.status == "rejected":
            self.rejected_by_type[outcome.error_type] += 1
        elif outcome.status in {"crash", "memory", "died"}:
            self.crashes[(outcome.status, outcome.error_type, outcome.site)] += 1
        self.findings += outcome.findings
        self.inputs_with_findings += outcome.findings > 0
        self.slowest = max(self.slowest, outcome.seconds)
        self.peak_rss_kib = max(self.peak_rss_kib, outcome.peak_rss_kib)

    @property
    def failures(self) -> int:
        return sum(self.statuses[s] for s in ("crash", "timeout", "memory", "died"))


def _save_crasher(
    target: str,
    seed_name: str,
    seed: int,
    index: int,
    steps: tuple[str, ...],
    data: bytes,
    outcome: Outcome,
    crash_dir: Path,
) -> Path:
    folder = crash_dir / target
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()[:12]
    path = folder / f"{outcome.status}-{digest}.bin"
    path.write_bytes(data)
    path.with_suffix(".txt").write_text(
        f"target: {target}\nseed file: {seed_name}\nrun seed: {seed}\nindex: {index}\n"
        f"steps: {'; '.join(steps)}\nstatus: {outcome.status}\n"
        f"error: {outcome.error_type}: {outcome.message}\nsite: {outcome.site}\n"
        f"seconds: {outcome.seconds:.3f}\n\n{outcome.detail}\n"
        f"replay: python -m fuzz.run --target {target} --replay {path}\n"
    )
    return path


def campaign(
    target: Target,
    seconds: float,
    seed: int,
    *,
    jobs: int = 1,
    max_inputs: int | None = None,
    timeout: float = 10.0,
    memory: int = DEFAULT_MEMORY,
    max_rss: int = DEFAULT_MAX_RSS,
    crash_dir: Path | None = CRASH_DIR,
    keep_per_site: int = 3,
    progress: bool = False,
) -> Stats:
    """Mutate the target's seeds for ``seconds`` (or ``max_inputs``) and tally outcomes."""
    seeds: list[Seed] = target.seeds()
    stats = Stats(target.name, seeds=len(seeds))
    if not seeds:
        raise TargetUnavailable(f"target {target.name}: no seeds")
    deadline = time.monotonic() + seconds
    saved: Counter = Counter()
    pending: dict[int, tuple[Seed, tuple[str, ...], bytes]] = {}

    def jobs_iter() -> Any:
        index = 0
        while time.monotonic() < deadline and (max_inputs is None or index < max_inputs):
            rng = mutant_rng(seed, index)
            chosen = seeds[rng.randrange(len(seeds))]
            mutant = mutate(chosen.data, chosen.layout, rng)
            pending[index] = (chosen, mutant.steps, mutant.data)
            yield index, target.name, mutant.data
            index += 1

    started = time.monotonic()
    last_report = started
    with WorkerPool(jobs, memory, timeout, max_rss) as pool:
        for index, outcome in pool.map(jobs_iter()):
            chosen, steps, data = pending.pop(index)
            stats.add(outcome)
            if outcome.status not in {"ok", "rejected"} and crash_dir is not None:
                signature = (outcome.status, outcome.error_type, outcome.site)
                if saved[signature] < keep_per_site:
                    saved[signature] += 1
                    _save_crasher(
                        target.name, chosen.name, seed, index, steps, data, outcome, crash_dir
                    )
            if progress and time.monotonic() - last_report > 30:
                last_report = time.monotonic()
                print(
                    f"  {target.name}: {stats.inputs} inputs, {stats.failures} failures",
                    file=sys.stderr,
                    flush=True,
                )
    stats.seconds = time.monotonic() - started
    return stats


def summary_table(all_stats: list[Stats]) -> str:
    """A Markdown table (docs/validation.md quotes it) and the distinct failure sites."""
    lines = [
        "| target | seeds | inputs | seconds | inputs/s | ok | rejected (own errors) | "
        "crash | timeout | memory | died | findings | inputs with findings | slowest s | "
        "peak RSS MiB |",
        "|---|" + "---:|" * 14,
    ]
    for s in all_stats:
        rate = s.inputs / s.seconds if s.seconds else 0.0
        lines.append(
            f"| {s.target} | {s.seeds} | {s.inputs} | {s.seconds:.0f} | {rate:.1f} | "
            f"{s.statuses['ok']} | {s.statuses['rejected']} | {s.statuses['crash']} | "
            f"{s.statuses['timeout']} | {s.statuses['memory']} | {s.statuses['died']} | "
            f"{s.findings} | {s.inputs_with_findings} | {s.slowest:.2f} | "
            f"{s.peak_rss_kib / 1024:.0f} |"
        )
    for s in all_stats:
        if s.rejected_by_type:
            kinds = ", ".join(f"{k} {v}" for k, v in s.rejected_by_type.most_common())
            lines.append(f"\n{s.target} rejections: {kinds}")
        for (status, kind, site), count in s.crashes.most_common():
            lines.append(f"\n{s.target} FAILURE {status} {kind} at {site}: {count}")
    return "\n".join(lines)


def _replay(target: Target, path: Path, timeout: float) -> int:
    scratch = Path(tempfile.mkdtemp(prefix="uidl-replay-"))
    try:
        outcome = run_one(target, path.read_bytes(), scratch, timeout)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{outcome.status} {outcome.error_type} {outcome.site} {outcome.message}")
    if outcome.detail:
        print(outcome.detail)
    return 0 if outcome.status in {"ok", "rejected"} else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz.run", description=__doc__.split("\n")[0])
    parser.add_argument("--target", default="all", choices=[*TARGETS, "all"])
    parser.add_argument(
        "--seconds",
        type=float,
        default=60.0,
        help="time per target (all: each target gets this much)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--max-inputs", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per input")
    parser.add_argument(
        "--memory-mib", type=int, default=DEFAULT_MEMORY >> 20, help="RLIMIT_AS of each worker"
    )
    parser.add_argument(
        "--max-rss-mib",
        type=int,
        default=DEFAULT_MAX_RSS >> 20,
        help="an input whose peak resident set exceeds this is a failure",
    )
    parser.add_argument("--crash-dir", type=Path, default=CRASH_DIR)
    parser.add_argument("--replay", type=Path, default=None, help="run one saved input here")
    args = parser.parse_args(argv)

    if args.replay is not None:
        if args.target == "all":
            parser.error("--replay needs one --target")
        return _replay(TARGETS[args.target], args.replay, args.timeout)

    names = list(TARGETS) if args.target == "all" else [args.target]
    results: list[Stats] = []
    for name in names:
        try:
            stats = campaign(
                TARGETS[name],
                args.seconds,
                args.seed,
                jobs=args.jobs,
                max_inputs=args.max_inputs,
                timeout=args.timeout,
                memory=args.memory_mib << 20,
                max_rss=args.max_rss_mib << 20,
                crash_dir=args.crash_dir,
                progress=True,
            )
        except TargetUnavailable as exc:
            print(f"skipped {name}: {exc}", file=sys.stderr)
            continue
        results.append(stats)
    print(
        f"seed {args.seed}, jobs {args.jobs}, per-input timeout {args.timeout:g} s, "
        f"RLIMIT_AS {args.memory_mib} MiB, per-input peak RSS limit {args.max_rss_mib} MiB"
    )
    print(summary_table(results))
    return 1 if any(s.failures for s in results) else 0


if __name__ == "__main__":
    sys.exit(main())
