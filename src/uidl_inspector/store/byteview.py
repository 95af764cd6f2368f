"""Random access to evidence that is not a loose file: a store inside a disk image.

The readers slice their input like bytes (``data[a:b]``): a loose file is mmapped, which
is the fast path. A store inside an image is only reachable through a read-only file-like
object (dfVFS's, wrapped by :class:`RawReader`), and may be tens of GB: :class:`ByteView`
gives it the same slicing interface, reading only the bytes each slice asks for, so
nothing is extracted to disk or loaded whole into memory.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

__all__ = ["ByteView", "RawReader", "stream_size", "hash_stream"]


class RawReader(io.RawIOBase):
    """A standard read-only binary stream over a dfVFS-style file object, or over bytes
    ``start`` to ``start + size`` of any seekable stream (a range of an image).

    With it the rest of the code (hashing, olefile, :class:`ByteView`) sees an ordinary
    Python file; writing is impossible by construction. Closing it closes ``source``.
    """

    def __init__(self, source: Any, start: int = 0, size: int | None = None) -> None:
        super().__init__()
        self._source = source
        self._start = start
        self._size = int(source.get_size()) - start if size is None else size
        self._offset = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._offset, os.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError(22, "negative seek position")
        self._offset = base + offset
        return self._offset

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), max(0, self._size - self._offset))
        if want == 0:
            return 0
        try:
            self._source.seek(self._start + self._offset, os.SEEK_SET)
            data = self._source.read(want) or b""
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - back ends (libyal, TSK) raise anything
            raise OSError(
                f"cannot read at offset {self._start + self._offset}: "
                f"{' '.join(str(exc).split())[:200]}"
            ) from exc
        buffer[: len(data)] = data
        self._offset += len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._source.close()
        super().close()


def hash_stream(
    handle: BinaryIO, chunk: int = 1 << 20, progress: Callable[[int], None] | None = None
) -> tuple[int, str, str]:
    """Size, SHA-256 and MD5 of a read-only stream from its start, in one pass;
    ``progress`` gets the bytes hashed so far (a disk image takes minutes).

    Each block read feeds SHA-256 on a helper thread while MD5 takes it here: hashlib lets
    go of the GIL on large blocks, so on two cores the pass costs about what MD5 alone
    does (the slower of the two, some 2.5x SHA-256 where the CPU has SHA extensions)."""
    sha256, md5, size = hashlib.sha256(), hashlib.md5(), 0
    handle.seek(0)
    with ThreadPoolExecutor(1, thread_name_prefix="sha256") as helper:
        while block := handle.read(chunk):
            other = helper.submit(sha256.update, block)
            md5.update(block)
            other.result()
            size += len(block)
            if progress is not None:
                progress(size)
    return size, sha256.hexdigest(), md5.hexdigest()


def stream_size(handle: BinaryIO) -> int:
    """The size of a seekable stream (its position is left at 0)."""
    size = handle.seek(0, os.SEEK_END)
    handle.seek(0)
    return size


class ByteView:
    """``view[a:b]`` reads bytes ``a`` to ``b`` of a seekable read-only stream.

    Slices are clamped to the stream like bytes slices are; reads loop until the slice is
    complete or the stream ends, so a short read from a damaged image gives fewer bytes
    (which the readers' bounds checks then report) rather than an exception.
    """

    def __init__(self, handle: BinaryIO, size: int | None = None) -> None:
        self._handle = handle
        self.size = stream_size(handle) if size is None else size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, key: slice) -> bytes:
        if not isinstance(key, slice):
            raise TypeError("ByteView supports slices only")
        start, stop, step = key.indices(self.size)
        if step != 1:
            raise ValueError("ByteView slices have a step of 1")
        self._handle.seek(start)
        parts = []
        left = stop - start
        while left > 0:
            chunk = self._handle.read(left)
            if not chunk:
                break
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)

    def close(self) -> None:
        self._handle.close()
