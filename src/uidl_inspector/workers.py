"""Running one task per input on local worker processes or a Dask cluster, in input order.

Each input's task is the same function whatever the executor, and results are merged in
the order the inputs were named, so a report is identical for any number of workers; a
worker that dies costs only the input it was running (docs/scale.md).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from uidl_inspector.exceptions import UidlInspectorError
from uidl_inspector.logs import LOGGER

__all__ = [
    "SCHEDULER_ENV",
    "DISTRIBUTED_HINT",
    "default_jobs",
    "run_ordered",
    "runs_here",
    "executor",
]

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
DISTRIBUTED_HINT = "--scheduler needs Dask distributed: pip install 'uidl-inspector[distributed]'"
T = TypeVar("T")
R = TypeVar("R")
_Logged = tuple[R, list[logging.LogRecord]]  # a task's result and the records it logged


def default_jobs() -> int:
    """The CPUs this process may run on (a container's limit, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _local_pool(jobs: int) -> ProcessPoolExecutor:
    """``jobs`` worker processes, started once and reused for every input.

    On Linux, while this process runs no other thread, workers are forked from it: they
    start at once with every module already imported (a forkserver would first import the
    pipeline again, a fifth of a second before any input is read). With another thread
    running (a progress bar, the threads of an earlier pool), a lock it holds could be
    copied held, so workers come from a forkserver: a clean, single-threaded process that
    imported the pipeline once. Elsewhere: spawn.
    """
    if sys.platform == "linux" and threading.active_count() == 1:
        context: multiprocessing.context.BaseContext = multiprocessing.get_context("fork")
        return ProcessPoolExecutor(jobs, mp_context=context, initializer=_forked)
    try:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["uidl_inspector.pipeline"])
    except ValueError:  # no forkserver on this platform
        context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(jobs, mp_context=context)


def _forked() -> None:
    """A forked worker starts without the parent's log handlers: what it logs reaches the
    run's log once, through the parent (:func:`_logged`), not also straight from here."""
    for name in (LOGGER, None):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if not isinstance(handler, logging.NullHandler):
                logger.removeHandler(handler)


@contextlib.contextmanager
def executor(jobs: int, scheduler: str | None) -> Iterator[Executor | None]:
    """A Dask cluster's executor when ``scheduler`` names one, else a pool of ``jobs``
    local processes, else (``jobs`` 0) None: run in this process."""
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise UidlInspectorError(DISTRIBUTED_HINT) from None
        try:
            # distributed ships no type hints: its calls are untyped
            client = Client(scheduler, timeout="30s", set_as_default=False)  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError) as exc:
            raise UidlInspectorError(
                f"cannot reach the Dask scheduler {scheduler}: {exc}"
            ) from None
        try:
            yield client.get_executor(pure=False)  # type: ignore[no-untyped-call]
        finally:
            client.close()  # type: ignore[no-untyped-call]
    elif jobs >= 1:
        with _local_pool(jobs) as pool:
            yield pool
    else:
        yield None


def runs_here(jobs: int, scheduler: str | None, count: int, isolate: bool = False) -> bool:
    """Whether :func:`run_ordered` runs its tasks in this process (one worker, no cluster,
    no need to isolate a native library, or a single input)."""
    if scheduler or os.environ.get(SCHEDULER_ENV):
        return False
    # a daemonic process (a harness's worker) may not start processes: it is the isolation
    return multiprocessing.current_process().daemon or (not isolate and (jobs <= 1 or count <= 1))


def run_ordered(
    task: Callable[[T], R],
    items: Sequence[T],
    crashed: Callable[[T, str], R],
    jobs: int = 1,
    scheduler: str | None = None,
    isolate: bool = False,
    done: Callable[[int, int], None] | None = None,
) -> Iterator[R]:
    """``task(item)`` for every item, yielded in the order of ``items``.

    ``task`` must be a picklable module-level function (a functools.partial of one) that
    returns its failures rather than raising them. When a worker process dies, the inputs
    it may have been running are run again one at a time, each in a fresh process, and the
    one that kills its worker again gets ``crashed(item, reason)``. ``done(n, total)`` is
    told as results arrive.
    """
    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or None
    total = len(items)
    here = runs_here(jobs, scheduler, total, isolate)
    with executor(0 if here else max(1, min(jobs, total)), scheduler) as pool:
        if pool is None:
            results: Iterator[R] = map(task, items)
        else:
            level = logging.getLogger(LOGGER).getEffectiveLevel()
            logged = functools.partial(_logged, task, level)
            futures = [_submit(pool, logged, item) for item in items]
            results = (
                _result(logged, item, future, crashed)
                for item, future in zip(items, futures, strict=True)
            )
        for n, result in enumerate(results, 1):
            yield result
            if done is not None:
                done(n, total)


def _submit(pool: Executor, task: Callable[[T], _Logged[R]], item: T) -> Future[_Logged[R]]:
    """``pool.submit(task, item)``; when a worker has already died and broken the pool
    (inputs are still being submitted), a future holding that break, so the input is
    rerun alone (:func:`_result`) instead of the break ending the run."""
    try:
        return pool.submit(task, item)
    except BrokenProcessPool as exc:
        broken: Future[_Logged[R]] = Future()
        broken.set_exception(exc)
        return broken


class _Capture(logging.Handler):
    """Keeps the records of one thread (a Dask worker may run tasks in threads)."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            record.msg, record.args = record.getMessage(), None  # picklable, whatever args
            if record.exc_info:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
                record.exc_info = None
            self.records.append(record)


def _logged(task: Callable[[T], R], level: int, item: T) -> _Logged[R]:
    """Run ``task`` in a worker, keeping what it logs for the run's log in the parent."""
    package = logging.getLogger(LOGGER)
    if package.getEffectiveLevel() > level:
        package.setLevel(level)
    capture = _Capture()
    package.addHandler(capture)
    try:
        return task(item), capture.records
    finally:
        package.removeHandler(capture)


def _replay(records: list[logging.LogRecord]) -> None:
    for record in records:
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)


def _result(
    task: Callable[[T], _Logged[R]],
    item: T,
    future: Future[_Logged[R]],
    crashed: Callable[[T, str], R],
) -> R:
    """The task's result (its log records replayed here), its rerun's alone in a fresh
    process when its worker died, or ``crashed(item, reason)`` when that one dies too (or
    a cluster lost it)."""
    try:
        value, records = future.result()
    except BrokenProcessPool:  # a worker died: this input, or another one sharing the pool
        with _local_pool(1) as alone:
            try:
                value, records = alone.submit(task, item).result()
            except BrokenProcessPool as exc:
                return crashed(item, f"its worker process crashed ({exc})")
    except Exception as exc:  # noqa: BLE001 - a cluster reports a lost worker as an error
        return crashed(item, f"worker failed: {type(exc).__name__}: {exc}")
    _replay(records)
    return value
