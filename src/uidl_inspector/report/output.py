"""Writing a report: stdout for ``-``, otherwise an atomic write that never clobbers.

The text goes to a temporary file in the target's directory, is flushed to disk, then
takes the target's name in one step, so a reader never sees half a report. Without
``force`` an existing file is never replaced (the final step is a hard link, which fails
if the name exists, so there is no window between checking and writing). A report is
never written over one of the inputs, with or without ``force``.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from uidl_inspector.exceptions import UidlInspectorError

__all__ = ["OutputError", "STDOUT", "write_output"]

STDOUT = "-"
log = logging.getLogger(__name__)


class OutputError(UidlInspectorError):
    """The report could not be written where asked."""


def _same_file(a: Path, b: str | os.PathLike[str]) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def write_output(
    text: str | bytes | Iterable[bytes],
    target: str | os.PathLike[str],
    force: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> None:
    """Write ``text`` (or its pieces, written as they come) to ``target`` (``-`` is
    stdout). ``protect`` lists the inputs."""
    chunks = (
        [text.encode("utf-8") if isinstance(text, str) else text]
        if isinstance(text, (str, bytes))
        else text
    )
    if str(target) == STDOUT:
        stream = getattr(sys.stdout, "buffer", None)
        size = 0
        for data in chunks:
            if stream is not None:
                stream.write(data)
            else:  # a text-only stdout (a test runner's capture)
                sys.stdout.write(data.decode("utf-8"))
            size += len(data)
        sys.stdout.flush()
        log.info("report: %d bytes written to stdout", size)
        return
    path = Path(target)
    if any(_same_file(path, p) for p in protect if str(p) != STDOUT):
        raise OutputError(f"{path}: refusing to write the report over an input")
    if (path.exists() or path.is_symlink()) and not force:
        raise OutputError(f"{path} exists (use --force to replace it)")
    if path.is_dir():
        raise OutputError(f"{path} is a directory")
    directory = path.parent if str(path.parent) else Path(".")
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
            for data in chunks:
                handle.write(data)
                size += len(data)
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
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
