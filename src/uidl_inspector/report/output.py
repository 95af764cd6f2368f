"""Writing a report: stdout for ``-``, otherwise an atomic write that never clobbers.

The text goes to a temporary file in the target's directory, is flushed to disk, then
takes the target's name in one step, so a reader never sees half a report. Without
``force`` an existing file is never replaced (the final step is a hard link, which fails
if the name exists, so there is no window between checking and writing). A report is
never written over one of the inputs, with or without ``force``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from uidl_inspector.exceptions import UidlInspectorError

__all__ = ["OutputError", "STDOUT", "Spool", "check_target", "write_output"]

STDOUT = "-"
log = logging.getLogger(__name__)


class OutputError(UidlInspectorError):
    """The report could not be written where asked."""


def _same_file(a: Path, b: str | os.PathLike[str]) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


class Spool:
    """Report text written ahead, while the run still works, into an unnamed temporary
    file in the report's directory; :func:`write_output`, given it among its pieces,
    copies it into the report inside the kernel (``copy_file_range``), so the bulk of a
    report is written while the inputs are read and never passes through this process
    again. The file has no name from the start. ``parts``: a private directory beside
    it where local worker processes write their inputs' text (:meth:`append_file`),
    removed with its content at :meth:`close`."""

    def __init__(self, target: str | os.PathLike[str]) -> None:
        directory = Path(target).parent
        try:
            fd, temp = tempfile.mkstemp(prefix=".spool.", dir=directory)
            self.parts = tempfile.mkdtemp(prefix=".parts.", dir=directory)
        except OSError as exc:
            raise OutputError(f"cannot write in {directory}: {exc.strerror or exc}") from None
        os.unlink(temp)
        self.target = target
        self.file = os.fdopen(fd, "w+b")
        self.size = 0

    def write(self, data: bytes) -> None:
        try:
            self.file.write(data)
        except OSError as exc:
            raise OutputError(f"cannot write the report: {exc.strerror or exc}") from None
        self.size += len(data)

    def append_file(self, path: str, start: int = 0) -> None:
        """Append the text of the file ``path`` from ``start`` (by the kernel where it
        can), then remove the file."""
        try:
            with open(path, "rb") as part:
                size = os.fstat(part.fileno()).st_size - start
                _copy(part, start, self.file, size)
            os.unlink(path)
        except OSError as exc:
            raise OutputError(f"cannot write the report: {exc.strerror or exc}") from None
        self.size += size

    def close(self) -> None:
        self.file.close()
        shutil.rmtree(self.parts, ignore_errors=True)

    def blocks(self) -> Iterator[bytes]:
        """The spooled text, a MiB at a time."""
        self.file.flush()
        self.file.seek(0)
        while block := self.file.read(1 << 20):
            yield block


def _copy(source: BinaryIO, start: int, out: BinaryIO, size: int) -> None:
    """Append ``size`` bytes of ``source`` from ``start`` to ``out``: by the kernel
    (``copy_file_range``) where it can, else through this process a MiB at a time."""
    source.flush()
    out.flush()
    src, dst, done = source.fileno(), out.fileno(), 0
    try:
        end = out.tell()
        while done < size:
            copied = os.copy_file_range(src, dst, size - done, start + done, end + done)
            if not copied:
                break
            done += copied
        out.seek(end + done)
    except (OSError, AttributeError):  # a pipe, another file system, not Linux
        pass
    source.seek(start + done)
    while done < size and (block := source.read(min(1 << 20, size - done))):
        out.write(block)
        done += len(block)


def check_target(
    target: str | os.PathLike[str],
    force: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """The report's path, or OutputError when it may not be written there (an input, an
    existing file without ``force``, a directory). Commands call it before their work too,
    so that a refused output costs no run."""
    path = Path(target)
    if any(_same_file(path, p) for p in protect if str(p) != STDOUT):
        raise OutputError(f"{path}: refusing to write the report over an input")
    if (path.exists() or path.is_symlink()) and not force:
        raise OutputError(f"{path} exists (use --force to replace it)")
    if path.is_dir():
        raise OutputError(f"{path} is a directory")
    return path


def write_output(
    text: str | bytes | Iterable[bytes | Spool],
    target: str | os.PathLike[str],
    force: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> None:
    """Write ``text`` (or its pieces, written as they come, a :class:`Spool` copied) to
    ``target`` (``-`` is stdout). ``protect`` lists the inputs."""
    if isinstance(text, str):
        text = text.encode("utf-8")
    chunks: Iterable[bytes | Spool] = [text] if isinstance(text, bytes) else text
    if str(target) == STDOUT:
        stream = getattr(sys.stdout, "buffer", None)
        size = 0
        for piece in chunks:
            for data in piece.blocks() if isinstance(piece, Spool) else (piece,):
                if stream is not None:
                    stream.write(data)
                else:  # a text-only stdout (a test runner's capture)
                    sys.stdout.write(data.decode("utf-8"))
                size += len(data)
        sys.stdout.flush()
        log.info("report: %d bytes written to stdout", size)
        return
    path = check_target(target, force, protect)
    directory = path.parent
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"cannot write in {directory}: {exc.strerror or exc}") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        size = 0
        with os.fdopen(fd, "wb") as handle:
            for piece in chunks:
                if isinstance(piece, Spool):
                    _copy(piece.file, 0, handle, piece.size)
                    size += piece.size
                else:
                    handle.write(piece)
                    size += len(piece)
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(temp, path)
        else:
            _link_new(temp, path)
        _fsync_dir(directory)
        log.info("report: %d bytes written to %s", size, path)
    except FileExistsError:
        raise OutputError(f"{path} exists (use --force to replace it)") from None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if os.path.lexists(temp):
            os.unlink(temp)


def _link_new(temp: str, path: Path) -> None:
    """Give ``temp`` the name ``path`` only if no file has that name."""
    try:
        os.link(temp, path)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then rename
        if path.exists() or path.is_symlink():
            raise FileExistsError(str(path)) from None
        os.replace(temp, path)


def _fsync_dir(directory: Path) -> None:
    """Make the new name durable; a file system that cannot is left as it is."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
