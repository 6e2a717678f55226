"""Archives judged without extracting anything. Every entry's name and type is checked (path traversal,
links leading out of the root, device and FIFO entries, duplicates, encryption, zip local headers that
disagree with the central directory, bombs) and every regular member is handed out as a stream to scan.

Zip members come from the central directory and can be reopened. Tar members (plain, gzip, bzip2 or xz)
come from one streaming pass; a member is valid only until the walk moves on, unless it is small enough
to hold in memory or sits in an uncompressed tar that can be re-read at its offset. Decompressed bytes
are counted as anyone reads them, and the walk stops the moment a limit is crossed.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import posixpath
import stat
import struct
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import IO, cast

from django.conf import settings
from picklescan.relaxed_zipfile import RelaxedZipFile

from jobs.checks.archive_paths import escapes, name_problems, resolve
from jobs.checks.sniff import Format, is_tar
from jobs.checks.streams import StreamFailed, prefixed, read_upto, window

MAX_DIRECTORY_ENTRY = 64 * 1024  # bytes: a central directory entry's fixed part plus name, extra and comment
# Members up to this size that can't be re-read (streamed tar members, nested zips) are held in memory.
BUFFER_BYTES = 32 * 1024 * 1024
_ROOT = "/nonexistent-archive-root"  # what tarfile.data_filter judges paths against; never created
_LINK_TARGET_MAX = 4096
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_ZIP_ENCRYPTED = 0x1 | 0x40 | 0x2000  # traditional, strong, encrypted central directory
_ZIP_UTF8 = 0x800
_EXTENDED = {
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
}
_EXTENDED_MAX = 1024 * 1024
_ZIP_LOCAL = struct.Struct("<4s2B4HL2L2H")
Opener = Callable[[], IO[bytes]]


class ArchiveStopped(Exception):
    """A limit ended the walk while someone was reading; raised by every later read of its streams, so a
    library that swallows exceptions cannot carry on."""

    def __init__(self, walk: Walk) -> None:
        super().__init__("archive walk stopped")
        self.walk = walk


class _Stop(Exception):
    """Ends the walk from inside it."""


@dataclass(frozen=True)
class Limits:
    max_ratio: int
    ratio_min_bytes: int
    max_total_bytes: int
    max_members: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            max_ratio=settings.ARCHIVE_MAX_RATIO,
            ratio_min_bytes=settings.ARCHIVE_RATIO_MIN_BYTES,
            max_total_bytes=settings.ARCHIVE_MAX_TOTAL_BYTES,
            max_members=settings.ARCHIVE_MAX_MEMBERS,
        )

    def is_bomb(self, inflated: int, compressed: int) -> bool:
        return inflated > self.ratio_min_bytes and inflated > self.max_ratio * max(compressed, 1)


@dataclass(frozen=True)
class Member:
    """A regular file inside an archive (or a stored file: the same shape)."""

    name: str
    size: int  # uncompressed bytes (for a lone compressed stream read only once: an upper bound)
    open: Opener
    reopenable: bool = True  # False: `open` works once, and only before the walk moves on
    seekable: bool = False  # cheap random access (a zip nested here can be read in place)


@dataclass(frozen=True)
class Problem:
    code: str
    member: str  # "" for the archive as a whole
    message: str


@dataclass
class Walk:
    """One archive's regular members, in order; `problems` is complete once iteration ends."""

    fmt: Format
    open: Opener
    name: str
    reopenable: bool = True
    limits: Limits = field(default_factory=Limits.from_settings)
    problems: list[Problem] = field(default_factory=list)
    stopped: bool = False
    entries: int = 0
    _links: dict[str, str] = field(default_factory=dict)  # symlink path → target
    _hardlinks: dict[str, str] = field(default_factory=dict)
    _parents: set[str] = field(default_factory=set)  # directories that entries are written under
    _flagged: set[str] = field(default_factory=set)  # links already reported

    def __iter__(self) -> Iterator[Member]:
        try:
            if self.fmt == Format.ZIP:
                yield from self._zip()
            elif self.fmt == Format.TAR:
                yield from self._tar(self.open(), in_place=self.reopenable)
            else:
                yield from self._compressed()
        except StreamFailed:
            raise
        except ArchiveStopped as exc:
            if exc.walk is not self:
                raise
        except _Stop:
            pass
        except Exception as exc:  # whatever a parser raises on bad bytes
            self.fail("archive_corrupt", "", f"cannot be read as {self.fmt}: {_brief(exc)}", stop=True)

    def fail(self, code: str, member: str, message: str, *, stop: bool = False) -> None:
        self.problems.append(Problem(code, member, message))
        self.stopped = self.stopped or stop

    # Entries, whatever the archive type.

    def _entry(self, name: str, seen: set[str]) -> str:
        """Judge a name; returns its normalized path."""
        self.entries += 1
        if self.entries > self.limits.max_members:
            self.fail(
                "archive_bomb", "", f"more than {self.limits.max_members} entries (ARCHIVE_MAX_MEMBERS)", stop=True
            )
            raise _Stop
        problems = name_problems(name)
        for code, message in problems:
            self.fail(code, name, message)
        path = posixpath.normpath(name.replace("\\", "/")).strip("/")
        if path in seen:
            self.fail(
                "archive_duplicate", name, "appears more than once (a later copy overwrites the earlier on extraction)"
            )
        seen.add(path)
        if not problems:
            self._parents.add(posixpath.dirname(path))
        return path

    def _judge_links(self) -> None:
        """Links are judged once all are known: a chain of links that each stay inside can still lead out."""
        for path, target in self._links.items():
            if path not in self._flagged and escapes(path.split("/")[:-1], target, self._links):
                self.fail("archive_link", path, f"symlink to {target!r} leads outside the archive root (or loops)")
                self._flagged.add(path)
        for path, target in self._hardlinks.items():
            if path not in self._flagged and escapes([], target, self._links):
                self.fail("archive_link", path, f"hardlink to {target!r} leads outside the archive root")
        for parent in sorted(self._parents):
            if parent and resolve(parent.split("/"), self._links) is None:
                self.fail(
                    "archive_link", parent, "entries are written through a symlink that leads outside the archive"
                )

    # Zip: the central directory, and each entry's local header.

    def _zip(self) -> Iterator[Member]:
        with self.open() as stream:
            yield from self._zip_entries(stream)

    def _zip_entries(self, stream: IO[bytes]) -> Iterator[Member]:
        # The end record says how many entries and how big the central directory is: refuse a
        # forged one before parsing a directory of gigabytes into memory.
        end = zipfile._EndRecData(stream)  # type: ignore[attr-defined]  # stdlib's own reader, stable since 2.x
        if end is not None:
            entries, directory = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]  # type: ignore[attr-defined]
            if entries > self.limits.max_members or directory > self.limits.max_members * MAX_DIRECTORY_ENTRY:
                self.fail(
                    "archive_bomb",
                    "",
                    f"the central directory declares {entries} entries in {directory} bytes, over "
                    f"{self.limits.max_members} entries (ARCHIVE_MAX_MEMBERS)",
                )
                return
        archive = RelaxedZipFile(stream)  # reads members as PyTorch does: no name, flag or CRC checks
        infos = archive.infolist()
        if len(infos) > self.limits.max_members:
            self.fail("archive_bomb", "", f"{len(infos)} entries, over {self.limits.max_members} (ARCHIVE_MAX_MEMBERS)")
            return
        declared = sum(info.file_size for info in infos)
        if declared > self.limits.max_total_bytes:
            self.fail(
                "archive_bomb",
                "",
                f"members add up to {declared} bytes uncompressed, over the {self.limits.max_total_bytes}-byte "
                "limit (ARCHIVE_MAX_TOTAL_BYTES)",
                stop=True,
            )
        seen: set[str] = set()
        spans: list[tuple[int, int, str]] = []
        for info in infos:
            name = info.orig_filename
            path = self._entry(name, seen)
            data_start = self._zip_local(stream, info)
            if data_start is not None:
                spans.append((info.header_offset, data_start + info.compress_size, name))
            mode = info.external_attr >> 16
            if info.flag_bits & _ZIP_ENCRYPTED:
                self.fail("archive_encrypted", name, "is encrypted; encrypted members cannot be scanned")
            elif stat.S_ISLNK(mode):
                self._links[path] = self._zip_link_target(archive, info)
            elif stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                self.fail("archive_special", name, f"is a {_kind(mode)} entry; archives may hold only files and dirs")
            elif info.is_dir():
                continue
            elif info.compress_type not in _ZIP_METHODS:
                self.fail("archive_unsupported", name, f"uses compression method {info.compress_type}, unreadable here")
            elif self.limits.is_bomb(info.file_size, info.compress_size):
                self.fail(
                    "archive_bomb",
                    name,
                    f"inflates {info.compress_size} bytes to {info.file_size} "
                    f"(ratio over {self.limits.max_ratio}, ARCHIVE_MAX_RATIO): a compression bomb",
                )
            elif not self.stopped:
                yield Member(name, info.file_size, partial(archive.open, info))
        reach, last = 0, ""
        for start, end, name in sorted(spans):
            if start < reach:
                self.fail("archive_overlap", name, f"its bytes overlap those of {last!r} (a zip bomb construction)")
            if end > reach:
                reach, last = end, name
        self._judge_links()

    def _zip_local(self, stream: IO[bytes], info: zipfile.ZipInfo) -> int | None:
        """Compare the entry's local header with the central directory; returns where its data starts."""
        name = info.orig_filename
        stream.seek(info.header_offset)
        fixed = stream.read(_ZIP_LOCAL.size)
        if len(fixed) != _ZIP_LOCAL.size or fixed[:4] != b"PK\x03\x04":
            self.fail("archive_corrupt", name, "no local header where the central directory points")
            return None
        _, _, _, flags, method, *_, name_len, extra_len = _ZIP_LOCAL.unpack(fixed)
        local_name = stream.read(name_len).decode("utf-8" if flags & _ZIP_UTF8 else "cp437", "replace")
        if local_name != name:
            self.fail(
                "archive_header_mismatch",
                name,
                f"the local header names it {local_name!r} but the central directory names it {name!r} "
                "(tools disagree on which member this is)",
            )
        if (flags ^ info.flag_bits) & _ZIP_ENCRYPTED:
            self.fail("archive_header_mismatch", name, "local header and central directory disagree on encryption")
        if method != info.compress_type:
            self.fail(
                "archive_header_mismatch",
                name,
                f"local header says compression method {method}, the central directory {info.compress_type}",
            )
        return info.header_offset + _ZIP_LOCAL.size + name_len + extra_len

    def _zip_link_target(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
        if info.flag_bits & _ZIP_ENCRYPTED or info.compress_type not in _ZIP_METHODS:
            return "/"  # unreadable: judged as leading out
        with archive.open(info) as link:
            target = link.read(_LINK_TARGET_MAX + 1)
        return target.decode("utf-8", "surrogateescape") if len(target) <= _LINK_TARGET_MAX else "/"

    # Tar: one streaming pass.

    def _tar(self, stream: IO[bytes], *, in_place: bool) -> Iterator[Member]:
        """`in_place`: the tar is uncompressed and `self.open` re-reads it, so large members are windows
        onto it rather than streams readable once."""
        with stream:
            yield from self._tar_entries(stream, in_place=in_place)
        self._judge_links()

    def _tar_entries(self, stream: IO[bytes], *, in_place: bool) -> Iterator[Member]:
        # ignore_zeros: like GNU tar, read past a bad header instead of silently ending there (and
        # hiding whatever follows from this check).
        archive = tarfile.open(fileobj=stream, mode="r|", ignore_zeros=True, tarinfo=_TarInfo)  # noqa: SIM115
        seen: set[str] = set()
        while (info := archive.next()) is not None:
            archive.members.clear()  # type: ignore[attr-defined]  # (not in typeshed) stream mode keeps every header otherwise
            path = self._entry(info.name, seen)
            self._judge_tar_entry(info, path)
            if not info.isreg():
                continue
            if info.size <= BUFFER_BYTES:  # read as the stream passes: no second request per member
                data = _extract(archive, info).read()
                yield Member(info.name, len(data), partial(io.BytesIO, data), seekable=True)
            elif in_place and info.sparse is None:
                offset, size = info.offset_data, info.size
                yield Member(info.name, size, partial(self._window, offset, size), seekable=True)
            else:
                yield Member(info.name, info.size, partial(_extract, archive, info), reopenable=False)
            if self.stopped:
                return

    def _judge_tar_entry(self, info: tarfile.TarInfo, path: str) -> None:
        if info.issym():
            self._links[path] = info.linkname
        elif info.islnk():
            self._hardlinks[path] = info.linkname
        try:
            tarfile.data_filter(info, _ROOT)
        except tarfile.SpecialFileError:
            self.fail(
                "archive_special", info.name, f"is a {_tar_kind(info)} entry; archives may hold only files and dirs"
            )
        except (tarfile.AbsoluteLinkError, tarfile.LinkOutsideDestinationError):
            kind = "symlink" if info.issym() else "hardlink"
            self.fail("archive_link", info.name, f"{kind} to {info.linkname!r} leads outside the archive root")
            self._flagged.add(path)
        except tarfile.FilterError:
            pass  # absolute and climbing paths: name_problems reports them

    # A lone compressed stream: a tar inside, or a single file.

    def _compressed(self) -> Iterator[Member]:
        stream = self._inflate(self.open())
        try:
            head = read_upto(stream, 512)
        except BaseException:
            stream.close()
            raise
        if is_tar(head):
            yield from self._tar(prefixed(head, stream), in_place=False)
            return
        name = _decompressed_name(self.name)
        if not self.reopenable:
            yield Member(name, self.limits.max_total_bytes, lambda: prefixed(head, stream), reopenable=False)
            return
        stream.close()
        size, whole = 0, self._inflate(self.open())
        while chunk := whole.read(1024 * 1024):  # validates the stream and counts it within the limits
            size += len(chunk)
        yield Member(name, size, lambda: self._inflate(self.open()))

    def _inflate(self, stream: IO[bytes]) -> IO[bytes]:
        counted = _Counted(stream)
        source = cast(IO[bytes], counted)  # duck-typed: the decompressors only call read()
        decompressor: io.BufferedIOBase
        if self.fmt == Format.GZIP:
            decompressor = gzip.GzipFile(fileobj=source, mode="rb")
        elif self.fmt == Format.BZIP2:
            decompressor = bz2.BZ2File(source)
        else:
            decompressor = lzma.LZMAFile(source)  # noqa: SIM115 (closed by _Inflated)
        return io.BufferedReader(_Inflated(self, decompressor, counted))

    def _window(self, offset: int, size: int) -> IO[bytes]:
        return window(self.open(), offset, size)


class _TarInfo(tarfile.TarInfo):
    """tarfile reads a long-name or pax header whole into memory: refuse absurd ones first."""

    def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _EXTENDED and self.size > _EXTENDED_MAX:
            # A ValueError, not a HeaderError: tarfile would skip a bad header silently.
            raise ValueError(f"{self.name!r}: an extended header of {self.size} bytes")
        return super()._proc_member(archive)  # type: ignore[misc]  # private, so not in typeshed


class _Counted:
    """Counts the compressed bytes a decompressor consumes."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream, self.count = stream, 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.count += len(data)
        return data

    def close(self) -> None:
        self.stream.close()


class _Inflated(io.RawIOBase):
    """Decompressed bytes, counted against the walk's limits whoever reads them."""

    def __init__(self, walk: Walk, decompressor: io.BufferedIOBase, compressed: _Counted) -> None:
        super().__init__()
        self.walk, self.decompressor, self.compressed, self.total = walk, decompressor, compressed, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        walk, limits = self.walk, self.walk.limits
        if walk.stopped:
            raise ArchiveStopped(walk)
        try:
            n = self.decompressor.readinto(buffer)
        except (StreamFailed, ArchiveStopped):
            raise
        except Exception as exc:  # zlib.error, EOFError, OSError, LZMAError: corrupt data
            walk.fail("archive_corrupt", "", f"compressed data is corrupt: {_brief(exc)}", stop=True)
            raise ArchiveStopped(walk) from exc
        self.total += n
        if self.total > limits.max_total_bytes:
            walk.fail(
                "archive_bomb",
                "",
                f"inflates past {limits.max_total_bytes} bytes (ARCHIVE_MAX_TOTAL_BYTES) from "
                f"{self.compressed.count} compressed bytes: a compression bomb",
                stop=True,
            )
        elif limits.is_bomb(self.total, self.compressed.count):
            walk.fail(
                "archive_bomb",
                "",
                f"inflates {self.compressed.count} bytes to over {self.total} (ratio over {limits.max_ratio}, "
                "ARCHIVE_MAX_RATIO): a compression bomb",
                stop=True,
            )
        if walk.stopped:
            raise ArchiveStopped(walk)
        return n

    def close(self) -> None:
        self.decompressor.close()
        self.compressed.close()
        super().close()


def _extract(archive: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    member = archive.extractfile(info)
    return member if member is not None else io.BytesIO()


def _decompressed_name(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    for suffix in (".gz", ".bz2", ".xz", ".tgz"):
        if base.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)]
    return f"{base} (decompressed)"


def _kind(mode: int) -> str:
    kinds = {stat.S_IFCHR: "character device", stat.S_IFBLK: "block device", stat.S_IFIFO: "FIFO"}
    return kinds.get(stat.S_IFMT(mode), "socket" if stat.S_ISSOCK(mode) else f"file type {stat.S_IFMT(mode):o}")


def _tar_kind(info: tarfile.TarInfo) -> str:
    if info.ischr():
        return "character device"
    if info.isblk():
        return "block device"
    return "FIFO" if info.isfifo() else f"type {info.type!r}"


def _brief(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 200 else text[:199] + "…"
