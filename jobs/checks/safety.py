"""Safety: nothing in a version runs code when loaded, and no archive escapes or explodes on extraction.

Every file, and every member of an archive, is identified by its bytes (never its name) and then:

- a pickle (PROTO opcode first) must scan clean with picklescan: dangerous or unknown imports, a stream
  that breaks off after its imports (nullifAI), a scanner crash, a limit or a timeout all fail it;
- anything else that could still be unpickled, because `pickle.load` reads from byte 0 whatever the
  name (text holds protocol-0 pickles; a tar header starts with a member name), is scanned too, and fails
  on importable dangerous names, or on other imports when the stream really is a pickle;
- a valid safetensors file needs no scan; a NumPy object array is a pickle and fails; 7z fails;
- zip and tar (plain or compressed) are judged by `archives` and their members inspected the same way,
  nested archives one level deep.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import IO, Any

import numpy as np

from jobs.checks import pickle_scan
from jobs.checks.archives import BUFFER_BYTES, ArchiveStopped, Member, Walk
from jobs.checks.archives import Limits as ArchiveLimits
from jobs.checks.base import CheckContext, FileRef
from jobs.checks.pickle_scan import Scan
from jobs.checks.sniff import ARCHIVES, COMPRESSED, HEAD_BYTES, TORCH_LEGACY_MAGIC, Format, sniff
from jobs.checks.streams import StreamFailed, prefixed, read_upto

MAX_REASONS_PER_FILE = 50
MAX_FILES_IN_DETAILS = 200
_PROGRESS_EVERY = 8 * 1024 * 1024
_NOT_SELF_SCANNED = {*COMPRESSED, Format.ZIP, Format.SEVEN_Z, Format.NPY, Format.EMPTY}
_NAME = re.compile(r"[^\W\d]\w*(\.[^\W\d]\w*)*\Z")


def check(ctx: CheckContext) -> None:
    total = sum(f.size for f in ctx.files)
    done, failed, formats = 0, 0, Counter[str]()
    files: dict[str, dict[str, Any]] = {}
    for file in ctx.files:
        inspector = _Inspector(file, partial(_progress, ctx, done, total))
        inspector.run()
        reasons = inspector.problems
        if len(reasons) > MAX_REASONS_PER_FILE:
            more = len(reasons) - MAX_REASONS_PER_FILE + 1
            reasons = [*reasons[: MAX_REASONS_PER_FILE - 1], ("safety_more", f"… and {more} more problems")]
        for code, message in reasons:
            ctx.fail(code, message, path=file.path)
        failed += bool(reasons)
        formats[inspector.record.get("format", "")] += 1
        if len(files) < MAX_FILES_IN_DETAILS:
            files[file.path] = inspector.record
        done += file.size
        ctx.progress(done, total)
    ctx.details = {"files": files, "formats": dict(formats), "unlisted_files": max(0, len(ctx.files) - len(files))}
    kinds = ", ".join(f"{n} {fmt}" for fmt, n in formats.most_common())
    if ctx.passed:
        ctx.summary = f"{len(ctx.files)} files ({kinds}): nothing runs code on load, archives are clean"[:299]
    else:
        ctx.summary = f"{len(ctx.reasons)} problems in {failed} of {len(ctx.files)} files: {ctx.reasons[0]}"[:299]


def _progress(ctx: CheckContext, base: int, total: int, pos: int) -> None:
    ctx.progress(base + pos, total)


class _Storage(io.RawIOBase):
    """A stored file's bytes. A failure to read them (storage, or a lost lease raised by the progress
    callback) is sticky and surfaces as StreamFailed, so a parser that swallows exceptions cannot turn
    an outage into a verdict."""

    def __init__(self, file: FileRef, failures: list[BaseException], on_read: Callable[[int], None]) -> None:
        super().__init__()
        self.stream, self.failures, self.on_read = file.open(), failures, on_read

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._io(self.stream.tell)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._io(lambda: self.stream.seek(offset, whence))

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = self._io(lambda: self.stream.readinto(buffer))
        self._io(lambda: self.on_read(self.stream.tell()))
        return n

    def _io(self, call: Callable[[], int | None]) -> Any:
        if self.failures:
            raise StreamFailed("reading stored bytes failed earlier") from self.failures[0]
        try:
            return call()
        except Exception as exc:
            self.failures.append(exc)
            raise StreamFailed(f"reading stored bytes failed: {exc}") from exc

    def close(self) -> None:
        self.stream.close()
        super().close()


class _Passes:
    """Streams over one source, one per pass: the first continues the stream its head was read from;
    later ones reopen the source, or are None when it can be read only once."""

    def __init__(self, source: Member) -> None:
        self.source = source
        stream = source.open()
        self.opened = [stream]
        self.head = read_upto(stream, HEAD_BYTES)
        self.first: IO[bytes] | None = prefixed(self.head, stream)

    def next(self) -> IO[bytes] | None:
        if self.first is not None:
            stream, self.first = self.first, None
        elif self.source.reopenable:
            stream = self.source.open()
        else:
            return None
        self.opened.append(stream)
        return stream

    def close(self) -> None:
        for stream in self.opened:
            stream.close()


class _Inspector:
    """One stored file and whatever it contains: problems as (code, message), evidence in `record`."""

    def __init__(self, file: FileRef, progress: Callable[[int], None]) -> None:
        self.file, self.progress = file, progress
        self.problems: list[tuple[str, str]] = []
        self.record: dict[str, Any] = {}
        self.failures: list[BaseException] = []
        self.reported = 0
        self.limits = pickle_scan.Limits.from_settings()
        self.archive_limits = ArchiveLimits.from_settings()

    def run(self) -> None:
        source = Member("", self.file.size, self._open, seekable=True)
        with contextlib.suppress(StreamFailed):  # re-raised below as the failure that caused it
            self.inspect(source, 0, self.record)
        if self.failures:  # an outage, whatever swallowed it on the way: retried, never judged
            raise self.failures[0]
        self.record["verdict"] = "failed" if self.problems else "passed"

    def _open(self) -> IO[bytes]:
        return io.BufferedReader(_Storage(self.file, self.failures, self._read_to), buffer_size=256 * 1024)

    def _read_to(self, pos: int) -> None:
        if pos - self.reported >= _PROGRESS_EVERY:
            self.reported = pos
            self.progress(min(pos, self.file.size))

    def fail(self, code: str, label: str, message: str) -> None:
        self.problems.append((code, f"member {label!r}: {message}" if label else message))

    def inspect(self, source: Member, depth: int, record: dict[str, Any]) -> None:
        label = source.name
        try:
            passes = _Passes(source)
        except (StreamFailed, ArchiveStopped):
            raise
        except Exception as exc:  # a member whose bytes can't be read (corrupt compressed data)
            self.fail("archive_corrupt", label, f"cannot be read: {type(exc).__name__}: {exc}")
            return
        try:
            fmt = sniff(passes.head, source.size)
            record["format"] = str(fmt)
            if fmt == Format.SAFETENSORS and _safetensors_complete(passes, source.size):
                record["scan"] = "safetensors: holds no code"
                return
            if fmt == Format.SEVEN_Z:
                self.fail("archive_7z", label, "7z archives cannot be scanned without extracting them; use zip or tar")
            elif fmt == Format.NPY:
                self._npy(passes.head, label, record)
            if fmt == Format.TAR and not source.reopenable:
                self.fail(
                    "scan_incomplete",
                    label,
                    f"a tar over {BUFFER_BYTES} bytes in a compressed tar can be read only once: its members "
                    "were inspected, but not the tar itself as a pickle",
                )
            elif fmt not in _NOT_SELF_SCANNED:
                self._pickle(source, fmt, passes, record)
            if fmt in ARCHIVES:
                self._archive(source, fmt, passes, depth, record)
        finally:
            passes.close()

    def _pickle(self, source: Member, fmt: Format, passes: _Passes, record: dict[str, Any]) -> None:
        label, size, strict = source.name, source.size, fmt == Format.PICKLE
        stream, end = passes.next(), None
        if stream is not None and strict and passes.head.startswith(TORCH_LEGACY_MAGIC):
            # A legacy torch.save file: five pickles, then raw tensor bytes that torch reads unpickled.
            end, _ = pickle_scan.pickles_end(stream, 5, size=size, limits=self.limits)
            stream = passes.next()
        if stream is None:
            self.fail(
                "scan_incomplete",
                label,
                f"a {fmt} over {BUFFER_BYTES} bytes in a compressed tar can be read only once: it was not scanned "
                "as a pickle",
            )
            return
        where = f"{self.file.path} > {label}" if label else self.file.path
        scan = pickle_scan.scan(stream, size=size, label=where, limits=self.limits, end=end)
        record["scan"] = self._judge(scan, fmt, label, passes, size)
        if end is not None:
            record["scan"] = f"legacy PyTorch file: {record['scan']}"
        if scan.imports:
            record["imports"] = [f"{m}.{n}"[:100] for m, n in scan.imports[:20]]

    def _judge(self, scan: Scan, fmt: Format, label: str, passes: _Passes, size: int) -> str:
        """Reasons for one scan; returns the evidence note."""
        strict = fmt == Format.PICKLE
        if scan.stopped:
            code = "scan_timeout" if scan.timed_out else "scan_limit"
            self.fail(code, label, f"pickle scan stopped ({scan.stopped}); a file that cannot be scanned is refused")
            return "not fully scanned"
        dangerous, suspicious, unnamed, crashed = scan.dangerous, scan.suspicious, scan.unnamed, scan.crashed
        if not strict:
            dangerous = [g for g in dangerous if _importable(g)]
            suspicious = [g for g in suspicious if _importable(g)]
            # Text and binary data parse as a few opcodes by chance; these count only when the stream
            # really is a pickle: when its first pickle (what pickle.load runs) parses to the end.
            if crashed or unnamed or (suspicious and fmt == Format.TEXT):
                is_pickle = self._is_pickle(passes, label, size)
                if is_pickle is None:
                    return "not fully scanned"
                if not is_pickle:
                    crashed, unnamed = "", []
                    suspicious = suspicious if fmt != Format.TEXT else []
        what = "pickle" if strict else f"{fmt} content parses as a pickle that"
        if dangerous:
            self.fail("pickle_dangerous", label, f"{what} imports dangerous globals {_names(dangerous)}")
        if unnamed:
            self.fail("pickle_dangerous", label, f"{what} builds imports the scanner cannot name (an obfuscation)")
        if suspicious:
            self.fail(
                "pickle_suspicious",
                label,
                f"{what} imports globals not known to be safe: {_names(suspicious)} "
                "(a suspicious verdict is a failure, never a pass)",
            )
        if crashed:
            self.fail(
                "pickle_scan_error", label, f"the pickle scanner failed ({crashed}); unscanned pickles are refused"
            )
        if strict and scan.broken:
            before = f"; before the break it imports {_names(scan.imports)}" if scan.imports else ""
            self.fail(
                "pickle_broken",
                label,
                "pickle does not parse to the end: loading runs everything before the break, which is how a broken "
                f"pickle hides a payload{before}",
            )
        if not strict:
            return "no pickle imports"
        if dangerous or unnamed or suspicious or crashed or scan.broken:
            return "unsafe pickle"
        imports = f"imports only {_names(scan.innocuous)}" if scan.innocuous else "no imports"
        return f"pickle (scanned clean, {imports}); prefer safetensors"

    def _is_pickle(self, passes: _Passes, label: str, size: int) -> bool | None:
        """Whether the first pickle parses to its STOP; None (and a reason) when that can't be told."""
        stream = passes.next()
        if stream is None:
            self.fail("scan_incomplete", label, "may be a pickle, but can be read only once to confirm")
            return None
        end, why = pickle_scan.pickles_end(stream, 1, size=size, limits=self.limits)
        if why:
            self.fail("scan_limit", label, f"pickle scan stopped ({why}); a file that cannot be scanned is refused")
            return None
        return end is not None

    def _npy(self, head: bytes, label: str, record: dict[str, Any]) -> None:
        stream = io.BytesIO(head)
        try:
            version = np.lib.format.read_magic(stream)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            # numpy.load(allow_pickle=True) ignores its header size limit, so neither may we.
            _, _, dtype = read(stream, max_header_size=len(head))
        except Exception as exc:
            # Undecidable, not harmless: numpy may still read what we cannot, then unpickle.
            self.fail("npy_unreadable", label, f"the .npy header cannot be read ({type(exc).__name__}: {exc})"[:300])
            record["scan"] = "npy header unreadable"
            return
        record["scan"] = f"npy {dtype}"[:100]
        if dtype.hasobject:
            self.fail(
                "npy_object",
                label,
                f"NumPy array of object dtype {str(dtype)[:80]}: its data is a pickle, "
                "run by numpy.load(allow_pickle=True)",
            )

    def _archive(self, source: Member, fmt: Format, passes: _Passes, depth: int, record: dict[str, Any]) -> None:
        label = source.name
        if depth >= 2:
            self.fail("archive_nested", label, "an archive nested more than one level deep is not inspected")
            return
        open_, reopenable = source.open, source.reopenable
        if fmt == Format.ZIP and not source.seekable:
            if source.size > BUFFER_BYTES:
                self.fail("archive_nested", label, f"a nested zip over {BUFFER_BYTES} bytes cannot be read in place")
                return
            stream = passes.next()
            if stream is None:
                self.fail("scan_incomplete", label, "a nested zip that can be read only once was read already")
                return
            data = read_upto(stream, source.size)
            open_, reopenable = (lambda: io.BytesIO(data)), True
        elif not reopenable:
            open_ = lambda: passes.next() or io.BytesIO()  # noqa: E731
        walk = Walk(fmt, open_, name=label or self.file.name, reopenable=reopenable, limits=self.archive_limits)
        formats, pickles = Counter[str](), dict[str, str]()
        for member in walk:
            child: dict[str, Any] = {}
            name = f"{label} > {member.name}" if label else member.name
            try:
                self.inspect(
                    Member(name, member.size, member.open, member.reopenable, member.seekable), depth + 1, child
                )
            except ArchiveStopped as exc:
                if exc.walk is not walk:
                    raise
            formats[child.get("format", "unread")] += 1
            if child.get("format") == Format.PICKLE and len(pickles) < 20:
                pickles[member.name[:200]] = child.get("scan", "")
        for problem in walk.problems:
            where = f"{label} > {problem.member}" if label and problem.member else problem.member or label
            self.fail(problem.code, where, problem.message)
        record["members"] = {"regular": sum(formats.values()), "entries": walk.entries, "formats": dict(formats)}
        if pickles:
            record["pickles"] = pickles


def _safetensors_complete(passes: _Passes, size: int) -> bool:
    """Whether the header is a JSON object whose tensors tile the data exactly (the format check judges
    the rest); such a file holds no code."""
    n = int.from_bytes(passes.head[:8], "little")
    header = passes.head[: 8 + n]
    if len(header) < 8 + n:
        stream = passes.next()
        if stream is None:
            return False
        header = read_upto(stream, 8 + n)
    try:
        obj = json.loads(header[8:])
    except (ValueError, RecursionError):
        return False
    if not isinstance(obj, dict):
        return False
    spans = []
    for name, entry in obj.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)):
            return False
        spans.append((offsets[0], offsets[1]))
    covered = 0
    for begin, end in sorted(spans):
        if begin != covered or end < begin:
            return False
        covered = end
    return covered == size - 8 - n


def _importable(name: tuple[str, str]) -> bool:
    """A name an unpickler could import; bytes that parse as opcodes by chance name nothing like it."""
    return all(_NAME.match(part) for part in name)


def _names(pairs: list[tuple[str, str]], limit: int = 10) -> str:
    names = sorted({f"{module}.{name}" for module, name in pairs})
    shown = ", ".join(repr(n)[1:-1][:80] for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
