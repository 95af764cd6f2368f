"""The scan pipeline: every input named or found, read once, into one report.

``scan_evidence`` and ``hidden_evidence`` walk the inputs (files, directories, disk images),
open each one by its content (``store.detect``), hash it while it is read, apply Outlook's
identification rules (:mod:`uidl_inspector.locate`), wire in recovery of earlier histories
(:mod:`uidl_inspector.recover`) and the optional libpff cross-check, and merge the per-input
results (in worker processes with ``--jobs``) into a :class:`~report.model.Report`. A bad
input costs its own line in ``failed``, never the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from uidl_inspector import workers
from uidl_inspector.exceptions import NotAStoreError, UidlInspectorError, debugging, internal_error
from uidl_inspector.findings import Finding
from uidl_inspector.history import parse_blob
from uidl_inspector.locate import (
    LocateResult,
    hidden_inventory,
    hidden_row,
    locate,
    locate_message,
    store_key,
    with_store_key,
)
from uidl_inspector.logs import codes_summary, log_findings, step
from uidl_inspector.records import HistoryRecord
from uidl_inspector.report.json_report import (
    HISTORIES_END,
    entries_json,
    history_items,
    json_chunks_spooled,
)
from uidl_inspector.report.model import Report, Source, hash_file, of_total, source_path
from uidl_inspector.report.output import STDOUT, Spool, write_output
from uidl_inspector.schemas.mapi import PropId
from uidl_inspector.store.detect import EvidenceFile, open_evidence, walk_inputs
from uidl_inspector.store.image import (
    DistinctStore,
    ImageOptions,
    ImageScan,
    distinct_stores,
    segments,
)
from uidl_inspector.store.model import Store

if TYPE_CHECKING:  # the audit is imported where it runs: a scan does not need it
    from uidl_inspector.audit import Inventory, ServerListing

__all__ = [
    "ScanOutcome",
    "scan_evidence",
    "hidden_evidence",
    "histories_ahead",
    "HistoriesAhead",
    "audit_report",
]

AUDITED_KINDS = ("pst", "ost")  # the stores whose messages the audit lists

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------
# Scanning inputs: every file named or found, each with its Source record


@dataclass
class ScanOutcome:
    """A scan's report plus what the command needs to choose its exit code."""

    report: Report
    failed: list[str] = field(default_factory=list)  # one line per input not processed
    # a file a local worker wrote its histories' report text to (``_input_task``'s parts)
    histories_file: str | None = None


def _read_one(
    name: str,
    kind: str,
    opener: Callable[[], BinaryIO] | None = None,
    *,
    report: Report,
    progress: Callable[[Any], None] | None = None,
    deep: bool = False,
    verify: bool = False,
    recover: bool = True,
    inventory: bool = False,
) -> dict[str, Any]:
    """Locate every history of one input into ``report``; the Source's fields it learnt.

    ``opener`` gives a fresh read-only stream of the input when it is not a loose file
    (a file inside a disk image); ``name`` then only names it. ``inventory``: also list a
    PST/OST's messages for the audit while the store is open (``_take_inventory``).
    """
    source = source_path(name) if opener is None else name
    before = len(report.histories)
    with open_evidence(name, kind, opener() if opener else None) as evidence:
        findings: list[Finding] = []  # the store's and message's own are gathered by locate
        if evidence.store is not None:
            result = locate(evidence.store, source, deep=deep, progress=progress)
            log.info(
                "scan %s: %d folders and %d messages examined, %d Message Managers",
                source,
                result.folders,
                result.messages,
                len(result.candidates),
            )
            examined = report.extra.setdefault("examined", {"folders": 0, "hidden_messages": 0})
            examined["folders"] += result.folders
            examined["hidden_messages"] += result.hidden_messages
            findings += result.findings
            report.histories.extend(result.histories)
            report.extra.setdefault("message_managers", []).extend(
                {"source": source, **c.to_dict()} for c in result.candidates
            )
            if recover and getattr(evidence.store, "ndb", None) is not None:
                findings += _recover(evidence.store.ndb, source, report, progress)
            if verify:
                from uidl_inspector.crosscheck import cross_check  # libpff: only when asked

                rows, _ = hidden_inventory(evidence.store)
                with opener() if opener else contextlib.nullcontext(name) as stored:
                    checked = cross_check(rows, stored)
                report.extra.setdefault("cross_check", []).append({"source": source, **checked})
            if inventory and kind in AUDITED_KINDS:
                _take_inventory(evidence.store, source, report, before, progress)
        elif evidence.message is not None:
            result = LocateResult()
            locate_message(evidence.message, None, source, result)
            findings += result.findings
            report.histories.extend(
                with_store_key(
                    result.histories, store_key(evidence.message.props, PropId.STORE_RECORD_KEY)
                )
            )
            report.extra.setdefault("message_managers", []).extend(
                {"source": source, **c.to_dict()} for c in result.candidates
            )
        else:
            findings += evidence.findings  # hex_length_mismatch of a hex text input
            data = evidence.blob or b""
            report.histories.append(HistoryRecord(source, parse_blob(data), data))
        extra = dict(
            variant=evidence.variant, encryption=evidence.encryption, findings=tuple(findings)
        )
    found = report.histories[before:]
    log.info(
        "scan %s: %d histories (%d entries), anomalies: %s",
        source,
        len(found),
        sum(len(h.history.entries) for h in found),
        codes_summary(a.code for h in found for a in h.history.anomalies),
    )
    for record in found:
        log_findings(log, f"history in {source}", record.history.anomalies)
    return extra


def _recover(
    ndb: Any, source: str, report: Report, progress: Callable[[Any], None] | None = None
) -> list[Finding]:
    """Recovery adds to the report; a failure of it costs a finding, never the live results."""
    from uidl_inspector.recover import recover_store

    what = f"{source}: looking for earlier histories in free space"
    tell = None
    if progress is not None:
        progress(what)
        tell = lambda done, total: progress(f"{what}, {of_total(done, total)}")  # noqa: E731
    try:
        subjects = [
            m.get("subject") or ""
            for m in report.extra.get("message_managers", [])
            if m.get("source") == source
        ]
        items, notes = recover_store(ndb, source, report.histories, subjects, tell)
    except (UidlInspectorError, OSError, ValueError, IndexError) as exc:
        if debugging():
            raise
        return [Finding("recovery_failed", None, f"{type(exc).__name__}: {exc}")]
    report.extra.setdefault("recovered", []).extend(items)
    return notes


def _handle(
    item: EvidenceFile,
    outcome: ScanOutcome,
    read: Callable[..., dict[str, Any]],
    options: ImageOptions,
    kinds: tuple[str, ...] = ("pst", "ost", "msg"),
    progress: Callable[[Any], None] | None = None,
) -> None:
    """One input into ``outcome``: each distinct store of ``kinds`` in a disk image, else
    a loose file hashed while ``read(name, kind, opener, report=, progress=)`` reads it."""
    reader = functools.partial(read, report=outcome.report, progress=progress)
    if item.kind == "image":
        _scan_image(item, outcome, progress, options, reader, kinds)
    else:
        load = functools.partial(reader, item.path, item.kind or "unknown")
        outcome.report.sources.append(_hashed_while(item, load, progress))


def _hashed_while(
    item: EvidenceFile, read: Callable[[], dict[str, Any]], progress: Callable[[Any], None] | None
) -> Source:
    """The Source of a loose file, read by ``read`` (which gives the Source's other
    fields) while the file is hashed on a thread of its own: hashlib lets go of the GIL,
    so the hashes cost little more than the read they need anyway. When ``read`` fails,
    the hashing stops at its next MiB (the failed input's Source hashes it afresh)."""
    failed = threading.Event()

    def tell(status: Any) -> None:
        if failed.is_set():
            raise _Abandoned(item.path)
        if progress is not None:
            progress(status)

    with ThreadPoolExecutor(1, thread_name_prefix="hash") as hasher:
        digests = hasher.submit(hash_file, item.path, progress=tell)
        try:
            extra = read()
        except BaseException:
            failed.set()
            raise
        source = Source(str(item.path), item.kind or "unknown", *digests.result(), **extra)
    return source.logged()


class _Abandoned(Exception):
    """Ends the hashing of an input whose reading failed (never leaves the thread)."""


def _scan_image(
    item: EvidenceFile,
    outcome: ScanOutcome,
    progress: Callable[[Any], None] | None,
    options: ImageOptions,
    read: Callable[[str, str, Callable[[], BinaryIO]], dict[str, Any]],
    kinds: tuple[str, ...],
) -> None:
    """The image as a Source of kind ``image``, then each distinct store in it (of
    ``kinds``) read by ``read(location, kind, opener)`` (which gives the Source's fields it
    learnt) as its own Source with its ``container`` and the other places holding the same
    bytes."""
    scan = ImageScan(item.path, options, progress)
    done: list[tuple[DistinctStore, dict[str, Any]]] = []
    try:
        for store in distinct_stores(scan):
            if store.found.kind not in kinds:
                continue
            location = store.found.place.location
            try:
                if store.error is not None:
                    raise UidlInspectorError(store.error)
                extra = read(location, store.found.kind, store.found.open)
            except NotAStoreError:
                if store.found.kind == "msg":  # an OLE file that is not a message (.doc)
                    scan.examined["stores"] -= 1
                    continue
                raise
            except Exception as exc:  # noqa: BLE001 - one store's bug must not end the image
                error = _error_line(exc)
                outcome.failed.append(_located(location, error))
                extra = {"errors": (error,)}
            done.append((store, extra))
    except UidlInspectorError as exc:
        scan.errors.append(" ".join(str(exc).split()))
    stores = [  # also_in is complete once the walk has ended
        Source(
            store.found.place.location,
            store.found.kind,
            store.size,
            store.sha256,
            store.md5,
            container=store.found.place.to_dict(),
            also_in=tuple(p.to_dict() for p in store.also_in),
            **extra,
        )
        for store, extra in done
    ]
    outcome.failed.extend(scan.errors)
    files = [  # each file of the image: path, size and hashes (empty unless hashed)
        (path, *hash_file(path, progress=progress, what="hashing the image"))
        if options.hash_images
        else (path, os.path.getsize(path), "", "")
        for path in segments(item.path)
    ]
    _, size, sha256, md5 = files[0]
    image = Source(
        source_path(item.path),
        "image",
        size,
        sha256,
        md5,
        hashed=options.hash_images,
        segments=tuple({"path": p, "size": n, "sha256": h, "md5": m} for p, n, h, m in files)
        if len(files) > 1
        else (),
        image_format=scan.format,
        examined=dict(scan.examined),
        errors=tuple(scan.errors),
        findings=tuple(scan.findings),
    )
    outcome.report.sources.extend([image, *stores])


def _error_line(exc: Exception) -> str:
    """The one-line error of an input (or a store in an image) that could not be read. Any
    other exception is a bug, said so (raised when debugging) without ending the run."""
    if isinstance(exc, (UidlInspectorError, OSError)):
        return " ".join(str(exc).split()) or type(exc).__name__
    return internal_error(exc)


def _located(where: str, error: str) -> str:
    """``error``, prefixed with where it happened unless it already names it."""
    return error if where in error else f"{where}: {error}"


def scan_evidence(
    paths: list[str],
    deep: bool = False,
    verify: bool = False,
    progress: Callable[[Any], None] | None = None,
    recover: bool = True,
    images: ImageOptions | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    inventory: bool = False,
    json_entries: bool = False,
    arrived: Callable[[ScanOutcome], None] | None = None,
    parts: str | None = None,
) -> ScanOutcome:
    """Scan every input (files, directories walked recursively, disk images with every
    partition, snapshot and file system in them) into one report.

    ``recover``: also look for earlier histories in each store's unreferenced space
    (``recovered`` in the report). ``inventory``: also each PST/OST's messages for the
    audit, read while the scan has the store open (``inventories`` in the report's extra
    sections, for :func:`audit_report` to take out).

    An input that cannot be read or opened gets a Source with its one-line error and the
    scan goes on with the others; files of no known kind inside directories are skipped.
    ``progress`` gets message counts (int) and one-line status (str). ``jobs`` worker
    processes (or the Dask cluster at ``scheduler``) each take one input; ``--verify``
    always runs out of process, so that a libpff crash costs one input. ``json_entries``:
    the report is to be written as JSON (workers then encode their histories' entries).
    ``arrived(part)``: told each input's outcome in input order as it is ready, before it
    joins the report (a writer may write its histories ahead, then shed their text).
    ``parts``: a directory where local worker processes write their histories' JSON text
    (each outcome's ``histories_file``), which then does not travel back through a pipe.
    """
    report = Report()
    if recover:
        report.extra["recovered"] = []  # present (if empty) whenever recovery ran
    read = functools.partial(
        _read_one, deep=deep, verify=verify, recover=recover, inventory=inventory
    )
    handle = functools.partial(_handle, read=read, options=images or ImageOptions())
    return _each_input(
        paths,
        handle,
        report=report,
        jobs=jobs,
        scheduler=scheduler,
        progress=progress,
        isolate=verify,
        json_entries=json_entries,
        arrived=arrived,
        parts=parts,
    )


def _hidden_read(
    name: str,
    kind: str,
    opener: Callable[[], BinaryIO] | None = None,
    *,
    report: Report,
    progress: object = None,  # as _read_one's; a listing has nothing to tell
) -> dict[str, Any]:
    """The hidden messages of one store into ``report``; the Source's fields it learnt."""
    source = source_path(name) if opener is None else name
    with open_evidence(name, kind, opener() if opener else None) as evidence:
        if evidence.message is not None:  # an exported message: itself, whatever its class
            findings: list[Finding] = []
            rows = [hidden_row(evidence.message, None, findings)]
        else:
            rows, findings = hidden_inventory(evidence.store)
        extra = dict(
            variant=evidence.variant, encryption=evidence.encryption, findings=tuple(findings)
        )
    report.extra.setdefault("hidden", []).extend({"source": source, **row} for row in rows)
    return extra


def hidden_evidence(
    paths: list[str],
    images: ImageOptions | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    progress: Callable[[Any], None] | None = None,
) -> ScanOutcome:
    """The ``hidden`` command's report: every associated message of every PST/OST input,
    also of the PST/OST stores inside disk images, and each MSG file named as one row (an
    MSG found in a directory is skipped: most are ordinary mail, not exported hidden ones).

    The same envelope as a scan (``sources[]`` with hashes and every finding met while
    opening and walking), with ``hidden[]`` rows that each name their ``source``. A file
    named on the command line that is not a store is an input error; inside directories,
    other files are skipped.
    """
    options = images or ImageOptions()
    handle = functools.partial(_handle, read=_hidden_read, options=options, kinds=("pst", "ost"))
    outcome = _each_input(
        paths,
        handle,
        ("pst", "ost", "msg", "image"),
        "a PST/OST store, an MSG file or a disk image",
        "hidden",
        jobs=jobs,
        scheduler=scheduler,
        progress=progress,
        named_only=("msg",),
    )
    outcome.report.extra.setdefault("hidden", [])
    return outcome


def _each_input(
    paths: list[str],
    handle: Callable[..., None],
    kinds: tuple[str, ...] | None = None,
    what: str = "",
    step_name: str = "scan",
    report: Report | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    progress: Callable[[Any], None] | None = None,
    isolate: bool = False,
    named_only: tuple[str, ...] = (),
    json_entries: bool = False,
    arrived: Callable[[ScanOutcome], None] | None = None,
    parts: str | None = None,
) -> ScanOutcome:
    """Run ``handle(item, outcome, progress=...)`` on every input (of one of ``kinds``,
    when given: any other file named on the command line is ``not what``), each failure
    one line; files of no wanted kind found in directories are skipped, and so are those
    of ``named_only`` kinds, read only when named.

    Each input is handled into an outcome of its own (in a worker process when ``jobs`` >
    1, ``scheduler`` is set or ``isolate``), merged in input order: the report is the same
    whichever ran it. ``json_entries``: the report will be JSON, so a worker encodes its
    histories' entries (the bulk of the text) itself. ``arrived``, ``parts``: see
    :func:`scan_evidence` (``parts`` only serves local workers, not a cluster's).
    """
    outcome = ScanOutcome(report or Report())
    todo: list[tuple[EvidenceFile, str | None]] = []
    skipped = 0  # files of no known kind found while walking directories
    for item in walk_inputs(paths):
        wanted = item.kind != "unknown" if kinds is None else item.kind in kinds
        if item.from_directory and (
            item.kind == "segment" or item.kind in named_only or item.error is None and not wanted
        ):
            skipped += 1
            continue
        error = item.error
        if error is None and not wanted and kinds is not None:
            error = f"not {what} (its content is: {item.kind})"
        todo.append((item, error))
    here = workers.runs_here(jobs, scheduler, len(todo), isolate)
    task = functools.partial(
        _input_task,
        functools.partial(handle, progress=progress if here else None),
        step_name,
        encode=json_entries and not here,
        parts=None if here or scheduler or os.environ.get(workers.SCHEDULER_ENV) else parts,
    )
    tell = (
        None
        if progress is None or here
        else (lambda n, total: progress(f"{n} of {total} inputs done"))
    )
    for part in workers.run_ordered(task, todo, _failed, jobs, scheduler, isolate, tell):
        if arrived is not None:
            arrived(part)
        _merge(outcome, part)
    if skipped:
        log.info("scan: %d files of no known kind skipped in directories", skipped)
    outcome.report.run.finish()
    return outcome


def _input_task(
    handle: Callable[[EvidenceFile, ScanOutcome], None],
    step_name: str,
    todo: tuple[EvidenceFile, str | None],
    encode: bool = False,
    parts: str | None = None,
) -> ScanOutcome:
    """One input's outcome (its one-line error included): what a worker returns.

    ``encode``: also give each history its entries' JSON text, so that the parent, which
    writes the whole run's report alone, only copies it; with ``parts`` (a directory),
    write the histories' whole text (``history_items``) to a file there instead.
    """
    item, error = todo
    if error is None:
        try:
            outcome = ScanOutcome(Report())
            with step(log, f"{step_name} {item.path}"):
                handle(item, outcome)
            if encode:
                outcome.report.histories[:] = [
                    dataclasses.replace(h, entries_json=entries_json(h.history))
                    for h in outcome.report.histories
                ]
            if parts is not None and outcome.report.histories:
                outcome.histories_file = _write_part(outcome.report.histories, parts)
            return outcome
        except Exception as exc:  # noqa: BLE001 - one input's bug must not end the run
            error = _error_line(exc)
    return _failed(todo, error)


def _write_part(histories: list[HistoryRecord], parts: str) -> str:
    """The histories' report text (as items after others) in a new file under ``parts``;
    their entries' text is then dropped, not sent back."""
    fd, path = tempfile.mkstemp(dir=parts)
    with os.fdopen(fd, "wb") as part:
        part.writelines(history_items(histories, first=False))
    histories[:] = [dataclasses.replace(h, entries_json=None) for h in histories]
    return path


def _failed(todo: tuple[EvidenceFile, str | None], error: str) -> ScanOutcome:
    """A failed input's outcome: its one-line error and its Source, nothing half-read
    (also what a worker that crashed on it returns)."""
    item, kind = todo[0], todo[0].kind or "unknown"
    outcome = ScanOutcome(Report(), [_located(item.path, error)])
    try:
        source = Source.from_file(item.path, kind, errors=(error,))
    except OSError:
        source = Source(source_path(item.path), kind, 0, "", "", (error,))
    outcome.report.sources.append(source)
    return outcome


def _merge(outcome: ScanOutcome, part: ScanOutcome) -> None:
    """Append one input's outcome to the run's, as if it had been read into it."""
    report, offset = outcome.report, len(outcome.report.histories)
    report.sources.extend(part.report.sources)
    report.histories.extend(part.report.histories)
    for key, value in part.report.extra.items():
        if key == "recovered":  # an index into the histories, now the run's
            for item in value:
                if item.related_history is not None:
                    item.related_history += offset
        if isinstance(value, dict):
            counts = report.extra.setdefault(key, {})
            for name, count in value.items():
                counts[name] = counts.get(name, 0) + count
        else:
            report.extra.setdefault(key, []).extend(value)
    outcome.failed.extend(part.failed)


# ---------------------------------------------------------------------------------------
# A JSON report's histories written while the inputs are still read


class HistoriesAhead:
    """A JSON report's histories written as each input's arrive, in input order, into a
    spool beside the report (:class:`Spool`), while the other inputs are still read; the
    report is then its head and sources, the spool copied by the kernel, and the rest.
    Each history's text is shed once written, so this process holds little of it."""

    def __init__(self, spool: Spool) -> None:
        self.spool, self.first = spool, True

    def arrived(self, part: ScanOutcome) -> None:
        histories = part.report.histories
        if part.histories_file is not None:  # written by a worker, each item after a ","
            if self.first:
                self.spool.write(b"[")
            self.spool.append_file(part.histories_file, 1 if self.first else 0)
            self.first = False
        elif histories:
            for piece in history_items(histories, self.first):
                self.spool.write(piece)
            self.first = False
            histories[:] = [dataclasses.replace(h, entries_json=None) for h in histories]

    def write(self, report: Report, force: bool, inputs: list[str]) -> None:
        self.spool.write(b"[]" if self.first else HISTORIES_END)
        write_output(json_chunks_spooled(report, self.spool), self.spool.target, force, inputs)


@contextlib.contextmanager
def histories_ahead(output: str | None) -> Iterator[HistoriesAhead | None]:
    """Histories written ahead for a JSON report going to a file (``output``), else None."""
    if output is None or output == STDOUT:
        yield None
        return
    with contextlib.closing(Spool(output)) as spool:
        yield HistoriesAhead(spool)


# ---------------------------------------------------------------------------------------
# Auditing: the scan, then each store's inventory, then the audit across all of them


def audit_report(
    paths: list[str],
    listings: list[ServerListing],
    progress: Callable[..., None] | None = None,
    recover: bool = True,
    images: ImageOptions | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
) -> tuple[Report, list[str]]:
    """Scan the evidence, listing each store's messages while the scan has it open, and
    audit across all of them. Returns the report (with ``audit`` in its extra sections)
    and one line per input that could not be processed. Scanning runs one input per
    worker (``jobs``, or a Dask ``scheduler``); the audit itself runs here. ``progress`` is
    the scan's, also told ``count, total, "messages read"`` while a store is listed here."""
    from uidl_inspector.audit import run_audit

    with step(log, "scan"):
        outcome = scan_evidence(
            paths,
            progress=progress,
            recover=recover,
            images=images,
            jobs=jobs,
            scheduler=scheduler,
            inventory=True,
        )
    report = outcome.report
    failed = list(outcome.failed)
    taken_all = dict(report.extra.pop("inventories", []))
    inventories: list[Inventory] = []
    for source in report.sources:
        if source.kind not in AUDITED_KINDS or source.errors:
            continue
        taken = taken_all.get(source.path, "not listed")
        if isinstance(taken, str):
            failed.append(f"{source.path}: cannot list its messages: {taken}")
            continue
        inventories.append(taken)
        log.info(
            "inventory %s: %d messages, %d hidden messages, findings: %s",
            source.path,
            len(taken.messages),
            len(taken.managers),
            codes_summary(f.code for f in taken.findings),
        )
    with step(log, "audit"):
        report.extra["audit"] = audit = run_audit(
            report.histories,
            inventories,
            listings,
            report.sources,
            recovered=report.extra.get("recovered", []),
        )
    log.info(
        "audit: %d entries, %d messages, %d duplicate groups, findings: %s",
        audit.summary.entries,
        audit.summary.messages,
        audit.summary.duplicate_groups,
        codes_summary(f.code for f in audit.findings),
    )
    report.run.finish()
    return report, failed


def _take_inventory(
    store: Store, source: str, report: Report, before: int, progress: Callable[..., None] | None
) -> None:
    """The store's inventory (or why it could not be taken) into ``report``'s extra
    ``inventories``, as (source, Inventory | str). Its transport headers are read only
    when the scan found no history in it (``take_inventory``)."""
    reading = (
        None if progress is None else (lambda count, total: progress(count, total, "messages read"))
    )
    headers = not any(h.blob is not None for h in report.histories[before:])
    from uidl_inspector.audit import take_inventory

    taken: Inventory | str
    try:
        with step(log, f"inventory {source}"):
            taken = take_inventory(store, source, reading, headers)
    except (UidlInspectorError, OSError) as exc:
        taken = str(exc)
    report.extra.setdefault("inventories", []).append((source, taken))
