"""Reading stored files without downloading them: a seekable, buffered file object over S3 range
requests, so zip central directories, safetensors headers and Parquet footers read only the bytes
they need. (Hashing a whole file streams with `storage.object_chunks`.)"""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings

from jobs.checks.streams import Seekable
from registry import storage

BUFFER = 1024 * 1024


class S3RawReader(Seekable):
    """Sequential reads share one open GET from the current offset; a seek elsewhere reopens the
    ranged GET lazily, so scanning a zip reads its directory and members, not the whole object."""

    def __init__(self, key: str, size: int) -> None:
        super().__init__(size)
        self.key = key
        self._body: Any = None
        self._body_pos = -1

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self.size - self.pos)
        if want <= 0:
            return 0
        if self._body is None or self._body_pos != self.pos:
            self._close_body()
            response = storage.s3().get_object(
                Bucket=settings.S3_BUCKET, Key=self.key, Range=f"bytes={self.pos}-{self.size - 1}"
            )
            self._body, self._body_pos = response["Body"], self.pos
        data = self._body.read(want)
        if not data:
            raise OSError(f"storage returned no bytes at offset {self.pos} of {self.size}")
        n = len(data)
        buffer[:n] = data
        self.pos += n
        self._body_pos += n
        if self.pos == self.size:
            self._close_body()  # read to the end: give the connection back now, not at close()
        return n

    def _close_body(self) -> None:
        if self._body is not None:
            self._body.close()
        self._body = None

    def close(self) -> None:
        self._close_body()
        super().close()


class StoredObject(io.BufferedIOBase):
    """A stored object as a binary file without a buffer of its own (huggingface_hub accepts only
    `io.BufferedIOBase` streams): each read is served by the ranged GET of an `S3RawReader`, so
    thousands of them open at once cost no memory until read."""

    def __init__(self, key: str, size: int) -> None:
        super().__init__()
        self._raw = S3RawReader(key, size)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def readinto(self, buffer: Any) -> int:
        view, filled = memoryview(buffer).cast("B"), 0
        while filled < len(view) and (n := self._raw.readinto(view[filled:])):
            filled += n
        return filled

    def read(self, size: int | None = -1) -> bytes:
        left = self._raw.size - self._raw.tell()
        buffer = bytearray(left if size is None or size < 0 else min(size, left))
        return bytes(buffer[: self.readinto(buffer)])

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_object(key: str, size: int, *, buffer: int = BUFFER) -> io.BufferedReader:
    return io.BufferedReader(S3RawReader(key, size), buffer_size=buffer)


def read_range(key: str, start: int, length: int) -> bytes:
    """Exactly `length` bytes from `start` (fewer only at the end of the object)."""
    if length <= 0:
        return b""
    response = storage.s3().get_object(Bucket=settings.S3_BUCKET, Key=key, Range=f"bytes={start}-{start + length - 1}")
    return response["Body"].read()
