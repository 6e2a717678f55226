"""One stream through picklescan, within limits and without executing anything.

picklescan (1.0.5) reads the stream with `pickletools.genops`, keeps every opcode in memory and treats
any exception raised while reading as a parse error. So the stream it gets is a `Guard`: it stops the
scan at a deadline, past a number of opcodes or bytes, and once stopped every later read raises again,
so a stop can never pass for "not a pickle". Storage failures and archive limits are sticky the same way
in the streams below (see archives.StreamFailed), and are re-raised here rather than judged.
"""

from __future__ import annotations

import io
import pickletools
import time
from dataclasses import dataclass, field
from typing import IO, cast

from django.conf import settings
from picklescan import scanner

from jobs.checks.archives import ArchiveStopped
from jobs.checks.streams import StreamFailed

_SMALL_READ = 64 * 1024


@dataclass(frozen=True)
class Limits:
    timeout: float
    max_bytes: int
    max_ops: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            timeout=settings.SAFETY_SCAN_TIMEOUT_SECONDS,
            max_bytes=settings.SAFETY_PICKLE_MAX_BYTES,
            max_ops=settings.SAFETY_PICKLE_MAX_OPS,
        )


class _Stopped(Exception):
    pass


class Guard:
    """The stream a scanner reads: bytes [0, end) of `stream`, within `limits`.

    Supports exactly what pickletools and picklescan use: read, readline, tell, and a seek back over
    the last few bytes handed out.
    """

    def __init__(self, stream: IO[bytes], *, size: int, limits: Limits, end: int | None = None) -> None:
        self.stream, self.limits = stream, limits
        self.end = size if end is None else min(end, size)
        self.deadline = time.monotonic() + limits.timeout
        self.pos, self.ops = 0, 0
        self.back = b""  # stepped back over: handed out again first
        self.last = b""  # the last bytes handed out, which a seek may step back over
        self.stopped = ""
        self.timed_out = False
        self.exhausted = False  # skipped to the end: nothing more to hand out, wherever a seek lands

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence != io.SEEK_CUR or not -(8 if self.exhausted else len(self.last)) <= offset <= 0:
            raise io.UnsupportedOperation("a scan stream only steps back over the last bytes it handed out")
        if offset and not self.exhausted:
            self.back, self.last = self.last[offset:] + self.back, self.last[:offset]
        self.pos += offset
        return self.pos

    def read(self, n: int | None = -1) -> bytes:
        self._gate()
        if self.exhausted:
            return b""
        remaining = self.end - self.pos
        if n is None or n < 0:
            n = remaining
        if n == 1:
            self.ops += 1
            if self.ops > self.limits.max_ops:
                self._stop(f"more than {self.limits.max_ops} pickle opcodes (SAFETY_PICKLE_MAX_OPS)")
        if n > remaining and n > _SMALL_READ:
            # A length field pointing past the end: reading the rest would only prove the stream short,
            # so skip to the end without holding it (the parser fails here just the same).
            self.pos, self.back, self.exhausted = self.end, b"", True
            return b""
        n = min(n, remaining)
        if self.pos + n > self.limits.max_bytes:
            self._stop(f"the pickle needs more than {self.limits.max_bytes} bytes in memory (SAFETY_PICKLE_MAX_BYTES)")
        return self._took(self._take(n))

    def readline(self, limit: int | None = -1) -> bytes:
        self._gate()
        if self.exhausted:
            return b""
        out = bytearray()
        while self.back and not out.endswith(b"\n"):
            cut = self.back.find(b"\n") + 1 or len(self.back)
            out += self.back[:cut]
            self.back = self.back[cut:]
        room = min(self.end, self.limits.max_bytes + 1) - self.pos - len(out)
        if not out.endswith(b"\n") and room > 0:
            out += self.stream.readline(room)
        if self.pos + len(out) > self.limits.max_bytes:
            self._stop(f"a pickle line longer than {self.limits.max_bytes} bytes (SAFETY_PICKLE_MAX_BYTES)")
        return self._took(bytes(out))

    def _take(self, n: int) -> bytes:
        data, self.back = self.back[:n], self.back[n:]
        while len(data) < n and (chunk := self.stream.read(n - len(data))):
            data += chunk
        return data

    def _took(self, data: bytes) -> bytes:
        self.pos += len(data)
        self.last = (self.last + data)[-8:]
        return data

    def _gate(self) -> None:
        if self.stopped:
            raise _Stopped(self.stopped)
        if time.monotonic() > self.deadline:
            self.timed_out = True
            self._stop(f"scan timed out after {self.limits.timeout:g} s (SAFETY_SCAN_TIMEOUT_SECONDS)")

    def _stop(self, why: str) -> None:
        self.stopped = why
        raise _Stopped(why)


Global = tuple[str, str]  # (module, name)


@dataclass
class Scan:
    """What picklescan saw in one stream, sorted by its verdict on each import."""

    dangerous: list[Global] = field(default_factory=list)
    suspicious: list[Global] = field(default_factory=list)
    unnamed: list[Global] = field(default_factory=list)  # an import it could not name: computed operands
    innocuous: list[Global] = field(default_factory=list)
    broken: bool = False  # opcodes stopped parsing after some imports: payload then garbage
    crashed: str = ""  # the scanner raised
    stopped: str = ""  # a limit ended the scan: the rest is void
    timed_out: bool = False

    @property
    def imports(self) -> list[Global]:
        return sorted({*self.dangerous, *self.suspicious, *self.unnamed, *self.innocuous})


def scan(stream: IO[bytes], *, size: int, label: str, limits: Limits, end: int | None = None) -> Scan:
    """Scan bytes [0, end) of `stream` (all of it by default) as a sequence of pickles."""
    guard = Guard(stream, size=size, limits=limits, end=end)
    try:
        result = scanner.scan_pickle_bytes(guard, label, strict=False)
    except (StreamFailed, ArchiveStopped):
        raise
    except _Stopped:
        return Scan(stopped=guard.stopped, timed_out=guard.timed_out)
    except Exception as exc:  # a scanner bug or an input it cannot handle: never a pass
        if guard.stopped:
            return Scan(stopped=guard.stopped, timed_out=guard.timed_out)
        return Scan(crashed=f"{type(exc).__name__}: {exc}"[:300])
    if guard.stopped:  # swallowed by the scanner, then not read again
        return Scan(stopped=guard.stopped, timed_out=guard.timed_out)
    out = Scan(broken=result.scan_err)
    for g in result.globals:
        pair = (g.module, g.name)
        if g.module == "unknown" or g.name == "unknown":  # picklescan's placeholder for an unresolved operand
            out.unnamed.append(pair)
        elif g.safety == scanner.SafetyLevel.Dangerous:
            out.dangerous.append(pair)
        elif g.safety == scanner.SafetyLevel.Suspicious:
            out.suspicious.append(pair)
        else:
            out.innocuous.append(pair)
    return out


def pickles_end(stream: IO[bytes], count: int, *, size: int, limits: Limits) -> tuple[int | None, str]:
    """Where the first `count` pickles of the stream end (None if they don't all parse), and why a
    limit stopped the walk ("" if none did). `count=1` asks whether the first pickle, the one
    `pickle.load` runs, parses to its STOP."""
    guard = Guard(stream, size=size, limits=limits)
    try:
        for _ in range(count):
            for _op in pickletools.genops(cast(IO[bytes], guard)):  # duck-typed: read, readline, tell
                pass
    except (StreamFailed, ArchiveStopped):
        raise
    except _Stopped:
        return None, guard.stopped
    except Exception:  # does not parse
        return None, ""
    return guard.tell(), ""
