"""Hostile archives: traversal, links out of the root, device files, duplicates, encryption, header
disagreements, nesting and bombs, built in memory and small. `CASES` hold under the default limits;
`SMALL_LIMIT_CASES` are bombs only under `SETTINGS` (apply them to run those).
"""

from __future__ import annotations

import gzip
import io
import random
import stat
import struct
import tarfile
import warnings
import zipfile

from tests.corpus import Case

# Limits under which SMALL_LIMIT_CASES are bombs while their files stay small.
SETTINGS = {"ARCHIVE_MAX_TOTAL_BYTES": 100_000, "ARCHIVE_RATIO_MIN_BYTES": 64 * 1024, "ARCHIVE_MAX_MEMBERS": 1000}

ZEROS = bytes(17 * 1024 * 1024)  # deflates about 1000:1, and is past the default 16 MiB ratio floor


def zip_bytes(entries: list[tuple[str | zipfile.ZipInfo, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names, which is the point here
        with zipfile.ZipFile(buffer, "w", compression) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return buffer.getvalue()


def zip_entry(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix: the mode lives in the high 16 bits of external_attr
    info.external_attr = mode << 16
    return info


def set_zip_flag(data: bytes, name: str, bit: int, *, local: bool = True, central: bool = True) -> bytes:
    """Set a general-purpose flag bit on one entry, in its local header and/or its central record."""
    out = bytearray(data)
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(name)
    if local:
        out[info.header_offset + 6] |= bit
    if central:
        at = out.find(b"PK\x01\x02")
        while out[at + 46 : at + 46 + len(name)] != name.encode():
            at = out.find(b"PK\x01\x02", at + 1)
        out[at + 8] |= bit  # the central record's flags follow its signature and two versions
    return bytes(out)


def overlapping_zip(copies: int) -> bytes:
    """A non-recursive zip bomb: `copies` central directory records all pointing at one deflated member,
    so extraction inflates the same 17 MiB again and again (past 64 GiB for 4000 copies)."""
    data = zip_bytes([("zeros.bin", ZEROS)])
    end = data.rindex(b"PK\x05\x06")
    size, offset = struct.unpack("<II", data[end + 12 : end + 20])
    record = data[offset : offset + size]
    tail = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, copies, copies, size * copies, offset, 0)
    return data[:offset] + record * copies + tail


def tar_entry(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


def tar_bytes(entries: list[tuple[tarfile.TarInfo, bytes]], mode: str = "w") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode, format=tarfile.PAX_FORMAT) as archive:
        for info, data in entries:
            info.size = len(data) if info.isreg() else 0
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def _random(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def _case(name: str, path: str, data: bytes, *words: str, kind: str = "dataset") -> Case:
    return Case(name, kind, {path: data}, path, words)


_inner = zip_bytes([("inner.zip", zip_bytes([("deep.zip", zip_bytes([("a.txt", b"a\n")]))]))])

CASES: list[Case] = [
    _case("zip-ratio-bomb", "data.zip", zip_bytes([("zeros.bin", ZEROS)]), "zeros.bin", "bomb", "ARCHIVE_MAX_RATIO"),
    _case("zip-overlapping-entries-bomb", "data.zip", overlapping_zip(4000), "ARCHIVE_MAX_TOTAL_BYTES"),
    _case("zip-slip-dotdot", "data.zip", zip_bytes([("../../evil.sh", b"echo\n")]), "../../evil.sh", "'..'"),
    _case("zip-slip-absolute", "data.zip", zip_bytes([("/abs/path.txt", b"x\n")]), "/abs/path.txt", "absolute"),
    _case("zip-slip-backslash", "data.zip", zip_bytes([("..\\..\\evil.bat", b"x\n")]), "backslash"),
    _case("zip-slip-drive-letter", "data.zip", zip_bytes([("C:/Windows/evil.dll", b"x\n")]), "drive letter"),
    _case(
        "zip-symlink-escape",
        "data.zip",
        zip_bytes([(zip_entry("passwd", stat.S_IFLNK | 0o777), b"/etc/passwd"), ("a.txt", b"a\n")]),
        "symlink",
        "outside",
    ),
    _case(
        "zip-fifo",
        "data.zip",
        zip_bytes([(zip_entry("pipe", stat.S_IFIFO | 0o644), b"")]),
        "FIFO",
    ),
    _case("zip-duplicate-names", "data.zip", zip_bytes([("a.txt", b"one\n"), ("a.txt", b"two\n")]), "more than once"),
    _case(
        "zip-encrypted-member",
        "data.zip",
        set_zip_flag(zip_bytes([("secret.pkl", b"not really encrypted")]), "secret.pkl", 0x1),
        "secret.pkl",
        "encrypted",
    ),
    _case(
        "zip-encryption-flag-only-in-central-directory",  # CVE-2025-1945: the loader reads the local header
        "data.zip",
        set_zip_flag(zip_bytes([("model.pkl", b"x")]), "model.pkl", 0x1, local=False),
        "disagree on encryption",
    ),
    _case("zip-nested-too-deep", "data.zip", _inner, "nested more than one level"),
    _case(
        "tar-symlink-escape",
        "data.tar",
        tar_bytes([(tar_entry("etc", tarfile.SYMTYPE, "/etc"), b""), (tar_entry("etc/passwd"), b"root::0:0\n")]),
        "symlink",
        "outside",
    ),
    _case(
        "tar-symlink-chain-escape",  # each link stays inside on its own; together they lead out
        "data.tar",
        tar_bytes(
            [
                (tar_entry("x", tarfile.DIRTYPE), b""),
                (tar_entry("x/up", tarfile.SYMTYPE, ".."), b""),
                (tar_entry("x/out", tarfile.SYMTYPE, "up/.."), b""),
            ]
        ),
        "x/out",
        "outside",
    ),
    _case(
        "tar-hardlink-escape",
        "data.tar",
        tar_bytes([(tar_entry("shadow", tarfile.LNKTYPE, "../../etc/shadow"), b"")]),
        "hardlink",
        "outside",
    ),
    _case("tar-device", "data.tar", tar_bytes([(tar_entry("null", tarfile.CHRTYPE), b"")]), "character device"),
    _case("tar-fifo", "data.tar", tar_bytes([(tar_entry("pipe", tarfile.FIFOTYPE), b"")]), "FIFO"),
    _case("tar-dotdot", "data.tar.gz", tar_bytes([(tar_entry("../evil"), b"x\n")], "w:gz"), "../evil", "'..'"),
    _case("tar-gz-ratio-bomb", "data.tar.gz", tar_bytes([(tar_entry("zeros"), ZEROS)], "w:gz"), "ARCHIVE_MAX_RATIO"),
    _case("gz-ratio-bomb", "data.bin.gz", gzip.compress(ZEROS, mtime=0), "compression bomb", "ARCHIVE_MAX_RATIO"),
]

SMALL_LIMIT_CASES: list[Case] = [
    _case(
        "zip-total-bomb",
        "data.zip",
        zip_bytes([(f"part{i}.bin", _random(40_000, i)) for i in range(3)], zipfile.ZIP_STORED),
        "ARCHIVE_MAX_TOTAL_BYTES",
    ),
    _case(
        "tar-gz-total-bomb",
        "data.tar.gz",
        tar_bytes([(tar_entry(f"part{i}"), _random(60_000, i)) for i in range(3)], "w:gz"),
        "ARCHIVE_MAX_TOTAL_BYTES",
    ),
    _case(
        "tar-too-many-entries",
        "data.tar",
        tar_bytes([(tar_entry(f"f{i}"), b"") for i in range(1001)]),
        "ARCHIVE_MAX_MEMBERS",
    ),
]
