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
    """A stored object as a binary file (huggingface_hub accepts only `io.BufferedIOBase` streams)
    whose read-ahead buffer exists only while it is being read: thousands of them open at once cost
    nothing until read, and the buffer is dropped at the end of the object."""

    READ_AHEAD = 1024 * 1024

    def __init__(self, key: str, size: int) -> None:
        super().__init__()
        self._raw = S3RawReader(key, size)
        self._ahead, self._used = b"", 0  # bytes read beyond the position, and how many were served

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._raw.tell() - (len(self._ahead) - self._used)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset, whence = self.tell() + offset, io.SEEK_SET
        self._ahead, self._used = b"", 0
        return self._raw.seek(offset, whence)

    def read(self, size: int | None = -1) -> bytes:
        left = self._raw.size - self.tell()
        want = left if size is None or size < 0 else min(size, left)
        if self._used == len(self._ahead) and want:
            self._ahead, self._used = self._fetch(max(want, min(self.READ_AHEAD, left))), 0
        if len(self._ahead) - self._used >= want:
            data = self._ahead[self._used : self._used + want]
            self._used += want
            return data
        data = self._ahead[self._used :] + self._fetch(want - (len(self._ahead) - self._used))
        self._ahead, self._used = b"", 0
        return data

    def _fetch(self, n: int) -> bytes:
        chunk, filled = bytearray(n), 0
        while filled < n and (got := self._raw.readinto(memoryview(chunk)[filled:])):
            filled += got
        return bytes(chunk[:filled])

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._ahead, self._used = b"", 0
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
