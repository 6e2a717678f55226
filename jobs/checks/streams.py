"""Small readers the checks stack on stored bytes: a sniffed head put back in front of its stream, a
window onto part of a seekable stream, and the failure that marks an outage rather than bad content."""

from __future__ import annotations

import io
from typing import IO


class StreamFailed(Exception):
    """Reading the stored bytes failed (storage, or the step's lease): an infrastructure error, never a
    verdict on the content. Everything here lets it through untouched."""


class _Prefixed(io.RawIOBase):
    """Bytes already read (a sniffed head), then the rest of the stream they came from."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        super().__init__()
        self.head, self.offset, self.stream = head, 0, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.offset < len(self.head):
            n = min(len(buffer), len(self.head) - self.offset)
            buffer[:n] = self.head[self.offset : self.offset + n]
            self.offset += n
            return n
        data = self.stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.stream.close()
        super().close()


class Seekable(io.RawIOBase):
    """A raw reader of `size` bytes with its own position; subclasses say how to read at it."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size, self.pos = size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos


class _Window(Seekable):
    """Bytes [offset, offset + size) of a seekable stream: a member of an uncompressed tar."""

    def __init__(self, stream: IO[bytes], offset: int, size: int) -> None:
        super().__init__(size)
        self.stream, self.start = stream, offset

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.size - self.pos)
        if n <= 0:
            return 0
        self.stream.seek(self.start + self.pos)
        data = self.stream.read(n)
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)

    def close(self) -> None:
        self.stream.close()
        super().close()


def prefixed(head: bytes, stream: IO[bytes]) -> IO[bytes]:
    return io.BufferedReader(_Prefixed(head, stream))


def window(stream: IO[bytes], offset: int, size: int) -> IO[bytes]:
    return io.BufferedReader(_Window(stream, offset, size))


def read_upto(stream: IO[bytes], n: int) -> bytes:
    """Up to `n` bytes: fewer only at the end of the stream."""
    chunks, got = [], 0
    while got < n and (chunk := stream.read(n - got)):
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
