"""What the library tells the processing log, and how: the package logger's helpers.

Library modules log with ``logging.getLogger(__name__)`` (children of :data:`LOGGER`); only
the command line attaches handlers (cli/runlog.py), so a program using the library decides
for itself. The log is attached to a case file beside the report and must never hold more
of the evidence than the report does: log paths, sizes, hashes, counts, codes and offsets,
never UIDs, message contents or finding details drawn from the evidence.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["LOGGER", "step", "codes_summary", "log_findings"]

LOGGER = "uidl_inspector"
logging.getLogger(LOGGER).addHandler(logging.NullHandler())  # silent unless configured


@contextlib.contextmanager
def step(logger: logging.Logger, what: str) -> Iterator[None]:
    """Log how long ``what`` took, and whether it ended by an exception."""
    start = time.perf_counter()
    logger.debug("%s: started", what)
    try:
        yield
    except BaseException as exc:
        logger.info(
            "%s: stopped after %.3f s by %s", what, time.perf_counter() - start, type(exc).__name__
        )
        raise
    logger.info("%s: done in %.3f s", what, time.perf_counter() - start)


def codes_summary(codes: Iterable[str]) -> str:
    """``"bad_timestamp x2, truncated x1"`` (``"none"``): codes only, never details."""
    counts = Counter(codes)
    return ", ".join(f"{code} x{n}" for code, n in sorted(counts.items())) or "none"


def log_findings(logger: logging.Logger, where: str, findings: Iterable[Any]) -> None:
    """One debug line per finding (``-vv``): its code and offset, never its detail."""
    for finding in findings:
        logger.debug("%s: %s at offset %s", where, finding.code, finding.offset)
