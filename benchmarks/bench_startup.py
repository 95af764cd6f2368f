"""How long the command line takes to start: ``--version``, ``scan --help`` and ``--help``
against a bare ``python -c pass``, measured in the same run.

Run: ``python benchmarks/bench_startup.py [--runs N] [--before SRC]``.

Each command is a fresh process (``python -m uidl_inspector ...``) with this tree's
sources, their bytecode compiled once beforehand as an installed tool has it; the
commands take turns, so that the load of a shared machine weighs on all alike. Prints the
median wall and CPU time of each and its ratio to ``python -c pass``. ``--before SRC``
measures another source tree (``src`` of a checkout, e.g. ``git archive BASE src | tar -x
-C /tmp/base``) in the same turns, for a before/after comparison.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
COMMANDS = {"--version": ["--version"], "scan --help": ["scan", "--help"], "--help": ["--help"]}


def environment(src: Path, pycache: Path) -> dict[str, str]:
    """Children read ``src``, with bytecode kept in ``pycache`` (compiled here, once)."""
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONPYCACHEPREFIX": str(pycache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], env=env, check=True)
    return env


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one child process."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, env=env)
    _pid, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{argv} failed")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--before", type=Path, metavar="SRC", help="another tree to compare")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"": SRC} if args.before is None else {"before ": args.before, "after ": SRC}
        envs = {
            label: environment(src, Path(tmp) / f"pyc{n}")
            for n, (label, src) in enumerate(trees.items())
        }
        cases: dict[str, tuple[list[str], dict[str, str]]] = {
            "python -c pass": ([sys.executable, "-c", "pass"], envs[next(iter(envs))])
        }
        for label, env in envs.items():
            for name, extra in COMMANDS.items():
                cases[f"{label}uidl-inspector {name}"] = (
                    [sys.executable, "-m", "uidl_inspector", *extra],
                    env,
                )
        for argv, env in cases.values():  # warm: the standard library's bytecode too
            run(argv, env)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, (argv, env) in cases.items():
                times[name].append(run(argv, env))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load}; medians of {args.runs} runs")
    bare = statistics.median(w for w, _ in times["python -c pass"])
    bare_cpu = statistics.median(c for _, c in times["python -c pass"])
    for name, got in times.items():
        wall, cpu = statistics.median(w for w, _ in got), statistics.median(c for _, c in got)
        print(
            f"{name:<40} {wall * 1000:6.0f} ms wall ({wall / bare:5.1f}x python -c pass), "
            f"{cpu * 1000:6.0f} ms CPU ({cpu / bare_cpu:5.1f}x)"
        )


if __name__ == "__main__":
    main()
